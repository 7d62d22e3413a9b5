//! The node's loop on the memory router: deposit, consult, close the loop.

use std::sync::Arc;

use qis::fingerprint::{Context, Fingerprint, KeysFingerprint};
use qis::node::{Node, Observation};
use qis::packet::{MAX_DERIVED_FROM, MAX_ENCODED_BYTES, Outcome, PacketId};
use qis::router::memory::MemoryRouter;
use qis::router::{Query, Router};
use qis::synth::{Method, Options, Synthesizer};
use serde_json::json;

struct World {
    router: Arc<dyn Router>,
    fingerprint: Arc<dyn Fingerprint>,
    synth: Arc<dyn Synthesizer>,
    context: Context,
}

impl World {
    fn new(method: Method) -> Self {
        World {
            router: Arc::new(MemoryRouter::new()),
            fingerprint: Arc::new(KeysFingerprint::new()),
            synth: method.synthesizer(Options::default()).into(),
            context: serde_json::from_value(json!({
                "condition": "T2D", "intervention_type": "GLP1", "patient_id": "MRN-0042"
            }))
            .unwrap(),
        }
    }
    fn node(&self, agent: &str) -> Node {
        Node::new(
            agent,
            self.fingerprint.clone(),
            self.router.clone(),
            self.synth.clone(),
        )
        .unwrap()
    }
    async fn everything(&self) -> Vec<Arc<qis::packet::Packet>> {
        let address = self.fingerprint.address("trial", &self.context).unwrap();
        let hits = self
            .router
            .query(&Query::exact(address).limit(10_000))
            .await
            .unwrap();
        hits.into_iter().map(|h| h.packet).collect()
    }
    async fn seed_peers(&self, n: usize) {
        for i in 0..n {
            let protocol = if i % 3 == 0 { "daily" } else { "weekly" };
            self.node(&format!("site_{i:02}"))
                .deposit(
                    "trial",
                    &self.context,
                    Observation::new(Outcome::Resolved, 0.8).result("protocol", protocol),
                )
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn raw_context_never_leaves_the_node() {
    let w = World::new(Method::Frequency);
    w.seed_peers(3).await;
    for packet in w.everything().await {
        let json = packet.to_json();
        for secret in ["T2D", "GLP1", "MRN-0042", "patient_id", "condition"] {
            assert!(!json.contains(secret), "{secret} leaked into {json}");
        }
        assert_eq!(
            packet.problem(),
            None,
            "no problem text unless the agent shares it"
        );
    }
}

#[tokio::test]
async fn consult_synthesizes_peers_and_can_leave_itself_out() {
    let w = World::new(Method::Frequency);
    w.seed_peers(9).await;
    let insight = w
        .node("newcomer")
        .consult("trial", &w.context)
        .await
        .unwrap();
    assert_eq!((insight.sample_size, insight.agents), (9, 9));
    assert_eq!(insight.best.unwrap()["protocol"], "weekly".into());
    let me = w.node("site_00").excluding_self(true);
    assert_eq!(me.consult("trial", &w.context).await.unwrap().agents, 8);
    // Another domain with the same context keys is another problem.
    assert_eq!(
        w.node("x")
            .consult("other", &w.context)
            .await
            .unwrap()
            .sample_size,
        0
    );
}

#[tokio::test]
async fn a_flooding_agent_cannot_push_the_peers_out_of_a_consultation() {
    let w = World::new(Method::Frequency);
    w.seed_peers(9).await; // 6 say weekly, 3 daily
    let flooder = w.node("flooder");
    let address = flooder.address("trial", &w.context).unwrap();
    let flood = (0..60)
        .map(|_| {
            let o = Observation::new(Outcome::Resolved, 0.8).result("protocol", "daily");
            ("trial".to_owned(), address, o)
        })
        .collect();
    flooder.deposit_many(flood).await.unwrap();

    // Before the cap: the 50 newest packets are all the flooder's, and its answer wins.
    let uncapped = w
        .node("newcomer")
        .with_max_per_agent(None)
        .consult("trial", &w.context)
        .await
        .unwrap();
    assert_eq!((uncapped.sample_size, uncapped.agents), (50, 1));
    assert_eq!(uncapped.best.unwrap()["protocol"], "daily".into());

    // By default a node takes at most 3 of one agent's packets: the peers are heard again.
    let capped = w
        .node("newcomer")
        .consult("trial", &w.context)
        .await
        .unwrap();
    assert_eq!(
        (capped.sample_size, capped.agents),
        (3 + 9, 10),
        "the flooder's 3 newest and every peer's"
    );
    assert_eq!(capped.best.unwrap()["protocol"], "weekly".into());
}

#[tokio::test]
async fn close_loop_cites_originals_and_is_never_counted_twice() {
    let w = World::new(Method::Weighted);
    w.seed_peers(6).await;
    let originals: Vec<PacketId> = w.everything().await.iter().map(|p| p.id()).collect();
    let (insight, receipt) = w
        .node("synth_a")
        .close_loop("trial", &w.context)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(insight.sample_size, 6);
    let all = w.everything().await;
    let derived = all.iter().find(|p| p.id() == receipt.id).unwrap();
    let mut cited = derived.derived_from().to_vec();
    cited.sort();
    let mut expected = originals.clone();
    expected.sort();
    assert_eq!(
        cited, expected,
        "the derived packet cites exactly the originals it used"
    );
    assert_eq!(derived.agent(), "synth_a");

    // A second loop over originals + the first derived packet still cites only originals.
    let (again, receipt2) = w
        .node("synth_b")
        .close_loop("trial", &w.context)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.skipped_derived, 1);
    let derived2 = w
        .everything()
        .await
        .into_iter()
        .find(|p| p.id() == receipt2.id)
        .unwrap();
    assert!(
        derived2
            .derived_from()
            .iter()
            .all(|id| originals.contains(id))
    );

    // Consulting now: 8 packets stored, but only the 6 originals count.
    let later = w.node("later").consult("trial", &w.context).await.unwrap();
    assert_eq!((later.sample_size, later.skipped_derived), (6, 2));
}

#[tokio::test]
async fn close_loop_fits_the_citation_and_size_budgets() {
    let w = World::new(Method::Frequency);
    w.seed_peers(40).await;
    let (insight, receipt) = w
        .node("synth")
        .close_loop("trial", &w.context)
        .await
        .unwrap()
        .unwrap();
    let derived = w
        .everything()
        .await
        .into_iter()
        .find(|p| p.id() == receipt.id)
        .unwrap();
    assert!(derived.derived_from().len() <= MAX_DERIVED_FROM);
    assert_eq!(
        derived.derived_from().len(),
        insight.sample_size,
        "every packet used is cited"
    );
    assert!(derived.to_msgpack().len() <= MAX_ENCODED_BYTES);
}

#[tokio::test]
async fn close_loop_with_nothing_to_synthesize_deposits_nothing() {
    let w = World::new(Method::Bayesian);
    assert!(
        w.node("alone")
            .close_loop("trial", &w.context)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(w.router.stats().await.unwrap().packets, 0);
}

#[tokio::test]
async fn bad_observations_are_refused_before_anything_is_stored() {
    let w = World::new(Method::Frequency);
    let err = w
        .node("a")
        .deposit(
            "trial",
            &w.context,
            Observation::new(Outcome::Resolved, 2.0),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("confidence"), "{err}");
    assert!(Node::new("", w.fingerprint.clone(), w.router.clone(), w.synth.clone()).is_err());
    assert_eq!(w.router.stats().await.unwrap().packets, 0);
}

#[tokio::test]
async fn a_node_requiring_signatures_consults_only_verified_packets() {
    use qis::sign::{AgentKey, KeyRing};
    let w = World::new(Method::Frequency);
    // Two honest signers, one unsigned peer, and a forger signing as `signer_a` with its own key.
    let (key_a, key_b, forger) = (
        AgentKey::generate().unwrap(),
        AgentKey::generate().unwrap(),
        AgentKey::generate().unwrap(),
    );
    let say = |node: Node, protocol: &'static str| {
        let context = w.context.clone();
        async move {
            node.deposit(
                "trial",
                &context,
                Observation::new(Outcome::Resolved, 0.9).result("protocol", protocol),
            )
            .await
            .unwrap()
        }
    };
    let a = say(w.node("signer_a").with_signing_key(key_a.clone()), "weekly").await;
    let b = say(w.node("signer_b").with_signing_key(key_b.clone()), "weekly").await;
    say(w.node("unsigned_c"), "daily").await;
    say(w.node("signer_a").with_signing_key(forger), "daily").await;

    let mut ring = KeyRing::new();
    ring.insert("signer_a", key_a.public()).unwrap();
    ring.insert("signer_b", key_b.public()).unwrap();
    let strict = w.node("reader").requiring_signatures(ring.clone());
    let insight = strict.consult("trial", &w.context).await.unwrap();
    let mut used = insight.used.clone();
    used.sort();
    let mut expected = vec![a.id, b.id];
    expected.sort();
    assert_eq!(
        used, expected,
        "only the two genuinely signed packets count"
    );
    assert_eq!(insight.consensus_rate, Some(1.0));

    // Without the requirement every packet counts (the forgery and the unsigned one too).
    let open = w.node("reader").consult("trial", &w.context).await.unwrap();
    assert_eq!(open.sample_size, 4);

    // The closed loop's derived packet is signed by the node that made it.
    let (_, receipt) = w
        .node("signer_a")
        .with_signing_key(key_a.clone())
        .requiring_signatures(ring.clone())
        .close_loop("trial", &w.context)
        .await
        .unwrap()
        .unwrap();
    let derived = w
        .everything()
        .await
        .into_iter()
        .find(|p| p.id() == receipt.id)
        .unwrap();
    assert!(derived.is_derived());
    ring.verify(&derived).unwrap();
}

#[tokio::test]
async fn deposit_many_checks_every_packet_before_any_is_stored() {
    let w = World::new(Method::Frequency);
    let node = w.node("site_01");
    let address = w.fingerprint.address("trial", &w.context).unwrap();
    let item = |c: f32| {
        (
            "trial".to_owned(),
            address,
            Observation::new(Outcome::Resolved, c).result("protocol", "weekly"),
        )
    };
    let err = node
        .deposit_many(vec![item(0.5), item(1.5), item(0.7)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("items[1].confidence"), "{err}");
    assert!(w.everything().await.is_empty(), "nothing stored");
    let receipts = node
        .deposit_many(vec![item(0.5), item(0.6), item(0.7)])
        .await
        .unwrap();
    assert_eq!(receipts.len(), 3);
    let stored: Vec<PacketId> = w.everything().await.iter().map(|p| p.id()).collect();
    for r in &receipts {
        assert!(r.stored && stored.contains(&r.id));
    }
    assert!(node.deposit_many(Vec::new()).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forget_racing_deposits_of_the_same_packet_leaves_one_consistent_outcome() {
    // Of a deposit and a forget of the same packet, the one the router orders second decides:
    // the packet is stored and not buried, or gone and buried (its replay refused). Never both,
    // never neither.
    use qis::router::{Forget, Routed};
    let w = World::new(Method::Frequency);
    let address = w.fingerprint.address("trial", &w.context).unwrap();
    for _ in 0..200 {
        let packet = std::sync::Arc::new(
            qis::packet::Packet::builder("a", "trial", address)
                .outcome(Outcome::Resolved)
                .confidence(0.5)
                .build()
                .unwrap(),
        );
        let (r1, r2) = (w.router.clone(), w.router.clone());
        let p1 = packet.clone();
        let deposit = tokio::spawn(async move { r1.deposit(&[Routed::new(p1)]).await });
        let id = packet.id();
        let forget = tokio::spawn(async move { r2.forget(&Forget::ids([id])).await });
        let (deposited, forgotten) = (deposit.await.unwrap(), forget.await.unwrap().unwrap());
        let held = w.everything().await.iter().any(|p| p.id() == packet.id());
        let replay = w.router.deposit(&[Routed::new(packet.clone())]).await;
        match (deposited.is_ok(), forgotten, held) {
            // The forget came first (nothing to remove, no tombstone): the deposit stored it.
            (true, 0, true) => assert!(replay.is_ok()),
            // The deposit came first: the forget removed it and buried its id.
            (true, 1, false) => assert!(
                matches!(replay, Err(qis::Error::Forgotten { .. })),
                "{replay:?}"
            ),
            other => panic!("an inconsistent outcome: {other:?}"),
        }
        w.router.forget(&Forget::ids([packet.id()])).await.unwrap();
    }
}

//! The conformance suite: the contract of [`Router`], as functions every router's tests call.
//!
//! Each `check_*` function deposits into fresh random addresses and a fresh domain, so the checks
//! can share one router, even a remote one that other tests use at the same time. A check panics
//! (like an `assert!`) when the router breaks the contract, and skips itself (returning early)
//! when the router's [`Capabilities`](crate::router::Capabilities) say it cannot do what it tests.
//!
//! A router's test file runs the whole suite with one macro call:
//!
//! ```ignore
//! qis::conformance_tests!(async { std::sync::Arc::new(qis::router::memory::MemoryRouter::new()) });
//! ```
//!
//! Durable routers also run [`check_restart`], which reopens the store.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::error::Error;
use crate::packet::{Address, Millis, Outcome, Packet, PacketId, now_ms};
use crate::router::{Filter, Hit, Hits, Query, Routed, Router};

/// The vector dimension the checks use (unless the router fixes its own).
pub const DEFAULT_DIMENSION: usize = 16;

/// A fresh random 16-byte address.
pub fn random_address() -> Address {
    Address::from_bytes(&rand::rng().random::<[u8; 16]>()).expect("16 bytes is a valid address")
}

/// A fresh domain name, unique to one check.
pub fn random_domain(check: &str) -> String {
    format!("{check}-{:08x}", rand::rng().random::<u32>())
}

/// A valid packet at `address` in `domain`, created at `created`.
pub fn sample_packet(agent: &str, domain: &str, address: Address, created: Millis) -> Packet {
    Packet::builder(agent, domain, address)
        .outcome(Outcome::Resolved)
        .confidence(0.8)
        .result("dose_mg", 5.0)
        .result("protocol", "once_weekly")
        .summary("conformance sample")
        .created(created)
        .build()
        .expect("sample packets are valid")
}

fn dimension(router: &dyn Router) -> usize {
    router.capabilities().dimension.unwrap_or(DEFAULT_DIMENSION)
}

/// A unit basis-like vector: mostly along axis `axis`, tilted by `tilt` toward axis `axis + 1`.
fn vector(dim: usize, axis: usize, tilt: f32) -> Vec<f32> {
    let mut v = vec![0.0; dim];
    v[axis % dim] = 1.0;
    v[(axis + 1) % dim] = tilt;
    v
}

fn ids(hits: &[Hit]) -> Vec<PacketId> {
    hits.iter().map(|h| h.packet.id()).collect()
}

/// Asserts that `router` refuses `query` as invalid, naming `field`.
async fn refused(router: &dyn Router, query: &Query, field: &str) {
    let err = router.query(query).await.unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { field: f, .. } if f == field),
        "{err:?}"
    );
}

async fn exact(router: &dyn Router, address: Address, limit: usize) -> Hits {
    router
        .query(&Query::exact(address).limit(limit))
        .await
        .expect("exact query")
}

/// A deposited packet comes back whole from an exact query, with score 1; a signed one with its
/// signature.
pub async fn check_round_trip(router: &dyn Router) {
    let (address, domain) = (random_address(), random_domain("round-trip"));
    let packet = Packet::builder("agent-a", &domain, address)
        .outcome(Outcome::Partial)
        .confidence(0.61)
        .result("reduction", 1.19)
        .result("protocol", "once_weekly")
        .result("adverse", false)
        .summary("weekly dosing cut HbA1c; two dropouts")
        .tags(["t2d", "glp1"])
        .problem("HbA1c stays high on metformin alone")
        .ttl_secs(3600)
        .build()
        .unwrap();
    let receipts = router
        .deposit(&[Routed::new(packet.clone())])
        .await
        .unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].id, packet.id());
    assert_eq!(receipts[0].address, address);
    assert!(receipts[0].stored, "a new packet is stored");
    let hits = exact(router, address, 10).await;
    assert_eq!(hits.len(), 1);
    assert_eq!(*hits[0].packet, packet, "the packet comes back unchanged");
    assert_eq!(hits[0].score, 1.0);
    assert!(exact(router, random_address(), 10).await.is_empty());

    // A signed packet keeps its signature, and the signature still verifies.
    let key = crate::sign::AgentKey::generate().expect("a key");
    let signed_address = random_address();
    let signed = key.sign(sample_packet("agent-s", &domain, signed_address, now_ms()));
    router
        .deposit(&[Routed::new(signed.clone())])
        .await
        .unwrap();
    let hits = exact(router, signed_address, 10).await;
    assert_eq!(hits.len(), 1);
    assert_eq!(
        *hits[0].packet, signed,
        "the signature comes back with the packet"
    );
    let mut ring = crate::sign::KeyRing::new();
    ring.insert("agent-s", key.public()).unwrap();
    ring.verify(&hits[0].packet)
        .expect("the stored signature verifies");
}

/// Depositing the same packet again stores nothing; the same id with other content is refused.
pub async fn check_idempotent_ids(router: &dyn Router) {
    let (address, domain) = (random_address(), random_domain("idempotent"));
    let packet = sample_packet("agent-a", &domain, address, now_ms());
    let first = router
        .deposit(&[Routed::new(packet.clone())])
        .await
        .unwrap();
    assert!(first[0].stored);
    let again = router
        .deposit(&[Routed::new(packet.clone()), Routed::new(packet.clone())])
        .await
        .unwrap();
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|r| !r.stored && r.id == packet.id()));
    assert_eq!(exact(router, address, 10).await.len(), 1);

    let changed = Packet::builder("agent-a", &domain, address)
        .id(packet.id())
        .confidence(0.1)
        .created(packet.created())
        .build()
        .unwrap();
    let err = router.deposit(&[Routed::new(changed)]).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "got {err:?}");
    let hits = exact(router, address, 10).await;
    assert_eq!(hits.len(), 1);
    assert_eq!(*hits[0].packet, packet, "a conflict changes nothing");
}

/// Exact queries return newest first, and `limit` keeps the newest.
pub async fn check_exact_order_and_limit(router: &dyn Router) {
    let (address, domain) = (random_address(), random_domain("order"));
    let base = now_ms() - 60_000;
    // Deposited out of order, in two batches; two share a timestamp (id breaks the tie).
    let offsets = [5u64, 1, 9, 3, 7, 7, 0, 2];
    let packets: Vec<Packet> = offsets
        .iter()
        .map(|o| sample_packet("agent-a", &domain, address, base + o * 1000))
        .collect();
    let routed: Vec<Routed> = packets.iter().cloned().map(Routed::new).collect();
    router.deposit(&routed[..3]).await.unwrap();
    router.deposit(&routed[3..]).await.unwrap();

    let mut expected = packets.clone();
    expected.sort_by_key(|p| std::cmp::Reverse((p.created(), p.id())));
    let expected: Vec<PacketId> = expected.iter().map(Packet::id).collect();
    assert_eq!(
        ids(&exact(router, address, 100).await),
        expected,
        "newest first"
    );
    assert_eq!(
        ids(&exact(router, address, 3).await),
        expected[..3],
        "limit keeps the newest"
    );
    assert_eq!(exact(router, address, 1).await.len(), 1);

    for bad in [0, crate::router::MAX_LIMIT + 1] {
        refused(router, &Query::exact(address).limit(bad), "limit").await;
    }
}

/// Every filter narrows exact queries, alone and together, before `limit` counts.
pub async fn check_filters(router: &dyn Router) {
    let (address, domain) = (random_address(), random_domain("filters"));
    let other_domain = random_domain("filters-other");
    let base = now_ms() - 100_000;
    let make = |agent: &str, domain: &str, outcome, confidence, tags: &[&str], t: u64| {
        Packet::builder(agent, domain, address)
            .outcome(outcome)
            .confidence(confidence)
            .tags(tags.iter().copied())
            .created(base + t * 1000)
            .build()
            .unwrap()
    };
    let packets = [
        make("a", &domain, Outcome::Resolved, 0.9, &["x"], 1),
        make("b", &domain, Outcome::Contradicted, 0.4, &["y"], 2),
        make("c", &domain, Outcome::Partial, 0.7, &["x", "z"], 3),
        make("a", &other_domain, Outcome::Resolved, 0.95, &[], 4),
        make("d", &domain, Outcome::Open, 0.2, &[], 5),
        make("b", &domain, Outcome::Resolved, 0.75, &["z"], 6),
    ];
    let routed: Vec<Routed> = packets.iter().cloned().map(Routed::new).collect();
    router.deposit(&routed).await.unwrap();
    let id = |i: usize| packets[i].id();

    let run = |filter: Filter, limit: usize| {
        let query = Query::exact(address).filter(filter).limit(limit);
        async move { ids(&router.query(&query).await.expect("filtered query")) }
    };
    let cases: Vec<(&str, Filter, Vec<PacketId>)> = vec![
        (
            "no filter",
            Filter::default(),
            vec![id(5), id(4), id(3), id(2), id(1), id(0)],
        ),
        (
            "domain",
            Filter {
                domain: Some(other_domain.clone()),
                ..Filter::default()
            },
            vec![id(3)],
        ),
        (
            "tags_any",
            Filter {
                tags_any: vec!["z".into(), "y".into()],
                ..Filter::default()
            },
            vec![id(5), id(2), id(1)],
        ),
        (
            "min_confidence",
            Filter {
                min_confidence: Some(0.75),
                ..Filter::default()
            },
            vec![id(5), id(3), id(0)],
        ),
        (
            "outcomes",
            Filter {
                outcomes: vec![Outcome::Partial, Outcome::Open],
                ..Filter::default()
            },
            vec![id(4), id(2)],
        ),
        (
            "since",
            Filter {
                since: Some(base + 3000),
                ..Filter::default()
            },
            vec![id(5), id(4), id(3), id(2)],
        ),
        (
            "exclude_agents",
            Filter {
                exclude_agents: vec!["a".into(), "d".into()],
                ..Filter::default()
            },
            vec![id(5), id(2), id(1)],
        ),
        (
            "all together",
            Filter {
                domain: Some(domain.clone()),
                tags_any: vec!["x".into(), "z".into()],
                min_confidence: Some(0.5),
                outcomes: vec![Outcome::Resolved, Outcome::Partial],
                since: Some(base + 2000),
                exclude_agents: vec!["c".into()],
            },
            vec![id(5)],
        ),
    ];
    for (name, filter, expected) in cases {
        assert_eq!(run(filter, 100).await, expected, "filter: {name}");
    }
    // Filters apply before the limit: the two newest *matching* packets.
    let filter = Filter {
        min_confidence: Some(0.75),
        ..Filter::default()
    };
    assert_eq!(
        run(filter, 2).await,
        vec![id(5), id(3)],
        "filter before limit"
    );

    let bad = Filter {
        min_confidence: Some(1.5),
        ..Filter::default()
    };
    refused(router, &Query::exact(address).filter(bad), "min_confidence").await;
}

/// Expired packets are never returned; depositing one is refused; a purge removes them.
pub async fn check_ttl(router: &dyn Router) {
    let (address, domain) = (random_address(), random_domain("ttl"));
    let now = now_ms();
    let lasting = sample_packet("agent-a", &domain, address, now);
    // Created 600 ms ago with a 1 s TTL: it expires 400 ms from now (time for a remote engine to
    // take the deposit and answer the first query).
    let brief = Packet::builder("agent-b", &domain, address)
        .confidence(0.5)
        .created(now - 600)
        .ttl_secs(1)
        .build()
        .unwrap();
    router
        .deposit(&[Routed::new(lasting.clone()), Routed::new(brief.clone())])
        .await
        .unwrap();
    let before = exact(router, address, 10).await;
    assert_eq!(before.len(), 2, "both are live at first");

    let elapsed = now_ms().saturating_sub(now);
    tokio::time::sleep(Duration::from_millis(
        500u64.saturating_sub(elapsed).max(50),
    ))
    .await;
    assert_eq!(
        ids(&exact(router, address, 10).await),
        vec![lasting.id()],
        "an expired packet is never returned, purged or not"
    );

    let stale = Packet::builder("agent-c", &domain, address)
        .created(now - 10_000)
        .ttl_secs(1)
        .build()
        .unwrap();
    let err = router.deposit(&[Routed::new(stale)]).await.unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "ttl"),
        "{err:?}"
    );

    let future = Packet::builder("agent-c", &domain, address)
        .created(now + 3_600_000)
        .build()
        .unwrap();
    let err = router.deposit(&[Routed::new(future)]).await.unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "created"),
        "{err:?}"
    );

    let purged = router.purge_expired().await.unwrap();
    assert!(
        purged >= 1,
        "the purge removed the expired packet (removed {purged})"
    );
    assert_eq!(ids(&exact(router, address, 10).await), vec![lasting.id()]);
}

/// A batch is all or nothing: one bad packet (here, one already expired) stores none of it.
pub async fn check_batch_is_atomic(router: &dyn Router) {
    let (address, domain) = (random_address(), random_domain("atomic"));
    let now = now_ms();
    let good = sample_packet("agent-a", &domain, address, now);
    let expired = Packet::builder("agent-b", &domain, address)
        .created(now - 10_000)
        .ttl_secs(1)
        .build()
        .unwrap();
    let err = router
        .deposit(&[Routed::new(good.clone()), Routed::new(expired)])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert!(
        exact(router, address, 10).await.is_empty(),
        "nothing of the batch was stored"
    );
    // The good packet alone is then accepted as new.
    assert!(router.deposit(&[Routed::new(good)]).await.unwrap()[0].stored);
}

/// Vector queries return the best cosine first, honour `limit`, `min_score` and filters, and
/// leave out packets without vectors.
pub async fn check_vector_order(router: &dyn Router) {
    if !router.capabilities().vector {
        return;
    }
    let dim = dimension(router);
    let (address, domain) = (random_address(), random_domain("vector"));
    let now = now_ms();
    let tilts = [0.9f32, 0.1, 2.0, 0.4, 0.0];
    let mut routed = Vec::new();
    for (i, tilt) in tilts.iter().enumerate() {
        let p = sample_packet(
            &format!("agent-{i}"),
            &domain,
            address,
            now - 1000 + i as u64,
        );
        routed.push(Routed::with_vector(p, &vector(dim, 0, *tilt)).unwrap());
    }
    // No vector: found by address, never by vector.
    routed.push(Routed::new(sample_packet("agent-x", &domain, address, now)));
    // Another domain, nearest of all: the domain filter leaves it out.
    let elsewhere = sample_packet("agent-y", &random_domain("vector-other"), address, now);
    routed.push(Routed::with_vector(elsewhere, &vector(dim, 0, 0.0)).unwrap());
    router.deposit(&routed).await.unwrap();

    let filter = Filter {
        domain: Some(domain.clone()),
        ..Filter::default()
    };
    let query = Query::nearest(&vector(dim, 0, 0.0), 10)
        .unwrap()
        .filter(filter.clone());
    let hits = router.query(&query).await.unwrap();
    // Best first: tilt 0.0, 0.1, 0.4, 0.9, 2.0.
    let order = [4usize, 1, 3, 0, 2];
    let expected: Vec<PacketId> = order.iter().map(|&i| routed[i].packet.id()).collect();
    if router.capabilities().approximate {
        // What is found comes in the right order, and the identical vector is always found.
        let mut rest = expected.iter();
        for id in ids(&hits) {
            assert!(
                rest.any(|e| *e == id),
                "best score first, nothing outside the filter: {hits:?}"
            );
        }
        assert_eq!(hits.first().map(|h| h.packet.id()), Some(expected[0]));
    } else {
        assert_eq!(ids(&hits), expected, "best score first");
    }
    for pair in hits.windows(2) {
        assert!(pair[0].score >= pair[1].score);
    }
    for hit in &hits {
        let i = routed
            .iter()
            .position(|r| r.packet.id() == hit.packet.id())
            .expect("a deposited packet");
        assert!(
            i < tilts.len(),
            "only packets of the domain, with vectors: {hit:?}"
        );
        let cos = 1.0 / (1.0f32 + tilts[i] * tilts[i]).sqrt();
        assert!(
            (hit.score - cos).abs() < 1e-3,
            "scores are cosine similarities: {} for {cos}",
            hit.score
        );
    }

    let top2 = router.query(&query.clone().limit(2)).await.unwrap();
    assert_eq!(ids(&top2), ids(&hits[..2.min(hits.len())]), "top k");
    let close = router.query(&query.clone().min_score(0.9)).await.unwrap();
    // cos for tilt 0.4 is 0.928, for 0.9 it is 0.743.
    let want: Vec<&Hit> = hits.iter().filter(|h| h.score >= 0.9).collect();
    assert_eq!(
        ids(&close),
        want.iter().map(|h| h.packet.id()).collect::<Vec<_>>(),
        "min_score"
    );
    if !router.capabilities().approximate {
        assert_eq!(ids(&close), ids(&hits[..3]), "min_score");
    }
    let confident = router
        .query(&query.clone().filter(Filter {
            exclude_agents: vec!["agent-4".into()],
            ..filter.clone()
        }))
        .await
        .unwrap();
    let want: Vec<PacketId> = hits
        .iter()
        .filter(|h| h.packet.agent() != "agent-4")
        .map(|h| h.packet.id())
        .collect();
    assert_eq!(ids(&confident), want, "filters apply to vector queries");
}

/// The first `limit` of `sorted` (in its order) with at most `cap` from one agent: what a query
/// with `max_per_agent` answers.
fn capped(sorted: &[Packet], cap: usize, limit: usize) -> Vec<PacketId> {
    let mut given = std::collections::HashMap::new();
    sorted
        .iter()
        .filter(|p| {
            let n = given.entry(p.agent().to_owned()).or_insert(0);
            *n += 1;
            *n <= cap
        })
        .take(limit)
        .map(Packet::id)
        .collect()
}

/// `max_per_agent` caps each agent's hits, in the answer's order (newest first, or best
/// first), after the filter and before `limit`: a flooding agent's packets cannot fill the
/// answer, and the answer still holds `limit` hits when that many pass.
pub async fn check_max_per_agent(router: &dyn Router) {
    let (address, domain) = (random_address(), random_domain("per-agent"));
    let base = now_ms() - 200_000;
    let with_confidence = |p: Packet, c: f32| {
        Packet::builder(p.agent(), p.domain(), *p.address())
            .outcome(Outcome::Resolved)
            .confidence(c)
            .created(p.created())
            .build()
            .unwrap()
    };
    // Three honest agents, three packets each, older than a flood of 40 from one agent; the
    // newest packet of `honest-0` is not confident enough for the filter below.
    let mut packets = Vec::new();
    for a in 0..3u64 {
        for k in 0..3u64 {
            let p = sample_packet(&format!("honest-{a}"), &domain, address, base + a * 10 + k);
            packets.push(with_confidence(p, if a == 0 && k == 2 { 0.2 } else { 0.8 }));
        }
    }
    for k in 0..40u64 {
        packets.push(sample_packet("flooder", &domain, address, base + 1000 + k));
    }
    let routed: Vec<Routed> = packets.iter().cloned().map(Routed::new).collect();
    router.deposit(&routed).await.unwrap();
    let mut newest = packets.clone();
    newest.sort_by_key(|p| std::cmp::Reverse((p.created(), p.id())));

    let query = Query::exact(address).limit(7).max_per_agent(2);
    let want = capped(&newest, 2, 7);
    // Twice: a router may answer a repeated query from a snapshot.
    for _ in 0..2 {
        assert_eq!(
            ids(&router.query(&query).await.unwrap()),
            want,
            "2 of the flood, then 2 of each honest agent, newest first"
        );
    }
    let one = router.query(&query.clone().max_per_agent(1)).await.unwrap();
    assert_eq!(
        ids(&one),
        capped(&newest, 1, 7),
        "another cap, another answer"
    );
    assert_eq!(one.len(), 4, "fewer than the limit: only 4 agents");
    let uncapped = router.query(&query.clone().max_per_agent(7)).await.unwrap();
    let newest_7: Vec<PacketId> = newest[..7].iter().map(Packet::id).collect();
    assert_eq!(ids(&uncapped), newest_7, "a cap of `limit` caps nothing");
    let confident = Filter {
        min_confidence: Some(0.5),
        ..Filter::default()
    };
    let filtered = router
        .query(&query.clone().filter(confident.clone()))
        .await
        .unwrap();
    let passing: Vec<Packet> = newest
        .iter()
        .filter(|p| p.confidence() >= 0.5)
        .cloned()
        .collect();
    assert_eq!(
        ids(&filtered),
        capped(&passing, 2, 7),
        "a packet the filter leaves out does not count toward its agent's cap"
    );
    for bad in [0, crate::router::MAX_LIMIT + 1] {
        refused(
            router,
            &Query::exact(address).max_per_agent(bad),
            "max_per_agent",
        )
        .await;
    }

    if !router.capabilities().vector {
        return;
    }
    // The flooder's vectors are the nearest; the honest agents' a little further.
    let dim = dimension(router);
    let (address, domain) = (random_address(), random_domain("per-agent-vector"));
    let mut routed = Vec::new();
    for k in 0..30 {
        let p = sample_packet("flooder", &domain, address, base + k);
        routed.push(Routed::with_vector(p, &vector(dim, 0, 0.01 * k as f32)).unwrap());
    }
    for a in 0..4 {
        for k in 0..3 {
            let p = sample_packet(&format!("honest-{a}"), &domain, address, base + 100 + k);
            let tilt = 0.5 + 0.1 * a as f32 + 0.02 * k as f32;
            routed.push(Routed::with_vector(p, &vector(dim, 0, tilt)).unwrap());
        }
    }
    router.deposit(&routed).await.unwrap();
    let filter = Filter {
        domain: Some(domain.clone()),
        ..Filter::default()
    };
    let query = Query::nearest(&vector(dim, 0, 0.0), 8)
        .unwrap()
        .filter(filter)
        .max_per_agent(2);
    let hits = router.query(&query).await.unwrap();
    let mut per_agent = std::collections::HashMap::new();
    for h in &hits {
        *per_agent.entry(h.packet.agent().to_owned()).or_insert(0) += 1;
    }
    assert!(
        per_agent.values().all(|n| *n <= 2),
        "at most 2 hits of one agent: {per_agent:?}"
    );
    for pair in hits.windows(2) {
        assert!(pair[0].score >= pair[1].score, "best first");
    }
    if !router.capabilities().approximate {
        // Best first by cosine, the flooder's 2 nearest, then each honest agent's 2 nearest.
        let mut best: Vec<Packet> = routed.iter().map(|r| (*r.packet).clone()).collect();
        let score = |p: &Packet| {
            let i = routed.iter().position(|r| r.packet.id() == p.id()).unwrap();
            crate::router::cosine(&vector(dim, 0, 0.0), routed[i].vector.as_deref().unwrap())
        };
        best.sort_by(|a, b| score(b).total_cmp(&score(a)));
        assert_eq!(ids(&hits), capped(&best, 2, 8), "the capped top k");
    }
}

/// A vector of another dimension is refused, on deposit (storing nothing of the batch) and query.
pub async fn check_dimension_mismatch(router: &dyn Router) {
    if !router.capabilities().vector {
        return;
    }
    let dim = dimension(router);
    let (address, domain) = (random_address(), random_domain("dimension"));
    let now = now_ms();
    let fits = Routed::with_vector(
        sample_packet("a", &domain, address, now),
        &vector(dim, 1, 0.0),
    )
    .unwrap();
    router.deposit(std::slice::from_ref(&fits)).await.unwrap();

    let other = sample_packet("b", &domain, address, now);
    let good = sample_packet("c", &domain, address, now);
    let wrong = Routed::with_vector(other, &vector(dim + 3, 1, 0.0)).unwrap();
    let err = router
        .deposit(&[Routed::new(good.clone()), wrong])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Dimension { expected, got } if expected == dim && got == dim + 3),
        "{err:?}"
    );
    assert_eq!(
        exact(router, address, 10).await.len(),
        1,
        "nothing of the batch was stored"
    );

    let query = Query::nearest(&vector(dim + 3, 1, 0.0), 5).unwrap();
    let err = router.query(&query).await.unwrap_err();
    assert!(matches!(err, Error::Dimension { .. }), "{err:?}");

    for bad in [vec![f32::NAN; dim], vec![0.0; dim], vec![]] {
        assert!(matches!(
            Routed::with_vector(good.clone(), &bad),
            Err(Error::Invalid { .. })
        ));
    }
}

/// Many concurrent deposits lose nothing and store nothing twice.
pub async fn check_concurrent_deposits(router: Arc<dyn Router>) {
    let (address, domain) = (random_address(), random_domain("concurrent"));
    let tasks = 8;
    let per_task = 40;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let router = router.clone();
        let domain = domain.clone();
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..per_task {
                let p = sample_packet(&format!("agent-{t}"), &domain, address, now_ms() - i);
                ids.push(p.id());
                let routed = Routed::new(p);
                // Every packet twice: the repeat must not count.
                router
                    .deposit(std::slice::from_ref(&routed))
                    .await
                    .expect("deposit");
                router.deposit(&[routed]).await.expect("repeat deposit");
            }
            ids
        }));
    }
    let mut expected = Vec::new();
    for h in handles {
        expected.extend(h.await.expect("task"));
    }
    let mut got = ids(&exact(&*router, address, 1000).await);
    expected.sort();
    got.sort();
    assert_eq!(got.len(), tasks * per_task as usize, "every packet once");
    assert_eq!(got, expected);
}

/// `stats` counts what was deposited.
pub async fn check_stats(router: &dyn Router) {
    // Other checks may forget packets from the same router meanwhile (engines' suites share one
    // network): look for a quiet moment, a few times, before calling the counts wrong.
    let mut last = None;
    for _ in 0..50 {
        let before = router.stats().await.unwrap();
        let (address, domain) = (random_address(), random_domain("stats"));
        let now = now_ms();
        let routed: Vec<Routed> = (0..5)
            .map(|i| Routed::new(sample_packet("a", &domain, address, now - i)))
            .collect();
        router.deposit(&routed).await.unwrap();
        let after = router.stats().await.unwrap();
        assert!(after.addresses >= 1, "{after:?}");
        if after.packets >= before.packets + 5 {
            return;
        }
        last = Some((before, after));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the counts never grew by the 5 packets deposited: {last:?}");
}

/// Forgetting (routers with [`Capabilities::forget`](crate::router::Capabilities::forget)):
/// by ids, by agent, and by address of one agent, each removing only what it names, from exact
/// and vector queries and from the counts; idempotent; a replay of a forgotten packet refused
/// with [`Error::Forgotten`]; a selector that names nothing refused. Routers that cannot forget
/// refuse with [`Error::NotSupported`] and change nothing.
pub async fn check_forget(router: &dyn Router) {
    use crate::router::Forget;
    let caps = router.capabilities();
    let (address, domain) = (random_address(), random_domain("forget"));
    let tag = rand::rng().random::<u32>();
    let (a, b) = (format!("forget-a-{tag:08x}"), format!("forget-b-{tag:08x}"));
    let dim = dimension(router);
    let now = now_ms();
    let make = |agent: &str, i: u64| {
        let p = sample_packet(agent, &domain, address, now - 100 + i);
        if caps.vector {
            Routed::with_vector(p, &vector(dim, 2, 0.01 * i as f32)).unwrap()
        } else {
            Routed::new(p)
        }
    };
    let batch: Vec<Routed> = (0..3)
        .map(|i| make(&a, i))
        .chain((3..6).map(|i| make(&b, i)))
        .collect();
    router.deposit(&batch).await.unwrap();
    let first = batch[0].packet.clone();
    if !caps.forget {
        let err = router.forget(&Forget::ids([first.id()])).await.unwrap_err();
        assert!(matches!(err, Error::NotSupported { .. }), "{err}");
        assert_eq!(
            exact(router, address, 10).await.len(),
            6,
            "nothing was removed"
        );
        return;
    }
    let err = router.forget(&Forget::default()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "ids"),
        "{err}"
    );

    // By id, narrowed to its agent: only that packet goes, and only once.
    let forget_first = Forget::ids([first.id()]).by(&a);
    assert_eq!(router.forget(&forget_first).await.unwrap(), 1);
    assert_eq!(router.forget(&forget_first).await.unwrap(), 0, "idempotent");
    // Another agent's id under `a` is not `a`'s to forget: untouched.
    assert_eq!(
        router
            .forget(&Forget::ids([batch[3].packet.id()]).by(&a))
            .await
            .unwrap(),
        0
    );
    let left = ids(&exact(router, address, 10).await);
    assert_eq!(left.len(), 5);
    assert!(
        !left.contains(&first.id()),
        "a forgotten packet never comes back"
    );
    stats_drop_on_forget(router, &domain, &a).await;
    if caps.vector {
        let q = Query::nearest(&vector(dim, 2, 0.0), 10)
            .unwrap()
            .filter(Filter {
                domain: Some(domain.clone()),
                ..Filter::default()
            });
        let near = ids(&router.query(&q).await.unwrap());
        assert_eq!(near.len(), 5);
        assert!(!near.contains(&first.id()), "nor from a vector query");
    }

    // A replay of the forgotten packet is refused, and the batch it is in stores nothing.
    let fresh = make(&a, 9);
    let err = router
        .deposit(&[fresh.clone(), batch[0].clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Forgotten { id } if *id == first.id().to_string()),
        "{err}"
    );
    assert!(!ids(&exact(router, address, 10).await).contains(&fresh.packet.id()));

    // By address and agent: the rest of `a`'s packets there, none of `b`'s.
    assert_eq!(
        router
            .forget(&Forget::address(address).by(&a))
            .await
            .unwrap(),
        2
    );
    let left = exact(router, address, 10).await;
    assert!(left.iter().all(|h| h.packet.agent() == b), "{left:?}");
    assert_eq!(left.len(), 3);

    // By agent: everything of `b`'s.
    assert_eq!(router.forget(&Forget::agent(&b)).await.unwrap(), 3);
    assert!(exact(router, address, 10).await.is_empty());
    let err = router.deposit(&[batch[4].clone()]).await.unwrap_err();
    assert!(matches!(err, Error::Forgotten { .. }), "{err}");
}

/// Listing addresses (routers with
/// [`Capabilities::addresses`](crate::router::Capabilities::addresses)): most recently active
/// first, live packet counts, the newest packet's domain, pages that continue without repeats;
/// bad limits and cursors refused by name. Routers that cannot list refuse with
/// [`Error::NotSupported`].
pub async fn check_addresses(router: &dyn Router) {
    use crate::router::AddressQuery;
    let caps = router.capabilities();
    let domain = random_domain("addresses");
    let now = now_ms();
    let (a1, a2, a3) = (random_address(), random_address(), random_address());
    let batch: Vec<Routed> = [(a1, 300), (a1, 200), (a2, 100), (a3, 400)]
        .iter()
        .map(|(a, ago)| Routed::new(sample_packet("agent-l", &domain, *a, now - ago)))
        .collect();
    router.deposit(&batch).await.unwrap();
    let query = |limit: usize, cursor: Option<String>| AddressQuery {
        limit,
        cursor,
        domain: Some(domain.clone()),
    };
    if !caps.addresses {
        let err = router.addresses(&query(10, None)).await.unwrap_err();
        assert!(matches!(err, Error::NotSupported { .. }), "{err}");
        return;
    }
    let page = router.addresses(&query(2, None)).await.unwrap();
    let listed: Vec<(Address, u64)> = page
        .addresses
        .iter()
        .map(|a| (a.address, a.packets))
        .collect();
    assert_eq!(listed, [(a2, 1), (a1, 2)], "most recently active first");
    assert_eq!(page.addresses[1].last, now - 200);
    assert!(page.addresses.iter().all(|a| a.domain == domain));
    let rest = router
        .addresses(&query(2, page.next.clone()))
        .await
        .unwrap();
    assert_eq!(
        rest.addresses.iter().map(|a| a.address).collect::<Vec<_>>(),
        [a3]
    );
    assert!(rest.next.is_none(), "the last page has no next");
    assert!(page.next.is_some());
    for (bad, field) in [
        (query(0, None), "limit"),
        (query(2, Some("x".into())), "cursor"),
    ] {
        let err = router.addresses(&bad).await.unwrap_err();
        assert!(
            matches!(&err, Error::Invalid { field: f, .. } if f == field),
            "{err}"
        );
    }
    if caps.forget {
        router
            .forget(&crate::router::Forget::address(a2))
            .await
            .unwrap();
        let page = router.addresses(&query(10, None)).await.unwrap();
        assert_eq!(
            page.addresses.iter().map(|a| a.address).collect::<Vec<_>>(),
            [a1, a3],
            "a forgotten address's packets are no longer listed"
        );
    }
}

/// The counts drop when a packet is forgotten. Other checks may deposit into the same router
/// meanwhile (engines' suites share one network), so this looks for a quiet moment: it forgets
/// one fresh packet at a time until the count between the two `stats` calls fell.
async fn stats_drop_on_forget(router: &dyn Router, domain: &str, agent: &str) {
    for _ in 0..50 {
        let p = sample_packet(agent, domain, random_address(), now_ms());
        router.deposit(&[Routed::new(p.clone())]).await.unwrap();
        let before = router.stats().await.unwrap();
        let removed = router
            .forget(&crate::router::Forget::ids([p.id()]))
            .await
            .unwrap();
        let after = router.stats().await.unwrap();
        assert_eq!(removed, 1);
        if after.packets < before.packets {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the packet count never fell when a packet was forgotten");
}

/// Durable routers: everything acknowledged is there after the store is reopened.
///
/// `reopen` drops nothing itself: the caller's closure must close the old router (it receives it)
/// and open the same store again.
pub async fn check_restart<F, Fut>(router: Arc<dyn Router>, reopen: F)
where
    F: FnOnce(Arc<dyn Router>) -> Fut,
    Fut: std::future::Future<Output = Arc<dyn Router>>,
{
    let (address, domain) = (random_address(), random_domain("restart"));
    let now = now_ms();
    let packets: Vec<Packet> = (0..20)
        .map(|i| sample_packet(&format!("agent-{i}"), &domain, address, now - i))
        .collect();
    let routed: Vec<Routed> = packets.iter().cloned().map(Routed::new).collect();
    router.deposit(&routed).await.unwrap();
    let router = reopen(router).await;
    let mut got = ids(&exact(&*router, address, 100).await);
    let mut expected: Vec<PacketId> = packets.iter().map(Packet::id).collect();
    got.sort();
    expected.sort();
    assert_eq!(
        got, expected,
        "every acknowledged packet survives a restart"
    );
}

// ---- A router that keeps what it needs alive (a temporary directory, a running node).

/// A router that owns a guard (a temporary directory, a node started for the test) for as long
/// as the suite uses it, forwarding every method.
#[derive(Debug)]
pub struct Holding<G> {
    router: Arc<dyn Router>,
    _guard: G,
}

impl<G: std::fmt::Debug + Send + Sync> Holding<G> {
    /// `router`, with `guard` dropped only after it.
    pub fn shared(router: Arc<dyn Router>, guard: G) -> Arc<dyn Router>
    where
        G: 'static,
    {
        Arc::new(Holding {
            router,
            _guard: guard,
        })
    }
}

#[async_trait::async_trait]
#[deny(clippy::missing_trait_methods)]
impl<G: std::fmt::Debug + Send + Sync> Router for Holding<G> {
    fn capabilities(&self) -> crate::router::Capabilities {
        self.router.capabilities()
    }
    async fn deposit(&self, packets: &[Routed]) -> crate::Result<Vec<crate::router::Receipt>> {
        self.router.deposit(packets).await
    }
    async fn query(&self, query: &Query) -> crate::Result<Hits> {
        self.router.query(query).await
    }
    async fn query_text(&self, query: &crate::router::TextQuery) -> crate::Result<Hits> {
        self.router.query_text(query).await
    }
    fn bind_embedder(&self, embedder: &str) -> crate::Result<()> {
        self.router.bind_embedder(embedder)
    }
    async fn stats(&self) -> crate::Result<crate::router::Stats> {
        self.router.stats().await
    }
    async fn forget(&self, what: &crate::router::Forget) -> crate::Result<u64> {
        self.router.forget(what).await
    }
    async fn addresses(
        &self,
        query: &crate::router::AddressQuery,
    ) -> crate::Result<crate::router::AddressPage> {
        self.router.addresses(query).await
    }
    async fn purge_expired(&self) -> crate::Result<u64> {
        self.router.purge_expired().await
    }
}

// ---- What every engine's tests share: the engine the test script started, and one that is down.

/// The URL of the engine the test script started, from the environment variable `var`, without
/// a trailing slash; `None` (with a notice saying who starts it) when it is not set, so that
/// the engine's tests pass without running on a machine that has none.
pub fn engine_url(var: &str, started_by: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) => Some(url.trim_end_matches('/').to_owned()),
        Err(_) => {
            eprintln!("skipped: {var} is not set ({started_by})");
            None
        }
    }
}

/// For engines' fault tests: deposits `batch` until it is acknowledged (retrying retryable errors), for at most `patience`.
pub async fn deposit_until_acknowledged(router: &dyn Router, batch: &[Routed], patience: Duration) {
    let deadline = std::time::Instant::now() + patience;
    loop {
        match router.deposit(batch).await {
            Ok(_) => return,
            Err(e) if e.is_retryable() && std::time::Instant::now() < deadline => {
                eprintln!("retrying a deposit: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("deposit failed for good: {e}"),
        }
    }
}

/// For engines' fault tests: `call()` until it succeeds, retrying retryable errors for up to 30 s.
pub async fn retry<T, F: std::future::Future<Output = crate::Result<T>>>(
    mut call: impl FnMut() -> F,
) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match call().await {
            Ok(t) => return t,
            Err(e) if e.is_retryable() && std::time::Instant::now() < deadline => {
                eprintln!("retrying: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("failed for good: {e}"),
        }
    }
}

/// A loopback port nothing listens on (free to listen on).
pub fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Opening the router URL `url_of(port)` of an engine that is down (nothing listens on `port`)
/// fails within `within` with a retryable error whose message contains `says`.
pub async fn check_down_is_quick_and_retryable(
    url_of: impl Fn(u16) -> String,
    says: &str,
    within: Duration,
) {
    let url = url_of(dead_port());
    let start = std::time::Instant::now();
    let err = crate::router::url::open(&url)
        .await
        .expect_err("an engine that is down cannot be opened");
    assert!(err.is_retryable(), "{url}: {err:?}");
    assert!(err.to_string().contains(says), "{url}: {err}");
    assert!(start.elapsed() < within, "{url}: {:?}", start.elapsed());
}

/// Runs every check (but [`check_restart`]) on one router.
pub async fn check_all(router: Arc<dyn Router>) {
    check_round_trip(&*router).await;
    check_idempotent_ids(&*router).await;
    check_exact_order_and_limit(&*router).await;
    check_filters(&*router).await;
    check_ttl(&*router).await;
    check_batch_is_atomic(&*router).await;
    check_vector_order(&*router).await;
    check_max_per_agent(&*router).await;
    check_dimension_mismatch(&*router).await;
    check_stats(&*router).await;
    check_forget(&*router).await;
    check_addresses(&*router).await;
    check_concurrent_deposits(router).await;
}

/// Expands to one `#[tokio::test]` per check, each on a router made by `$make` (an expression of
/// type `impl Future<Output = Arc<dyn Router>>`, evaluated once per test).
///
/// `conformance_tests!(maybe $make)` takes a maker of `Option<Arc<dyn Router>>` instead: a test
/// whose maker gives `None` (an engine that is not configured here) returns at once, passing. The
/// maker should say why it skips.
#[macro_export]
macro_rules! conformance_tests {
    (maybe $make:expr) => {
        $crate::conformance_tests!(@each [$make] maybe);
    };
    ($make:expr) => {
        $crate::conformance_tests!(@each [$make] always);
    };
    (@each [$make:expr] $mode:ident) => {
        $crate::conformance_tests!(@one $mode, $make, check_round_trip, ref);
        $crate::conformance_tests!(@one $mode, $make, check_idempotent_ids, ref);
        $crate::conformance_tests!(@one $mode, $make, check_exact_order_and_limit, ref);
        $crate::conformance_tests!(@one $mode, $make, check_filters, ref);
        $crate::conformance_tests!(@one $mode, $make, check_ttl, ref);
        $crate::conformance_tests!(@one $mode, $make, check_batch_is_atomic, ref);
        $crate::conformance_tests!(@one $mode, $make, check_vector_order, ref);
        $crate::conformance_tests!(@one $mode, $make, check_max_per_agent, ref);
        $crate::conformance_tests!(@one $mode, $make, check_dimension_mismatch, ref);
        $crate::conformance_tests!(@one $mode, $make, check_stats, ref);
        $crate::conformance_tests!(@one $mode, $make, check_forget, ref);
        $crate::conformance_tests!(@one $mode, $make, check_addresses, ref);
        $crate::conformance_tests!(@one $mode, $make, check_concurrent_deposits, arc);
    };
    (@router always, $make:expr) => {
        $make.await
    };
    (@router maybe, $make:expr) => {
        match $make.await {
            Some(router) => router,
            None => return,
        }
    };
    (@one $mode:ident, $make:expr, $check:ident, ref) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let router: ::std::sync::Arc<dyn $crate::router::Router> =
                $crate::conformance_tests!(@router $mode, $make);
            $crate::conformance::$check(&*router).await;
        }
    };
    (@one $mode:ident, $make:expr, $check:ident, arc) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let router: ::std::sync::Arc<dyn $crate::router::Router> =
                $crate::conformance_tests!(@router $mode, $make);
            $crate::conformance::$check(router).await;
        }
    };
}

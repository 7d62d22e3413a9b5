//! The NATS JetStream router against a real nats-server: the whole conformance suite, LSH recall
//! against exact search, live subscriptions, faults, and a 3-node cluster losing a node mid-deposit.
//!
//! `scripts/with-engines` (run by `scripts/test`) starts a JetStream server and sets
//! `QIS_NATS_URL`, and `QIS_NATS_SERVER` (the `nats-server` binary, for the tests that run their
//! own servers). Without them these tests print a notice and pass.
#![cfg(feature = "nats")]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use qis::conformance::{
    check_down_is_quick_and_retryable, dead_port, deposit_until_acknowledged, engine_url,
    random_address, retry, sample_packet,
};
use qis::packet::{Packet, PacketId, now_ms};
use qis::router::layer::Deadline;
use qis::router::memory::MemoryRouter;
use qis::router::nats::{NatsRouter, async_nats};
use qis::router::url::{RouterSpec, parse_url};
use qis::router::{Query, Routed, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn url(network: &str, params: &str) -> Option<String> {
    let base = engine_url("QIS_NATS_URL", "scripts/with-engines starts a nats-server")?;
    Some(format!("{base}/{network}{params}"))
}

async fn open(url: &str) -> Deadline<NatsRouter> {
    let RouterSpec::Nats(config) = parse_url(url).unwrap() else {
        panic!("{url} is not a nats URL")
    };
    NatsRouter::connect(config).await.unwrap()
}

async fn make() -> Option<Arc<dyn Router>> {
    // One network for the suite: every check isolates itself by address and domain, and all of
    // them use 16-dimensional vectors.
    let url = url("conformance", "?storage=memory")?;
    Some(Arc::new(open(&url).await))
}

qis::conformance_tests!(maybe make());

fn random_network(what: &str) -> String {
    format!("{what}-{:08x}", rand::rng().random::<u32>())
}

fn unit(rng: &mut StdRng, dim: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..dim)
        .map(|_| {
            // A sum of uniforms: close enough to Gaussian for direction sampling.
            (0..6).map(|_| rng.random_range(-1.0f32..1.0)).sum::<f32>()
        })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn near(rng: &mut StdRng, center: &[f32], noise: f32) -> Vec<f32> {
    let e = unit(rng, center.len());
    center.iter().zip(&e).map(|(c, x)| c + noise * x).collect()
}

/// How far a clustered vector strays from its cluster's centre: with 0.6, two problems of one
/// cluster have a cosine of about 0.74 (as paraphrases under MiniLM often do).
const NOISE: f32 = 0.6;

/// Recall@10 of LSH routing against exact search, on clustered vectors (problems that resemble
/// each other, as real problem texts do) and on uniformly random ones (the worst case).
/// `QIS_LSH_PARAMS` (e.g. `&lsh_bits=8&lsh_tables=12`) tries other settings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lsh_recall_against_exact_search() {
    let params = std::env::var("QIS_LSH_PARAMS").unwrap_or_default();
    let Some(url) = url(
        &random_network("recall"),
        &format!("?storage=memory{params}"),
    ) else {
        return;
    };
    let nats = open(&url).await;
    let exact = MemoryRouter::new();
    let dim = 384;
    let mut rng = StdRng::seed_from_u64(7);
    let centers: Vec<Vec<f32>> = (0..100).map(|_| unit(&mut rng, dim)).collect();
    let now = now_ms();
    let mut report = Vec::new();
    for (name, clustered) in [("clustered", true), ("random", false)] {
        let domain = format!("recall-{name}");
        let batch: Vec<Routed> = (0..2000)
            .map(|i| {
                let v = if clustered {
                    near(&mut rng, &centers[i % centers.len()], NOISE)
                } else {
                    unit(&mut rng, dim)
                };
                Routed::with_vector(
                    sample_packet(&format!("a{i}"), &domain, random_address(), now - i as u64),
                    &v,
                )
                .unwrap()
            })
            .collect();
        for chunk in batch.chunks(200) {
            nats.deposit(chunk).await.unwrap();
        }
        exact.deposit(&batch).await.unwrap();
        let filter = qis::router::Filter {
            domain: Some(domain.clone()),
            ..Default::default()
        };
        let (mut found, mut total) = (0usize, 0usize);
        // The random case is only reported (LSH is not meant for it), and each of its queries
        // reads many buckets: a quarter of the queries is enough to show it.
        let queries = if clustered { 100 } else { 25 };
        let start = Instant::now();
        for q in 0..queries {
            let v = if clustered {
                near(&mut rng, &centers[q % centers.len()], NOISE)
            } else {
                unit(&mut rng, dim)
            };
            let query = Query::nearest(&v, 10).unwrap().filter(filter.clone());
            let truth: Vec<PacketId> = exact
                .query(&query)
                .await
                .unwrap()
                .iter()
                .map(|h| h.packet.id())
                .collect();
            let got = nats.query(&query).await.unwrap();
            total += truth.len();
            found += got
                .iter()
                .filter(|h| truth.contains(&h.packet.id()))
                .count();
        }
        let per_query = start.elapsed() / queries as u32;
        let recall = found as f64 / total as f64;
        report.push(format!(
            "{name}: recall@10 {recall:.3} over {queries} queries, {per_query:?} per query"
        ));
        if clustered && params.is_empty() {
            assert!(recall >= 0.85, "clustered recall@10 {recall}");
        }
    }
    eprintln!(
        "LSH ({url}), 2,000 × {dim}-d vectors each:\n  {}",
        report.join("\n  ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_sees_new_packets_at_its_address_once() {
    let Some(url) = url("conformance", "?storage=memory") else {
        return;
    };
    let router = open(&url).await;
    let address = random_address();
    let before = sample_packet("a", "live", address, now_ms());
    router.deposit(&[Routed::new(before)]).await.unwrap();
    let mut live = Box::pin(router.subscribe(address).await.unwrap());
    let packets: Vec<Packet> = (0..3)
        .map(|i| sample_packet(&format!("agent-{i}"), "live", address, now_ms()))
        .collect();
    let routed: Vec<Routed> = packets.iter().cloned().map(Routed::new).collect();
    router.deposit(&routed).await.unwrap();
    router.deposit(&routed).await.unwrap(); // a repeat is not delivered again
    let elsewhere = sample_packet("b", "live", random_address(), now_ms());
    router.deposit(&[Routed::new(elsewhere)]).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        let next = tokio::time::timeout(Duration::from_secs(5), live.next())
            .await
            .expect("a packet within 5 s")
            .expect("the subscription goes on")
            .unwrap();
        got.push(next.id());
    }
    let mut want: Vec<PacketId> = packets.iter().map(Packet::id).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "exactly the new packets at the address");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), live.next())
            .await
            .is_err(),
        "nothing more"
    );
}

#[tokio::test]
async fn a_server_that_is_down_is_a_quick_retryable_error() {
    check_down_is_quick_and_retryable(
        |port| format!("nats://127.0.0.1:{port}/down?timeout=2s"),
        "cannot connect",
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_is_not_a_qis_network_is_refused_and_left_alone() {
    let Some(base) = std::env::var("QIS_NATS_URL").ok() else {
        eprintln!("skipped: QIS_NATS_URL is not set");
        return;
    };
    let network = random_network("foreign");
    let client = async_nats::connect(base.trim_start_matches("nats://"))
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let config = async_nats::jetstream::stream::Config {
        name: format!("QIS_{network}"),
        subjects: vec![format!("qis.{network}.>")],
        storage: async_nats::jetstream::stream::StorageType::Memory,
        ..Default::default()
    };
    js.create_stream(config.clone()).await.unwrap();
    let err = qis::router::url::open(&format!("{base}/{network}"))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("not a qis network"), "{err}");
    let after = js.get_stream(&config.name).await.unwrap();
    let metadata = &after.cached_info().config.metadata;
    assert!(
        !metadata.keys().any(|k| k.starts_with("qis.")),
        "left unchanged: {metadata:?}"
    );
    js.delete_stream(&config.name).await.unwrap();

    // A network whose vectors have another dimension than the router is configured with.
    let network = random_network("dims");
    let router = open(&format!("{base}/{network}?storage=memory")).await;
    let p = sample_packet("a", "d", random_address(), now_ms());
    router
        .deposit(&[Routed::with_vector(p, &[1.0; 8]).unwrap()])
        .await
        .unwrap();
    let err = qis::router::url::open(&format!("{base}/{network}?dimension=16"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("8-dimensional"), "{err}");
    js.delete_stream(router.stream_name()).await.unwrap();
}

/// Three nats-servers on loopback, owned by the test (killed when it ends).
struct Cluster {
    nodes: Vec<Option<Child>>,
    ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start(bin: &str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..3).map(|_| dead_port()).collect();
        let routes: Vec<u16> = (0..3).map(|_| dead_port()).collect();
        let route_list = routes
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let nodes = (0..3)
            .map(|i| {
                Some(
                    Command::new(bin)
                        .args(["-js", "-a", "127.0.0.1", "-p", &ports[i].to_string()])
                        .args([
                            "--server_name",
                            &format!("n{i}"),
                            "--cluster_name",
                            "qis-test",
                        ])
                        .args(["--cluster", &format!("nats://127.0.0.1:{}", routes[i])])
                        .args(["--routes", &route_list])
                        .arg("-sd")
                        .arg(dir.path().join(format!("n{i}")))
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .expect("start nats-server"),
                )
            })
            .collect();
        Cluster {
            nodes,
            ports,
            _dir: dir,
        }
    }

    fn url(&self, network: &str) -> String {
        let hosts: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("nats://{}/{network}?replicas=3&timeout=3s", hosts.join(","))
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_cluster_loses_a_node_mid_deposit_and_loses_nothing() {
    let Ok(bin) = std::env::var("QIS_NATS_SERVER") else {
        eprintln!("skipped: QIS_NATS_SERVER (a nats-server binary) is not set");
        return;
    };
    let mut cluster = Cluster::start(&bin);
    let url = cluster.url("cluster");
    // The cluster needs a few seconds to elect its JetStream leader; on a loaded 2-core machine
    // (a build beside the tests) it once took more than 30.
    let deadline = Instant::now() + Duration::from_secs(120);
    let RouterSpec::Nats(config) = parse_url(&url).unwrap() else {
        unreachable!()
    };
    let router = loop {
        match NatsRouter::connect(config.clone()).await {
            Ok(r) => break Arc::new(r),
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for the cluster: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("the cluster never came up: {e}"),
        }
    };
    let addresses: Vec<_> = (0..5).map(|_| random_address()).collect();
    // Deposits run in a task; the server this client is connected to is killed while they run.
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let depositor = {
        let (router, addresses, done) = (router.clone(), addresses.clone(), done.clone());
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(11);
            let mut acknowledged: Vec<Packet> = Vec::new();
            for b in 0..40 {
                let batch: Vec<Routed> = (0..10)
                    .map(|j| {
                        let p = sample_packet(
                            &format!("agent-{j}"),
                            "cluster",
                            addresses[(b + j) % addresses.len()],
                            now_ms(),
                        );
                        Routed::with_vector(p, &unit(&mut rng, 16)).unwrap()
                    })
                    .collect();
                deposit_until_acknowledged(&*router, &batch, Duration::from_secs(60)).await;
                acknowledged.extend(batch.iter().map(|r| (*r.packet).clone()));
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            acknowledged
        })
    };
    while done.load(std::sync::atomic::Ordering::SeqCst) < 10 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let connected = router.client().server_info().port;
    let i = cluster
        .ports
        .iter()
        .position(|p| *p == connected)
        .expect("connected to one of the three");
    eprintln!(
        "killing node n{i} (port {connected}), the one this client uses, after {} batches",
        done.load(std::sync::atomic::Ordering::SeqCst)
    );
    cluster.kill(i);
    let acknowledged = depositor.await.unwrap();
    let router: Arc<dyn Router> = router;
    let mut rng = StdRng::seed_from_u64(12);
    // Every acknowledged packet is there, from the two servers left. A query that lands while
    // the cluster moves a leader may fail with a retryable error: retry it, as a client would.
    let started = Instant::now();
    let mut found = Vec::new();
    for a in &addresses {
        let query = Query::exact(*a).limit(1000);
        let hits = retry(|| router.query(&query)).await;
        found.extend(hits.iter().map(|h| h.packet.id()));
    }
    eprintln!("read back every address in {:?}", started.elapsed());
    let mut want: Vec<PacketId> = acknowledged.iter().map(Packet::id).collect();
    want.sort();
    found.sort();
    assert_eq!(found, want, "nothing acknowledged is lost");
    let v = unit(&mut rng, 16);
    let nearest = Query::nearest(&v, 5).unwrap();
    assert!(
        !retry(|| router.query(&nearest)).await.is_empty(),
        "vector queries keep answering"
    );
    assert_eq!(retry(|| router.stats()).await.packets, want.len() as u64);
}

/// An address holding more packets than one batched direct get returns is read in several.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_past_one_read_batch_is_read_whole() {
    let Some(url) = url(&format!("big{:08x}", rand::random::<u32>()), "") else {
        return;
    };
    let router = open(&url).await;
    let (address, now) = (random_address(), now_ms());
    let mut ids = Vec::new();
    for chunk in 0..6 {
        let batch: Vec<Routed> = (0..250)
            .map(|i| {
                let p = sample_packet(&format!("a{i}"), "d", address, now - chunk * 1000 - i);
                ids.push(p.id());
                Routed::new(p)
            })
            .collect();
        router.deposit(&batch).await.unwrap();
    }
    let hits = router
        .query(&Query::exact(address).limit(5000))
        .await
        .unwrap();
    assert_eq!(hits.len(), 1500);
    let mut got: Vec<PacketId> = hits.iter().map(|h| h.packet.id()).collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids);
}

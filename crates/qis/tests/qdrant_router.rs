//! The Qdrant router against a real Qdrant server: the whole conformance suite.
//!
//! No registry these machines reach carries a Qdrant server, so these tests run only when
//! `QDRANT_URL` names one (`qdrant://127.0.0.1:6334`, the gRPC port); otherwise they print a
//! notice and pass.
#![cfg(feature = "qdrant")]

use std::sync::Arc;
use std::time::Duration;

use qis::conformance::{check_down_is_quick_and_retryable, dead_port, engine_url};
use qis::router::Router;

async fn make() -> Option<Arc<dyn Router>> {
    let qdrant_url = base()?.replacen("http://", "qdrant://", 1);
    // The suite uses 16-dimensional vectors; a replication factor of 1 suits a single node.
    let url = format!("{qdrant_url}/conformance?dimension=16");
    Some(qis::router::url::open(&url).await.unwrap())
}

qis::conformance_tests!(maybe make());

#[tokio::test]
async fn a_server_that_is_down_is_a_quick_retryable_error() {
    check_down_is_quick_and_retryable(
        |port| format!("qdrant://127.0.0.1:{port}/down?timeout=2s"),
        "",
        Duration::from_secs(8),
    )
    .await;
}

fn base() -> Option<String> {
    let base = engine_url("QDRANT_URL", "no Qdrant server to test against")?;
    Some(
        base.replacen("qdrant://", "http://", 1)
            .trim_end_matches('/')
            .to_owned(),
    )
}

/// What Qdrant says of the collection of network `net`.
async fn collection(
    client: &qdrant_client::Qdrant,
    net: &str,
) -> qdrant_client::qdrant::CollectionInfo {
    client
        .collection_info(format!("qis_{net}"))
        .await
        .unwrap()
        .result
        .unwrap()
}

fn network(what: &str) -> String {
    format!("{what}{:08x}", rand::random::<u32>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_network_is_a_cosine_collection_with_every_payload_index() {
    let Some(http) = base() else { return };
    let net = network("layout");
    let qdrant_url = http.replacen("http://", "qdrant://", 1);
    let qis::router::url::RouterSpec::Qdrant(config) = qis::router::url::parse_url(&format!(
        "{qdrant_url}/{net}?dimension=8&replication=1&write_consistency=1"
    ))
    .unwrap() else {
        panic!("a qdrant:// URL is a Qdrant spec")
    };
    let router = qis::router::qdrant::QdrantRouter::connect(config)
        .await
        .unwrap();
    assert_eq!(router.status().await.unwrap(), "green");
    let client = qdrant_client::Qdrant::from_url(&http).build().unwrap();
    let info = collection(&client, &net).await;
    let mut indexed: Vec<&str> = info.payload_schema.keys().map(String::as_str).collect();
    indexed.sort();
    assert_eq!(
        indexed,
        [
            "address",
            "agent",
            "confidence",
            "created",
            "domain",
            "expires",
            "outcome",
            "tags"
        ]
    );
    let params = info.config.unwrap().params.unwrap();
    assert_eq!(params.replication_factor, Some(1));
    assert_eq!(params.write_consistency_factor, Some(1));
    // Opening the same network with another dimension is refused, and the collection is kept.
    let err = qis::router::url::open(&format!("{qdrant_url}/{net}?dimension=16"))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("8-dimensional") && err.to_string().contains("left unchanged"),
        "{err}"
    );
    assert!(
        qis::router::url::open(&format!("{qdrant_url}/{net}?dimension=8"))
            .await
            .is_ok()
    );
    client
        .delete_collection(format!("qis_{net}"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_that_is_not_qis_is_refused_and_left_alone() {
    use qdrant_client::qdrant::{CreateCollectionBuilder, Distance, VectorParamsBuilder};
    let Some(http) = base() else { return };
    let net = network("foreign");
    let client = qdrant_client::Qdrant::from_url(&http).build().unwrap();
    client
        .create_collection(
            CreateCollectionBuilder::new(format!("qis_{net}"))
                .vectors_config(VectorParamsBuilder::new(16, Distance::Dot)),
        )
        .await
        .unwrap();
    let qdrant_url = http.replacen("http://", "qdrant://", 1);
    let err = qis::router::url::open(&format!("{qdrant_url}/{net}?dimension=16"))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("is not a qis network"), "{err}");
    let info = collection(&client, &net).await;
    assert!(info.payload_schema.is_empty(), "no index was added");
    assert_eq!(info.points_count, Some(0));
    client
        .delete_collection(format!("qis_{net}"))
        .await
        .unwrap();
}

/// Three Qdrant peers on loopback, as seed 002 deploys them (`QDRANT__CLUSTER__ENABLED`, the
/// second and third bootstrapping from the first).
struct Cluster {
    nodes: Vec<Option<std::process::Child>>,
    grpc: Vec<u16>,
    http: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start(bin: &str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let ports = || -> Vec<u16> { (0..3).map(|_| dead_port()).collect() };
        let (http, grpc, p2p) = (ports(), ports(), ports());
        let mut nodes = Vec::new();
        for i in 0..3 {
            let home = dir.path().join(format!("n{i}"));
            std::fs::create_dir_all(&home).unwrap();
            let mut command = std::process::Command::new(bin);
            command
                .current_dir(&home)
                .env("QDRANT__SERVICE__HOST", "127.0.0.1")
                .env("QDRANT__SERVICE__HTTP_PORT", http[i].to_string())
                .env("QDRANT__SERVICE__GRPC_PORT", grpc[i].to_string())
                .env("QDRANT__CLUSTER__ENABLED", "true")
                .env("QDRANT__CLUSTER__P2P__PORT", p2p[i].to_string())
                .env("QDRANT__STORAGE__STORAGE_PATH", home.join("storage"))
                .env("QDRANT__STORAGE__SNAPSHOTS_PATH", home.join("snapshots"))
                .env("QDRANT__TELEMETRY_DISABLED", "true")
                .args(["--uri", &format!("http://127.0.0.1:{}", p2p[i])])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            if i > 0 {
                command.args(["--bootstrap", &format!("http://127.0.0.1:{}", p2p[0])]);
            }
            nodes.push(Some(command.spawn().expect("start qdrant")));
            if i == 0 {
                // The others bootstrap from the first: let it take its port first.
                wait_for(http[0], "/readyz", |_| true);
            }
        }
        Cluster {
            nodes,
            grpc,
            http,
            _dir: dir,
        }
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut node) = self.nodes[i].take() {
            node.kill().unwrap();
            node.wait().unwrap();
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

/// `GET path` on 127.0.0.1:`port` (Qdrant's REST port), the body.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(tcp, "GET {path} HTTP/1.0\r\nhost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    tcp.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

/// Waits (up to 120 s) until `GET path` answers a body that `ready` accepts.
fn wait_for(port: u16, path: &str, ready: impl Fn(&str) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        if http_get(port, path).is_some_and(|b| ready(&b)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("127.0.0.1:{port}{path} never became ready");
}

/// Seed 002's deployment: three peers, replication factor 2, the collection in three shards so
/// that every peer holds replicas. One peer (not the one the client talks to) is killed in the
/// middle of deposits: no acknowledged packet is lost, and exact and vector queries keep
/// answering from the two peers left. Runs when `QIS_QDRANT_SERVER` names a Qdrant binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_cluster_with_replication_two_loses_a_node_mid_deposit_and_loses_nothing() {
    use qis::conformance::{deposit_until_acknowledged, random_address, retry, sample_packet};
    use qis::packet::{Packet, PacketId, now_ms};
    use qis::router::{Query, Routed};
    let Ok(bin) = std::env::var("QIS_QDRANT_SERVER") else {
        eprintln!("skipped: QIS_QDRANT_SERVER (a qdrant binary) is not set");
        return;
    };
    let mut cluster = Cluster::start(&bin);
    let peers = |body: &str| {
        serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["result"]["peers"].as_object().map(|p| p.len()))
            == Some(3)
    };
    for &port in &cluster.http {
        wait_for(port, "/cluster", peers);
    }
    let url = format!(
        "qdrant://127.0.0.1:{}/cluster?dimension=16&replication=2&write_consistency=1&shards=3&timeout=5s",
        cluster.grpc[0]
    );
    let router = qis::router::url::open(&url).await.unwrap();
    let client = qdrant_client::Qdrant::from_url(&format!("http://127.0.0.1:{}", cluster.grpc[0]))
        .skip_compatibility_check()
        .build()
        .unwrap();
    let params = collection(&client, "cluster")
        .await
        .config
        .unwrap()
        .params
        .unwrap();
    assert_eq!(
        (params.replication_factor, params.shard_number),
        (Some(2), 3)
    );

    let addresses: Vec<_> = (0..5).map(|_| random_address()).collect();
    let unit = |i: usize| {
        let mut v = vec![0.1f32; 16];
        v[i % 16] = 1.0;
        v
    };
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let depositor = {
        let (router, addresses, done) = (router.clone(), addresses.clone(), done.clone());
        tokio::spawn(async move {
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
                        Routed::with_vector(p, &unit(b * 10 + j)).unwrap()
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
    eprintln!(
        "killing peer n2 after {} batches",
        done.load(std::sync::atomic::Ordering::SeqCst)
    );
    cluster.kill(2);
    let acknowledged = depositor.await.unwrap();
    // The peer killed held replicas: its shards' replicas there are no longer active.
    let layout = http_get(cluster.http[0], "/collections/qis_cluster/cluster").unwrap();
    let layout: serde_json::Value = serde_json::from_str(&layout).unwrap();
    let remote = layout["result"]["remote_shards"].as_array().unwrap();
    assert!(
        remote.iter().any(|r| r["state"] != "Active"),
        "a replica on the killed peer is marked down: {layout}"
    );

    let mut found: Vec<PacketId> = Vec::new();
    for a in &addresses {
        let query = Query::exact(*a).limit(1000);
        let hits = retry(|| router.query(&query)).await;
        found.extend(hits.iter().map(|h| h.packet.id()));
    }
    let mut want: Vec<PacketId> = acknowledged.iter().map(Packet::id).collect();
    want.sort();
    found.sort();
    assert_eq!(want.len(), 400);
    assert_eq!(found, want, "nothing acknowledged is lost");
    let nearest = Query::nearest(&unit(3), 5).unwrap();
    assert_eq!(
        retry(|| router.query(&nearest)).await.len(),
        5,
        "vector queries keep answering"
    );
}

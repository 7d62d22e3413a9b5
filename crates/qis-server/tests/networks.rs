//! Several networks on one node: each its own embedded store (directories of one data
//! directory), reached only by its own tokens; nothing of one is ever seen from another —
//! queries (exact, vector, text), listings, stats, synthesis, the dashboard, event streams,
//! forgetting and the MCP tools. The names are chosen the way a prefix search or a path join
//! would leak between them: `lab`, `lab-a`, `lab_a` and `default` all hold packets at the same
//! address, by the same agent id, some with the same packet id.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::{call, get, packet_json, post_json};
use qis::embed::{Embedder, HashedEmbedder};
use qis::packet::{Address, Packet, now_ms};
use qis::router::Router;
use qis::router::http::HttpRouter;
use qis::router::url::RouterSpec;
use qis_server::auth::{Auth, Role, Tokens};
use qis_server::config::NetworkLimits;
use qis_server::{AppState, DEFAULT_NETWORK, NetworkSpec, ServerConfig};
use serde_json::{Value, json};

/// The networks, in the order the tests use them.
const NETWORKS: [&str; 4] = [DEFAULT_NETWORK, "lab", "lab-a", "lab_a"];

/// The token of `site_01` in `network`.
fn token(network: &str) -> String {
    format!("token-of-site-01-in-{network}-0123456789")
}

/// The operator token of `network`.
fn operator(network: &str) -> String {
    format!("operator-token-of-{network}-0123456789")
}

fn tokens() -> Tokens {
    let mut t = Tokens::new();
    for n in NETWORKS {
        t.insert_in(n, &token(n), "site_01", Role::Agent).unwrap();
        t.insert_in(n, &operator(n), "ops", Role::Operator).unwrap();
    }
    t
}

/// The routes of `network`: `/v1` for the default one.
fn base(network: &str) -> String {
    if network == DEFAULT_NETWORK {
        "/v1".to_owned()
    } else {
        format!("/v1/networks/{network}")
    }
}

/// The embedded store of each network, as `qis serve` lays them out in `dir`.
async fn specs(dir: &Path, limits: &[(&str, NetworkLimits)]) -> Vec<NetworkSpec> {
    let root = RouterSpec::Embedded {
        dir: dir.to_owned(),
    };
    specs_on(&root, limits).await
}

/// The router of each network, as `qis serve` opens them from the router `root`.
async fn specs_on(root: &RouterSpec, limits: &[(&str, NetworkLimits)]) -> Vec<NetworkSpec> {
    let mut specs = Vec::new();
    for n in NETWORKS {
        let spec = if n == DEFAULT_NETWORK {
            root.clone()
        } else {
            root.namespaced(n).unwrap()
        };
        let mut network = NetworkSpec::new(n, spec.open().await.unwrap());
        if let Some((_, l)) = limits.iter().find(|(name, _)| *name == n) {
            network = network.limits(l.clone());
        }
        specs.push(network);
    }
    specs
}

fn config() -> ServerConfig {
    ServerConfig::new(Auth::Tokens(tokens())).embedder(Arc::new(HashedEmbedder::default()))
}

async fn node(dir: &Path) -> AppState {
    AppState::with_networks(specs(dir, &[]).await, config()).unwrap()
}

/// The router URL `env` names (set by `scripts/with-engines`), in a network of this test's own.
fn engine(env: &str) -> Option<RouterSpec> {
    let Ok(base) = std::env::var(env) else {
        eprintln!("skipped: {env} is not set (scripts/with-engines sets it)");
        return None;
    };
    let network = format!("netleak{:x}{}", now_ms(), std::process::id() % 1000);
    Some(qis::router::url::parse_url(&format!("{base}/{network}")).unwrap())
}

/// A packet of `site_01` at `address`, with `network`'s name in its result and the vector of
/// `text`.
fn packet(network: &str, address: Address) -> Packet {
    Packet::builder("site_01", "trial", address)
        .outcome(qis::packet::Outcome::Resolved)
        .confidence(0.9)
        .result("network", network)
        .created(now_ms())
        .build()
        .unwrap()
}

fn vector() -> Vec<f32> {
    HashedEmbedder::default()
        .embed("the pool runs dry under load")
        .unwrap()
}

async fn deposit(s: &AppState, network: &str, p: &Packet) {
    let body = json!({ "packet": packet_json(p), "vector": vector() });
    let (status, body, _) = call(
        s,
        post_json(
            &format!("{}/packets", base(network)),
            Some(&token(network)),
            &body,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{network}: {body}");
    assert_eq!(body["stored"], 1, "{network}: {body}");
}

/// The `network` named in the results of `hits`.
fn networks_of(body: &Value) -> Vec<String> {
    body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            h["packet"]["result"]["network"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn get_ok(s: &AppState, network: &str, path: &str) -> Value {
    let (status, body, _) = call(
        s,
        get(&format!("{}{path}", base(network)), Some(&token(network))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{network} {path}: {body}");
    body
}

async fn post_ok(s: &AppState, network: &str, path: &str, body: &Value) -> Value {
    let (status, body, _) = call(
        s,
        post_json(
            &format!("{}{path}", base(network)),
            Some(&token(network)),
            body,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{network} {path}: {body}");
    body
}

#[tokio::test]
async fn no_read_of_one_network_shows_anything_of_another() {
    let dir = tempfile::tempdir().unwrap();
    let root = RouterSpec::Embedded {
        dir: dir.path().to_owned(),
    };
    no_leaks_on(&root).await;
    // Each network is a store of its own, in a directory under the data directory's
    // `networks/`, beside the default network's own files.
    let mut dirs: Vec<String> = std::fs::read_dir(dir.path().join("networks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(dirs, ["lab", "lab-a", "lab_a"]);
}

/// The same on NATS JetStream: a network per stream and subject tree.
#[tokio::test]
async fn no_read_of_one_network_shows_anything_of_another_on_nats() {
    if let Some(root) = engine("QIS_NATS_URL") {
        no_leaks_on(&root).await;
    }
}

/// The same on Chroma: a network per set of collections.
#[tokio::test]
async fn no_read_of_one_network_shows_anything_of_another_on_chroma() {
    if let Some(root) = engine("QIS_CHROMA_URL") {
        no_leaks_on(&root).await;
    }
}

/// The same on Qdrant: a network per collection (when `QDRANT_URL` names a Qdrant server; no
/// registry these machines reach carries one).
#[tokio::test]
async fn no_read_of_one_network_shows_anything_of_another_on_qdrant() {
    if let Some(root) = engine("QDRANT_URL") {
        no_leaks_on(&root).await;
    }
}

async fn no_leaks_on(root: &RouterSpec) {
    let s = AppState::with_networks(specs_on(root, &[]).await, config()).unwrap();
    let shared = qis::conformance::random_address();
    // One packet per network at the same address; `lab` also holds one at an address of its own;
    // `lab-a` holds the very packet `lab` holds (same id, same content).
    let mut packets = std::collections::HashMap::new();
    for n in NETWORKS {
        let p = packet(n, shared);
        deposit(&s, n, &p).await;
        packets.insert(n, p);
    }
    let only_lab = qis::conformance::random_address();
    let lab_packet = packet("lab", only_lab);
    deposit(&s, "lab", &lab_packet).await;

    for n in NETWORKS {
        let exact = get_ok(&s, n, &format!("/addresses/{shared}/packets")).await;
        assert_eq!(networks_of(&exact), [n], "exact query of {n}");
        let nearest = post_ok(&s, n, "/query", &json!({ "vector": vector(), "limit": 50 })).await;
        let mut seen = networks_of(&nearest);
        seen.dedup();
        assert_eq!(seen, [n], "vector query of {n}");
        let text = post_ok(
            &s,
            n,
            "/query",
            &json!({ "text": "the pool runs dry under load", "limit": 50 }),
        )
        .await;
        let mut seen = networks_of(&text);
        seen.dedup();
        assert_eq!(seen, [n], "text query of {n}");
        let listing = get_ok(&s, n, "/addresses").await;
        let addresses: Vec<&str> = listing["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["address"].as_str().unwrap())
            .collect();
        let own = if n == "lab" { 2 } else { 1 };
        assert_eq!(addresses.len(), own, "{n}: {listing}");
        assert_eq!(
            addresses.contains(&only_lab.to_string().as_str()),
            n == "lab",
            "{n}: {listing}"
        );
        let stats = get_ok(&s, n, "/stats").await;
        assert_eq!(stats["packets"], own, "{n}: {stats}");
        let synth = post_ok(&s, n, "/synth", &json!({ "query": { "address": shared } })).await;
        assert_eq!(synth["sample_size"], 1, "{n}: {synth}");
        let dashboard = get_ok(&s, n, "/dashboard").await;
        assert_eq!(dashboard["stats"]["packets"], own, "{n}: {dashboard}");
        assert_eq!(
            dashboard["recent"].as_array().unwrap().len(),
            own,
            "{n}: {dashboard}"
        );
        let caps = get_ok(&s, n, "/capabilities").await;
        assert_eq!(caps["network"], n, "{caps}");
    }

    // A packet of one network is unknown to another: `lab_a` stores `lab`'s very packet anew.
    let (status, body, _) = call(
        &s,
        post_json(
            "/v1/networks/lab_a/packets",
            Some(&token("lab_a")),
            &json!({ "packet": packet_json(&lab_packet) }),
        ),
    )
    .await;
    assert_eq!(
        (status, body["stored"].clone()),
        (StatusCode::OK, json!(1)),
        "{body}"
    );

    // An operator forgets everything at the shared address in `lab`, and only there; the
    // tombstone in `lab` refuses the id's replay there, not in `lab-a`.
    let (status, body, _) = call(
        &s,
        post_json(
            "/v1/networks/lab/forget",
            Some(&operator("lab")),
            &json!({ "address": shared }),
        ),
    )
    .await;
    assert_eq!(
        (status, body["removed"].clone()),
        (StatusCode::OK, json!(1))
    );
    for n in NETWORKS {
        let exact = get_ok(&s, n, &format!("/addresses/{shared}/packets")).await;
        let want: &[&str] = if n == "lab" { &[] } else { &[n] };
        assert_eq!(networks_of(&exact), want, "after the forget, {n}");
    }
    let (status, body, _) = call(
        &s,
        post_json(
            "/v1/networks/lab/packets",
            Some(&token("lab")),
            &json!({ "packet": packet_json(&packets["lab"]) }),
        ),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::GONE, Some("forgotten")),
        "{body}"
    );
}

#[tokio::test]
async fn a_token_reaches_its_own_network_only_and_bad_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = node(dir.path()).await;
    let p = packet("lab", qis::conformance::random_address());
    deposit(&s, "lab", &p).await;
    let lab = token("lab");
    let refusals: [(&str, &str, StatusCode, &str); 10] = [
        // Another network, the default one, one that does not exist: 403 alike, so that a
        // token learns nothing of the networks it cannot reach.
        (
            "/v1/networks/lab-a/stats",
            lab.as_str(),
            StatusCode::FORBIDDEN,
            "wrong_network",
        ),
        (
            "/v1/stats",
            lab.as_str(),
            StatusCode::FORBIDDEN,
            "wrong_network",
        ),
        (
            "/v1/networks/nowhere/stats",
            lab.as_str(),
            StatusCode::FORBIDDEN,
            "wrong_network",
        ),
        (
            "/v1/networks/lab/stats",
            &token(DEFAULT_NETWORK),
            StatusCode::FORBIDDEN,
            "wrong_network",
        ),
        (
            "/v1/networks/LAB/stats",
            lab.as_str(),
            StatusCode::FORBIDDEN,
            "wrong_network",
        ),
        // Names no network can have: dots, an encoded slash, a walk up, not UTF-8.
        (
            "/v1/networks/lab.a/stats",
            lab.as_str(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "/v1/networks/lab%2Fa/stats",
            lab.as_str(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "/v1/networks/..%2Flab-a/stats",
            lab.as_str(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "/v1/networks/%ff/stats",
            lab.as_str(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        // A bare slash is no route at all.
        (
            "/v1/networks/lab/a/stats",
            lab.as_str(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (path, token, status, code) in refusals {
        let (got, body, _) = call(&s, get(path, Some(token))).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
        if code != "not_found" {
            assert_eq!(body["field"], "network", "{path}: {body}");
        }
    }
    // A deposit and a forget on the wrong network change nothing anywhere.
    let other = packet("lab-a", qis::conformance::random_address());
    let (status, body, _) = call(
        &s,
        post_json(
            "/v1/networks/lab-a/packets",
            Some(&lab),
            &json!({ "packet": packet_json(&other) }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body, _) = call(
        &s,
        post_json(
            "/v1/networks/lab-a/forget",
            Some(&operator("lab")),
            &json!({ "agent": "site_01" }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    for n in NETWORKS {
        let want = u64::from(n == "lab");
        assert_eq!(get_ok(&s, n, "/stats").await["packets"], want, "{n}");
    }
    // No token at all: 401 before any network is looked at.
    let (status, _, _) = call(&s, get("/v1/networks/lab/stats", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_open_node_says_which_network_it_does_not_serve() {
    let dir = tempfile::tempdir().unwrap();
    let s = AppState::with_networks(specs(dir.path(), &[]).await, ServerConfig::new(Auth::Open))
        .unwrap();
    let (status, body, _) = call(&s, get("/v1/networks/lab-b/stats", None)).await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (
            StatusCode::NOT_FOUND,
            Some("unknown_network"),
            Some("network")
        ),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("lab-b"),
        "{body}"
    );
    let (status, body, _) = call(&s, get("/v1/networks/default/stats", None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_node_refuses_networks_it_could_not_keep_apart() {
    let memory = || -> Arc<dyn Router> { Arc::new(qis::router::memory::MemoryRouter::new()) };
    let open = || ServerConfig::new(Auth::Open);
    let refused = |networks: Vec<NetworkSpec>, config: ServerConfig, what: &str| {
        let e = AppState::with_networks(networks, config).unwrap_err();
        assert!(e.to_string().contains(what), "{e}");
    };
    refused(
        vec![
            NetworkSpec::new("default", memory()),
            NetworkSpec::new("lab", memory()),
            NetworkSpec::new("LAB", memory()),
        ],
        open(),
        "differ only in case",
    );
    refused(
        vec![NetworkSpec::new("lab", memory())],
        open(),
        "always serves the network \"default\"",
    );
    refused(
        vec![
            NetworkSpec::new("default", memory()),
            NetworkSpec::new("lab.eu", memory()),
        ],
        open(),
        "network name",
    );
    let mut t = Tokens::new();
    t.insert_in("lab", &token("lab"), "site_01", Role::Agent)
        .unwrap();
    refused(
        vec![NetworkSpec::new("default", memory())],
        ServerConfig::new(Auth::Tokens(t)),
        "does not serve",
    );
    let e = Tokens::from_toml(&format!(
        "\"{}\" = {{ agent = \"a\", network = \"lab/eu\" }}",
        token("x")
    ))
    .unwrap_err();
    assert!(e.to_string().contains("network name"), "{e}");
    let t = Tokens::from_toml(&format!(
        "\"{}\" = {{ agent = \"a\", network = \"lab\", role = \"operator\" }}\n\"{}\" = \"b\"",
        token("x"),
        token("y")
    ))
    .unwrap();
    assert_eq!(t.network(&token("x")), Some("lab"));
    assert_eq!(t.network(&token("y")), Some(DEFAULT_NETWORK));
}

#[tokio::test]
async fn rates_and_batch_sizes_apply_per_network_as_well_as_per_token() {
    let dir = tempfile::tempdir().unwrap();
    let limits = [("lab", NetworkLimits::default().rate(1, 3).max_batch(1))];
    let s = AppState::with_networks(specs(dir.path(), &limits).await, config()).unwrap();
    // Three requests of two tokens of `lab` use up its burst; the fourth is refused whichever
    // token sends it, and names the network; the other networks are not slowed.
    for t in [token("lab"), operator("lab"), token("lab")] {
        let (status, body, _) = call(&s, get("/v1/networks/lab/stats", Some(&t))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body, headers) =
        call(&s, get("/v1/networks/lab/stats", Some(&operator("lab")))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("\"lab\""),
        "{body}"
    );
    assert!(headers.get("retry-after").is_some());
    for n in ["lab-a", DEFAULT_NETWORK] {
        for _ in 0..5 {
            get_ok(&s, n, "/stats").await;
        }
    }
    // `lab-a` takes the node's batch size; `lab` had its own (checked before the rate here:
    // a fresh node).
    let dir = tempfile::tempdir().unwrap();
    let s = AppState::with_networks(specs(dir.path(), &limits).await, config()).unwrap();
    let batch = |n: &str| {
        json!({ "packets": [
            { "packet": packet_json(&packet(n, qis::conformance::random_address())) },
            { "packet": packet_json(&packet(n, qis::conformance::random_address())) },
        ]})
    };
    let (status, body, _) = call(
        &s,
        post_json(
            "/v1/networks/lab/packets",
            Some(&token("lab")),
            &batch("lab"),
        ),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("batch_too_large")),
        "{body}"
    );
    let caps = get_ok(&s, "lab", "/capabilities").await;
    assert_eq!(caps["max_batch"], 1);
    let stored = post_ok(&s, "lab-a", "/packets", &batch("lab-a")).await;
    assert_eq!(stored["stored"], 2);
}

/// The library's `http` router reaches a network with `?network=`; an event stream of one
/// network never carries another's packets.
#[tokio::test]
async fn the_http_router_and_event_streams_stay_in_their_network() {
    let dir = tempfile::tempdir().unwrap();
    let specs = specs(dir.path(), &[]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::with_networks(specs, config()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(qis_server::run(listener, state, async move {
        let _ = stopped.await;
    }));
    let url = format!("http://{addr}");
    let address = qis::conformance::random_address();

    // Subscribe in `lab`; deposit at the same address in `lab-a`, then in `lab`.
    let client = reqwest::Client::new();
    let mut stream = client
        .get(format!("{url}/v1/networks/lab/addresses/{address}/events"))
        .bearer_auth(token("lab"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);

    let router = |n: &str| {
        let spec = qis::router::url::parse_url(&format!("{url}?network={n}")).unwrap();
        let RouterSpec::Http(c) = spec else {
            panic!("an http spec")
        };
        HttpRouter::builder(&c.url)
            .network(c.network.clone())
            .token(Some(token(n)))
            .connect()
    };
    let lab_a = router("lab-a").await.unwrap();
    let lab = router("lab").await.unwrap();
    assert_eq!(lab.inner().node().network, "lab");
    let theirs = packet("lab-a", address);
    let ours = packet("lab", address);
    lab_a
        .deposit(&[qis::router::Routed::new(Arc::new(theirs.clone()))])
        .await
        .unwrap();
    lab.deposit(&[qis::router::Routed::new(Arc::new(ours.clone()))])
        .await
        .unwrap();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !text.contains("event: packet") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains(&ours.id().to_string()), "{text}");
    assert!(!text.contains(&theirs.id().to_string()), "{text}");
    // Through the router, `lab` holds its packet only.
    let hits = lab
        .query(&qis::router::Query::exact(address))
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].packet.id(), ours.id());
    // A token of `lab` through a router pointed at `lab-a`: refused at connect, naming the
    // network.
    let wrong = HttpRouter::builder(&url)
        .network(Some("lab-a".into()))
        .token(Some(token("lab")))
        .connect()
        .await
        .unwrap_err();
    assert!(wrong.to_string().contains("network"), "{wrong}");
    drop(stream);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

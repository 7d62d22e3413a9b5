//! What an adversarial test of the node broke, one test each: every one of these failed before
//! its fix.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::{
    TOKEN_A, assert_refused, call, get, packet, packet_json, post_bytes, post_json, stored,
};
use qis::conformance::{random_address, sample_packet};
use qis::packet::{Packet, now_ms};
use qis::router::Router as _;
use qis::router::memory::MemoryRouter;
use qis_server::{AppState, ServerConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn state() -> AppState {
    AppState::new(
        Arc::new(MemoryRouter::new()),
        ServerConfig::new(common::tokens()),
    )
}

/// `?access_token=` is taken by the reads browsers make without headers (event streams, the
/// dashboard's reads), and nowhere else: a deposit, a query, a forget or the stats with a token
/// in the URL are refused, naming `access_token`, and store nothing.
#[tokio::test]
async fn a_token_in_the_url_is_taken_only_by_event_streams_and_dashboard_reads() {
    let s = state();
    let p = packet("agent-a");
    let deposit = json!({"packet": packet_json(&p)});
    let url = format!("access_token={TOKEN_A}");
    for request in [
        post_json(&format!("/v1/packets?{url}"), None, &deposit),
        post_json(&format!("/v1/packets?{url}"), Some(TOKEN_A), &deposit),
        post_json(&format!("/v1/query?{url}"), None, &json!({"limit": 1})),
        post_json(
            &format!("/v1/forget?{url}"),
            None,
            &json!({"ids": [p.id().to_string()]}),
        ),
        get(&format!("/v1/stats?{url}"), None),
        get(&format!("/v1/networks/default/stats?{url}"), None),
    ] {
        let (status, body, _) = call(&s, request).await;
        assert_refused(
            status,
            &body,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "access_token",
        );
    }
    assert_eq!(stored(&s).await, 0, "nothing stored");

    // The reads take it.
    let (status, body, _) = call(&s, post_json("/v1/packets", Some(TOKEN_A), &deposit)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for path in [
        format!("/v1/addresses/{}/packets?{url}", p.address()),
        format!(
            "/v1/networks/default/addresses/{}/packets?{url}",
            p.address()
        ),
        format!("/v1/addresses?{url}"),
        format!("/v1/addresses/{}/consensus?{url}", p.address()),
        format!("/v1/dashboard?{url}"),
    ] {
        let (status, body, _) = call(&s, get(&path, None)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
}

/// A JSON array is not an envelope (serde would read it field by field): 400 `decode_error`,
/// and nothing stored.
#[tokio::test]
async fn a_json_array_is_not_an_envelope() {
    let s = state();
    let p = packet("agent-a");
    for (path, body) in [
        ("/v1/packets", json!([packet_json(&p)])),
        ("/v1/packets", json!([packet_json(&p), null, null])),
        ("/v1/query", json!([p.address().to_string()])),
        ("/v1/forget", json!([[p.id().to_string()]])),
        ("/v1/synth", json!([p.address().to_string()])),
    ] {
        let (status, body, _) = call(&s, post_json(path, Some(TOKEN_A), &body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["code"], "decode_error", "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("an array"),
            "{body}"
        );
    }
    let (status, body, _) = call(
        &s,
        post_bytes(
            "/v1/packets",
            Some(TOKEN_A),
            "application/json",
            b"  \"x\"".to_vec(),
        ),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("decode_error")),
        "{body}"
    );
    assert_eq!(stored(&s).await, 0);
}

/// A path segment that is not UTF-8 once percent-decoded is the JSON error body naming the
/// segment, not axum's plain-text rejection.
#[tokio::test]
async fn a_path_segment_that_is_not_utf8_is_a_json_error_naming_it() {
    let s = state();
    for (path, field) in [
        ("/v1/addresses/%ff/packets", "address"),
        ("/v1/addresses/%ff%fe/consensus", "address"),
        ("/v1/addresses/%c3/events", "address"),
        ("/v1/networks/default/addresses/%ff/packets", "address"),
    ] {
        let request = get(path, Some(TOKEN_A));
        let response = tower::ServiceExt::oneshot(qis_server::app(s.clone()), request)
            .await
            .unwrap();
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{path}"
        );
        let (status, body, _) = call(&s, get(path, Some(TOKEN_A))).await;
        assert_refused(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            field,
        );
    }
    let request = axum::http::Request::delete("/v1/packets/%ff")
        .header("authorization", format!("Bearer {TOKEN_A}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, body, _) = call(&s, request).await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        "id",
    );
}

/// The exact `GET` names its own query field, `outcomes`, not the body's `filter.outcome`.
#[tokio::test]
async fn a_bad_outcome_in_the_query_string_names_outcomes() {
    let s = state();
    let path = format!("/v1/addresses/{}/packets?outcomes=won", random_address());
    let (status, body, _) = call(&s, get(&path, Some(TOKEN_A))).await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        "outcomes",
    );
}

/// A refusal before the body is read (401, 429, 413, an unknown route) says `Connection: close`,
/// so that a keep-alive client does not send its next request into a socket being closed; a
/// request whose body was read keeps its connection.
#[tokio::test]
async fn a_refusal_that_leaves_the_body_unread_closes_the_connection_and_says_so() {
    let s = state();
    let p = packet("agent-a");
    let deposit = json!({"packet": packet_json(&p)});
    let (status, _, headers) = call(&s, post_json("/v1/packets", None, &deposit)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["connection"], "close");
    let (status, _, headers) = call(&s, post_json("/v1/nowhere", Some(TOKEN_A), &deposit)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["connection"], "close");
    let (status, _, headers) = call(&s, post_json("/v1/packets", Some(TOKEN_A), &deposit)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("connection").is_none(), "{headers:?}");

    // On a socket: the 401 says close, and the node closes; a new connection is served.
    let node = common::serve(
        Arc::new(MemoryRouter::new()),
        ServerConfig::new(common::tokens()),
    )
    .await;
    let body = serde_json::to_vec(&deposit).unwrap();
    let mut tcp = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    let head = format!(
        "POST /v1/packets HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&body).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tcp.read_to_end(&mut answer),
    )
    .await
    .expect("the node closes the connection after its answer")
    .unwrap();
    let text = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(text.starts_with("http/1.1 401"), "{text}");
    assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/packets", node.url()))
        .bearer_auth(TOKEN_A)
        .json(&deposit)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A filter's lists are bounded, so that no query's cost grows with its filter: 550,000 tags
/// once held an async worker for 12 s. Refused by name, in the body's terms and in the query
/// string's.
#[tokio::test]
async fn a_filter_too_large_to_be_cheap_is_refused_by_name() {
    let s = state();
    let address = random_address();
    let many = |n: usize| (0..n).map(|i| format!("tag{i}")).collect::<Vec<_>>();
    for (filter, field) in [
        (json!({"tags_any": many(65)}), "filter.tags_any"),
        (json!({"tags_any": many(100_000)}), "filter.tags_any"),
        (
            json!({"exclude_agents": many(257)}),
            "filter.exclude_agents",
        ),
        (json!({"outcomes": vec!["resolved"; 17]}), "filter.outcomes"),
        (json!({"tags_any": ["x".repeat(65)]}), "filter.tags_any[0]"),
        (json!({"domain": "d".repeat(65)}), "filter.domain"),
    ] {
        let q = json!({"address": address.to_string(), "filter": filter, "limit": 10});
        let (status, body, _) = call(&s, post_json("/v1/query", Some(TOKEN_A), &q)).await;
        assert_refused(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            field,
        );
    }
    let tags = many(65).join(",");
    let path = format!("/v1/addresses/{address}/packets?tags_any={tags}");
    let (status, body, _) = call(&s, get(&path, Some(TOKEN_A))).await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        "tags_any",
    );
    // Within the bounds, a query answers.
    let q = json!({"address": address.to_string(), "filter": {"tags_any": many(64)}});
    let (status, body, _) = call(&s, post_json("/v1/query", Some(TOKEN_A), &q)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A router whose first deposit finishes on a task of its own, after the node's deadline: as
/// the embedded store's transaction runs on a thread of its own and commits after the node
/// stopped waiting for it.
#[derive(Debug)]
struct LateFirstDeposit {
    inner: Arc<MemoryRouter>,
    first: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl qis::router::Router for LateFirstDeposit {
    fn capabilities(&self) -> qis::router::Capabilities {
        self.inner.capabilities()
    }
    async fn deposit(
        &self,
        batch: &[qis::router::Routed],
    ) -> qis::Result<Vec<qis::router::Receipt>> {
        let late = self.first.swap(false, std::sync::atomic::Ordering::SeqCst);
        let (inner, batch) = (self.inner.clone(), batch.to_vec());
        tokio::spawn(async move {
            if late {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
            inner.deposit(&batch).await
        })
        .await
        .unwrap()
    }
    async fn query(&self, query: &qis::router::Query) -> qis::Result<qis::router::Hits> {
        self.inner.query(query).await
    }
    async fn stats(&self) -> qis::Result<qis::router::Stats> {
        self.inner.stats().await
    }
    async fn purge_expired(&self) -> qis::Result<u64> {
        self.inner.purge_expired().await
    }
}

/// A deposit past the node's deadline answers 503 `timeout` with its outcome unknown (it was
/// in fact stored, as the issue found of 8 such batches out of 8), and a retry with the same
/// ids is safe: it answers 200, stores nothing twice, and the node holds each packet once.
#[tokio::test]
async fn a_deposit_past_the_deadline_says_its_outcome_is_unknown_and_a_retry_is_safe() {
    let inner = Arc::new(MemoryRouter::new());
    let s = AppState::new(
        Arc::new(LateFirstDeposit {
            inner: inner.clone(),
            first: std::sync::atomic::AtomicBool::new(true),
        }),
        ServerConfig::new(common::tokens()).limits(
            qis_server::config::Limits::default()
                .request_timeout(std::time::Duration::from_millis(100)),
        ),
    );
    let batch: Vec<Packet> = (0..3).map(|_| packet("agent-a")).collect();
    let body = json!({"packets": batch.iter().map(|p| json!({"packet": packet_json(p)})).collect::<Vec<_>>()});
    let (status, answer, _) = call(&s, post_json("/v1/packets", Some(TOKEN_A), &body)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["code"], "timeout");
    assert_eq!(answer["details"]["outcome"], "unknown", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("a retry with the same packet ids is safe"),
        "{answer}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        inner.stats().await.unwrap().packets,
        3,
        "the router finished it"
    );
    let (status, answer, _) = call(&s, post_json("/v1/packets", Some(TOKEN_A), &body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["stored"], 0, "already stored: nothing twice");
    assert_eq!(inner.stats().await.unwrap().packets, 3);
    // A read past the deadline is only a timeout: nothing to be unsure of.
    let (status, answer, _) = call(&s, get("/v1/stats", Some(TOKEN_A))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// A full disk made deposits answer 500 `internal`. Now: 507 `storage_full`, saying so, with
/// nothing of the batch stored; the HTTP router hands the library's `Error::StorageFull` to its
/// caller at once (a full disk is not a blip to retry through), and the node goes on answering.
#[tokio::test]
async fn a_full_store_answers_507_storage_full_and_the_http_router_says_so() {
    use qis::router::embedded::{EmbeddedOptions, EmbeddedRouter};
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedRouter::open_with(
        dir.path(),
        EmbeddedOptions::default().max_bytes(Some(256 * 1024)),
    )
    .await
    .unwrap();
    let node = common::serve(Arc::new(store), ServerConfig::new(common::tokens())).await;
    let http = reqwest::Client::new();
    let address = random_address();
    let full = loop {
        let batch: Vec<Value> = (0..100)
            .map(|_| {
                let p = sample_packet("agent-a", "full", address, now_ms());
                json!({"packet": packet_json(&p), "vector": vec![0.5f32; 64]})
            })
            .collect();
        let r = http
            .post(format!("{}/v1/packets", node.url()))
            .bearer_auth(TOKEN_A)
            .json(&json!({ "packets": batch }))
            .send()
            .await
            .unwrap();
        if r.status() != 200 {
            break r;
        }
    };
    assert_eq!(full.status(), 507);
    let body: Value = full.json().await.unwrap();
    assert_eq!(body["code"], "storage_full", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("storage is full"),
        "{body}"
    );
    let before = node.state.router().stats().await.unwrap().packets;

    let router = qis::router::http::HttpRouter::connect(&node.url(), Some(TOKEN_A.to_owned()))
        .await
        .unwrap();
    let p = sample_packet("agent-a", "full", address, now_ms());
    let batch: Vec<qis::router::Routed> = (0..100)
        .map(|_| {
            qis::router::Routed::with_vector(
                sample_packet("agent-a", "full", address, now_ms()),
                &[0.5; 64],
            )
            .unwrap()
        })
        .chain([qis::router::Routed::new(p)])
        .collect();
    let started = std::time::Instant::now();
    let err = router.deposit(&batch).await.unwrap_err();
    assert!(matches!(err, qis::Error::StorageFull { .. }), "{err:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "not retried as if it would pass"
    );
    assert_eq!(node.state.router().stats().await.unwrap().packets, before);
    let r = http
        .get(format!(
            "{}/v1/addresses/{address}/packets?limit=5",
            node.url()
        ))
        .bearer_auth(TOKEN_A)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "it goes on answering");
}

/// 4,096 idle connections from one peer once made a legitimate client wait 19 s. Now one peer
/// address holds at most its cap: past it, a new connection of that address is answered 429
/// `rate_limited` (the JSON body) and closed, while another address is served at once, and a
/// closed connection frees its place.
#[tokio::test]
async fn one_peer_cannot_hold_the_connections_everyone_else_needs() {
    let config = ServerConfig::new(common::tokens())
        .limits(qis_server::config::Limits::default().max_connections_per_peer(4));
    let node = common::serve(Arc::new(MemoryRouter::new()), config).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(node.addr).await.unwrap());
    }
    // The fifth of the same address, which sends its request at once: it reads the answer
    // (the node drains what it sent before closing, so the close is no reset).
    let mut fifth = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        fifth.read_to_end(&mut answer),
    )
    .await
    .expect("answered and closed")
    .unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 429"), "{text}");
    let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["code"], "rate_limited", "{body}");

    // Another address is served at once.
    let other = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let url = format!("http://{}/healthz", node.addr);
    let r = tokio::time::timeout(std::time::Duration::from_secs(5), other.get(&url).send())
        .await
        .expect("not held back")
        .unwrap();
    assert_eq!(r.status(), 200);

    // A closed connection frees its place.
    drop(idle.pop());
    let mine = reqwest::Client::new();
    let mut served = false;
    for _ in 0..50 {
        if let Ok(r) = mine.get(&url).send().await
            && r.status() == 200
        {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(served, "the freed place was given again");
}

/// 100 connections each sending an 8 MiB body once took the node from 11 MB to 842 MB. The
/// bodies being read at once now share one budget: a request that would pass it waits a
/// second, then is answered 503 `unavailable` with `Retry-After`, before its body is read;
/// once the budget has room again, the same request is served.
#[tokio::test]
async fn request_bodies_read_at_once_share_one_memory_budget() {
    let limits = qis_server::config::Limits::default()
        .max_body_bytes(1024 * 1024)
        .max_body_memory(1024 * 1024);
    let node = common::serve(
        Arc::new(MemoryRouter::new()),
        ServerConfig::new(common::tokens()).limits(limits),
    )
    .await;
    // A slow client: its headers promise 1,000,000 bytes, and it sends ten.
    let mut slow = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    let head = format!(
        "POST /v1/packets HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN_A}\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n{{\"packet\":"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let p = packet("agent-a");
    let padded = |p: &Packet| {
        let mut body = format!("{{\"packet\": {}", p.to_json());
        body.push_str(&" ".repeat(600_000));
        body.push('}');
        body
    };
    let http = reqwest::Client::new();
    let send_as = |token: &'static str, body: String| {
        http.post(format!("{}/v1/packets", node.url()))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let send = |body: String| send_as(TOKEN_A, body);
    // The same caller is past its share of the budget at once: 429.
    let r = send(padded(&p)).await.unwrap();
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited", "{body}");
    // Another caller waits for the budget, then is told to come back: 503.
    let r = send_as(common::TOKEN_B, padded(&packet("agent-b")))
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "unavailable", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("budget"),
        "{body}"
    );
    assert_eq!(node.state.router().stats().await.unwrap().packets, 0);
    // A body declared over the limit is refused unread, on every route (the MCP service
    // would otherwise read up to the limit first).
    for path in ["/v1/packets", "/mcp"] {
        let mut tcp = tokio::net::TcpStream::connect(node.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {TOKEN_A}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: 9437184\r\n\r\n"
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read(&mut answer))
            .await
            .expect("answered before the body")
            .unwrap();
        let text = String::from_utf8_lossy(&answer[..n]);
        assert!(text.starts_with("HTTP/1.1 413"), "{path}: {text}");
        assert!(text.contains("body_too_large"), "{path}: {text}");
    }

    drop(slow);
    let mut stored = false;
    for _ in 0..50 {
        let r = send(padded(&p)).await.unwrap();
        if r.status() == 200 {
            stored = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(stored, "served once the budget had room");
    assert_eq!(node.state.router().stats().await.unwrap().packets, 1);
}

/// What one request on a fresh connection is answered, whole, once the node closes it.
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tcp.read_to_end(&mut answer),
    )
    .await
    .expect("the node answers and closes");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Requests hyper cannot parse once got its own empty answers (a 100 KB path: 414 with no body;
/// 1,000 headers: 431 with no body). Every answer of the node is now the JSON error body.
#[tokio::test]
async fn requests_too_large_or_malformed_to_parse_get_the_json_error_body() {
    let node = common::serve(
        Arc::new(MemoryRouter::new()),
        ServerConfig::new(common::tokens()),
    )
    .await;
    let long_path = format!(
        "GET /v1/addresses/{}/packets HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(100_000)
    );
    let mut many_headers = String::from("GET /healthz HTTP/1.1\r\nhost: x\r\n");
    for i in 0..1_000 {
        many_headers.push_str(&format!("x-h{i}: v\r\n"));
    }
    many_headers.push_str("\r\n");
    for (request, status, code) in [
        (long_path.into_bytes(), "414", "uri_too_long"),
        (many_headers.into_bytes(), "431", "headers_too_large"),
        (
            b"GET /healthz HTTP/1.1\r\nbad header\r\n\r\n".to_vec(),
            "400",
            "decode_error",
        ),
        (
            b"\x16\x03\x01 not http at all\r\n\r\n".to_vec(),
            "400",
            "decode_error",
        ),
    ] {
        let text = raw(node.addr, &request).await;
        assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        let lower = text.to_ascii_lowercase();
        assert!(
            lower.contains("\r\ncontent-type: application/json\r\n"),
            "{text}"
        );
        let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap())
            .unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(body["code"], code, "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // The node is unharmed, and its own answers pass through whole: a 401, then a 200, then a
    // large answer, on one keep-alive connection.
    let deposit = serde_json::to_vec(&json!({"packets": (0..200).map(|_| json!({"packet": packet_json(&packet("agent-a"))})).collect::<Vec<_>>()})).unwrap();
    let mut requests = b"GET /v1/stats HTTP/1.1\r\nhost: x\r\n\r\n".to_vec();
    requests.extend(format!("POST /v1/packets HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN_A}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", deposit.len()).as_bytes());
    requests.extend(&deposit);
    requests.extend(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    let text = raw(node.addr, &requests).await;
    let answers: Vec<&str> = text.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(answers.len(), 3, "{text}");
    assert!(answers[0].starts_with("401 "), "{}", answers[0]);
    assert!(answers[0].contains("\"code\":\"unauthorized\""));
    assert!(answers[1].starts_with("200 "), "{}", answers[1]);
    let receipts: Value =
        serde_json::from_str(answers[1].split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(receipts["stored"], 200, "the large answer arrived whole");
    assert!(answers[2].starts_with("200 "), "{}", answers[2]);
}

/// What held, kept: 2,000 spoof attempts (one agent's token, packets naming another agent,
/// alone or hidden in a batch of the token's own, in JSON and MessagePack) store nothing.
#[tokio::test]
async fn two_thousand_spoof_attempts_store_nothing() {
    let s = state();
    for i in 0..2_000 {
        let spoofed = packet(if i % 2 == 0 { "agent-b" } else { "agent-A" });
        let own = packet("agent-a");
        let (status, body, _) = if i % 4 < 2 {
            let body = if i % 3 == 0 {
                json!({"packet": packet_json(&spoofed)})
            } else {
                json!({"packets": [{"packet": packet_json(&own)}, {"packet": packet_json(&spoofed)}]})
            };
            call(&s, post_json("/v1/packets", Some(TOKEN_A), &body)).await
        } else {
            let body = qis_server::wire::MsgpackDeposit {
                packets: Some(
                    [&own, &spoofed]
                        .iter()
                        .map(|p| qis_server::wire::MsgpackItem {
                            packet: serde_bytes::ByteBuf::from(p.to_msgpack()),
                            vector: None,
                        })
                        .collect(),
                ),
                ..qis_server::wire::MsgpackDeposit::default()
            };
            let bytes = rmp_serde::to_vec_named(&body).unwrap();
            call(
                &s,
                post_bytes("/v1/packets", Some(TOKEN_A), "application/msgpack", bytes),
            )
            .await
        };
        assert_eq!(status, StatusCode::FORBIDDEN, "attempt {i}: {body}");
        assert_eq!(body["code"], "agent_mismatch", "{body}");
    }
    assert_eq!(stored(&s).await, 0, "no spoofed batch stored anything");
}

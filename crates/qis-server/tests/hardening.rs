//! What an adversarial test of the node broke, one test each: every one of these failed before
//! its fix.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::{TOKEN_A, call, get, post_bytes, post_json};
use qis::conformance::{random_address, sample_packet};
use qis::packet::{Packet, now_ms};
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

fn packet(agent: &str) -> Packet {
    sample_packet(agent, "trial", random_address(), now_ms())
}

fn packet_json(p: &Packet) -> Value {
    serde_json::from_str(&p.to_json()).unwrap()
}

async fn stored(state: &AppState) -> u64 {
    state.router().stats().await.unwrap().packets
}

fn assert_refused(status: StatusCode, body: &Value, want: StatusCode, code: &str, field: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["field"], field, "{body}");
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

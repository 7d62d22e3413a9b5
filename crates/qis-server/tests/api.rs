//! The HTTP API in process: every endpoint, every error code, auth, limits, metrics, OpenAPI.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use common::{TOKEN_A, TOKEN_B, call, get, packet, packet_json, post_bytes, post_json, stored};
use qis::conformance::random_address;
use qis::embed::HashedEmbedder;
use qis::packet::{Packet, now_ms};
use qis::router::memory::MemoryRouter;
use qis::router::{Capabilities, Hits, Query, Receipt, Routed, Router, Stats};
use qis_server::auth::Auth;
use qis_server::config::Limits;
use qis_server::wire::{MsgpackDeposit, MsgpackItem};
use qis_server::{AppState, ServerConfig};
use serde_json::{Value, json};

fn state_with(config: ServerConfig) -> AppState {
    AppState::new(Arc::new(MemoryRouter::new()), config)
}

fn state() -> AppState {
    state_with(ServerConfig::new(common::tokens()))
}

fn assert_error(
    status: StatusCode,
    body: &Value,
    want: StatusCode,
    code: &str,
    field: Option<&str>,
) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    if let Some(f) = field {
        assert_eq!(body["field"], f, "{body}");
    }
}

#[tokio::test]
async fn deposit_one_then_query_it_back_by_get_and_post() {
    let s = state();
    let p = packet("agent-a");
    let (status, body, _) = call(
        &s,
        post_json(
            "/v1/packets",
            Some(TOKEN_A),
            &json!({"packet": packet_json(&p)}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stored"], 1);
    assert_eq!(body["receipts"][0]["id"], p.id().to_string());
    assert_eq!(body["receipts"][0]["stored"], true);

    let path = format!("/v1/addresses/{}/packets?limit=5", p.address());
    let (status, body, _) = call(&s, get(&path, Some(TOKEN_B))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["hits"].as_array().unwrap().len(), 1);
    assert_eq!(body["hits"][0]["score"], 1.0);
    let back: Packet = serde_json::from_value(body["hits"][0]["packet"].clone()).unwrap();
    assert_eq!(back, p);

    let q = json!({"address": p.address().to_string(), "filter": {"min_confidence": 0.9}});
    let (status, body, _) = call(&s, post_json("/v1/query", Some(TOKEN_B), &q)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["hits"].as_array().unwrap().is_empty(),
        "the filter applies"
    );

    // A repeat is acknowledged, not stored twice.
    let (status, body, _) = call(
        &s,
        post_json(
            "/v1/packets",
            Some(TOKEN_A),
            &json!({"packet": packet_json(&p)}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["stored"], 0);
    assert_eq!(stored(&s).await, 1);
}

#[tokio::test]
async fn msgpack_batches_with_vectors_answer_msgpack() {
    let s = state();
    let packets: Vec<Packet> = (0..3).map(|_| packet("agent-a")).collect();
    let body = MsgpackDeposit {
        packets: Some(
            packets
                .iter()
                .enumerate()
                .map(|(i, p)| MsgpackItem {
                    packet: serde_bytes::ByteBuf::from(p.to_msgpack()),
                    vector: Some(vec![1.0, i as f32, 0.5]),
                })
                .collect(),
        ),
        ..MsgpackDeposit::default()
    };
    let mut request = post_bytes(
        "/v1/packets",
        Some(TOKEN_A),
        "application/msgpack",
        rmp_serde::to_vec_named(&body).unwrap(),
    );
    request
        .headers_mut()
        .insert("accept", "application/msgpack".parse().unwrap());
    let response = tower::ServiceExt::oneshot(qis_server::app(s.clone()), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/msgpack");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let answer: qis_server::wire::DepositResponse = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(answer.stored, 3);
    let stats = s.router().stats().await.unwrap();
    assert_eq!(
        (stats.packets, stats.vectors, stats.dimension),
        (3, 3, Some(3))
    );

    // A vector query finds the nearest first.
    let q = json!({"vector": [1.0, 0.0, 0.5], "limit": 2});
    let (status, body, _) = call(&s, post_json("/v1/query", Some(TOKEN_A), &q)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["hits"][0]["packet"]["id"], packets[0].id().to_string());
    assert_eq!(body["hits"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn tokens_bind_agents_and_spoofed_deposits_store_nothing() {
    let s = state();
    let mine = packet("agent-a");
    let spoofed = packet("agent-b");
    // No token, an unknown one, a malformed header.
    for token in [None, Some("not-a-known-token-at-all")] {
        let (status, body, _) = call(
            &s,
            post_json("/v1/packets", token, &json!({"packet": packet_json(&mine)})),
        )
        .await;
        assert_error(
            status,
            &body,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            None,
        );
    }
    let (status, body, _) = call(&s, get("/v1/stats", None)).await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    );

    // One spoofed packet in a batch: refused whole.
    let batch =
        json!({"packets": [{"packet": packet_json(&mine)}, {"packet": packet_json(&spoofed)}]});
    let (status, body, _) = call(&s, post_json("/v1/packets", Some(TOKEN_A), &batch)).await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "agent_mismatch",
        Some("packets[1].packet.agent"),
    );
    assert_eq!(stored(&s).await, 0, "nothing of the batch was stored");

    // Each agent deposits its own.
    let (status, _, _) = call(
        &s,
        post_json(
            "/v1/packets",
            Some(TOKEN_B),
            &json!({"packet": packet_json(&spoofed)}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored(&s).await, 1);
}

#[tokio::test]
async fn every_bad_input_answers_a_stable_code_naming_the_field() {
    let s = state_with(
        ServerConfig::new(common::tokens())
            .limits(Limits::default().max_batch(3).max_body_bytes(20_000)),
    );
    let good = packet_json(&packet("agent-a"));
    let mut bad_confidence = good.clone();
    bad_confidence["confidence"] = json!(1.5);
    let mut unknown = good.clone();
    unknown["colour"] = json!("red");
    let mut big = good.clone();
    big["summary"] = json!("x".repeat(200));
    big["problem"] = json!("y".repeat(400));
    // (case, body, content type, status, code, field)
    type Case<'a> = (
        &'a str,
        Vec<u8>,
        &'a str,
        StatusCode,
        &'a str,
        Option<&'a str>,
    );
    let cases: Vec<Case<'_>> = vec![
        ("not json", b"{nope".to_vec(), "application/json", StatusCode::BAD_REQUEST, "decode_error", None),
        (
            "unknown envelope field",
            serde_json::to_vec(&json!({"packet": good, "extra": 1})).unwrap(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "decode_error",
            None,
        ),
        (
            "unknown packet field",
            serde_json::to_vec(&json!({"packet": unknown})).unwrap(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "decode_error",
            Some("packet.colour"),
        ),
        (
            "confidence out of range, in a batch",
            serde_json::to_vec(&json!({"packets": [{"packet": good}, {"packet": bad_confidence}]})).unwrap(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("packets[1].packet.confidence"),
        ),
        (
            "over the 512-byte budget",
            serde_json::to_vec(&json!({"packet": big})).unwrap(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "packet_too_large",
            Some("packet"),
        ),
        (
            "neither packet nor packets",
            b"{}".to_vec(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("packet"),
        ),
        (
            "an empty batch",
            serde_json::to_vec(&json!({"packets": []})).unwrap(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("packets"),
        ),
        (
            "over the batch limit",
            serde_json::to_vec(&json!({"packets": (0..4).map(|_| json!({"packet": packet_json(&packet("agent-a"))})).collect::<Vec<_>>()})).unwrap(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "batch_too_large",
            Some("packets"),
        ),
        (
            "a zero vector",
            serde_json::to_vec(&json!({"packet": good, "vector": [0.0, 0.0]})).unwrap(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("vector"),
        ),
        (
            "over the body limit",
            vec![b' '; 20_001],
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            None,
        ),
        (
            "not a media type we read",
            b"packet".to_vec(),
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            Some("Content-Type"),
        ),
        (
            "msgpack garbage",
            vec![0xc1, 0x00, 0xff],
            "application/msgpack",
            StatusCode::BAD_REQUEST,
            "decode_error",
            None,
        ),
        (
            "a msgpack packet that is not a packet",
            rmp_serde::to_vec_named(&MsgpackDeposit {
                packet: Some(serde_bytes::ByteBuf::from(vec![0x80])),
                ..MsgpackDeposit::default()
            })
            .unwrap(),
            "application/msgpack",
            StatusCode::BAD_REQUEST,
            "decode_error",
            Some("packet"),
        ),
    ];
    for (name, body, content_type, status, code, field) in cases {
        let (got, answer, _) = call(
            &s,
            post_bytes("/v1/packets", Some(TOKEN_A), content_type, body),
        )
        .await;
        assert_eq!(got, status, "{name}: {answer}");
        assert_eq!(answer["code"], code, "{name}: {answer}");
        if let Some(f) = field {
            assert_eq!(answer["field"], f, "{name}: {answer}");
        }
    }
    assert_eq!(stored(&s).await, 0, "no bad input stored anything");

    // Conflicts and dimension mismatches carry their details.
    let p = packet("agent-a");
    let (status, _, _) = call(
        &s,
        post_json(
            "/v1/packets",
            Some(TOKEN_A),
            &json!({"packet": packet_json(&p), "vector": [1.0, 0.0]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut changed = packet_json(&p);
    changed["confidence"] = json!(0.1);
    let (status, body, _) = call(
        &s,
        post_json("/v1/packets", Some(TOKEN_A), &json!({"packet": changed})),
    )
    .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict", None);
    assert_eq!(body["details"]["id"], p.id().to_string());
    let other = packet_json(&packet("agent-a"));
    let (status, body, _) = call(
        &s,
        post_json(
            "/v1/packets",
            Some(TOKEN_A),
            &json!({"packet": other, "vector": [1.0, 0.0, 0.0]}),
        ),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "dimension_mismatch",
        Some("vector"),
    );
    assert_eq!(
        (
            body["details"]["expected"].clone(),
            body["details"]["got"].clone()
        ),
        (json!(2), json!(3))
    );
    assert_eq!(stored(&s).await, 1);

    // Queries.
    let address = p.address().to_string();
    let query_cases = vec![
        (json!({}), "invalid_field", "address"),
        (
            json!({"address": address, "text": "x"}),
            "invalid_field",
            "address",
        ),
        (json!({"address": "zz"}), "decode_error", "address"),
        (
            json!({"address": address, "limit": 0}),
            "invalid_field",
            "limit",
        ),
        (
            json!({"address": address, "max_per_agent": 0}),
            "invalid_field",
            "max_per_agent",
        ),
        (
            json!({"address": address, "max_per_agent": -1}),
            "decode_error",
            "max_per_agent",
        ),
        (
            json!({"address": address, "filter": {"min_confidence": 2.0}}),
            "invalid_field",
            "filter.min_confidence",
        ),
        (
            json!({"address": address, "filter": {"colour": 1}}),
            "decode_error",
            "filter.colour",
        ),
        (
            json!({"address": address, "min_score": 0.5}),
            "invalid_field",
            "min_score",
        ),
        (
            json!({"text": "glp1 weekly dosing"}),
            "not_supported",
            "text",
        ),
        (
            json!({"vector": [1.0, 0.0, 0.0]}),
            "dimension_mismatch",
            "vector",
        ),
    ];
    for (q, code, field) in query_cases {
        let (status, body, _) = call(&s, post_json("/v1/query", Some(TOKEN_A), &q)).await;
        assert!(status.is_client_error(), "{q}: {status} {body}");
        assert_eq!(body["code"], code, "{q}: {body}");
        assert_eq!(body["field"], field, "{q}: {body}");
    }
    let (status, body, _) = call(&s, get("/v1/addresses/xyz/packets", Some(TOKEN_A))).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Some("address"),
    );
    let (status, body, _) = call(
        &s,
        get(
            &format!("/v1/addresses/{address}/packets?max_per_agent=0"),
            Some(TOKEN_A),
        ),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Some("max_per_agent"),
    );
    let (status, body, _) = call(
        &s,
        get(
            &format!("/v1/addresses/{address}/packets?max_per_agent=1"),
            Some(TOKEN_A),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["hits"].as_array().map(Vec::len), Some(1), "{body}");
    let (status, body, _) = call(
        &s,
        get(
            &format!("/v1/addresses/{address}/packets?colour=1"),
            Some(TOKEN_A),
        ),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "decode_error",
        Some("query string"),
    );
    let (status, body, _) = call(
        &s,
        get(
            &format!("/v1/addresses/{address}/packets?outcomes=won"),
            Some(TOKEN_A),
        ),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Some("outcomes"),
    );

    // Routes and methods.
    let (status, body, _) = call(&s, get("/v2/nothing", None)).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found", None);
    let (status, body, _) = call(&s, get("/v1/packets", Some(TOKEN_A))).await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        None,
    );
}

#[tokio::test]
async fn text_queries_and_synthesis_run_on_the_node() {
    let s = state_with(ServerConfig::new(Auth::Open).embedder(Arc::new(HashedEmbedder::default())));
    let address = random_address();
    let embedder = HashedEmbedder::default();
    use qis::embed::Embedder;
    let mut items = Vec::new();
    for (i, protocol) in ["weekly", "weekly", "daily"].iter().enumerate() {
        let p = Packet::builder(format!("site-{i}"), "trial", address)
            .outcome(qis::packet::Outcome::Resolved)
            .confidence(0.8)
            .result("protocol", *protocol)
            .problem("HbA1c stays high on metformin alone")
            .build()
            .unwrap();
        let v = embedder.embed(p.problem().unwrap()).unwrap();
        items.push(json!({"packet": packet_json(&p), "vector": v}));
    }
    let (status, body, _) = call(
        &s,
        post_json("/v1/packets", None, &json!({"packets": items})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body, _) = call(
        &s,
        post_json(
            "/v1/query",
            None,
            &json!({"text": "HbA1c high on metformin", "limit": 2, "min_score": 0.1}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["hits"].as_array().unwrap().len(), 2);
    assert!(body["hits"][0]["score"].as_f64().unwrap() > 0.5, "{body}");

    let synth = json!({"query": {"address": address.to_string()}, "method": "frequency"});
    let (status, body, _) = call(&s, post_json("/v1/synth", None, &synth)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sample_size"], 3);
    assert_eq!(body["agents"], 3);
    assert_eq!(body["best"]["protocol"], "weekly");
    let (status, body, _) = call(
        &s,
        post_json(
            "/v1/synth",
            None,
            &json!({"query": {"address": address.to_string(), "limit": 0}}),
        ),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Some("query.limit"),
    );
    let (status, body, _) = call(
        &s,
        post_json(
            "/v1/synth",
            None,
            &json!({"query": {"address": address.to_string()}, "method": "vote"}),
        ),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "decode_error",
        Some("method"),
    );

    let (status, body, _) = call(&s, get("/v1/capabilities", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["embedder"], embedder.name());
    assert_eq!(body["auth"], "open");
}

#[tokio::test]
async fn each_token_has_its_own_rate() {
    let s = state_with(ServerConfig::new(common::tokens()).limits(Limits::default().rate(1, 3)));
    for _ in 0..3 {
        let (status, _, _) = call(&s, get("/v1/stats", Some(TOKEN_A))).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, body, headers) = call(&s, get("/v1/stats", Some(TOKEN_A))).await;
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        None,
    );
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let (status, _, _) = call(&s, get("/v1/stats", Some(TOKEN_B))).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another token is not limited by the first"
    );
    // Health and metrics are not rate limited.
    let (status, _, _) = call(&s, get("/healthz", None)).await;
    assert_eq!(status, StatusCode::OK);
}

/// A router that takes its time.
#[derive(Debug)]
struct Slow(MemoryRouter);

#[async_trait]
impl Router for Slow {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    async fn deposit(&self, packets: &[Routed]) -> qis::Result<Vec<Receipt>> {
        self.0.deposit(packets).await
    }
    async fn query(&self, query: &Query) -> qis::Result<Hits> {
        tokio::time::sleep(Duration::from_secs(5)).await;
        self.0.query(query).await
    }
    async fn stats(&self) -> qis::Result<Stats> {
        Err(qis::Error::Backend {
            router: "slow",
            retryable: true,
            source: "restarting".into(),
        })
    }
    async fn purge_expired(&self) -> qis::Result<u64> {
        Err(qis::Error::Backend {
            router: "slow",
            retryable: false,
            source: "disk on fire at /secret/path".into(),
        })
    }
}

#[tokio::test]
async fn slow_and_failing_routers_answer_503_and_500_without_internals() {
    let s = AppState::new(
        Arc::new(Slow(MemoryRouter::new())),
        ServerConfig::new(Auth::Open)
            .limits(Limits::default().request_timeout(Duration::from_millis(100))),
    );
    let path = format!("/v1/addresses/{}/packets", random_address());
    let (status, body, _) = call(&s, get(&path, None)).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "timeout",
        None,
    );
    let (status, body, _) = call(&s, get("/v1/stats", None)).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        None,
    );
    let (status, body, _) = call(&s, post_json("/v1/purge", None, &json!({}))).await;
    assert_error(
        status,
        &body,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        None,
    );
    assert!(
        !body.to_string().contains("secret"),
        "internals never leak: {body}"
    );
}

#[tokio::test]
async fn metrics_count_requests_and_error_codes() {
    let s = state();
    let p = packet("agent-a");
    call(
        &s,
        post_json(
            "/v1/packets",
            Some(TOKEN_A),
            &json!({"packet": packet_json(&p)}),
        ),
    )
    .await;
    call(
        &s,
        post_json(
            "/v1/packets",
            Some(TOKEN_B),
            &json!({"packet": packet_json(&p)}),
        ),
    )
    .await;
    call(&s, get("/v1/stats", None)).await;
    let response = tower::ServiceExt::oneshot(qis_server::app(s.clone()), get("/metrics", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    for line in [
        "qis_http_requests_total{route=\"/v1/packets\",status=\"2xx\"} 1",
        "qis_http_requests_total{route=\"/v1/packets\",status=\"4xx\"} 1",
        "qis_http_errors_total{code=\"agent_mismatch\"} 1",
        "qis_http_errors_total{code=\"unauthorized\"} 1",
        "qis_http_request_duration_seconds_count{route=\"/v1/packets\"} 2",
        "qis_packets_stored_total{network=\"default\"} 1",
        "qis_router_packets{network=\"default\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let s = state();
    let (status, doc, _) = call(&s, get("/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for route in [
        "/v1/packets",
        "/v1/query",
        "/v1/addresses/{address}/packets",
        "/v1/addresses/{address}/events",
        "/v1/addresses/{address}/consensus",
        "/v1/synth",
        "/v1/stats",
        "/v1/capabilities",
        "/v1/purge",
        "/v1/dashboard",
        "/healthz",
        "/metrics",
        "/dashboard",
    ] {
        assert!(paths.contains_key(route), "{route} is not documented");
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    // Every documented error code is one the server can answer.
    let codes: Vec<String> = doc["components"]["schemas"]["Code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), qis_server::error::Code::ALL.len());
    // The documented packet has exactly the fields a packet travels with, all of them filled.
    let key = qis::sign::AgentKey::generate().unwrap();
    let full = key.sign(
        Packet::builder("a", "d", random_address())
            .outcome(qis::packet::Outcome::Resolved)
            .confidence(0.5)
            .result("k", 1.0)
            .summary("s")
            .tag("t")
            .problem("p")
            .ttl_secs(60)
            .derived_from(vec![qis::packet::PacketId::new()])
            .build()
            .unwrap(),
    );
    let mut sent: Vec<String> = packet_json(&full)
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut documented: Vec<String> = doc["components"]["schemas"]["PacketDoc"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    sent.sort();
    documented.sort();
    assert_eq!(documented, sent, "PacketDoc has drifted from Packet");
}

#[tokio::test]
async fn the_dashboard_data_counts_what_arrived() {
    let s = state_with(ServerConfig::new(Auth::Open));
    let address = random_address();
    let base = now_ms() - 10_000;
    let mut items = Vec::new();
    for (i, protocol) in ["weekly", "daily", "weekly", "weekly"].iter().enumerate() {
        let p = Packet::builder(format!("site-{i}"), "trial", address)
            .outcome(qis::packet::Outcome::Resolved)
            .confidence(0.8)
            .result("protocol", *protocol)
            .created(base + i as u64 * 1000)
            .build()
            .unwrap();
        items.push(json!({"packet": packet_json(&p)}));
    }
    call(
        &s,
        post_json("/v1/packets", None, &json!({"packets": items})),
    )
    .await;
    let (status, body, _) = call(&s, get("/v1/dashboard", None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stats"]["packets"], 4);
    assert_eq!(body["addresses"][0]["address"], address.to_string());
    assert_eq!(body["addresses"][0]["deposits"], 4);
    assert_eq!(body["recent"].as_array().unwrap().len(), 4);

    let (status, body, _) = call(
        &s,
        get(&format!("/v1/addresses/{address}/consensus?points=4"), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rates: Vec<f64> = body["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["consensus_rate"].as_f64().unwrap())
        .collect();
    assert_eq!(rates, vec![1.0, 0.5, 2.0 / 3.0, 0.75]);
    let (status, _, _) = call(&s, get("/dashboard", None)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_forgets_its_own_packets_and_an_operator_any() {
    use qis_server::auth::{Role, Tokens};
    const OPS: &str = "token-of-the-operator-0123456789";
    let mut t = Tokens::new();
    t.insert(TOKEN_A, "agent-a").unwrap();
    t.insert(TOKEN_B, "agent-b").unwrap();
    t.insert_as(OPS, "ops", Role::Operator).unwrap();
    let s = state_with(ServerConfig::new(Auth::Tokens(t)));
    let (a1, a2, b1) = (packet("agent-a"), packet("agent-a"), packet("agent-b"));
    for (p, token) in [(&a1, TOKEN_A), (&a2, TOKEN_A), (&b1, TOKEN_B)] {
        let (status, _, _) = call(
            &s,
            post_json(
                "/v1/packets",
                Some(token),
                &json!({"packet": packet_json(p)}),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let delete = |id: String, token: &'static str| {
        axum::http::Request::delete(format!("/v1/packets/{id}"))
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap()
    };
    // B cannot forget A's packet, by id or by naming A: 403, nothing removed.
    let (status, body, _) = call(&s, delete(a1.id().to_string(), TOKEN_B)).await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "agent_mismatch",
        Some("ids[0]"),
    );
    let (status, body, _) = call(
        &s,
        post_json("/v1/forget", Some(TOKEN_B), &json!({"agent": "agent-a"})),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "agent_mismatch",
        Some("agent"),
    );
    let (status, body, _) = call(
        &s,
        post_json(
            "/v1/forget",
            Some(TOKEN_B),
            &json!({"ids": [b1.id(), a1.id()]}),
        ),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "agent_mismatch",
        Some("ids[1]"),
    );
    assert_eq!(stored(&s).await, 3, "nothing was removed");
    // A empty selector, an unknown field: refused by name.
    let (status, body, _) = call(&s, post_json("/v1/forget", Some(TOKEN_A), &json!({}))).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Some("ids"),
    );
    let (status, body, _) = call(
        &s,
        post_json("/v1/forget", Some(TOKEN_A), &json!({"idz": []})),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "decode_error", None);
    let (status, body, _) = call(&s, delete("not-a-uuid".into(), TOKEN_A)).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Some("id"),
    );
    // A forgets its own, once; the replay is refused with `forgotten`.
    let (status, body, _) = call(&s, delete(a1.id().to_string(), TOKEN_A)).await;
    assert_eq!(
        (status, body["removed"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    let (status, body, _) = call(&s, delete(a1.id().to_string(), TOKEN_A)).await;
    assert_eq!(
        (status, body["removed"].as_u64()),
        (StatusCode::OK, Some(0))
    );
    let (status, body, _) = call(
        &s,
        post_json(
            "/v1/packets",
            Some(TOKEN_A),
            &json!({"packet": packet_json(&a1)}),
        ),
    )
    .await;
    assert_error(status, &body, StatusCode::GONE, "forgotten", None);
    assert_eq!(body["details"]["id"], a1.id().to_string());
    // The operator forgets anyone's.
    let (status, body, _) = call(
        &s,
        post_json("/v1/forget", Some(OPS), &json!({"agent": "agent-b"})),
    )
    .await;
    assert_eq!(
        (status, body["removed"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    assert_eq!(stored(&s).await, 1);
    let (_, caps, _) = call(&s, get("/v1/capabilities", Some(TOKEN_A))).await;
    assert_eq!(caps["forget"], true);
}

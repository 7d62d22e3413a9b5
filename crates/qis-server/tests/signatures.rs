//! Signed packets on a node: verified on deposit, stored with their signature, and synthesis
//! that uses only verified packets.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::{TOKEN_A, TOKEN_B, assert_refused, call, post_json, stored};
use qis::conformance::sample_packet;
use qis::packet::{Address, Packet, now_ms};
use qis::router::memory::MemoryRouter;
use qis::router::{Query, Router};
use qis::sign::{AgentKey, KeyRing};
use qis_server::{AppState, ServerConfig};
use serde_json::{Value, json};

struct Keys {
    a: AgentKey,
    b: AgentKey,
    ring: KeyRing,
}

fn keys() -> Keys {
    let (a, b) = (AgentKey::generate().unwrap(), AgentKey::generate().unwrap());
    let mut ring = KeyRing::new();
    ring.insert("agent-a", a.public()).unwrap();
    ring.insert("agent-b", b.public()).unwrap();
    Keys { a, b, ring }
}

fn node(ring: KeyRing, require: bool) -> AppState {
    AppState::new(
        Arc::new(MemoryRouter::new()),
        ServerConfig::new(common::tokens()).signatures(ring, require),
    )
}

fn packet(agent: &str, address: Address) -> Packet {
    sample_packet(agent, "trial", address, now_ms())
}

fn as_json(p: &Packet) -> Value {
    serde_json::from_str(&p.to_json()).unwrap()
}

/// Deposits `body` with `token`: (status, response body).
async fn deposit(state: &AppState, token: &str, body: Value) -> (StatusCode, Value) {
    let (status, body, _) = call(state, post_json("/v1/packets", Some(token), &body)).await;
    (status, body)
}

#[tokio::test]
async fn signed_packets_are_verified_and_stored_with_their_signature() {
    let k = keys();
    let s = node(k.ring.clone(), false);
    let address = qis::conformance::random_address();
    let signed = k.a.sign(packet("agent-a", address));
    let (status, body) = deposit(&s, TOKEN_A, json!({"packet": as_json(&signed)})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let hits = s
        .router()
        .query(&Query::exact(address).limit(10))
        .await
        .unwrap();
    assert_eq!(*hits[0].packet, signed);
    k.ring.verify(&hits[0].packet).unwrap();

    // Unsigned packets are still welcome on a node that does not require signatures.
    let (status, _) = deposit(
        &s,
        TOKEN_B,
        json!({"packet": as_json(&packet("agent-b", address))}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored(&s).await, 2);
}

#[tokio::test]
async fn forged_altered_and_unknown_signatures_store_nothing() {
    let k = keys();
    let s = node(k.ring.clone(), false);
    let address = qis::conformance::random_address();

    // agent-a's token, agent-a's name, agent-b's key: the token is right, the signature is not.
    let forged = k.b.sign(packet("agent-a", address));
    let (status, body) = deposit(&s, TOKEN_A, json!({"packet": as_json(&forged)})).await;
    assert_refused(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "bad_signature",
        "packet.signature",
    );

    // Altered after signing: the confidence changed in transit.
    let signed = as_json(&k.a.sign(packet("agent-a", address)));
    let mut altered = signed.clone();
    altered["confidence"] = json!(0.99);
    let batch = json!({"packets": [{"packet": signed}, {"packet": altered}]});
    let (status, body) = deposit(&s, TOKEN_A, batch).await;
    assert_refused(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "bad_signature",
        "packets[1].packet.signature",
    );

    // A signature that is not even 64 bytes is a decoding error naming the field.
    let mut short = as_json(&packet("agent-a", address));
    short["signature"] = json!("abcd");
    let (status, body) = deposit(&s, TOKEN_A, json!({"packet": short})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("signature"),
        "{body}"
    );

    // An agent the node holds no key for.
    let mut tokens = qis_server::auth::Tokens::new();
    tokens.insert(TOKEN_A, "agent-c").unwrap();
    let s2 = AppState::new(
        Arc::new(MemoryRouter::new()),
        ServerConfig::new(qis_server::auth::Auth::Tokens(tokens)).signatures(k.ring.clone(), false),
    );
    let stranger = AgentKey::generate()
        .unwrap()
        .sign(packet("agent-c", address));
    let (status, body) = deposit(&s2, TOKEN_A, json!({"packet": as_json(&stranger)})).await;
    assert_refused(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "unknown_signer",
        "packet.signature",
    );

    assert_eq!(
        stored(&s).await + stored(&s2).await,
        0,
        "nothing was stored"
    );
}

#[tokio::test]
async fn a_node_requiring_signatures_refuses_unsigned_packets() {
    let k = keys();
    let s = node(k.ring.clone(), true);
    let address = qis::conformance::random_address();
    let (status, body) = deposit(
        &s,
        TOKEN_A,
        json!({"packet": as_json(&packet("agent-a", address))}),
    )
    .await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "signature_missing",
        "packet.signature",
    );
    // A batch large enough to be verified off the async workers, with one unsigned packet last.
    let mut items: Vec<Value> = (0..9)
        .map(|_| json!({"packet": as_json(&k.a.sign(packet("agent-a", address)))}))
        .collect();
    items.push(json!({"packet": as_json(&packet("agent-a", address))}));
    let (status, body) = deposit(&s, TOKEN_A, json!({ "packets": items.clone() })).await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "signature_missing",
        "packets[9].packet.signature",
    );
    assert_eq!(stored(&s).await, 0);
    items.pop();
    let (status, body) = deposit(&s, TOKEN_A, json!({ "packets": items })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(stored(&s).await, 9);
}

#[tokio::test]
async fn synthesis_can_require_verified_packets() {
    let k = keys();
    // A node that holds keys but accepts unsigned packets, so both kinds are stored.
    let s = node(k.ring.clone(), false);
    let address = qis::conformance::random_address();
    let signed = k.b.sign(packet("agent-b", address));
    for (token, p) in [
        (TOKEN_A, packet("agent-a", address)),
        (TOKEN_B, signed.clone()),
    ] {
        let (status, _) = deposit(&s, token, json!({"packet": as_json(&p)})).await;
        assert_eq!(status, StatusCode::OK);
    }
    let synth = |require: bool| json!({"query": {"address": address.to_hex()}, "method": "frequency", "require_signed": require});
    let (status, all, _) = call(&s, post_json("/v1/synth", Some(TOKEN_A), &synth(false))).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["sample_size"], 2, "{all}");
    let (status, verified, _) = call(&s, post_json("/v1/synth", Some(TOKEN_A), &synth(true))).await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["sample_size"], 1, "{verified}");
    assert_eq!(
        verified["used"],
        json!([signed.id().to_string()]),
        "{verified}"
    );

    // A node without keys cannot verify, and says so.
    let open = AppState::new(
        Arc::new(MemoryRouter::new()),
        ServerConfig::new(common::tokens()),
    );
    let (status, body, _) = call(&open, post_json("/v1/synth", Some(TOKEN_A), &synth(true))).await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_supported",
        "require_signed",
    );
}

#[tokio::test]
async fn the_http_router_gets_the_signature_fault_back() {
    let k = keys();
    let running = common::serve(
        Arc::new(MemoryRouter::new()),
        ServerConfig::new(common::tokens()).signatures(k.ring.clone(), true),
    )
    .await;
    let remote = qis::router::http::HttpRouter::connect(&running.url(), Some(TOKEN_A.into()))
        .await
        .unwrap();
    let address = qis::conformance::random_address();
    let unsigned = packet("agent-a", address);
    let err = remote
        .deposit(&[qis::router::Routed::new(unsigned.clone())])
        .await
        .unwrap_err();
    match err {
        qis::Error::Signature { id, agent, fault } => {
            assert_eq!(id, unsigned.id().to_string());
            assert_eq!(agent, "agent-a");
            assert_eq!(fault, qis::sign::SignatureFault::Missing);
        }
        other => panic!("expected a signature error, got {other:?}"),
    }
    let signed = k.a.sign(unsigned);
    let receipts = remote
        .deposit(&[qis::router::Routed::new(signed.clone())])
        .await
        .unwrap();
    assert!(receipts[0].stored);
    let hits = remote.query(&Query::exact(address)).await.unwrap();
    assert_eq!(*hits[0].packet, signed);
}

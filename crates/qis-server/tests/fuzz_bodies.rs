//! Property tests of the deposit and query decoders over HTTP: arbitrary bytes and mutated valid
//! bodies, in JSON and MessagePack, never panic, never answer 5xx, and a refused body stores
//! nothing.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use proptest::prelude::*;
use qis::conformance::{random_address, sample_packet};
use qis::packet::now_ms;
use qis::router::memory::MemoryRouter;
use qis_server::auth::Auth;
use qis_server::wire::{MsgpackDeposit, MsgpackItem};
use qis_server::{AppState, ServerConfig};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Posts `body` and checks the answer: a 4xx with a code, or (for a body that happens to be
/// valid) a 200. Returns the status.
fn post(rt: &tokio::runtime::Runtime, path: &str, content_type: &str, body: Vec<u8>) -> StatusCode {
    let state = AppState::new(Arc::new(MemoryRouter::new()), ServerConfig::new(Auth::Open));
    rt.block_on(async {
        let (status, answer, _) =
            common::call(&state, common::post_bytes(path, None, content_type, body)).await;
        assert!(
            status == StatusCode::OK || status.is_client_error(),
            "{status} {answer}"
        );
        if status.is_client_error() {
            assert!(answer["code"].is_string(), "{answer}");
            assert!(answer["message"].is_string(), "{answer}");
            assert_eq!(
                state.router().stats().await.unwrap().packets,
                0,
                "a refused body stored something"
            );
        }
        status
    })
}

fn valid_json_body() -> Vec<u8> {
    let items: Vec<serde_json::Value> = (0..3)
        .map(|i| {
            let p = sample_packet("a", "d", random_address(), now_ms());
            serde_json::json!({"packet": serde_json::from_str::<serde_json::Value>(&p.to_json()).unwrap(), "vector": [1.0, i as f32]})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "packets": items })).unwrap()
}

fn valid_msgpack_body() -> Vec<u8> {
    let body = MsgpackDeposit {
        packets: Some(
            (0..3)
                .map(|i| MsgpackItem {
                    packet: serde_bytes::ByteBuf::from(
                        sample_packet("a", "d", random_address(), now_ms()).to_msgpack(),
                    ),
                    vector: Some(vec![1.0, i as f32]),
                })
                .collect(),
        ),
        ..MsgpackDeposit::default()
    };
    rmp_serde::to_vec_named(&body).unwrap()
}

/// Flips, overwrites, inserts or truncates bytes of `body` at positions drawn from `edits`.
fn mutate(mut body: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(at, byte, kind) in edits {
        if body.is_empty() {
            break;
        }
        let i = at % body.len();
        match kind % 4 {
            0 => body[i] ^= byte | 1,
            1 => body[i] = byte,
            2 => body.insert(i, byte),
            _ => body.truncate(i),
        }
    }
    body
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_refused_with_a_code(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let rt = runtime();
        for content_type in ["application/json", "application/msgpack"] {
            let status = post(&rt, "/v1/packets", content_type, bytes.clone());
            prop_assert!(status.is_client_error());
            post(&rt, "/v1/query", content_type, bytes.clone());
            post(&rt, "/v1/synth", content_type, bytes.clone());
        }
    }

    #[test]
    fn mutated_json_bodies_never_fail_the_server(edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)) {
        let rt = runtime();
        post(&rt, "/v1/packets", "application/json", mutate(valid_json_body(), &edits));
    }

    #[test]
    fn mutated_msgpack_bodies_never_fail_the_server(edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)) {
        let rt = runtime();
        post(&rt, "/v1/packets", "application/msgpack", mutate(valid_msgpack_body(), &edits));
    }
}

#[test]
fn the_unmutated_bodies_are_accepted() {
    let rt = runtime();
    assert_eq!(
        post(&rt, "/v1/packets", "application/json", valid_json_body()),
        StatusCode::OK
    );
    assert_eq!(
        post(
            &rt,
            "/v1/packets",
            "application/msgpack",
            valid_msgpack_body()
        ),
        StatusCode::OK
    );
}

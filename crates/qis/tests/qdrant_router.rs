//! The Qdrant router against a real Qdrant server: the whole conformance suite.
//!
//! No registry these machines reach carries a Qdrant server, so these tests run only when
//! `QDRANT_URL` names one (`qdrant://127.0.0.1:6334`, the gRPC port); otherwise they print a
//! notice and pass.
#![cfg(feature = "qdrant")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use qis::router::Router;

async fn make() -> Option<Arc<dyn Router>> {
    let Ok(base) = std::env::var("QDRANT_URL") else {
        eprintln!("skipped: QDRANT_URL is not set (no Qdrant server to test against)");
        return None;
    };
    let base = base
        .replacen("http://", "qdrant://", 1)
        .trim_end_matches('/')
        .to_owned();
    // The suite uses 16-dimensional vectors; a replication factor of 1 suits a single node.
    let url = format!("{base}/conformance?dimension=16");
    Some(qis::router::url::open(&url).await.unwrap())
}

qis::conformance_tests!(maybe make());

#[tokio::test]
async fn a_server_that_is_down_is_a_quick_retryable_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let start = Instant::now();
    let err = qis::router::url::open(&format!("qdrant://127.0.0.1:{port}/down?timeout=2s"))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
}

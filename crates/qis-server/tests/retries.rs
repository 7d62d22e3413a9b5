//! The client retries transient failures only, and a retried deposit is stored once.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use qis::conformance::{random_address, sample_packet};
use qis::packet::now_ms;
use qis::router::http::HttpRouter;
use qis::router::layer::Retry;
use qis::router::memory::MemoryRouter;
use qis::router::{Routed, Router};
use qis_server::auth::Auth;
use qis_server::{AppState, ServerConfig};

/// Serves the real app behind a gate that, for the first `fail` deposits, lets the deposit
/// happen and then answers `status` instead (a response lost on the way back).
async fn flaky(fail: usize, status: StatusCode) -> (String, AppState, Arc<AtomicUsize>) {
    flaky_on("/v1/packets", fail, status).await
}

/// [`flaky`] for the requests to `path`.
async fn flaky_on(
    path: &'static str,
    fail: usize,
    status: StatusCode,
) -> (String, AppState, Arc<AtomicUsize>) {
    let state = AppState::new(Arc::new(MemoryRouter::new()), ServerConfig::new(Auth::Open));
    let deposits = Arc::new(AtomicUsize::new(0));
    let counter = deposits.clone();
    let app = qis_server::app(state.clone()).layer(middleware::from_fn(
        move |req: Request, next: Next| {
            let counter = counter.clone();
            async move {
                let is_deposit = req.uri().path() == path;
                let response: Response = next.run(req).await;
                if is_deposit && counter.fetch_add(1, Ordering::SeqCst) < fail {
                    return status.into_response();
                }
                response
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state, deposits)
}

async fn client(url: &str) -> Retry<HttpRouter> {
    HttpRouter::builder(url)
        .retries(3)
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_retried_and_the_packet_is_stored_once() {
    let (url, state, attempts) = flaky(2, StatusCode::SERVICE_UNAVAILABLE).await;
    let router = client(&url).await;
    let p = sample_packet("a", "d", random_address(), now_ms());
    let receipts = router.deposit(&[Routed::new(p.clone())]).await.unwrap();
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "two 503s, then an answer"
    );
    assert_eq!(receipts[0].id, p.id());
    assert!(
        !receipts[0].stored,
        "the first attempt stored it; the retry was a repeat"
    );
    assert_eq!(
        state.router().stats().await.unwrap().packets,
        1,
        "stored once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_and_500s_are_not_retried() {
    for status in [StatusCode::BAD_REQUEST, StatusCode::INTERNAL_SERVER_ERROR] {
        let (url, _, attempts) = flaky(10, status).await;
        let router = client(&url).await;
        let p = sample_packet("a", "d", random_address(), now_ms());
        let err = router.deposit(&[Routed::new(p)]).await.unwrap_err();
        assert_eq!(attempts.load(Ordering::SeqCst), 1, "{status}: one attempt");
        assert!(!err.is_retryable(), "{status}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_give_up_and_say_the_failure_is_transient() {
    let (url, _, attempts) = flaky(100, StatusCode::BAD_GATEWAY).await;
    let router = client(&url).await;
    let p = sample_packet("a", "d", random_address(), now_ms());
    let err = router.deposit(&[Routed::new(p)]).await.unwrap_err();
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        4,
        "one attempt and three retries"
    );
    assert!(err.is_retryable(), "{err}");

    // Nothing listening: connection refused, retried, then a transient error.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let started = std::time::Instant::now();
    let err = HttpRouter::builder(dead)
        .retries(2)
        .backoff(Duration::from_millis(5), Duration::from_millis(10))
        .connect()
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_refused_token_is_a_configuration_error() {
    let node = common::serve(
        Arc::new(MemoryRouter::new()),
        ServerConfig::new(common::tokens()),
    )
    .await;
    let err = HttpRouter::connect(&node.url(), Some("wrong-token-wrong-token".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, qis::Error::Config(_)), "{err:?}");
    let router = HttpRouter::connect(&node.url(), Some(common::TOKEN_A.into()))
        .await
        .unwrap();
    let spoofed = sample_packet("agent-b", "d", random_address(), now_ms());
    let err = router.deposit(&[Routed::new(spoofed)]).await.unwrap_err();
    // The node's 403 `agent_mismatch` comes back as the library's refusal of an act that is
    // not the caller's to do, naming the field.
    assert!(
        matches!(&err, qis::Error::Forbidden { field, .. } if field.ends_with("agent")),
        "{err:?}"
    );
}

/// A read through the Retry layer is retried by the layer alone: one attempt and three retries,
/// not retries of retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_are_retried_by_one_layer_only() {
    let (url, _, attempts) = flaky_on("/v1/stats", 100, StatusCode::SERVICE_UNAVAILABLE).await;
    let router = client(&url).await;
    assert!(router.stats().await.unwrap_err().is_retryable());
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
}

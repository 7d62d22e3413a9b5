//! The node's deposit and query decoding, through the whole app in process (the same
//! `qis_server::app` that `qis serve` runs): the first byte picks the route and the encoding,
//! the rest is the body. Never a panic, never a 5xx, and every answer is the JSON error body or
//! a success.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use qis::router::memory::MemoryRouter;
use qis_server::auth::Auth;
use qis_server::{AppState, ServerConfig};
use tower::ServiceExt as _;

const ROUTES: [(&str, &str); 6] = [
    ("/v1/packets", "application/json"),
    ("/v1/packets", "application/msgpack"),
    ("/v1/query", "application/json"),
    ("/v1/query", "application/msgpack"),
    ("/v1/forget", "application/json"),
    ("/v1/synth", "application/json"),
];

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let node = || {
        qis_server::app(AppState::new(
            Arc::new(MemoryRouter::new()),
            ServerConfig::new(Auth::Open),
        ))
    };
    // A panic ends the process (AFL counts it as a crash): nothing is observed after one.
    let mut held = std::panic::AssertUnwindSafe((runtime, node(), 0u32));
    afl::fuzz!(|data: &[u8]| {
        let (runtime, app, served) = &mut *held;
        let Some((&pick, body)) = data.split_first() else {
            return;
        };
        // A fresh store now and then, so that what the fuzzer stores does not pile up.
        *served += 1;
        if *served % 10_000 == 0 {
            *app = node();
        }
        let (path, content_type) = ROUTES[pick as usize % ROUTES.len()];
        let request = Request::post(path)
            .header("content-type", content_type)
            .body(Body::from(body.to_vec()))
            .expect("a request");
        runtime.block_on(async {
            let response = app.clone().oneshot(request).await.expect("the app answers");
            let status = response.status();
            assert!(status.as_u16() < 500, "{path}: a {status} on a body");
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("the answer's body");
            if !status.is_success() {
                let error: serde_json::Value =
                    serde_json::from_slice(&bytes).expect("the JSON error body");
                assert!(error["code"].is_string(), "{error}");
            }
        });
    });
}

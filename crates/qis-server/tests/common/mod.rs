//! Starting a node on a loopback port for a test, and talking to it in process.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use qis::router::Router;
use qis_server::auth::{Auth, Tokens};
use qis_server::{AppState, ServerConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt;

/// Tokens of the tests: two agents.
pub const TOKEN_A: &str = "token-of-agent-a-0123456789";
pub const TOKEN_B: &str = "token-of-agent-b-0123456789";

pub fn tokens() -> Auth {
    let mut t = Tokens::new();
    t.insert(TOKEN_A, "agent-a").unwrap();
    t.insert(TOKEN_B, "agent-b").unwrap();
    Auth::Tokens(t)
}

/// A node serving on 127.0.0.1 on a port the system chose; dropping it shuts it down.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    pub task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Signals shutdown and waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn serve(router: Arc<dyn Router>, config: ServerConfig) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(router, config);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(qis_server::run(listener, state.clone(), async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        state,
        stop: Some(tx),
        task: Some(task),
    }
}

/// One request to the app in process: (status, body as JSON or null).
pub async fn call(
    state: &AppState,
    request: Request<Body>,
) -> (StatusCode, serde_json::Value, axum::http::HeaderMap) {
    let response = qis_server::app(state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, json, headers)
}

pub fn post_json(path: &str, token: Option<&str>, body: &serde_json::Value) -> Request<Body> {
    post_bytes(
        path,
        token,
        "application/json",
        serde_json::to_vec(body).unwrap(),
    )
}

pub fn post_bytes(
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> Request<Body> {
    let mut b = Request::post(path).header("content-type", content_type);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Body::from(body)).unwrap()
}

pub fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Body::empty()).unwrap()
}

/// A valid packet of `agent` at a fresh address.
pub fn packet(agent: &str) -> qis::packet::Packet {
    qis::conformance::sample_packet(
        agent,
        "trial",
        qis::conformance::random_address(),
        qis::packet::now_ms(),
    )
}

/// A packet as the JSON a client sends.
pub fn packet_json(p: &qis::packet::Packet) -> serde_json::Value {
    serde_json::from_str(&p.to_json()).unwrap()
}

/// How many packets the node's default network holds.
pub async fn stored(state: &AppState) -> u64 {
    state.router().stats().await.unwrap().packets
}

/// The answer is the refusal `code` with `want`, naming `field`.
pub fn assert_refused(
    status: StatusCode,
    body: &serde_json::Value,
    want: StatusCode,
    code: &str,
    field: &str,
) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["field"], field, "{body}");
}

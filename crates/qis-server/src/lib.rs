//! # qis-server — a qis node over HTTP, and the router that talks to one
//!
//! A node exposes any [`Router`](qis::router::Router) over HTTP: deposits (JSON or MessagePack,
//! one packet or a batch), queries (exact, nearest vectors, or text with every filter),
//! synthesis, stats, live event streams, Prometheus metrics, an OpenAPI document and a small
//! dashboard. Bearer tokens bind each caller to an agent id. The library's
//! [`HttpRouter`](qis::router::http::HttpRouter) (feature `http` of `qis`) is a `Router` that
//! talks to a node, so a remote node is just another router.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use qis::router::memory::MemoryRouter;
//! use qis_server::auth::{Auth, Tokens};
//! use qis_server::{AppState, ServerConfig};
//!
//! let mut tokens = Tokens::new();
//! tokens.insert("a-secret-token-for-site-01", "site_01").expect("a valid token");
//! let state = AppState::new(Arc::new(MemoryRouter::new()), ServerConfig::new(Auth::Tokens(tokens)));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! qis_server::run(listener, state, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
//!
//! # Layout
//! - [`server`] — the state ([`AppState`]: the router behind the library's layers — metered, and
//!   for deposits verified against the node's key ring and watched for the dashboard — and the
//!   [`ServerConfig`]),
//!   [`app`] (the axum app, a function of the state: tests call it in process) and [`run`]
//!   (serves it on a socket until a shutdown signal; graceful).
//! - `api` — the routes, one module per concern: packets (deposit, query), synthesis, node
//!   (health, stats, capabilities, purge, metrics), events (SSE), dashboard, OpenAPI.
//! - [`wire`] — request and response bodies: the library's [`qis::wire`], and the node's own
//!   (health, dashboard).
//! - [`payload`] — JSON or MessagePack bodies within the body limit.
//! - [`error`] — [`ApiError`](error::ApiError): a status and a stable machine-readable code for
//!   every failure, mapped from [`qis::Error`] in one place.
//! - [`auth`] — bearer tokens bound to agent ids.
//! - [`config`] — body, batch, time and rate [`Limits`](config::Limits).
//! - [`metrics`] — the Prometheus registry.

#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

mod activity;
mod api;
pub mod auth;
pub mod config;
mod conn;
pub mod error;
pub mod metrics;
pub mod network;
pub mod payload;
mod quota;
pub mod server;
pub mod wire;

pub use network::{DEFAULT_NETWORK, NetworkSpec};
pub use server::{AppState, ServerConfig, app, run};

/// The OpenAPI 3 document the node serves at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api::openapi::document_value()
}

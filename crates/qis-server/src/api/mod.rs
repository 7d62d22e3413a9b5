//! The HTTP routes, one module per concern. Every `/v1` route needs a caller (a token, or an open
//! node); `/healthz`, `/metrics`, `/openapi.json` and the dashboard page do not.

use axum::Router as Routes;
use axum::routing::{get, post};

use crate::server::AppState;

pub(crate) mod dashboard;
pub(crate) mod events;
pub(crate) mod node;
pub(crate) mod openapi;
pub(crate) mod packets;
pub(crate) mod synth;

/// Every route template, for metrics (requests to anything else count as "other").
pub(crate) const ROUTES: &[&str] = &[
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
    "/openapi.json",
    "/",
    "/dashboard",
];

/// The authenticated routes.
pub(crate) fn v1_routes() -> Routes<AppState> {
    Routes::new()
        .route("/v1/packets", post(packets::deposit))
        .route("/v1/query", post(packets::query))
        .route("/v1/addresses/{address}/packets", get(packets::exact))
        .route("/v1/addresses/{address}/events", get(events::subscribe))
        .route(
            "/v1/addresses/{address}/consensus",
            get(dashboard::consensus),
        )
        .route("/v1/synth", post(synth::synth))
        .route("/v1/stats", get(node::stats))
        .route("/v1/capabilities", get(node::capabilities))
        .route("/v1/purge", post(node::purge))
        .route("/v1/dashboard", get(dashboard::summary))
}

/// Parses an address from a path segment.
pub(crate) fn path_address(hex: &str) -> Result<qis::packet::Address, crate::error::ApiError> {
    qis::packet::Address::from_hex(hex).map_err(crate::error::ApiError::from)
}

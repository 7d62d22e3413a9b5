//! What the node says about itself: health, stats, capabilities, metrics; and purge.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::server::AppState;
use crate::wire::{CapabilitiesResponse, Health, PurgeResponse, StatsResponse};

/// Liveness: answers while the server runs.
#[utoipa::path(get, path = "/healthz", tag = "node",
    responses((status = 200, description = "The node is up", body = Health)))]
pub(crate) async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        uptime_secs: state.shared().started.elapsed().as_secs(),
    })
}

pub(crate) async fn router_stats(state: &AppState) -> Result<StatsResponse, ApiError> {
    let stats = state.router().stats().await?;
    Ok(StatsResponse {
        packets: stats.packets,
        addresses: stats.addresses,
        vectors: stats.vectors,
        expired: stats.expired,
        dimension: stats.dimension,
        router: state.router().capabilities().name.to_owned(),
    })
}

/// What the node's router holds.
#[utoipa::path(get, path = "/v1/stats", tag = "node",
    responses((status = 200, description = "Counts", body = StatsResponse),
              (status = 401, description = "`unauthorized`", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn stats(State(state): State<AppState>) -> Result<Json<StatsResponse>, ApiError> {
    Ok(Json(router_stats(&state).await?))
}

/// What the node can do and accepts.
#[utoipa::path(get, path = "/v1/capabilities", tag = "node",
    responses((status = 200, description = "Capabilities and limits", body = CapabilitiesResponse)),
    security(("bearer" = [])))]
pub(crate) async fn capabilities(State(state): State<AppState>) -> Json<CapabilitiesResponse> {
    let caps = state.router().capabilities();
    let shared = state.shared();
    Json(CapabilitiesResponse {
        router: caps.name.to_owned(),
        vector: caps.vector,
        durable: caps.durable,
        dimension: caps.dimension,
        embedder: shared.config.embedder.as_ref().map(|e| e.name().to_owned()),
        max_batch: shared.config.limits.max_batch,
        max_body_bytes: shared.config.limits.max_body_bytes,
        auth: match shared.config.auth {
            Auth::Tokens(_) => "tokens",
            Auth::Open => "open",
        }
        .to_owned(),
        forget: caps.forget,
        addresses: caps.addresses,
    })
}

/// Removes expired packets now.
#[utoipa::path(post, path = "/v1/purge", tag = "node",
    responses((status = 200, description = "How many were removed", body = PurgeResponse)),
    security(("bearer" = [])))]
pub(crate) async fn purge(State(state): State<AppState>) -> Result<Json<PurgeResponse>, ApiError> {
    let removed = state.router().purge_expired().await?;
    Ok(Json(PurgeResponse { removed }))
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "node",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let mut gauges = Vec::new();
    if let Ok(s) = state.router().stats().await {
        gauges.push((
            "qis_router_packets",
            "Packets the router holds.",
            s.packets as f64,
        ));
        gauges.push((
            "qis_router_addresses",
            "Distinct addresses the router holds.",
            s.addresses as f64,
        ));
        gauges.push((
            "qis_router_vectors",
            "Packets with a vector.",
            s.vectors as f64,
        ));
        gauges.push((
            "qis_router_expired",
            "Expired packets awaiting the purge.",
            s.expired as f64,
        ));
    }
    gauges.push((
        "qis_uptime_seconds",
        "Seconds since the server started.",
        state.shared().started.elapsed().as_secs_f64(),
    ));
    let meter = state.shared().metered.meter();
    let text = state.shared().metrics.render(&meter, &gauges);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

//! What the node says about itself: health, stats, capabilities, metrics; and purge.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::metrics::NetworkGauges;
use crate::network::{Net, Network};
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

pub(crate) async fn router_stats(net: &Network) -> Result<StatsResponse, ApiError> {
    let stats = net.router.stats().await?;
    Ok(StatsResponse {
        packets: stats.packets,
        addresses: stats.addresses,
        vectors: stats.vectors,
        expired: stats.expired,
        dimension: stats.dimension,
        router: net.router.capabilities().name.to_owned(),
    })
}

/// What the network's router holds.
#[utoipa::path(get, path = "/v1/stats", tag = "node",
    responses((status = 200, description = "Counts", body = StatsResponse),
              (status = 401, description = "`unauthorized`", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn stats(net: Net) -> Result<Json<StatsResponse>, ApiError> {
    Ok(Json(router_stats(&net).await?))
}

/// What the node can do and accepts.
#[utoipa::path(get, path = "/v1/capabilities", tag = "node",
    responses((status = 200, description = "Capabilities and limits", body = CapabilitiesResponse)),
    security(("bearer" = [])))]
pub(crate) async fn capabilities(
    State(state): State<AppState>,
    net: Net,
) -> Json<CapabilitiesResponse> {
    let caps = net.router.capabilities();
    let shared = state.shared();
    Json(CapabilitiesResponse {
        network: net.name.clone(),
        router: caps.name.to_owned(),
        vector: caps.vector,
        durable: caps.durable,
        dimension: caps.dimension,
        embedder: shared.config.embedder.as_ref().map(|e| e.name().to_owned()),
        max_batch: net.max_batch,
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
pub(crate) async fn purge(net: Net) -> Result<Json<PurgeResponse>, ApiError> {
    let removed = net.router.purge_expired().await?;
    Ok(Json(PurgeResponse { removed }))
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "node",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let shared = state.shared();
    let stats = futures::future::join_all(shared.networks.values().map(|n| n.router.stats())).await;
    let networks: Vec<NetworkGauges> = shared
        .networks
        .values()
        .zip(stats)
        .map(|(n, stats)| NetworkGauges {
            network: n.name.clone(),
            meter: n.metered.meter(),
            stats: stats.ok(),
        })
        .collect();
    let text = shared
        .metrics
        .render(&networks, shared.started.elapsed().as_secs_f64());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

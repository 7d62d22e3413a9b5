//! The dashboard: a static page that reads the JSON API, and the two routes it reads.

use axum::Json;
use axum::extract::Query as UrlQuery;
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use qis::packet::Millis;
use qis::router::{Hit, Query};
use qis::synth::{Frequency, Options, Synthesizer};
use serde::Deserialize;

use super::{AddressPath, Segments};
use crate::error::ApiError;
use crate::network::Net;
use crate::wire::{ConsensusPoint, ConsensusResponse, DashboardResponse};

/// The page: plain HTML and JavaScript, no build step, no outside resources.
const PAGE: &str = include_str!("../../assets/dashboard.html");

/// Most addresses and recent deposits shown.
const SHOWN: usize = 20;
/// Most packets of an address the consensus curve reads (the newest).
const CONSENSUS_PACKETS: usize = 2000;

/// The dashboard page.
#[utoipa::path(get, path = "/dashboard", tag = "dashboard",
    responses((status = 200, description = "An HTML page; pass the token as `#token=...`", content_type = "text/html")))]
pub(crate) async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
                ),
            ),
        ],
        PAGE,
    )
        .into_response()
}

/// What the dashboard shows: the router's counts, its most recently active addresses (from
/// the router's own listing; on a router that cannot list, the busiest since the node started)
/// and the latest deposits that arrived through this node.
#[utoipa::path(get, path = "/v1/dashboard", tag = "dashboard",
    responses((status = 200, description = "Counts, addresses, recent deposits", body = DashboardResponse)),
    security(("bearer" = [])))]
pub(crate) async fn summary(net: Net) -> Result<Json<DashboardResponse>, ApiError> {
    let stats = super::node::router_stats(&net).await?;
    let (mut addresses, recent) = net.activity.snapshot(SHOWN);
    if net.router.capabilities().addresses {
        let page = net
            .router
            .addresses(&qis::router::AddressQuery {
                limit: SHOWN,
                ..qis::router::AddressQuery::default()
            })
            .await?;
        addresses = page
            .addresses
            .into_iter()
            .map(|a| crate::wire::AddressActivity {
                address: a.address,
                deposits: a.packets,
                last: a.last,
            })
            .collect();
    }
    Ok(Json(DashboardResponse {
        stats,
        addresses,
        recent,
    }))
}

/// How many points the consensus curve has.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConsensusParams {
    /// Points on the curve, 1 to 100 (default 20).
    points: Option<usize>,
    /// The bearer token, for clients that cannot set headers.
    #[allow(dead_code)]
    access_token: Option<String>,
}

/// The frequency synthesis's consensus rate at an address over time: at each point, over the
/// packets created up to then (the newest 2,000 packets at most).
#[utoipa::path(get, path = "/v1/addresses/{address}/consensus", tag = "dashboard",
    params(("address" = String, Path, description = "Address, hex"), ConsensusParams),
    responses((status = 200, description = "Points, oldest first", body = ConsensusResponse),
              (status = 422, description = "`invalid_field`", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn consensus(
    net: Net,
    Segments(AddressPath { address }): Segments<AddressPath>,
    params: Result<UrlQuery<ConsensusParams>, QueryRejection>,
) -> Result<Json<ConsensusResponse>, ApiError> {
    let address = super::path_address(&address)?;
    let params = super::packets::query_string(params)?;
    let n = params.points.unwrap_or(20);
    if !(1..=100).contains(&n) {
        return Err(ApiError::invalid(
            "points",
            format!("must be 1 to 100, got {n}"),
        ));
    }
    let mut hits = net
        .router
        .query(&Query::exact(address).limit(CONSENSUS_PACKETS))
        .await?;
    hits.to_mut()
        .sort_by_key(|h| (h.packet.created(), h.packet.id()));
    Ok(Json(ConsensusResponse {
        address,
        points: curve(&hits, n),
    }))
}

/// `n` evenly spaced points from the first packet's time to the last's (oldest first `hits`).
fn curve(hits: &[Hit], n: usize) -> Vec<ConsensusPoint> {
    let (Some(first), Some(last)) = (hits.first(), hits.last()) else {
        return Vec::new();
    };
    let (t0, t1) = (first.packet.created(), last.packet.created());
    let synth = Frequency(Options::default());
    let mut points = Vec::with_capacity(n);
    for i in 1..=n {
        let at: Millis = if n == 1 {
            t1
        } else {
            t0 + (t1 - t0) * (i as u64 - 1) / (n as u64 - 1)
        };
        let upto = hits.partition_point(|h| h.packet.created() <= at);
        let insight = synth.synthesize_at(&hits[..upto], at);
        points.push(ConsensusPoint {
            at,
            packets: upto,
            consensus_rate: insight.consensus_rate,
        });
    }
    points
}

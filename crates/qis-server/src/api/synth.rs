//! Synthesis on the node: a query, then a synthesis of its hits.

use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use qis::synth::{Method, Options};

use crate::error::{ApiError, Code};
use crate::network::Net;
use crate::payload::{Format, Payload, respond};
use crate::server::AppState;
use crate::wire::SynthRequest;

/// Query, then synthesize the hits (frequency, weighted or Bayesian).
#[utoipa::path(
    post,
    path = "/v1/synth",
    tag = "synthesis",
    request_body(content((SynthRequest = "application/json"), (SynthRequest = "application/msgpack"))),
    responses(
        (status = 200, description = "The insight", body = crate::wire::InsightDoc),
        (status = 400, description = "`decode_error`", body = crate::error::ErrorBody),
        (status = 422, description = "`invalid_field`, `dimension_mismatch`, `not_supported`", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn synth(
    State(state): State<AppState>,
    net: Net,
    headers: HeaderMap,
    payload: Payload,
) -> Result<Response, ApiError> {
    let req: SynthRequest = payload.off_worker(|p| p.decode()).await?;
    // Refuse what cannot be done before running the query.
    let router = match (req.require_signed, &net.verified) {
        (false, _) => &net.router,
        (true, Some(verified)) => verified,
        (true, None) => {
            return Err(ApiError::new(
                Code::NotSupported,
                "this node holds no agents' keys, so it cannot verify signatures (start it with --agent-keys)",
            )
            .field("require_signed"));
        }
    };
    // A synthesis is a consultation: capped per agent unless the query says otherwise.
    let query = super::packets::build_query(&state, req.query)
        .await
        .map_err(|e| e.under("query"))?
        .for_consultation();
    let hits = router.query(&query).await?;
    let mut options = Options::default();
    if let Some(per_agent) = req.per_agent {
        options.per_agent = per_agent;
    }
    if let Some(secs) = req.half_life_secs {
        if secs == 0 {
            return Err(ApiError::invalid(
                "half_life_secs",
                "must be at least 1 second (leave it out for the default)",
            ));
        }
        options.half_life = Some(Duration::from_secs(secs));
    }
    let method = req.method.unwrap_or(Method::Weighted);
    let insight = method.synthesizer(options).synthesize(&hits);
    Ok(respond(Format::of_accept(&headers), &insight))
}

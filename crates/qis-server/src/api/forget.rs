//! Forgetting: a token forgets its own agent's packets; an operator token any agent's, in the
//! token's network.

use axum::Json;
use axum::extract::Extension;
use qis::packet::PacketId;
use qis::router::Forget;

use super::{IdPath, Segments};
use crate::auth::Caller;
use crate::error::{ApiError, Code};
use crate::network::{Net, Network};
use crate::payload::Payload;
use crate::wire::ForgetResponse;

/// Forget packets by ids, agent or address (of one agent). A token may forget only its own
/// agent's packets (naming another agent is 403, and so is an id of another agent's packet);
/// an operator token may forget any. Each packet removed leaves a tombstone that refuses its
/// replay (`forgotten`, 410) until it would have expired.
#[utoipa::path(
    post,
    path = "/v1/forget",
    tag = "packets",
    request_body(content = qis::router::Forget, description = "`{\"ids\": [...]}`, `{\"agent\": \"…\"}`, `{\"address\": \"hex\"}`, or `address` with `agent`"),
    responses(
        (status = 200, description = "How many packets were removed", body = ForgetResponse),
        (status = 400, description = "`decode_error`", body = crate::error::ErrorBody),
        (status = 403, description = "`agent_mismatch`: another agent's packets, without the operator role; nothing was removed", body = crate::error::ErrorBody),
        (status = 422, description = "`invalid_field`: a selector that names nothing; `not_supported`: a router that cannot forget", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn forget(
    net: Net,
    Extension(caller): Extension<Caller>,
    payload: Payload,
) -> Result<Json<ForgetResponse>, ApiError> {
    let what: Forget = payload.off_worker(|p| p.decode()).await?;
    forget_as(&net, &caller, what).await
}

/// Forget one packet (see `POST /v1/forget`).
#[utoipa::path(
    delete,
    path = "/v1/packets/{id}",
    tag = "packets",
    params(("id" = String, Path, description = "The packet's id (a UUID)")),
    responses(
        (status = 200, description = "1 when it was removed, 0 when this node holds no such packet", body = ForgetResponse),
        (status = 403, description = "`agent_mismatch`: another agent's packet, without the operator role; nothing was removed", body = crate::error::ErrorBody),
        (status = 422, description = "`invalid_field`: not a packet id", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn forget_one(
    net: Net,
    Extension(caller): Extension<Caller>,
    Segments(IdPath { id }): Segments<IdPath>,
) -> Result<Json<ForgetResponse>, ApiError> {
    let id: PacketId = id.parse().map_err(ApiError::from)?;
    forget_as(&net, &caller, Forget::ids([id])).await
}

async fn forget_as(
    net: &Network,
    caller: &Caller,
    mut what: Forget,
) -> Result<Json<ForgetResponse>, ApiError> {
    what.validate()?;
    if !caller.operator {
        let agent = caller.agent.clone().unwrap_or_default();
        if let Some(named) = &what.agent
            && *named != agent
        {
            return Err(ApiError::new(
                Code::AgentMismatch,
                format!(
                    "this token forgets only the packets of agent {agent:?}, not {named:?}; an operator token may forget any; nothing was removed"
                ),
            )
            .field("agent"));
        }
        what.agent = Some(agent);
        what.strict = true;
    }
    let removed = net.depositor.forget(&what).await?;
    Ok(Json(ForgetResponse { removed }))
}

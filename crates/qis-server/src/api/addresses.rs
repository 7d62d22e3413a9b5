//! Browsing the addresses the node's router holds.

use axum::Json;
use axum::extract::Query as UrlQuery;
use axum::extract::rejection::QueryRejection;
use qis::router::{AddressPage, AddressQuery, DEFAULT_ADDRESS_PAGE};
use serde::Deserialize;

use crate::error::ApiError;
use crate::network::Net;

/// The query string of `GET /v1/addresses`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AddressParams {
    /// At most this many (1 to 1000, default 50).
    limit: Option<usize>,
    /// Continue after a page's `next`.
    cursor: Option<String>,
    /// Only addresses whose newest packet is in this domain.
    domain: Option<String>,
    /// The bearer token, for clients that cannot set headers.
    #[allow(dead_code)]
    access_token: Option<String>,
}

/// The addresses the router holds, most recently active first, with their live packet counts,
/// newest activity and domain; paged with `next` (`not_supported` on a router that cannot list).
#[utoipa::path(
    get,
    path = "/v1/addresses",
    tag = "packets",
    params(AddressParams),
    responses(
        (status = 200, description = "A page of addresses", body = AddressPage),
        (status = 400, description = "`decode_error`", body = crate::error::ErrorBody),
        (status = 422, description = "`invalid_field` (`limit`, `cursor`), `not_supported`", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    net: Net,
    params: Result<UrlQuery<AddressParams>, QueryRejection>,
) -> Result<Json<AddressPage>, ApiError> {
    let p = super::packets::query_string(params)?;
    let query = AddressQuery {
        limit: p.limit.unwrap_or(DEFAULT_ADDRESS_PAGE),
        cursor: p.cursor,
        domain: p.domain,
    };
    Ok(Json(net.router.addresses(&query).await?))
}

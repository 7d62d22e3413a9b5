//! Deposits and queries.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query as UrlQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use qis::packet::{Outcome, Packet};
use qis::router::{DEFAULT_LIMIT, Filter, Hit, Query, Routed, Target, unit_vector};
use serde::Deserialize;

use super::{AddressPath, Segments};
use crate::auth::Caller;
use crate::error::{ApiError, Code, Details};
use crate::network::Net;
use crate::payload::{Format, Payload, respond};
use crate::server::AppState;
use crate::wire::{
    Deposit, DepositResponse, HitOut, HitsOut, JsonDeposit, MsgpackDeposit, QueryRequest,
};

/// One packet of a deposit, decoded, with the path its errors are named under.
struct Item {
    /// `""` for a single deposit, `packets[i]` in a batch.
    path: String,
    packet: Packet,
    vector: Option<Vec<f32>>,
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// Decodes the envelope and every packet in it; checks the batch size.
fn decode_items(payload: &Payload, max_batch: usize) -> Result<Vec<Item>, ApiError> {
    match payload.format {
        Format::Json => items_of(payload.decode::<JsonDeposit>()?, max_batch, |p| {
            Packet::from_json(p.get())
        }),
        Format::Msgpack => items_of(payload.decode::<MsgpackDeposit>()?, max_batch, |p| {
            Packet::from_msgpack(p)
        }),
    }
}

/// The packets of an envelope (one `packet`, or a batch of `packets`), each decoded by `decode`,
/// with the path its errors are named under.
fn items_of<P>(
    env: Deposit<P>,
    max_batch: usize,
    decode: impl Fn(&P) -> qis::Result<Packet>,
) -> Result<Vec<Item>, ApiError> {
    envelope_shape(
        env.packet.is_some(),
        env.vector.is_some(),
        env.packets.as_ref().map(Vec::len),
        max_batch,
    )?;
    let one = env.packet.map(|p| (String::new(), p, env.vector));
    let many = env
        .packets
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, item)| (format!("packets[{i}]"), item.packet, item.vector));
    one.into_iter()
        .chain(many)
        .map(|(path, p, vector)| {
            let packet =
                decode(&p).map_err(|e| ApiError::from_qis_under(e, &join(&path, "packet")))?;
            Ok(Item {
                path,
                packet,
                vector,
            })
        })
        .collect()
}

/// Checks the envelope holds one packet or a batch of 1 to `max_batch`.
fn envelope_shape(
    packet: bool,
    vector: bool,
    batch: Option<usize>,
    max_batch: usize,
) -> Result<(), ApiError> {
    match (packet, batch) {
        (true, Some(_)) => Err(ApiError::invalid(
            "packets",
            "give `packet` (one) or `packets` (a batch), not both",
        )),
        (false, None) => Err(ApiError::invalid(
            "packet",
            "give `packet` (one) or `packets` (a batch)",
        )),
        (true, None) => Ok(()),
        (false, Some(n)) => {
            if vector {
                return Err(ApiError::invalid(
                    "vector",
                    "in a batch, each item of `packets` carries its own `vector`",
                ));
            }
            if n == 0 {
                return Err(ApiError::invalid(
                    "packets",
                    format!("must hold 1 to {max_batch} packets, got none"),
                ));
            }
            if n > max_batch {
                return Err(ApiError::new(
                    Code::BatchTooLarge,
                    format!("a deposit holds at most {max_batch} packets on this node, got {n}; split the batch"),
                )
                .field("packets")
                .details(Details {
                    size: Some(n),
                    limit: Some(max_batch),
                    ..Details::default()
                }));
            }
            Ok(())
        }
    }
}

/// Deposit one packet or a batch, all or nothing, idempotently on packet ids.
#[utoipa::path(
    post,
    path = "/v1/packets",
    tag = "packets",
    request_body(content((crate::wire::DepositDoc = "application/json"), (crate::wire::DepositDoc = "application/msgpack")),
        description = "`{\"packet\": {...}, \"vector\": [...]}` or `{\"packets\": [{\"packet\": {...}, \"vector\": [...]}, ...]}`. In MessagePack each `packet` is a binary holding the packet's MessagePack encoding."),
    responses(
        (status = 200, description = "Receipts in request order (JSON, or MessagePack when `Accept` names it)", body = DepositResponse),
        (status = 400, description = "`decode_error`", body = crate::error::ErrorBody),
        (status = 403, description = "`agent_mismatch`: a packet names another agent than the token's; `unknown_signer`, `bad_signature`: a signature the node cannot verify", body = crate::error::ErrorBody),
        (status = 409, description = "`conflict`: an id already deposited with other content", body = crate::error::ErrorBody),
        (status = 413, description = "`body_too_large`", body = crate::error::ErrorBody),
        (status = 422, description = "`invalid_field`, `packet_too_large`, `dimension_mismatch`, `batch_too_large`, `not_supported`, `signature_missing`", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn deposit(
    State(state): State<AppState>,
    net: Net,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    payload: Payload,
) -> Result<Response, ApiError> {
    let max_batch = net.max_batch;
    let items = payload
        .off_worker(move |p| decode_items(p, max_batch))
        .await?;
    // The token binds the agent: check every packet before anything is stored.
    if let Some(agent) = &caller.agent {
        for item in &items {
            if item.packet.agent() != agent {
                return Err(ApiError::new(
                    Code::AgentMismatch,
                    format!(
                        "packet {} names agent {:?}, but this token deposits as {agent:?}; nothing was stored",
                        item.packet.id(),
                        item.packet.agent()
                    ),
                )
                .field(join(&join(&item.path, "packet"), "agent")));
            }
        }
    }
    let mut routed = Vec::with_capacity(items.len());
    let mut paths = Vec::with_capacity(items.len());
    for item in items {
        let packet = Arc::new(item.packet);
        routed.push(match &item.vector {
            None => Routed::new(packet),
            Some(v) => Routed::with_vector(packet, v).map_err(|e| {
                if item.path.is_empty() {
                    ApiError::from(e)
                } else {
                    ApiError::from_qis_under(e, &item.path)
                }
            })?,
        });
        paths.push(item.path);
    }
    let receipts = net.depositor.deposit(&routed).await.map_err(|e| match &e {
        // A signature error names its packet by id: say where it is in the request (the
        // packet of that id which does not verify, should a batch hold the id twice).
        qis::Error::Signature { id, .. } => {
            let ring = state.shared().config.keys.as_deref();
            let path = routed
                .iter()
                .zip(&paths)
                .filter(|(r, _)| r.packet.id().to_string() == *id)
                .find(|(r, _)| ring.is_none_or(|k| k.verify(&r.packet).is_err()))
                .map_or("", |(_, path)| path.as_str());
            ApiError::from(e).under(&join(path, "packet"))
        }
        _ => ApiError::from(e),
    })?;
    let stored = receipts.iter().filter(|r| r.stored).count();
    Ok(respond(
        Format::of_accept(&headers),
        &DepositResponse { receipts, stored },
    ))
}

/// The filter fields a library error may name, which live under `filter` in a request.
const FILTER_FIELDS: [&str; 6] = [
    "domain",
    "tags_any",
    "min_confidence",
    "outcomes",
    "since",
    "exclude_agents",
];

/// Turns a query request into a checked [`Query`] (embedding `text` on the node).
pub(crate) async fn build_query(state: &AppState, req: QueryRequest) -> Result<Query, ApiError> {
    let given = [
        req.address.is_some(),
        req.vector.is_some(),
        req.text.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ApiError::invalid(
            "address",
            "give exactly one of `address`, `vector` or `text`",
        ));
    }
    let target = if let Some(address) = req.address {
        Target::Address(address)
    } else if let Some(v) = &req.vector {
        Target::Vector(unit_vector("vector", v)?)
    } else {
        let text = req.text.unwrap_or_default();
        let Some(embedder) = state.shared().config.embedder.clone() else {
            return Err(ApiError::new(
                Code::NotSupported,
                "this node has no embedder: query by `vector` or `address`",
            )
            .field("text"));
        };
        Target::Vector(qis::embed::embed_query(embedder, &text).await?)
    };
    let query = Query {
        target,
        filter: req.filter,
        limit: req.limit.unwrap_or(DEFAULT_LIMIT),
        min_score: req.min_score,
        max_per_agent: req.max_per_agent,
    };
    query.validate().map_err(|e| match e {
        qis::Error::Invalid { ref field, .. }
            if FILTER_FIELDS.contains(&field.split('[').next().unwrap_or_default()) =>
        {
            ApiError::from(e).under("filter")
        }
        other => ApiError::from(other),
    })?;
    Ok(query)
}

pub(crate) fn hits_response(format: Format, hits: &[Hit]) -> Response {
    respond(
        format,
        &HitsOut {
            hits: hits
                .iter()
                .map(|h| HitOut {
                    score: h.score,
                    packet: &h.packet,
                })
                .collect(),
        },
    )
}

/// Query by address, vector or text, with filters.
#[utoipa::path(
    post,
    path = "/v1/query",
    tag = "packets",
    request_body(content((QueryRequest = "application/json"), (QueryRequest = "application/msgpack"))),
    responses(
        (status = 200, description = "Hits: newest first (address) or best score first (vector, text)", body = crate::wire::QueryResponse),
        (status = 400, description = "`decode_error`", body = crate::error::ErrorBody),
        (status = 422, description = "`invalid_field`, `dimension_mismatch`, `not_supported`", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn query(
    State(state): State<AppState>,
    net: Net,
    headers: HeaderMap,
    payload: Payload,
) -> Result<Response, ApiError> {
    let req: QueryRequest = payload.off_worker(|p| p.decode()).await?;
    let query = build_query(&state, req).await?;
    let hits = net.router.query(&query).await?;
    Ok(hits_response(Format::of_accept(&headers), &hits))
}

/// Filters of `GET /v1/addresses/{address}/packets`; lists are comma-separated.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExactParams {
    /// At most this many packets, newest first (default 50).
    limit: Option<usize>,
    /// At most this many packets from one agent, its newest.
    max_per_agent: Option<usize>,
    /// Only this domain.
    domain: Option<String>,
    /// Only packets with one of these tags (comma-separated).
    tags_any: Option<String>,
    /// Only packets at least this confident.
    min_confidence: Option<f32>,
    /// Only these outcomes (comma-separated).
    outcomes: Option<String>,
    /// Only packets created at or after this time (ms since the epoch).
    since: Option<u64>,
    /// Never packets from these agents (comma-separated).
    exclude_agents: Option<String>,
    /// The bearer token, for clients that cannot set headers.
    #[allow(dead_code)]
    access_token: Option<String>,
}

fn list(text: Option<String>) -> Vec<String> {
    text.map(|t| {
        t.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// Maps a query-string rejection to a decode error.
pub(crate) fn query_string<T>(params: Result<UrlQuery<T>, QueryRejection>) -> Result<T, ApiError> {
    params
        .map(|UrlQuery(p)| p)
        .map_err(|e| ApiError::decode("query string", e.body_text()))
}

/// Every packet at an address, newest first (a cheap `GET` form of `/v1/query`).
#[utoipa::path(
    get,
    path = "/v1/addresses/{address}/packets",
    tag = "packets",
    params(("address" = String, Path, description = "Address, hex"), ExactParams),
    responses(
        (status = 200, description = "Hits, newest first", body = crate::wire::QueryResponse),
        (status = 400, description = "`decode_error`", body = crate::error::ErrorBody),
        (status = 422, description = "`invalid_field`", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn exact(
    State(state): State<AppState>,
    net: Net,
    Segments(AddressPath { address }): Segments<AddressPath>,
    headers: HeaderMap,
    params: Result<UrlQuery<ExactParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let address = super::path_address(&address)?;
    let p = query_string(params)?;
    let outcomes = list(p.outcomes)
        .iter()
        .map(|o| o.parse::<Outcome>())
        .collect::<qis::Result<Vec<_>>>()
        .map_err(|e| ApiError::from(e.under_as("outcomes")))?;
    let req = QueryRequest {
        address: Some(address),
        filter: Filter {
            domain: p.domain,
            tags_any: list(p.tags_any),
            min_confidence: p.min_confidence,
            outcomes,
            since: p.since,
            exclude_agents: list(p.exclude_agents),
        },
        limit: p.limit,
        max_per_agent: p.max_per_agent,
        ..QueryRequest::default()
    };
    // Named as the query string names them (`tags_any`, not the body's `filter.tags_any`).
    req.filter.validate()?;
    let query = build_query(&state, req).await?;
    let hits = net.router.query(&query).await?;
    Ok(hits_response(Format::of_accept(&headers), &hits))
}

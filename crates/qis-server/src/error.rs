//! The one error type of the HTTP API: a status, a stable machine-readable code, a message that
//! names the field and the rule, and (for some codes) details a client can act on.
//!
//! Every [`qis::Error`] maps to a [`Code`] here, in one place ([`ApiError::from`]), so a client
//! can decide what to do from `code` alone; the [`client`](crate::client) maps codes back to
//! [`qis::Error`] variants. Internals (paths, SQL, panics) never reach a client: a 500 says
//! `internal` and the details go to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use qis::sign::SignatureFault;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The stable error codes. A client matches on these strings; they never change meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Code {
    /// 400: the body is not JSON / MessagePack of the expected shape (syntax, unknown field,
    /// wrong type). `field` is the path where decoding stopped.
    DecodeError,
    /// 422: a field broke one of its rules (`field` names it, `message` says the rule).
    InvalidField,
    /// 422: a packet encodes to more than 512 bytes of MessagePack.
    PacketTooLarge,
    /// 422: a vector whose dimension differs from the router's (`details`: expected, got).
    DimensionMismatch,
    /// 409: a packet id already deposited with different content (`details`: id).
    Conflict,
    /// 422: more packets in one deposit than the server accepts.
    BatchTooLarge,
    /// 422: the router or server cannot do this (no vector search, no embedder for `text`).
    NotSupported,
    /// 413: the request body is larger than the server accepts.
    BodyTooLarge,
    /// 415: a `Content-Type` other than JSON or MessagePack.
    UnsupportedMediaType,
    /// 401: no bearer token, or one the server does not know.
    Unauthorized,
    /// 403: a deposit whose `agent` is not the caller's.
    AgentMismatch,
    /// 422: this node requires signed packets and one has no `signature`.
    SignatureMissing,
    /// 403: a signed packet from an agent whose public key this node does not hold.
    UnknownSigner,
    /// 403: a signature that is not the agent's signature of this packet (forged or altered).
    BadSignature,
    /// 429: the caller's token is over its rate (see `Retry-After`).
    RateLimited,
    /// 404: no such route.
    NotFound,
    /// 405: the route exists, not with this method.
    MethodNotAllowed,
    /// 503: the request took longer than the server's timeout.
    Timeout,
    /// 503: the router is temporarily unavailable; retrying later may succeed.
    Unavailable,
    /// 500: a failure inside the server; details are in its log, not here.
    Internal,
}

impl Code {
    /// The code of a signature fault.
    pub fn of_fault(fault: SignatureFault) -> Code {
        match fault {
            SignatureFault::Missing => Code::SignatureMissing,
            SignatureFault::UnknownSigner => Code::UnknownSigner,
            _ => Code::BadSignature,
        }
    }

    /// The signature fault a code stands for (the inverse of [`Code::of_fault`]).
    pub fn fault(self) -> Option<SignatureFault> {
        match self {
            Code::SignatureMissing => Some(SignatureFault::Missing),
            Code::UnknownSigner => Some(SignatureFault::UnknownSigner),
            Code::BadSignature => Some(SignatureFault::Invalid),
            _ => None,
        }
    }

    /// Every code, for metrics and documentation.
    pub const ALL: [Code; 20] = [
        Code::DecodeError,
        Code::InvalidField,
        Code::PacketTooLarge,
        Code::DimensionMismatch,
        Code::Conflict,
        Code::BatchTooLarge,
        Code::NotSupported,
        Code::BodyTooLarge,
        Code::UnsupportedMediaType,
        Code::Unauthorized,
        Code::AgentMismatch,
        Code::SignatureMissing,
        Code::UnknownSigner,
        Code::BadSignature,
        Code::RateLimited,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::Timeout,
        Code::Unavailable,
        Code::Internal,
    ];

    /// The wire string.
    pub fn as_str(&self) -> &'static str {
        match self {
            Code::DecodeError => "decode_error",
            Code::InvalidField => "invalid_field",
            Code::PacketTooLarge => "packet_too_large",
            Code::DimensionMismatch => "dimension_mismatch",
            Code::Conflict => "conflict",
            Code::BatchTooLarge => "batch_too_large",
            Code::NotSupported => "not_supported",
            Code::BodyTooLarge => "body_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::Unauthorized => "unauthorized",
            Code::AgentMismatch => "agent_mismatch",
            Code::SignatureMissing => "signature_missing",
            Code::UnknownSigner => "unknown_signer",
            Code::BadSignature => "bad_signature",
            Code::RateLimited => "rate_limited",
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::Timeout => "timeout",
            Code::Unavailable => "unavailable",
            Code::Internal => "internal",
        }
    }

    /// The HTTP status that goes with it.
    pub fn status(&self) -> StatusCode {
        match self {
            Code::DecodeError => StatusCode::BAD_REQUEST,
            Code::InvalidField
            | Code::PacketTooLarge
            | Code::DimensionMismatch
            | Code::BatchTooLarge
            | Code::NotSupported
            | Code::SignatureMissing => StatusCode::UNPROCESSABLE_ENTITY,
            Code::Conflict => StatusCode::CONFLICT,
            Code::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::AgentMismatch | Code::UnknownSigner | Code::BadSignature => StatusCode::FORBIDDEN,
            Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::Timeout | Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn index(&self) -> usize {
        Code::ALL.iter().position(|c| c == self).unwrap_or(0)
    }
}

/// Extra facts some codes carry, so that a client can rebuild the library's error.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Details {
    /// `dimension_mismatch`: the router's dimension.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<usize>,
    /// `dimension_mismatch`: the vector's dimension.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub got: Option<usize>,
    /// `conflict`, `signature_missing`, `unknown_signer`, `bad_signature`: the packet id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `signature_missing`, `unknown_signer`, `bad_signature`: the agent the packet names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// `packet_too_large`: the encoded size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
    /// `packet_too_large`, `batch_too_large`, `body_too_large`: the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// `packet_too_large`: the largest fields and their sizes, largest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub largest: Vec<(String, usize)>,
    /// `rate_limited`: seconds to wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl Details {
    fn is_empty(&self) -> bool {
        *self == Details::default()
    }
}

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The stable code (see [`Code`]).
    pub code: Code,
    /// What went wrong, said so that a person can fix it.
    pub message: String,
    /// The field at fault, as a path into the request (`packets[3].packet.confidence`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Facts some codes carry.
    #[serde(default, skip_serializing_if = "Details::is_empty")]
    pub details: Details,
}

/// An error answer of the API.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError(pub Box<ErrorBody>);

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError(Box::new(ErrorBody {
            code,
            message: message.into(),
            field: None,
            details: Details::default(),
        }))
    }

    /// Names the field at fault.
    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.0.field = Some(field.into());
        self
    }

    /// Adds details.
    #[must_use]
    pub fn details(mut self, details: Details) -> Self {
        self.0.details = details;
        self
    }

    /// A decoding error at `path` (the root when empty).
    pub fn decode(path: &str, message: impl Into<String>) -> Self {
        let e = ApiError::new(Code::DecodeError, message);
        if path.is_empty() || path == "." {
            e
        } else {
            e.field(path)
        }
    }

    /// An [`Code::InvalidField`] error.
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        let field = field.into();
        let rule = rule.into();
        ApiError::new(Code::InvalidField, format!("invalid `{field}`: {rule}")).field(field)
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.0.code
    }

    /// Prefixes the field path with `prefix` (`packets[2].packet` + `confidence`), or sets it to
    /// `prefix` when there was none.
    #[must_use]
    pub fn under(mut self, prefix: &str) -> Self {
        self.0.field = Some(match self.0.field.take() {
            Some(f) => format!("{prefix}.{f}"),
            None => prefix.to_owned(),
        });
        self
    }

    /// Maps a library error raised while handling the field at `prefix`.
    pub fn from_qis_under(e: qis::Error, prefix: &str) -> Self {
        let had_field = matches!(e, qis::Error::Invalid { .. } | qis::Error::Decode { .. });
        let mapped = ApiError::from(e);
        if had_field || mapped.code() == Code::PacketTooLarge {
            mapped.under(prefix)
        } else {
            mapped
        }
    }
}

impl From<qis::Error> for ApiError {
    fn from(e: qis::Error) -> Self {
        use qis::Error as E;
        match e {
            E::Invalid { field, rule } => ApiError::invalid(field, rule),
            E::Decode { format, message } => {
                // The library's decode messages start with the path where decoding stopped.
                let (path, _) = message.split_once(": ").unwrap_or(("", ""));
                let path = if path.contains(' ') { "" } else { path };
                ApiError::decode(
                    path,
                    format!("cannot decode the {format} packet: {message}"),
                )
            }
            E::TooLarge {
                size,
                limit,
                ref largest,
            } => ApiError::new(Code::PacketTooLarge, e.to_string()).details(Details {
                size: Some(size),
                limit: Some(limit),
                largest: largest.clone(),
                ..Details::default()
            }),
            E::Dimension { expected, got } => ApiError::new(Code::DimensionMismatch, e.to_string())
                .field("vector")
                .details(Details {
                    expected: Some(expected),
                    got: Some(got),
                    ..Details::default()
                }),
            E::Conflict { ref id } => {
                let id = id.clone();
                ApiError::new(Code::Conflict, e.to_string()).details(Details {
                    id: Some(id),
                    ..Details::default()
                })
            }
            E::NotSupported { .. } => ApiError::new(Code::NotSupported, e.to_string()),
            E::Signature {
                fault,
                ref id,
                ref agent,
            } => {
                let (id, agent) = (id.clone(), agent.clone());
                ApiError::new(Code::of_fault(fault), format!("{e}; nothing was stored"))
                    .field("signature")
                    .details(Details {
                        id: Some(id),
                        agent: Some(agent),
                        ..Details::default()
                    })
            }
            E::Backend {
                retryable: true, ..
            } => {
                tracing::warn!(error = %e, "router unavailable");
                ApiError::new(
                    Code::Unavailable,
                    "the router is temporarily unavailable; retry later",
                )
            }
            other => {
                tracing::error!(error = %other, "internal error");
                ApiError::new(Code::Internal, "internal error; see the server's log")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = &*self.0;
        let status = body.code.status();
        let json = serde_json::to_vec(body).unwrap_or_else(|_| b"{\"code\":\"internal\"}".to_vec());
        let mut response = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json,
        )
            .into_response();
        if let Some(secs) = body.details.retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response.extensions_mut().insert(body.code);
        response
    }
}

/// Counts errors by code, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct ErrorCounts([std::sync::atomic::AtomicU64; Code::ALL.len()]);

impl ErrorCounts {
    pub(crate) fn add(&self, code: Code) {
        self.0[code.index()].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn get(&self, code: Code) -> u64 {
        self.0[code.index()].load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_string_and_round_trips() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<Code>(&json).unwrap(), code);
        }
    }

    #[test]
    fn library_errors_keep_their_field_under_a_prefix() {
        let e = ApiError::from_qis_under(
            qis::Error::invalid("confidence", "must be 0 to 1"),
            "packets[2].packet",
        );
        assert_eq!(e.code(), Code::InvalidField);
        assert_eq!(e.0.field.as_deref(), Some("packets[2].packet.confidence"));
        let d = ApiError::from(qis::Error::Decode {
            format: "JSON",
            message: "result.dose: invalid type: map".into(),
        });
        assert_eq!(d.code(), Code::DecodeError);
        assert_eq!(d.0.field.as_deref(), Some("result.dose"));
    }
}

//! The error body of every refusal, and its stable machine-readable codes.
//!
//! A client decides what to do from `code` alone; [`ErrorBody::into_error`] rebuilds the
//! library's [`Error`] from it, so that a remote router fails as a local one would.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::sign::SignatureFault;

/// The stable error codes. A client matches on these strings; they never change meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// 410: a packet that was forgotten; refused until it would have expired (`details`: id).
    Forgotten,
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
    /// 403: a deposit whose `agent` is not the caller's, or a forget that names another
    /// agent's packets without the operator role.
    AgentMismatch,
    /// 422: this node requires signed packets and one has no `signature`.
    SignatureMissing,
    /// 403: a signed packet from an agent whose public key this node does not hold.
    UnknownSigner,
    /// 403: a signature that is not the agent's signature of this packet (forged or altered).
    BadSignature,
    /// 403: the caller's token belongs to another network than the route names.
    WrongNetwork,
    /// 429: the caller's token, or its network, is over its rate (see `Retry-After`).
    RateLimited,
    /// 404: no such route.
    NotFound,
    /// 404: the route names a network this node does not serve.
    UnknownNetwork,
    /// 405: the route exists, not with this method.
    MethodNotAllowed,
    /// 414: a request target (path and query) longer than the server reads.
    UriTooLong,
    /// 431: more request headers, or more header bytes, than the server reads.
    HeadersTooLarge,
    /// 507: the router's storage is full; nothing more is stored until space is freed.
    StorageFull,
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
    pub const ALL: [Code; 26] = [
        Code::DecodeError,
        Code::InvalidField,
        Code::PacketTooLarge,
        Code::DimensionMismatch,
        Code::Conflict,
        Code::Forgotten,
        Code::BatchTooLarge,
        Code::NotSupported,
        Code::BodyTooLarge,
        Code::UnsupportedMediaType,
        Code::Unauthorized,
        Code::AgentMismatch,
        Code::SignatureMissing,
        Code::UnknownSigner,
        Code::BadSignature,
        Code::WrongNetwork,
        Code::RateLimited,
        Code::NotFound,
        Code::UnknownNetwork,
        Code::MethodNotAllowed,
        Code::UriTooLong,
        Code::HeadersTooLarge,
        Code::StorageFull,
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
            Code::Forgotten => "forgotten",
            Code::BatchTooLarge => "batch_too_large",
            Code::NotSupported => "not_supported",
            Code::BodyTooLarge => "body_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::Unauthorized => "unauthorized",
            Code::AgentMismatch => "agent_mismatch",
            Code::SignatureMissing => "signature_missing",
            Code::UnknownSigner => "unknown_signer",
            Code::BadSignature => "bad_signature",
            Code::WrongNetwork => "wrong_network",
            Code::RateLimited => "rate_limited",
            Code::NotFound => "not_found",
            Code::UnknownNetwork => "unknown_network",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::UriTooLong => "uri_too_long",
            Code::HeadersTooLarge => "headers_too_large",
            Code::StorageFull => "storage_full",
            Code::Timeout => "timeout",
            Code::Unavailable => "unavailable",
            Code::Internal => "internal",
        }
    }

    /// The HTTP status that goes with it.
    pub fn http_status(&self) -> u16 {
        match self {
            Code::DecodeError => 400,
            Code::InvalidField
            | Code::PacketTooLarge
            | Code::DimensionMismatch
            | Code::BatchTooLarge
            | Code::NotSupported
            | Code::SignatureMissing => 422,
            Code::Conflict => 409,
            Code::Forgotten => 410,
            Code::BodyTooLarge => 413,
            Code::UnsupportedMediaType => 415,
            Code::Unauthorized => 401,
            Code::AgentMismatch | Code::UnknownSigner | Code::BadSignature | Code::WrongNetwork => {
                403
            }
            Code::RateLimited => 429,
            Code::NotFound | Code::UnknownNetwork => 404,
            Code::MethodNotAllowed => 405,
            Code::UriTooLong => 414,
            Code::HeadersTooLarge => 431,
            Code::StorageFull => 507,
            Code::Timeout | Code::Unavailable => 503,
            Code::Internal => 500,
        }
    }

    /// Whether a request refused with this code may succeed if sent again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Code::RateLimited | Code::Timeout | Code::Unavailable)
    }

    /// The code's position in [`Code::ALL`].
    pub fn index(&self) -> usize {
        Code::ALL.iter().position(|c| c == self).unwrap_or(0)
    }
}

/// Extra facts some codes carry, so that a client can rebuild the library's error.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// `timeout` on a write (a deposit, a forget, a purge): `unknown`. The write may have been
    /// applied in full; a retry with the same packet ids is safe, since deposits are
    /// idempotent and a forget or a purge again removes nothing more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

impl Details {
    /// No facts at all.
    pub fn is_empty(&self) -> bool {
        *self == Details::default()
    }
}

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

impl ErrorBody {
    /// A refusal with `code` and `message`, no field and no details.
    pub fn new(code: Code, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            code,
            message: message.into(),
            field: None,
            details: Details::default(),
        }
    }

    /// An [`Code::InvalidField`] refusal: `field` breaks `rule`.
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> ErrorBody {
        let (field, rule) = (field.into(), rule.into());
        ErrorBody {
            field: Some(field.clone()),
            ..ErrorBody::new(Code::InvalidField, format!("invalid `{field}`: {rule}"))
        }
    }

    /// The library error this refusal stands for, as raised by the router `router` (`conflict`
    /// becomes [`Error::Conflict`], `dimension_mismatch` [`Error::Dimension`], …); codes with no
    /// library counterpart become an [`Error::Backend`], retryable when the code is transient.
    pub fn into_error(self, router: &'static str) -> Error {
        let field = self.field.clone().unwrap_or_default();
        let rule = self
            .message
            .strip_prefix(&format!("invalid `{field}`: "))
            .unwrap_or(&self.message)
            .to_owned();
        let d = &self.details;
        if let Some(fault) = self.code.fault() {
            return Error::Signature {
                id: d.id.clone().unwrap_or_default(),
                agent: d.agent.clone().unwrap_or_default(),
                fault,
            };
        }
        match self.code {
            Code::InvalidField => Error::Invalid { field, rule },
            Code::AgentMismatch => Error::Forbidden {
                field: if field.is_empty() {
                    "agent".into()
                } else {
                    field
                },
                rule: self.message,
            },
            Code::WrongNetwork => Error::Forbidden {
                field: "network".into(),
                rule: self.message,
            },
            Code::UnknownNetwork => Error::Invalid {
                field: "network".into(),
                rule: self.message,
            },
            Code::BatchTooLarge | Code::BodyTooLarge => Error::Invalid {
                field: if field.is_empty() {
                    "packets".into()
                } else {
                    field
                },
                rule: self.message,
            },
            Code::DecodeError => Error::Decode {
                format: "MessagePack",
                message: self.message,
            },
            Code::PacketTooLarge => Error::TooLarge {
                size: d.size.unwrap_or(0),
                limit: d.limit.unwrap_or(crate::packet::MAX_ENCODED_BYTES),
                largest: d.largest.clone(),
            },
            Code::DimensionMismatch => Error::Dimension {
                expected: d.expected.unwrap_or(0),
                got: d.got.unwrap_or(0),
            },
            Code::Conflict => Error::Conflict {
                id: d.id.clone().unwrap_or_default(),
            },
            Code::Forgotten => Error::Forgotten {
                id: d.id.clone().unwrap_or_default(),
            },
            Code::NotSupported => Error::NotSupported {
                router,
                what: self.message,
            },
            Code::Unauthorized => {
                Error::Config(format!("the node refused the token: {}", self.message))
            }
            Code::StorageFull => Error::StorageFull {
                router,
                message: self.message,
            },
            code => {
                let message = format!(
                    "the node answered {} {}: {}",
                    code.http_status(),
                    code.as_str(),
                    self.message
                );
                if code.is_transient() {
                    Error::unavailable(router, "the request", message)
                } else {
                    Error::refused(router, message)
                }
            }
        }
    }
}

/// Every library error as a refusal, in one place: the node answers with it and the MCP tools
/// report it. A failure inside the engine (a non-retryable backend error, a configuration
/// fault) says `internal` and no more: its details are for the log, not for a caller.
impl From<Error> for ErrorBody {
    fn from(e: Error) -> ErrorBody {
        match e {
            Error::Invalid { field, rule } => ErrorBody::invalid(field, rule),
            Error::Decode { format, message } => {
                // The library's decode messages start with the path where decoding stopped.
                let (path, _) = message.split_once(": ").unwrap_or(("", ""));
                let field = (!path.is_empty() && path != "." && !path.contains(' '))
                    .then(|| path.to_owned());
                ErrorBody {
                    field,
                    ..ErrorBody::new(
                        Code::DecodeError,
                        format!("cannot decode the {format} packet: {message}"),
                    )
                }
            }
            Error::TooLarge {
                size,
                limit,
                ref largest,
            } => ErrorBody {
                details: Details {
                    size: Some(size),
                    limit: Some(limit),
                    largest: largest.clone(),
                    ..Details::default()
                },
                ..ErrorBody::new(Code::PacketTooLarge, e.to_string())
            },
            Error::Dimension { expected, got } => ErrorBody {
                field: Some("vector".into()),
                details: Details {
                    expected: Some(expected),
                    got: Some(got),
                    ..Details::default()
                },
                ..ErrorBody::new(Code::DimensionMismatch, e.to_string())
            },
            Error::Conflict { ref id } => ErrorBody {
                details: Details {
                    id: Some(id.clone()),
                    ..Details::default()
                },
                ..ErrorBody::new(Code::Conflict, e.to_string())
            },
            Error::Forgotten { ref id } => ErrorBody {
                details: Details {
                    id: Some(id.clone()),
                    ..Details::default()
                },
                ..ErrorBody::new(Code::Forgotten, e.to_string())
            },
            Error::Forbidden { field, rule } => ErrorBody {
                field: Some(field.clone()),
                ..ErrorBody::new(
                    if field == "network" {
                        Code::WrongNetwork
                    } else {
                        Code::AgentMismatch
                    },
                    format!("not allowed: `{field}`: {rule}"),
                )
            },
            Error::NotSupported { .. } => ErrorBody::new(Code::NotSupported, e.to_string()),
            Error::Signature {
                fault,
                ref id,
                ref agent,
            } => ErrorBody {
                field: Some("signature".into()),
                details: Details {
                    id: Some(id.clone()),
                    agent: Some(agent.clone()),
                    ..Details::default()
                },
                ..ErrorBody::new(Code::of_fault(fault), format!("{e}; nothing was stored"))
            },
            Error::StorageFull { .. } => ErrorBody::new(
                Code::StorageFull,
                "the node's storage is full: nothing of this request was stored, and nothing more can be until space is freed (forget or purge packets, or give the store more room)",
            ),
            Error::Backend {
                retryable: true, ..
            } => ErrorBody::new(
                Code::Unavailable,
                "the router is temporarily unavailable; retry later",
            ),
            Error::Backend { .. } | Error::Config(_) => {
                ErrorBody::new(Code::Internal, "internal error; see the server's log")
            }
        }
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
            assert_eq!(Code::ALL[code.index()], code);
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<Code>(&json).unwrap(), code);
        }
    }

    #[test]
    fn refusals_become_the_library_errors_they_stand_for() {
        let body = |code, field: Option<&str>, message: &str, details| ErrorBody {
            code,
            message: message.into(),
            field: field.map(str::to_owned),
            details,
        };
        let e = body(
            Code::InvalidField,
            Some("confidence"),
            "invalid `confidence`: must be 0 to 1",
            Details::default(),
        )
        .into_error("http");
        assert!(
            matches!(&e, Error::Invalid { field, rule } if field == "confidence" && rule == "must be 0 to 1"),
            "{e:?}"
        );
        let e = body(
            Code::DimensionMismatch,
            Some("vector"),
            "…",
            Details {
                expected: Some(8),
                got: Some(3),
                ..Details::default()
            },
        )
        .into_error("http");
        assert!(matches!(
            e,
            Error::Dimension {
                expected: 8,
                got: 3
            }
        ));
        // A node's refusal of another network stays that refusal through a client and a relay.
        let e = body(
            Code::WrongNetwork,
            Some("network"),
            "this token belongs to …",
            Details::default(),
        )
        .into_error("http");
        assert!(
            matches!(&e, Error::Forbidden { field, .. } if field == "network"),
            "{e:?}"
        );
        assert_eq!(ErrorBody::from(e).code, Code::WrongNetwork);
        let e = body(Code::UnknownSigner, None, "…", Details::default()).into_error("http");
        assert!(matches!(
            e,
            Error::Signature {
                fault: SignatureFault::UnknownSigner,
                ..
            }
        ));
        assert!(
            body(Code::RateLimited, None, "slow down", Details::default())
                .into_error("http")
                .is_retryable()
        );
        assert!(
            !body(Code::Internal, None, "boom", Details::default())
                .into_error("http")
                .is_retryable()
        );
    }
}

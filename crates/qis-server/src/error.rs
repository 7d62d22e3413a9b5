//! The one error type of the HTTP API: a status, a stable machine-readable code, a message that
//! names the field and the rule, and (for some codes) details a client can act on.
//!
//! Every [`qis::Error`] maps to a [`Code`] here, in one place ([`ApiError::from`]), so a client
//! can decide what to do from `code` alone; the codes and the body are the library's
//! ([`qis::wire`]), which also maps them back to [`qis::Error`] variants for the HTTP router.
//! Internals (paths, SQL, panics) never reach a client: a 500 says `internal` and the details go
//! to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use qis::wire::{Code, Details, ErrorBody};

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
        let status = StatusCode::from_u16(body.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
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

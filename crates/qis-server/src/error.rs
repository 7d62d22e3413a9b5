//! The one error type of the HTTP API: a status, a stable machine-readable code, a message that
//! names the field and the rule, and (for some codes) details a client can act on.
//!
//! Every [`qis::Error`] maps to a [`Code`] in one place (the library's `ErrorBody::from`), so a client
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
        ApiError(Box::new(ErrorBody::new(code, message)))
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

    /// Tells the client to retry in `secs` seconds (`Retry-After`).
    #[must_use]
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.0.details.retry_after_secs = Some(secs);
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
        ApiError(Box::new(ErrorBody::invalid(field, rule)))
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
        match &e {
            qis::Error::Backend {
                retryable: true, ..
            } => tracing::warn!(error = %e, "router unavailable"),
            qis::Error::Backend { .. } | qis::Error::Config(_) => {
                tracing::error!(error = %e, "internal error");
            }
            qis::Error::StorageFull { .. } => {
                tracing::error!(error = %e, "storage is full: deposits are refused until space is freed");
            }
            _ => {}
        }
        ApiError(Box::new(ErrorBody::from(e)))
    }
}

impl ApiError {
    /// The JSON error body.
    pub(crate) fn json(&self) -> Vec<u8> {
        serde_json::to_vec(&*self.0).unwrap_or_else(|_| b"{\"code\":\"internal\"}".to_vec())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let json = self.json();
        let body = &*self.0;
        let status = StatusCode::from_u16(body.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
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

//! Request bodies in, response bodies out: JSON or MessagePack, within the body limit, with every
//! decoding error naming the path where it stopped.

use std::io::Cursor;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Code, Details};
use crate::server::AppState;

/// `application/msgpack`, the MessagePack media type.
pub const MSGPACK: &str = "application/msgpack";
/// `application/json`.
pub const JSON: &str = "application/json";

/// A body encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// JSON.
    Json,
    /// MessagePack.
    Msgpack,
}

impl Format {
    /// The format a `Content-Type` names: JSON when there is none.
    fn of_content_type(headers: &HeaderMap) -> Result<Format, ApiError> {
        let Some(value) = headers.get(header::CONTENT_TYPE) else {
            return Ok(Format::Json);
        };
        let text = value.to_str().unwrap_or("");
        let essence = text.split(';').next().unwrap_or("").trim();
        match essence.to_ascii_lowercase().as_str() {
            "application/json" | "text/json" => Ok(Format::Json),
            "application/msgpack" | "application/x-msgpack" | "application/vnd.msgpack" => {
                Ok(Format::Msgpack)
            }
            _ => Err(ApiError::new(
                Code::UnsupportedMediaType,
                format!(
                    "Content-Type must be {JSON} or {MSGPACK}, got {:?}",
                    text.chars().take(80).collect::<String>()
                ),
            )
            .field("Content-Type")),
        }
    }

    /// The format a response should be in: MessagePack when `Accept` names it, else JSON.
    pub fn of_accept(headers: &HeaderMap) -> Format {
        match headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
            Some(a) if a.contains("msgpack") => Format::Msgpack,
            _ => Format::Json,
        }
    }
}

/// A request body read whole (within the limit) with its format.
#[derive(Debug)]
pub struct Payload {
    /// How it is encoded.
    pub format: Format,
    /// The bytes.
    pub bytes: Bytes,
}

impl FromRequest<AppState> for Payload {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, ApiError> {
        let format = Format::of_content_type(req.headers())?;
        let limit = state.limits().max_body_bytes;
        let too_large = |size: Option<usize>| body_too_large(size, limit);
        if let Some(declared) = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            && declared > limit
        {
            return Err(too_large(Some(declared)));
        }
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|e| {
                let over = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                    || e.to_string().contains("length limit");
                if over {
                    too_large(None)
                } else {
                    ApiError::decode("", format!("cannot read the request body: {e}"))
                }
            })?;
        Ok(Payload { format, bytes })
    }
}

/// Bodies larger than this are decoded on a blocking thread, not an async worker: a body of
/// megabytes takes milliseconds to decode, and the node's other requests (and its deadlines)
/// must not wait for it.
const DECODE_INLINE_BYTES: usize = 64 * 1024;

impl Payload {
    /// Decodes the body as `T`; an error names the path where decoding stopped.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        decode(self.format, &self.bytes)
    }

    /// `work` on this body (decoding it, say): inline for a small body, on a blocking thread
    /// for a large one, so that no async worker (nor the deadlines it keeps) waits for it.
    pub async fn off_worker<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Payload) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        if self.bytes.len() <= DECODE_INLINE_BYTES {
            return work(self);
        }
        let payload = Payload {
            format: self.format,
            bytes: self.bytes.clone(),
        };
        tokio::task::spawn_blocking(move || work(&payload))
            .await
            .map_err(|e| ApiError::new(Code::Internal, format!("reading the body failed: {e}")))?
    }
}

/// Decodes `bytes` in `format` as `T`, refusing trailing bytes.
pub fn decode<T: DeserializeOwned>(format: Format, bytes: &[u8]) -> Result<T, ApiError> {
    match format {
        Format::Json => {
            // Every body is an object: serde would take an array for one, field by field.
            if let Some(&first) = bytes.iter().find(|b| !b.is_ascii_whitespace())
                && first != b'{'
            {
                return Err(ApiError::decode(
                    "",
                    format!(
                        "invalid JSON body: expected an object `{{…}}`, found {}",
                        match first {
                            b'[' => "an array".to_owned(),
                            b'"' => "a string".to_owned(),
                            other => format!("`{}`", char::from(other).escape_default()),
                        }
                    ),
                ));
            }
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                ApiError::decode(
                    &e.path().to_string(),
                    format!("invalid JSON body: {}", e.inner()),
                )
            })?;
            de.end()
                .map_err(|e| ApiError::decode("", format!("invalid JSON body: {e}")))?;
            Ok(value)
        }
        Format::Msgpack => {
            let mut de = rmp_serde::Deserializer::new(Cursor::new(bytes));
            let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                ApiError::decode(
                    &e.path().to_string(),
                    format!("invalid MessagePack body: {}", e.inner()),
                )
            })?;
            let read = de.position() as usize;
            if read != bytes.len() {
                return Err(ApiError::decode(
                    "",
                    format!(
                        "invalid MessagePack body: {} trailing bytes",
                        bytes.len() - read
                    ),
                ));
            }
            Ok(value)
        }
    }
}

/// A `200 OK` response with `value` in `format`.
pub fn respond<T: Serialize>(format: Format, value: &T) -> Response {
    let encoded = match format {
        Format::Json => serde_json::to_vec(value).map_err(|e| e.to_string()),
        Format::Msgpack => rmp_serde::to_vec_named(value).map_err(|e| e.to_string()),
    };
    match encoded {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(match format {
                    Format::Json => JSON,
                    Format::Msgpack => MSGPACK,
                }),
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a response");
            ApiError::new(Code::Internal, "cannot encode the response").into_response()
        }
    }
}

/// 413 `body_too_large`: a body of `size` bytes (unknown: over it while reading) past `limit`.
fn body_too_large(size: Option<usize>, limit: usize) -> ApiError {
    ApiError::new(
        Code::BodyTooLarge,
        match size {
            Some(s) => format!("the body is {s} bytes; this node accepts at most {limit}"),
            None => format!("the body is over the {limit}-byte limit of this node"),
        },
    )
    .details(Details {
        size,
        limit: Some(limit),
        ..Details::default()
    })
}

/// A request body that records whether it was read to its end.
struct Tracked {
    inner: Body,
    read: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl axum::body::HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, std::sync::atomic::Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Answers `Connection: close` when a request's body was left unread (a refusal before the body:
/// 401, 429, 413, an unknown route): the connection cannot carry another request, and a client
/// told so opens a new one instead of sending its next request into a socket being closed.
pub async fn close_unread(req: Request, next: axum::middleware::Next) -> Response {
    use axum::body::HttpBody as _;
    let (parts, body) = req.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let read = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let body = Body::new(Tracked {
        inner: body,
        read: read.clone(),
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if !read.load(std::sync::atomic::Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// `bytes` in whole KiB, rounded up: the unit of the body budget's permits.
pub(crate) fn kib(bytes: usize) -> usize {
    bytes.div_ceil(1024).max(1)
}

/// Holds a request's share of [`Limits::max_body_memory`](crate::config::Limits) while it is
/// served: its `Content-Length`, or the body limit when it has none (chunked). A request that
/// would pass the budget waits up to a second for room, then is answered 503 `unavailable` with
/// `Retry-After`, before a byte of its body is read: bodies being read at once cannot hold more
/// memory than the budget, whatever the number of connections.
pub async fn budget(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::body::HttpBody as _;
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let limit = state.limits().max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    // Past the body limit: refused here, unread, whichever route (the MCP service would read
    // up to the limit before refusing).
    if let Some(declared) = declared.filter(|d| *d > limit) {
        return body_too_large(Some(declared), limit).into_response();
    }
    let need = kib(declared.unwrap_or(limit));
    // One caller holds at most its share of the budget, so that a few slow uploads of one
    // caller cannot hold it all.
    let shares = &state.shared().body_shares;
    let share = match req.extensions().get::<crate::auth::Caller>() {
        Some(caller) => match shares.take(caller.key, need) {
            Some(share) => Some(share),
            None => {
                return ApiError::new(
                    Code::RateLimited,
                    format!(
                        "this caller is already sending {} MiB of request bodies at once, its most; retry when they are done",
                        shares.most() / 1024
                    ),
                )
                .retry_after(1)
                .into_response();
            }
        },
        None => None,
    };
    let bodies = state.shared().bodies.clone();
    let permit = match tokio::time::timeout(
        std::time::Duration::from_secs(1),
        bodies.acquire_many_owned(need as u32),
    )
    .await
    {
        Ok(Ok(permit)) => permit,
        _ => {
            return ApiError::new(
                Code::Unavailable,
                format!(
                    "this node is reading as many request bodies as its {} MiB budget allows; retry in a moment",
                    state.limits().max_body_memory / (1024 * 1024)
                ),
            )
            .retry_after(1)
            .into_response();
        }
    };
    let response = next.run(req).await;
    drop(permit);
    drop(share);
    response
}

//! [`HttpRouter`]: a [`Router`] that talks to a qis node, so a remote node is just another router.
//!
//! - **Keep-alive**: one `reqwest` client with a connection pool; requests reuse connections.
//! - **Compact**: deposits and queries travel as MessagePack (packets in their own ≤ 512-byte
//!   encoding); the node checks every packet again.
//! - **Retries on transient errors only**: a failed connection, a timeout, a connection reset, or
//!   an answer 429, 502, 503 or 504 is retried with exponential backoff and full jitter (honouring
//!   `Retry-After`); any other answer is final. Retrying is safe because every request is
//!   idempotent: deposits on packet ids (a retried deposit whose first attempt was stored answers
//!   `stored: false` and stores nothing twice), the rest are reads or a purge. The router itself
//!   sends each request once and says which failures are worth retrying; the
//!   [`Retry`] layer that [`HttpRouterBuilder::connect`] puts around it retries them.
//! - **Errors map back** from the node's stable codes ([`crate::wire::Code`]) to [`Error`] variants
//!   (`conflict` → [`Error::Conflict`], `dimension_mismatch` → [`Error::Dimension`], …), so
//!   callers handle a remote router as they would a local one.
//!
//! ```no_run
//! # async fn demo() -> qis::Result<()> {
//! use qis::router::{Query, Router};
//! use qis::router::http::HttpRouter;
//!
//! let router = HttpRouter::builder("http://127.0.0.1:7878")
//!     .token(std::env::var("QIS_TOKEN").ok())
//!     .connect()
//!     .await?;
//! let hits = router.query(&Query::exact("1dd96c30c27fe860".parse()?)).await?;
//! # Ok(()) }
//! ```

mod config;
#[cfg(feature = "http")]
mod engine;

pub use config::HttpConfig;
pub(crate) use config::parse_http;
#[cfg(feature = "http")]
pub use engine::*;

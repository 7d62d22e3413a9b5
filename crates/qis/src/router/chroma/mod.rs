//! The Chroma router: a Chroma server over its HTTP API v2 (reqwest; no Python in the router).
//!
//! Open one with [`ChromaRouter::connect`] or a URL (`chroma://host:8000/NETWORK`, see
//! [`ChromaConfig`]). Tested against `chroma run` from the PyPI package `chromadb` 1.5.
//!
//! # Layout of a network
//! Two collections in the configured tenant and database, both created with cosine distance and
//! marked as qis's in their metadata (`qis_schema`, `qis_kind`):
//!
//! - `qis_<NETWORK>` holds **every packet**, under its id, with a one-dimensional placeholder
//!   embedding (Chroma requires one). Exact queries are `get`s on it filtered by address.
//! - `qis_<NETWORK>_vectors` holds the packets that have a vector, with that vector: vector
//!   queries are Chroma `query`s on it (HNSW, so approximate).
//!
//! Each record's document is the packet's MessagePack (base64); its metadata holds the columns
//! filters need — `address`, `domain`, `agent`, `outcome`, `confidence`, `created`, `expires`,
//! one `tag:<name>` flag per tag — and a digest of packet and vector for idempotency. Filters are
//! sent to Chroma as a `where` clause; expired packets are filtered there too (`expires > now`),
//! and [`Router::purge_expired`] deletes them.
//!
//! Writes go to the vector collection first and the packet collection last: a packet is only
//! visible to exact queries (and id checks) once both writes are done, and a retried deposit
//! finishes one that failed half way (writes are upserts). Chroma has no conditional writes: two
//! depositors racing with *different* content under one id cannot both be told of the conflict.

mod config;
#[cfg(feature = "chroma")]
mod engine;

pub use config::ChromaConfig;
pub(crate) use config::parse_chroma;
#[cfg(feature = "chroma")]
pub use engine::*;

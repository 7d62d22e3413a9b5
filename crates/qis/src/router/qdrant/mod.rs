//! The Qdrant router: the seed's production backend, through the official `qdrant-client` (gRPC).
//!
//! Open one with [`QdrantRouter::connect`] or a URL (`qdrant://host:6334/NETWORK?dimension=384`,
//! see [`QdrantConfig`]).
//!
//! # Layout of a network
//! - **One collection per network**, `qis_<NETWORK>`, with one named vector, `problem`, of the
//!   configured dimension and **cosine** distance (a packet without a vector is a point without
//!   it), the configured **replication factor**, **write consistency** factor and shard count, and
//!   collection metadata `qis_schema = 1` that marks it as qis's.
//! - **Payload indexes** on `address`, `domain`, `tags`, `agent`, `outcome` (keywords),
//!   `confidence` (float), `created` and `expires` (integers): every filter runs in Qdrant.
//! - Each point's id is the packet's id (a UUID); its payload holds those columns, the packet's
//!   MessagePack (`body`, base64) and a digest of packet and vector (`digest`) for idempotency.
//! - **Expiry**: every read filters `expires > now` in Qdrant (and again to the millisecond here);
//!   [`Router::purge_expired`] deletes expired points with one filtered delete.
//! - New points are written with `update_mode = insert_only`, so a deposit never overwrites a
//!   packet already there, even when two depositors race with the same id.
//! - `stats` reports the seed's collection stats: `points_count` (packets), `indexed_vectors_count`
//!   (vectors), and the collection status (see [`QdrantRouter::status`]).
//!
//! Tests run against a real server when `QDRANT_URL` is set (`tests/qdrant_router.rs`).

mod config;
#[cfg(feature = "qdrant")]
mod engine;

pub use config::QdrantConfig;
pub(crate) use config::parse_qdrant;
#[cfg(feature = "qdrant")]
pub use engine::*;

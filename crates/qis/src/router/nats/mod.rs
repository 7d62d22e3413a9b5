//! The NATS JetStream router: packets as messages in one stream per network.
//!
//! Open one with [`NatsRouter::connect`] or a URL (`nats://host:4222,host2:4222/NETWORK?replicas=3`,
//! see [`NatsConfig`]). Needs nats-server 2.11 or later with JetStream on (per-message TTLs).
//!
//! # Layout of a network
//! The stream `QIS_<NETWORK>` holds every subject under `qis.<NETWORK>.`:
//!
//! | subject | one message per | holds |
//! |---|---|---|
//! | `…a.<address hex>` | packet | the packet (MessagePack) and its vector: exact queries read this subject |
//! | `…v.<table>.<bucket>` | packet with a vector, per LSH table | the same record: vector queries read a few buckets |
//! | `…id.<packet id>` | packet | a digest of the packet and vector: the claim that makes deposits idempotent |
//! | `…meta` | network | the vector dimension, fixed by the first vector |
//!
//! - **TTL**: each message carries the packet's remaining life as a `Nats-TTL` (JetStream removes it
//!   then), and the stream's `max_age` bounds every packet. Reads also drop expired packets
//!   themselves, to the millisecond; [`Router::purge_expired`] deletes them at once.
//! - **Per-subject cap**: `max_per_subject` messages per address and per bucket; the oldest go first.
//! - **Idempotency**: a deposit first *claims* each new id by publishing its digest to `…id.<id>`
//!   with an expected subject sequence of 0, which JetStream grants to one depositor only; a
//!   second claim with the same digest is a repeat, a different digest a [`Error::Conflict`]. If
//!   any claim of a batch is refused, the claims it made are deleted again and nothing is
//!   written. Then the records are published (each with a `Nats-Msg-Id`, so a retry within the
//!   duplicate window stores nothing twice; readers also drop repeated ids). A repeat publishes its
//!   records again, which completes a deposit whose first attempt failed half way.
//! - **Vectors** (semantic routing on a key-addressed transport): signed random projections map a
//!   vector to one bucket per table (`lsh_bits` hyperplanes each); a query reads its buckets and
//!   their neighbours within `lsh_probe` flipped bits, then ranks the candidates by exact cosine.
//!   Recall is below 1 (the capabilities say `approximate`); `tests/nats_router.rs` measures it.
//! - **Replicas**: `replicas=3` keeps every message on three servers of a cluster: a deposit is
//!   acknowledged once a quorum has it, and queries go on when one server dies.
//! - **Live subscriptions**: [`NatsRouter::subscribe`] streams packets deposited at an address from
//!   now on.

mod config;
#[cfg(feature = "nats")]
mod engine;
#[cfg(feature = "nats")]
mod layout;
#[cfg(feature = "nats")]
mod lsh;
#[cfg(feature = "nats")]
mod read;
#[cfg(feature = "nats")]
mod record;

/// The router's name, in its errors and capabilities.
#[cfg(feature = "nats")]
const ROUTER: &str = "nats";

pub use config::NatsConfig;
pub(crate) use config::parse_nats;
#[cfg(feature = "nats")]
pub use engine::*;

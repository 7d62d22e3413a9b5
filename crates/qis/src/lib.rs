//! # qis — outcome routing
//!
//! Many independent agents learn from each other's outcomes without sharing raw data. An agent
//! distils a local outcome into a small [`Packet`](packet::Packet) (what worked, for what kind of
//! problem, how confident). A [`Fingerprint`](fingerprint::Fingerprint) maps the problem to an
//! [`Address`](packet::Address). Packets are deposited at that address in a
//! [`Router`](router::Router); peers facing the same problem query the address and
//! [synthesize](synth) locally. A [`Node`](node::Node) runs that loop for one agent, including the
//! feedback loop that re-deposits what it synthesized without ever counting an outcome twice.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use qis::fingerprint::{Context, KeysFingerprint};
//! use qis::node::{Node, Observation};
//! use qis::packet::Outcome;
//! use qis::router::memory::MemoryRouter;
//! use qis::synth::{Frequency, Options};
//!
//! let router = Arc::new(MemoryRouter::new());
//! let fingerprint = Arc::new(KeysFingerprint::new());
//! let synth = Arc::new(Frequency(Options::default()));
//! let context: Context = serde_json::from_str(r#"{"condition": "T2D", "intervention_type": "GLP1"}"#)?;
//!
//! for (i, protocol) in ["once_weekly", "once_weekly", "twice_weekly"].iter().enumerate() {
//!     let site = Node::new(format!("site_{i:02}"), fingerprint.clone(), router.clone(), synth.clone())?;
//!     site.deposit("clinical_trial", &context,
//!                  Observation::new(Outcome::Resolved, 0.8).result("protocol", *protocol)).await?;
//! }
//! let newcomer = Node::new("site_99", fingerprint, router, synth)?;
//! let insight = newcomer.consult("clinical_trial", &context).await?;
//! assert_eq!(insight.sample_size, 3);
//! assert_eq!(insight.best.unwrap()["protocol"].to_string(), "\"once_weekly\"");
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```
//!
//! # Layout
//!
//! The ground floor imports nothing of the router:
//! - [`packet`] — the outcome packet, one module per concern (id, address, values, wire form,
//!   size budget, builder, rules); JSON and MessagePack ≤ 512 bytes.
//! - [`sign`] — ed25519 agent keys, signatures and key rings.
//! - [`fingerprint`] — problem → address: the seed-compatible `keys` scheme, the expert `fields`
//!   scheme, keyed (HMAC) variants, and [`FingerprintSpec`](fingerprint::FingerprintSpec).
//! - [`vector`] — unit vectors and cosine similarity, shared by routers and embedders.
//! - [`embed`] — problem text → unit vector: a model-free hashed embedder (and MiniLM behind a
//!   feature), and [`EmbedderSpec`](embed::EmbedderSpec).
//!
//! On it:
//! - [`router`] — the [`Router`](router::Router) trait, queries, capabilities; backends
//!   ([`router::memory`] always; `embedded`, `nats`, `chroma`, `qdrant`, `http` behind features);
//!   [`router::layer`], the wrappers for what cuts across backends (deadline, retry,
//!   verified-only, metered); [`router::url`], the [`RouterSpec`](router::url::RouterSpec) of a
//!   URL.
//! - [`synth`] — frequency, weighted and Bayesian synthesis.
//! - [`node`] — one agent's loop.
//! - [`setup`] — one configuration ([`Settings`](setup::Settings): `qis.toml`, `QIS_*`, flags)
//!   opens the façade [`Qis`](setup::Qis) every surface uses: router, fingerprint, embedder,
//!   synthesis, signing key.
//! - [`wire`] — the qis node's HTTP protocol (bodies, error codes), shared by the node server and
//!   [`router::http`] (feature `http`).
//! - `conformance` (feature `conformance`) — the suite every router passes, and the harness the
//!   engines' tests share.
//! - [`error`] — the one [`Error`] type.

#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

pub mod embed;
pub mod error;
pub mod fingerprint;
pub mod node;
pub mod packet;
pub mod router;
pub mod setup;
pub mod sign;
pub mod synth;
pub mod trust;
pub mod vector;
pub mod wire;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{Error, Result};

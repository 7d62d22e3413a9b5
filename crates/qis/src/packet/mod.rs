//! The outcome packet (wire version 1): one distilled outcome, never raw data.
//!
//! A [`Packet`] can only exist if it satisfies every rule of the wire format: construction
//! ([`PacketBuilder::build`]) and decoding ([`Packet::from_json`], [`Packet::from_msgpack`], and
//! `serde::Deserialize`) all go through [`Packet::validate`]. Unknown fields are refused.
//!
//! ```
//! use qis::packet::{Address, Outcome, Packet};
//!
//! let address = Address::from_hex("1dd96c30c27fe860")?;
//! let packet = Packet::builder("site_07", "clinical_trial", address)
//!     .outcome(Outcome::Resolved)
//!     .confidence(0.87)
//!     .result("hba1c_reduction", 1.19)
//!     .result("protocol", "once_weekly")
//!     .summary("weekly dosing held HbA1c down at 6 months")
//!     .build()?;
//! let bytes = packet.to_msgpack();
//! assert!(bytes.len() <= qis::packet::MAX_ENCODED_BYTES);
//! assert_eq!(Packet::from_msgpack(&bytes)?, packet);
//! # Ok::<(), qis::Error>(())
//! ```

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

mod address;
mod builder;
mod hex_bytes;
mod id;
mod rules;
mod signature;
mod size;
mod value;
mod wire;

pub use address::Address;
pub use builder::PacketBuilder;
pub(crate) use hex_bytes::{HexBytes, deserialize_hex_bytes, serialize_hex_bytes};
pub use id::PacketId;
pub(crate) use signature::SIGNING_CONTEXT;
pub use signature::{SIGNATURE_BYTES, Signature};
pub use value::{Outcome, ResultMap, ResultValue};
use wire::WirePacket;

/// The MessagePack size budget of one packet (without any vector), in bytes.
pub const MAX_ENCODED_BYTES: usize = 512;
/// Bytes a signature adds to the MessagePack encoding (the `signature` key and 64 bytes); they
/// do not count against [`MAX_ENCODED_BYTES`].
pub const SIGNATURE_WIRE_BYTES: usize = 10 + 2 + SIGNATURE_BYTES;
/// Longest `agent` and `domain`, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Most entries in `result`.
pub const MAX_RESULT_ENTRIES: usize = 16;
/// Longest `summary`, in characters.
pub const MAX_SUMMARY_CHARS: usize = 200;
/// Most `tags`.
pub const MAX_TAGS: usize = 8;
/// Longest tag or `result` key, in bytes.
pub const MAX_LABEL_BYTES: usize = 64;
/// Most ids in `derived_from` (each costs 18 bytes of the size budget).
pub const MAX_DERIVED_FROM: usize = 16;
/// Longest address, in bytes (16 for `fields`, 8 for `keys`; 32 fits a whole SHA-256).
pub const MAX_ADDRESS_BYTES: usize = 32;
/// Longest `ttl`: ten years, in seconds.
pub const MAX_TTL_SECS: u64 = 10 * 366 * 24 * 3600;
/// The last millisecond of the year 9999: `created` beyond it is refused.
const MAX_CREATED_MS: u64 = 253_402_300_799_999;

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One distilled outcome: for this kind of problem (its address), this worked, this confident.
///
/// Fields are private: a `Packet` always satisfies the wire rules. Build one with
/// [`Packet::builder`], or decode one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "WirePacket")]
pub struct Packet {
    id: PacketId,
    agent: String,
    domain: String,
    address: Address,
    outcome: Outcome,
    confidence: f32,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    result: ResultMap,
    #[serde(skip_serializing_if = "String::is_empty")]
    summary: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
    created: Millis,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    derived_from: Vec<PacketId>,
    /// The agent's ed25519 signature of everything above (see [`crate::sign`]); last, so that
    /// the unsigned encoding is the signed one without its tail.
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<Signature>,
}

impl Packet {
    /// The id (UUID v7).
    pub fn id(&self) -> PacketId {
        self.id
    }
    /// The depositing agent.
    pub fn agent(&self) -> &str {
        &self.agent
    }
    /// The problem's domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// The address (from the fingerprint).
    pub fn address(&self) -> &Address {
        &self.address
    }
    /// What happened.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }
    /// How confident the agent is, 0–1.
    pub fn confidence(&self) -> f32 {
        self.confidence
    }
    /// What worked.
    pub fn result(&self) -> &ResultMap {
        &self.result
    }
    /// What changed, in at most 200 characters.
    pub fn summary(&self) -> &str {
        &self.summary
    }
    /// Tags for filtering.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }
    /// The problem text, if the agent chose to share it.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }
    /// When it was made, in ms since the epoch.
    pub fn created(&self) -> Millis {
        self.created
    }
    /// Time to live in seconds, if any.
    pub fn ttl(&self) -> Option<u64> {
        self.ttl
    }
    /// The original packets this one was synthesized from (empty for an original outcome).
    pub fn derived_from(&self) -> &[PacketId] {
        &self.derived_from
    }
    /// Whether this packet was made by the feedback loop from other packets.
    pub fn is_derived(&self) -> bool {
        !self.derived_from.is_empty()
    }
    /// When it expires, in ms since the epoch (`None`: never).
    pub fn expires_at(&self) -> Option<Millis> {
        self.ttl
            .map(|t| self.created.saturating_add(t.saturating_mul(1000)))
    }

    /// The agent's signature, if the packet is signed ([`crate::sign`]).
    pub fn signature(&self) -> Option<&Signature> {
        self.signature.as_ref()
    }

    /// The packet carrying `signature` instead of any it had. Nothing checks it here: a
    /// [`KeyRing`](crate::sign::KeyRing) does, with the agent's public key.
    pub fn with_signature(mut self, signature: Signature) -> Packet {
        self.signature = Some(signature);
        self
    }

    /// The packet without its signature.
    pub fn unsigned(mut self) -> Packet {
        self.signature = None;
        self
    }

    /// The bytes an agent signs: a fixed context string, then the MessagePack encoding of the
    /// packet without its signature.
    pub fn signed_message(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SIGNING_CONTEXT.len() + self.encoded_len());
        out.extend_from_slice(SIGNING_CONTEXT);
        // Writing into a Vec cannot fail for this type.
        let _ = if self.signature.is_some() {
            rmp_serde::encode::write_named(&mut out, &self.clone().unsigned())
        } else {
            rmp_serde::encode::write_named(&mut out, self)
        };
        out
    }

    /// Bytes the signature adds to the encoding (0 when unsigned); outside the size budget.
    fn signature_len(&self) -> usize {
        if self.signature.is_some() {
            SIGNATURE_WIRE_BYTES
        } else {
            0
        }
    }

    /// Whether it has expired at `now` (ms): expired packets are never returned by a router.
    pub fn is_expired_at(&self, now: Millis) -> bool {
        self.expires_at().is_some_and(|e| e <= now)
    }
}

//! The wire form: decoding into [`WirePacket`] before the rules are checked, and the JSON and
//! MessagePack encodings.

use std::fmt;
use std::io;

use serde::Deserialize;

use super::Signature;
use super::{Address, Millis, Outcome, Packet, PacketId, ResultMap};
use crate::error::{Error, Result};

/// The packet as decoded, before its rules are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WirePacket {
    id: PacketId,
    agent: String,
    domain: String,
    address: Address,
    outcome: Outcome,
    confidence: f32,
    #[serde(default)]
    result: ResultMap,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    problem: Option<String>,
    created: Millis,
    #[serde(default)]
    ttl: Option<u64>,
    #[serde(default)]
    derived_from: Vec<PacketId>,
    #[serde(default)]
    signature: Option<Signature>,
}

impl WirePacket {
    fn into_packet(self) -> Packet {
        let w = self;
        Packet {
            id: w.id,
            agent: w.agent,
            domain: w.domain,
            address: w.address,
            outcome: w.outcome,
            confidence: w.confidence,
            result: w.result,
            summary: w.summary,
            tags: w.tags,
            problem: w.problem,
            created: w.created,
            ttl: w.ttl,
            derived_from: w.derived_from,
            signature: w.signature,
        }
    }
}

impl TryFrom<WirePacket> for Packet {
    type Error = Error;
    fn try_from(w: WirePacket) -> Result<Self> {
        let packet = w.into_packet();
        packet.validate()?;
        Ok(packet)
    }
}

impl Packet {
    /// Compact MessagePack (a map with field names; the address and ids as bytes).
    pub fn to_msgpack(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        // Encoding a valid packet into a Vec cannot fail.
        let _ = rmp_serde::encode::write_named(&mut out, self);
        out
    }

    /// Decodes MessagePack and checks every rule.
    pub fn from_msgpack(bytes: &[u8]) -> Result<Self> {
        let mut de = rmp_serde::Deserializer::new(io::Cursor::new(bytes));
        let wire: WirePacket = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| decode_error("MessagePack", e))?;
        let read = de.position() as usize;
        if read != bytes.len() {
            return Err(Error::Decode {
                format: "MessagePack",
                message: format!("{} trailing bytes after the packet", bytes.len() - read),
            });
        }
        Packet::try_from(wire)
    }

    /// Decodes MessagePack that this crate wrote ([`Packet::to_msgpack`]), as a store reads its
    /// own records back: every rule is still checked, but errors carry no field path and the size
    /// budget is checked on `bytes` (our encoding is canonical), which makes it several times
    /// faster than [`Packet::from_msgpack`]. Use that one for bytes from elsewhere.
    pub fn from_own_msgpack(bytes: &[u8]) -> Result<Self> {
        let wire: WirePacket = rmp_serde::from_slice(bytes).map_err(|e| Error::Decode {
            format: "MessagePack",
            message: e.to_string(),
        })?;
        let packet = wire.into_packet();
        packet.validate_fields()?;
        packet.check_size(bytes.len().saturating_sub(packet.signature_len()))?;
        Ok(packet)
    }

    /// JSON (the address as hex, ids as hyphenated UUIDs).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decodes JSON and checks every rule.
    pub fn from_json(text: &str) -> Result<Self> {
        let mut de = serde_json::Deserializer::from_str(text);
        let wire: WirePacket =
            serde_path_to_error::deserialize(&mut de).map_err(|e| decode_error("JSON", e))?;
        de.end().map_err(|e| Error::Decode {
            format: "JSON",
            message: e.to_string(),
        })?;
        Packet::try_from(wire)
    }
}

/// A decoding error that names the field it happened in (`result.dose: invalid type …`).
fn decode_error<E: fmt::Display>(format: &'static str, e: serde_path_to_error::Error<E>) -> Error {
    let path = e.path().to_string();
    let message = if path == "." || path.is_empty() {
        e.inner().to_string()
    } else {
        format!("{path}: {}", e.inner())
    };
    Error::Decode { format, message }
}

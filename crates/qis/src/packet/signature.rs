//! The signature a packet may carry: 64 bytes, hex in JSON. Signing and verifying is
//! [`crate::sign`]'s; the value lives here so that the packet needs nothing of the signer.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{HexBytes, deserialize_hex_bytes, serialize_hex_bytes};
use crate::error::{Error, Result};

/// Bytes in a signature.
pub const SIGNATURE_BYTES: usize = 64;

/// What precedes the packet's bytes in a signed message, so that a packet signature can never be
/// mistaken for a signature over anything else the same key signs.
pub(crate) const SIGNING_CONTEXT: &[u8] = b"qis packet v1\n";

/// An ed25519 signature over a packet ([`Packet::signed_message`](super::Packet::signed_message)).
///
/// On the wire: 64 bytes in MessagePack, 128 hex digits in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; SIGNATURE_BYTES]);

impl Signature {
    /// The signature of these 64 bytes.
    pub fn new(bytes: [u8; SIGNATURE_BYTES]) -> Self {
        Signature(bytes)
    }

    /// A signature from its 64 bytes.
    pub fn from_bytes(raw: &[u8]) -> Result<Self> {
        let bytes: [u8; SIGNATURE_BYTES] = raw.try_into().map_err(|_| {
            Error::invalid(
                "signature",
                format!(
                    "an ed25519 signature is {SIGNATURE_BYTES} bytes, got {}",
                    raw.len()
                ),
            )
        })?;
        Ok(Signature(bytes))
    }

    /// A signature from 128 hex digits.
    pub fn from_hex(text: &str) -> Result<Self> {
        let mut bytes = [0u8; SIGNATURE_BYTES];
        hex::decode_to_slice(text, &mut bytes).map_err(|e| {
            Error::invalid(
                "signature",
                format!(
                    "an ed25519 signature is {} hex digits: {e}",
                    2 * SIGNATURE_BYTES
                ),
            )
        })?;
        Ok(Signature(bytes))
    }

    /// The 64 bytes.
    pub fn as_bytes(&self) -> &[u8; SIGNATURE_BYTES] {
        &self.0
    }

    /// 128 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_hex())
    }
}

impl HexBytes for Signature {
    const EXPECTING: &'static str = "an ed25519 signature: 128 hex digits or 64 bytes";
    const MAX_BYTES: usize = SIGNATURE_BYTES;
    fn raw(&self) -> &[u8] {
        &self.0
    }
    fn from_raw(raw: &[u8]) -> Result<Self> {
        Signature::from_bytes(raw)
    }
    fn from_hex_text(text: &str) -> Result<Self> {
        Signature::from_hex(text)
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_hex_bytes(self, s)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        deserialize_hex_bytes(d)
    }
}

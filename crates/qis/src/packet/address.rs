//! The address packets meet at, and its hex-or-bytes serde form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::MAX_ADDRESS_BYTES;
use super::hex_bytes::{HexBytes, deserialize_hex_bytes, serialize_hex_bytes};
use crate::error::{Error, Result};

/// Where packets about one kind of problem meet: 1–32 bytes, shown as lowercase hex.
///
/// It is `Copy` and holds its bytes inline, so routers can key maps by it without allocating.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    len: u8,
    bytes: [u8; MAX_ADDRESS_BYTES],
}

impl Address {
    /// An address from raw bytes (1–32 of them).
    pub fn from_bytes(raw: &[u8]) -> Result<Self> {
        if raw.is_empty() || raw.len() > MAX_ADDRESS_BYTES {
            return Err(Error::invalid(
                "address",
                format!("must be 1 to {MAX_ADDRESS_BYTES} bytes, got {}", raw.len()),
            ));
        }
        let mut bytes = [0u8; MAX_ADDRESS_BYTES];
        bytes[..raw.len()].copy_from_slice(raw);
        Ok(Address {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// An address from its hex form (an even number of hex digits, either case).
    pub fn from_hex(text: &str) -> Result<Self> {
        let raw = hex::decode(text).map_err(|e| {
            Error::invalid("address", format!("must be hex (2 to 64 hex digits): {e}"))
        })?;
        Self::from_bytes(&raw)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::from_hex(s)
    }
}

impl HexBytes for Address {
    const EXPECTING: &'static str = "an address: a hex string or 1 to 32 bytes";
    const MAX_BYTES: usize = MAX_ADDRESS_BYTES;
    fn raw(&self) -> &[u8] {
        self.as_bytes()
    }
    fn from_raw(raw: &[u8]) -> Result<Self> {
        Address::from_bytes(raw)
    }
    fn from_hex_text(text: &str) -> Result<Self> {
        Address::from_hex(text)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_hex_bytes(self, s)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        deserialize_hex_bytes(d)
    }
}

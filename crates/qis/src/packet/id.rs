//! The packet id: a UUID v7.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Millis;
use crate::error::{Error, Result};

/// A packet's id: a UUID v7, made by the depositor, so that deposits are idempotent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PacketId(pub(super) Uuid);

impl PacketId {
    /// A new time-ordered id (UUID v7).
    pub fn new() -> Self {
        PacketId(Uuid::now_v7())
    }

    /// The milliseconds since the epoch a v7 id carries in its first 48 bits.
    pub(super) fn unix_ms(&self) -> Millis {
        let b = self.0.as_bytes();
        u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// Wraps a UUID; it must be version 7.
    pub fn from_uuid(uuid: Uuid) -> Result<Self> {
        if uuid.get_version_num() != 7 {
            return Err(Error::invalid(
                "id",
                format!("must be a UUID v7, got version {}", uuid.get_version_num()),
            ));
        }
        Ok(PacketId(uuid))
    }

    /// The UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl Default for PacketId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PacketId({})", self.0)
    }
}

impl FromStr for PacketId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let uuid =
            Uuid::parse_str(s).map_err(|e| Error::invalid("id", format!("not a UUID ({e})")))?;
        PacketId::from_uuid(uuid)
    }
}

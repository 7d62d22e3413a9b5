//! The record codec: one packet and its vector per message, the digest that claims its id, and the
//! expiry carried in the headers.

use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::packet::{Millis, Packet};
use crate::router::{Routed, Vector};

/// Header with the packet's expiry (ms since the epoch): purges read headers only.
pub(super) const EXPIRES_HEADER: &str = "Qis-Expires";
/// Header marking a forgotten id's tombstone (the last message on its id subject).
pub(super) const TOMBSTONE_HEADER: &str = "Qis-Tombstone";
/// The payload of a tombstone: never a 16-byte claim digest.
pub(super) const TOMBSTONE: &[u8] = b"qis:forgotten";
/// Record format version (first byte of every packet record).
const RECORD_VERSION: u8 = 1;

/// Sets `Nats-TTL` (the packet's remaining life, in whole seconds, at least 1) and the exact expiry.
pub(super) fn with_expiry(publish: PublishMessage, packet: &Packet, now: Millis) -> PublishMessage {
    match packet.expires_at() {
        None => publish,
        Some(at) => {
            let secs = at.saturating_sub(now).div_ceil(1000).max(1);
            publish
                .ttl(Duration::from_secs(secs))
                .header(EXPIRES_HEADER, at.to_string().as_str())
        }
    }
}

/// `[version][packet length: u16 LE][packet MessagePack][vector: f32 LE…]`.
pub(super) fn encode_record(routed: &Routed) -> Bytes {
    let packet = routed.packet.to_msgpack();
    let dim = routed.vector.as_ref().map_or(0, |v| v.len());
    let mut out = Vec::with_capacity(3 + packet.len() + 4 * dim);
    out.push(RECORD_VERSION);
    out.extend_from_slice(&(packet.len() as u16).to_le_bytes());
    out.extend_from_slice(&packet);
    if let Some(v) = &routed.vector {
        for x in v.iter() {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    Bytes::from(out)
}

pub(super) fn decode_record(bytes: &[u8]) -> Result<(Packet, Option<Vector>)> {
    let bad = |why: &str| Error::Decode {
        format: "NATS record",
        message: why.to_owned(),
    };
    if bytes.len() < 3 || bytes[0] != RECORD_VERSION {
        return Err(bad("not a qis record of version 1"));
    }
    let len = u16::from_le_bytes([bytes[1], bytes[2]]) as usize;
    let rest = &bytes[3..];
    if rest.len() < len || !(rest.len() - len).is_multiple_of(4) {
        return Err(bad("truncated record"));
    }
    let packet = Packet::from_own_msgpack(&rest[..len])?;
    let tail = &rest[len..];
    let vector = (!tail.is_empty()).then(|| {
        tail.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect::<Vector>()
    });
    Ok((packet, vector))
}

pub(super) fn digest(record: &[u8]) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128(record).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Address;

    #[test]
    fn records_round_trip() {
        let p = crate::packet::Packet::builder("a", "d", Address::from_bytes(&[1, 2]).unwrap())
            .build()
            .unwrap();
        let r = Routed::with_vector(p.clone(), &[0.6, 0.8]).unwrap();
        let (q, v) = decode_record(&encode_record(&r)).unwrap();
        assert_eq!((q, v.as_deref()), (p.clone(), Some(&[0.6f32, 0.8][..])));
        let (q, v) = decode_record(&encode_record(&Routed::new(p.clone()))).unwrap();
        assert_eq!((q, v), (p, None));
        assert!(decode_record(b"\x02xx").is_err());
    }
}

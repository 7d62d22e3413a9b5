//! Byte strings that travel as hex in JSON and as raw bytes in MessagePack.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

use crate::error::Result;

/// A value that travels as hex in human-readable formats (JSON) and as raw bytes otherwise
/// (MessagePack): addresses and signatures.
pub(crate) trait HexBytes: Sized {
    /// What a decoder expected, for its error.
    const EXPECTING: &'static str;
    /// The longest valid byte string: a longer sequence is cut one past it (and then refused).
    const MAX_BYTES: usize;
    /// The bytes.
    fn raw(&self) -> &[u8];
    /// The value of `raw`, checked.
    fn from_raw(raw: &[u8]) -> Result<Self>;
    /// The value of hex `text`, checked.
    fn from_hex_text(text: &str) -> Result<Self>;
}

pub(crate) fn serialize_hex_bytes<T: HexBytes, S: Serializer>(
    value: &T,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        s.serialize_str(&hex::encode(value.raw()))
    } else {
        s.serialize_bytes(value.raw())
    }
}

pub(crate) fn deserialize_hex_bytes<'de, T: HexBytes, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<T, D::Error> {
    struct HexBytesVisitor<T>(std::marker::PhantomData<T>);
    impl<'de, T: HexBytes> Visitor<'de> for HexBytesVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(T::EXPECTING)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<T, E> {
            T::from_hex_text(v).map_err(E::custom)
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> std::result::Result<T, E> {
            T::from_raw(v).map_err(E::custom)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<T, A::Error> {
            let mut raw = Vec::new();
            while let Some(b) = seq.next_element::<u8>()? {
                raw.push(b);
                if raw.len() > T::MAX_BYTES {
                    break;
                }
            }
            T::from_raw(&raw).map_err(de::Error::custom)
        }
    }
    let visitor = HexBytesVisitor(std::marker::PhantomData);
    if d.is_human_readable() {
        d.deserialize_str(visitor)
    } else {
        d.deserialize_bytes(visitor)
    }
}

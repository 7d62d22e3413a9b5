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
use std::fmt;
use std::io;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::sign::{SIGNATURE_BYTES, SIGNING_CONTEXT, Signature};

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

/// A packet's id: a UUID v7, made by the depositor, so that deposits are idempotent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PacketId(Uuid);

impl PacketId {
    /// A new time-ordered id (UUID v7).
    pub fn new() -> Self {
        PacketId(Uuid::now_v7())
    }

    /// The milliseconds since the epoch a v7 id carries in its first 48 bits.
    fn unix_ms(&self) -> Millis {
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

/// What happened when the agent acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The approach worked.
    Resolved,
    /// It helped, but not fully.
    Partial,
    /// It did not work, or it contradicted what was expected.
    Contradicted,
    /// Still open: no verdict yet.
    Open,
}

impl Outcome {
    /// Every outcome kind, in wire order.
    pub const ALL: [Outcome; 4] = [
        Outcome::Resolved,
        Outcome::Partial,
        Outcome::Contradicted,
        Outcome::Open,
    ];

    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Resolved => "resolved",
            Outcome::Partial => "partial",
            Outcome::Contradicted => "contradicted",
            Outcome::Open => "open",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "outcome",
                    format!("must be resolved, partial, contradicted or open, got {s:?}"),
                )
            })
    }
}

/// One value of a packet's `result` map.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ResultValue {
    /// A finite number.
    Number(f64),
    /// A category or short text.
    Text(String),
    /// A flag.
    Bool(bool),
}

impl ResultValue {
    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ResultValue::Number(x) => Some(*x),
            _ => None,
        }
    }
}

impl fmt::Display for ResultValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResultValue::Number(x) => write!(f, "{x}"),
            ResultValue::Text(s) => write!(f, "{s:?}"),
            ResultValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl From<f64> for ResultValue {
    fn from(x: f64) -> Self {
        ResultValue::Number(x)
    }
}
impl From<f32> for ResultValue {
    fn from(x: f32) -> Self {
        ResultValue::Number(x as f64)
    }
}
impl From<i64> for ResultValue {
    fn from(x: i64) -> Self {
        ResultValue::Number(x as f64)
    }
}
impl From<i32> for ResultValue {
    fn from(x: i32) -> Self {
        ResultValue::Number(x as f64)
    }
}
impl From<bool> for ResultValue {
    fn from(b: bool) -> Self {
        ResultValue::Bool(b)
    }
}
impl From<&str> for ResultValue {
    fn from(s: &str) -> Self {
        ResultValue::Text(s.to_owned())
    }
}
impl From<String> for ResultValue {
    fn from(s: String) -> Self {
        ResultValue::Text(s)
    }
}

impl<'de> Deserialize<'de> for ResultValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct ValueVisitor;
        impl Visitor<'_> for ValueVisitor {
            type Value = ResultValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number, a string or a bool")
            }
            fn visit_bool<E>(self, v: bool) -> std::result::Result<ResultValue, E> {
                Ok(ResultValue::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<ResultValue, E> {
                Ok(ResultValue::Number(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<ResultValue, E> {
                Ok(ResultValue::Number(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<ResultValue, E> {
                Ok(ResultValue::Number(v))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<ResultValue, E> {
                Ok(ResultValue::Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<ResultValue, E> {
                Ok(ResultValue::Text(v))
            }
        }
        d.deserialize_any(ValueVisitor)
    }
}

/// A packet's `result`: what worked, as named numbers, categories and flags (sorted by name).
pub type ResultMap = BTreeMap<String, ResultValue>;

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

/// The packet as decoded, before its rules are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WirePacket {
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
    /// Starts a packet for `agent` in `domain` at `address`. Defaults: a new id, created now,
    /// outcome `open`, confidence 0, no result, no TTL.
    pub fn builder(
        agent: impl Into<String>,
        domain: impl Into<String>,
        address: Address,
    ) -> PacketBuilder {
        // The new id's timestamp is "now": one clock read serves both.
        let id = PacketId::new();
        PacketBuilder {
            packet: Packet {
                id,
                agent: agent.into(),
                domain: domain.into(),
                address,
                outcome: Outcome::Open,
                confidence: 0.0,
                result: ResultMap::new(),
                summary: String::new(),
                tags: Vec::new(),
                problem: None,
                created: id.unix_ms(),
                ttl: None,
                derived_from: Vec::new(),
                signature: None,
            },
        }
    }

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

    /// Checks every wire rule; the one place they are checked.
    pub fn validate(&self) -> Result<()> {
        self.validate_fields()?;
        // Most packets are far below the budget: a cheap upper bound of the size settles them;
        // only a packet whose bound exceeds the budget is encoded (into a counter) to measure it.
        if self.encoded_len_bound() <= MAX_ENCODED_BYTES {
            return Ok(());
        }
        self.check_size(self.encoded_len() - self.signature_len())
    }

    /// An upper bound of [`Packet::encoded_len`], by arithmetic: every field name and value at
    /// the widest MessagePack form its type can take (strings and binaries with a 5-byte header,
    /// numbers as 9 bytes).
    fn encoded_len_bound(&self) -> usize {
        const STR: usize = 5; // the widest string, binary, array or map header
        const NUM: usize = 9; // the widest number
        let text = |s: &str| STR + s.len();
        // The map header, then the 13 field names (109 bytes with their headers, at most).
        let mut n = STR + 109;
        n +=
            STR + 16 + text(&self.agent) + text(&self.domain) + STR + self.address.as_bytes().len();
        n += text(self.outcome.as_str()) + NUM;
        n += STR;
        for (key, value) in &self.result {
            n += text(key)
                + match value {
                    ResultValue::Number(_) => NUM,
                    ResultValue::Text(t) => text(t),
                    ResultValue::Bool(_) => 1,
                };
        }
        n += text(&self.summary);
        n += STR + self.tags.iter().map(|t| text(t)).sum::<usize>();
        n += self.problem.as_deref().map_or(1, text);
        n += NUM + NUM;
        n += STR + self.derived_from.len() * (STR + 16);
        n
    }

    fn check_size(&self, size: usize) -> Result<()> {
        if size > MAX_ENCODED_BYTES {
            return Err(Error::TooLarge {
                size,
                limit: MAX_ENCODED_BYTES,
                largest: self.largest_fields(),
            });
        }
        Ok(())
    }

    /// Every rule but the size budget.
    fn validate_fields(&self) -> Result<()> {
        PacketId::from_uuid(self.id.0)?;
        check_name("agent", &self.agent)?;
        check_name("domain", &self.domain)?;
        if !self.confidence.is_finite() || !(0.0..=1.0).contains(&self.confidence) {
            return Err(Error::invalid(
                "confidence",
                format!(
                    "must be a finite number from 0 to 1, got {}",
                    self.confidence
                ),
            ));
        }
        if self.result.len() > MAX_RESULT_ENTRIES {
            return Err(Error::invalid(
                "result",
                format!(
                    "at most {MAX_RESULT_ENTRIES} entries, got {}",
                    self.result.len()
                ),
            ));
        }
        for (key, value) in &self.result {
            check_label("result key", key)?;
            if let ResultValue::Number(x) = value
                && !x.is_finite()
            {
                return Err(Error::invalid(
                    format!("result.{key}"),
                    format!("numbers must be finite, got {x}"),
                ));
            }
            if let ResultValue::Text(t) = value
                && let Some(c) = control_char(t, false)
            {
                return Err(control_error(&format!("result.{key}"), c));
            }
        }
        // A character is at least one byte: only a long summary needs counting.
        let chars = if self.summary.len() <= MAX_SUMMARY_CHARS {
            0
        } else {
            self.summary.chars().count()
        };
        if chars > MAX_SUMMARY_CHARS {
            return Err(Error::invalid(
                "summary",
                format!("at most {MAX_SUMMARY_CHARS} characters, got {chars}"),
            ));
        }
        check_text("summary", &self.summary, true)?;
        if self.tags.len() > MAX_TAGS {
            return Err(Error::invalid(
                "tags",
                format!("at most {MAX_TAGS} tags, got {}", self.tags.len()),
            ));
        }
        for tag in &self.tags {
            check_label("tags", tag)?;
        }
        if let Some(problem) = &self.problem {
            if problem.trim().is_empty() {
                return Err(Error::invalid(
                    "problem",
                    "must not be blank when given (leave it out instead)",
                ));
            }
            check_text("problem", problem, true)?;
        }
        if self.created == 0 || self.created > MAX_CREATED_MS {
            return Err(Error::invalid(
                "created",
                format!(
                    "must be milliseconds since 1970 between 1 and {MAX_CREATED_MS}, got {}",
                    self.created
                ),
            ));
        }
        if let Some(ttl) = self.ttl
            && (ttl == 0 || ttl > MAX_TTL_SECS)
        {
            return Err(Error::invalid(
                "ttl",
                format!("must be 1 to {MAX_TTL_SECS} seconds, got {ttl}"),
            ));
        }
        if self.derived_from.len() > MAX_DERIVED_FROM {
            return Err(Error::invalid(
                "derived_from",
                format!(
                    "at most {MAX_DERIVED_FROM} ids, got {}",
                    self.derived_from.len()
                ),
            ));
        }
        for (i, source) in self.derived_from.iter().enumerate() {
            if source.0.get_version_num() != 7 {
                return Err(Error::invalid("derived_from", "ids must be UUID v7"));
            }
            if *source == self.id {
                return Err(Error::invalid(
                    "derived_from",
                    "a packet cannot be derived from itself",
                ));
            }
            if self.derived_from[..i].contains(source) {
                return Err(Error::invalid(
                    "derived_from",
                    format!("id {source} is listed twice"),
                ));
            }
        }
        Ok(())
    }

    /// The size of [`Packet::to_msgpack`] in bytes, without allocating.
    pub fn encoded_len(&self) -> usize {
        let mut counter = CountingWriter(0);
        // Writing to a counter cannot fail for this type.
        let _ = rmp_serde::encode::write_named(&mut counter, self);
        counter.0
    }

    /// Encoded size of each field (key and value), largest first; the three largest.
    fn largest_fields(&self) -> Vec<(String, usize)> {
        fn len<T: Serialize + ?Sized>(name: &str, value: &T) -> (String, usize) {
            let mut counter = CountingWriter(0);
            let _ = rmp_serde::encode::write_named(&mut counter, value);
            let mut key = CountingWriter(0);
            let _ = rmp_serde::encode::write_named(&mut key, name);
            (name.to_owned(), counter.0 + key.0)
        }
        let mut sizes = vec![
            len("id", &self.id),
            len("agent", &self.agent),
            len("domain", &self.domain),
            len("address", &self.address),
            len("result", &self.result),
            len("summary", &self.summary),
            len("tags", &self.tags),
            len("problem", &self.problem),
            len("derived_from", &self.derived_from),
        ];
        sizes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        sizes.truncate(3);
        sizes
    }

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

/// Builds a [`Packet`]; [`PacketBuilder::build`] checks every rule.
#[derive(Debug, Clone)]
#[must_use]
pub struct PacketBuilder {
    packet: Packet,
}

impl PacketBuilder {
    /// Sets the id (by default a new UUID v7).
    pub fn id(mut self, id: PacketId) -> Self {
        self.packet.id = id;
        self
    }
    /// Sets what happened.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.packet.outcome = outcome;
        self
    }
    /// Sets the confidence (0–1).
    pub fn confidence(mut self, confidence: f32) -> Self {
        self.packet.confidence = confidence;
        self
    }
    /// Adds one `result` entry.
    pub fn result(mut self, key: impl Into<String>, value: impl Into<ResultValue>) -> Self {
        self.packet.result.insert(key.into(), value.into());
        self
    }
    /// Replaces the whole `result` map.
    pub fn results(mut self, result: ResultMap) -> Self {
        self.packet.result = result;
        self
    }
    /// Sets the summary (at most 200 characters).
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.packet.summary = summary.into();
        self
    }
    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.packet.tags.push(tag.into());
        self
    }
    /// Replaces the tags.
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.packet.tags = tags.into_iter().map(Into::into).collect();
        self
    }
    /// Shares the problem text (embeddings are made from it).
    pub fn problem(mut self, problem: impl Into<String>) -> Self {
        self.packet.problem = Some(problem.into());
        self
    }
    /// Sets the creation time in ms since the epoch (by default, now).
    pub fn created(mut self, created: Millis) -> Self {
        self.packet.created = created;
        self
    }
    /// Sets the time to live.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.packet.ttl = Some(ttl.as_secs());
        self
    }
    /// Sets the time to live in whole seconds.
    pub fn ttl_secs(mut self, secs: u64) -> Self {
        self.packet.ttl = Some(secs);
        self
    }
    /// Marks the packet as synthesized from these original packets.
    pub fn derived_from(mut self, sources: Vec<PacketId>) -> Self {
        self.packet.derived_from = sources;
        self
    }
    /// Checks every rule and returns the packet.
    pub fn build(self) -> Result<Packet> {
        self.packet.validate()?;
        Ok(self.packet)
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

fn check_name(field: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.len() > MAX_NAME_BYTES {
        return Err(Error::invalid(
            field,
            format!("must be 1 to {MAX_NAME_BYTES} bytes, got {}", value.len()),
        ));
    }
    check_text(field, value, false)
}

fn check_label(field: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.len() > MAX_LABEL_BYTES {
        return Err(Error::invalid(
            field,
            format!(
                "each must be 1 to {MAX_LABEL_BYTES} bytes, got {} ({value:?})",
                value.len()
            ),
        ));
    }
    check_text(field, value, false)
}

/// Control characters are refused (newlines and tabs only where `multiline`).
fn check_text(field: &str, value: &str, multiline: bool) -> Result<()> {
    match control_char(value, multiline) {
        None => Ok(()),
        Some(c) => Err(control_error(field, c)),
    }
}

/// The first control character in `value` (newlines and tabs allowed where `multiline`).
fn control_char(value: &str, multiline: bool) -> Option<char> {
    // Printable ASCII, by far the common case, is one range test per byte.
    if value.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return None;
    }
    value
        .chars()
        .find(|&c| c.is_control() && !(multiline && (c == '\n' || c == '\t')))
}

fn control_error(field: &str, c: char) -> Error {
    Error::invalid(
        field,
        format!(
            "must not contain control characters, found U+{:04X}",
            c as u32
        ),
    )
}

struct CountingWriter(usize);

impl io::Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packets of every shape, from empty to every field at its widest.
    fn shapes() -> Vec<Packet> {
        let wide = |n: usize, c: char| std::iter::repeat_n(c, n).collect::<String>();
        let mut out = Vec::new();
        for n in [0usize, 1, 8, 31, 32, 33, 64, 200, 255, 256, 300] {
            let mut p = Packet::builder(
                wide(n.clamp(1, 64), 'a'),
                wide(n.clamp(1, 32), 'é'),
                Address::from_bytes(&[7; 32]).unwrap(),
            )
            .build()
            .expect("a valid base packet");
            p.summary = wide(n.min(200), '√');
            p.problem = (n > 0).then(|| wide(n, 'x'));
            p.ttl = (n > 0).then_some(u64::MAX);
            p.created = u64::MAX;
            p.confidence = 0.123_456_79;
            for i in 0..n.min(MAX_RESULT_ENTRIES) {
                let value = match i % 3 {
                    0 => ResultValue::Number(f64::MAX),
                    1 => ResultValue::Text(wide(n.min(64), '𝄞')),
                    _ => ResultValue::Bool(true),
                };
                p.result
                    .insert(format!("{}{i}", wide(n.min(60), 'k')), value);
            }
            p.tags = (0..n.min(MAX_TAGS))
                .map(|i| format!("{}{i}", wide(n.min(60), 't')))
                .collect();
            p.derived_from = (0..n.min(MAX_DERIVED_FROM))
                .map(|_| PacketId::new())
                .collect();
            out.push(p);
        }
        out
    }

    #[test]
    fn a_new_packet_is_created_when_its_id_was_made() {
        let before = now_ms();
        let p = Packet::builder("a", "d", Address::from_bytes(&[1]).unwrap())
            .build()
            .unwrap();
        assert!(before <= p.created() && p.created() <= now_ms());
        assert_eq!(p.created(), p.id().unix_ms());
    }

    #[test]
    fn the_size_bound_is_never_below_the_encoded_size() {
        for p in shapes() {
            let (exact, bound) = (p.encoded_len(), p.encoded_len_bound());
            assert_eq!(exact, p.to_msgpack().len());
            assert!(bound >= exact, "bound {bound} < encoded {exact}");
            // The shortcut never accepts what the exact count refuses.
            assert_eq!(
                p.validate().is_ok(),
                p.validate_fields().is_ok() && exact <= MAX_ENCODED_BYTES
            );
        }
    }
}

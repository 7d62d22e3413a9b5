//! Fingerprints: from a problem (a domain and a context) to its [`Address`].
//!
//! - [`KeysFingerprint`] is byte-compatible with the seed's `semantic_fingerprint`: SHA-256 of
//!   `json.dumps({"domain": d, "context_keys": sorted(keys)}, sort_keys=True)`, first 16 hex digits.
//!   Only the context's *keys* count, never its values: a flaw of the seed kept for interop.
//! - [`FieldsFingerprint`] follows an expert's routing schema ([`RoutingSchema`], TOML): which fields
//!   route and how each is normalised; its canonical bytes are hashed to a 16-byte address.
//! - Both have a keyed variant ([`KeysFingerprint::keyed`], [`FieldsFingerprint::keyed`]):
//!   HMAC-SHA256 with a network secret. A plain hash of a low-entropy context is reversed by hashing
//!   guesses; without the secret, a keyed address is not.
//!
//! ```
//! use qis::fingerprint::{Context, Fingerprint, KeysFingerprint};
//!
//! let context: Context = serde_json::from_str(r#"{"condition": "T2D", "intervention_type": "GLP1"}"#)?;
//! let address = KeysFingerprint::new().address("clinical_trial", &context)?;
//! assert_eq!(address.to_hex(), "1dd96c30c27fe860");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::packet::Address;

mod spec;

pub use spec::{FingerprintSpec, Scheme};

/// A problem's context: named fields, as a JSON object. Raw context never leaves the node.
pub type Context = serde_json::Map<String, Value>;

/// Maps a problem to its address. Deterministic: the same problem always gives the same address.
pub trait Fingerprint: Send + Sync + fmt::Debug {
    /// The address of the problem `context` in `domain`.
    ///
    /// Errors: [`Error::Invalid`] when the context lacks a required field or a field cannot be
    /// normalised (see the scheme).
    fn address(&self, domain: &str, context: &Context) -> Result<Address>;

    /// The scheme's name (`keys`, `fields`, with a `keyed-` prefix when keyed).
    fn scheme(&self) -> &'static str;
}

/// The exact address of a problem named by a text alone (a shared problem text, no context):
/// SHA-256 of the domain and the text with case folded and runs of whitespace made one space,
/// first 16 bytes. The same wording meets at one address; similar wordings meet through the
/// text's vector ([`crate::embed`]). The text travels in the packet anyway, so no secret keys it.
///
/// ```
/// use qis::fingerprint::text_address;
/// assert_eq!(text_address("ops", "Pool  runs DRY"), text_address("ops", "pool runs dry"));
/// assert_ne!(text_address("ops", "pool runs dry"), text_address("db", "pool runs dry"));
/// ```
pub fn text_address(domain: &str, text: &str) -> Address {
    let mut hasher = Sha256::new();
    hasher.update(b"qis/text/1\0");
    hasher.update(domain.as_bytes());
    hasher.update(b"\0");
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 {
            hasher.update(b" ");
        }
        hasher.update(word.to_lowercase().as_bytes());
    }
    let digest: [u8; 32] = hasher.finalize().into();
    Address::from_bytes(&digest[..16]).expect("16 bytes is a valid address")
}

/// A network secret for keyed fingerprints. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

impl Secret {
    /// A secret of at least 16 bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(Error::Config(format!(
                "a network secret must be at least {MIN_SECRET_BYTES} bytes, got {}",
                bytes.len()
            )));
        }
        Ok(Secret(bytes))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Plain SHA-256, or HMAC-SHA256 with a secret.
#[derive(Clone, Debug)]
enum Digest {
    Plain,
    Keyed(Secret),
}

impl Digest {
    fn digest(&self, bytes: &[u8]) -> [u8; 32] {
        match self {
            Digest::Plain => Sha256::digest(bytes).into(),
            Digest::Keyed(secret) => {
                // HMAC accepts keys of any length.
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&secret.0)
                    .expect("HMAC takes keys of any length");
                mac.update(bytes);
                mac.finalize().into_bytes().into()
            }
        }
    }
}

/// The seed-compatible scheme: domain + sorted context *keys* → 8-byte address (16 hex digits).
#[derive(Clone, Debug)]
pub struct KeysFingerprint {
    digest: Digest,
}

impl KeysFingerprint {
    /// The seed's plain SHA-256 form.
    pub fn new() -> Self {
        KeysFingerprint {
            digest: Digest::Plain,
        }
    }

    /// The keyed form: HMAC-SHA256 of the same text with the network secret.
    pub fn keyed(secret: Secret) -> Self {
        KeysFingerprint {
            digest: Digest::Keyed(secret),
        }
    }

    /// The exact text the seed hashes: `{"context_keys": [...], "domain": "..."}` as Python's
    /// `json.dumps(..., sort_keys=True)` writes it (ASCII only, `\uXXXX` escapes).
    pub fn canonical_text<'a>(
        domain: &str,
        keys: impl IntoIterator<Item = &'a str, IntoIter: Clone>,
    ) -> String {
        let keys = keys.into_iter();
        let mut out = String::with_capacity(48 + domain.len() + keys.clone().count() * 16);
        out.push_str("{\"context_keys\": [");
        // Python sorts str by code point; UTF-8 byte order is the same order. A context map
        // usually iterates in that order already; only otherwise are the keys collected and sorted.
        if keys.clone().is_sorted() {
            push_python_json_list(&mut out, keys);
        } else {
            let mut sorted: Vec<&str> = keys.collect();
            sorted.sort_unstable();
            push_python_json_list(&mut out, sorted);
        }
        out.push_str("], \"domain\": ");
        push_python_json_str(&mut out, domain);
        out.push('}');
        out
    }
}

impl Default for KeysFingerprint {
    fn default() -> Self {
        Self::new()
    }
}

impl Fingerprint for KeysFingerprint {
    fn address(&self, domain: &str, context: &Context) -> Result<Address> {
        let text = Self::canonical_text(domain, context.keys().map(String::as_str));
        let digest = self.digest.digest(text.as_bytes());
        Address::from_bytes(&digest[..8])
    }

    fn scheme(&self) -> &'static str {
        match self.digest {
            Digest::Plain => "keys",
            Digest::Keyed(_) => "keyed-keys",
        }
    }
}

/// Appends `items` as the inside of a Python JSON list: `"a", "b"`.
fn push_python_json_list<'a>(out: &mut String, items: impl IntoIterator<Item = &'a str>) {
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_python_json_str(out, item);
    }
}

/// Appends `s` as Python's `json.dumps` (with `ensure_ascii=True`) writes a string.
fn push_python_json_str(out: &mut String, s: &str) {
    out.push('"');
    // Printable ASCII other than the quote and backslash is written as it is, in one copy.
    if s.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// How one routing field's value is normalised before hashing.
#[derive(Clone, Debug, PartialEq)]
pub enum Normalize {
    /// The value as given (numbers by value: `45` and `45.0` are the same).
    Exact,
    /// Text trimmed, inner whitespace collapsed to one space, lowercased: `" T2D "` = `"t2d"`.
    Casefold,
    /// A number (or numeric text) → `floor(x / width)`.
    Bucket {
        /// Bucket width, > 0.
        width: f64,
    },
    /// A number (or numeric text) → the name of the first range it is below.
    Ranges(Vec<NamedRange>),
}

/// One named range: values below `below` (and not in an earlier range); no `below` = the rest.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedRange {
    /// The range's name, which is what gets hashed.
    pub name: String,
    /// Exclusive upper bound; the last range may leave it out to take every larger value.
    pub below: Option<f64>,
}

/// One routing field of a [`RoutingSchema`].
#[derive(Clone, Debug, PartialEq)]
pub struct RoutingField {
    /// The context key.
    pub name: String,
    /// How its value is normalised.
    pub normalize: Normalize,
    /// A missing required field is an error; a missing optional one hashes as "absent".
    pub required: bool,
}

/// An expert's definition of "the same problem": which context fields route, and how.
///
/// ```toml
/// [[field]]
/// name = "condition"
/// normalize = "casefold"
///
/// [[field]]
/// name = "age"
/// normalize = "bucket"
/// width = 10
///
/// [[field]]
/// name = "bmi"
/// normalize = "ranges"
/// required = false
/// ranges = [{ name = "normal", below = 25 }, { name = "overweight", below = 30 }, { name = "obese" }]
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RoutingSchema {
    fields: Vec<RoutingField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchema {
    #[serde(default)]
    field: Vec<RawField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: String,
    #[serde(default = "default_normalize")]
    normalize: String,
    #[serde(default = "default_required")]
    required: bool,
    width: Option<f64>,
    ranges: Option<Vec<NamedRange>>,
}

fn default_normalize() -> String {
    "exact".to_owned()
}
fn default_required() -> bool {
    true
}

impl RoutingSchema {
    /// A schema from its fields; checks the same rules as [`RoutingSchema::from_toml`].
    pub fn new(fields: Vec<RoutingField>) -> Result<Self> {
        if fields.is_empty() {
            return Err(schema_error("", "a schema needs at least one [[field]]"));
        }
        let mut seen = BTreeSet::new();
        for field in &fields {
            if field.name.is_empty() {
                return Err(schema_error("", "a field's `name` must not be empty"));
            }
            if !seen.insert(field.name.as_str()) {
                return Err(schema_error(&field.name, "is defined twice"));
            }
            match &field.normalize {
                Normalize::Bucket { width } if !(width.is_finite() && *width > 0.0) => {
                    return Err(schema_error(
                        &field.name,
                        "`width` must be a finite number > 0",
                    ));
                }
                Normalize::Ranges(ranges) => check_ranges(&field.name, ranges)?,
                _ => {}
            }
        }
        let mut fields = fields;
        fields.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(RoutingSchema { fields })
    }

    /// Parses a TOML schema (see the type's docs); errors name the field and the rule.
    pub fn from_toml(text: &str) -> Result<Self> {
        let raw: RawSchema = toml::from_str(text)
            .map_err(|e| Error::Config(format!("routing schema: {}", e.message())))?;
        let mut fields = Vec::with_capacity(raw.field.len());
        for f in raw.field {
            let normalize = match f.normalize.as_str() {
                "exact" | "casefold" => {
                    if f.width.is_some() || f.ranges.is_some() {
                        return Err(schema_error(
                            &f.name,
                            "`width` and `ranges` only go with normalize = \"bucket\" / \"ranges\"",
                        ));
                    }
                    if f.normalize == "exact" {
                        Normalize::Exact
                    } else {
                        Normalize::Casefold
                    }
                }
                "bucket" => Normalize::Bucket {
                    width: f.width.ok_or_else(|| {
                        schema_error(&f.name, "normalize = \"bucket\" needs `width`")
                    })?,
                },
                "ranges" => Normalize::Ranges(f.ranges.ok_or_else(|| {
                    schema_error(&f.name, "normalize = \"ranges\" needs `ranges`")
                })?),
                other => {
                    return Err(schema_error(
                        &f.name,
                        &format!(
                            "`normalize` must be exact, casefold, bucket or ranges, got {other:?}"
                        ),
                    ));
                }
            };
            fields.push(RoutingField {
                name: f.name,
                normalize,
                required: f.required,
            });
        }
        Self::new(fields)
    }

    /// The routing fields, sorted by name.
    pub fn fields(&self) -> &[RoutingField] {
        &self.fields
    }

    /// The canonical bytes of a problem under this schema: what gets hashed.
    ///
    /// Length-prefixed, so no two different normalised problems share an encoding.
    pub fn canonical_bytes(&self, domain: &str, context: &Context) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(b"qis/fields/v1\0");
        put_str(&mut out, domain);
        for field in &self.fields {
            put_str(&mut out, &field.name);
            let value = context.get(&field.name).filter(|v| !v.is_null());
            let Some(value) = value else {
                if field.required {
                    return Err(Error::invalid(
                        format!("context.{}", field.name),
                        "is required by the routing schema but missing (or null)",
                    ));
                }
                out.push(0);
                continue;
            };
            normalize_into(&mut out, &field.name, &field.normalize, value)?;
        }
        Ok(out)
    }
}

fn schema_error(field: &str, rule: &str) -> Error {
    if field.is_empty() {
        Error::Config(format!("routing schema: {rule}"))
    } else {
        Error::Config(format!("routing schema: field `{field}` {rule}"))
    }
}

fn check_ranges(field: &str, ranges: &[NamedRange]) -> Result<()> {
    if ranges.is_empty() {
        return Err(schema_error(field, "`ranges` must not be empty"));
    }
    let mut names = BTreeSet::new();
    let mut last = f64::NEG_INFINITY;
    for (i, range) in ranges.iter().enumerate() {
        if range.name.is_empty() || !names.insert(range.name.as_str()) {
            return Err(schema_error(
                field,
                "range names must be non-empty and distinct",
            ));
        }
        match range.below {
            Some(b) if !b.is_finite() || b <= last => {
                return Err(schema_error(
                    field,
                    "range bounds (`below`) must be finite and strictly increasing",
                ));
            }
            Some(b) => last = b,
            None if i + 1 != ranges.len() => {
                return Err(schema_error(
                    field,
                    "only the last range may leave out `below`",
                ));
            }
            None => {}
        }
    }
    Ok(())
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_number(out: &mut Vec<u8>, x: f64) {
    // -0.0 and 0.0 are the same number.
    let x = if x == 0.0 { 0.0 } else { x };
    out.push(2);
    out.extend_from_slice(&x.to_bits().to_be_bytes());
}

fn as_number(field: &str, value: &Value) -> Result<f64> {
    let x = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match x {
        Some(x) if x.is_finite() => Ok(x),
        _ => Err(Error::invalid(
            format!("context.{field}"),
            format!("must be a finite number (or numeric text), got {value}"),
        )),
    }
}

fn normalize_into(out: &mut Vec<u8>, field: &str, how: &Normalize, value: &Value) -> Result<()> {
    match (how, value) {
        (Normalize::Exact | Normalize::Casefold, Value::Bool(b)) => {
            out.push(3);
            out.push(*b as u8);
        }
        (Normalize::Exact | Normalize::Casefold, Value::Number(_)) => {
            put_number(out, as_number(field, value)?);
        }
        (Normalize::Exact, Value::String(s)) => {
            out.push(1);
            put_str(out, s);
        }
        (Normalize::Casefold, Value::String(s)) => {
            let folded = s
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
            out.push(1);
            put_str(out, &folded);
        }
        (Normalize::Exact | Normalize::Casefold, _) => {
            return Err(Error::invalid(
                format!("context.{field}"),
                format!("must be a string, number or bool, got {value}"),
            ));
        }
        (Normalize::Bucket { width }, _) => {
            let x = as_number(field, value)?;
            let bucket = (x / width).floor();
            out.push(4);
            out.extend_from_slice(&(bucket as i64).to_be_bytes());
        }
        (Normalize::Ranges(ranges), _) => {
            let x = as_number(field, value)?;
            let range = ranges
                .iter()
                .find(|r| r.below.is_none_or(|b| x < b))
                .ok_or_else(|| {
                    Error::invalid(
                        format!("context.{field}"),
                        format!("{x} is above every range of the routing schema"),
                    )
                })?;
            out.push(5);
            put_str(out, &range.name);
        }
    }
    Ok(())
}

/// The expert-defined scheme: a [`RoutingSchema`] → canonical bytes → SHA-256 → 16-byte address.
#[derive(Clone, Debug)]
pub struct FieldsFingerprint {
    schema: RoutingSchema,
    digest: Digest,
}

impl FieldsFingerprint {
    /// Plain SHA-256 addresses under `schema`.
    pub fn new(schema: RoutingSchema) -> Self {
        FieldsFingerprint {
            schema,
            digest: Digest::Plain,
        }
    }

    /// Keyed (HMAC-SHA256) addresses under `schema`.
    pub fn keyed(schema: RoutingSchema, secret: Secret) -> Self {
        FieldsFingerprint {
            schema,
            digest: Digest::Keyed(secret),
        }
    }

    /// The schema.
    pub fn schema(&self) -> &RoutingSchema {
        &self.schema
    }
}

impl Fingerprint for FieldsFingerprint {
    fn address(&self, domain: &str, context: &Context) -> Result<Address> {
        let bytes = self.schema.canonical_bytes(domain, context)?;
        let digest = self.digest.digest(&bytes);
        Address::from_bytes(&digest[..16])
    }

    fn scheme(&self) -> &'static str {
        match self.digest {
            Digest::Plain => "fields",
            Digest::Keyed(_) => "keyed-fields",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(json: &str) -> Context {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn keys_matches_the_seed_reference_value() {
        let c = ctx(r#"{"condition": "T2D", "intervention_type": "GLP1"}"#);
        let a = KeysFingerprint::new()
            .address("clinical_trial", &c)
            .unwrap();
        assert_eq!(a.to_hex(), "1dd96c30c27fe860");
    }

    #[test]
    fn keys_escapes_like_python() {
        let text =
            KeysFingerprint::canonical_text("d\u{e9}", ["a\"b", "c\\d", "\u{1F600}", "\u{7f}"]);
        assert_eq!(
            text,
            r#"{"context_keys": ["a\"b", "c\\d", "\u007f", "\ud83d\ude00"], "domain": "d\u00e9"}"#
        );
    }

    #[test]
    fn fields_normalise_spelling_order_and_buckets() {
        let schema = RoutingSchema::from_toml(
            r#"
            [[field]]
            name = "condition"
            normalize = "casefold"
            [[field]]
            name = "age"
            normalize = "bucket"
            width = 10
            [[field]]
            name = "bmi"
            normalize = "ranges"
            required = false
            ranges = [{ name = "normal", below = 25 }, { name = "obese" }]
            "#,
        )
        .unwrap();
        let f = FieldsFingerprint::new(schema);
        let a = f
            .address(
                "t",
                &ctx(r#"{"condition": " T2D ", "age": 41, "site": "x"}"#),
            )
            .unwrap();
        let b = f
            .address("t", &ctx(r#"{"age": "48.5", "condition": "t2d"}"#))
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_bytes().len(), 16);
        let c = f
            .address("t", &ctx(r#"{"age": 51, "condition": "t2d"}"#))
            .unwrap();
        assert_ne!(a, c);
        let d = f
            .address("t", &ctx(r#"{"age": 41, "condition": "t2d", "bmi": 31}"#))
            .unwrap();
        assert_ne!(a, d);
        let err = f.address("t", &ctx(r#"{"age": 41}"#)).unwrap_err();
        assert!(err.to_string().contains("context.condition"), "{err}");
    }

    #[test]
    fn bad_schemas_name_the_field_and_rule() {
        let cases = [
            (
                "[[field]]\nname = \"a\"\nnormalize = \"bucket\"",
                "needs `width`",
            ),
            (
                "[[field]]\nname = \"a\"\nnormalize = \"bucket\"\nwidth = 0",
                "`width` must be",
            ),
            (
                "[[field]]\nname = \"a\"\nnormalize = \"fuzzy\"",
                "`normalize` must be",
            ),
            (
                "[[field]]\nname = \"a\"\n[[field]]\nname = \"a\"",
                "defined twice",
            ),
            ("", "at least one"),
            ("[[field]]\nname = \"a\"\ncolour = 1", "unknown field"),
            (
                "[[field]]\nname = \"a\"\nnormalize = \"ranges\"\nranges = [{name = \"x\"}, {name = \"y\", below = 1}]",
                "only the last range",
            ),
        ];
        for (text, expected) in cases {
            let err = RoutingSchema::from_toml(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn secrets_must_be_long_enough_and_stay_hidden() {
        assert!(Secret::new(b"short".to_vec()).is_err());
        let s = Secret::new(b"0123456789abcdef".to_vec()).unwrap();
        assert_eq!(format!("{s:?}"), "Secret(..)");
    }
}

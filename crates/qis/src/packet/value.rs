//! What a packet reports: its outcome and its `result` values.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::de::Visitor;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};

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

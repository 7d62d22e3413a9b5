//! [`FingerprintSpec`]: which fingerprint, as a string (`keys`, `fields:SCHEMA.toml`, either with
//! `?secret_env=VAR`) or a TOML table (`[fingerprint]` in `qis.toml`), that opens and prints back.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use super::{FieldsFingerprint, Fingerprint, KeysFingerprint, RoutingSchema, Secret};
use crate::error::{Error, Result};

/// How problems map to addresses: a scheme and, for keyed addresses, where the secret is.
///
/// ```
/// use qis::fingerprint::{FingerprintSpec, Scheme};
/// let spec: FingerprintSpec = "fields:docs/examples/clinical.toml?secret_env=QIS_SECRET".parse()?;
/// assert_eq!(spec.scheme, Scheme::Fields { schema: "docs/examples/clinical.toml".into() });
/// assert_eq!(spec.secret_env.as_deref(), Some("QIS_SECRET"));
/// assert_eq!(spec.to_string(), "fields:docs/examples/clinical.toml?secret_env=QIS_SECRET");
/// assert_eq!("keys".parse::<FingerprintSpec>()?, FingerprintSpec::default());
/// # Ok::<(), qis::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FingerprintSpec {
    /// The scheme.
    pub scheme: Scheme,
    /// The environment variable holding the network secret: keyed (HMAC) addresses.
    pub secret_env: Option<String>,
}

/// A fingerprint scheme.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// The seed-compatible [`KeysFingerprint`].
    #[default]
    Keys,
    /// A [`FieldsFingerprint`] with the routing schema in this TOML file.
    Fields {
        /// The routing schema's file.
        schema: PathBuf,
    },
}

impl FingerprintSpec {
    /// A spec from its parts: `scheme` is `keys` or `fields` (which needs `schema`).
    /// Errors: [`Error::Invalid`] naming the field and the rule.
    pub fn from_parts(
        scheme: Option<&str>,
        schema: Option<PathBuf>,
        secret_env: Option<String>,
    ) -> Result<Self> {
        let scheme = match (scheme.map(str::to_ascii_lowercase).as_deref(), schema) {
            (None | Some("keys"), None) => Scheme::Keys,
            (None | Some("keys"), Some(_)) => {
                return Err(Error::invalid(
                    "schema",
                    "only the fields scheme takes a routing schema",
                ));
            }
            (Some("fields"), Some(schema)) => Scheme::Fields { schema },
            (Some("fields"), None) => {
                return Err(Error::invalid(
                    "schema",
                    "the fields scheme needs a routing schema (a TOML file)",
                ));
            }
            (Some(other), _) => {
                return Err(Error::invalid(
                    "scheme",
                    format!("must be keys or fields, got {other:?}"),
                ));
            }
        };
        if let Some(var) = &secret_env
            && var.trim().is_empty()
        {
            return Err(Error::invalid(
                "secret_env",
                "must name an environment variable",
            ));
        }
        Ok(FingerprintSpec { scheme, secret_env })
    }

    /// Builds the fingerprint: reads the schema file and the secret's variable. Errors:
    /// [`Error::Config`] naming the file or variable that cannot be read, the schema's own errors.
    pub fn open(&self) -> Result<Arc<dyn Fingerprint>> {
        let secret = match &self.secret_env {
            Some(var) => {
                let value = std::env::var(var).map_err(|_| {
                    Error::Config(format!(
                        "secret_env: the environment variable {var} is not set"
                    ))
                })?;
                Some(Secret::new(value.into_bytes())?)
            }
            None => None,
        };
        Ok(match &self.scheme {
            Scheme::Keys => match secret {
                Some(s) => Arc::new(KeysFingerprint::keyed(s)),
                None => Arc::new(KeysFingerprint::new()),
            },
            Scheme::Fields { schema: path } => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::Config(format!("schema: cannot read {}: {e}", path.display()))
                })?;
                let schema = RoutingSchema::from_toml(&text)?;
                match secret {
                    Some(s) => Arc::new(FieldsFingerprint::keyed(schema, s)),
                    None => Arc::new(FieldsFingerprint::new(schema)),
                }
            }
        })
    }
}

impl FromStr for FingerprintSpec {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim();
        let (head, query) = match text.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (text, None),
        };
        let (scheme, schema) = match head.split_once(':') {
            Some((s, path)) => (s, Some(PathBuf::from(path))),
            None => (head, None),
        };
        let mut secret_env = None;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("secret_env", v)) => secret_env = Some(v.to_owned()),
                _ => {
                    return Err(Error::invalid(
                        "fingerprint",
                        format!("{pair:?}: the one parameter is secret_env=VAR"),
                    ));
                }
            }
        }
        FingerprintSpec::from_parts(Some(scheme), schema, secret_env)
    }
}

impl fmt::Display for FingerprintSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scheme {
            Scheme::Keys => f.write_str("keys")?,
            Scheme::Fields { schema } => write!(f, "fields:{}", schema.display())?,
        }
        if let Some(var) = &self.secret_env {
            write!(f, "?secret_env={var}")?;
        }
        Ok(())
    }
}

/// `[fingerprint]` in TOML: `scheme`, `schema`, `secret_env`, all optional.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    scheme: Option<String>,
    schema: Option<PathBuf>,
    secret_env: Option<String>,
}

impl<'de> serde::Deserialize<'de> for FingerprintSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            Table(Table),
        }
        match Form::deserialize(d)? {
            Form::Text(t) => t.parse(),
            Form::Table(t) => {
                FingerprintSpec::from_parts(t.scheme.as_deref(), t.schema, t.secret_env)
            }
        }
        .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_tables_parse_and_print_back() {
        for text in [
            "keys",
            "keys?secret_env=S",
            "fields:a/b.toml",
            "fields:a.toml?secret_env=S",
        ] {
            assert_eq!(text.parse::<FingerprintSpec>().unwrap().to_string(), text);
        }
        #[derive(serde::Deserialize)]
        struct File {
            fingerprint: FingerprintSpec,
        }
        let f: File =
            toml::from_str("[fingerprint]\nscheme = \"fields\"\nschema = \"s.toml\"").unwrap();
        assert_eq!(f.fingerprint.to_string(), "fields:s.toml");
        for (text, says) in [
            ("fields", "needs a routing schema"),
            ("keys:x.toml", "only the fields scheme"),
            ("hash", "keys or fields"),
            ("keys?secret=S", "secret_env=VAR"),
        ] {
            let err = text.parse::<FingerprintSpec>().unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn it_opens_what_it_names() {
        let spec = FingerprintSpec::default();
        let context = serde_json::from_str(r#"{"condition": "T2D"}"#).unwrap();
        let a = spec.open().unwrap().address("d", &context).unwrap();
        assert_eq!(a, KeysFingerprint::new().address("d", &context).unwrap());
        let missing: FingerprintSpec = "keys?secret_env=QIS_TEST_NO_SUCH_SECRET".parse().unwrap();
        let err = missing.open().unwrap_err().to_string();
        assert!(err.contains("QIS_TEST_NO_SUCH_SECRET"), "{err}");
    }
}

//! The crate's one error type.
//!
//! Variants are named by meaning, not by the component that failed, so that callers (the CLI, the
//! server's HTTP mapping, a retrying wrapper) can decide what to do without knowing which router or
//! fingerprint they talk to. Every input error names the field and the rule it broke.

use std::fmt;
use std::time::Duration;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `qis`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field broke one of its rules (at construction, decoding, or deposit).
    #[error("invalid `{field}`: {rule}")]
    Invalid {
        /// The field's name as it appears on the wire (`confidence`, `result.protocol`, …).
        field: String,
        /// The rule, said so that a person can fix the input.
        rule: String,
    },

    /// The packet's MessagePack encoding is over the size budget.
    #[error(
        "packet encodes to {size} bytes of MessagePack, over the {limit}-byte budget; largest fields: {}",
        FieldSizes(largest)
    )]
    TooLarge {
        /// Encoded size in bytes.
        size: usize,
        /// The budget in bytes.
        limit: usize,
        /// The largest fields with their encoded sizes (name and value), largest first.
        largest: Vec<(String, usize)>,
    },

    /// Bytes or text that are not a packet at all (bad JSON / MessagePack, unknown field, wrong type).
    #[error("cannot decode {format}: {message}")]
    Decode {
        /// `JSON` or `MessagePack`.
        format: &'static str,
        /// What the decoder said.
        message: String,
    },

    /// A vector whose dimension differs from the one the router holds.
    #[error("vector has {got} dimensions but this router holds {expected}-dimensional vectors")]
    Dimension {
        /// The router's dimension.
        expected: usize,
        /// The offending vector's dimension.
        got: usize,
    },

    /// A packet id that was already deposited with different content.
    #[error("packet {id} was already deposited with different content; ids are immutable")]
    Conflict {
        /// The packet id.
        id: String,
    },

    /// A deposit of a packet that was forgotten ([`Router::forget`](crate::router::Router::forget)):
    /// its id is refused until the packet would have expired.
    #[error("packet {id} was forgotten: it is not stored again until it would have expired")]
    Forgotten {
        /// The packet id.
        id: String,
    },

    /// The caller may not do this to what it names: another agent's packet, for a caller that
    /// acts for one agent only.
    #[error("not allowed: `{field}`: {rule}")]
    Forbidden {
        /// What names the thing not allowed (`ids[2]`, `agent`).
        field: String,
        /// The rule, said so that a person knows who may.
        rule: String,
    },

    /// A packet whose signature is missing where one is required, by an agent without a known
    /// key, or not the agent's signature of this packet.
    #[error("packet {id} from agent {agent:?}: {fault}")]
    Signature {
        /// The packet id.
        id: String,
        /// The agent the packet names.
        agent: String,
        /// What is wrong.
        fault: SignatureFault,
    },

    /// A routing schema, secret or other configuration that cannot be used.
    #[error("configuration: {0}")]
    Config(String),

    /// The router cannot do this (see its [`Capabilities`](crate::router::Capabilities)).
    #[error("the {router} router does not support {what}")]
    NotSupported {
        /// The router's name.
        router: &'static str,
        /// What was asked.
        what: String,
    },

    /// The router's storage is full (a disk, or a store's quota): nothing more can be stored
    /// until space is freed. What the call would have stored was not stored.
    #[error("{router} router: storage is full: {message}")]
    StorageFull {
        /// The router's name.
        router: &'static str,
        /// What the engine said.
        message: String,
    },

    /// A failure inside a router's engine (I/O, a remote server, …).
    #[error("{router} router: {source}")]
    Backend {
        /// The router's name.
        router: &'static str,
        /// Whether trying again later may succeed (a timeout, a server that is restarting).
        retryable: bool,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// The error with the field it names under `prefix` (`items[3]` + `confidence`); errors
    /// that name no field are unchanged.
    #[must_use]
    pub fn under(self, prefix: &str) -> Self {
        match self {
            Error::Invalid { field, rule } => Error::Invalid {
                field: if field.is_empty() {
                    prefix.to_owned()
                } else {
                    format!("{prefix}.{field}")
                },
                rule,
            },
            other => other,
        }
    }

    /// The error with the field it names replaced by `field` (a value parsed for an argument
    /// names the argument); errors that name no field are unchanged.
    #[must_use]
    pub fn under_as(self, field: &str) -> Self {
        match self {
            Error::Invalid { rule, .. } => Error::Invalid {
                field: field.to_owned(),
                rule,
            },
            other => other,
        }
    }

    /// An [`Error::Invalid`] for `field` breaking `rule`.
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// A retryable [`Error::Backend`] of `router`: `what` failed because of `cause` (an engine
    /// that is down, a timeout).
    pub fn unavailable(
        router: &'static str,
        what: impl fmt::Display,
        cause: impl fmt::Display,
    ) -> Self {
        Error::Backend {
            router,
            retryable: true,
            source: format!("{what}: {cause}").into(),
        }
    }

    /// A final (not retryable) [`Error::Backend`] of `router` saying `message`.
    pub fn refused(router: &'static str, message: impl Into<String>) -> Self {
        Error::Backend {
            router,
            retryable: false,
            source: message.into().into(),
        }
    }

    /// An [`Error::Backend`] of `router` caused by `source`.
    pub fn backend(
        router: &'static str,
        retryable: bool,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Backend {
            router,
            retryable,
            source: source.into(),
        }
    }

    /// A retryable [`Error::Backend`] of `router` whose server said to come back after `after`
    /// (an HTTP `Retry-After`); [`Error::retry_after`] reads it back.
    pub fn busy(router: &'static str, message: impl Into<String>, after: Duration) -> Self {
        Error::backend(
            router,
            true,
            RetryAfter {
                after,
                message: message.into(),
            },
        )
    }

    /// How long the server asked to wait before a retry, when it said so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Backend {
                retryable: true,
                source,
                ..
            } => source.downcast_ref::<RetryAfter>().map(|r| r.after),
            _ => None,
        }
    }

    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Backend {
                retryable: true,
                ..
            }
        )
    }
}

/// The cause of an [`Error::busy`]: a server that said when to come back.
#[derive(Debug, thiserror::Error)]
#[error("{message} (come back in {after:?})")]
pub struct RetryAfter {
    /// How long to wait.
    pub after: Duration,
    /// What the server said.
    pub message: String,
}

/// Why a packet's signature was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureFault {
    /// The packet carries no signature where one is required.
    Missing,
    /// No public key is known for the packet's agent.
    UnknownSigner,
    /// The signature is not the agent's signature of this packet (forged, or the packet changed).
    Invalid,
}

impl fmt::Display for SignatureFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureFault::Missing => "a signature is required and the packet has none",
            SignatureFault::UnknownSigner => "no public key is known for this agent",
            SignatureFault::Invalid => {
                "the signature is not this agent's signature of this packet (forged or altered)"
            }
        })
    }
}

struct FieldSizes<'a>(&'a [(String, usize)]);

impl fmt::Display for FieldSizes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, size)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name} ({size} B)")?;
        }
        Ok(())
    }
}

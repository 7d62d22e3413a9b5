//! Who is calling: bearer tokens bound to agent ids.
//!
//! Each token belongs to exactly one agent. A deposit whose packets name another agent is refused
//! (403 `agent_mismatch`) before anything is stored, so an agent id on a node means "deposited
//! with that agent's token".
//!
//! Tokens are never compared directly: the server keeps the SHA-256 digest of each one and looks
//! the digest of the presented token up. Comparing digests leaks nothing useful through timing
//! (an attacker learns about the digest of their own guess, not about the token), and a tokens
//! file may hold digests (`sha256:<hex>`) instead of the tokens themselves.
//!
//! A tokens file is TOML, one `token = "agent"` line per token, or `token = { agent = "…",
//! role = "operator" }` for an operator, who may also forget any agent's packets:
//!
//! ```toml
//! "3f1c9e7e5b0a4d2b8c6f" = "site_01"
//! "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" = "site_02"
//! "a-long-operator-token-0042" = { agent = "ops", role = "operator" }
//! ```

use std::collections::HashMap;
use std::path::Path;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Code};

/// The SHA-256 digest of a token: what the server keeps and what rate limits are keyed by.
pub type TokenDigest = [u8; 32];

/// Shortest token accepted in a tokens file (shorter ones are guessable).
pub const MIN_TOKEN_BYTES: usize = 16;

/// How callers are authenticated.
#[derive(Clone, Debug)]
pub enum Auth {
    /// Every caller must present a known bearer token; it binds them to one agent.
    Tokens(Tokens),
    /// No authentication: anyone may deposit as any agent. For local development only.
    Open,
}

/// What a token may do beyond acting as its agent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Deposits as its agent and forgets only its agent's packets.
    #[default]
    Agent,
    /// Also forgets any agent's packets (erasure requests, quarantine).
    Operator,
}

/// Known tokens, by digest.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    agents: HashMap<TokenDigest, (String, Role)>,
}

/// One entry of a tokens file: an agent id, or an agent and a role.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Entry {
    Agent(String),
    Grant(Grant),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Grant {
    agent: String,
    #[serde(default)]
    role: Role,
}

/// The authenticated caller of one request (a request extension).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The agent the token is bound to (`None` on an open server: any agent).
    pub agent: Option<String>,
    /// What the rate limit counts by: the token's digest (on an open server, the peer address).
    pub key: TokenDigest,
    /// An operator token (or an open node): may forget any agent's packets.
    pub operator: bool,
}

impl Tokens {
    /// No tokens yet.
    pub fn new() -> Self {
        Tokens::default()
    }

    /// Binds `token` to `agent`. A `token` of the form `sha256:<64 hex digits>` is a digest.
    ///
    /// Errors: a token shorter than [`MIN_TOKEN_BYTES`], a malformed digest, an agent id that
    /// is not 1–64 bytes, the same token twice.
    pub fn insert(&mut self, token: &str, agent: &str) -> qis::Result<()> {
        self.insert_as(token, agent, Role::Agent)
    }

    /// Binds `token` to `agent` with `role` (see [`Tokens::insert`]).
    pub fn insert_as(&mut self, token: &str, agent: &str, role: Role) -> qis::Result<()> {
        let digest = match token.strip_prefix("sha256:") {
            Some(hex_digest) => {
                let mut d = [0u8; 32];
                hex::decode_to_slice(hex_digest, &mut d).map_err(|e| {
                    qis::Error::Config(format!(
                        "token digest for agent {agent:?} must be 64 hex digits: {e}"
                    ))
                })?;
                d
            }
            None => {
                if token.len() < MIN_TOKEN_BYTES {
                    return Err(qis::Error::Config(format!(
                        "the token of agent {agent:?} is {} bytes; tokens must be at least {MIN_TOKEN_BYTES}",
                        token.len()
                    )));
                }
                digest(token)
            }
        };
        if agent.is_empty() || agent.len() > qis::packet::MAX_NAME_BYTES {
            return Err(qis::Error::Config(format!(
                "agent ids are 1 to {} bytes, got {agent:?}",
                qis::packet::MAX_NAME_BYTES
            )));
        }
        if self
            .agents
            .insert(digest, (agent.to_owned(), role))
            .is_some()
        {
            return Err(qis::Error::Config(format!(
                "a token is listed twice (the second time for agent {agent:?})"
            )));
        }
        Ok(())
    }

    /// Reads a tokens file (TOML: `"token" = "agent"` per line).
    pub fn from_toml(text: &str) -> qis::Result<Self> {
        let table: HashMap<String, Entry> = toml::from_str(text).map_err(|e| {
            qis::Error::Config(format!(
                "a tokens file holds `\"token\" = \"agent\"` or `\"token\" = {{ agent = \"…\", role = \"operator\" }}` lines: {e}"
            ))
        })?;
        let mut tokens = Tokens::new();
        for (token, entry) in &table {
            match entry {
                Entry::Agent(agent) => tokens.insert(token, agent)?,
                Entry::Grant(g) => tokens.insert_as(token, &g.agent, g.role)?,
            }
        }
        Ok(tokens)
    }

    /// Reads the tokens file at `path`.
    pub fn from_file(path: &Path) -> qis::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            qis::Error::Config(format!(
                "cannot read the tokens file {}: {e}",
                path.display()
            ))
        })?;
        Self::from_toml(&text)
            .map_err(|e| qis::Error::Config(format!("tokens file {}: {e}", path.display())))
    }

    /// How many tokens are known.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether no token is known.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    /// The agent `token` is bound to.
    pub fn agent(&self, token: &str) -> Option<&str> {
        self.agents.get(&digest(token)).map(|(a, _)| a.as_str())
    }
}

/// The SHA-256 digest of a token.
pub fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

impl Auth {
    /// Authenticates a request from its headers (or, for event streams that browsers open
    /// without headers, an `access_token` query parameter). `peer` keys the rate limit of an
    /// open server.
    pub(crate) fn caller(
        &self,
        headers: &HeaderMap,
        query_token: Option<&str>,
        peer: Option<std::net::IpAddr>,
    ) -> Result<Caller, ApiError> {
        match self {
            Auth::Open => {
                let mut key = [0u8; 32];
                if let Some(ip) = peer {
                    let text = ip.to_string();
                    key = digest(&text);
                }
                Ok(Caller {
                    agent: None,
                    key,
                    operator: true,
                })
            }
            Auth::Tokens(tokens) => {
                let token = bearer(headers)?.or(query_token).ok_or_else(|| {
                    ApiError::new(
                        Code::Unauthorized,
                        "this node needs a bearer token: `Authorization: Bearer <token>`",
                    )
                })?;
                let key = digest(token);
                match tokens.agents.get(&key) {
                    Some((agent, role)) => Ok(Caller {
                        agent: Some(agent.clone()),
                        key,
                        operator: *role == Role::Operator,
                    }),
                    None => Err(ApiError::new(
                        Code::Unauthorized,
                        "the bearer token is not known to this node",
                    )),
                }
            }
        }
    }
}

/// The bearer token in `Authorization`, if any; a malformed header is an error.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || {
        ApiError::new(
            Code::Unauthorized,
            "the Authorization header must be `Bearer <token>`",
        )
    };
    let text = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = text.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(malformed());
    }
    Ok(Some(token.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn tokens_bind_agents_by_token_or_digest() {
        let plain = "a-long-enough-token-01";
        let other = "another-long-token-02";
        let text = format!(
            "\"{plain}\" = \"site_01\"\n\"sha256:{}\" = \"site_02\"\n",
            hex::encode(digest(other))
        );
        let auth = Auth::Tokens(Tokens::from_toml(&text).unwrap());
        let c = auth
            .caller(&headers(&format!("Bearer {plain}")), None, None)
            .unwrap();
        assert_eq!(c.agent.as_deref(), Some("site_01"));
        let c = auth
            .caller(&headers(&format!("bearer {other}")), None, None)
            .unwrap();
        assert_eq!(c.agent.as_deref(), Some("site_02"));
        for bad in [
            "Bearer nope-nope-nope-nope",
            "Basic abc",
            "Bearer",
            "Bearer  ",
        ] {
            let e = auth.caller(&headers(bad), None, None).unwrap_err();
            assert_eq!(e.code(), Code::Unauthorized, "{bad}");
        }
        assert_eq!(
            auth.caller(&HeaderMap::new(), None, None)
                .unwrap_err()
                .code(),
            Code::Unauthorized
        );
        let c = auth.caller(&HeaderMap::new(), Some(plain), None).unwrap();
        assert_eq!(c.agent.as_deref(), Some("site_01"));
    }

    #[test]
    fn an_operator_token_is_marked_and_a_bad_role_refused() {
        let text = "\"a-long-operator-token-01\" = { agent = \"ops\", role = \"operator\" }\n\"a-long-agent-token-0002\" = { agent = \"site_02\" }";
        let auth = Auth::Tokens(Tokens::from_toml(text).unwrap());
        let c = auth
            .caller(&headers("Bearer a-long-operator-token-01"), None, None)
            .unwrap();
        assert!(c.operator && c.agent.as_deref() == Some("ops"));
        let c = auth
            .caller(&headers("Bearer a-long-agent-token-0002"), None, None)
            .unwrap();
        assert!(!c.operator);
        assert!(
            Tokens::from_toml("\"a-long-agent-token-0002\" = { agent = \"a\", role = \"root\" }")
                .is_err()
        );
    }

    #[test]
    fn short_tokens_and_duplicates_are_refused() {
        assert!(Tokens::from_toml("\"short\" = \"a\"").is_err());
        assert!(Tokens::from_toml("\"sha256:zz\" = \"a\"").is_err());
        let mut t = Tokens::new();
        t.insert("0123456789abcdef", "a").unwrap();
        assert!(t.insert("0123456789abcdef", "b").is_err());
        assert!(t.insert("0123456789abcdefg", "").is_err());
    }
}

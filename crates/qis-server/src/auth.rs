//! Who is calling: bearer tokens bound to a network and an agent id.
//!
//! Each token belongs to exactly one agent of exactly one network (the default network unless
//! it names another): it reaches that network's routes and no other's. A deposit whose packets name another agent is refused
//! (403 `agent_mismatch`) before anything is stored, so an agent id on a node means "deposited
//! with that agent's token".
//!
//! Tokens are never compared directly: the server keeps the SHA-256 digest of each one and looks
//! the digest of the presented token up. Comparing digests leaks nothing useful through timing
//! (an attacker learns about the digest of their own guess, not about the token), and a tokens
//! file may hold digests (`sha256:<hex>`) instead of the tokens themselves.
//!
//! A tokens file is TOML, one `token = "agent"` line per token of the default network, or
//! `token = { agent = "…", network = "…", role = "operator" }` (each key but `agent` optional)
//! for a token of another network, or an operator, who may also forget any agent's packets in
//! the token's network:
//!
//! ```toml
//! "3f1c9e7e5b0a4d2b8c6f" = "site_01"
//! "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" = "site_02"
//! "a-long-operator-token-0042" = { agent = "ops", role = "operator" }
//! "a-token-of-the-lab-network-7" = { agent = "site_01", network = "lab-eu" }
//! ```

use std::collections::HashMap;
use std::path::Path;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use sha2::{Digest, Sha256};

use serde::Deserialize as _;

use crate::error::{ApiError, Code};
use crate::network::{DEFAULT_NETWORK, check_network_name};

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
    grants: HashMap<TokenDigest, Bound>,
}

/// What one token is bound to.
#[derive(Clone, Debug)]
struct Bound {
    network: String,
    agent: String,
    role: Role,
}

/// One entry of a tokens file: an agent id, or an agent and a role.
#[derive(serde::Deserialize)]
#[serde(
    untagged,
    expecting = "an agent id, or a table with `agent` and optionally `network` and `role`"
)]
enum Entry {
    Agent(String),
    Grant(Grant),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Grant {
    agent: String,
    #[serde(default)]
    network: Option<String>,
    #[serde(default)]
    role: Role,
}

/// The authenticated caller of one request (a request extension).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The agent the token is bound to (`None` on an open server: any agent).
    pub agent: Option<String>,
    /// The network the token is bound to (`None` on an open server: any network).
    pub network: Option<String>,
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

    /// Binds `token` to `agent` of the default network. A `token` of the form
    /// `sha256:<64 hex digits>` is a digest.
    ///
    /// Errors: a token shorter than [`MIN_TOKEN_BYTES`], a malformed digest, an agent id that
    /// is not 1–64 bytes, the same token twice.
    pub fn insert(&mut self, token: &str, agent: &str) -> qis::Result<()> {
        self.insert_as(token, agent, Role::Agent)
    }

    /// Binds `token` to `agent` of the default network with `role` (see [`Tokens::insert`]).
    pub fn insert_as(&mut self, token: &str, agent: &str, role: Role) -> qis::Result<()> {
        self.insert_in(DEFAULT_NETWORK, token, agent, role)
    }

    /// Binds `token` to `agent` of `network` with `role` (see [`Tokens::insert`]; a network
    /// name is `default` or 1–48 ASCII letters, digits, `_` or `-`).
    pub fn insert_in(
        &mut self,
        network: &str,
        token: &str,
        agent: &str,
        role: Role,
    ) -> qis::Result<()> {
        check_network_name(network)
            .map_err(|e| qis::Error::Config(format!("the token of agent {agent:?}: {e}")))?;
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
        let bound = Bound {
            network: network.to_owned(),
            agent: agent.to_owned(),
            role,
        };
        if self.grants.insert(digest, bound).is_some() {
            return Err(qis::Error::Config(format!(
                "a token is listed twice (the second time for agent {agent:?})"
            )));
        }
        Ok(())
    }

    /// Reads a tokens file (TOML: `"token" = "agent"` or `"token" = { agent = "…", network =
    /// "…", role = "operator" }` per line).
    pub fn from_toml(text: &str) -> qis::Result<Self> {
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| qis::Error::Config(format!("a tokens file is TOML: {e}")))?;
        let mut tokens = Tokens::new();
        tokens.extend_from_table(table)?;
        Ok(tokens)
    }

    /// Adds the tokens of a TOML table of the tokens file's shape (`[serve.tokens]` of
    /// `qis.toml`, say).
    pub fn extend_from_table(&mut self, table: toml::Table) -> qis::Result<()> {
        for (token, value) in table {
            let entry = Entry::deserialize(value).map_err(|e| {
                qis::Error::Config(format!(
                    "a token maps to `\"agent\"` or to `{{ agent = \"…\", network = \"…\", role = \"operator\" }}`: {e}"
                ))
            })?;
            match entry {
                Entry::Agent(agent) => self.insert(&token, &agent)?,
                Entry::Grant(g) => self.insert_in(
                    g.network.as_deref().unwrap_or(DEFAULT_NETWORK),
                    &token,
                    &g.agent,
                    g.role,
                )?,
            }
        }
        Ok(())
    }

    /// The networks the tokens are bound to, each once, in order.
    pub fn networks(&self) -> std::collections::BTreeSet<&str> {
        self.grants.values().map(|b| b.network.as_str()).collect()
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
        self.grants.len()
    }

    /// Whether no token is known.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// The agent `token` is bound to.
    pub fn agent(&self, token: &str) -> Option<&str> {
        self.grants.get(&digest(token)).map(|b| b.agent.as_str())
    }

    /// The network `token` is bound to.
    pub fn network(&self, token: &str) -> Option<&str> {
        self.grants.get(&digest(token)).map(|b| b.network.as_str())
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
                    network: None,
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
                match tokens.grants.get(&key) {
                    Some(b) => Ok(Caller {
                        agent: Some(b.agent.clone()),
                        network: Some(b.network.clone()),
                        key,
                        operator: b.role == Role::Operator,
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

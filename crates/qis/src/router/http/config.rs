//! The settings of the HTTP (qis node) router, and how its URL's parameters set them. Always compiled,
//! so that a URL of a backend this build lacks still parses and the error can say what to do.

use std::time::Duration;

use crate::error::Result;
use crate::router::url::parts::{Params, Parts, check_network, config};

/// Settings of the HTTP router (`http://` and `https://` URLs): a qis node.
///
/// `http(s)://host:port?key=value&…`, keys: `network` (one of the networks the node serves,
/// default its default network), `token_env` (the environment variable holding the node's
/// bearer token; default `QIS_TOKEN` when it is set, else no token), `timeout` (longest time one
/// attempt may take, default 30s), `retries` (retries of a transient failure, 0–20, default 4).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct HttpConfig {
    /// The node's base URL, `http(s)://host:port`, without a trailing slash or parameters.
    pub url: String,
    /// The node's network to reach (`None`: its default network, the routes `/v1/…`).
    pub network: Option<String>,
    /// The environment variable that holds the bearer token (`None`: `QIS_TOKEN`, if set).
    pub token_env: Option<String>,
    /// Longest time one attempt of a request may take.
    pub timeout: Duration,
    /// Retries after the first attempt, on transient failures only.
    pub retries: u32,
}

impl HttpConfig {
    /// Defaults for the node at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        HttpConfig {
            url: url.into().trim_end_matches('/').to_owned(),
            network: None,
            token_env: None,
            timeout: Duration::from_secs(30),
            retries: 4,
        }
    }

    /// The bearer token: from the variable [`token_env`](Self::token_env) names (an
    /// [`Error::Config`] when it is not set), else from `QIS_TOKEN` when that is set.
    pub fn token(&self) -> Result<Option<String>> {
        let read = |v: &str| {
            std::env::var(v)
                .ok()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
        };
        match &self.token_env {
            Some(v) => read(v).map(Some).ok_or_else(|| {
                config(format!(
                    "the node's token should be in the environment variable {v}, which is not set"
                ))
            }),
            None => Ok(read("QIS_TOKEN")),
        }
    }
}

/// Reads the URL's parts into the settings.
pub(crate) fn parse_http(text: &str, mut parts: Parts) -> Result<HttpConfig> {
    if parts.hosts.len() != 1 {
        return Err(config("an http(s) router URL names exactly one host"));
    }
    let base = text.split_once('?').map_or(text, |(base, _)| base);
    let mut c = HttpConfig::new(base);
    let mut p = Params::new(&mut parts);
    c.network = p.take("network", |v| Some(v.to_owned()))?;
    if let Some(network) = &c.network {
        check_network(network)?;
    }
    c.token_env = p.take("token_env", |v| (!v.is_empty()).then(|| v.to_owned()))?;
    if let Some(t) = p.duration("timeout")? {
        c.timeout = t;
    }
    if let Some(n) = p.number("retries", 0u32, 20)? {
        c.retries = n;
    }
    p.finish()?;
    Ok(c)
}

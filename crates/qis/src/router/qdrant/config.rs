//! The settings of the Qdrant router, and how its URL's parameters set them. Always compiled,
//! so that a URL of a backend this build lacks still parses and the error can say what to do.

use std::time::Duration;

use crate::error::Result;
use crate::router::url::parts::{DEFAULT_TIMEOUT, Params, Parts, config, with_default_port};

/// Settings of the Qdrant router (`qdrant://` URLs).
///
/// `qdrant://host:6334/NETWORK?key=value&…`, keys: `dimension` (default 384: the collection's
/// vector size, fixed at creation), `replication` (replication factor, default 1),
/// `write_consistency` (default 1), `shards` (default 1), `tls` (`true` for https), `api_key_env`
/// (the environment variable holding the API key), `timeout` (default 10s).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct QdrantConfig {
    /// The gRPC endpoint, `http(s)://host:port`.
    pub endpoint: String,
    /// The network: the collection is `qis_<NETWORK>`.
    pub network: String,
    /// The vector size of the collection.
    pub dimension: usize,
    /// Copies of each shard.
    pub replication_factor: u32,
    /// How many replicas must acknowledge a write.
    pub write_consistency: u32,
    /// Shards of the collection.
    pub shards: u32,
    /// The environment variable that holds the API key, if any.
    pub api_key_env: Option<String>,
    /// Longest wait for any one call.
    pub timeout: Duration,
}

impl QdrantConfig {
    /// Defaults for `endpoint` (`http://host:6334`) and `network`.
    pub fn new(endpoint: impl Into<String>, network: impl Into<String>) -> Self {
        QdrantConfig {
            endpoint: endpoint.into(),
            network: network.into(),
            dimension: 384,
            replication_factor: 1,
            write_consistency: 1,
            shards: 1,
            api_key_env: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Reads the URL's parts into the settings.
pub(crate) fn parse_qdrant(mut parts: Parts) -> Result<QdrantConfig> {
    if parts.hosts.len() != 1 {
        return Err(config("a qdrant:// URL names exactly one host"));
    }
    let mut p = Params::new(&mut parts);
    let tls = p.flag("tls")?.unwrap_or(false);
    let host = with_default_port(&parts.hosts[0], 6334);
    let endpoint = format!("{}://{host}", if tls { "https" } else { "http" });
    let mut c = QdrantConfig::new(endpoint, parts.network.clone());
    if let Some(d) = p.number("dimension", 1usize, crate::router::MAX_DIMENSION)? {
        c.dimension = d;
    }
    if let Some(n) = p.number("replication", 1u32, 100)? {
        c.replication_factor = n;
    }
    if let Some(n) = p.number("write_consistency", 1u32, 100)? {
        c.write_consistency = n;
    }
    if let Some(n) = p.number("shards", 1u32, 1000)? {
        c.shards = n;
    }
    c.api_key_env = p.take("api_key_env", |v| (!v.is_empty()).then(|| v.to_owned()))?;
    if let Some(t) = p.duration("timeout")? {
        c.timeout = t;
    }
    p.finish()?;
    Ok(c)
}

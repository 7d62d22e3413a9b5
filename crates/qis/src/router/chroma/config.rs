//! The settings of the Chroma router, and how its URL's parameters set them. Always compiled,
//! so that a URL of a backend this build lacks still parses and the error can say what to do.

use std::time::Duration;

use crate::error::Result;
use crate::router::url::parts::{DEFAULT_TIMEOUT, Params, Parts, config, with_default_port};

/// Settings of the Chroma router (`chroma://` URLs).
///
/// `chroma://host:8000/NETWORK?key=value&…`, keys: `tenant` (default `default_tenant`),
/// `database` (default `default_database`), `tls` (`true` for https), `timeout` (default 10s).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ChromaConfig {
    /// The server's base URL, `http(s)://host:port`.
    pub base_url: String,
    /// The network: the collections are `qis_<NETWORK>` and `qis_<NETWORK>_vectors`.
    pub network: String,
    /// Chroma tenant.
    pub tenant: String,
    /// Chroma database.
    pub database: String,
    /// Longest wait for any one call.
    pub timeout: Duration,
}

impl ChromaConfig {
    /// Defaults for `base_url` (`http://host:8000`) and `network`.
    pub fn new(base_url: impl Into<String>, network: impl Into<String>) -> Self {
        ChromaConfig {
            base_url: base_url.into(),
            network: network.into(),
            tenant: "default_tenant".into(),
            database: "default_database".into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Reads the URL's parts into the settings.
pub(crate) fn parse_chroma(mut parts: Parts) -> Result<ChromaConfig> {
    if parts.hosts.len() != 1 {
        return Err(config("a chroma:// URL names exactly one host"));
    }
    let mut p = Params::new(&mut parts);
    let tls = p.flag("tls")?.unwrap_or(false);
    let host = with_default_port(&parts.hosts[0], 8000);
    let base = format!("{}://{host}", if tls { "https" } else { "http" });
    let mut c = ChromaConfig::new(base, parts.network.clone());
    let name = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    if let Some(t) = p.take("tenant", name)? {
        c.tenant = t;
    }
    if let Some(d) = p.take("database", name)? {
        c.database = d;
    }
    if let Some(t) = p.duration("timeout")? {
        c.timeout = t;
    }
    p.finish()?;
    Ok(c)
}

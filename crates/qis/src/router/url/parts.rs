//! The grammar every router URL shares: `scheme://[user:pass@]host[:port][,host…][/NETWORK][?k=v&…]`
//! split into its parts, and the parameters taken out one by one, so that an unknown one is an
//! error listing the known ones. Each engine's config parses its own parameters with these.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Error, Result};

/// The network name used when the URL names none.
pub const DEFAULT_NETWORK: &str = "qis";
/// How long one call to a remote engine may take, unless the URL says otherwise (`timeout=`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn config(message: impl Into<String>) -> Error {
    Error::Config(message.into())
}

/// `scheme://[user:pass@]host[:port][,host[:port]…][/path][?query]`, split.
#[derive(Debug)]
pub(crate) struct Parts {
    pub(crate) scheme: String,
    pub(crate) credentials: Option<(String, String)>,
    pub(crate) hosts: Vec<String>,
    pub(crate) network: String,
    pub(crate) params: BTreeMap<String, String>,
}

pub(crate) fn split(text: &str, scheme: &str, rest: &str) -> Result<Parts> {
    let Some(rest) = rest.strip_prefix("//") else {
        return Err(config(format!("{text:?}: expected {scheme}://host:port…")));
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let (credentials, hosts) = match authority.rsplit_once('@') {
        Some((user, hosts)) => {
            let (u, p) = user.split_once(':').unwrap_or((user, ""));
            (Some((u.to_owned(), p.to_owned())), hosts)
        }
        None => (None, authority),
    };
    let hosts: Vec<String> = hosts.split(',').map(|h| h.trim().to_owned()).collect();
    for h in &hosts {
        let (host, port) = match h.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') => (host, Some(port)),
            _ => (h.as_str(), None),
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(config(format!("{text:?}: bad host {h:?}")));
        }
        if let Some(port) = port
            && port.parse::<u16>().map_or(true, |p| p == 0)
        {
            return Err(config(format!("{text:?}: bad port in {h:?}")));
        }
    }
    let network = path.trim_end_matches('/');
    let network = if network.is_empty() {
        DEFAULT_NETWORK.to_owned()
    } else {
        check_network(network)?;
        network.to_owned()
    };
    let mut params = BTreeMap::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if params.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(config(format!("{text:?}: parameter {k:?} given twice")));
        }
    }
    Ok(Parts {
        scheme: scheme.to_ascii_lowercase(),
        credentials,
        hosts,
        network,
        params,
    })
}

/// A network name: 1–48 ASCII letters, digits, `_` or `-` (it becomes part of stream, subject and
/// collection names).
pub fn check_network(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(config(format!(
            "network name {name:?} must be 1 to 48 ASCII letters, digits, '_' or '-'"
        )))
    }
}

/// Takes the known parameters out of `params`, one by one; `finish` refuses what is left.
pub(crate) struct Params {
    scheme: String,
    pub(crate) params: BTreeMap<String, String>,
    known: Vec<&'static str>,
}

impl Params {
    pub(crate) fn new(parts: &mut Parts) -> Self {
        Params {
            scheme: parts.scheme.clone(),
            params: std::mem::take(&mut parts.params),
            known: Vec::new(),
        }
    }

    pub(crate) fn take<T>(
        &mut self,
        key: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>> {
        self.known.push(key);
        match self.params.remove(key) {
            None => Ok(None),
            Some(v) => parse(&v).map(Some).ok_or_else(|| {
                config(format!(
                    "{}:// parameter {key}: cannot use {v:?}",
                    self.scheme
                ))
            }),
        }
    }

    pub(crate) fn number<T: std::str::FromStr + PartialOrd>(
        &mut self,
        key: &'static str,
        min: T,
        max: T,
    ) -> Result<Option<T>> {
        self.take(key, |v| {
            v.parse::<T>().ok().filter(|n| *n >= min && *n <= max)
        })
    }

    pub(crate) fn flag(&mut self, key: &'static str) -> Result<Option<bool>> {
        self.take(key, |v| match v {
            "true" | "1" | "yes" | "" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        })
    }

    pub(crate) fn duration(&mut self, key: &'static str) -> Result<Option<Duration>> {
        self.take(key, parse_duration)
    }

    pub(crate) fn finish(self) -> Result<()> {
        match self.params.keys().next() {
            None => Ok(()),
            Some(k) => Err(config(format!(
                "{}:// has no parameter {k:?}; known: {}",
                self.scheme,
                self.known.join(", ")
            ))),
        }
    }
}

/// `500ms`, `90s`, `30m`, `12h`, `7d`: a whole number and a unit (`ms`, `s`, `m`, `h`, `d`); `None`
/// for anything else, or a span too long for a `u64` of milliseconds. The one duration syntax of
/// qis: router URLs' parameters and the command line's spans.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().ok()?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(n.checked_mul(ms)?))
}

pub(crate) fn with_default_port(host: &str, port: u16) -> String {
    match host.rsplit_once(':') {
        Some((_, p)) if p.parse::<u16>().is_ok() => host.to_owned(),
        _ => format!("{host}:{port}"),
    }
}

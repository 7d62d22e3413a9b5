//! Router URLs: one string picks a backend and configures it, everywhere (CLI, server, simulator).
//!
//! | URL | router | feature |
//! |---|---|---|
//! | `memory:` | [`MemoryRouter`](super::memory::MemoryRouter) | always |
//! | `file:PATH`, `file:///abs/path` | the embedded store in directory `PATH` | `embedded` |
//! | `nats://host:4222[,host2:4222…]/NETWORK?replicas=3` | NATS JetStream | `nats` |
//! | `qdrant://host:6334/NETWORK?dimension=384` | Qdrant (gRPC) | `qdrant` |
//! | `chroma://host:8000/NETWORK` | a Chroma server (HTTP API v2) | `chroma` |
//! | `http://host:port?token_env=VAR`, `https://…` | a remote qis node | `http` |
//!
//! `NETWORK` (default `qis`) names the stream or collection: routers of one network share packets,
//! routers of different networks never see each other's. Query parameters configure the engine
//! (see [`NatsConfig`], [`QdrantConfig`], [`ChromaConfig`]); an unknown parameter is an error
//! that lists the known ones, so a typo never goes unnoticed.
//!
//! ```
//! use qis::router::url::{RouterSpec, parse_url};
//! let spec = parse_url("nats://127.0.0.1:4222,127.0.0.1:4223/trials?replicas=3&max_age=30d")?;
//! let RouterSpec::Nats(nats) = spec else { unreachable!() };
//! assert_eq!(nats.servers, ["127.0.0.1:4222", "127.0.0.1:4223"]);
//! assert_eq!((nats.network.as_str(), nats.replicas), ("trials", 3));
//! assert!(parse_url("nats://localhost/trials?replica=3").is_err()); // a typo is an error
//! # Ok::<(), qis::Error>(())
//! ```
//!
//! A backend whose feature was not compiled in is still parsed (so the error can say what to do),
//! and [`open`] then fails with an [`Error::Config`] naming the feature.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::Router;
use crate::error::{Error, Result};

/// The network name used when the URL names none.
pub const DEFAULT_NETWORK: &str = "qis";
/// How long one call to a remote engine may take, unless the URL says otherwise (`timeout=`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed router URL: which backend, and its settings.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RouterSpec {
    /// `memory:`: packets in this process only.
    Memory,
    /// `file:PATH`: the embedded store in a data directory.
    Embedded {
        /// The data directory.
        dir: PathBuf,
    },
    /// `nats://…`: NATS JetStream.
    Nats(NatsConfig),
    /// `qdrant://…`: Qdrant over gRPC.
    Qdrant(QdrantConfig),
    /// `chroma://…`: a Chroma server.
    Chroma(ChromaConfig),
    /// `http(s)://…`: a remote qis node.
    Http(HttpConfig),
}

/// Settings of the HTTP router (`http://` and `https://` URLs): a qis node.
///
/// `http(s)://host:port?key=value&…`, keys: `token_env` (the environment variable holding the
/// node's bearer token; default `QIS_TOKEN` when it is set, else no token), `timeout` (longest
/// time one attempt may take, default 30s), `retries` (retries of a transient failure, 0–20,
/// default 4).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct HttpConfig {
    /// The node's base URL, `http(s)://host:port`, without a trailing slash or parameters.
    pub url: String,
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

/// Settings of the NATS JetStream router (`nats://` URLs).
///
/// `nats://[user:password@]host:port[,host:port…]/NETWORK?key=value&…`, keys: `replicas` (1–5,
/// default 1), `max_age` (how long JetStream keeps any packet, e.g. `30d`; default: only each
/// packet's own TTL), `max_per_subject` (packets kept per address and per LSH bucket, default
/// 10,000; the oldest go first), `storage` (`file` or `memory`), `lsh_tables` (default 8),
/// `lsh_bits` (default 10), `lsh_probe` (Hamming radius of the buckets a query reads, 0–2,
/// default 1), `dimension` (fix the vector dimension), `timeout` (default 10s).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NatsConfig {
    /// `host:port` of each seed server.
    pub servers: Vec<String>,
    /// User and password, when the URL has them.
    pub credentials: Option<(String, String)>,
    /// The network: the stream is `QIS_<NETWORK>`, its subjects `qis.<NETWORK>.>`.
    pub network: String,
    /// Copies of every message in a cluster.
    pub replicas: usize,
    /// Stream `max_age`: no packet outlives it, whatever its TTL (`None`: unlimited).
    pub max_age: Option<Duration>,
    /// Messages kept per subject (address, LSH bucket); the oldest are dropped first.
    pub max_per_subject: i64,
    /// Keep messages in memory only (`storage=memory`) instead of files.
    pub memory_storage: bool,
    /// LSH tables: more tables, better recall, more writes per vector.
    pub lsh_tables: usize,
    /// Bits (hyperplanes) per table: more bits, smaller buckets.
    pub lsh_bits: usize,
    /// A query reads each table's bucket and those within this Hamming distance.
    pub lsh_probe: usize,
    /// A fixed vector dimension (otherwise the first vector fixes it).
    pub dimension: Option<usize>,
    /// Longest wait for any one call.
    pub timeout: Duration,
}

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

impl NatsConfig {
    /// Defaults for `servers` and `network`.
    pub fn new(servers: Vec<String>, network: impl Into<String>) -> Self {
        NatsConfig {
            servers,
            credentials: None,
            network: network.into(),
            replicas: 1,
            max_age: None,
            max_per_subject: 10_000,
            memory_storage: false,
            lsh_tables: 8,
            lsh_bits: 10,
            lsh_probe: 1,
            dimension: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
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

/// Parses a router URL (see the [module docs](self)). Errors: [`Error::Config`] naming what is
/// wrong (unknown scheme, bad host list, unknown or malformed parameter).
pub fn parse_url(text: &str) -> Result<RouterSpec> {
    let text = text.trim();
    let Some((scheme, rest)) = text.split_once(':') else {
        return Err(config(format!(
            "{text:?} is not a router URL: expected memory:, file:PATH, nats://, qdrant://, chroma:// or http(s)://"
        )));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "memory" => {
            if !(rest.is_empty() || rest == "//") {
                return Err(config(format!(
                    "memory: takes nothing after the colon, got {rest:?}"
                )));
            }
            Ok(RouterSpec::Memory)
        }
        "file" => parse_file(rest).map(|dir| RouterSpec::Embedded { dir }),
        "http" | "https" => parse_http(text, split(text, scheme, rest)?).map(RouterSpec::Http),
        "nats" => parse_nats(split(text, scheme, rest)?).map(RouterSpec::Nats),
        "qdrant" => parse_qdrant(split(text, scheme, rest)?).map(RouterSpec::Qdrant),
        "chroma" => parse_chroma(split(text, scheme, rest)?).map(RouterSpec::Chroma),
        other => Err(config(format!(
            "unknown router scheme {other:?} in {text:?}: expected memory:, file:PATH, nats://, qdrant://, chroma:// or http(s)://"
        ))),
    }
}

/// Opens the router a URL names. Errors: those of [`parse_url`]; [`Error::Config`] when the
/// backend's cargo feature is not compiled in; the backend's own errors when it cannot be reached
/// (retryable [`Error::Backend`]) or holds incompatible data.
pub async fn open(url: &str) -> Result<Arc<dyn Router>> {
    parse_url(url)?.open().await
}

impl RouterSpec {
    /// The backend's name, as in [`Capabilities::name`](super::Capabilities::name).
    pub fn backend(&self) -> &'static str {
        match self {
            RouterSpec::Memory => "memory",
            RouterSpec::Embedded { .. } => "embedded",
            RouterSpec::Nats(_) => "nats",
            RouterSpec::Qdrant(_) => "qdrant",
            RouterSpec::Chroma(_) => "chroma",
            RouterSpec::Http(_) => "http",
        }
    }

    /// The same backend in a separate namespace named by `suffix` (letters, digits, `_`, `-`):
    /// the network `<network>-<suffix>` on an engine, the directory `<dir>/<suffix>` for the
    /// embedded store, a new memory router for `memory:`. Routers of different namespaces never
    /// see each other's packets (the simulator gives each run its own). A qis node (`http`) holds
    /// one network, so it has no namespaces: an error.
    pub fn namespaced(&self, suffix: &str) -> Result<RouterSpec> {
        check_network(suffix)?;
        let network = |base: &str| -> Result<String> {
            let name = format!("{base}-{suffix}");
            check_network(&name)?;
            Ok(name)
        };
        Ok(match self {
            RouterSpec::Memory => RouterSpec::Memory,
            RouterSpec::Embedded { dir } => RouterSpec::Embedded {
                dir: dir.join(suffix),
            },
            RouterSpec::Nats(c) => RouterSpec::Nats(NatsConfig {
                network: network(&c.network)?,
                ..c.clone()
            }),
            RouterSpec::Qdrant(c) => RouterSpec::Qdrant(QdrantConfig {
                network: network(&c.network)?,
                ..c.clone()
            }),
            RouterSpec::Chroma(c) => RouterSpec::Chroma(ChromaConfig {
                network: network(&c.network)?,
                ..c.clone()
            }),
            RouterSpec::Http(c) => {
                return Err(config(format!(
                    "the qis node at {} holds a single network: it cannot give each user a separate namespace",
                    c.url
                )));
            }
        })
    }

    /// Opens the router (see [`open`]).
    pub async fn open(&self) -> Result<Arc<dyn Router>> {
        match self {
            RouterSpec::Memory => Ok(Arc::new(super::memory::MemoryRouter::new())),
            #[cfg(feature = "embedded")]
            RouterSpec::Embedded { dir } => {
                Ok(Arc::new(super::embedded::EmbeddedRouter::open(dir).await?))
            }
            #[cfg(feature = "nats")]
            RouterSpec::Nats(c) => Ok(Arc::new(super::nats::NatsRouter::connect(c.clone()).await?)),
            #[cfg(feature = "qdrant")]
            RouterSpec::Qdrant(c) => Ok(Arc::new(
                super::qdrant::QdrantRouter::connect(c.clone()).await?,
            )),
            #[cfg(feature = "chroma")]
            RouterSpec::Chroma(c) => Ok(Arc::new(
                super::chroma::ChromaRouter::connect(c.clone()).await?,
            )),
            #[cfg(feature = "http")]
            RouterSpec::Http(c) => Ok(Arc::new(
                super::http::HttpRouter::builder(&c.url)
                    .token(c.token()?)
                    .timeout(c.timeout)
                    .retries(c.retries)
                    .connect()
                    .await?,
            )),
            #[allow(unreachable_patterns)]
            other => Err(config(format!(
                "the {0} router is not part of this build: rebuild with the cargo feature `{0}` of qis",
                other.feature(),
            ))),
        }
    }

    fn feature(&self) -> &'static str {
        match self {
            RouterSpec::Embedded { .. } => "embedded",
            other => other.backend(),
        }
    }
}

fn config(message: impl Into<String>) -> Error {
    Error::Config(message.into())
}

fn parse_file(rest: &str) -> Result<PathBuf> {
    let path = match rest.strip_prefix("//") {
        // file:///abs/path or file://localhost/abs/path
        Some(after) => {
            let slash = after.find('/').unwrap_or(after.len());
            let host = &after[..slash];
            if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
                return Err(config(format!(
                    "file:// URLs name a local directory; got host {host:?}"
                )));
            }
            &after[slash..]
        }
        None => rest,
    };
    if path.is_empty() {
        return Err(config("file: needs a directory, as in file:./qis-data"));
    }
    Ok(PathBuf::from(path))
}

/// `scheme://[user:pass@]host[:port][,host[:port]…][/path][?query]`, split.
#[derive(Debug)]
struct Parts {
    scheme: String,
    credentials: Option<(String, String)>,
    hosts: Vec<String>,
    network: String,
    params: BTreeMap<String, String>,
}

fn split(text: &str, scheme: &str, rest: &str) -> Result<Parts> {
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
struct Params {
    scheme: String,
    params: BTreeMap<String, String>,
    known: Vec<&'static str>,
}

impl Params {
    fn new(parts: &mut Parts) -> Self {
        Params {
            scheme: parts.scheme.clone(),
            params: std::mem::take(&mut parts.params),
            known: Vec::new(),
        }
    }

    fn take<T>(
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

    fn number<T: std::str::FromStr + PartialOrd>(
        &mut self,
        key: &'static str,
        min: T,
        max: T,
    ) -> Result<Option<T>> {
        self.take(key, |v| {
            v.parse::<T>().ok().filter(|n| *n >= min && *n <= max)
        })
    }

    fn flag(&mut self, key: &'static str) -> Result<Option<bool>> {
        self.take(key, |v| match v {
            "true" | "1" | "yes" | "" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        })
    }

    fn duration(&mut self, key: &'static str) -> Result<Option<Duration>> {
        self.take(key, parse_duration)
    }

    fn finish(self) -> Result<()> {
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

fn with_default_port(host: &str, port: u16) -> String {
    match host.rsplit_once(':') {
        Some((_, p)) if p.parse::<u16>().is_ok() => host.to_owned(),
        _ => format!("{host}:{port}"),
    }
}

fn parse_nats(mut parts: Parts) -> Result<NatsConfig> {
    let servers = parts
        .hosts
        .iter()
        .map(|h| with_default_port(h, 4222))
        .collect();
    let mut c = NatsConfig::new(servers, parts.network.clone());
    c.credentials = parts.credentials.take();
    let mut p = Params::new(&mut parts);
    if let Some(n) = p.number("replicas", 1usize, 5)? {
        c.replicas = n;
    }
    c.max_age = p.duration("max_age")?;
    if let Some(n) = p.number("max_per_subject", 1i64, i64::MAX)? {
        c.max_per_subject = n;
    }
    if let Some(s) = p.take("storage", |v| match v {
        "file" => Some(false),
        "memory" => Some(true),
        _ => None,
    })? {
        c.memory_storage = s;
    }
    if let Some(n) = p.number("lsh_tables", 1usize, 32)? {
        c.lsh_tables = n;
    }
    if let Some(n) = p.number("lsh_bits", 1usize, 24)? {
        c.lsh_bits = n;
    }
    if let Some(n) = p.number("lsh_probe", 0usize, 2)? {
        c.lsh_probe = n;
    }
    c.dimension = p.number("dimension", 1usize, super::MAX_DIMENSION)?;
    if let Some(t) = p.duration("timeout")? {
        c.timeout = t;
    }
    p.finish()?;
    Ok(c)
}

fn parse_qdrant(mut parts: Parts) -> Result<QdrantConfig> {
    if parts.hosts.len() != 1 {
        return Err(config("a qdrant:// URL names exactly one host"));
    }
    let mut p = Params::new(&mut parts);
    let tls = p.flag("tls")?.unwrap_or(false);
    let host = with_default_port(&parts.hosts[0], 6334);
    let endpoint = format!("{}://{host}", if tls { "https" } else { "http" });
    let mut c = QdrantConfig::new(endpoint, parts.network.clone());
    if let Some(d) = p.number("dimension", 1usize, super::MAX_DIMENSION)? {
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

fn parse_http(text: &str, mut parts: Parts) -> Result<HttpConfig> {
    if parts.hosts.len() != 1 {
        return Err(config("an http(s) router URL names exactly one host"));
    }
    let base = text.split_once('?').map_or(text, |(base, _)| base);
    let mut c = HttpConfig::new(base);
    let mut p = Params::new(&mut parts);
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

fn parse_chroma(mut parts: Parts) -> Result<ChromaConfig> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_separate_networks_and_directories() {
        let nats = parse_url("nats://127.0.0.1:4222/trials?replicas=3").unwrap();
        let RouterSpec::Nats(c) = nats.namespaced("run-7").unwrap() else {
            panic!("still nats")
        };
        assert_eq!((c.network.as_str(), c.replicas), ("trials-run-7", 3));
        assert_eq!(
            parse_url("file:/data").unwrap().namespaced("r1").unwrap(),
            RouterSpec::Embedded {
                dir: "/data/r1".into()
            }
        );
        assert_eq!(
            parse_url("memory:").unwrap().namespaced("x").unwrap(),
            RouterSpec::Memory
        );
        for (url, suffix) in [
            ("http://127.0.0.1:7878", "x"),
            ("chroma://h:8000/n", "a/b"),
            ("qdrant://h:6334/n", &"y".repeat(60)),
        ] {
            assert!(
                parse_url(url).unwrap().namespaced(suffix).is_err(),
                "{url} {suffix}"
            );
        }
    }

    #[test]
    fn every_scheme_parses() {
        assert_eq!(parse_url("memory:").unwrap(), RouterSpec::Memory);
        assert_eq!(
            parse_url("file:./qis-data").unwrap(),
            RouterSpec::Embedded {
                dir: "./qis-data".into()
            }
        );
        assert_eq!(
            parse_url("file:///var/lib/qis").unwrap(),
            RouterSpec::Embedded {
                dir: "/var/lib/qis".into()
            }
        );
        let RouterSpec::Nats(n) = parse_url("nats://u:p@a,b:4223").unwrap() else {
            panic!()
        };
        assert_eq!(n.servers, ["a:4222", "b:4223"]);
        assert_eq!(n.credentials, Some(("u".into(), "p".into())));
        assert_eq!(n.network, DEFAULT_NETWORK);
        let RouterSpec::Qdrant(q) =
            parse_url("qdrant://db/net?dimension=16&replication=2&write_consistency=2&tls=true")
                .unwrap()
        else {
            panic!()
        };
        assert_eq!(q.endpoint, "https://db:6334");
        assert_eq!(
            (q.dimension, q.replication_factor, q.write_consistency),
            (16, 2, 2)
        );
        let RouterSpec::Chroma(c) = parse_url("chroma://127.0.0.1:8123/n1?timeout=500ms").unwrap()
        else {
            panic!()
        };
        assert_eq!(c.base_url, "http://127.0.0.1:8123");
        assert_eq!(c.timeout, Duration::from_millis(500));
        assert_eq!(
            parse_url("https://node.example:8443/").unwrap(),
            RouterSpec::Http(HttpConfig::new("https://node.example:8443"))
        );
        let RouterSpec::Http(h) =
            parse_url("http://127.0.0.1:7878?token_env=SITE_TOKEN&retries=0&timeout=2s").unwrap()
        else {
            panic!()
        };
        assert_eq!(h.url, "http://127.0.0.1:7878");
        assert_eq!(h.token_env.as_deref(), Some("SITE_TOKEN"));
        assert_eq!((h.retries, h.timeout), (0, Duration::from_secs(2)));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, says) in [
            ("redis://x", "unknown router scheme"),
            ("qis-data", "not a router URL"),
            ("nats://h/net?replicas=9", "replicas"),
            ("nats://h/net?replica=3", "known: replicas"),
            ("nats://h:99999", "bad port"),
            ("nats://h/bad.name", "network name"),
            ("qdrant://a,b", "exactly one host"),
            ("file:", "needs a directory"),
            ("file://remote/x", "local directory"),
            ("memory:x", "takes nothing"),
            ("nats://h?timeout=5", "timeout"),
        ] {
            let err = parse_url(url).unwrap_err().to_string();
            assert!(err.contains(says), "{url}: {err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("30d"),
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("x5s"), None);
    }
}

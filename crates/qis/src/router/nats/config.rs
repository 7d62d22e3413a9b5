//! The settings of the NATS JetStream router, and how its URL's parameters set them. Always compiled,
//! so that a URL of a backend this build lacks still parses and the error can say what to do.

use std::time::Duration;

use crate::error::Result;
use crate::router::url::parts::{DEFAULT_TIMEOUT, Params, Parts, with_default_port};

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

/// Reads the URL's parts into the settings.
pub(crate) fn parse_nats(mut parts: Parts) -> Result<NatsConfig> {
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
    c.dimension = p.number("dimension", 1usize, crate::router::MAX_DIMENSION)?;
    if let Some(t) = p.duration("timeout")? {
        c.timeout = t;
    }
    p.finish()?;
    Ok(c)
}

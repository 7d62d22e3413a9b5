//! What a server is allowed to accept: body size, batch size, request time, request rate.

use std::num::NonZeroU32;
use std::time::Duration;

/// The limits a server enforces on every caller. Each has a default that suits one node on a
/// small machine; `qis serve` exposes them as flags.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest request body, in bytes (413 `body_too_large` past it). A batch of 1,000 packets
    /// with 384-d vectors is about 4 MB of JSON.
    pub max_body_bytes: usize,
    /// Most packets in one deposit (422 `batch_too_large` past it).
    pub max_batch: usize,
    /// Longest time a request may take before it is answered 503 `timeout` (streams excepted).
    pub request_timeout: Duration,
    /// Requests per second each token may make (`None`: no limit). Over it: 429 `rate_limited`.
    pub rate_per_second: Option<NonZeroU32>,
    /// How many requests a token may make at once before the rate applies.
    pub rate_burst: NonZeroU32,
    /// Most connections open at once; past it new connections wait to be accepted.
    pub max_connections: usize,
    /// Longest a connection may take to send a request's headers, and longest it may sit idle
    /// between requests, before the node closes it.
    pub header_timeout: Duration,
    /// Most connections open at once from one peer address; past it a new connection from that
    /// address is answered 429 `rate_limited` and closed, so that one peer cannot hold the
    /// connections everyone else needs.
    pub max_connections_per_peer: usize,
    /// Most request-body bytes the node holds at once, across every request (each request
    /// counts its `Content-Length`, or the body limit when it has none). A request that would
    /// pass it waits up to a second for room, then is answered 503 `unavailable`.
    pub max_body_memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 8 * 1024 * 1024,
            max_batch: 1000,
            request_timeout: Duration::from_secs(10),
            rate_per_second: NonZeroU32::new(1000),
            rate_burst: NonZeroU32::new(2000).unwrap_or(NonZeroU32::MIN),
            max_connections: 4096,
            header_timeout: Duration::from_secs(30),
            max_connections_per_peer: 256,
            max_body_memory: 256 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Sets the largest body in bytes.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets the most packets per deposit.
    #[must_use]
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n;
        self
    }

    /// Sets the request timeout.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the most connections open at once (at least 1).
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Sets the most connections open at once from one peer address (at least 1).
    #[must_use]
    pub fn max_connections_per_peer(mut self, n: usize) -> Self {
        self.max_connections_per_peer = n.max(1);
        self
    }

    /// Sets the most request-body bytes held at once across requests (at least the body
    /// limit, so that one largest body always fits).
    #[must_use]
    pub fn max_body_memory(mut self, bytes: usize) -> Self {
        self.max_body_memory = bytes;
        self
    }

    /// Sets the header-read (and idle) timeout of connections.
    #[must_use]
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// Sets the rate per token (`0`: no limit) and its burst.
    #[must_use]
    pub fn rate(mut self, per_second: u32, burst: u32) -> Self {
        self.rate_per_second = NonZeroU32::new(per_second);
        self.rate_burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        self
    }
}

/// What one network may take, on top of the node's [`Limits`] (which apply to every token of
/// every network): a rate for all its callers together, and its own batch size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetworkLimits {
    /// Requests per second of all the network's callers together (`None`: only the per-token
    /// rate). Over it: 429 `rate_limited`, naming the network.
    pub rate_per_second: Option<NonZeroU32>,
    /// How many requests the network may make at once before its rate applies (default: twice
    /// the rate).
    pub rate_burst: Option<NonZeroU32>,
    /// Most packets per deposit in this network (`None`: the node's [`Limits::max_batch`]; a
    /// network's may only be smaller).
    pub max_batch: Option<usize>,
}

impl NetworkLimits {
    /// Sets the network's rate (`0`: none) and its burst (`0`: twice the rate).
    #[must_use]
    pub fn rate(mut self, per_second: u32, burst: u32) -> Self {
        self.rate_per_second = NonZeroU32::new(per_second);
        self.rate_burst = NonZeroU32::new(burst);
        self
    }

    /// Sets the most packets per deposit in the network.
    #[must_use]
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = Some(n.max(1));
        self
    }
}

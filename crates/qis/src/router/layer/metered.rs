//! [`Metered`]: counts what passes through a router.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;

use crate::error::Result;
use crate::router::{
    AddressPage, AddressQuery, Capabilities, Forget, Hits, Query, Receipt, Routed, Router, Stats,
    TextQuery,
};

/// What a [`Metered`] router has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Meter {
    /// Deposit calls that succeeded.
    pub deposits: u64,
    /// Packets in those deposits (before idempotency).
    pub packets_received: u64,
    /// Packets newly stored (`stored: true` receipts).
    pub packets_stored: u64,
    /// Queries answered (exact, vector and text).
    pub queries: u64,
    /// Hits returned by them.
    pub hits: u64,
    /// Wall-clock nanoseconds spent in answered queries.
    pub query_nanos: u64,
    /// Calls of any kind that failed.
    pub errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    deposits: AtomicU64,
    packets_received: AtomicU64,
    packets_stored: AtomicU64,
    queries: AtomicU64,
    hits: AtomicU64,
    query_nanos: AtomicU64,
    errors: AtomicU64,
}

/// Counts calls, packets, hits and errors ([`Meter`]) with relaxed atomics, and forwards.
#[derive(Debug)]
pub struct Metered<R> {
    inner: R,
    counts: Counters,
}

impl<R: Router> Metered<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Metered {
            inner,
            counts: Counters::default(),
        }
    }

    /// The counts so far.
    pub fn meter(&self) -> Meter {
        let c = &self.counts;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Meter {
            deposits: get(&c.deposits),
            packets_received: get(&c.packets_received),
            packets_stored: get(&c.packets_stored),
            queries: get(&c.queries),
            hits: get(&c.hits),
            query_nanos: get(&c.query_nanos),
            errors: get(&c.errors),
        }
    }

    /// The router inside.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    fn counted<T>(&self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            self.counts.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn answered(&self, start: Instant, result: Result<Hits>) -> Result<Hits> {
        let hits = self.counted(result)?;
        let c = &self.counts;
        c.queries.fetch_add(1, Ordering::Relaxed);
        c.hits.fetch_add(hits.len() as u64, Ordering::Relaxed);
        c.query_nanos
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(hits)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<R: Router> Router for Metered<R> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn deposit(&self, packets: &[Routed]) -> Result<Vec<Receipt>> {
        let receipts = self.counted(self.inner.deposit(packets).await)?;
        let c = &self.counts;
        c.deposits.fetch_add(1, Ordering::Relaxed);
        c.packets_received
            .fetch_add(packets.len() as u64, Ordering::Relaxed);
        let stored = receipts.iter().filter(|r| r.stored).count();
        c.packets_stored.fetch_add(stored as u64, Ordering::Relaxed);
        Ok(receipts)
    }
    async fn query(&self, query: &Query) -> Result<Hits> {
        let start = Instant::now();
        let result = self.inner.query(query).await;
        self.answered(start, result)
    }
    async fn query_text(&self, query: &TextQuery) -> Result<Hits> {
        let start = Instant::now();
        let result = self.inner.query_text(query).await;
        self.answered(start, result)
    }
    fn bind_embedder(&self, embedder: &str) -> Result<()> {
        self.inner.bind_embedder(embedder)
    }
    async fn stats(&self) -> Result<Stats> {
        let result = self.inner.stats().await;
        self.counted(result)
    }
    async fn forget(&self, what: &Forget) -> Result<u64> {
        let result = self.inner.forget(what).await;
        self.counted(result)
    }
    async fn addresses(&self, query: &AddressQuery) -> Result<AddressPage> {
        let result = self.inner.addresses(query).await;
        self.counted(result)
    }
    async fn purge_expired(&self) -> Result<u64> {
        let result = self.inner.purge_expired().await;
        self.counted(result)
    }
}

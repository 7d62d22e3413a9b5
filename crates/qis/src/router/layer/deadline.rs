//! [`Deadline`]: every call answers within its deadline, or fails as retryable.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::router::{
    AddressPage, AddressQuery, Capabilities, Forget, Hits, Query, Receipt, Routed, Router, Stats,
    TextQuery,
};

/// How long each kind of call may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// A deposit (one batch).
    pub deposit: Duration,
    /// A query.
    pub query: Duration,
    /// Counting what the router holds.
    pub stats: Duration,
    /// Removing expired packets.
    pub purge: Duration,
}

impl Deadlines {
    /// The same deadline for every call.
    pub fn uniform(timeout: Duration) -> Self {
        Deadlines {
            deposit: timeout,
            query: timeout,
            stats: timeout,
            purge: timeout,
        }
    }

    /// `timeout` times a multiplier for each kind of call (`deposit`, `query`, `stats`, `purge`),
    /// for engines whose batch or whole-collection calls take longer than one request.
    pub fn scaled(timeout: Duration, deposit: u32, query: u32, stats: u32, purge: u32) -> Self {
        Deadlines {
            deposit: timeout.saturating_mul(deposit),
            query: timeout.saturating_mul(query),
            stats: timeout.saturating_mul(stats),
            purge: timeout.saturating_mul(purge),
        }
    }
}

/// Runs `call` with a deadline: no answer within `timeout` is a retryable [`Error::Backend`] of
/// `router` saying what it was doing (the engine may be down or electing a leader).
pub async fn within<T>(
    router: &'static str,
    timeout: Duration,
    what: &str,
    call: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(timeout, call).await {
        Ok(r) => r,
        Err(_) => Err(Error::unavailable(
            router,
            what,
            format!("no answer within {timeout:?}"),
        )),
    }
}

/// A router whose calls each answer within their [`Deadlines`].
#[derive(Debug)]
pub struct Deadline<R> {
    inner: R,
    deadlines: Deadlines,
}

impl<R: Router> Deadline<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, deadlines: Deadlines) -> Self {
        Deadline { inner, deadlines }
    }

    /// The deadlines.
    pub fn deadlines(&self) -> Deadlines {
        self.deadlines
    }

    /// The router inside.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    fn name(&self) -> &'static str {
        self.inner.capabilities().name
    }
}

impl<R> std::ops::Deref for Deadline<R> {
    type Target = R;
    fn deref(&self) -> &R {
        &self.inner
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<R: Router> Router for Deadline<R> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn deposit(&self, packets: &[Routed]) -> Result<Vec<Receipt>> {
        let d = self.deadlines.deposit;
        within(self.name(), d, "depositing", self.inner.deposit(packets)).await
    }
    async fn query(&self, query: &Query) -> Result<Hits> {
        let d = self.deadlines.query;
        within(self.name(), d, "querying", self.inner.query(query)).await
    }
    async fn query_text(&self, query: &TextQuery) -> Result<Hits> {
        let d = self.deadlines.query;
        within(self.name(), d, "querying", self.inner.query_text(query)).await
    }
    fn bind_embedder(&self, embedder: &str) -> Result<()> {
        self.inner.bind_embedder(embedder)
    }
    async fn stats(&self) -> Result<Stats> {
        let d = self.deadlines.stats;
        within(self.name(), d, "counting", self.inner.stats()).await
    }
    async fn forget(&self, what: &Forget) -> Result<u64> {
        // A forget is a delete, as a purge is: it runs within the purge's deadline.
        let d = self.deadlines.purge;
        within(self.name(), d, "forgetting", self.inner.forget(what)).await
    }
    async fn addresses(&self, query: &AddressQuery) -> Result<AddressPage> {
        let d = self.deadlines.query;
        within(
            self.name(),
            d,
            "listing addresses",
            self.inner.addresses(query),
        )
        .await
    }
    async fn purge_expired(&self) -> Result<u64> {
        let d = self.deadlines.purge;
        within(self.name(), d, "purging", self.inner.purge_expired()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_multiplies_each_kind_of_call() {
        let t = Duration::from_millis(500);
        let d = Deadlines::scaled(t, 3, 3, 6, 6);
        assert_eq!(
            (d.deposit, d.query, d.stats, d.purge),
            (t * 3, t * 3, t * 6, t * 6)
        );
        assert_eq!(Deadlines::scaled(t, 1, 1, 1, 1), Deadlines::uniform(t));
    }
}

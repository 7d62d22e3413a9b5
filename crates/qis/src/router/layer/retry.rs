//! [`Retry`]: retryable errors are tried again, with exponential backoff and full jitter.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::router::{
    AddressPage, AddressQuery, Capabilities, Forget, Hits, Query, Receipt, Routed, Router, Stats,
    TextQuery,
};

/// When and how often to try again.
///
/// Only [retryable](crate::Error::is_retryable) errors are retried: an engine or node that is
/// down, slow, restarting or over its rate. The wait before retry `n` (from 0) is drawn uniformly
/// below `min(first_backoff · 2ⁿ, max_backoff)` ("full jitter", so that many clients do not retry
/// in step), or is what the server asked for ([`Error::retry_after`](crate::Error::retry_after)),
/// capped at `max_backoff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first backoff ceiling.
    pub first_backoff: Duration,
    /// The largest wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 4 retries, 50 ms doubling to 2 s.
    fn default() -> Self {
        RetryPolicy {
            retries: 4,
            first_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries are spent; answers its
    /// last result.
    pub async fn run<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut n = 0u32;
        loop {
            match attempt().await {
                Err(e) if e.is_retryable() && n < self.retries => {
                    let wait = self.wait(n, e.retry_after());
                    tracing::debug!(attempt = n, ?wait, what, error = %e, "retrying");
                    tokio::time::sleep(wait).await;
                    n += 1;
                }
                done => return done,
            }
        }
    }

    /// The wait before retry `n`.
    fn wait(&self, n: u32, asked: Option<Duration>) -> Duration {
        if let Some(after) = asked {
            return after.min(self.max_backoff);
        }
        let ceiling = self
            .first_backoff
            .saturating_mul(1 << n.min(16))
            .min(self.max_backoff);
        // Full jitter; a failed draw falls back to the ceiling's half.
        let draw = getrandom::u64().map_or(0.5, |r| (r >> 11) as f64 / (1u64 << 53) as f64);
        ceiling.mul_f64(draw)
    }
}

/// A router whose retryable failures are retried under a [`RetryPolicy`].
///
/// Retrying a deposit is safe: deposits are idempotent on packet ids, so a batch whose first
/// attempt was stored (and whose answer was lost) answers `stored: false` and is stored once.
#[derive(Debug)]
pub struct Retry<R> {
    inner: R,
    policy: RetryPolicy,
}

impl<R: Router> Retry<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, policy: RetryPolicy) -> Self {
        Retry { inner, policy }
    }

    /// The policy.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// The router inside.
    pub fn inner(&self) -> &R {
        &self.inner
    }
}

impl<R> std::ops::Deref for Retry<R> {
    type Target = R;
    fn deref(&self) -> &R {
        &self.inner
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<R: Router> Router for Retry<R> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn deposit(&self, packets: &[Routed]) -> Result<Vec<Receipt>> {
        self.policy
            .run("deposit", || self.inner.deposit(packets))
            .await
    }
    async fn query(&self, query: &Query) -> Result<Hits> {
        self.policy.run("query", || self.inner.query(query)).await
    }
    async fn query_text(&self, query: &TextQuery) -> Result<Hits> {
        self.policy
            .run("query", || self.inner.query_text(query))
            .await
    }
    fn bind_embedder(&self, embedder: &str) -> Result<()> {
        self.inner.bind_embedder(embedder)
    }
    async fn stats(&self) -> Result<Stats> {
        self.policy.run("stats", || self.inner.stats()).await
    }
    async fn forget(&self, what: &Forget) -> Result<u64> {
        // Idempotent: a retry after a lost answer removes nothing more.
        self.policy.run("forget", || self.inner.forget(what)).await
    }
    async fn addresses(&self, query: &AddressQuery) -> Result<AddressPage> {
        self.policy
            .run("addresses", || self.inner.addresses(query))
            .await
    }
    async fn purge_expired(&self) -> Result<u64> {
        self.policy
            .run("purge", || self.inner.purge_expired())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_the_cap_and_honour_the_server() {
        let p = RetryPolicy::default();
        for n in 0..20 {
            let ceiling = p
                .first_backoff
                .saturating_mul(1 << n.min(16))
                .min(p.max_backoff);
            assert!(p.wait(n, None) <= ceiling);
        }
        assert_eq!(
            p.wait(0, Some(Duration::from_millis(700))),
            Duration::from_millis(700)
        );
        assert_eq!(p.wait(0, Some(Duration::from_secs(60))), p.max_backoff);
    }
}

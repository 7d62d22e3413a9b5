//! The router layers: each passes the conformance suite around the memory router, and does its
//! one job (a deadline, retries of retryable errors only, signature checks, counts).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use qis::Error;
use qis::packet::{Address, Packet};
use qis::router::layer::{
    Deadline, Deadlines, Metered, Retry, RetryPolicy, Unsigned, VerifiedOnly,
};
use qis::router::memory::MemoryRouter;
use qis::router::{Capabilities, Hits, Query, Receipt, Routed, Router, Stats, TextQuery};
use qis::sign::{AgentKey, KeyRing};

mod deadline_layer {
    use super::*;
    async fn make() -> Arc<dyn Router> {
        Arc::new(Deadline::new(
            MemoryRouter::new(),
            Deadlines::uniform(Duration::from_secs(5)),
        ))
    }
    qis::conformance_tests!(make());
}

mod retry_layer {
    use super::*;
    async fn make() -> Arc<dyn Router> {
        Arc::new(Retry::new(MemoryRouter::new(), RetryPolicy::default()))
    }
    qis::conformance_tests!(make());
}

mod metered_layer {
    use super::*;
    async fn make() -> Arc<dyn Router> {
        Arc::new(Metered::new(MemoryRouter::new()))
    }
    qis::conformance_tests!(make());
}

/// A router that fails its first `failures` calls of every kind with `error`, or sleeps.
#[derive(Debug)]
struct Flaky {
    inner: MemoryRouter,
    failures: u32,
    calls: AtomicU32,
    retryable: bool,
    sleep: Duration,
}

impl Flaky {
    fn new(failures: u32, retryable: bool) -> Self {
        Flaky {
            inner: MemoryRouter::new(),
            failures,
            calls: AtomicU32::new(0),
            retryable,
            sleep: Duration::ZERO,
        }
    }

    async fn gate(&self) -> qis::Result<()> {
        tokio::time::sleep(self.sleep).await;
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err(Error::backend("flaky", self.retryable, "down for a moment"));
        }
        Ok(())
    }
}

#[async_trait]
impl Router for Flaky {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn deposit(&self, packets: &[Routed]) -> qis::Result<Vec<Receipt>> {
        self.gate().await?;
        self.inner.deposit(packets).await
    }
    async fn query(&self, query: &Query) -> qis::Result<Hits> {
        self.gate().await?;
        self.inner.query(query).await
    }
    async fn query_text(&self, query: &TextQuery) -> qis::Result<Hits> {
        self.inner.query_text(query).await
    }
    fn bind_embedder(&self, embedder: &str) -> qis::Result<()> {
        self.inner.bind_embedder(embedder)
    }
    async fn stats(&self) -> qis::Result<Stats> {
        self.gate().await?;
        self.inner.stats().await
    }
    async fn purge_expired(&self) -> qis::Result<u64> {
        self.inner.purge_expired().await
    }
}

fn address() -> Address {
    Address::from_hex("1dd96c30c27fe860").unwrap()
}

fn packet(agent: &str) -> Packet {
    Packet::builder(agent, "d", address()).build().unwrap()
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        retries: 3,
        first_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    }
}

#[tokio::test]
async fn retries_retry_retryable_errors_only_and_give_up() {
    let r = Retry::new(Flaky::new(2, true), fast());
    let receipts = r.deposit(&[Routed::new(packet("a"))]).await.unwrap();
    assert!(receipts[0].stored);
    assert_eq!(
        r.inner().calls.load(Ordering::SeqCst),
        3,
        "two failures, then success"
    );

    let final_error = Retry::new(Flaky::new(1, false), fast());
    assert!(final_error.stats().await.is_err());
    assert_eq!(
        final_error.inner().calls.load(Ordering::SeqCst),
        1,
        "never retried"
    );

    let down = Retry::new(Flaky::new(100, true), fast());
    let err = down.stats().await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(
        down.inner().calls.load(Ordering::SeqCst),
        4,
        "1 + 3 retries"
    );
}

#[tokio::test]
async fn a_late_answer_is_a_retryable_error_naming_the_call() {
    let slow = Flaky {
        sleep: Duration::from_secs(5),
        ..Flaky::new(0, true)
    };
    let r = Deadline::new(slow, Deadlines::uniform(Duration::from_millis(20)));
    let err = r.query(&Query::exact(address())).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("querying"), "{err}");
}

#[tokio::test]
async fn the_meter_counts_calls_packets_hits_and_errors() {
    let m = Metered::new(MemoryRouter::new());
    let p = Routed::new(packet("a"));
    m.deposit(&[p.clone(), Routed::new(packet("b"))])
        .await
        .unwrap();
    m.deposit(std::slice::from_ref(&p)).await.unwrap();
    assert_eq!(m.query(&Query::exact(address())).await.unwrap().len(), 2);
    assert!(m.query_text(&TextQuery::default()).await.is_err());
    let meter = m.meter();
    assert_eq!(
        (meter.deposits, meter.packets_received, meter.packets_stored),
        (2, 3, 2)
    );
    assert_eq!((meter.queries, meter.hits, meter.errors), (1, 2, 1));
}

#[tokio::test]
async fn only_verified_packets_get_in_or_out() {
    let key = AgentKey::generate().unwrap();
    let mut ring = KeyRing::new();
    ring.insert("a1", key.public()).unwrap();
    let ring = Arc::new(ring);
    let store = Arc::new(MemoryRouter::new());
    let signed = key.sign(packet("a1"));
    let unsigned = packet("a1");
    let stranger = packet("a2");
    store
        .deposit(&[
            Routed::new(signed.clone()),
            Routed::new(unsigned.clone()),
            Routed::new(stranger.clone()),
        ])
        .await
        .unwrap();

    let reader = VerifiedOnly::new(store.clone(), ring.clone(), Unsigned::Pass);
    let hits = reader.query(&Query::exact(address())).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(*hits[0].packet, signed);
    assert_eq!(reader.dropped(), 2);

    // Deposits: a forged signature refuses the batch; unsigned packets pass unless refused.
    let forged = AgentKey::generate().unwrap().sign(packet("a1"));
    let strict = VerifiedOnly::new(store.clone(), ring.clone(), Unsigned::Refuse);
    let before = store.stats().await.unwrap().packets;
    let err = strict
        .deposit(&[Routed::new(key.sign(packet("a1"))), Routed::new(forged)])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Signature { .. }), "{err}");
    let err = strict
        .deposit(&[Routed::new(packet("a1"))])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Signature { .. }), "{err}");
    assert_eq!(
        store.stats().await.unwrap().packets,
        before,
        "nothing stored"
    );
    let lenient = VerifiedOnly::new(store.clone(), ring, Unsigned::Pass);
    assert!(lenient.deposit(&[Routed::new(packet("a1"))]).await.unwrap()[0].stored);
    // Large batches are checked off the async workers, with the same answer.
    let batch: Vec<Routed> = (0..8)
        .map(|_| Routed::new(key.sign(packet("a1"))))
        .collect();
    assert_eq!(strict.deposit(&batch).await.unwrap().len(), 8);
}

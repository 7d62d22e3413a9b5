//! [`VerifiedOnly`]: only packets that carry their agent's valid signature get in or out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::error::Result;
use crate::router::{
    AddressPage, AddressQuery, Capabilities, Forget, Hits, Query, Receipt, Routed, Router, Stats,
    TextQuery,
};
use crate::sign::KeyRing;

/// What [`VerifiedOnly`] does with a deposited packet that has no signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsigned {
    /// Store it (only signed packets are checked).
    Pass,
    /// Refuse the batch ([`SignatureFault::Missing`](crate::sign::SignatureFault::Missing)).
    Refuse,
}

/// A router seen through a [`KeyRing`].
///
/// - **Deposits**: every signed packet must carry its agent's valid signature, and unsigned ones
///   are refused when [`Unsigned::Refuse`]; one packet that fails refuses the whole batch with an
///   [`Error::Signature`](crate::Error::Signature) naming it, before anything is stored.
/// - **Queries** answer only the hits whose packets verify (in order); the others are dropped
///   and counted ([`VerifiedOnly::dropped`]); a [`VerifiedOnly::checking_deposits`] router
///   answers them unchanged.
#[derive(Debug)]
pub struct VerifiedOnly<R> {
    inner: R,
    ring: Arc<KeyRing>,
    unsigned: Unsigned,
    /// Whether answers keep only verified hits.
    reads: bool,
    dropped: AtomicU64,
}

impl<R: Router> VerifiedOnly<R> {
    /// Wraps `inner`, verifying against `ring`.
    pub fn new(inner: R, ring: Arc<KeyRing>, unsigned: Unsigned) -> Self {
        VerifiedOnly {
            inner,
            ring,
            unsigned,
            reads: true,
            dropped: AtomicU64::new(0),
        }
    }

    /// Wraps `inner`, verifying deposits against `ring` and answering queries as `inner` does
    /// (a node checks what it is given, and shows what it holds).
    pub fn checking_deposits(inner: R, ring: Arc<KeyRing>, unsigned: Unsigned) -> Self {
        VerifiedOnly {
            reads: false,
            ..VerifiedOnly::new(inner, ring, unsigned)
        }
    }

    /// The key ring.
    pub fn ring(&self) -> &Arc<KeyRing> {
        &self.ring
    }

    /// Hits left out of answers so far because they did not verify.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The router inside.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// Checks every packet of a batch (see the type's docs).
    pub fn check_batch(&self, packets: &[Routed]) -> Result<()> {
        check_batch(&self.ring, self.unsigned, packets)
    }

    /// Keeps the verified hits.
    fn verified(&self, mut hits: Hits) -> Hits {
        if !self.reads {
            return hits;
        }
        // One check per hit (an ed25519 verification is tens of microseconds); a shared answer is
        // copied only when something must go.
        let keep: Vec<bool> = hits
            .iter()
            .map(|h| self.ring.check(&h.packet).is_ok())
            .collect();
        if keep.iter().all(|k| *k) {
            return hits;
        }
        let mut verdicts = keep.iter();
        let all = hits.to_mut();
        let before = all.len();
        all.retain(|_| verdicts.next().copied().unwrap_or(false));
        let dropped = (before - all.len()) as u64;
        self.dropped.fetch_add(dropped, Ordering::Relaxed);
        tracing::debug!(dropped, "left out packets without a valid signature");
        hits
    }
}

fn check_batch(ring: &KeyRing, unsigned: Unsigned, packets: &[Routed]) -> Result<()> {
    for r in packets {
        if r.packet.signature().is_some() || unsigned == Unsigned::Refuse {
            ring.verify(&r.packet)?;
        }
    }
    Ok(())
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<R: Router> Router for VerifiedOnly<R> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn deposit(&self, packets: &[Routed]) -> Result<Vec<Receipt>> {
        // An ed25519 check costs tens of microseconds: a large batch is checked off the async
        // workers.
        #[cfg(feature = "tokio")]
        if packets.len() > 4 && tokio::runtime::Handle::try_current().is_ok() {
            let (ring, unsigned, batch) = (self.ring.clone(), self.unsigned, packets.to_vec());
            let checked = tokio::task::spawn_blocking(move || check_batch(&ring, unsigned, &batch))
                .await
                .map_err(|e| crate::Error::backend("verified", false, e))?;
            checked?;
            return self.inner.deposit(packets).await;
        }
        self.check_batch(packets)?;
        self.inner.deposit(packets).await
    }
    async fn query(&self, query: &Query) -> Result<Hits> {
        Ok(self.verified(self.inner.query(query).await?))
    }
    async fn query_text(&self, query: &TextQuery) -> Result<Hits> {
        Ok(self.verified(self.inner.query_text(query).await?))
    }
    fn bind_embedder(&self, embedder: &str) -> Result<()> {
        self.inner.bind_embedder(embedder)
    }
    async fn stats(&self) -> Result<Stats> {
        self.inner.stats().await
    }
    async fn forget(&self, what: &Forget) -> Result<u64> {
        self.inner.forget(what).await
    }
    async fn addresses(&self, query: &AddressQuery) -> Result<AddressPage> {
        self.inner.addresses(query).await
    }
    async fn purge_expired(&self) -> Result<u64> {
        self.inner.purge_expired().await
    }
}

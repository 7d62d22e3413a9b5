//! What the node saw arrive: a broadcast of newly stored packets (for event streams) and a
//! bounded record of busy addresses and recent deposits (for the dashboard).
//!
//! The router has no "list addresses" operation (a remote or key-addressed backend may not be
//! able to offer one), so the dashboard shows what arrived through this node since it started.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use qis::packet::{Address, Millis, Packet, now_ms};
use qis::router::{Capabilities, Hits, Query, Receipt, Routed, Router, Stats, TextQuery};
use tokio::sync::broadcast;

use crate::wire::{AddressActivity, RecentDeposit};

/// Most addresses remembered; past it, the least recently used one is forgotten.
const MAX_ADDRESSES: usize = 4096;
/// Most recent deposits remembered.
const MAX_RECENT: usize = 64;
/// Packets an event stream may fall behind by before it is told it lagged.
const CHANNEL: usize = 4096;

#[derive(Debug, Default)]
struct Record {
    addresses: HashMap<Address, (u64, Millis)>,
    recent: VecDeque<RecentDeposit>,
}

/// Newly stored packets, as they arrive.
#[derive(Debug)]
pub(crate) struct Activity {
    tx: broadcast::Sender<Arc<Packet>>,
    record: Mutex<Record>,
}

impl Activity {
    pub(crate) fn new() -> Self {
        let (tx, _) = broadcast::channel(CHANNEL);
        Activity {
            tx,
            record: Mutex::new(Record::default()),
        }
    }

    /// A receiver of every packet stored from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Packet>> {
        self.tx.subscribe()
    }

    /// Records packets just stored (not idempotent repeats).
    pub(crate) fn stored<'a>(&self, packets: impl Iterator<Item = &'a Arc<Packet>>) {
        let now = now_ms();
        let has_subscribers = self.tx.receiver_count() > 0;
        let Ok(mut record) = self.record.lock() else {
            return;
        };
        for p in packets {
            if has_subscribers {
                // An error only means nobody listens any more.
                let _ = self.tx.send(p.clone());
            }
            let entry = record.addresses.entry(*p.address()).or_insert((0, now));
            entry.0 += 1;
            entry.1 = now;
            if record.recent.len() == MAX_RECENT {
                record.recent.pop_back();
            }
            record.recent.push_front(RecentDeposit {
                id: p.id(),
                agent: p.agent().to_owned(),
                domain: p.domain().to_owned(),
                address: *p.address(),
                outcome: p.outcome().as_str().to_owned(),
                confidence: p.confidence(),
                received: now,
            });
        }
        if record.addresses.len() > MAX_ADDRESSES {
            // Forget the least recently used tenth in one pass.
            let mut by_age: Vec<(Millis, Address)> =
                record.addresses.iter().map(|(a, v)| (v.1, *a)).collect();
            let cut = by_age.len() / 10;
            by_age.select_nth_unstable(cut);
            for (_, address) in &by_age[..cut] {
                record.addresses.remove(address);
            }
        }
    }

    /// Drops what was just forgotten from the recent deposits, so that the dashboard never shows
    /// a forgotten packet (the per-address counts of deposits stay: they count, they hold none).
    pub(crate) fn forgotten(&self, what: &qis::router::Forget) {
        let Ok(mut record) = self.record.lock() else {
            return;
        };
        record.recent.retain(|r| {
            let named = (what.ids.is_empty() || what.ids.contains(&r.id))
                && what.agent.as_deref().is_none_or(|a| r.agent == a)
                && what.address.is_none_or(|a| r.address == a);
            !named
        });
    }

    /// The busiest `n` addresses (most deposits first) and the `n` latest deposits.
    pub(crate) fn snapshot(&self, n: usize) -> (Vec<AddressActivity>, Vec<RecentDeposit>) {
        let Ok(record) = self.record.lock() else {
            return (Vec::new(), Vec::new());
        };
        let mut addresses: Vec<AddressActivity> = record
            .addresses
            .iter()
            .map(|(a, (deposits, last))| AddressActivity {
                address: *a,
                deposits: *deposits,
                last: *last,
            })
            .collect();
        addresses.sort_by(|a, b| {
            b.deposits
                .cmp(&a.deposits)
                .then(b.last.cmp(&a.last))
                .then(a.address.cmp(&b.address))
        });
        addresses.truncate(n);
        let recent = record.recent.iter().take(n).cloned().collect();
        (addresses, recent)
    }
}

/// The router deposits go through: it records each newly stored packet in the [`Activity`] and
/// forwards everything.
#[derive(Debug)]
pub(crate) struct Watched {
    pub(crate) inner: Arc<dyn Router>,
    pub(crate) activity: Arc<Activity>,
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Router for Watched {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn deposit(&self, packets: &[Routed]) -> qis::Result<Vec<Receipt>> {
        let receipts = self.inner.deposit(packets).await?;
        if receipts.iter().any(|r| r.stored) {
            self.activity.stored(
                packets
                    .iter()
                    .zip(&receipts)
                    .filter(|(_, r)| r.stored)
                    .map(|(p, _)| &p.packet),
            );
        }
        Ok(receipts)
    }
    async fn query(&self, query: &Query) -> qis::Result<Hits> {
        self.inner.query(query).await
    }
    async fn query_text(&self, query: &TextQuery) -> qis::Result<Hits> {
        self.inner.query_text(query).await
    }
    fn bind_embedder(&self, embedder: &str) -> qis::Result<()> {
        self.inner.bind_embedder(embedder)
    }
    async fn stats(&self) -> qis::Result<Stats> {
        self.inner.stats().await
    }
    async fn forget(&self, what: &qis::router::Forget) -> qis::Result<u64> {
        let removed = self.inner.forget(what).await?;
        self.activity.forgotten(what);
        Ok(removed)
    }
    async fn addresses(
        &self,
        query: &qis::router::AddressQuery,
    ) -> qis::Result<qis::router::AddressPage> {
        self.inner.addresses(query).await
    }
    async fn purge_expired(&self) -> qis::Result<u64> {
        self.inner.purge_expired().await
    }
}

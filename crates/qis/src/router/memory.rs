//! The in-memory router: for tests, simulations and embedding `qis` in another program.
//!
//! Packets live in one map from address to a list kept in `(created, id)` order; vectors are
//! searched exactly (a scan). Nothing survives the process.
//!
//! An address asked twice without a change in between gets a snapshot: its newest live hits (up
//! to [`SNAPSHOT_HITS`]) in one shared, immutable list, so that further unfiltered exact queries
//! answer with one reference count (a [`Hits::shared`]) instead of one per packet. A deposit at
//! the address or a purge drops it; once a packet in it expires, the next query builds it again.
//! Addresses that are deposited to between every two queries never build one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
// Seeded per process like SipHash, and several times faster on 16- and 33-byte keys.
use foldhash::HashMap;

use super::agent_cap::{AgentCap, AgentOf, CappedTop};
use super::{
    AddressInfo, AddressPage, AddressQuery, Capabilities, Filter, Forget, Hit, Hits, Query,
    Receipt, Routed, Router, Stats, Target, Vector, batch_dimension, cosine,
};

/// Most hits a snapshot holds: unfiltered exact queries up to this limit can share one.
pub const SNAPSHOT_HITS: usize = 256;
use crate::error::{Error, Result};
use crate::packet::{Address, Millis, Packet, PacketId, now_ms};

/// Packets in memory, vectors searched exactly.
#[derive(Debug, Default)]
pub struct MemoryRouter {
    inner: RwLock<Inner>,
    /// The embedder whose vectors this router holds, once one is bound.
    embedder: std::sync::OnceLock<String>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Packets by address, in ascending `(created, id)` order: exact queries walk it backwards.
    by_address: HashMap<Address, AddressList>,
    /// Every stored id, for idempotency and conflict checks.
    ids: HashMap<PacketId, Arc<Packet>>,
    /// The dimension of the vectors held, fixed by the first one.
    dimension: Option<usize>,
    vectors: u64,
    /// Forgotten ids, and when each packet would have expired (`Millis::MAX`: never).
    tombstones: HashMap<PacketId, Millis>,
}

/// The packets at one address, and the shared answer of its unfiltered queries.
#[derive(Debug, Default)]
struct AddressList {
    stored: Vec<Stored>,
    /// Built on the second unfiltered query since the list last changed; built again when a
    /// packet in it expires.
    snapshot: RwLock<Option<Snapshot>>,
    /// Whether an unfiltered query has come since the list last changed.
    asked: AtomicBool,
}

#[derive(Debug)]
struct Snapshot {
    /// The newest live hits, newest first.
    hits: Arc<[Hit]>,
    /// Whether `hits` holds every packet that was live when it was built.
    complete: bool,
    /// The earliest expiry among `hits`: from then on the snapshot is stale.
    valid_until: Millis,
    /// The domain of every hit, when they all share one (a query filtered by that domain alone
    /// can then share the snapshot too).
    domain: Option<String>,
    /// The cap per agent it was built with: it answers queries with that cap only.
    per_agent: Option<usize>,
}

impl Snapshot {
    /// The first `limit` hits, for a query filtered by `domain` alone (or not at all) and
    /// capped as this snapshot was built, when this snapshot holds them.
    fn answer(&self, limit: usize, domain: Option<&str>) -> Option<Hits> {
        let domain_ok = domain.is_none_or(|d| self.domain.as_deref() == Some(d));
        (domain_ok && (self.complete || limit <= self.hits.len()))
            .then(|| Hits::shared(self.hits.clone(), limit))
    }
}

impl AddressList {
    /// The list changed: its snapshot no longer holds.
    fn changed(&mut self) {
        *self.snapshot.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
        *self.asked.get_mut() = false;
    }

    /// The shared answer of a query of `limit` at `now` filtered by `domain` alone (or not at
    /// all) and capped at `per_agent`, if there is (or now should be) a snapshot that covers
    /// it. A snapshot holds one cap: a query with another builds it again.
    fn shared(
        &self,
        limit: usize,
        now: Millis,
        domain: Option<&str>,
        per_agent: Option<usize>,
    ) -> Option<Hits> {
        {
            let current = self.snapshot.read().unwrap_or_else(|e| e.into_inner());
            match current.as_ref() {
                Some(s) if now < s.valid_until && s.per_agent == per_agent => {
                    return s.answer(limit, domain);
                }
                // The first unfiltered query since the last change only marks the address.
                None if !self.asked.swap(true, Ordering::Relaxed) => return None,
                _ => {}
            }
        }
        // Asked again since the last change, or a packet in the snapshot has expired: build it.
        let mut current = self.snapshot.write().unwrap_or_else(|e| e.into_inner());
        if current
            .as_ref()
            .is_none_or(|s| now >= s.valid_until || s.per_agent != per_agent)
        {
            *current = Some(self.build_snapshot(now, per_agent));
        }
        current.as_ref()?.answer(limit, domain)
    }

    fn build_snapshot(&self, now: Millis, per_agent: Option<usize>) -> Snapshot {
        let mut hits = Vec::with_capacity(SNAPSHOT_HITS.min(self.stored.len()));
        let mut valid_until = Millis::MAX;
        let mut domain = self.stored.last().map(|s| s.packet.domain());
        let mut cap = AgentCap::new(per_agent);
        let mut live = self
            .stored
            .iter()
            .rev()
            .filter(|s| s.expires > now && cap.admit(s.packet.agent()));
        for s in live.by_ref().take(SNAPSHOT_HITS) {
            valid_until = valid_until.min(s.expires);
            if domain != Some(s.packet.domain()) {
                domain = None;
            }
            hits.push(Hit {
                packet: s.packet.clone(),
                score: 1.0,
            });
        }
        Snapshot {
            complete: live.next().is_none(),
            hits: hits.into(),
            valid_until,
            domain: domain.map(str::to_owned),
            per_agent,
        }
    }
}

#[derive(Debug, Clone)]
struct Stored {
    packet: Arc<Packet>,
    vector: Option<Vector>,
    /// When the packet expires (`Millis::MAX`: never), beside it so that an exact query checks
    /// expiry in the list it walks instead of in each packet's own memory.
    expires: Millis,
}

fn order_key(p: &Packet) -> (Millis, PacketId) {
    (p.created(), p.id())
}

impl MemoryRouter {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated (updates happen after
        // every check), so a poisoned lock is still consistent.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// Checks a whole batch; returns, for each packet, its receipt (`stored`: it is new, and not
    /// a repeat of an earlier packet of the batch).
    fn check_batch(&self, batch: &[Routed], now: Millis) -> Result<Vec<Receipt>> {
        batch_dimension(batch, self.dimension)?;
        let mut fresh: HashMap<PacketId, &Routed> = HashMap::default();
        let mut receipts = Vec::with_capacity(batch.len());
        for routed in batch {
            routed.admit(now)?;
            let id = routed.packet.id();
            if self.tombstones.get(&id).is_some_and(|until| *until > now) {
                return Err(Error::Forgotten { id: id.to_string() });
            }
            let previous = self
                .ids
                .get(&id)
                .map(|p| (p.as_ref(), self.vector_of(p)))
                .or_else(|| {
                    fresh
                        .get(&id)
                        .map(|r| (r.packet.as_ref(), r.vector.as_ref()))
                });
            let stored = match previous {
                Some((p, v)) if p == routed.packet.as_ref() && v == routed.vector.as_ref() => false,
                Some(_) => return Err(Error::Conflict { id: id.to_string() }),
                None => {
                    // A batch of one has no other packet to repeat it.
                    if batch.len() > 1 {
                        fresh.insert(id, routed);
                    }
                    true
                }
            };
            receipts.push(Receipt {
                id,
                address: *routed.packet.address(),
                stored,
            });
        }
        Ok(receipts)
    }

    fn vector_of(&self, packet: &Packet) -> Option<&Vector> {
        let list = &self.by_address.get(packet.address())?.stored;
        let key = order_key(packet);
        let i = list
            .binary_search_by(|s| order_key(&s.packet).cmp(&key))
            .ok()?;
        list[i].vector.as_ref()
    }

    fn insert(&mut self, routed: &Routed) {
        let packet = &routed.packet;
        if let Some(v) = &routed.vector {
            self.dimension = Some(v.len());
            self.vectors += 1;
        }
        self.ids.insert(packet.id(), packet.clone());
        let entry = self.by_address.entry(*packet.address()).or_default();
        entry.changed();
        let list = &mut entry.stored;
        let stored = Stored {
            packet: packet.clone(),
            vector: routed.vector.clone(),
            expires: packet.expires_at().unwrap_or(Millis::MAX),
        };
        let key = order_key(packet);
        if list.last().is_none_or(|s| order_key(&s.packet) < key) {
            list.push(stored);
        } else {
            let at = list.partition_point(|s| order_key(&s.packet) < key);
            list.insert(at, stored);
        }
    }
}

/// A vector hit in the top-k heap: the heap keeps the *worst* on top.
#[derive(Clone, Debug)]
struct Ranked {
    score: f32,
    created: Millis,
    id: PacketId,
    packet: Arc<Packet>,
}

impl Ranked {
    fn key(&self) -> (f32, Millis, PacketId) {
        (self.score, self.created, self.id)
    }
}
impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    /// Reversed: a better hit is "less", so a max-heap holds the worst on top.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let (a, b) = (self.key(), other.key());
        b.0.total_cmp(&a.0)
            .then_with(|| b.1.cmp(&a.1))
            .then_with(|| b.2.cmp(&a.2))
    }
}
impl super::agent_cap::Ranked for Ranked {
    type Agent = AgentOf;
    fn agent(&self) -> AgentOf {
        AgentOf(self.packet.clone())
    }
}

#[async_trait]
impl Router for MemoryRouter {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            vector: true,
            forget: true,
            addresses: true,
            ..Capabilities::new("memory")
        }
    }

    fn bind_embedder(&self, embedder: &str) -> Result<()> {
        let held = self.embedder.get_or_init(|| embedder.to_owned());
        if held == embedder {
            Ok(())
        } else {
            Err(super::embedder_mismatch(
                "this memory router",
                held,
                embedder,
            ))
        }
    }

    async fn deposit(&self, packets: &[Routed]) -> Result<Vec<Receipt>> {
        let now = now_ms();
        let mut inner = self.write();
        let receipts = inner.check_batch(packets, now)?;
        for (routed, receipt) in packets.iter().zip(&receipts) {
            if receipt.stored {
                inner.insert(routed);
            }
        }
        Ok(receipts)
    }

    async fn query(&self, query: &Query) -> Result<Hits> {
        query.validate()?;
        let now = now_ms();
        let inner = self.read();
        match &query.target {
            Target::Address(address) => {
                let Some(entry) = inner.by_address.get(address) else {
                    return Ok(Hits::default());
                };
                // No filter, or a filter by domain alone (what a node's consultation sends), may
                // share the address's snapshot. (Destructured in full, so that a new filter field
                // cannot be overlooked here.)
                let Filter {
                    domain,
                    tags_any,
                    min_confidence,
                    outcomes,
                    since,
                    exclude_agents,
                } = &query.filter;
                let shareable = tags_any.is_empty()
                    && min_confidence.is_none()
                    && outcomes.is_empty()
                    && since.is_none()
                    && exclude_agents.is_empty();
                if shareable
                    && let Some(hits) =
                        entry.shared(query.limit, now, domain.as_deref(), query.max_per_agent)
                {
                    return Ok(hits);
                }
                let unfiltered = shareable && domain.is_none();
                let list = &entry.stored;
                let mut hits = Vec::with_capacity(query.limit.min(list.len()));
                let mut cap = AgentCap::new(query.max_per_agent);
                for s in list.iter().rev() {
                    let keep = if unfiltered {
                        s.expires > now
                    } else {
                        query.filter.matches(&s.packet, now)
                    };
                    if keep && cap.admit(s.packet.agent()) {
                        hits.push(Hit {
                            packet: s.packet.clone(),
                            score: 1.0,
                        });
                        if hits.len() == query.limit {
                            break;
                        }
                    }
                }
                Ok(hits.into())
            }
            Target::Vector(target) => {
                match inner.dimension {
                    Some(d) if d != target.len() => {
                        return Err(Error::Dimension {
                            expected: d,
                            got: target.len(),
                        });
                    }
                    None => return Ok(Hits::default()),
                    Some(_) => {}
                }
                let min_score = query.min_score.unwrap_or(f32::NEG_INFINITY);
                let mut heap = CappedTop::new(query.limit, query.max_per_agent);
                for stored in inner.by_address.values().flat_map(|l| &l.stored) {
                    let Some(v) = &stored.vector else { continue };
                    let score = cosine(target, v);
                    if score < min_score || !query.filter.matches(&stored.packet, now) {
                        continue;
                    }
                    heap.offer(Ranked {
                        score,
                        created: stored.packet.created(),
                        id: stored.packet.id(),
                        packet: stored.packet.clone(),
                    });
                }
                Ok(heap
                    .into_sorted()
                    .into_iter()
                    .map(|r| Hit {
                        packet: r.packet,
                        score: r.score,
                    })
                    .collect())
            }
        }
    }

    async fn stats(&self) -> Result<Stats> {
        let now = now_ms();
        let inner = self.read();
        let expired = inner.ids.values().filter(|p| p.is_expired_at(now)).count() as u64;
        Ok(Stats {
            packets: inner.ids.len() as u64,
            addresses: inner.by_address.len() as u64,
            vectors: inner.vectors,
            expired,
            dimension: inner.dimension,
        })
    }

    async fn forget(&self, what: &Forget) -> Result<u64> {
        what.validate()?;
        let mut inner = self.write();
        let Inner {
            by_address,
            ids,
            vectors,
            tombstones,
            ..
        } = &mut *inner;
        if let (true, Some(agent)) = (what.strict, what.agent.as_deref()) {
            for (i, id) in what.ids.iter().enumerate() {
                if ids.get(id).is_some_and(|p| p.agent() != agent) {
                    return Err(what.not_yours(i));
                }
            }
        }
        // The lists that can hold what is named: an address's, the ids' own, or every one.
        let targets: Option<Vec<Address>> = match (what.address, what.ids.is_empty()) {
            (Some(address), _) => Some(vec![address]),
            (None, false) => Some(
                what.ids
                    .iter()
                    .filter_map(|id| ids.get(id).map(|p| *p.address()))
                    .collect(),
            ),
            (None, true) => None,
        };
        let mut removed = 0u64;
        let mut forget_in = |entry: &mut AddressList| {
            let before = entry.stored.len();
            entry.stored.retain(|s| {
                if !what.matches(&s.packet) {
                    return true;
                }
                ids.remove(&s.packet.id());
                tombstones.insert(s.packet.id(), s.expires);
                if s.vector.is_some() {
                    *vectors -= 1;
                }
                removed += 1;
                false
            });
            if entry.stored.len() != before {
                entry.changed();
            }
        };
        match targets {
            Some(addresses) => {
                for address in addresses {
                    if let Some(entry) = by_address.get_mut(&address) {
                        forget_in(entry);
                        if entry.stored.is_empty() {
                            by_address.remove(&address);
                        }
                    }
                }
            }
            None => by_address.retain(|_, entry| {
                forget_in(entry);
                !entry.stored.is_empty()
            }),
        }
        Ok(removed)
    }

    async fn addresses(&self, query: &AddressQuery) -> Result<AddressPage> {
        query.validate()?;
        let now = now_ms();
        let inner = self.read();
        let all = inner
            .by_address
            .iter()
            .filter_map(|(address, list)| {
                let mut live = list.stored.iter().filter(|s| s.expires > now);
                // The list is in `(created, id)` order: its last live packet is the newest.
                let newest = live.clone().next_back()?;
                Some(AddressInfo {
                    address: *address,
                    packets: live.by_ref().count() as u64,
                    last: newest.packet.created(),
                    domain: newest.packet.domain().to_owned(),
                })
            })
            .collect();
        query.page(all)
    }

    async fn purge_expired(&self) -> Result<u64> {
        let now = now_ms();
        let mut inner = self.write();
        // A tombstone is kept until its packet would have expired.
        inner.tombstones.retain(|_, until| *until > now);
        let Inner {
            by_address,
            ids,
            vectors,
            ..
        } = &mut *inner;
        let mut removed = 0u64;
        by_address.retain(|_, entry| {
            let before = entry.stored.len();
            entry.stored.retain(|s| {
                if s.packet.is_expired_at(now) {
                    ids.remove(&s.packet.id());
                    if s.vector.is_some() {
                        *vectors -= 1;
                    }
                    removed += 1;
                    false
                } else {
                    true
                }
            });
            if entry.stored.len() != before {
                entry.changed();
            }
            !entry.stored.is_empty()
        });
        Ok(removed)
    }
}

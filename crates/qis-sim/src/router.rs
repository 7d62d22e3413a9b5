//! Router wrappers the simulator puts around the real [`MemoryRouter`](qis::router::memory):
//! one concern each, every [`Router`] method forwarded.
//!
//! - [`Stamped`] gives every deposited packet a simulated creation time and an id made from it.
//!   Packets made by [`Node`](qis::node::Node) carry the wall clock and a random UUID v7; exact
//!   queries return newest first by `(created, id)`, so which packets fill a query's window would
//!   otherwise vary from run to run. With the stamp, a run is a pure function of its seed.
//! - [`Metered`] counts what each query costs the router: hits and bytes returned, and how many
//!   stored packets the memory router walks to answer (see [`Meter`]).
//! - [`CachedEmbedder`] remembers the vectors of the few problem texts a world has.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use qis::embed::Embedder;
use qis::packet::{Address, Millis, Packet, PacketId};
use qis::router::{Capabilities, Hits, Query, Receipt, Routed, Router, Stats, Target, TextQuery};
use qis::{Error, Result};

/// Simulated time starts here (2023-11-14, ms since the epoch): in the past, so routers admit it.
pub const EPOCH_MS: Millis = 1_700_000_000_000;

/// Re-stamps every deposited packet with a simulated clock (one millisecond per packet) and an id
/// made from that time, then forwards it.
#[derive(Debug)]
pub struct Stamped<R> {
    inner: R,
    /// Packets stamped so far; the next one is created at `EPOCH_MS + clock`.
    clock: Mutex<u64>,
}

impl<R: Router> Stamped<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Stamped {
            inner,
            clock: Mutex::new(0),
        }
    }
}

/// `packet` with a new id and creation time, every other field kept.
fn restamp(p: &Packet, tick: u64) -> Result<Packet> {
    let created = EPOCH_MS + tick;
    let mut counter = [0u8; 10];
    counter[2..].copy_from_slice(&tick.to_be_bytes());
    let uuid = uuid::Builder::from_unix_timestamp_millis(created, &counter).into_uuid();
    let mut b = Packet::builder(p.agent(), p.domain(), *p.address())
        .id(PacketId::from_uuid(uuid)?)
        .created(created)
        .outcome(p.outcome())
        .confidence(p.confidence())
        .results(p.result().clone())
        .summary(p.summary())
        .tags(p.tags().iter().cloned())
        .derived_from(p.derived_from().to_vec());
    if let Some(problem) = p.problem() {
        b = b.problem(problem);
    }
    if let Some(ttl) = p.ttl() {
        b = b.ttl_secs(ttl);
    }
    b.build()
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<R: Router> Router for Stamped<R> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn deposit(&self, packets: &[Routed]) -> Result<Vec<Receipt>> {
        let stamped = {
            let mut clock = self.clock.lock().unwrap_or_else(|e| e.into_inner());
            let mut out = Vec::with_capacity(packets.len());
            for r in packets {
                out.push(Routed {
                    packet: Arc::new(restamp(&r.packet, *clock)?),
                    vector: r.vector.clone(),
                });
                *clock += 1;
            }
            out
        };
        self.inner.deposit(&stamped).await
    }
    async fn query(&self, query: &Query) -> Result<Hits> {
        self.inner.query(query).await
    }
    async fn query_text(&self, query: &TextQuery) -> Result<Hits> {
        self.inner.query_text(query).await
    }
    fn bind_embedder(&self, embedder: &str) -> Result<()> {
        self.inner.bind_embedder(embedder)
    }
    async fn stats(&self) -> Result<Stats> {
        self.inner.stats().await
    }
    async fn forget(&self, what: &qis::router::Forget) -> Result<u64> {
        self.inner.forget(what).await
    }
    async fn addresses(
        &self,
        query: &qis::router::AddressQuery,
    ) -> Result<qis::router::AddressPage> {
        self.inner.addresses(query).await
    }
    async fn purge_expired(&self) -> Result<u64> {
        self.inner.purge_expired().await
    }
}

/// What queries and deposits cost, counted by [`Metered`].
///
/// `examined` follows what [`MemoryRouter`](qis::router::memory::MemoryRouter) does: an exact
/// query looks the address up in a hash map and walks its packets newest first until `limit`
/// pass the filter (so it counts the walk, not the map lookup); a vector query computes the cosine
/// of every stored packet's vector (so it counts every packet stored).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Meter {
    /// Queries answered.
    pub queries: u64,
    /// Packets returned.
    pub hits: u64,
    /// MessagePack bytes of the packets returned.
    pub bytes_returned: u64,
    /// Stored packets the router looked at to answer.
    pub examined: u64,
    /// Packets deposited.
    pub deposits: u64,
    /// MessagePack bytes of the packets deposited.
    pub bytes_deposited: u64,
    /// Wall-clock nanoseconds spent in queries (not deterministic: kept out of reports that are).
    pub query_nanos: u64,
}

impl Meter {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Meter) {
        self.queries += other.queries;
        self.hits += other.hits;
        self.bytes_returned += other.bytes_returned;
        self.examined += other.examined;
        self.deposits += other.deposits;
        self.bytes_deposited += other.bytes_deposited;
        self.query_nanos += other.query_nanos;
    }
}

/// What only the simulation's cost model needs; the plain counts come from the library's
/// [`qis::router::layer::Metered`].
#[derive(Debug, Default)]
struct Ledger {
    /// MessagePack bytes returned and deposited, and packets examined.
    bytes_returned: u64,
    bytes_deposited: u64,
    examined: u64,
    /// Each stored packet: its encoded size and its position in its address's list.
    packets: HashMap<PacketId, (u32, u32)>,
    /// Packets stored per address.
    per_address: HashMap<Address, u32>,
    /// Packets stored in all.
    total: u64,
}

/// Counts each query's cost (see [`Meter`]) and forwards it: the library's
/// [`Metered`](qis::router::layer::Metered) counts calls, packets, hits and time; this layer adds
/// the bytes and the packets examined.
///
/// Positions assume packets arrive in `(created, id)` order, which [`Stamped`] guarantees.
#[derive(Debug)]
pub struct Metered<R> {
    inner: qis::router::layer::Metered<R>,
    ledger: Mutex<Ledger>,
}

impl<R: Router> Metered<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Metered {
            inner: qis::router::layer::Metered::new(inner),
            ledger: Mutex::new(Ledger::default()),
        }
    }

    /// The counts so far.
    pub fn meter(&self) -> Meter {
        let counts = self.inner.meter();
        let ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        Meter {
            queries: counts.queries,
            hits: counts.hits,
            bytes_returned: ledger.bytes_returned,
            examined: ledger.examined,
            deposits: counts.packets_stored,
            bytes_deposited: ledger.bytes_deposited,
            query_nanos: counts.query_nanos,
        }
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<R: Router> Router for Metered<R> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn deposit(&self, packets: &[Routed]) -> Result<Vec<Receipt>> {
        let receipts = self.inner.deposit(packets).await?;
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        for (r, receipt) in packets.iter().zip(&receipts) {
            if !receipt.stored {
                continue;
            }
            let size = r.packet.encoded_len() as u32;
            let position = ledger.per_address.entry(*r.packet.address()).or_default();
            let at = *position;
            *position += 1;
            ledger.packets.insert(r.packet.id(), (size, at));
            ledger.total += 1;
            ledger.bytes_deposited += u64::from(size);
        }
        Ok(receipts)
    }
    async fn query(&self, query: &Query) -> Result<Hits> {
        let hits = self.inner.query(query).await?;
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        let mut bytes = 0u64;
        for hit in &hits {
            bytes += u64::from(ledger.packets.get(&hit.packet.id()).map_or(0, |p| p.0));
        }
        let examined = match &query.target {
            Target::Vector(_) => ledger.total,
            Target::Address(address) => {
                let stored = u64::from(ledger.per_address.get(address).copied().unwrap_or(0));
                match hits.last() {
                    // The walk stopped at the last hit: everything newer was looked at.
                    Some(last) if hits.len() == query.limit => {
                        let at = ledger.packets.get(&last.packet.id()).map_or(0, |p| p.1);
                        stored - u64::from(at)
                    }
                    // Fewer hits than the limit: the whole list was walked.
                    _ => stored,
                }
            }
        };
        ledger.bytes_returned += bytes;
        ledger.examined += examined;
        Ok(hits)
    }
    async fn query_text(&self, query: &TextQuery) -> Result<Hits> {
        self.inner.query_text(query).await
    }
    fn bind_embedder(&self, embedder: &str) -> Result<()> {
        self.inner.bind_embedder(embedder)
    }
    async fn stats(&self) -> Result<Stats> {
        self.inner.stats().await
    }
    async fn forget(&self, what: &qis::router::Forget) -> Result<u64> {
        self.inner.forget(what).await
    }
    async fn addresses(
        &self,
        query: &qis::router::AddressQuery,
    ) -> Result<qis::router::AddressPage> {
        self.inner.addresses(query).await
    }
    async fn purge_expired(&self) -> Result<u64> {
        self.inner.purge_expired().await
    }
}

/// An [`Embedder`] that remembers the vectors of the texts it has embedded.
#[derive(Debug)]
pub struct CachedEmbedder<E> {
    inner: E,
    cache: Mutex<HashMap<String, Vec<f32>>>,
}

impl<E: Embedder> CachedEmbedder<E> {
    /// Wraps `inner`.
    pub fn new(inner: E) -> Self {
        CachedEmbedder {
            inner,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

impl<E: Embedder> Embedder for CachedEmbedder<E> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn dimension(&self) -> usize {
        self.inner.dimension()
    }
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(texts.len());
        for text in texts {
            if let Some(v) = cache.get(*text) {
                out.push(v.clone());
                continue;
            }
            let v = self.inner.embed(text)?;
            cache.insert((*text).to_owned(), v.clone());
            out.push(v);
        }
        Ok(out)
    }
    fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let mut v = self.embed_batch(&[text])?;
        v.pop()
            .ok_or_else(|| Error::invalid("text", "the embedder returned no vector"))
    }
}

//! The routing layer: a [`Router`] stores packets at addresses and answers queries.
//!
//! Every router passes the same conformance suite ([`crate::conformance`]), skipping only what its
//! [`Capabilities`] say it cannot do. The contract, which the suite pins:
//!
//! - **Deposits are idempotent on the packet id.** Depositing the same packet again stores nothing
//!   and answers a receipt with `stored: false`; the same id with different content is an
//!   [`Error::Conflict`] and changes nothing.
//! - **A batch is all or nothing**: if one packet is refused (expired, a vector of the wrong
//!   dimension, a conflict), the error names it and no packet of the batch is stored.
//! - **Expired packets are never returned**, whether or not they were purged yet.
//! - **Exact queries return newest first** (by `created`, then id); **vector queries best score
//!   first** (cosine similarity, then newest).
//! - Filters narrow before `limit` counts: a query returns `limit` matching packets when that many
//!   exist.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::packet::{Address, MAX_NAME_BYTES, Millis, Outcome, Packet, PacketId};

mod addresses;
pub(crate) mod agent_cap;
mod forget;
pub mod layer;
pub mod memory;
pub mod url;

#[cfg(feature = "embedded")]
pub mod embedded;

pub mod nats;

pub mod chroma;

pub mod qdrant;

pub mod http;

pub use crate::vector::{MAX_DIMENSION, Vector, cosine, unit_vector};
pub use addresses::{
    AddressInfo, AddressPage, AddressQuery, DEFAULT_ADDRESS_PAGE, MAX_ADDRESS_PAGE, Position, tally,
};
pub use forget::{Forget, MAX_FORGET_IDS};

/// Largest `limit` of one query.
pub const MAX_LIMIT: usize = 10_000;
/// The default `limit`: the seed's.
pub const DEFAULT_LIMIT: usize = 50;
/// How many packets of one agent a consultation takes by default ([`Query::max_per_agent`]):
/// `Node` and [`Qis::synthesize`](crate::setup::Qis::synthesize) use it, plain queries do not.
/// docs/claim.md measures the choice.
pub const DEFAULT_MAX_PER_AGENT: usize = 3;
/// How far in the future a packet's `created` may be (clock skew between agents).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// A packet on its way into a router: the packet and, for semantic routing, its vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Routed {
    /// The packet.
    pub packet: Arc<Packet>,
    /// Its embedding (unit length), if it is routed semantically too.
    pub vector: Option<Vector>,
}

impl Routed {
    /// A packet routed by its address only.
    pub fn new(packet: impl Into<Arc<Packet>>) -> Self {
        Routed {
            packet: packet.into(),
            vector: None,
        }
    }

    /// A packet routed by its address and a vector (checked and scaled to unit length).
    pub fn with_vector(packet: impl Into<Arc<Packet>>, vector: &[f32]) -> Result<Self> {
        Ok(Routed {
            packet: packet.into(),
            vector: Some(unit_vector("vector", vector)?),
        })
    }

    /// What tells two deposits of one packet id apart: the digest of the packet's MessagePack
    /// encoding and its vector (see [`content_digest`]).
    pub fn digest(&self) -> u128 {
        content_digest(&self.packet.to_msgpack(), self.vector.as_deref())
    }

    /// Whether a router may store it at `now`: not expired, not created in the far future.
    /// Routers call this on every packet of a batch before storing any of them.
    pub fn admit(&self, now: Millis) -> Result<()> {
        let p = &self.packet;
        if let Some(expires) = p.expires_at()
            && expires <= now
        {
            return Err(Error::invalid(
                "ttl",
                format!(
                    "packet {} expired {} ms before it was deposited",
                    p.id(),
                    now - expires
                ),
            ));
        }
        let skew = MAX_CLOCK_SKEW.as_millis() as u64;
        if p.created() > now.saturating_add(skew) {
            return Err(Error::invalid(
                "created",
                format!(
                    "packet {} is dated {} ms in the future (at most {} s of clock skew)",
                    p.id(),
                    p.created() - now,
                    MAX_CLOCK_SKEW.as_secs()
                ),
            ));
        }
        Ok(())
    }
}

/// The vector dimension a batch leaves the router with: every vector in `batch` must have the
/// router's dimension `held` (or, when it holds none yet, the first vector's). Routers call this
/// on the whole batch before storing any of it.
pub fn batch_dimension(batch: &[Routed], held: Option<usize>) -> Result<Option<usize>> {
    let mut dimension = held;
    for v in batch.iter().filter_map(|r| r.vector.as_ref()) {
        match dimension {
            Some(d) if d != v.len() => {
                return Err(Error::Dimension {
                    expected: d,
                    got: v.len(),
                });
            }
            _ => dimension = Some(v.len()),
        }
    }
    Ok(dimension)
}

/// The digest of a deposit's content: xxh3-128 of a packet's MessagePack encoding `body` followed
/// by its vector's little-endian floats. Engines that keep no packet to compare keep this, to
/// tell an idempotent repeat of an id from a conflicting one (Chroma and Qdrant store it as 32
/// hex digits).
pub fn content_digest(body: &[u8], vector: Option<&[f32]>) -> u128 {
    let mut bytes = body.to_vec();
    for x in vector.unwrap_or_default() {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    xxhash_rust::xxh3::xxh3_128(&bytes)
}

/// What a router says about one deposited packet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The packet's id.
    pub id: PacketId,
    /// Where it was stored.
    pub address: Address,
    /// `false` when the router already held this packet (an idempotent repeat).
    pub stored: bool,
}

/// What a query looks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// Every packet at this address, newest first.
    Address(Address),
    /// The packets whose vectors are nearest this one (unit length), best first.
    Vector(Vector),
}

/// Most tags a [`Filter::tags_any`] names.
pub const MAX_FILTER_TAGS: usize = 64;
/// Most outcomes a [`Filter::outcomes`] names.
pub const MAX_FILTER_OUTCOMES: usize = 16;
/// Most agents a [`Filter::exclude_agents`] names.
pub const MAX_FILTER_AGENTS: usize = 256;

/// Narrows a query. Every condition set must hold; empty lists and `None` mean "any".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Filter {
    /// Only packets of this domain.
    pub domain: Option<String>,
    /// Only packets carrying at least one of these tags.
    pub tags_any: Vec<String>,
    /// Only packets at least this confident.
    pub min_confidence: Option<f32>,
    /// Only packets with one of these outcomes.
    pub outcomes: Vec<Outcome>,
    /// Only packets created at or after this time (ms since the epoch).
    pub since: Option<Millis>,
    /// Never packets from these agents.
    pub exclude_agents: Vec<String>,
}

impl Filter {
    /// Whether `packet` passes this filter and is not expired at `now`.
    pub fn matches(&self, packet: &Packet, now: Millis) -> bool {
        !packet.is_expired_at(now)
            && self.domain.as_deref().is_none_or(|d| packet.domain() == d)
            && (self.tags_any.is_empty() || packet.tags().iter().any(|t| self.tags_any.contains(t)))
            && self.min_confidence.is_none_or(|c| packet.confidence() >= c)
            && (self.outcomes.is_empty() || self.outcomes.contains(&packet.outcome()))
            && self.since.is_none_or(|s| packet.created() >= s)
            && !self.exclude_agents.iter().any(|a| a == packet.agent())
    }

    /// Checks the conditions: a confidence from 0 to 1, and lists and names within their
    /// bounds ([`MAX_FILTER_TAGS`], [`MAX_FILTER_OUTCOMES`], [`MAX_FILTER_AGENTS`]), so that no
    /// filter makes a query's cost grow without bound. Errors: [`Error::Invalid`] naming the
    /// field.
    pub fn validate(&self) -> Result<()> {
        /// A list of at most `max` names, each of at most [`MAX_NAME_BYTES`].
        fn names(field: &str, list: &[String], max: usize) -> Result<()> {
            if list.len() > max {
                return Err(Error::invalid(
                    field,
                    format!("at most {max} entries, got {}", list.len()),
                ));
            }
            match list.iter().position(|n| n.len() > MAX_NAME_BYTES) {
                Some(i) => Err(Error::invalid(
                    format!("{field}[{i}]"),
                    format!("at most {MAX_NAME_BYTES} bytes, got {}", list[i].len()),
                )),
                None => Ok(()),
            }
        }
        names("tags_any", &self.tags_any, MAX_FILTER_TAGS)?;
        if self.outcomes.len() > MAX_FILTER_OUTCOMES {
            return Err(Error::invalid(
                "outcomes",
                format!(
                    "at most {MAX_FILTER_OUTCOMES} entries, got {}",
                    self.outcomes.len()
                ),
            ));
        }
        names("exclude_agents", &self.exclude_agents, MAX_FILTER_AGENTS)?;
        if let Some(d) = &self.domain
            && d.len() > MAX_NAME_BYTES
        {
            return Err(Error::invalid(
                "domain",
                format!("at most {MAX_NAME_BYTES} bytes, got {}", d.len()),
            ));
        }
        if let Some(c) = self.min_confidence
            && !(c.is_finite() && (0.0..=1.0).contains(&c))
        {
            return Err(Error::invalid(
                "min_confidence",
                format!("must be a number from 0 to 1, got {c}"),
            ));
        }
        Ok(())
    }
}

/// A query: an exact address or a vector, a filter, and a limit (for vectors, the top k).
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// What to look for.
    pub target: Target,
    /// Conditions every returned packet meets.
    pub filter: Filter,
    /// At most this many hits (1 to [`MAX_LIMIT`]); for vector queries, the top k.
    pub limit: usize,
    /// Vector queries only: no hit scores below this cosine similarity.
    pub min_score: Option<f32>,
    /// At most this many hits from one agent (1 to [`MAX_LIMIT`]), each agent's first in the
    /// answer's order (its newest, or its best scored), so that one agent's packets cannot fill
    /// the answer. The answer still holds `limit` hits when that many pass this cap and the
    /// filter. `None`: any number.
    pub max_per_agent: Option<usize>,
}

impl Query {
    /// All packets at `address`, newest first, at most [`DEFAULT_LIMIT`].
    pub fn exact(address: Address) -> Self {
        Query {
            target: Target::Address(address),
            filter: Filter::default(),
            limit: DEFAULT_LIMIT,
            min_score: None,
            max_per_agent: None,
        }
    }

    /// The `top_k` packets nearest `vector` (checked and scaled to unit length), best first.
    pub fn nearest(vector: &[f32], top_k: usize) -> Result<Self> {
        Ok(Query {
            target: Target::Vector(unit_vector("query vector", vector)?),
            filter: Filter::default(),
            limit: top_k,
            min_score: None,
            max_per_agent: None,
        })
    }

    /// Sets the limit (top k for vector queries).
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Replaces the filter.
    #[must_use]
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Sets the smallest score of a vector hit.
    #[must_use]
    pub fn min_score(mut self, min_score: f32) -> Self {
        self.min_score = Some(min_score);
        self
    }

    /// Gives at most `max` hits from one agent (see [`Query::max_per_agent`]).
    #[must_use]
    pub fn max_per_agent(mut self, max: usize) -> Self {
        self.max_per_agent = Some(max);
        self
    }

    /// The query a consultation sends: capped at [`DEFAULT_MAX_PER_AGENT`] packets per agent
    /// unless it names its own `max_per_agent`.
    #[must_use]
    pub fn for_consultation(mut self) -> Self {
        self.max_per_agent.get_or_insert(DEFAULT_MAX_PER_AGENT);
        self
    }

    /// Checks the limit, `max_per_agent`, the filter and `min_score`. Routers call this before
    /// anything else.
    pub fn validate(&self) -> Result<()> {
        check_limits(self.limit, self.max_per_agent)?;
        if let Some(s) = self.min_score {
            if !(s.is_finite() && (-1.0..=1.0).contains(&s)) {
                return Err(Error::invalid(
                    "min_score",
                    format!("must be a cosine similarity from -1 to 1, got {s}"),
                ));
            }
            if matches!(self.target, Target::Address(_)) {
                return Err(Error::invalid(
                    "min_score",
                    "only applies to vector queries",
                ));
            }
        }
        self.filter.validate()
    }
}

/// Checks a query's `limit` and `max_per_agent`: each 1 to [`MAX_LIMIT`].
fn check_limits(limit: usize, max_per_agent: Option<usize>) -> Result<()> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err(Error::invalid(
            "limit",
            format!("must be 1 to {MAX_LIMIT}, got {limit}"),
        ));
    }
    if let Some(m) = max_per_agent
        && (m == 0 || m > MAX_LIMIT)
    {
        return Err(Error::invalid(
            "max_per_agent",
            format!("must be 1 to {MAX_LIMIT} hits per agent, got {m}"),
        ));
    }
    Ok(())
}

/// One packet a query returned.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// The packet.
    pub packet: Arc<Packet>,
    /// 1.0 for exact-address hits; the cosine similarity for vector hits.
    pub score: f32,
}

/// What a query answers: hits in order (newest first for an address, best first for a vector).
///
/// It dereferences to `[Hit]`, so it reads like a slice (`hits.len()`, `hits[0]`,
/// `hits.iter()`). A router may answer many queries with one shared, immutable snapshot: the
/// memory router does so for repeated unfiltered queries of an address, which then cost one
/// reference count instead of one per packet. [`Hits::into_vec`] gives an owned list (copying
/// the handles of a shared answer).
#[derive(Clone, Default)]
pub struct Hits(HitsRepr);

#[derive(Clone)]
enum HitsRepr {
    Owned(Vec<Hit>),
    /// The first `len` hits of a snapshot.
    Shared(Arc<[Hit]>, usize),
}

impl Default for HitsRepr {
    fn default() -> Self {
        HitsRepr::Owned(Vec::new())
    }
}

impl Hits {
    /// The first `len` hits of `snapshot` (all of them if it holds fewer).
    pub fn shared(snapshot: Arc<[Hit]>, len: usize) -> Self {
        let len = len.min(snapshot.len());
        Hits(HitsRepr::Shared(snapshot, len))
    }

    /// The hits as an owned list, to change in place (a shared answer is copied first, as
    /// `Cow::to_mut` does).
    pub fn to_mut(&mut self) -> &mut Vec<Hit> {
        if let HitsRepr::Shared(all, len) = &self.0 {
            self.0 = HitsRepr::Owned(all[..*len].to_vec());
        }
        match &mut self.0 {
            HitsRepr::Owned(v) => v,
            HitsRepr::Shared(..) => unreachable!("made owned above"),
        }
    }

    /// The hits as an owned list.
    pub fn into_vec(self) -> Vec<Hit> {
        match self.0 {
            HitsRepr::Owned(v) => v,
            HitsRepr::Shared(all, len) => all[..len].to_vec(),
        }
    }
}

impl std::ops::Deref for Hits {
    type Target = [Hit];
    fn deref(&self) -> &[Hit] {
        match &self.0 {
            HitsRepr::Owned(v) => v,
            HitsRepr::Shared(all, len) => &all[..*len],
        }
    }
}

impl From<Vec<Hit>> for Hits {
    fn from(hits: Vec<Hit>) -> Self {
        Hits(HitsRepr::Owned(hits))
    }
}

impl FromIterator<Hit> for Hits {
    fn from_iter<I: IntoIterator<Item = Hit>>(iter: I) -> Self {
        Hits(HitsRepr::Owned(iter.into_iter().collect()))
    }
}

impl IntoIterator for Hits {
    type Item = Hit;
    type IntoIter = std::vec::IntoIter<Hit>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl<'a> IntoIterator for &'a Hits {
    type Item = &'a Hit;
    type IntoIter = std::slice::Iter<'a, Hit>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for Hits {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Hits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The error of a router (its vectors in `place`) asked to take vectors of the embedder `got`
/// while it holds `held`'s.
pub(crate) fn embedder_mismatch(place: &str, held: &str, got: &str) -> Error {
    let hint = if held.starts_with("hashed") {
        "hashed"
    } else {
        "minilm"
    };
    Error::Config(format!(
        "the vectors in {place} were made by the {held} embedder, not {got}: use the {hint} embedder (--embedder {hint})"
    ))
}

/// A query by problem text: the packets nearest it in meaning, for a router that embeds texts
/// itself ([`Router::query_text`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextQuery {
    /// The problem text.
    pub text: String,
    /// Conditions every hit meets.
    pub filter: Filter,
    /// At most this many hits, best first.
    pub limit: usize,
    /// No hit below this cosine similarity.
    pub min_score: Option<f32>,
    /// At most this many hits from one agent (see [`Query::max_per_agent`]).
    pub max_per_agent: Option<usize>,
}

impl TextQuery {
    /// Checks the limit, `max_per_agent` and the filter, as [`Query::validate`] does.
    pub fn validate(&self) -> Result<()> {
        check_limits(self.limit, self.max_per_agent)?;
        self.filter.validate()
    }
}

/// What a router holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stats {
    /// Packets stored (including expired ones not yet purged).
    pub packets: u64,
    /// Distinct addresses.
    pub addresses: u64,
    /// Packets that carry a vector.
    pub vectors: u64,
    /// Stored packets already expired (the next purge removes them).
    pub expired: u64,
    /// The dimension of the vectors held, once the first vector has been deposited.
    pub dimension: Option<usize>,
}

/// What a router can do; the conformance suite skips what a router does not declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// The router's name (`memory`, `embedded`, …).
    pub name: &'static str,
    /// Nearest-vector queries.
    pub vector: bool,
    /// Vector queries are approximate: a hit may be missed (recall below 1), though every hit
    /// returned is correctly scored, ordered and filtered. The conformance suite then checks what
    /// is found, not that everything is found; each such router measures its recall in its tests.
    pub approximate: bool,
    /// Acknowledged deposits survive a restart.
    pub durable: bool,
    /// A fixed vector dimension, for routers configured with one.
    pub dimension: Option<usize>,
    /// The router embeds problem texts itself ([`Router::query_text`]): a qis node with an
    /// embedder.
    pub text: bool,
    /// The router forgets packets, with tombstones ([`Router::forget`]).
    pub forget: bool,
    /// The router lists its addresses ([`Router::addresses`]).
    pub addresses: bool,
}

impl Capabilities {
    /// Capabilities of a router called `name`, with nothing optional.
    pub fn new(name: &'static str) -> Self {
        Capabilities {
            name,
            vector: false,
            approximate: false,
            durable: false,
            dimension: None,
            text: false,
            forget: false,
            addresses: false,
        }
    }
}

/// The routing layer: stores packets at addresses, answers exact and nearest-vector queries.
///
/// See the [module docs](self) for the contract every implementation keeps.
#[async_trait]
pub trait Router: Send + Sync + std::fmt::Debug {
    /// What this router can do.
    fn capabilities(&self) -> Capabilities;

    /// Stores a batch of packets, all or nothing, idempotently on their ids.
    ///
    /// Errors: [`Error::Invalid`] (an expired packet, one dated too far ahead),
    /// [`Error::Dimension`], [`Error::Conflict`], [`Error::NotSupported`] (a vector given to a
    /// router without vector search), [`Error::Backend`].
    async fn deposit(&self, packets: &[Routed]) -> Result<Vec<Receipt>>;

    /// Answers a query. Errors: [`Error::Invalid`] (a bad limit or filter), [`Error::Dimension`],
    /// [`Error::NotSupported`], [`Error::Backend`].
    async fn query(&self, query: &Query) -> Result<Hits>;

    /// Answers a query by problem text, which the router embeds itself (see
    /// [`Capabilities::text`]). Routers that hold no embedder answer [`Error::NotSupported`] (the
    /// default); callers then embed the text and query by vector.
    async fn query_text(&self, query: &TextQuery) -> Result<Hits> {
        let _ = query;
        Err(Error::NotSupported {
            router: self.capabilities().name,
            what: "embedding query texts (embed the text and query by vector)".into(),
        })
    }

    /// Records that the embedder named `embedder` ([`Embedder::name`](crate::embed::Embedder::name))
    /// makes the vectors deposited here, or refuses with an [`Error::Config`] when the router
    /// already holds another one's: vectors of two models are not comparable, so they never mix.
    /// Routers that keep no record accept any embedder (the default). Cheap after the first call.
    fn bind_embedder(&self, embedder: &str) -> Result<()> {
        let _ = embedder;
        Ok(())
    }

    /// Removes the packets `what` names and returns how many it removed, leaving a tombstone
    /// for each so that a deposit of a forgotten id is refused ([`Error::Forgotten`]) until the
    /// packet would have expired (see [`Forget`]). Idempotent; all or nothing where the engine
    /// allows it. Routers that cannot forget answer [`Error::NotSupported`] (the default; see
    /// [`Capabilities::forget`]).
    ///
    /// Errors: [`Error::Invalid`] (a selector that names nothing), [`Error::NotSupported`],
    /// [`Error::Backend`].
    async fn forget(&self, what: &Forget) -> Result<u64> {
        what.validate()?;
        Err(Error::NotSupported {
            router: self.capabilities().name,
            what: "forgetting packets".into(),
        })
    }

    /// A page of the addresses this router holds, most recently active first, with their live
    /// packet counts (see [`AddressQuery`]). Routers whose engine cannot list what it holds
    /// answer [`Error::NotSupported`] (the default; see [`Capabilities::addresses`]).
    async fn addresses(&self, query: &AddressQuery) -> Result<AddressPage> {
        query.validate()?;
        Err(Error::NotSupported {
            router: self.capabilities().name,
            what: "listing addresses".into(),
        })
    }

    /// Counts what the router holds.
    async fn stats(&self) -> Result<Stats>;

    /// Removes expired packets now; returns how many were removed.
    async fn purge_expired(&self) -> Result<u64>;
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<R: Router + ?Sized> Router for Arc<R> {
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    async fn deposit(&self, packets: &[Routed]) -> Result<Vec<Receipt>> {
        (**self).deposit(packets).await
    }
    async fn query(&self, query: &Query) -> Result<Hits> {
        (**self).query(query).await
    }
    async fn query_text(&self, query: &TextQuery) -> Result<Hits> {
        (**self).query_text(query).await
    }
    fn bind_embedder(&self, embedder: &str) -> Result<()> {
        (**self).bind_embedder(embedder)
    }
    async fn forget(&self, what: &Forget) -> Result<u64> {
        (**self).forget(what).await
    }
    async fn addresses(&self, query: &AddressQuery) -> Result<AddressPage> {
        (**self).addresses(query).await
    }
    async fn stats(&self) -> Result<Stats> {
        (**self).stats().await
    }
    async fn purge_expired(&self) -> Result<u64> {
        (**self).purge_expired().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(agent: &str) -> Hit {
        let address = Address::from_hex("1dd96c30c27fe860").unwrap();
        Hit {
            packet: Arc::new(Packet::builder(agent, "d", address).build().unwrap()),
            score: 1.0,
        }
    }

    #[test]
    fn a_shared_answer_reads_its_first_hits_and_copies_before_it_changes() {
        let snapshot: Arc<[Hit]> = vec![hit("a"), hit("b"), hit("c")].into();
        let shared = Hits::shared(snapshot.clone(), 2);
        assert_eq!(shared.len(), 2);
        assert_eq!(shared[1], snapshot[1]);
        assert_eq!(
            Hits::shared(snapshot.clone(), 10).len(),
            3,
            "capped at the snapshot"
        );
        let mut changed = shared.clone();
        changed.to_mut().pop();
        assert_eq!(
            (changed.len(), shared.len()),
            (1, 2),
            "the snapshot is not touched"
        );
        assert_eq!(shared.clone().into_vec(), snapshot[..2].to_vec());
        assert_eq!(shared, Hits::from(snapshot[..2].to_vec()));
        let owned: Vec<Hit> = shared.into_iter().collect();
        assert_eq!(owned.len(), 2);
    }
}

//! The in-memory side of vector search: every stored vector with the few packet fields that
//! filters read, rebuilt from SQLite at open. SQLite stays the only copy that matters.

use std::collections::{BinaryHeap, HashMap};

use crate::packet::{Millis, Outcome, Packet};
use crate::router::Filter;

/// Interned strings (domains, agents, tags), so filters compare integers.
#[derive(Debug, Default)]
struct Interner {
    ids: HashMap<String, u32>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.ids.len() as u32;
        self.ids.insert(s.to_owned(), id);
        id
    }

    fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }
}

/// What a filter needs to know about one packet.
#[derive(Debug, Clone)]
struct Meta {
    seq: i64,
    domain: u32,
    agent: u32,
    tags: Box<[u32]>,
    outcome: Outcome,
    confidence: f32,
    created: Millis,
    /// `Millis::MAX` for "never".
    expires: Millis,
}

/// A [`Filter`] turned into integer comparisons over [`Meta`].
#[derive(Debug)]
pub(super) struct CompiledFilter {
    /// `Some(None)`: a domain no stored packet has, so nothing matches.
    domain: Option<Option<u32>>,
    /// `None`: any tags; `Some(ids)`: at least one of these (empty: nothing can match).
    tags_any: Option<Vec<u32>>,
    min_confidence: Option<f32>,
    outcomes: Vec<Outcome>,
    since: Option<Millis>,
    exclude_agents: Vec<u32>,
    now: Millis,
}

impl CompiledFilter {
    fn matches(&self, m: &Meta) -> bool {
        m.expires > self.now
            && self.domain.is_none_or(|d| d == Some(m.domain))
            && self
                .tags_any
                .as_ref()
                .is_none_or(|want| m.tags.iter().any(|t| want.contains(t)))
            && self.min_confidence.is_none_or(|c| m.confidence >= c)
            && (self.outcomes.is_empty() || self.outcomes.contains(&m.outcome))
            && self.since.is_none_or(|s| m.created >= s)
            && !self.exclude_agents.contains(&m.agent)
    }
}

/// Every vector, contiguous, with its packet's filter fields.
#[derive(Debug, Default)]
pub(super) struct VectorStore {
    dimension: Option<usize>,
    data: Vec<f32>,
    metas: Vec<Meta>,
    position: HashMap<i64, usize>,
    domains: Interner,
    agents: Interner,
    tags: Interner,
}

/// A scored candidate: the packet's `seq` and its cosine similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Scored {
    pub(super) seq: i64,
    pub(super) score: f32,
    pub(super) created: Millis,
}

impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    /// Better first is "less": a max-heap of these keeps the worst on top.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then_with(|| other.created.cmp(&self.created))
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

#[allow(dead_code)] // len, vector, seqs, passes, selectivity and rerank serve the approximate index.
impl VectorStore {
    pub(super) fn len(&self) -> usize {
        self.metas.len()
    }

    pub(super) fn dimension(&self) -> Option<usize> {
        self.dimension
    }

    pub(super) fn set_dimension(&mut self, d: usize) {
        self.dimension = Some(d);
    }

    /// Adds the vector of packet `seq`.
    pub(super) fn insert(&mut self, seq: i64, packet: &Packet, vector: &[f32]) {
        debug_assert!(self.dimension.is_none_or(|d| d == vector.len()));
        self.dimension = Some(vector.len());
        let meta = Meta {
            seq,
            domain: self.domains.intern(packet.domain()),
            agent: self.agents.intern(packet.agent()),
            tags: packet.tags().iter().map(|t| self.tags.intern(t)).collect(),
            outcome: packet.outcome(),
            confidence: packet.confidence(),
            created: packet.created(),
            expires: packet.expires_at().unwrap_or(Millis::MAX),
        };
        self.position.insert(seq, self.metas.len());
        self.metas.push(meta);
        self.data.extend_from_slice(vector);
    }

    /// Removes the vector of packet `seq` (if held).
    pub(super) fn remove(&mut self, seq: i64) {
        let Some(i) = self.position.remove(&seq) else {
            return;
        };
        let d = self.dimension.unwrap_or(0);
        let last = self.metas.len() - 1;
        self.metas.swap_remove(i);
        if i != last {
            let (head, tail) = self.data.split_at_mut(last * d);
            head[i * d..(i + 1) * d].copy_from_slice(&tail[..d]);
            self.position.insert(self.metas[i].seq, i);
        }
        self.data.truncate(last * d);
    }

    /// The vector of packet `seq`.
    pub(super) fn vector(&self, seq: i64) -> Option<&[f32]> {
        let d = self.dimension?;
        self.position
            .get(&seq)
            .map(|&i| &self.data[i * d..(i + 1) * d])
    }

    /// Every held `seq`, in storage order.
    pub(super) fn seqs(&self) -> impl Iterator<Item = i64> + '_ {
        self.metas.iter().map(|m| m.seq)
    }

    pub(super) fn compile(&self, filter: &Filter, now: Millis) -> CompiledFilter {
        CompiledFilter {
            domain: filter.domain.as_deref().map(|d| self.domains.get(d)),
            tags_any: (!filter.tags_any.is_empty()).then(|| {
                filter
                    .tags_any
                    .iter()
                    .filter_map(|t| self.tags.get(t))
                    .collect()
            }),
            min_confidence: filter.min_confidence,
            outcomes: filter.outcomes.clone(),
            since: filter.since,
            exclude_agents: filter
                .exclude_agents
                .iter()
                .filter_map(|a| self.agents.get(a))
                .collect(),
            now,
        }
    }

    /// Whether packet `seq` passes `filter`.
    pub(super) fn passes(&self, seq: i64, filter: &CompiledFilter) -> bool {
        self.position
            .get(&seq)
            .is_some_and(|&i| filter.matches(&self.metas[i]))
    }

    /// Share of held vectors that pass `filter`, estimated on a sample of at most `sample` rows.
    pub(super) fn selectivity(&self, filter: &CompiledFilter, sample: usize) -> f64 {
        let n = self.metas.len();
        if n == 0 {
            return 0.0;
        }
        let step = (n / sample.max(1)).max(1);
        let (mut seen, mut hit) = (0usize, 0usize);
        for m in self.metas.iter().step_by(step) {
            seen += 1;
            hit += filter.matches(m) as usize;
        }
        hit as f64 / seen as f64
    }

    /// Exact search: the `k` best of the vectors passing `filter` with a score ≥ `min_score`.
    pub(super) fn exact(
        &self,
        query: &[f32],
        k: usize,
        min_score: f32,
        filter: &CompiledFilter,
    ) -> Vec<Scored> {
        let Some(d) = self.dimension else {
            return Vec::new();
        };
        let mut heap = BinaryHeap::with_capacity(k + 1);
        for (meta, v) in self.metas.iter().zip(self.data.chunks_exact(d)) {
            if !filter.matches(meta) {
                continue;
            }
            let score = dot(query, v);
            if score < min_score {
                continue;
            }
            heap.push(Scored {
                seq: meta.seq,
                score,
                created: meta.created,
            });
            if heap.len() > k {
                heap.pop();
            }
        }
        heap.into_sorted_vec()
    }

    /// Scores the given candidates exactly, keeps those passing `filter`, best first.
    pub(super) fn rerank(
        &self,
        query: &[f32],
        candidates: impl IntoIterator<Item = i64>,
        k: usize,
        min_score: f32,
        filter: &CompiledFilter,
    ) -> Vec<Scored> {
        let mut out: Vec<Scored> = candidates
            .into_iter()
            .filter_map(|seq| {
                let i = *self.position.get(&seq)?;
                let meta = &self.metas[i];
                if !filter.matches(meta) {
                    return None;
                }
                let score = dot(query, self.vector(seq)?);
                (score >= min_score).then_some(Scored {
                    seq,
                    score,
                    created: meta.created,
                })
            })
            .collect();
        out.sort();
        out.dedup_by_key(|s| s.seq);
        out.truncate(k);
        out
    }
}

/// Dot product in eight independent lanes, which the compiler turns into SIMD.
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

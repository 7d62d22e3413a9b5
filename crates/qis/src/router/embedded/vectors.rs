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
    /// The vectors, `dimension` floats each, in the order of `metas`.
    data: Vec<f32>,
    /// The same vectors as int8 codes (`round(x / scale)`), a quarter of the bytes: the fast
    /// first pass of large searches.
    codes: Vec<i8>,
    /// Each vector's code scale: `max |x| / 127`.
    scales: Vec<f32>,
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

impl VectorStore {
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
        let scale = quantize_into(vector, &mut self.codes);
        self.scales.push(scale);
    }

    /// Removes the vector of packet `seq` (if held).
    pub(super) fn remove(&mut self, seq: i64) {
        let Some(i) = self.position.remove(&seq) else {
            return;
        };
        let d = self.dimension.unwrap_or(0);
        let last = self.metas.len() - 1;
        self.metas.swap_remove(i);
        self.scales.swap_remove(i);
        if i != last {
            let (head, tail) = self.data.split_at_mut(last * d);
            head[i * d..(i + 1) * d].copy_from_slice(&tail[..d]);
            let (head, tail) = self.codes.split_at_mut(last * d);
            head[i * d..(i + 1) * d].copy_from_slice(&tail[..d]);
            self.position.insert(self.metas[i].seq, i);
        }
        self.data.truncate(last * d);
        self.codes.truncate(last * d);
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

    /// The `k` best vectors passing `filter` with a score ≥ `min_score`, best first.
    ///
    /// Up to `exact_below` vectors: an exact scan. Past it, two passes: int8 codes score every
    /// vector passing the filter (a quarter of the memory traffic), then the best
    /// `max(8k, 64)` candidates are scored again exactly, so that the answer is the exact top k
    /// unless a true top-k vector ranked below that many others by its code, which int8 codes'
    /// error (about 1 % of a score) makes rare; `qis bench` measures the recall.
    pub(super) fn search(
        &self,
        query: &[f32],
        k: usize,
        min_score: f32,
        filter: &CompiledFilter,
        exact_below: usize,
    ) -> Vec<Scored> {
        let Some(d) = self.dimension else {
            return Vec::new();
        };
        if self.metas.len() <= exact_below {
            return self.exact(query, k, min_score, filter);
        }
        let mut q_codes = Vec::with_capacity(d);
        let q_scale = quantize_into(query, &mut q_codes);
        let candidates = (8 * k).max(64);
        // The codes' score can be off by a little: keep candidates a margin below `min_score`.
        let floor = min_score - 0.05;
        let mut heap = BinaryHeap::with_capacity(candidates + 1);
        for (i, meta) in self.metas.iter().enumerate() {
            if !filter.matches(meta) {
                continue;
            }
            let approx =
                q_scale * self.scales[i] * dot_i8(&q_codes, &self.codes[i * d..(i + 1) * d]) as f32;
            if approx < floor {
                continue;
            }
            heap.push(Scored {
                seq: i as i64,
                score: approx,
                created: meta.created,
            });
            if heap.len() > candidates {
                heap.pop();
            }
        }
        // Rescore exactly (`seq` above holds the position).
        let mut exact: Vec<Scored> = heap
            .into_iter()
            .filter_map(|c| {
                let i = c.seq as usize;
                let score = dot(query, &self.data[i * d..(i + 1) * d]);
                (score >= min_score).then_some(Scored {
                    seq: self.metas[i].seq,
                    score,
                    created: c.created,
                })
            })
            .collect();
        exact.sort();
        exact.truncate(k);
        exact
    }
}

/// Appends `v`'s int8 codes to `out` and returns their scale.
fn quantize_into(v: &[f32], out: &mut Vec<i8>) -> f32 {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    out.extend(
        v.iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8),
    );
    scale
}

/// Dot product of int8 codes, accumulated in i32; AVX2 when the processor has it.
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor supports AVX2 (checked just above).
            return unsafe { dot_i8_avx2(a, b) };
        }
    }
    dot_i8_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    // The same loop, compiled with AVX2 enabled so that it vectorises 32 lanes wide.
    dot_i8_portable(a, b)
}

#[inline(always)]
fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(x, y)| *x as i32 * *y as i32).sum()
}

/// Dot product of f32 vectors; AVX2 + FMA when the processor has them.
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor supports AVX2 and FMA (checked just above).
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_portable(a, b)
}

/// Dot product in eight independent lanes, which the compiler turns into SIMD.
#[inline(always)]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
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

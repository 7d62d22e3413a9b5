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

/// What a filter needs to know about one packet (its domain is its segment's).
#[derive(Debug, Clone)]
struct Meta {
    seq: i64,
    agent: u32,
    tags: Box<[u32]>,
    outcome: Outcome,
    confidence: f32,
    created: Millis,
    /// `Millis::MAX` for "never".
    expires: Millis,
}

/// The fields of a packet that vector search filters on, as a deposit has them or as the store's
/// columns hold them.
#[derive(Debug)]
pub(super) struct FilterFields<'a> {
    pub(super) domain: &'a str,
    pub(super) agent: &'a str,
    pub(super) tags: &'a [String],
    pub(super) outcome: Outcome,
    pub(super) confidence: f32,
    pub(super) created: Millis,
    pub(super) expires: Option<Millis>,
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
    /// Everything but the domain, which picks the segments searched.
    fn matches(&self, m: &Meta) -> bool {
        m.expires > self.now
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

/// The vectors of one domain, contiguous, with their packets' filter fields. Queries almost
/// always name their domain, so a search reads only that domain's memory.
#[derive(Debug, Default)]
struct Segment {
    /// The vectors, `dimension` floats each, in the order of `metas`.
    data: Vec<f32>,
    /// The same vectors as int8 codes (`round(x / scale)`), a quarter of the bytes: the fast
    /// first pass of large searches.
    codes: Vec<i8>,
    /// Each vector's code scale: `max |x| / 127`.
    scales: Vec<f32>,
    metas: Vec<Meta>,
}

/// Every vector, partitioned by domain.
#[derive(Debug, Default)]
pub(super) struct VectorStore {
    dimension: Option<usize>,
    /// Indexed by interned domain.
    segments: Vec<Segment>,
    /// Packet `seq` → (domain, position in its segment).
    position: HashMap<i64, (u32, usize)>,
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

/// The best `k` of what it is offered, worst on top; offering costs one comparison once full.
struct TopK {
    k: usize,
    heap: BinaryHeap<Scored>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    fn offer(&mut self, s: Scored) {
        if self.heap.len() < self.k {
            self.heap.push(s);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && s < *worst
        {
            *worst = s;
        }
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
        let fields = FilterFields {
            domain: packet.domain(),
            agent: packet.agent(),
            tags: packet.tags(),
            outcome: packet.outcome(),
            confidence: packet.confidence(),
            created: packet.created(),
            expires: packet.expires_at(),
        };
        self.insert_fields(seq, &fields, vector);
    }

    /// Adds the vector of packet `seq`, whose filter fields are `fields`.
    pub(super) fn insert_fields(&mut self, seq: i64, fields: &FilterFields<'_>, vector: &[f32]) {
        debug_assert!(self.dimension.is_none_or(|d| d == vector.len()));
        self.dimension = Some(vector.len());
        let domain = self.domains.intern(fields.domain);
        let meta = Meta {
            seq,
            agent: self.agents.intern(fields.agent),
            tags: fields.tags.iter().map(|t| self.tags.intern(t)).collect(),
            outcome: fields.outcome,
            confidence: fields.confidence,
            created: fields.created,
            expires: fields.expires.unwrap_or(Millis::MAX),
        };
        if self.segments.len() <= domain as usize {
            self.segments
                .resize_with(domain as usize + 1, Segment::default);
        }
        let segment = &mut self.segments[domain as usize];
        self.position.insert(seq, (domain, segment.metas.len()));
        segment.metas.push(meta);
        segment.data.extend_from_slice(vector);
        let scale = quantize_into(vector, &mut segment.codes);
        segment.scales.push(scale);
    }

    /// Removes the vector of packet `seq` (if held).
    pub(super) fn remove(&mut self, seq: i64) {
        let Some((domain, i)) = self.position.remove(&seq) else {
            return;
        };
        let d = self.dimension.unwrap_or(0);
        let segment = &mut self.segments[domain as usize];
        let last = segment.metas.len() - 1;
        segment.metas.swap_remove(i);
        segment.scales.swap_remove(i);
        if i != last {
            let (head, tail) = segment.data.split_at_mut(last * d);
            head[i * d..(i + 1) * d].copy_from_slice(&tail[..d]);
            let (head, tail) = segment.codes.split_at_mut(last * d);
            head[i * d..(i + 1) * d].copy_from_slice(&tail[..d]);
            self.position.insert(segment.metas[i].seq, (domain, i));
        }
        segment.data.truncate(last * d);
        segment.codes.truncate(last * d);
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

    /// The segments a filter's domain allows.
    fn segments<'a>(&'a self, filter: &CompiledFilter) -> &'a [Segment] {
        match filter.domain {
            None => &self.segments,
            Some(None) => &[],
            Some(Some(d)) => self
                .segments
                .get(d as usize..=d as usize)
                .unwrap_or_default(),
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
        let mut top = TopK::new(k);
        for segment in self.segments(filter) {
            for (meta, v) in segment.metas.iter().zip(segment.data.chunks_exact(d)) {
                if !filter.matches(meta) {
                    continue;
                }
                let score = dot(query, v);
                if score >= min_score {
                    top.offer(Scored {
                        seq: meta.seq,
                        score,
                        created: meta.created,
                    });
                }
            }
        }
        top.heap.into_sorted_vec()
    }

    /// The `k` best vectors passing `filter` with a score ≥ `min_score`, best first.
    ///
    /// When the segments the filter's domain allows hold up to `exact_below` vectors: an exact
    /// scan. Past it, two passes: int8 codes score every vector passing the filter (a quarter of
    /// the memory traffic), then the best `max(8k, 64)` candidates are scored again exactly, so
    /// that the answer is the exact top k unless a true top-k vector ranked below that many
    /// others by its code, which int8 codes' error (about 1 % of a score) makes rare; `qis bench`
    /// measures the recall.
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
        let segments = self.segments(filter);
        if segments.iter().map(|s| s.metas.len()).sum::<usize>() <= exact_below {
            return self.exact(query, k, min_score, filter);
        }
        let mut q_codes = Vec::with_capacity(d);
        let q_scale = quantize_into(query, &mut q_codes);
        // The codes' score can be off by a little: keep candidates a margin below `min_score`.
        let floor = min_score - 0.05;
        let mut top = TopK::new((8 * k).max(64));
        // A candidate's `seq` holds its place: segment index in the high bits, position below.
        for (si, segment) in segments.iter().enumerate() {
            for (i, meta) in segment.metas.iter().enumerate() {
                if !filter.matches(meta) {
                    continue;
                }
                let code = &segment.codes[i * d..(i + 1) * d];
                let approx = q_scale * segment.scales[i] * dot_i8(&q_codes, code) as f32;
                if approx >= floor {
                    top.offer(Scored {
                        seq: ((si as i64) << 32) | i as i64,
                        score: approx,
                        created: meta.created,
                    });
                }
            }
        }
        // Rescore exactly.
        let mut exact: Vec<Scored> = top
            .heap
            .into_iter()
            .filter_map(|c| {
                let segment = &segments[(c.seq >> 32) as usize];
                let i = (c.seq & 0xffff_ffff) as usize;
                let score = dot(query, &segment.data[i * d..(i + 1) * d]);
                (score >= min_score).then_some(Scored {
                    seq: segment.metas[i].seq,
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

/// AVX2: 32 codes a step. `maddubs` multiplies unsigned by signed bytes, so the query's codes
/// go in as their absolute values and their signs move onto the stored codes (`sign`); codes lie
/// in −127..=127, so each pair sum (at most 2 × 127²) fits the 16-bit lanes without saturating.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let steps = n / 32;
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_si256();
    for i in 0..steps {
        // SAFETY: i * 32 + 32 <= n, within both slices; loads are unaligned.
        let (va, vb) = unsafe {
            (
                _mm256_loadu_si256(a.as_ptr().add(i * 32).cast()),
                _mm256_loadu_si256(b.as_ptr().add(i * 32).cast()),
            )
        };
        let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(va), _mm256_sign_epi8(vb, va));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
    }
    let mut lanes = [0i32; 8];
    // SAFETY: `lanes` is 32 bytes.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
    lanes.iter().sum::<i32>() + dot_i8_portable(&a[steps * 32..n], &b[steps * 32..n])
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
    crate::vector::dot(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    crate::vector::dot(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_dot_matches_the_portable_loop_at_every_length_and_extreme() {
        // Lengths around the 32-code step, codes at both ends of their range and at zero.
        let pattern = [127i8, -127, 0, 1, -1, 64, -100, 127];
        for n in [0usize, 1, 31, 32, 33, 64, 383, 384, 385] {
            let a: Vec<i8> = (0..n).map(|i| pattern[i % 8]).collect();
            let b: Vec<i8> = (0..n).map(|i| pattern[(i * 5 + 3) % 8]).collect();
            let all_max = vec![127i8; n];
            let all_min = vec![-127i8; n];
            for (x, y) in [
                (&a, &b),
                (&all_max, &all_max),
                (&all_max, &all_min),
                (&a, &a),
            ] {
                assert_eq!(dot_i8(x, y), dot_i8_portable(x, y), "length {n}");
            }
        }
    }
}

//! The in-memory side of vector search: every stored vector's int8 code with the few packet fields
//! that filters read, rebuilt from SQLite at open. SQLite stays the only copy that matters, and
//! holds the exact vectors: a search here finds candidates by their codes, and the query path
//! scores them again on their vectors read from the vectors file (see `query_vector`).

/// The maps here are keyed by the store's own `seq`s and names: a fast hash, not a keyed one.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

use super::interner::Interner;
use super::partition::{self, Centroids};
use crate::packet::{Millis, Outcome, Packet};
use crate::router::Filter;
use crate::router::agent_cap::{CappedTop, Ranked};

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
/// columns hold them (with the tags borrowed from the column's bytes, `T = &str`).
#[derive(Debug)]
pub(super) struct FilterFields<'a, T = String> {
    pub(super) domain: &'a str,
    pub(super) agent: &'a str,
    pub(super) tags: &'a [T],
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

/// Codes, `dimension` each, with their packets' filter fields, contiguous: a segment's whole
/// until it is partitioned, then one of its lists.
#[derive(Debug, Default)]
struct Cell {
    /// The vectors as int8 codes (`round(x / scale)`), in the order of `metas`: a quarter of
    /// the vectors' bytes.
    codes: Vec<i8>,
    /// Each vector's code scale: `max |x| / 127`.
    scales: Vec<f32>,
    metas: Vec<Meta>,
}

impl Cell {
    /// Offers `top` every code of the cell that passes `filter`, with its score by codes, if it
    /// is at least `floor`.
    fn score(&self, q: &Code, floor: f32, filter: &CompiledFilter, d: usize, top: &mut TopK) {
        for ((meta, code), scale) in self
            .metas
            .iter()
            .zip(self.codes.chunks_exact(d))
            .zip(&self.scales)
        {
            if !filter.matches(meta) {
                continue;
            }
            let approx = q.scale * scale * dot_i8(&q.codes, code) as f32;
            if approx >= floor {
                top.offer(Scored {
                    seq: meta.seq,
                    score: approx,
                    created: meta.created,
                    scale: *scale,
                    agent: meta.agent,
                });
            }
        }
    }

    fn push(&mut self, meta: Meta, codes: &[i8], scale: f32) {
        self.metas.push(meta);
        self.codes.extend_from_slice(codes);
        self.scales.push(scale);
    }

    /// Removes entry `i`, moving the last into its place: the `seq` of the one moved, if any.
    fn swap_remove(&mut self, i: usize, d: usize) -> Option<i64> {
        let last = self.metas.len() - 1;
        self.metas.swap_remove(i);
        self.scales.swap_remove(i);
        if i != last {
            let (head, tail) = self.codes.split_at_mut(last * d);
            head[i * d..(i + 1) * d].copy_from_slice(&tail[..d]);
        }
        self.codes.truncate(last * d);
        (i != last).then(|| self.metas[i].seq)
    }
}

/// The codes of one domain. Queries almost always name their domain, so a search reads only
/// that domain's memory.
#[derive(Debug, Default)]
struct Segment {
    /// One cell, or once the segment is partitioned one per list (see
    /// [`VectorStore::to_partition`]).
    cells: Vec<Cell>,
    centroids: Option<Centroids>,
    len: usize,
    /// The size at which partitioning was tried and declined (it would have cost recall, see
    /// `partition::recall`): not tried again before the segment is twice as large.
    declined_at: Option<usize>,
    /// Counts the partitions made or declined for this domain, kept with them in the vectors
    /// file: a code's list there counts only if written under the same generation.
    generation: u64,
}

/// Where a code goes in its segment: its list under the segment's partition `generation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Placement {
    pub(super) list: u32,
    pub(super) generation: u64,
}

/// What k-means needs of a segment to partition it, copied so that it runs without a lock.
#[derive(Debug)]
pub(super) struct Snapshot {
    pub(super) domain: u32,
    pub(super) domain_name: String,
    /// The generation its partition (or its declining) is made under: the segment's next.
    pub(super) generation: u64,
    pub(super) dimension: usize,
    pub(super) codes: Vec<i8>,
    pub(super) scales: Vec<f32>,
    pub(super) seqs: Vec<i64>,
}

/// Every vector, partitioned by domain.
#[derive(Debug, Default)]
pub(super) struct VectorStore {
    dimension: Option<usize>,
    /// Indexed by interned domain.
    segments: Vec<Segment>,
    /// Packet `seq` → (domain, cell, place in the cell).
    position: HashMap<i64, (u32, u32, u32)>,
    domains: Interner,
    agents: Interner,
    tags: Interner,
}

/// A scored candidate: the packet's `seq` and its cosine similarity (by its code, until scored
/// again on its vector).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Scored {
    pub(super) seq: i64,
    pub(super) score: f32,
    pub(super) created: Millis,
    /// Its code's scale, which sets how far the score by codes is likely off (see
    /// [`code_error`]).
    pub(super) scale: f32,
    /// Its packet's agent, interned.
    pub(super) agent: u32,
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

/// The best `k` of what it is offered, worst on top (at most so many per agent, if capped).
pub(super) type TopK = CappedTop<Scored>;

impl Ranked for Scored {
    type Agent = u32;
    fn agent(&self) -> u32 {
        self.agent
    }
}

impl VectorStore {
    pub(super) fn dimension(&self) -> Option<usize> {
        self.dimension
    }

    pub(super) fn set_dimension(&mut self, d: usize) {
        self.dimension = Some(d);
    }

    /// Adds the code of packet `seq`, in the list `placement` names if it is of the segment's
    /// current partition (as [`VectorStore::placement`] gives), else in its nearest.
    pub(super) fn insert(
        &mut self,
        seq: i64,
        packet: &Packet,
        code: &Code,
        placement: Option<Placement>,
    ) {
        let fields = FilterFields {
            domain: packet.domain(),
            agent: packet.agent(),
            tags: packet.tags(),
            outcome: packet.outcome(),
            confidence: packet.confidence(),
            created: packet.created(),
            expires: packet.expires_at(),
        };
        self.insert_fields(seq, &fields, code, placement);
    }

    /// The list a code of `domain` goes in, if the domain is partitioned.
    pub(super) fn placement(&self, domain: &str, code: &Code) -> Option<Placement> {
        let segment = self.segments.get(self.domains.get(domain)? as usize)?;
        let centroids = segment.centroids.as_ref()?;
        Some(Placement {
            list: centroids.list_of(&code.codes) as u32,
            generation: segment.generation,
        })
    }

    /// Sets how `domain`'s vectors are searched before any is inserted, as the vectors file
    /// kept it: partitioned around `centroids`, or declined at `declined_at` vectors, under
    /// `generation`. Inserted codes then go into the lists their placements name.
    pub(super) fn restore(
        &mut self,
        domain: &str,
        generation: u64,
        centroids: Option<Centroids>,
        declined_at: Option<usize>,
    ) {
        let domain = self.domains.intern(domain) as usize;
        if self.segments.len() <= domain {
            self.segments.resize_with(domain + 1, Segment::default);
        }
        let segment = &mut self.segments[domain];
        debug_assert_eq!(segment.len, 0, "restored before its codes are inserted");
        segment.cells = (0..centroids.as_ref().map_or(1, Centroids::len))
            .map(|_| Cell::default())
            .collect();
        segment.centroids = centroids;
        segment.declined_at = declined_at;
        segment.generation = generation;
    }

    /// Adds the code of packet `seq`, whose filter fields are `fields` (see
    /// [`VectorStore::insert`]).
    pub(super) fn insert_fields(
        &mut self,
        seq: i64,
        fields: &FilterFields<'_, impl AsRef<str>>,
        code: &Code,
        placement: Option<Placement>,
    ) {
        debug_assert!(self.dimension.is_none_or(|d| d == code.codes.len()));
        self.dimension = Some(code.codes.len());
        let domain = self.domains.intern(fields.domain);
        let meta = Meta {
            seq,
            agent: self.agents.intern(fields.agent),
            tags: fields
                .tags
                .iter()
                .map(|t| self.tags.intern(t.as_ref()))
                .collect(),
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
        let cell = match &segment.centroids {
            None => 0,
            Some(c) => placement
                .filter(|p| p.generation == segment.generation && (p.list as usize) < c.len())
                .map_or_else(|| c.list_of(&code.codes), |p| p.list as usize),
        };
        if segment.cells.len() <= cell {
            segment.cells.resize_with(cell + 1, Cell::default);
        }
        let place = segment.cells[cell].metas.len();
        segment.cells[cell].push(meta, &code.codes, code.scale);
        segment.len += 1;
        self.position
            .insert(seq, (domain, cell as u32, place as u32));
    }

    /// Removes the vector of packet `seq` (if held).
    pub(super) fn remove(&mut self, seq: i64) {
        let Some((domain, cell, place)) = self.position.remove(&seq) else {
            return;
        };
        let d = self.dimension.unwrap_or(0);
        let segment = &mut self.segments[domain as usize];
        segment.len -= 1;
        if let Some(moved) = segment.cells[cell as usize].swap_remove(place as usize, d) {
            self.position.insert(moved, (domain, cell, place));
        }
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

    /// The candidates for the `k` best vectors passing `filter` with a score ≥ `min_score`, by
    /// their codes: every code the filter passes is scored (a quarter of the vectors' memory
    /// traffic), and the best `candidates(k)` are returned, best first, with their approximate
    /// scores. The caller scores them again on their vectors: the answer is then the exact top
    /// k unless a true top-k vector ranked below that many others by its code, which int8 codes'
    /// error (about 1 % of a score) makes rare; `qis bench` measures the recall. Where the
    /// filter passes at most that many, every one is a candidate, and the answer is exact but
    /// for the candidates the caller does not read because their codes' score puts them out of
    /// reach (see `query::CODE_ERRORS`).
    ///
    /// A partitioned segment larger than `scan_whole` is searched in the lists nearest the
    /// query, until at least `scan_whole` codes (and a share of the segment, see
    /// [`probed`]) are scored.
    pub(super) fn search(
        &self,
        query: &[f32],
        k: usize,
        min_score: f32,
        filter: &CompiledFilter,
        scan_whole: usize,
        per_agent: Option<usize>,
    ) -> Vec<Scored> {
        let Some(d) = self.dimension else {
            return Vec::new();
        };
        let q = Code::of(query);
        // The cells to score: every cell of the segments scanned whole, and of the partitioned
        // ones (pooled, so that a query without a domain looks where its neighbours are, in
        // whichever domain) the lists whose centroids are nearest, until enough are listed.
        let mut cells: Vec<&Cell> = Vec::new();
        let mut pool: Vec<(f32, &Cell)> = Vec::new();
        let mut pooled = 0;
        for segment in self.segments(filter) {
            match &segment.centroids {
                Some(centroids) if segment.len > scan_whole => {
                    pooled += segment.len;
                    pool.extend(centroids.scores(query).into_iter().zip(&segment.cells));
                }
                _ => cells.extend(segment.cells.iter()),
            }
        }
        if !pool.is_empty() {
            let at_least = probed(pooled, scan_whole, k);
            cells.extend(partition::nearest_lists(pool, |c| c.metas.len(), at_least));
        }
        let total: usize = cells.iter().map(|c| c.metas.len()).sum();
        let threads = (total / PARALLEL_FROM).clamp(1, cores());
        // The codes' score can be off by a little: keep candidates a margin below `min_score`.
        let scan = |cells: &[&Cell]| {
            // A cap per agent holds for the candidates too, as loosely as their number: twice
            // the cap, so that the true best of an agent are among its candidates.
            let mut top = TopK::new(candidates(k), per_agent.map(|m| (2 * m).max(4)));
            for cell in cells {
                cell.score(&q, min_score - 0.05, filter, d, &mut top);
            }
            top
        };
        let top = if threads == 1 {
            scan(&cells)
        } else {
            // Cells split into runs of about equal counts, one thread each (this one included).
            let mut runs: Vec<&[&Cell]> = Vec::with_capacity(threads);
            let (mut start, mut acc) = (0, 0);
            for (i, cell) in cells.iter().enumerate() {
                acc += cell.metas.len();
                if acc * threads >= total * (runs.len() + 1) && runs.len() + 1 < threads {
                    runs.push(&cells[start..=i]);
                    start = i + 1;
                }
            }
            runs.push(&cells[start..]);
            std::thread::scope(|scope| {
                let others: Vec<_> = runs[1..]
                    .iter()
                    .map(|run| scope.spawn(move || scan(run)))
                    .collect();
                let mut top = scan(runs[0]);
                for other in others {
                    // A scan cannot panic but by a bug; its candidates are then lost, not the
                    // query.
                    if let Ok(theirs) = other.join() {
                        theirs
                            .into_unsorted()
                            .into_iter()
                            .for_each(|s| top.offer(s));
                    }
                }
                top
            })
        };
        top.into_sorted()
    }

    /// How the domains holding vectors are searched: `(domains, partitioned, declined)`, where
    /// declined ones (their vectors have no clusters to partition) are scanned whole like the
    /// small ones.
    pub(super) fn index_summary(&self) -> (usize, usize, usize) {
        let held = self.segments.iter().filter(|s| s.len > 0);
        let (mut domains, mut partitioned, mut declined) = (0, 0, 0);
        for s in held {
            domains += 1;
            partitioned += usize::from(s.centroids.is_some());
            declined += usize::from(s.centroids.is_none() && s.declined_at.is_some());
        }
        (domains, partitioned, declined)
    }

    /// Whether [`VectorStore::to_partition`] has a segment to give.
    pub(super) fn needs_partition(&self, scan_whole: usize) -> bool {
        self.dimension.is_some() && self.segments.iter().any(|s| s.wants_partition(scan_whole))
    }

    /// A segment that should be partitioned (again), copied: one larger than `scan_whole`
    /// that has none, or has grown to [`REGROW`] times the size its lists were made at.
    pub(super) fn to_partition(&self, scan_whole: usize) -> Option<Snapshot> {
        let dimension = self.dimension?;
        let (domain, segment) = self
            .segments
            .iter()
            .enumerate()
            .find(|(_, s)| s.wants_partition(scan_whole))?;
        let mut snapshot = Snapshot {
            domain: domain as u32,
            domain_name: self.domains.name(domain as u32).to_owned(),
            generation: segment.generation + 1,
            dimension,
            codes: Vec::with_capacity(segment.len * dimension),
            scales: Vec::with_capacity(segment.len),
            seqs: Vec::with_capacity(segment.len),
        };
        for cell in &segment.cells {
            snapshot.codes.extend_from_slice(&cell.codes);
            snapshot.scales.extend_from_slice(&cell.scales);
            snapshot.seqs.extend(cell.metas.iter().map(|m| m.seq));
        }
        Some(snapshot)
    }

    /// Records that partitioning `snapshot`'s segment was declined at its size, and undoes a
    /// partition it has (made when it was smaller): it is scanned whole again.
    pub(super) fn decline(&mut self, snapshot: &Snapshot) {
        let Some(segment) = self.segments.get_mut(snapshot.domain as usize) else {
            return;
        };
        segment.declined_at = Some(snapshot.seqs.len());
        segment.generation = snapshot.generation;
        if segment.centroids.take().is_some() {
            let d = self.dimension.unwrap_or(1);
            segment.regroup(1, d, snapshot.domain, &mut self.position, |_, _| 0);
        }
    }

    /// Partitions a segment around the centroids k-means found on `snapshot` of it: each code
    /// moves into the list it was assigned there (`assigned`, in the snapshot's order), and
    /// codes deposited since into their nearest.
    pub(super) fn install(&mut self, snapshot: &Snapshot, centroids: Centroids, assigned: &[u32]) {
        let (Some(d), Some(segment)) = (
            self.dimension,
            self.segments.get_mut(snapshot.domain as usize),
        ) else {
            return;
        };
        let by_seq: HashMap<i64, u32> = snapshot
            .seqs
            .iter()
            .copied()
            .zip(assigned.iter().copied())
            .collect();
        segment.regroup(
            centroids.len(),
            d,
            snapshot.domain,
            &mut self.position,
            |meta, code| {
                by_seq
                    .get(&meta.seq)
                    .map_or_else(|| centroids.list_of(code), |&l| l as usize)
            },
        );
        segment.centroids = Some(centroids);
        segment.generation = snapshot.generation;
    }
}

impl Segment {
    /// Moves every code into one of `cells` new cells, the one `cell_of` names, and records
    /// where each went in `position` (this segment being `domain`'s).
    fn regroup(
        &mut self,
        cells: usize,
        d: usize,
        domain: u32,
        position: &mut HashMap<i64, (u32, u32, u32)>,
        cell_of: impl Fn(&Meta, &[i8]) -> usize,
    ) {
        let mut regrouped: Vec<Cell> = (0..cells).map(|_| Cell::default()).collect();
        for cell in std::mem::take(&mut self.cells) {
            for ((meta, code), scale) in cell
                .metas
                .into_iter()
                .zip(cell.codes.chunks_exact(d))
                .zip(cell.scales)
            {
                let to = cell_of(&meta, code);
                let place = regrouped[to].metas.len() as u32;
                position.insert(meta.seq, (domain, to as u32, place));
                regrouped[to].push(meta, code, scale);
            }
        }
        self.cells = regrouped;
    }

    /// Larger than `scan_whole` and not partitioned, or grown to [`REGROW`] times the size its
    /// lists were made at; and, if partitioning was declined, grown to that many times the size
    /// it was declined at (a check of 64 queries can fail by chance where clusters exist, and
    /// the cost of trying again is a k-means).
    fn wants_partition(&self, scan_whole: usize) -> bool {
        self.len > scan_whole
            && self
                .centroids
                .as_ref()
                .is_none_or(|c| self.len >= REGROW * c.trained_on)
            && self.declined_at.is_none_or(|n| self.len >= REGROW * n)
    }
}

/// How many codes a search scores in the partitioned segments it may search, which hold `n`:
/// at least `scan_whole`, the candidates it needs, and 1 / `PROBE_SHARE` of them. With about √n
/// lists, that is the nearest √n / 16 lists; `qis bench` measures the recall (docs/performance.md).
pub(super) fn probed(n: usize, scan_whole: usize, k: usize) -> usize {
    scan_whole.max(n / PROBE_SHARE).max(candidates(k))
}

const PROBE_SHARE: usize = 16;

/// A partitioned segment is partitioned again once it holds this many times the vectors its
/// lists were made from. Lists made from a quarter of the vectors they serve (4) measured recall
/// 0.93–0.96 at 1M in `qis bench`; from a half, 0.98–0.99 (docs/decisions.md).
pub(super) const REGROW: usize = 2;

/// A search scores its codes on several threads once it has this many per thread.
const PARALLEL_FROM: usize = 16_384;

/// The threads a search may use: the machine's cores.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// How many candidates a search for the best `k` scores again exactly.
pub(super) fn candidates(k: usize) -> usize {
    (2 * k).max(24)
}

/// A vector's int8 code: `round(x / scale)` for each component, with `scale = max |x| / 127`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Code {
    pub(super) scale: f32,
    pub(super) codes: Vec<i8>,
}

impl Code {
    /// The scale of `v`'s code, without the code.
    pub(super) fn scale_of(v: &[f32]) -> f32 {
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        if max > 0.0 { max / 127.0 } else { 1.0 }
    }

    pub(super) fn of(v: &[f32]) -> Self {
        let scale = Self::scale_of(v);
        let codes = v
            .iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
            .collect();
        Code { scale, codes }
    }

    /// As the vectors file stores it: the scale (f32, little-endian), then the codes.
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.codes.len());
        out.extend_from_slice(&self.scale.to_le_bytes());
        out.extend(self.codes.iter().map(|c| *c as u8));
        out
    }

    pub(super) fn from_bytes(b: &[u8]) -> Option<Self> {
        let (scale, codes) = b.split_first_chunk::<4>()?;
        Some(Code {
            scale: f32::from_le_bytes(*scale),
            codes: codes.iter().map(|c| *c as i8).collect(),
        })
    }
}

/// The standard deviation of the error of a score by codes, for a query code of scale `a` and a
/// vector code of scale `b` (unit vectors both). Rounding moves each component by at most half
/// a step, evenly spread, so by `s / √12` at random; a score's error then adds the query's
/// rounding as seen through the vector and the vector's through the query: √((a² + b²) / 12).
/// The product of both roundings (`d · a² · b² / 144`) is a thousandth of that at 384
/// dimensions, and the sum of hundreds of such terms is as good as normal.
pub(super) fn code_error(a: f32, b: f32) -> f32 {
    ((a * a + b * b) / 12.0).sqrt()
}

/// Dot product of int8 codes, accumulated in i32; AVX2 when the processor has it.
pub(super) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
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

    #[test]
    fn a_code_round_trips_through_its_bytes_and_keeps_the_largest_component_exact() {
        let v = [0.5f32, -0.25, 0.125, 0.0, -0.5];
        let code = Code::of(&v);
        assert_eq!(code.codes[0], 127);
        assert_eq!(code.codes[4], -127);
        assert_eq!(Code::from_bytes(&code.to_bytes()), Some(code.clone()));
        assert_eq!(Code::from_bytes(&[1, 2]), None, "shorter than its scale");
        let zero = Code::of(&[0.0; 4]);
        assert_eq!((zero.scale, zero.codes), (1.0, vec![0; 4]));
    }

    /// The error of a score by codes is as [`code_error`] models it: over many pairs of unit
    /// vectors, its spread is that standard deviation, and it never comes near the six that a
    /// query allows before it skips a candidate's read.
    #[test]
    fn a_score_by_codes_is_off_by_about_code_error() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for dim in [32, 384] {
            let mut unit = || {
                let v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
                let n = dot(&v, &v).sqrt();
                v.into_iter().map(|x| x / n).collect::<Vec<f32>>()
            };
            let (mut sum_squares, mut worst) = (0.0f64, 0.0f32);
            let pairs = 20_000;
            for _ in 0..pairs {
                let (q, x) = (unit(), unit());
                let (cq, cx) = (Code::of(&q), Code::of(&x));
                let approx = cq.scale * cx.scale * dot_i8(&cq.codes, &cx.codes) as f32;
                let sigma = code_error(cq.scale, cx.scale);
                let z = (dot(&q, &x) - approx) / sigma;
                sum_squares += f64::from(z * z);
                worst = worst.max(z.abs());
            }
            let spread = (sum_squares / f64::from(pairs)).sqrt();
            assert!(
                (0.9..1.1).contains(&spread),
                "dim {dim}: spread {spread} sigmas"
            );
            assert!(worst < 5.0, "dim {dim}: an error of {worst} sigmas");
        }
    }

    /// A partitioned segment is partitioned again, and a declined one tried again, once it holds
    /// twice the vectors of the last try; never at or below `scan_whole`.
    #[test]
    fn a_segment_is_partitioned_again_once_it_has_doubled() {
        let scan_whole = 100;
        let made_at = |len: usize, trained_on: usize| Segment {
            len,
            centroids: Centroids::from_bytes(&1.0f32.to_le_bytes(), 1, trained_on),
            ..Segment::default()
        };
        let declined_at = |len: usize, declined: usize| Segment {
            len,
            declined_at: Some(declined),
            ..Segment::default()
        };
        assert!(
            !Segment {
                len: 100,
                ..Segment::default()
            }
            .wants_partition(scan_whole)
        );
        assert!(
            Segment {
                len: 101,
                ..Segment::default()
            }
            .wants_partition(scan_whole)
        );
        assert!(!made_at(1_999, 1_000).wants_partition(scan_whole));
        assert!(made_at(2_000, 1_000).wants_partition(scan_whole));
        assert!(!declined_at(1_999, 1_000).wants_partition(scan_whole));
        assert!(declined_at(2_000, 1_000).wants_partition(scan_whole));
    }

    fn fields(domain: &str) -> FilterFields<'_> {
        FilterFields {
            domain,
            agent: "a",
            tags: &[],
            outcome: Outcome::Resolved,
            confidence: 1.0,
            created: 1,
            expires: None,
        }
    }

    /// Once partitioned, a search scores only the lists it probes: a vector placed (on purpose)
    /// in the list far from its own cluster is not found, every other one is; removals and later
    /// inserts keep each code where the search looks for it.
    #[test]
    fn a_partitioned_segment_is_searched_in_the_lists_it_probes() {
        let d = 4;
        let mut store = VectorStore::default();
        // Unit vectors, as stored vectors are.
        let axis = |i: usize, wobble: f32| {
            let mut v = vec![wobble; d];
            v[i] = 1.0;
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / norm).collect::<Vec<f32>>()
        };
        // seqs 0..100 near axis 0, 100..200 near axis 1.
        for seq in 0..200i64 {
            let v = axis((seq / 100) as usize, 0.08 * (seq % 6) as f32);
            store.insert_fields(seq, &fields("d"), &Code::of(&v), None);
        }
        let snapshot = store
            .to_partition(10)
            .expect("200 > 10 and not partitioned");
        let centroids = partition::train(&snapshot.codes, &snapshot.scales, d, 2);
        let mut assigned: Vec<u32> = snapshot
            .codes
            .chunks_exact(d)
            .map(|c| centroids.list_of(c) as u32)
            .collect();
        let list_of_axis_1 = assigned[150];
        let stray = snapshot.seqs.iter().position(|&s| s == 7).unwrap();
        assigned[stray] = list_of_axis_1;
        store.install(&snapshot, centroids, &assigned);
        assert!(!store.needs_partition(10));

        let filter = store.compile(&Filter::default(), 0);
        let seqs = |found: Vec<Scored>| -> Vec<i64> { found.iter().map(|s| s.seq).collect() };
        // k = 1 asks for `candidates(1)`: the query's own list (100 codes) is enough.
        // The query is seq 7's own vector (and 1's, 13's, 19's, …).
        let q7 = axis(0, 0.08);
        let near_0 = seqs(store.search(&q7, 1, f32::MIN, &filter, 10, None));
        assert_eq!(near_0.len(), candidates(1));
        assert!(
            near_0.iter().all(|&s| s < 100),
            "only axis 0's list: {near_0:?}"
        );
        assert!(near_0.contains(&13), "{near_0:?}");
        assert!(!near_0.contains(&7), "seq 7 sits in axis 1's list");
        // Scanned whole (scan_whole past the segment), 7 is found again.
        let whole = seqs(store.search(&q7, 1, f32::MIN, &filter, 1000, None));
        assert!(whole.contains(&7), "{whole:?}");

        // Removals move codes inside their lists; an insert goes to its nearest list.
        for seq in (0..100).step_by(3) {
            store.remove(seq);
        }
        store.insert_fields(500, &fields("d"), &Code::of(&axis(0, 0.0)), None);
        let after = seqs(store.search(&axis(0, 0.0), 10, f32::MIN, &filter, 10, None));
        assert_eq!(after[0], 500, "the new exact match comes first");
        assert!(
            after.iter().all(|&s| s % 3 != 0 || s == 500),
            "no removed seq: {after:?}"
        );
        assert!(after.iter().all(|&s| s < 100 || s == 500));
        // The stray is removed from the list it sat in; a whole scan sees everything else.
        store.remove(7);
        let all = seqs(store.search(&axis(1, 0.0), 100, f32::MIN, &filter, 1000, None));
        assert_eq!(all.len(), 200 - 34 + 1 - 1);
        assert!(!all.contains(&7) && all.contains(&500) && all.contains(&199));

        // Declined (as for vectors without clusters): scanned whole again, whatever
        // `scan_whole` says, with every code where the position map says.
        store.decline(&snapshot);
        let again = seqs(store.search(&axis(1, 0.0), 100, f32::MIN, &filter, 10, None));
        assert_eq!(again.len(), all.len());
        store.remove(199);
        store.remove(500);
        let left = seqs(store.search(&axis(0, 0.0), 100, f32::MIN, &filter, 10, None));
        assert_eq!(left.len(), all.len() - 2);
        assert!(!left.contains(&199) && !left.contains(&500));
    }
}

//! A partition index over one segment's int8 codes (an inverted file, IVF): the codes are grouped
//! in lists around centroids found by k-means, each list contiguous in memory, and a search
//! scores only the lists whose centroids are nearest the query. It indexes the codes the segment
//! already holds (no second copy of the vectors); an insert scores the centroids once and a
//! removal is constant time. k-means runs in the background (see
//! `Shared::partition_in_background`); until it is done the segment is scanned whole. The
//! centroids and the lists are kept in the vectors file, so that opening restores them
//! (`stored::save_partition`).
//! docs/decisions.md says why this and not a graph index.

use super::vectors::{Code, REGROW, Snapshot, dot, dot_i8, probed};

/// k-means iterations over the sample.
const ITERATIONS: usize = 8;
/// The sample k-means runs on: this many vectors per list, at most.
const SAMPLE_PER_LIST: usize = 64;

/// The centroids k-means found for a segment: a list each.
#[derive(Debug)]
pub(super) struct Centroids {
    dimension: usize,
    /// Unit vectors, `dimension` floats each.
    centroids: Vec<f32>,
    /// The same as codes, to place an inserted code without decoding it.
    codes: Vec<Code>,
    /// How many vectors the segment held when they were found.
    pub(super) trained_on: usize,
}

/// How many lists a segment of `n` vectors is partitioned into: about √n, so that the lists and
/// the centroids a query scores grow alike.
pub(super) fn lists_for(n: usize) -> usize {
    ((n as f64).sqrt().round() as usize).max(1)
}

/// Spherical k-means (cosine) into `lists` lists, on a sample of `codes` (`dimension` each, with
/// their `scales`): deterministic, seeded as k-means++ does.
pub(super) fn train(codes: &[i8], scales: &[f32], dimension: usize, lists: usize) -> Centroids {
    let n = scales.len();
    let k = lists.clamp(1, n.max(1));
    let sample_size = (k * SAMPLE_PER_LIST).min(n);
    // Drawn, not every n-th: a segment's order can cycle through its topics, and a stride that
    // shares a factor with the cycle would see only some of them.
    let mut draws = Draws::default();
    let sample: Vec<f32> = if sample_size == n {
        (0..n)
            .flat_map(|i| decode(codes, scales, dimension, i))
            .collect()
    } else {
        (0..sample_size)
            .flat_map(|_| decode(codes, scales, dimension, draws.below(n)))
            .collect()
    };
    let point = |i: usize| &sample[i * dimension..(i + 1) * dimension];
    let mut centroids = seed(&sample, dimension, k);
    let mut assigned = vec![0u32; sample_size];
    for _ in 0..ITERATIONS {
        for (i, a) in assigned.iter_mut().enumerate() {
            *a = nearest(&centroids, dimension, point(i)) as u32;
        }
        let mut sums = vec![0f32; k * dimension];
        let mut counts = vec![0usize; k];
        for (i, &a) in assigned.iter().enumerate() {
            let a = a as usize;
            counts[a] += 1;
            for (s, x) in sums[a * dimension..(a + 1) * dimension]
                .iter_mut()
                .zip(point(i))
            {
                *s += x;
            }
        }
        for c in 0..k {
            let sum = &mut sums[c * dimension..(c + 1) * dimension];
            if counts[c] == 0 {
                // An empty list takes the sample point its own centroid matched worst.
                let worst = (0..sample_size)
                    .min_by(|&a, &b| {
                        let sa = dot(
                            point(a),
                            &centroids[assigned[a] as usize * dimension..][..dimension],
                        );
                        let sb = dot(
                            point(b),
                            &centroids[assigned[b] as usize * dimension..][..dimension],
                        );
                        sa.total_cmp(&sb)
                    })
                    .unwrap_or(0);
                sum.copy_from_slice(point(worst));
            }
            normalize(sum);
        }
        centroids = sums;
    }
    Centroids {
        dimension,
        codes: centroids.chunks_exact(dimension).map(Code::of).collect(),
        centroids,
        trained_on: n,
    }
}

impl Centroids {
    /// The centroids as the vectors file keeps them (see `schema::VECTORS_SCHEMA`): each
    /// component as a little-endian f32.
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        self.centroids
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect()
    }

    /// Centroids of `dimension` components read back from [`Centroids::to_bytes`]; `None` if the
    /// bytes are not a whole number of them, or none.
    pub(super) fn from_bytes(bytes: &[u8], dimension: usize, trained_on: usize) -> Option<Self> {
        if dimension == 0 || bytes.is_empty() || !bytes.len().is_multiple_of(4 * dimension) {
            return None;
        }
        let centroids: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Some(Centroids {
            dimension,
            codes: centroids.chunks_exact(dimension).map(Code::of).collect(),
            centroids,
            trained_on,
        })
    }

    /// How many lists there are.
    pub(super) fn len(&self) -> usize {
        self.codes.len()
    }

    /// The list of a code: its nearest centroid. The code's own scale is the same for every
    /// centroid, so only the centroids' scales count.
    pub(super) fn list_of(&self, code: &[i8]) -> usize {
        self.codes
            .iter()
            .map(|c| c.scale * dot_i8(&c.codes, code) as f32)
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(0, |(i, _)| i)
    }

    /// Each list's centroid's similarity to `query`, by list.
    pub(super) fn scores(&self, query: &[f32]) -> Vec<f32> {
        self.centroids
            .chunks_exact(self.dimension)
            .map(|c| dot(query, c))
            .collect()
    }
}

/// k-means++ seeding, with a fixed sequence for its draws: each next seed is a sample point
/// drawn with a weight of its distance (1 − cosine) to the nearest seed so far.
fn seed(sample: &[f32], dimension: usize, k: usize) -> Vec<f32> {
    let n = sample.len() / dimension;
    let point = |i: usize| &sample[i * dimension..(i + 1) * dimension];
    let mut seeds: Vec<f32> = point(0).to_vec();
    let mut nearest: Vec<f32> = (0..n).map(|i| dot(point(i), point(0))).collect();
    let mut draws = Draws(1);
    for _ in 1..k {
        let weights: Vec<f32> = nearest.iter().map(|s| (1.0 - s).max(0.0)).collect();
        let total: f32 = weights.iter().sum();
        let mut target = draws.unit() * total;
        let mut chosen = n - 1;
        for (i, w) in weights.iter().enumerate() {
            if target < *w {
                chosen = i;
                break;
            }
            target -= w;
        }
        let new = point(chosen);
        seeds.extend_from_slice(new);
        for (i, s) in nearest.iter_mut().enumerate() {
            *s = s.max(dot(point(i), new));
        }
    }
    seeds
}

/// The recall a partitioned search keeps must be at least this for the partition to be used
/// (see [`recall`]).
pub(super) const RECALL_KEPT: f32 = 0.9;

/// How much of what a whole scan finds searching `snapshot` in the lists `assigned` (around
/// `centroids`) finds: 64 of its own vectors, drawn, are queries, and the share of the whole
/// scan's top 10 that the partitioned search's top 10 holds is returned. It scores the nearest
/// lists' share of the segment that a search will score when the segment has grown [`REGROW`]
/// times (when it is partitioned again), the smallest share these lists will serve. Vectors
/// without clusters (uniform random ones) keep far less than [`RECALL_KEPT`], and their segment
/// is then scanned whole, as before partitioning.
pub(super) fn recall(
    snapshot: &Snapshot,
    centroids: &Centroids,
    assigned: &[u32],
    scan_whole: usize,
) -> f32 {
    const QUERIES: usize = 64;
    const K: usize = 10;
    let (d, n) = (snapshot.dimension, snapshot.seqs.len());
    let mut lists: Vec<Vec<usize>> = vec![Vec::new(); centroids.len()];
    for (i, &list) in assigned.iter().enumerate() {
        lists[list as usize].push(i);
    }
    let code = |i: usize| &snapshot.codes[i * d..(i + 1) * d];
    let at_least = probed(REGROW * n, scan_whole, K).div_ceil(REGROW);
    let mut draws = Draws(7);
    let (mut found, mut wanted) = (0, 0);
    for _ in 0..QUERIES.min(n) {
        let q = draws.below(n);
        let top = |candidates: &mut dyn Iterator<Item = usize>| -> Vec<usize> {
            let mut scored: Vec<(i32, usize)> = candidates
                .filter(|&i| i != q)
                .map(|i| (dot_i8(code(q), code(i)), i))
                .collect();
            scored.sort_unstable_by(|a, b| b.cmp(a));
            scored.into_iter().take(K).map(|(_, i)| i).collect()
        };
        let truth = top(&mut (0..n));
        let query = decode(&snapshot.codes, &snapshot.scales, d, q);
        let scored: Vec<(f32, &Vec<usize>)> =
            centroids.scores(&query).into_iter().zip(&lists).collect();
        let probed_lists = nearest_lists(scored, |l| l.len(), at_least);
        let got = top(&mut probed_lists.into_iter().flat_map(|l| l.iter().copied()));
        wanted += truth.len();
        found += got.iter().filter(|i| truth.contains(i)).count();
    }
    if wanted == 0 {
        return 1.0;
    }
    found as f32 / wanted as f32
}

/// The lists a search scores: by their centroid's score, nearest first, until they hold at
/// least `at_least` codes (`size` of each) or none is left.
pub(super) fn nearest_lists<T>(
    mut lists: Vec<(f32, T)>,
    size: impl Fn(&T) -> usize,
    at_least: usize,
) -> Vec<T> {
    lists.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let mut listed = 0;
    lists
        .into_iter()
        .take_while(|(_, list)| {
            let more = listed < at_least;
            listed += size(list);
            more
        })
        .map(|(_, list)| list)
        .collect()
}

/// A fixed sequence of pseudo-random draws (splitmix64), so that partitioning is deterministic.
#[derive(Debug, Default)]
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn decode(codes: &[i8], scales: &[f32], dimension: usize, i: usize) -> Vec<f32> {
    let mut v: Vec<f32> = codes[i * dimension..(i + 1) * dimension]
        .iter()
        .map(|&c| c as f32 * scales[i])
        .collect();
    normalize(&mut v);
    v
}

fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

fn nearest(centroids: &[f32], dimension: usize, v: &[f32]) -> usize {
    centroids
        .chunks_exact(dimension)
        .map(|c| dot(v, c))
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three tight clusters along the axes: k-means separates them, and a query near one
    /// orders that cluster's list first.
    #[test]
    fn lists_follow_clusters() {
        let d = 8;
        let mut codes = Vec::new();
        let mut scales = Vec::new();
        let mut vectors = Vec::new();
        for i in 0..90 {
            let mut v = vec![0.01 * (i % 7) as f32; d];
            v[i % 3] = 1.0;
            let c = Code::of(&v);
            codes.extend_from_slice(&c.codes);
            scales.push(c.scale);
            vectors.push(c);
        }
        let centroids = train(&codes, &scales, d, 3);
        assert_eq!((centroids.len(), centroids.trained_on), (3, 90));
        let lists: Vec<usize> = vectors
            .iter()
            .map(|c| centroids.list_of(&c.codes))
            .collect();
        for i in 0..90 {
            assert_eq!(lists[i], lists[i % 3], "vector {i} is with its cluster");
        }
        assert_ne!(lists[0], lists[1]);
        assert_ne!(lists[1], lists[2]);
        let mut query = vec![0.0; d];
        query[1] = 1.0;
        let scores = centroids.scores(&query);
        let best = (0..3)
            .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
            .unwrap();
        assert_eq!(best, lists[1]);
        assert_eq!(lists_for(10_000), 100);
    }
}

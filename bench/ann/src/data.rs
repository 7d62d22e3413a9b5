//! The vectors: qis-sim's clustered generator (or uniform on the sphere), queries, and the exact
//! top-10 (unfiltered and under the 10 % domain filter) computed by brute force, cached on disk.

use std::fs;
use std::path::{Path, PathBuf};

use qis_sim::workload::{uniform, Clustered};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

pub const DIM: usize = 384;
pub const K: usize = 10;
/// The filter: packets of domain 3 (i % 10 == 3), 10 % of them.
pub const FILTER_DOMAIN: usize = 3;
const SEED: u64 = 42;
const ADDRESSES: usize = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Clustered,
    Uniform,
}

impl Kind {
    pub fn parse(s: &str) -> Kind {
        match s {
            "clustered" => Kind::Clustered,
            "uniform" => Kind::Uniform,
            _ => panic!("--data must be clustered or uniform, not {s}"),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Kind::Clustered => "clustered",
            Kind::Uniform => "uniform",
        }
    }
}

/// Whether packet `i` passes the domain filter.
pub fn in_filter(i: u64) -> bool {
    (i % 10) as usize == FILTER_DOMAIN
}

/// Makes vectors: packet i's, and query q's, for one kind of data.
pub struct Generator {
    kind: Kind,
    clustered: Clustered,
}

impl Generator {
    pub fn new(kind: Kind) -> Self {
        Generator { kind, clustered: Clustered::new(DIM, SEED) }
    }

    fn make(&self, a: usize, variant: u64) -> Vec<f32> {
        match self.kind {
            Kind::Clustered => self.clustered.vector(a % 10, a / 10, variant),
            Kind::Uniform => {
                let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ 0x756e_6966);
                rng.set_stream(variant.wrapping_mul(ADDRESSES as u64) + a as u64);
                uniform(&mut rng, DIM)
            }
        }
    }

    /// Packet i: address a = i % 2000 (domain a % 10, topic a / 10), variant i / 2000.
    pub fn packet(&self, i: usize) -> Vec<f32> {
        self.make(i % ADDRESSES, (i / ADDRESSES) as u64)
    }

    /// Query q: a new variant of a known topic.
    pub fn query(&self, q: usize) -> Vec<f32> {
        self.make((q * 7919) % ADDRESSES, (1u64 << 40) + q as u64)
    }

    /// Packets `range`, flat (`len * DIM` floats), generated in parallel.
    pub fn packets(&self, range: std::ops::Range<usize>) -> Vec<f32> {
        let rows: Vec<Vec<f32>> = range.into_par_iter().map(|i| self.packet(i)).collect();
        rows.concat()
    }

    /// Query q moved into the filter's domain: the same topic number, domain 3.
    pub fn query_in_domain(&self, q: usize) -> Vec<f32> {
        let a = (q * 7919) % ADDRESSES;
        self.make(a - a % 10 + FILTER_DOMAIN, (1u64 << 40) + q as u64)
    }

    pub fn queries(&self, nq: usize) -> Vec<f32> {
        let rows: Vec<Vec<f32>> = (0..nq).into_par_iter().map(|q| self.query(q)).collect();
        rows.concat()
    }

    pub fn queries_in_domain(&self, nq: usize) -> Vec<f32> {
        let rows: Vec<Vec<f32>> = (0..nq).into_par_iter().map(|q| self.query_in_domain(q)).collect();
        rows.concat()
    }
}

/// A dot product written so that the compiler vectorises it.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    acc.iter().sum()
}

/// The exact top-K of each query, by dot product (= cosine: unit vectors).
pub struct Truth {
    /// Of the queries, among all packets.
    pub all: Vec<[u32; K]>,
    /// Of the queries, among the filter's domain (most queries are of another domain).
    pub filtered: Vec<[u32; K]>,
    /// Of the queries moved into the filter's domain, among that domain.
    pub own: Vec<[u32; K]>,
}

fn push(top: &mut Vec<(f32, u32)>, s: f32, i: u32) {
    if top.len() == K && s <= top[K - 1].0 {
        return;
    }
    let at = top.partition_point(|&(t, _)| t >= s);
    top.insert(at, (s, i));
    top.truncate(K);
}

fn ids(top: &[(f32, u32)]) -> [u32; K] {
    let mut out = [u32::MAX; K];
    for (o, &(_, i)) in out.iter_mut().zip(top) {
        *o = i;
    }
    out
}

fn truth_path(dir: &Path, kind: Kind, n: usize, nq: usize) -> PathBuf {
    dir.join(format!("truth-{}-{n}-{nq}.bin", kind.name()))
}

impl Truth {
    /// Brute force over `base` (n vectors), in parallel over queries.
    pub fn compute(base: &[f32], queries: &[f32], in_domain: &[f32]) -> Truth {
        let own = in_domain
            .par_chunks(DIM)
            .map(|q| {
                let mut top = Vec::with_capacity(K + 1);
                for (i, v) in base.chunks_exact(DIM).enumerate().skip(FILTER_DOMAIN).step_by(10) {
                    push(&mut top, dot(q, v), i as u32);
                }
                ids(&top)
            })
            .collect();
        let (all, filtered) = queries
            .par_chunks(DIM)
            .map(|q| {
                let (mut all, mut filtered) = (Vec::with_capacity(K + 1), Vec::with_capacity(K + 1));
                for (i, v) in base.chunks_exact(DIM).enumerate() {
                    let s = dot(q, v);
                    push(&mut all, s, i as u32);
                    if in_filter(i as u64) {
                        push(&mut filtered, s, i as u32);
                    }
                }
                (ids(&all), ids(&filtered))
            })
            .unzip();
        Truth { all, filtered, own }
    }

    pub fn save(&self, dir: &Path, kind: Kind, n: usize) {
        fs::create_dir_all(dir).unwrap();
        let words: Vec<u8> =
            self.all.iter().chain(&self.filtered).chain(&self.own).flatten().flat_map(|x| x.to_le_bytes()).collect();
        fs::write(truth_path(dir, kind, n, self.all.len()), words).unwrap();
    }

    pub fn load(dir: &Path, kind: Kind, n: usize, nq: usize) -> Option<Truth> {
        let bytes = fs::read(truth_path(dir, kind, n, nq)).ok()?;
        let words: Vec<u32> =
            bytes.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().unwrap())).collect();
        let rows: Vec<[u32; K]> = words.chunks_exact(K).map(|r| r.try_into().unwrap()).collect();
        if rows.len() != 3 * nq {
            return None; // an older layout: compute again
        }
        Some(Truth {
            all: rows[..nq].to_vec(),
            filtered: rows[nq..2 * nq].to_vec(),
            own: rows[2 * nq..].to_vec(),
        })
    }
}

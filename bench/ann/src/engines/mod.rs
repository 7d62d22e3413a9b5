//! One module per candidate, behind the same two traits: an index being built and written, and
//! an index opened from disk for queries.

use std::path::Path;

use serde_json::Value;

#[cfg(feature = "hannoy")]
pub mod hannoy;
#[cfg(feature = "hnsw_rs")]
pub mod hnsw;
#[cfg(feature = "usearch-core")]
pub mod usearch;

/// What every engine is given.
#[derive(Clone, Debug)]
pub struct Config {
    /// The engine and its storage variant, e.g. `usearch-i8`.
    pub engine: String,
    pub n: usize,
    pub dim: usize,
    /// Graph connectivity (HNSW M; layer 0 has 2M).
    pub m: usize,
    /// Search expansion while building.
    pub ef_construction: usize,
}

/// An index being built in this process.
pub trait Builder {
    /// Indexes `base` (`n` vectors, keys 0..n) using the global rayon pool.
    fn build(&mut self, base: &[f32]);
    /// Adds one vector (on the calling thread).
    fn insert(&mut self, key: u64, vector: &[f32]);
    /// Makes the inserts since the last commit searchable and durable (a no-op for most).
    fn commit(&mut self) {}
    /// Whether `commit` costs a graph update, so that one-at-a-time inserts need one each.
    fn commit_per_insert_matters(&self) -> bool {
        false
    }
    /// Writes the index under the directory it was made for.
    fn save(&mut self);
    /// Removes a key: `None` if the engine cannot.
    fn remove(&mut self, key: u64) -> Option<bool>;
    /// Anything engine-specific worth reporting (memory the engine counts itself, …).
    fn notes(&self) -> Value {
        Value::Null
    }
}

/// An index opened from disk.
pub trait Searcher {
    fn search(&mut self, query: &[f32], k: usize, ef: usize) -> Vec<u64>;
    /// Top-k among the keys of domain [`crate::data::FILTER_DOMAIN`] (key % 10 == 3).
    fn search_filtered(&mut self, query: &[f32], k: usize, ef: usize) -> Vec<u64>;
    /// Seconds to load the whole index into memory instead (where opening maps it), if it can.
    fn full_load_s(&mut self) -> Option<f64> {
        None
    }
}

pub fn builder(cfg: &Config, dir: &Path) -> Box<dyn Builder> {
    let family = cfg.engine.split('-').next().unwrap();
    match family {
        #[cfg(feature = "usearch-core")]
        "usearch" => Box::new(usearch::Usearch::create(cfg, dir)),
        #[cfg(feature = "hnsw_rs")]
        "hnsw_rs" => Box::new(hnsw::HnswRs::create(cfg, dir)),
        #[cfg(feature = "hannoy")]
        "hannoy" => hannoy::create(cfg, dir),
        _ => panic!("engine {} is not compiled in (see the features in Cargo.toml)", cfg.engine),
    }
}

/// Opens the index saved under `dir`; the second value is engine-specific detail to report.
pub fn open(cfg: &Config, dir: &Path) -> (Box<dyn Searcher>, Value) {
    let family = cfg.engine.split('-').next().unwrap();
    match family {
        #[cfg(feature = "usearch-core")]
        "usearch" => usearch::open(cfg, dir),
        #[cfg(feature = "hnsw_rs")]
        "hnsw_rs" => hnsw::open(cfg, dir),
        #[cfg(feature = "hannoy")]
        "hannoy" => hannoy::open(cfg, dir),
        _ => panic!("engine {} is not compiled in (see the features in Cargo.toml)", cfg.engine),
    }
}

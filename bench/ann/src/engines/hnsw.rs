//! hnsw_rs (pure Rust): f32 vectors only for the dot/cosine distances; dump to two files
//! (graph, data); reload reads the graph into memory and can memory-map the data file.

use std::fs;
use std::path::{Path, PathBuf};

use hnsw_rs::prelude::*;
use rayon::prelude::*;
use serde_json::{json, Value};

use super::{Builder, Config, Searcher};
use crate::data::{in_filter, DIM};

const SPARE: usize = 20_000;
const MAX_LAYER: usize = 16;
const BASENAME: &str = "index";

pub struct HnswRs {
    hnsw: Hnsw<'static, f32, DistDot>,
    dir: PathBuf,
}

impl HnswRs {
    pub fn create(cfg: &Config, dir: &Path) -> Self {
        assert_eq!(cfg.engine, "hnsw_rs-f32", "hnsw_rs has one variant here: hnsw_rs-f32");
        let hnsw = Hnsw::new(cfg.m, cfg.n + SPARE, MAX_LAYER, cfg.ef_construction, DistDot);
        HnswRs { hnsw, dir: dir.to_owned() }
    }
}

impl Builder for HnswRs {
    fn build(&mut self, base: &[f32]) {
        let items: Vec<(&[f32], usize)> = base.chunks(DIM).enumerate().map(|(i, v)| (v, i)).collect();
        // parallel_insert_slice is this, on the global rayon pool.
        items.par_iter().for_each(|&item| self.hnsw.insert_slice(item));
    }

    fn insert(&mut self, key: u64, vector: &[f32]) {
        self.hnsw.insert_slice((vector, key as usize));
    }

    fn save(&mut self) {
        let name = self.hnsw.file_dump(&self.dir, BASENAME).unwrap();
        fs::write(self.dir.join("basename"), name).unwrap();
    }

    /// hnsw_rs has no removal: a store would filter removed keys at search time and rebuild.
    fn remove(&mut self, _key: u64) -> Option<bool> {
        None
    }
}

struct Opened(Hnsw<'static, f32, DistDot>);

impl Searcher for Opened {
    fn search(&mut self, query: &[f32], k: usize, ef: usize) -> Vec<u64> {
        self.0.search(query, k, ef).iter().map(|n| n.d_id as u64).collect()
    }

    fn search_filtered(&mut self, query: &[f32], k: usize, ef: usize) -> Vec<u64> {
        let filter = |id: &usize| in_filter(*id as u64);
        self.0.search_filter(query, k, ef, Some(&filter)).iter().map(|n| n.d_id as u64).collect()
    }
}

/// Reloads with the data file memory-mapped (`ReloadOptions::set_mmap`); the graph is read in.
pub fn open(_cfg: &Config, dir: &Path) -> (Box<dyn Searcher>, Value) {
    let name = fs::read_to_string(dir.join("basename")).unwrap();
    let options = ReloadOptions::default().set_mmap(true);
    // The loaded index borrows its loader (for the mapping): keep the loader for the process.
    let io: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new_with_options(dir, &name, options)));
    let hnsw: Hnsw<'static, f32, DistDot> = io.load_hnsw().unwrap();
    (Box::new(Opened(hnsw)), json!({ "open_mode": "graph read in, data mmap" }))
}

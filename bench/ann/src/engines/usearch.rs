//! usearch (C++ through cxx): one file; `view` memory-maps it.
//!
//! Variants: `usearch-i8`, `usearch-f16`, `usearch-f32` (the scalar kind it stores), all with the
//! cosine metric (`usearch-<kind>-ip` for inner product).

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde_json::{json, Value};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use super::{Builder, Config, Searcher};
use crate::data::{in_filter, DIM};
use crate::measure::{mib, secs};

/// Spare room reserved beyond `n` for the incremental inserts.
const SPARE: usize = 20_000;
const THREADS: usize = 2;

fn options(cfg: &Config) -> IndexOptions {
    let mut parts = cfg.engine.split('-').skip(1);
    let quantization = match parts.next() {
        Some("i8") => ScalarKind::I8,
        Some("f16") => ScalarKind::F16,
        Some("bf16") => ScalarKind::BF16,
        Some("f32") => ScalarKind::F32,
        other => panic!("usearch variant {other:?}: use i8, f16, bf16 or f32"),
    };
    let metric = match parts.next() {
        None | Some("cos") => MetricKind::Cos,
        Some("ip") => MetricKind::IP,
        other => panic!("usearch metric {other:?}: use cos or ip"),
    };
    IndexOptions {
        dimensions: cfg.dim,
        metric,
        quantization,
        connectivity: cfg.m,
        expansion_add: cfg.ef_construction,
        expansion_search: 64,
        multi: false,
    }
}

fn file(dir: &Path) -> String {
    dir.join("index.usearch").to_str().unwrap().to_owned()
}

pub struct Usearch {
    index: Index,
    path: PathBuf,
}

impl Usearch {
    pub fn create(cfg: &Config, dir: &Path) -> Self {
        let index = Index::new(&options(cfg)).unwrap();
        index.reserve_capacity_and_threads(cfg.n + SPARE, THREADS).unwrap();
        Usearch { index, path: dir.to_owned() }
    }
}

impl Builder for Usearch {
    fn build(&mut self, base: &[f32]) {
        let index = &self.index;
        base.par_chunks(DIM).enumerate().for_each(|(i, v)| index.add(i as u64, v).unwrap());
    }

    fn insert(&mut self, key: u64, vector: &[f32]) {
        self.index.add(key, vector).unwrap();
    }

    fn save(&mut self) {
        self.index.save(&file(&self.path)).unwrap();
    }

    fn remove(&mut self, key: u64) -> Option<bool> {
        Some(self.index.remove(key).unwrap() == 1)
    }

    fn notes(&self) -> Value {
        let m = self.index.memory_usage();
        json!({ "engine_memory_usage_mib": mib(m as u64), "hardware": self.index.hardware_acceleration() })
    }
}

struct Opened {
    index: Index,
    cfg: Config,
    path: String,
}

impl Searcher for Opened {
    fn search(&mut self, query: &[f32], k: usize, ef: usize) -> Vec<u64> {
        self.index.change_expansion_search(ef);
        self.index.search(query, k).unwrap().keys
    }

    fn search_filtered(&mut self, query: &[f32], k: usize, ef: usize) -> Vec<u64> {
        self.index.change_expansion_search(ef);
        self.index.filtered_search(query, k, in_filter).unwrap().keys
    }

    fn full_load_s(&mut self) -> Option<f64> {
        let start = Instant::now();
        let loaded = Index::new(&options(&self.cfg)).unwrap();
        loaded.load(&self.path).unwrap();
        Some(secs(start))
    }
}

/// A memory-mapped view: what the store would do.
pub fn open(cfg: &Config, dir: &Path) -> (Box<dyn Searcher>, Value) {
    let path = file(dir);
    let index = Index::new(&options(cfg)).unwrap();
    index.view(&path).unwrap();
    (Box::new(Opened { index, cfg: cfg.clone(), path }), json!({ "open_mode": "view (mmap)" }))
}

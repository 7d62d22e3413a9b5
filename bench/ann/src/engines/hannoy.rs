//! hannoy (HNSW on LMDB through heed): the vectors and the graph live in an LMDB environment,
//! which is memory-mapped on open; items are added in a write transaction, then `build` links
//! the new ones (in parallel) and the commit makes them durable.
//!
//! Variants: `hannoy-f32` (distance `Cosine`, f32 stored) and `hannoy-bq` (`BinaryQuantizedCosine`:
//! one bit per dimension, its only quantized cosine).

use std::fs;
use std::path::Path;

use hannoy::distances::{BinaryQuantizedCosine, Cosine};
use hannoy::{Database, Distance, Reader, Writer};
use heed::{CommitOrAbort, Env, EnvOpenOptions, RoTxn, RwTxn};
use rand10::rngs::StdRng;
use rand10::SeedableRng;
use roaring::RoaringBitmap;
use serde_json::{json, Value};

use super::{Builder, Config, Searcher};
use crate::data::{in_filter, DIM};

const MAP_SIZE: usize = 64 << 30;
const INDEX: u16 = 0;

fn env(dir: &Path) -> &'static Env {
    fs::create_dir_all(dir).unwrap();
    let env = unsafe { EnvOpenOptions::new().map_size(MAP_SIZE).open(dir) }.unwrap();
    // The databases, writers and readers borrow the environment: keep it for the process.
    Box::leak(Box::new(env))
}

fn create_db<D: Distance>(env: &'static Env) -> heed::Result<Database<'static, D>> {
    let wtxn = env.write_txn()?;
    Ok(env
        .create_databases_and_commit(wtxn, |dbo, wtxn| -> heed::Result<_> {
            dbo.create_database(wtxn, None).map(CommitOrAbort::<_, ()>::Commit)
        })?
        .unwrap_commit())
}

fn open_db<D: Distance>(env: &'static Env) -> heed::Result<Database<'static, D>> {
    let rtxn = env.read_txn()?;
    Ok(env
        .open_databases_and_commit(rtxn, |dbo, rtxn| -> heed::Result<_> {
            dbo.open_database(rtxn, None).map(CommitOrAbort::<_, ()>::Commit)
        })?
        .unwrap_commit()
        .expect("the index's database"))
}

pub fn create(cfg: &Config, dir: &Path) -> Box<dyn Builder> {
    match cfg.engine.as_str() {
        "hannoy-f32" => Box::new(Hannoy::<Cosine>::create(cfg, dir)),
        "hannoy-bq" => Box::new(Hannoy::<BinaryQuantizedCosine>::create(cfg, dir)),
        other => panic!("hannoy variant {other}: use hannoy-f32 or hannoy-bq"),
    }
}

pub struct Hannoy<D: Distance> {
    env: &'static Env,
    writer: Writer<'static, D>,
    wtxn: Option<RwTxn<'static>>,
    rng: StdRng,
    m: usize,
    ef_construction: usize,
}

impl<D: Distance> Hannoy<D> {
    fn create(cfg: &Config, dir: &Path) -> Self {
        let env = env(dir);
        let db = create_db::<D>(env).unwrap();
        Hannoy {
            env,
            writer: Writer::new(db, INDEX, cfg.dim),
            wtxn: None,
            rng: StdRng::seed_from_u64(42),
            m: cfg.m,
            ef_construction: cfg.ef_construction,
        }
    }
}

impl<D: Distance> Builder for Hannoy<D> {
    fn build(&mut self, base: &[f32]) {
        for (i, v) in base.chunks_exact(DIM).enumerate() {
            let writer = &self.writer;
            let wtxn = self.wtxn.get_or_insert_with(|| self.env.write_txn().unwrap());
            writer.add_item(wtxn, i as u32, v).unwrap();
        }
        self.commit();
    }

    fn insert(&mut self, key: u64, vector: &[f32]) {
        let writer = &self.writer;
        let wtxn = self.wtxn.get_or_insert_with(|| self.env.write_txn().unwrap());
        writer.add_item(wtxn, key as u32, vector).unwrap();
    }

    /// Links the items added since the last commit (the graph build runs on the rayon pool).
    fn commit(&mut self) {
        let mut wtxn = self.wtxn.take().unwrap_or_else(|| self.env.write_txn().unwrap());
        let mut builder = self.writer.builder(&mut self.rng);
        builder.ef_construction(self.ef_construction);
        match self.m {
            16 => builder.build::<16, 32>(&mut wtxn),
            32 => builder.build::<32, 64>(&mut wtxn),
            8 => builder.build::<8, 16>(&mut wtxn),
            m => panic!("hannoy's M is a const generic here: 8, 16 or 32, not {m}"),
        }
        .unwrap();
        wtxn.commit().unwrap();
    }

    fn commit_per_insert_matters(&self) -> bool {
        true
    }

    /// Everything is in LMDB already: committing is saving.
    fn save(&mut self) {
        if self.wtxn.is_some() {
            self.commit();
        }
        self.env.force_sync().unwrap();
    }

    /// `del_item` then a build (which repairs the neighbours' links), then the commit.
    fn remove(&mut self, key: u64) -> Option<bool> {
        let writer = &self.writer;
        let wtxn = self.wtxn.get_or_insert_with(|| self.env.write_txn().unwrap());
        let removed = writer.del_item(wtxn, key as u32).unwrap();
        self.commit();
        Some(removed)
    }
}

struct Opened<D: Distance> {
    rtxn: &'static RoTxn<'static>,
    reader: Reader<'static, D>,
    domain: RoaringBitmap,
}

impl<D: Distance> Searcher for Opened<D> {
    fn search(&mut self, query: &[f32], k: usize, ef: usize) -> Vec<u64> {
        let mut q = self.reader.nns(k);
        q.ef_search(ef);
        q.by_vector(self.rtxn, query).unwrap().into_nns().iter().map(|&(id, _)| id as u64).collect()
    }

    /// With the domain's items as a bitmap of candidates (which the store would keep per domain).
    fn search_filtered(&mut self, query: &[f32], k: usize, ef: usize) -> Vec<u64> {
        let mut q = self.reader.nns(k);
        q.ef_search(ef).candidates(&self.domain);
        q.by_vector(self.rtxn, query).unwrap().into_nns().iter().map(|&(id, _)| id as u64).collect()
    }
}

fn open_as<D: Distance>(cfg: &Config, dir: &Path) -> Box<dyn Searcher> {
    let env = env(dir);
    let db = open_db::<D>(env).unwrap();
    // One long read transaction for the whole run (a store would open one per query batch).
    let rtxn: &'static RoTxn<'static> = Box::leak(Box::new(env.read_txn().unwrap()));
    let reader = Reader::open(rtxn, INDEX, db).unwrap();
    let domain: RoaringBitmap = (0..cfg.n as u32).filter(|&i| in_filter(i as u64)).collect();
    Box::new(Opened { rtxn, reader, domain })
}

pub fn open(cfg: &Config, dir: &Path) -> (Box<dyn Searcher>, Value) {
    let searcher = match cfg.engine.as_str() {
        "hannoy-f32" => open_as::<Cosine>(cfg, dir),
        "hannoy-bq" => open_as::<BinaryQuantizedCosine>(cfg, dir),
        other => panic!("hannoy variant {other}: use hannoy-f32 or hannoy-bq"),
    };
    (searcher, json!({ "open_mode": "LMDB mmap" }))
}

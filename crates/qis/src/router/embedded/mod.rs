//! The embedded router: one data directory, durable and crash-safe, with vector search.
//!
//! - **SQLite is the source of truth** (bundled, WAL, `synchronous = FULL`): a deposit returns only
//!   after its transaction is on disk, so a process killed at any moment loses nothing that was
//!   acknowledged. Packets are stored as their MessagePack bytes beside the columns queries filter
//!   on, indexed by id and expiry.
//! - **Vectors** are kept in SQLite too, in a file of their own (`vectors.sqlite3`, by the packet's
//!   `seq`), so that the packets' file stays compact and an exact query or a deposit touches
//!   pages that stay in memory however large the vectors are. A deposit commits its vectors
//!   before its packets, and a deletion its packets before their vectors (listing them, so that a
//!   crash in between is finished at the next open): no packet lacks its vector, and no forgotten
//!   packet's vector is left behind. A store of schema version 1 (vectors in the packets' rows)
//!   is migrated when it opens.
//! - **Search** runs on the vectors' int8 codes in memory (a quarter of the vectors' bytes, kept
//!   in the vectors file too, so that opening reads only them), by domain: candidates by their
//!   codes, then the best scored again on their vectors, read from the vectors file. A domain
//!   past a configurable size is partitioned into lists around k-means centroids, in the
//!   background, and searched in the lists nearest the query (see `partition`); large scans
//!   use every core. It is a cache, rebuilt from the packets' filter columns and the codes when
//!   the store opens; the partitions are kept in the vectors file and restored with it.
//! - **Exact queries** read an in-memory index of the packets by address (newest first), rebuilt
//!   with the vectors: a B-tree keyed by hashes makes every deposit rewrite pages all over the
//!   file, a cost that grows with the store (see `by_address`).
//! - **One process per directory**: the directory is locked while open; a second opener gets a clear
//!   error naming the directory, never a shared, corrupted store.
//! - **TTL**: expired packets are never returned; a background task purges them (every minute by
//!   default), and [`Router::purge_expired`] does it at once.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use qis::router::{Router, embedded::EmbeddedRouter};
//! let dir = std::env::temp_dir().join(format!("qis-doc-{}", std::process::id()));
//! let router = EmbeddedRouter::open(&dir).await?;
//! assert_eq!(router.stats().await?.packets, 0);
//! # drop(router); std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), qis::Error>(()) }).unwrap();
//! ```

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};

use super::{
    AddressPage, AddressQuery, Capabilities, Forget, Hits, Query, Receipt, Routed, Router, Stats,
    Target,
};
use crate::error::{Error, Result};
use crate::packet::Packet;

mod by_address;
mod deposit;
mod forget;
mod interner;
mod lock;
mod partition;
mod purge;
mod query;
mod schema;
mod stored;
mod vectors;

use by_address::AddressIndex;
use lock::take_lock;
use purge::{AbortOnDrop, purge_loop};
use schema::{NO_MMAP, READER_PRAGMAS, configure, create_schema};
use stored::load_caches;
use vectors::VectorStore;

const ROUTER: &str = "embedded";
/// Exact queries up to this limit run on the calling task (see `Router::query` below).
const INLINE_QUERY_LIMIT: usize = 200;
/// The database file inside the data directory: the packets, their indexes, the tombstones.
pub const DATABASE_FILE: &str = "qis.sqlite3";
/// The vectors' database file inside the data directory, beside [`DATABASE_FILE`].
pub const VECTORS_FILE: &str = "vectors.sqlite3";
/// The lock file inside the data directory.
pub const LOCK_FILE: &str = "LOCK";

/// How an [`EmbeddedRouter`] behaves; `Default` suits most uses.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EmbeddedOptions {
    /// A domain holding at most this many vectors is searched whole: every vector's int8 code
    /// is scored and the best candidates are scored again on their vectors, which is exact
    /// unless codes misrank a true neighbour far down. A larger domain is partitioned (in the
    /// background) into lists around k-means centroids, and a search scores the lists nearest
    /// the query, at least this many codes and a sixteenth of the domain (default 4,096; see
    /// docs/performance.md for the recall this gives).
    pub exact_below: usize,
    /// How often the background task purges expired packets (`None`: never; default 60 s).
    pub purge_interval: Option<Duration>,
    /// How many read connections serve queries in parallel (default 2).
    pub readers: usize,
    /// How many decoded packets to keep in memory for queries (default 100,000, roughly 100 MB at
    /// most; 0 turns the cache off). Packets are immutable, so the cache is never stale.
    pub cached_packets: usize,
    /// The most bytes each of the store's two database files may grow to (`None`: no limit, the
    /// default). A deposit that would grow one further is refused with [`Error::StorageFull`] and
    /// stores nothing, as on a full disk; forgotten and purged packets' pages are reused.
    pub max_bytes: Option<u64>,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            exact_below: 4_096,
            purge_interval: Some(Duration::from_secs(60)),
            readers: 2,
            cached_packets: 100_000,
            max_bytes: None,
        }
    }
}

impl EmbeddedOptions {
    /// Sets [`EmbeddedOptions::max_bytes`].
    #[must_use]
    pub fn max_bytes(mut self, bytes: Option<u64>) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Sets [`EmbeddedOptions::exact_below`].
    #[must_use]
    pub fn exact_below(mut self, n: usize) -> Self {
        self.exact_below = n;
        self
    }
    /// Sets [`EmbeddedOptions::cached_packets`].
    #[must_use]
    pub fn cached_packets(mut self, n: usize) -> Self {
        self.cached_packets = n;
        self
    }
    /// Sets [`EmbeddedOptions::purge_interval`].
    #[must_use]
    pub fn purge_interval(mut self, every: Option<Duration>) -> Self {
        self.purge_interval = every;
        self
    }
}

/// Packets in SQLite in one data directory; see the [module docs](self).
#[derive(Debug)]
pub struct EmbeddedRouter {
    shared: Arc<Shared>,
    /// Stops the background purge when the router is dropped.
    _purger: Option<AbortOnDrop>,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    options: EmbeddedOptions,
    /// The single writer; deposits and purges are serialised through it.
    writer: Mutex<Connection>,
    /// The vectors file's writer, used only while `writer` is held, but by the thread that
    /// partitions search, which keeps each partition here and installs it while holding this.
    /// A deposit commits its vectors here before its packets there, and a deletion the other
    /// way round (see `schema::create_schema`), so that a packet never lacks its vector.
    vector_writer: Arc<Mutex<Connection>>,
    /// Read-only connections, with the vectors file attached as `v`; WAL lets them read while
    /// the writers write.
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// Every live vector's code, for search; rebuilt from SQLite at open. Shared with the
    /// background thread that partitions its large segments.
    vectors: Arc<RwLock<VectorStore>>,
    indexer: Arc<Indexer>,
    /// Every packet's `seq` by address, for exact queries; rebuilt from SQLite at open. Updated
    /// after `vectors` where both change, and read without it.
    by_address: RwLock<AddressIndex>,
    /// Decoded packets by `seq`, so hot addresses are not decoded again on every query.
    cache: Option<quick_cache::sync::Cache<i64, Arc<Packet>>>,
    /// The embedder whose vectors the store holds (the file `EMBEDDER`), once known.
    embedder: std::sync::OnceLock<String>,
    /// Held (locked) for as long as the store is open.
    _lock: File,
}

/// The file in the data directory that names the embedder its vectors came from.
pub const EMBEDDER_FILE: &str = "EMBEDDER";

impl Shared {
    /// See [`Router::bind_embedder`]: the name is kept in [`EMBEDDER_FILE`], written on first use.
    fn bind_embedder(&self, embedder: &str) -> Result<()> {
        let held = match self.embedder.get() {
            Some(held) => held,
            None => {
                let path = self.dir.join(EMBEDDER_FILE);
                let name = match std::fs::read_to_string(&path) {
                    Ok(existing) => existing.trim().to_owned(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        std::fs::write(&path, embedder).map_err(backend)?;
                        embedder.to_owned()
                    }
                    Err(e) => return Err(backend(e)),
                };
                self.embedder.get_or_init(|| name)
            }
        };
        if held == embedder {
            Ok(())
        } else {
            Err(super::embedder_mismatch(
                &self.dir.display().to_string(),
                held,
                embedder,
            ))
        }
    }
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Backend {
        router: ROUTER,
        retryable: false,
        source: Box::new(e),
    }
}

fn sqlite(e: rusqlite::Error) -> Error {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
        return Error::StorageFull {
            router: ROUTER,
            message: e.to_string(),
        };
    }
    let retryable = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    Error::Backend {
        router: ROUTER,
        retryable,
        source: Box::new(e),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update of shared state completes or is rolled back before a lock is released, so a
    // poisoned lock still guards consistent state.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::StorageFull {
        return Error::StorageFull {
            router: ROUTER,
            message: format!("{what}: {e}"),
        };
    }
    Error::Backend {
        router: ROUTER,
        retryable: false,
        source: format!("{what} {}: {e}", path.display()).into(),
    }
}

impl EmbeddedRouter {
    /// Opens (creating if needed) the store in `dir` with default options.
    pub async fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, EmbeddedOptions::default()).await
    }

    /// Opens (creating if needed) the store in `dir`.
    ///
    /// Errors: the directory cannot be created or read; another process has it open; the database
    /// is not a qis store or is corrupt. Nothing stored is changed by a failed open.
    pub async fn open_with(dir: impl AsRef<Path>, options: EmbeddedOptions) -> Result<Self> {
        let dir = dir.as_ref().to_owned();
        let shared = tokio::task::spawn_blocking(move || Shared::open(dir, options))
            .await
            .map_err(backend)??;
        let shared = Arc::new(shared);
        let purger = match (
            shared.options.purge_interval,
            tokio::runtime::Handle::try_current(),
        ) {
            (Some(every), Ok(handle)) => Some(AbortOnDrop(
                handle.spawn(purge_loop(Arc::downgrade(&shared), every)),
            )),
            _ => None,
        };
        Ok(EmbeddedRouter {
            shared,
            _purger: purger,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Waits until vector search is partitioned wherever a domain holds more than
    /// [`EmbeddedOptions::exact_below`] vectors. That runs in the background after deposits
    /// and after opening; queries meanwhile scan such domains whole, and answer the same. For
    /// benchmarks and tests, which measure the indexed store.
    pub async fn wait_indexed(&self) -> Result<()> {
        self.blocking(|s| {
            s.wait_indexed();
            Ok(())
        })
        .await
    }

    /// How vector search runs, domain by domain: see [`VectorIndex`].
    pub fn vector_index(&self) -> VectorIndex {
        let (domains, partitioned, declined) = self
            .shared
            .vectors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .index_summary();
        VectorIndex {
            domains,
            partitioned,
            declined,
        }
    }

    /// A page of the live (unexpired) packets with their vectors, in storage order: up to `limit`
    /// packets stored after `cursor` (start at 0), and the cursor of the next page (`None` at the
    /// end). Used by `qis export`; deposits made meanwhile appear in later pages.
    pub async fn scan(&self, cursor: i64, limit: usize) -> Result<(Vec<Routed>, Option<i64>)> {
        self.blocking(move |s| s.scan(cursor, limit)).await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Shared) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || f(&shared))
            .await
            .map_err(backend)?
    }
}

impl Shared {
    fn open(dir: PathBuf, options: EmbeddedOptions) -> Result<Self> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| io_error("cannot create the data directory", &dir, e))?;
        let lock = take_lock(&dir)?;
        let path = dir.join(DATABASE_FILE);
        let vectors_path = dir.join(VECTORS_FILE);
        let mut writer = Connection::open(&path).map_err(sqlite)?;
        configure(&writer, &path)?;
        let mut vector_writer = Connection::open(&vectors_path).map_err(sqlite)?;
        configure(&vector_writer, &vectors_path)?;
        // The vectors file is read whole at open and at random by queries (a candidate's vector
        // each): through the page cache, not a memory map, whose pages would stay resident.
        vector_writer.execute_batch(NO_MMAP).map_err(sqlite)?;
        create_schema(&mut writer, &vector_writer, &path)?;
        if let Some(bytes) = options.max_bytes {
            for conn in [&writer, &vector_writer] {
                let page: u64 = conn
                    .query_row("PRAGMA page_size", [], |r| r.get(0))
                    .map_err(sqlite)?;
                let pages = (bytes / page.max(1)).max(1);
                conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
                    .map_err(sqlite)?;
            }
        }
        forget::settle_vectors(&writer, &vector_writer)?;
        let mut readers = Vec::new();
        for _ in 0..options.readers.max(1) {
            let r = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(sqlite)?;
            r.busy_timeout(Duration::from_secs(5)).map_err(sqlite)?;
            r.execute(
                "ATTACH DATABASE ?1 AS v",
                [vectors_path.to_string_lossy().as_ref()],
            )
            .map_err(sqlite)?;
            // Reads through a memory map and a larger page cache: an index range read then costs
            // no system call once its pages are resident.
            r.execute_batch(READER_PRAGMAS).map_err(sqlite)?;
            r.execute_batch(&format!(
                "PRAGMA v.{}",
                NO_MMAP.trim_start_matches("PRAGMA ")
            ))
            .map_err(sqlite)?;
            readers.push(Mutex::new(r));
        }
        // Read once, in order: through the page cache, not the memory map, whose pages would
        // stay resident after.
        writer.execute_batch(NO_MMAP).map_err(sqlite)?;
        let (vectors, by_address) = load_caches(&writer, &mut vector_writer)?;
        writer.execute_batch(READER_PRAGMAS).map_err(sqlite)?;
        let cache = (options.cached_packets > 0)
            .then(|| quick_cache::sync::Cache::new(options.cached_packets));
        let shared = Shared {
            dir,
            options,
            writer: Mutex::new(writer),
            vector_writer: Arc::new(Mutex::new(vector_writer)),
            readers,
            next_reader: AtomicUsize::new(0),
            vectors: Arc::new(RwLock::new(vectors)),
            indexer: Arc::default(),
            by_address: RwLock::new(by_address),
            cache,
            embedder: std::sync::OnceLock::new(),
            _lock: lock,
        };
        shared.partition_in_background();
        Ok(shared)
    }

    /// Starts the thread that partitions the segments that need it, unless it is running or
    /// none does. It runs k-means on a copy of a segment's codes, without a lock, then keeps the
    /// centroids and the codes' lists in the vectors file and installs the lists, holding the
    /// vectors' writer (milliseconds), one segment at a time, until none needs it. Opening the
    /// store restores them from there.
    fn partition_in_background(&self) {
        let scan_whole = self.options.exact_below;
        let mut busy = lock(&self.indexer.busy);
        let needed = || {
            self.vectors
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .needs_partition(scan_whole)
        };
        if *busy || !needed() {
            return;
        }
        *busy = true;
        drop(busy);
        let vectors = self.vectors.clone();
        let indexer = self.indexer.clone();
        let vector_writer = self.vector_writer.clone();
        let spawned = std::thread::Builder::new()
            .name("qis-partition".into())
            .spawn(move || {
                // Marks the indexer idle however the thread ends (a panic included).
                let _idle = Idle(&indexer);
                loop {
                    let snapshot = vectors
                        .read()
                        .unwrap_or_else(|e| e.into_inner())
                        .to_partition(scan_whole);
                    let Some(snapshot) = snapshot else {
                        // Checked again while holding `busy`, which a deposit takes after its
                        // changes: one that came in meanwhile is not left unpartitioned.
                        let busy = lock(&indexer.busy);
                        let more = vectors
                            .read()
                            .unwrap_or_else(|e| e.into_inner())
                            .needs_partition(scan_whole);
                        drop(busy);
                        if more {
                            continue;
                        }
                        return;
                    };
                    let lists = partition::lists_for(snapshot.seqs.len());
                    let centroids = partition::train(
                        &snapshot.codes,
                        &snapshot.scales,
                        snapshot.dimension,
                        lists,
                    );
                    let assigned: Vec<u32> = snapshot
                        .codes
                        .chunks_exact(snapshot.dimension)
                        .map(|code| centroids.list_of(code) as u32)
                        .collect();
                    let recall =
                        partition::recall(&snapshot, &centroids, &assigned, scan_whole);
                    let keeps = recall >= partition::RECALL_KEPT;
                    // Deposits wait meanwhile, so that each code they place is placed by the
                    // lists installed.
                    let vconn = lock(&vector_writer);
                    let made = keeps.then_some((&centroids, assigned.as_slice()));
                    let kept = stored::save_partition(&vconn, &snapshot, made);
                    let mut vectors = vectors.write().unwrap_or_else(|e| e.into_inner());
                    match kept {
                        Ok(()) if keeps => {
                            tracing::info!(
                                domain = snapshot.domain_name.as_str(),
                                vectors = snapshot.seqs.len(),
                                lists = centroids.len(),
                                recall,
                                "a domain's vector search is partitioned"
                            );
                            vectors.install(&snapshot, centroids, &assigned)
                        }
                        Ok(()) => {
                            tracing::info!(
                                domain = snapshot.domain_name.as_str(),
                                vectors = snapshot.seqs.len(),
                                recall,
                                "a domain's vectors have no clusters to partition: it is searched whole"
                            );
                            vectors.decline(&snapshot);
                        }
                        Err(e) => {
                            // Not installed: a list placed by it would not be found again.
                            tracing::warn!(
                                error = %e,
                                "cannot keep a domain's partition: it is searched whole until it doubles"
                            );
                            vectors.decline(&snapshot);
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the thread that partitions vector search");
            Idle(&self.indexer);
        }
    }

    /// Blocks until no segment is being partitioned.
    fn wait_indexed(&self) {
        let mut busy = lock(&self.indexer.busy);
        while *busy {
            busy = self
                .indexer
                .idle
                .wait(busy)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// How the store's vector search runs, from [`EmbeddedRouter::vector_index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct VectorIndex {
    /// Domains holding vectors.
    pub domains: usize,
    /// Of those, how many are partitioned (searched in the lists nearest a query).
    pub partitioned: usize,
    /// How many were not, because partitioning them would have cost recall (their vectors
    /// have no clusters); they are scanned whole, as domains of at most
    /// [`EmbeddedOptions::exact_below`] vectors are.
    pub declined: usize,
}

/// Whether the partitioning thread runs, and its end signalled.
#[derive(Debug, Default)]
struct Indexer {
    busy: Mutex<bool>,
    idle: std::sync::Condvar,
}

/// Marks the indexer idle when dropped.
struct Idle<'a>(&'a Indexer);

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        *lock(&self.0.busy) = false;
        self.0.idle.notify_all();
    }
}

#[async_trait]
impl Router for EmbeddedRouter {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            vector: true,
            durable: true,
            forget: true,
            addresses: true,
            ..Capabilities::new(ROUTER)
        }
    }

    fn bind_embedder(&self, embedder: &str) -> Result<()> {
        self.shared.bind_embedder(embedder)
    }

    async fn deposit(&self, packets: &[Routed]) -> Result<Vec<Receipt>> {
        let batch = packets.to_vec();
        self.blocking(move |s| s.deposit(&batch)).await
    }

    async fn query(&self, query: &Query) -> Result<Hits> {
        // A small exact query is an index range read of tens of microseconds: run it here, which
        // costs less than handing it to a blocking thread and waiting for the answer. Scans
        // (vector queries) and large reads go to the blocking pool, off the async workers.
        if matches!(query.target, Target::Address(_)) && query.limit <= INLINE_QUERY_LIMIT {
            return self.shared.query(query).map(Hits::from);
        }
        let query = query.clone();
        self.blocking(move |s| s.query(&query))
            .await
            .map(Hits::from)
    }

    async fn forget(&self, what: &Forget) -> Result<u64> {
        let what = what.clone();
        self.blocking(move |s| s.forget(&what)).await
    }

    async fn addresses(&self, query: &AddressQuery) -> Result<AddressPage> {
        let query = query.clone();
        self.blocking(move |s| s.addresses(&query)).await
    }

    async fn stats(&self) -> Result<Stats> {
        self.blocking(|s| s.stats()).await
    }

    async fn purge_expired(&self) -> Result<u64> {
        self.blocking(|s| s.purge()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Address, Millis};
    use crate::router::Query;

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// A crash between the two files' commits leaves a vector under a `seq` no packet took (a
    /// deposit's vectors committed, its packets not) or a deleted packet's vector still listed
    /// (its deletion committed, the vector's not): opening the store drops both.
    #[test]
    fn opening_drops_the_vectors_a_crash_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let options = EmbeddedOptions::default().purge_interval(None);
        let at = Address::from_bytes(&[7; 8]).unwrap();
        let batch: Vec<Routed> = [[1.0, 0.0], [0.0, 1.0]]
            .iter()
            .map(|v| {
                let p = Packet::builder("a", "d", at).build().unwrap();
                Routed::with_vector(p, v).unwrap()
            })
            .collect();
        drop(
            Shared::open(dir.path().into(), options.clone())
                .unwrap()
                .deposit(&batch)
                .unwrap(),
        );
        {
            let main = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
            let vectors = Connection::open(dir.path().join(VECTORS_FILE)).unwrap();
            vectors
                .execute(
                    "INSERT INTO vectors (seq, vector) VALUES (99, x'0000803f00000000')",
                    [],
                )
                .unwrap();
            main.execute_batch(
                "BEGIN; DELETE FROM packets WHERE seq = 2; \
                 INSERT INTO dropped_vectors (seq) VALUES (2); COMMIT;",
            )
            .unwrap();
        }
        let store = Shared::open(dir.path().into(), options).unwrap();
        assert_eq!(store.stats().unwrap().vectors, 1);
        let vectors = Connection::open(dir.path().join(VECTORS_FILE)).unwrap();
        assert_eq!(count(&vectors, "SELECT COUNT(*) FROM vectors"), 1);
        assert_eq!(count(&vectors, "SELECT MAX(seq) FROM vectors"), 1);
        assert_eq!(
            count(&vectors, "SELECT COUNT(*) FROM codes"),
            1,
            "a code goes with its vector"
        );
        let main = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        assert_eq!(count(&main, "SELECT COUNT(*) FROM dropped_vectors"), 0);
    }

    /// Stores made before the address index moved into memory have SQLite indexes by address,
    /// domain and creation: opening drops them, and every query still answers from memory.
    #[test]
    fn opening_drops_the_indexes_older_stores_made() {
        let dir = tempfile::tempdir().unwrap();
        let options = EmbeddedOptions::default().purge_interval(None);
        let at = Address::from_bytes(&[3; 8]).unwrap();
        let batch: Vec<Routed> = (0..5)
            .map(|i| {
                let p = Packet::builder("a", "d", at)
                    .created(1_000 + i)
                    .build()
                    .unwrap();
                Routed::new(p)
            })
            .collect();
        Shared::open(dir.path().into(), options.clone())
            .unwrap()
            .deposit(&batch)
            .unwrap();
        let main = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        main.execute_batch(
            "CREATE INDEX packets_at_address ON packets (address, created DESC, id DESC, expires); \
             CREATE INDEX packets_by_domain ON packets (domain, created); \
             CREATE INDEX packets_by_created ON packets (created);",
        )
        .unwrap();
        drop(main);
        let store = Shared::open(dir.path().into(), options).unwrap();
        let main = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        assert_eq!(
            count(
                &main,
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN \
                 ('packets_at_address', 'packets_by_domain', 'packets_by_created')"
            ),
            0
        );
        let hits = store.query(&Query::exact(at).limit(3)).unwrap();
        let created: Vec<Millis> = hits.iter().map(|h| h.packet.created()).collect();
        assert_eq!(created, [1_004, 1_003, 1_002]);
        assert_eq!(store.stats().unwrap().addresses, 1);
    }

    /// `n` vectors of dimension 16 around 12 centres, from a fixed seed.
    fn clustered(seed: u64, n: usize) -> Vec<Vec<f32>> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let centres: Vec<Vec<f32>> = (0..12)
            .map(|_| (0..16).map(|_| rng.random_range(-1.0f32..1.0)).collect())
            .collect();
        (0..n)
            .map(|i| {
                centres[i % 12]
                    .iter()
                    .map(|x| x + rng.random_range(-0.3f32..0.3))
                    .collect()
            })
            .collect()
    }

    fn deposit_vectors(store: &Shared, vectors: &[Vec<f32>]) {
        let at = Address::from_bytes(&[9; 8]).unwrap();
        let batch: Vec<Routed> = vectors
            .iter()
            .map(|v| {
                let p = Packet::builder("a", "d", at).build().unwrap();
                Routed::with_vector(p, v).unwrap()
            })
            .collect();
        store.deposit(&batch).unwrap();
    }

    /// The ids of the 10 nearest packets to each query.
    fn answers(store: &Shared, queries: &[Vec<f32>]) -> Vec<Vec<crate::packet::PacketId>> {
        queries
            .iter()
            .map(|q| {
                store
                    .query(&Query::nearest(q, 10).unwrap())
                    .unwrap()
                    .iter()
                    .map(|h| h.packet.id())
                    .collect()
            })
            .collect()
    }

    /// A partition is kept in the vectors file: opening restores it, with every code in the
    /// list it was in (those it was made from, and those deposited after), and runs no k-means.
    /// A code's kept list counts only under its domain's generation: lists written under
    /// another are placed again by the centroids, and the answers stay the same.
    #[test]
    fn opening_restores_the_partitions_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let options = EmbeddedOptions::default()
            .purge_interval(None)
            .exact_below(100);
        let vectors = clustered(3, 2_000);
        let queries = clustered(4, 30);
        let before = {
            let store = Shared::open(dir.path().into(), options.clone()).unwrap();
            deposit_vectors(&store, &vectors[..1_000]);
            store.wait_indexed();
            // Fewer than twice as many: placed in the lists made, not partitioned again.
            deposit_vectors(&store, &vectors[1_000..1_900]);
            store.wait_indexed();
            assert_eq!(store.vectors.read().unwrap().index_summary(), (1, 1, 0));
            answers(&store, &queries)
        };
        let vectors_file = Connection::open(dir.path().join(VECTORS_FILE)).unwrap();
        assert_eq!(
            count(
                &vectors_file,
                "SELECT COUNT(*) FROM codes WHERE list IS NOT NULL"
            ),
            900,
            "the codes deposited after the partition have their lists"
        );
        for _ in 0..2 {
            let store = Shared::open(dir.path().into(), options.clone()).unwrap();
            assert!(!*lock(&store.indexer.busy), "nothing left to partition");
            assert_eq!(store.vectors.read().unwrap().index_summary(), (1, 1, 0));
            assert_eq!(answers(&store, &queries), before);
            drop(store);
            // Lists under another generation (as a crash between a partition's keeping and
            // its codes' could leave) are not read.
            vectors_file
                .execute(
                    "UPDATE codes SET list = list + 1, generation = generation + 5 \
                     WHERE list IS NOT NULL",
                    [],
                )
                .unwrap();
        }
    }

    /// A domain whose partition was declined (vectors without clusters) stays declined when the
    /// store opens again: no k-means runs on it before it has doubled.
    #[test]
    fn opening_keeps_a_declined_partition_declined() {
        use rand::{Rng, SeedableRng};
        let dir = tempfile::tempdir().unwrap();
        let options = EmbeddedOptions::default()
            .purge_interval(None)
            .exact_below(100);
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let uniform: Vec<Vec<f32>> = (0..1_500)
            .map(|_| (0..32).map(|_| rng.random_range(-1.0f32..1.0)).collect())
            .collect();
        {
            let store = Shared::open(dir.path().into(), options.clone()).unwrap();
            deposit_vectors(&store, &uniform);
            store.wait_indexed();
            assert_eq!(store.vectors.read().unwrap().index_summary(), (1, 0, 1));
        }
        let store = Shared::open(dir.path().into(), options).unwrap();
        assert!(!*lock(&store.indexer.busy));
        assert_eq!(store.vectors.read().unwrap().index_summary(), (1, 0, 1));
    }

    /// A store made before the vectors file held codes gets them written when it opens, and
    /// searches them as it searched the vectors.
    #[test]
    fn opening_writes_the_codes_a_store_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let options = EmbeddedOptions::default().purge_interval(None);
        let at = Address::from_bytes(&[5; 8]).unwrap();
        let batch: Vec<Routed> = (0..20)
            .map(|i| {
                let angle = i as f32 / 10.0;
                let p = Packet::builder("a", "d", at).build().unwrap();
                Routed::with_vector(p, &[angle.cos(), angle.sin(), 0.5]).unwrap()
            })
            .collect();
        Shared::open(dir.path().into(), options.clone())
            .unwrap()
            .deposit(&batch)
            .unwrap();
        let vectors = Connection::open(dir.path().join(VECTORS_FILE)).unwrap();
        vectors.execute("DELETE FROM codes", []).unwrap();
        drop(vectors);
        let store = Shared::open(dir.path().into(), options).unwrap();
        let vectors = Connection::open(dir.path().join(VECTORS_FILE)).unwrap();
        assert_eq!(count(&vectors, "SELECT COUNT(*) FROM codes"), 20);
        let target = batch[7].vector.clone().unwrap();
        let hits = store.query(&Query::nearest(&target, 3).unwrap()).unwrap();
        assert_eq!(hits[0].packet.id(), batch[7].packet.id());
        assert!(
            (hits[0].score - 1.0).abs() < 1e-5,
            "scored on the vector, not its code"
        );
    }
}

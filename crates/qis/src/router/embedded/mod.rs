//! The embedded router: one data directory, durable and crash-safe, with vector search.
//!
//! - **SQLite is the source of truth** (bundled, WAL, `synchronous = FULL`): a deposit returns only
//!   after its transaction is on disk, so a process killed at any moment loses nothing that was
//!   acknowledged. Packets are stored as their MessagePack bytes beside the columns queries filter
//!   on, indexed by address, domain, created and expiry.
//! - **Vectors** are kept in SQLite too, and held in memory for search: searched exactly while the
//!   store is small (or a filter is narrow), through an approximate index past a configurable size.
//!   The in-memory side is a cache, rebuilt from SQLite when the store opens.
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

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{
    Capabilities, Hit, Hits, Query, Receipt, Routed, Router, Stats, Target, batch_dimension,
};
use crate::error::{Error, Result};
use crate::packet::{Millis, Packet, PacketId, now_ms};

mod vectors;

use vectors::{Scored, VectorStore};

const ROUTER: &str = "embedded";
const SCHEMA_VERSION: i64 = 1;
/// Exact queries up to this limit run on the calling task (see `Router::query` below).
const INLINE_QUERY_LIMIT: usize = 200;
/// Every connection maps up to 1 GiB of the database and caches 32 MiB of pages.
const READER_PRAGMAS: &str = "PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -32768;";
/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "qis.sqlite3";
/// The lock file inside the data directory.
pub const LOCK_FILE: &str = "LOCK";

/// How an [`EmbeddedRouter`] behaves; `Default` suits most uses.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EmbeddedOptions {
    /// A vector query whose domain (or, without a domain filter, the whole store) holds at most
    /// this many vectors is an exact scan; larger ones take the int8 two-pass search (default
    /// 4,096: past that, the two passes are faster and their recall measures 1.0).
    pub exact_below: usize,
    /// How often the background task purges expired packets (`None`: never; default 60 s).
    pub purge_interval: Option<Duration>,
    /// How many read connections serve queries in parallel (default 2).
    pub readers: usize,
    /// How many decoded packets to keep in memory for queries (default 100,000, roughly 100 MB at
    /// most; 0 turns the cache off). Packets are immutable, so the cache is never stale.
    pub cached_packets: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            exact_below: 4_096,
            purge_interval: Some(Duration::from_secs(60)),
            readers: 2,
            cached_packets: 100_000,
        }
    }
}

impl EmbeddedOptions {
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
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    options: EmbeddedOptions,
    /// The single writer; deposits and purges are serialised through it.
    writer: Mutex<Connection>,
    /// Read-only connections; WAL lets them read while the writer writes.
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// Every live vector, for search; rebuilt from SQLite at open.
    vectors: RwLock<VectorStore>,
    /// Decoded packets by `seq`, so hot addresses are not decoded again on every query.
    cache: Option<quick_cache::sync::Cache<i64, Arc<Packet>>>,
    /// Held (locked) for as long as the store is open.
    _lock: File,
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Backend {
        router: ROUTER,
        retryable: false,
        source: Box::new(e),
    }
}

fn sqlite(e: rusqlite::Error) -> Error {
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

fn vector_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn vector_from_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
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

async fn purge_loop(shared: Weak<Shared>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await; // the first tick is immediate
    loop {
        ticks.tick().await;
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let result = tokio::task::spawn_blocking(move || strong.purge()).await;
        match result {
            Ok(Ok(n)) if n > 0 => tracing::debug!(removed = n, "purged expired packets"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "background purge failed"),
            Err(e) => tracing::warn!(error = %e, "background purge task failed"),
        }
    }
}

impl Shared {
    fn open(dir: PathBuf, options: EmbeddedOptions) -> Result<Self> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| io_error("cannot create the data directory", &dir, e))?;
        let lock = take_lock(&dir)?;
        let path = dir.join(DATABASE_FILE);
        let writer = Connection::open(&path).map_err(sqlite)?;
        configure(&writer, &path)?;
        create_schema(&writer, &path)?;
        let mut readers = Vec::new();
        for _ in 0..options.readers.max(1) {
            let r = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(sqlite)?;
            r.busy_timeout(Duration::from_secs(5)).map_err(sqlite)?;
            // Reads through a memory map and a larger page cache: an index range read then costs
            // no system call once its pages are resident.
            r.execute_batch(READER_PRAGMAS).map_err(sqlite)?;
            readers.push(Mutex::new(r));
        }
        let vectors = load_vectors(&writer)?;
        let cache = (options.cached_packets > 0)
            .then(|| quick_cache::sync::Cache::new(options.cached_packets));
        Ok(Shared {
            dir,
            options,
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            vectors: RwLock::new(vectors),
            cache,
            _lock: lock,
        })
    }

    /// The packet stored as `seq`, from the cache or decoded from `body` (read only on a miss).
    fn packet(
        &self,
        seq: i64,
        body: impl FnOnce() -> rusqlite::Result<Vec<u8>>,
    ) -> Result<Arc<Packet>> {
        if let Some(p) = self.cache.as_ref().and_then(|c| c.get(&seq)) {
            return Ok(p);
        }
        let packet = Arc::new(decode_stored(&body().map_err(sqlite)?)?);
        if let Some(c) = &self.cache {
            c.insert(seq, packet.clone());
        }
        Ok(packet)
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        // Take a free reader if there is one; otherwise wait on the next in turn.
        for r in &self.readers {
            if let Ok(guard) = r.try_lock() {
                return guard;
            }
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        lock(&self.readers[i])
    }

    fn deposit(&self, batch: &[Routed]) -> Result<Vec<Receipt>> {
        let now = now_ms();
        for routed in batch {
            routed.admit(now)?;
        }
        let mut conn = lock(&self.writer);
        let stored_dimension = self
            .vectors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .dimension();
        let dimension = batch_dimension(batch, stored_dimension)?;
        let tx = conn.transaction().map_err(sqlite)?;
        let mut receipts = Vec::with_capacity(batch.len());
        let mut inserted: Vec<(i64, usize)> = Vec::new();
        {
            let mut in_batch: std::collections::HashMap<PacketId, (Vec<u8>, Option<Vec<u8>>)> =
                std::collections::HashMap::new();
            let mut find = tx
                .prepare_cached("SELECT body, vector FROM packets WHERE id = ?1")
                .map_err(sqlite)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO packets (id, address, domain, agent, outcome, confidence, created, expires, body, vector) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(sqlite)?;
            for (i, routed) in batch.iter().enumerate() {
                let p = &routed.packet;
                let body = p.to_msgpack();
                let vector = routed.vector.as_deref().map(vector_bytes);
                let id = p.id();
                let previous = match in_batch.get(&id) {
                    Some(prev) => Some(prev.clone()),
                    None => find
                        .query_row([id.as_uuid().as_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                        .map_err(sqlite)?,
                };
                let stored = match previous {
                    Some((b, v)) if b == body && v == vector => false,
                    Some(_) => return Err(Error::Conflict { id: id.to_string() }),
                    None => {
                        insert
                            .execute(params![
                                id.as_uuid().as_bytes(),
                                p.address().as_bytes(),
                                p.domain(),
                                p.agent(),
                                p.outcome().as_str(),
                                p.confidence() as f64,
                                p.created() as i64,
                                p.expires_at().map(|e| e.min(i64::MAX as u64) as i64),
                                &body,
                                &vector,
                            ])
                            .map_err(sqlite)?;
                        inserted.push((tx.last_insert_rowid(), i));
                        in_batch.insert(id, (body, vector));
                        true
                    }
                };
                receipts.push(Receipt {
                    id,
                    address: *p.address(),
                    stored,
                });
            }
        }
        if stored_dimension.is_none()
            && let Some(d) = dimension
        {
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('dimension', ?1)",
                [d.to_string()],
            )
            .map_err(sqlite)?;
        }
        tx.commit().map_err(sqlite)?;
        // Durable now; make the new vectors searchable.
        let mut vectors = self.vectors.write().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = dimension {
            vectors.set_dimension(d);
        }
        for (seq, i) in inserted {
            if let Some(v) = &batch[i].vector {
                vectors.insert(seq, &batch[i].packet, v);
            }
            // Write-through: a node queries what it (and its peers) just deposited.
            if let Some(c) = &self.cache {
                c.insert(seq, batch[i].packet.clone());
            }
        }
        Ok(receipts)
    }

    fn query(&self, query: &Query) -> Result<Vec<Hit>> {
        query.validate()?;
        let now = now_ms();
        match &query.target {
            Target::Address(address) => self.query_exact(address.as_bytes(), query, now),
            Target::Vector(v) => self.query_vector(v, query, now),
        }
    }

    /// Exact queries read only the covering index `packets_at_address` (address, newest first,
    /// expiry) for the packets' `seq`s, take the decoded packets from the cache (reading a body
    /// only on a miss), and apply the filter to the packets themselves: a 50-packet answer touches
    /// a few index pages instead of 50 table rows that each carry a vector.
    fn query_exact(&self, address: &[u8], query: &Query, now: Millis) -> Result<Vec<Hit>> {
        let f = &query.filter;
        let since = f.since.map_or(0, |s| s.min(i64::MAX as u64) as i64);
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq FROM packets INDEXED BY packets_at_address \
                 WHERE address = ?1 AND (expires IS NULL OR expires > ?2) AND created >= ?3 \
                 ORDER BY created DESC, id DESC",
            )
            .map_err(sqlite)?;
        let mut body = conn
            .prepare_cached("SELECT body FROM packets WHERE seq = ?1")
            .map_err(sqlite)?;
        let mut rows = stmt
            .query(params![address, now.min(i64::MAX as u64) as i64, since])
            .map_err(sqlite)?;
        let mut hits = Vec::with_capacity(query.limit.min(64));
        while let Some(row) = rows.next().map_err(sqlite)? {
            let seq: i64 = row.get(0).map_err(sqlite)?;
            let packet = self.packet(seq, || body.query_row([seq], |r| r.get(0)))?;
            if f.matches(&packet, now) {
                hits.push(Hit { packet, score: 1.0 });
                if hits.len() == query.limit {
                    break;
                }
            }
        }
        Ok(hits)
    }

    fn query_vector(&self, target: &[f32], query: &Query, now: Millis) -> Result<Vec<Hit>> {
        let min_score = query.min_score.unwrap_or(f32::NEG_INFINITY);
        let scored: Vec<Scored> = {
            let vectors = self.vectors.read().unwrap_or_else(|e| e.into_inner());
            match vectors.dimension() {
                None => return Ok(Vec::new()),
                Some(d) if d != target.len() => {
                    return Err(Error::Dimension {
                        expected: d,
                        got: target.len(),
                    });
                }
                Some(_) => {}
            }
            let filter = vectors.compile(&query.filter, now);
            vectors.search(
                target,
                query.limit,
                min_score,
                &filter,
                self.options.exact_below,
            )
        };
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached("SELECT body FROM packets WHERE seq = ?1")
            .map_err(sqlite)?;
        let mut hits = Vec::with_capacity(scored.len());
        for s in scored {
            let cached = self.cache.as_ref().and_then(|c| c.get(&s.seq));
            let packet = match cached {
                Some(p) => p,
                None => {
                    // A purge may have removed it since the search: then it has expired anyway.
                    let Some(body) = stmt
                        .query_row([s.seq], |r| r.get::<_, Vec<u8>>(0))
                        .optional()
                        .map_err(sqlite)?
                    else {
                        continue;
                    };
                    self.packet(s.seq, || Ok(body))?
                }
            };
            if query.filter.matches(&packet, now) {
                hits.push(Hit {
                    packet,
                    score: s.score,
                });
            }
        }
        Ok(hits)
    }

    fn scan(&self, cursor: i64, limit: usize) -> Result<(Vec<Routed>, Option<i64>)> {
        let now = now_ms() as i64;
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, body, vector FROM packets \
                 WHERE seq > ?1 AND (expires IS NULL OR expires > ?2) ORDER BY seq LIMIT ?3",
            )
            .map_err(sqlite)?;
        let mut rows = stmt
            .query(params![cursor, now, limit.min(i64::MAX as usize) as i64])
            .map_err(sqlite)?;
        let mut out = Vec::new();
        let mut last = cursor;
        while let Some(row) = rows.next().map_err(sqlite)? {
            last = row.get(0).map_err(sqlite)?;
            let body: Vec<u8> = row.get(1).map_err(sqlite)?;
            let vector: Option<Vec<u8>> = row.get(2).map_err(sqlite)?;
            let packet = Arc::new(decode_stored(&body)?);
            out.push(Routed {
                packet,
                vector: vector.map(|v| vector_from_bytes(&v).into()),
            });
        }
        let next = (out.len() == limit && limit > 0).then_some(last);
        Ok((out, next))
    }

    fn stats(&self) -> Result<Stats> {
        let now = now_ms() as i64;
        let conn = self.reader();
        let (packets, addresses, vectors, expired): (i64, i64, i64, i64) = conn
            .query_row(
                "SELECT COUNT(*), COUNT(DISTINCT address), COUNT(vector), \
                 COALESCE(SUM(expires IS NOT NULL AND expires <= ?1), 0) FROM packets",
                [now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .map_err(sqlite)?;
        let dimension = self
            .vectors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .dimension();
        Ok(Stats {
            packets: packets as u64,
            addresses: addresses as u64,
            vectors: vectors as u64,
            expired: expired as u64,
            dimension,
        })
    }

    fn purge(&self) -> Result<u64> {
        let now = now_ms() as i64;
        let conn = lock(&self.writer);
        let mut stmt = conn
            .prepare_cached(
                "DELETE FROM packets WHERE expires IS NOT NULL AND expires <= ?1 \
                 RETURNING seq, vector IS NOT NULL",
            )
            .map_err(sqlite)?;
        let removed: Vec<(i64, bool)> = stmt
            .query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sqlite)?
            .collect::<rusqlite::Result<_>>()
            .map_err(sqlite)?;
        let mut vectors = self.vectors.write().unwrap_or_else(|e| e.into_inner());
        for (seq, had_vector) in &removed {
            if *had_vector {
                vectors.remove(*seq);
            }
            if let Some(c) = &self.cache {
                c.remove(seq);
            }
        }
        Ok(removed.len() as u64)
    }
}

fn decode_stored(body: &[u8]) -> Result<Packet> {
    Packet::from_own_msgpack(body).map_err(|e| Error::Backend {
        router: ROUTER,
        retryable: false,
        source: format!("a stored packet no longer decodes (is the database damaged?): {e}").into(),
    })
}

/// Locks `dir/LOCK` for this process, or explains who holds it.
fn take_lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_error("cannot open the lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            return Err(Error::Backend {
                router: ROUTER,
                retryable: true,
                source: format!(
                    "the data directory {} is in use by another process{}; one process per directory",
                    dir.display(),
                    if holder.is_empty() { String::new() } else { format!(" (pid {holder})") }
                )
                .into(),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(io_error("cannot lock", &path, e));
        }
    }
    // Record who holds it, for the next opener's error message.
    let _ = file.set_len(0);
    let _ = write!(file, "{}", std::process::id());
    let _ = file.flush();
    Ok(file)
}

fn configure(conn: &Connection, path: &Path) -> Result<()> {
    let damaged = |e: rusqlite::Error| Error::Backend {
        router: ROUTER,
        retryable: false,
        source: format!("{} is not a usable SQLite database: {e}", path.display()).into(),
    };
    conn.busy_timeout(Duration::from_secs(5)).map_err(sqlite)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(damaged)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Backend {
            router: ROUTER,
            retryable: false,
            source: format!("{} cannot use WAL mode (got {mode})", path.display()).into(),
        });
    }
    // FULL: a commit returns only once the WAL is synced, so an acknowledged deposit is on disk.
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .map_err(damaged)?;
    // Index updates find their pages in memory rather than reading them back one by one; the
    // write-ahead log is copied back into the database every 8,192 pages (32 MiB) rather than
    // 1,000, so a page that many deposits touch (an index's) is written back once, not each time.
    conn.execute_batch(READER_PRAGMAS).map_err(damaged)?;
    conn.execute_batch("PRAGMA wal_autocheckpoint = 8192;")
        .map_err(damaged)?;
    Ok(())
}

fn create_schema(conn: &Connection, path: &Path) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS packets (
             seq        INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: caches key by it
             id         BLOB NOT NULL UNIQUE,
             address    BLOB NOT NULL,
             domain     TEXT NOT NULL,
             agent      TEXT NOT NULL,
             outcome    TEXT NOT NULL,
             confidence REAL NOT NULL,
             created    INTEGER NOT NULL,
             expires    INTEGER,
             body       BLOB NOT NULL,
             vector     BLOB
         );
         -- Covers exact queries (see `query_exact`); replaces an earlier index without `expires`.
         DROP INDEX IF EXISTS packets_by_address;
         CREATE INDEX IF NOT EXISTS packets_at_address ON packets (address, created DESC, id DESC, expires);
         CREATE INDEX IF NOT EXISTS packets_by_domain ON packets (domain, created);
         CREATE INDEX IF NOT EXISTS packets_by_created ON packets (created);
         CREATE INDEX IF NOT EXISTS packets_by_expiry ON packets (expires) WHERE expires IS NOT NULL;
         INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');",
    )
    .map_err(sqlite)?;
    let version: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .map_err(sqlite)?;
    if version.parse::<i64>().ok() != Some(SCHEMA_VERSION) {
        return Err(Error::Backend {
            router: ROUTER,
            retryable: false,
            source: format!(
                "{} has schema version {version}; this qis reads version {SCHEMA_VERSION}",
                path.display()
            )
            .into(),
        });
    }
    Ok(())
}

fn load_vectors(conn: &Connection) -> Result<VectorStore> {
    let mut store = VectorStore::default();
    let dimension: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'dimension'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sqlite)?;
    if let Some(d) = dimension.and_then(|d| d.parse().ok()) {
        store.set_dimension(d);
    }
    let now = now_ms() as i64;
    let mut stmt = conn
        .prepare(
            "SELECT seq, body, vector FROM packets \
             WHERE vector IS NOT NULL AND (expires IS NULL OR expires > ?1) ORDER BY seq",
        )
        .map_err(sqlite)?;
    let mut rows = stmt.query([now]).map_err(sqlite)?;
    while let Some(row) = rows.next().map_err(sqlite)? {
        let seq: i64 = row.get(0).map_err(sqlite)?;
        let body: Vec<u8> = row.get(1).map_err(sqlite)?;
        let vector: Vec<u8> = row.get(2).map_err(sqlite)?;
        let packet = decode_stored(&body)?;
        store.insert(seq, &packet, &vector_from_bytes(&vector));
    }
    Ok(store)
}

#[async_trait]
impl Router for EmbeddedRouter {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            vector: true,
            durable: true,
            ..Capabilities::new(ROUTER)
        }
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

    async fn stats(&self) -> Result<Stats> {
        self.blocking(|s| s.stats()).await
    }

    async fn purge_expired(&self) -> Result<u64> {
        self.blocking(|s| s.purge()).await
    }
}

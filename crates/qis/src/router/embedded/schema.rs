//! The SQLite side of opening: connection settings and the schema.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::{ROUTER, sqlite};
use crate::error::{Error, Result};

const SCHEMA_VERSION: i64 = 1;
/// Every connection maps up to 1 GiB of the database and caches 32 MiB of pages.
pub(super) const READER_PRAGMAS: &str =
    "PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -32768;";

pub(super) fn configure(conn: &Connection, path: &Path) -> Result<()> {
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

pub(super) fn create_schema(conn: &Connection, path: &Path) -> Result<()> {
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
         -- Forgotten ids, until their packets would have expired (NULL: never); nothing else.
         CREATE TABLE IF NOT EXISTS tombstones (id BLOB PRIMARY KEY, expires INTEGER) WITHOUT ROWID;
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

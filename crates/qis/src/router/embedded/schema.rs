//! The SQLite side of opening: connection settings and the schema.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use super::{ROUTER, sqlite};
use crate::error::{Error, Result};

const SCHEMA_VERSION: i64 = 2;
/// Every connection maps up to 1 GiB of the database and caches 32 MiB of pages.
pub(super) const READER_PRAGMAS: &str =
    "PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -32768;";

/// For the vectors file: no memory map (see `Shared::open`).
pub(super) const NO_MMAP: &str = "PRAGMA mmap_size = 0;";

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

/// The tables of a new store (version 2). Vectors live in their own file
/// ([`super::VECTORS_FILE`]), so that the packets, their indexes and the tombstones stay compact
/// whatever the dimension: an exact query or a deposit then touches pages that stay in memory.
const SCHEMA_V2: &str = "
    CREATE TABLE IF NOT EXISTS packets (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: caches and vectors key by it
        id         BLOB NOT NULL UNIQUE,
        address    BLOB NOT NULL,
        domain     TEXT NOT NULL,
        agent      TEXT NOT NULL,
        outcome    TEXT NOT NULL,
        confidence REAL NOT NULL,
        created    INTEGER NOT NULL,
        expires    INTEGER,
        body       BLOB NOT NULL,
        -- What vector search filters on besides the columns above (MessagePack list of strings),
        -- so that opening the store reads no body.
        tags       BLOB NOT NULL,
        -- 1 when the packet's vector is in the vectors file.
        has_vector INTEGER NOT NULL
    );
    -- No index by address, domain or creation: exact queries, forgetting by address and the
    -- listing of addresses read the in-memory index (`by_address`), which a deposit appends to,
    -- where an index keyed by address hashes made each deposit rewrite pages all over the file;
    -- nothing read the other two. Stores made before they were dropped lose them here.
    DROP INDEX IF EXISTS packets_at_address;
    DROP INDEX IF EXISTS packets_by_domain;
    DROP INDEX IF EXISTS packets_by_created;
    CREATE INDEX IF NOT EXISTS packets_by_expiry ON packets (expires) WHERE expires IS NOT NULL;
    -- Forgotten ids, until their packets would have expired (NULL: never); nothing else.
    CREATE TABLE IF NOT EXISTS tombstones (id BLOB PRIMARY KEY, expires INTEGER) WITHOUT ROWID;
    -- Packets deleted whose vectors the vectors file may still hold: written in the transaction
    -- that deletes them, emptied once the vectors file has dropped them too (at once, or when the
    -- store next opens, after a crash in between).
    CREATE TABLE IF NOT EXISTS dropped_vectors (seq INTEGER PRIMARY KEY);
";

/// The vectors file: each packet's vector by the packet's `seq`, and its int8 code (what search
/// holds in memory, see `vectors::Code`), in a table of its own so that opening reads a quarter
/// of the bytes. A code goes with its vector: written in the same transaction, deleted with it.
///
/// How each domain's search is partitioned is kept too, so that opening restores the lists
/// rather than running k-means again: a domain's row in `partitions` holds its centroids (or,
/// where partitioning was declined, none), under a generation counted per domain, and the list
/// of every code the partition was made from, as pairs of `seq` (i64) and list (u32),
/// little-endian, by `seq`. A code deposited later has its list in its own row (`list`), under
/// the generation it was placed by. A code's list counts at open only if written under the
/// domain's generation there; any other code goes to its nearest centroid. Rows of an older
/// partition are never rewritten.
pub(super) const VECTORS_SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS vectors (seq INTEGER PRIMARY KEY, vector BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS codes (
        seq INTEGER PRIMARY KEY, code BLOB NOT NULL, list INTEGER, generation INTEGER
    );
    CREATE TRIGGER IF NOT EXISTS codes_go_with_vectors AFTER DELETE ON vectors
        BEGIN DELETE FROM codes WHERE seq = old.seq; END;
    CREATE TABLE IF NOT EXISTS partitions (
        domain      TEXT PRIMARY KEY,
        generation  INTEGER NOT NULL,
        trained_on  INTEGER NOT NULL,
        declined_at INTEGER,
        centroids   BLOB,
        assigned    BLOB
    );
";

/// Gives a vectors file made before codes had lists their two columns.
fn add_code_lists(vectors: &Connection) -> Result<()> {
    let has_list: bool = vectors
        .query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('codes') WHERE name = 'list'",
            [],
            |r| r.get(0),
        )
        .map_err(sqlite)?;
    if !has_list {
        vectors
            .execute_batch(
                "ALTER TABLE codes ADD COLUMN list INTEGER; \
                 ALTER TABLE codes ADD COLUMN generation INTEGER;",
            )
            .map_err(sqlite)?;
    }
    Ok(())
}

/// Creates or checks the schema, migrating a version 1 store (vectors in the packets table) to
/// version 2. `vectors` is the vectors file's connection.
pub(super) fn create_schema(
    conn: &mut Connection,
    vectors: &Connection,
    path: &Path,
) -> Result<()> {
    vectors.execute_batch(VECTORS_SCHEMA).map_err(sqlite)?;
    add_code_lists(vectors)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    )
    .map_err(sqlite)?;
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(sqlite)?;
    match version.as_deref().map(str::parse::<i64>) {
        None => {
            let tx = conn.transaction().map_err(sqlite)?;
            tx.execute_batch(SCHEMA_V2).map_err(sqlite)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                [SCHEMA_VERSION.to_string()],
            )
            .map_err(sqlite)?;
            tx.commit().map_err(sqlite)?;
        }
        Some(Ok(1)) => migrate_v1(conn, path)?,
        Some(Ok(SCHEMA_VERSION)) => conn.execute_batch(SCHEMA_V2).map_err(sqlite)?,
        _ => {
            return Err(Error::Backend {
                router: ROUTER,
                retryable: false,
                source: format!(
                    "{} has schema version {}; this qis reads versions 1 and {SCHEMA_VERSION}",
                    path.display(),
                    version.unwrap_or_default()
                )
                .into(),
            });
        }
    }
    Ok(())
}

/// Version 1 kept each vector in its packet's row. The vectors are copied into the vectors file
/// first (committed there; a copy interrupted is made again), then, in one transaction, the
/// packets gain their `tags` and `has_vector` and lose the column; the file is then compacted.
fn migrate_v1(conn: &mut Connection, path: &Path) -> Result<()> {
    tracing::info!(store = %path.display(), "moving the vectors of a version 1 store into their own file");
    let vectors_path = path.with_file_name(super::VECTORS_FILE);
    conn.execute(
        "ATTACH DATABASE ?1 AS v",
        [vectors_path.to_string_lossy().as_ref()],
    )
    .map_err(sqlite)?;
    let copied = conn.execute_batch(
        "BEGIN IMMEDIATE;
         INSERT OR REPLACE INTO v.vectors (seq, vector)
             SELECT seq, vector FROM main.packets WHERE vector IS NOT NULL;
         COMMIT;",
    );
    conn.execute_batch("DETACH DATABASE v").map_err(sqlite)?;
    copied.map_err(sqlite)?;

    let tx = conn.transaction().map_err(sqlite)?;
    tx.execute_batch(
        "ALTER TABLE packets ADD COLUMN tags BLOB NOT NULL DEFAULT x'90';
         ALTER TABLE packets ADD COLUMN has_vector INTEGER NOT NULL DEFAULT 0;",
    )
    .map_err(sqlite)?;
    {
        let mut read = tx
            .prepare("SELECT seq, body, vector IS NOT NULL FROM packets")
            .map_err(sqlite)?;
        let mut write = tx
            .prepare("UPDATE packets SET tags = ?2, has_vector = ?3 WHERE seq = ?1")
            .map_err(sqlite)?;
        let mut rows = read.query([]).map_err(sqlite)?;
        while let Some(row) = rows.next().map_err(sqlite)? {
            let seq: i64 = row.get(0).map_err(sqlite)?;
            let body: Vec<u8> = row.get(1).map_err(sqlite)?;
            let has_vector: bool = row.get(2).map_err(sqlite)?;
            let packet = super::stored::decode_stored(&body)?;
            let tags = super::stored::tags_bytes(packet.tags());
            write
                .execute(rusqlite::params![seq, tags, has_vector])
                .map_err(sqlite)?;
        }
    }
    tx.execute_batch(
        "ALTER TABLE packets DROP COLUMN vector;
         UPDATE meta SET value = '2' WHERE key = 'schema_version';",
    )
    .map_err(sqlite)?;
    tx.execute_batch(SCHEMA_V2).map_err(sqlite)?;
    tx.commit().map_err(sqlite)?;
    // The packets' pages held the vectors: give the space back, so that what stays is compact.
    conn.execute_batch("VACUUM").map_err(sqlite)?;
    Ok(())
}

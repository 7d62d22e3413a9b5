//! Forgetting: the packets a [`Forget`] names are deleted and leave tombstones, in one
//! transaction; a deposit of a tombstoned id is refused until its packet would have expired.
//! And the listing of addresses, which reads the same table.

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Transaction};

use super::{Shared, lock, sqlite};
use crate::error::{Error, Result};
use crate::packet::{Millis, PacketId, now_ms};
use crate::router::{AddressInfo, AddressPage, AddressQuery, Forget};

impl Shared {
    /// Every address with live packets, its count, newest `created` and that packet's domain
    /// (SQLite takes a bare column of an aggregate query from the row `MAX` chose).
    pub(super) fn addresses(&self, query: &AddressQuery) -> Result<AddressPage> {
        query.validate()?;
        let now = now_ms().min(i64::MAX as u64) as i64;
        // A reader connection: listing never holds deposits up.
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(
                "SELECT address, COUNT(*), MAX(created), domain FROM packets \
                 WHERE expires IS NULL OR expires > ?1 GROUP BY address",
            )
            .map_err(sqlite)?;
        let rows = stmt
            .query_map([now], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(sqlite)?;
        let mut all = Vec::new();
        for row in rows {
            let (address, packets, last, domain) = row.map_err(sqlite)?;
            all.push(AddressInfo {
                address: crate::packet::Address::from_bytes(&address)?,
                packets: packets as u64,
                last: last as u64,
                domain,
            });
        }
        query.page(all)
    }

    pub(super) fn forget(&self, what: &Forget) -> Result<u64> {
        what.validate()?;
        let mut sql = String::from("DELETE FROM packets WHERE 1 = 1");
        let mut args: Vec<Box<dyn ToSql>> = Vec::new();
        if let Some(agent) = &what.agent {
            sql.push_str(" AND agent = ?");
            args.push(Box::new(agent.clone()));
        }
        if let Some(address) = what.address {
            sql.push_str(" AND address = ?");
            args.push(Box::new(address.as_bytes().to_vec()));
        }
        if !what.ids.is_empty() {
            sql.push_str(" AND id IN (");
            for (i, id) in what.ids.iter().enumerate() {
                sql.push_str(if i == 0 { "?" } else { ", ?" });
                args.push(Box::new(id.as_uuid().as_bytes().to_vec()));
            }
            sql.push(')');
        }
        sql.push_str(" RETURNING seq, id, expires, has_vector");
        let mut conn = lock(&self.writer);
        let tx = conn.transaction().map_err(sqlite)?;
        if let (true, Some(agent)) = (what.strict, what.agent.as_deref()) {
            let mut owner = tx
                .prepare_cached("SELECT agent FROM packets WHERE id = ?1")
                .map_err(sqlite)?;
            for (i, id) in what.ids.iter().enumerate() {
                let held: Option<String> = owner
                    .query_row([id.as_uuid().as_bytes()], |r| r.get(0))
                    .optional()
                    .map_err(sqlite)?;
                if held.is_some_and(|h| h != agent) {
                    return Err(what.not_yours(i));
                }
            }
        }
        let removed: Vec<(i64, Vec<u8>, Option<i64>, bool)> = {
            let mut stmt = tx.prepare(&sql).map_err(sqlite)?;
            let params: Vec<&dyn ToSql> = args.iter().map(|a| a.as_ref()).collect();
            stmt.query_map(params.as_slice(), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(sqlite)?
            .collect::<rusqlite::Result<_>>()
            .map_err(sqlite)?
        };
        {
            let mut bury = tx
                .prepare_cached("INSERT OR REPLACE INTO tombstones (id, expires) VALUES (?1, ?2)")
                .map_err(sqlite)?;
            for (_, id, expires, _) in &removed {
                bury.execute(rusqlite::params![id, expires])
                    .map_err(sqlite)?;
            }
        }
        let dropped: Vec<i64> = removed.iter().filter(|r| r.3).map(|r| r.0).collect();
        mark_dropped(&tx, &dropped)?;
        tx.commit().map_err(sqlite)?;
        if !dropped.is_empty() {
            drop_vectors(&conn, &lock(&self.vector_writer))?;
        }
        // Gone from disk: gone from the caches too.
        let mut vectors = self.vectors.write().unwrap_or_else(|e| e.into_inner());
        for (seq, _, _, had_vector) in &removed {
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

/// Records, in the transaction that deletes their packets, the `seq`s whose vectors the vectors
/// file must drop.
pub(super) fn mark_dropped(tx: &Transaction<'_>, seqs: &[i64]) -> Result<()> {
    let mut mark = tx
        .prepare_cached("INSERT OR IGNORE INTO dropped_vectors (seq) VALUES (?1)")
        .map_err(sqlite)?;
    for seq in seqs {
        mark.execute([seq]).map_err(sqlite)?;
    }
    Ok(())
}

/// Deletes from the vectors file the vectors `dropped_vectors` lists, then empties the list: a
/// forgotten packet's vector does not outlive it on disk. Called with both writers held.
pub(super) fn drop_vectors(conn: &Connection, vectors: &Connection) -> Result<()> {
    let seqs: Vec<i64> = conn
        .prepare_cached("SELECT seq FROM dropped_vectors")
        .map_err(sqlite)?
        .query_map([], |r| r.get(0))
        .map_err(sqlite)?
        .collect::<rusqlite::Result<_>>()
        .map_err(sqlite)?;
    if seqs.is_empty() {
        return Ok(());
    }
    vectors.execute_batch("BEGIN IMMEDIATE").map_err(sqlite)?;
    let deleted = (|| {
        let mut delete = vectors
            .prepare_cached("DELETE FROM vectors WHERE seq = ?1")
            .map_err(sqlite)?;
        for seq in &seqs {
            delete.execute([seq]).map_err(sqlite)?;
        }
        vectors.execute_batch("COMMIT").map_err(sqlite)
    })();
    if deleted.is_err() {
        let _ = vectors.execute_batch("ROLLBACK");
    }
    deleted?;
    let mut clear = conn
        .prepare_cached("DELETE FROM dropped_vectors WHERE seq = ?1")
        .map_err(sqlite)?;
    conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlite)?;
    for seq in &seqs {
        if let Err(e) = clear.execute([seq]) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(sqlite(e));
        }
    }
    conn.execute_batch("COMMIT").map_err(sqlite)
}

/// At open: finishes what a crash between the two files' commits left undone. Vectors under
/// `seq`s no packet ever took are dropped, and so are those of deleted packets still listed.
pub(super) fn settle_vectors(conn: &Connection, vectors: &Connection) -> Result<()> {
    let last: i64 = conn
        .query_row(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'packets'), 0)",
            [],
            |r| r.get(0),
        )
        .map_err(sqlite)?;
    vectors
        .execute("DELETE FROM vectors WHERE seq > ?1", [last])
        .map_err(sqlite)?;
    drop_vectors(conn, vectors)
}

/// Refuses the deposit of a packet forgotten and not yet past its expiry.
pub(super) fn check_not_forgotten(tx: &Transaction<'_>, id: PacketId, now: Millis) -> Result<()> {
    let buried = tx
        .prepare_cached(
            "SELECT 1 FROM tombstones WHERE id = ?1 AND (expires IS NULL OR expires > ?2)",
        )
        .map_err(sqlite)?
        .query_row(
            rusqlite::params![id.as_uuid().as_bytes(), now.min(i64::MAX as u64) as i64],
            |_| Ok(()),
        )
        .optional()
        .map_err(sqlite)?;
    match buried {
        Some(()) => Err(Error::Forgotten { id: id.to_string() }),
        None => Ok(()),
    }
}

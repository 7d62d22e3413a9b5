//! Forgetting: the packets a [`Forget`] names are deleted and leave tombstones, in one
//! transaction; a deposit of a tombstoned id is refused until its packet would have expired.
//! And the listing of addresses, which reads the same table.

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Transaction};

use super::{Shared, lock, sqlite};
use crate::error::{Error, Result};
use crate::packet::{Address, Millis, PacketId, now_ms};
use crate::router::{AddressInfo, AddressPage, AddressQuery, Forget};

impl Shared {
    /// Every address with live packets, its count, newest `created` and that packet's domain,
    /// from the in-memory index.
    pub(super) fn addresses(&self, query: &AddressQuery) -> Result<AddressPage> {
        query.validate()?;
        let all: Vec<AddressInfo> = self
            .by_address
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .activity(now_ms())
            .into_iter()
            .map(|a| AddressInfo {
                address: a.address,
                packets: a.packets,
                last: a.last,
                domain: a.domain.to_owned(),
            })
            .collect();
        query.page(all)
    }

    pub(super) fn forget(&self, what: &Forget) -> Result<u64> {
        what.validate()?;
        // With an address, the packets there (from the in-memory index, read once the writer is
        // held) are deleted one by one by `seq`, the first parameter: the table has no index by
        // address.
        let mut sql = String::from(if what.address.is_some() {
            "DELETE FROM packets WHERE seq = ?"
        } else {
            "DELETE FROM packets WHERE 1 = 1"
        });
        let mut args: Vec<Box<dyn ToSql>> = Vec::new();
        if what.address.is_some() {
            args.push(Box::new(0i64));
        }
        if let Some(agent) = &what.agent {
            sql.push_str(" AND agent = ?");
            args.push(Box::new(agent.clone()));
        }
        if !what.ids.is_empty() {
            sql.push_str(" AND id IN (");
            for (i, id) in what.ids.iter().enumerate() {
                sql.push_str(if i == 0 { "?" } else { ", ?" });
                args.push(Box::new(id.as_uuid().as_bytes().to_vec()));
            }
            sql.push(')');
        }
        sql.push_str(" RETURNING seq, id, expires, has_vector, address");
        let mut conn = lock(&self.writer);
        let at: Option<Vec<i64>> = what.address.map(|a| {
            self.by_address
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .seqs_at(&a)
        });
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
        let removed: Vec<Removed> = {
            let mut stmt = tx.prepare(&sql).map_err(sqlite)?;
            let mut run = |args: &[Box<dyn ToSql>], into: &mut Vec<Removed>| -> Result<()> {
                let params: Vec<&dyn ToSql> = args.iter().map(|a| a.as_ref()).collect();
                let rows = stmt
                    .query_map(params.as_slice(), |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })
                    .map_err(sqlite)?;
                for row in rows {
                    into.push(row.map_err(sqlite)?);
                }
                Ok(())
            };
            let mut removed = Vec::new();
            match &at {
                Some(seqs) => {
                    for seq in seqs {
                        args[0] = Box::new(*seq);
                        run(&args, &mut removed)?;
                    }
                }
                None => run(&args, &mut removed)?,
            }
            removed
        };
        {
            let mut bury = tx
                .prepare_cached("INSERT OR REPLACE INTO tombstones (id, expires) VALUES (?1, ?2)")
                .map_err(sqlite)?;
            for (_, id, expires, _, _) in &removed {
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
        self.unindex(removed.iter().map(|r| (r.4.as_slice(), r.0)));
        let mut vectors = self.vectors.write().unwrap_or_else(|e| e.into_inner());
        for (seq, _, _, had_vector, _) in &removed {
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

/// A deleted packet: its `seq`, id, expiry, whether it had a vector, and its address.
type Removed = (i64, Vec<u8>, Option<i64>, bool, Vec<u8>);

impl Shared {
    /// Drops deleted packets, given by address and `seq`, from the address index.
    /// (Called after the deletion committed, so it cannot fail: an address the table could not
    /// hold is not in the index either.)
    pub(super) fn unindex<'a>(&self, removed: impl Iterator<Item = (&'a [u8], i64)>) {
        let removed: Vec<(Address, i64)> = removed
            .filter_map(|(a, seq)| Some((Address::from_bytes(a).ok()?, seq)))
            .collect();
        self.by_address
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(removed);
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

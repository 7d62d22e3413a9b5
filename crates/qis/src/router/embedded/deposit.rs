//! The write path: a batch of deposits in one transaction, then made searchable.
//!
//! The packets go into the database file and their vectors into the vectors file: the vectors'
//! transaction commits first, inside the packets' one, so that no committed packet lacks its
//! vector. A crash between the two commits leaves vectors under `seq`s no packet took; the next
//! deposit takes those `seq`s again and replaces them, and opening the store drops them.

use rusqlite::{OptionalExtension, params};

use super::by_address::Row;
use super::stored::{tags_bytes, vector_bytes};
use super::vectors::{Code, Placement};
use super::{Shared, lock, sqlite};
use crate::error::{Error, Result};
use crate::packet::{PacketId, now_ms};
use crate::router::{Receipt, Routed, batch_dimension};

impl Shared {
    pub(super) fn deposit(&self, batch: &[Routed]) -> Result<Vec<Receipt>> {
        let now = now_ms();
        for routed in batch {
            routed.admit(now)?;
        }
        let mut conn = lock(&self.writer);
        let mut vconn = lock(&self.vector_writer);
        // Read while the vectors' writer is held, which the partitioning thread takes to install
        // a partition: the lists placed by it are the ones the codes go in.
        let placing = self.vectors.read().unwrap_or_else(|e| e.into_inner());
        let stored_dimension = placing.dimension();
        let dimension = batch_dimension(batch, stored_dimension)?;
        let tx = conn.transaction().map_err(sqlite)?;
        let vtx = vconn.transaction().map_err(sqlite)?;
        // Each vector's code and the list it goes in, worked out on a second thread while this
        // one stores the packets and their vectors: placing a code scores every centroid of its
        // domain (about √n of them), a tenth of a deposit's work at a million packets.
        let place = |routed: &Routed| {
            routed.vector.as_deref().map(|v| {
                let code = Code::of(v);
                let placement = placing.placement(routed.packet.domain(), &code);
                (code, placement)
            })
        };
        let place_all = || batch.iter().map(place).collect::<Vec<_>>();
        let (rows, placed) = std::thread::scope(|scope| {
            // If the thread cannot start, the codes are placed here, after the rows.
            let placer = (batch.len() >= PLACE_APART_FROM)
                .then(|| {
                    std::thread::Builder::new()
                        .name("qis-place".into())
                        .spawn_scoped(scope, place_all)
                        .ok()
                })
                .flatten();
            let rows = store_rows(&tx, &vtx, batch, now);
            // Joined before any error returns, so that the error is what the caller gets.
            (rows, placer.map(|placer| placer.join()))
        });
        let (receipts, mut inserted) = rows?;
        let placed = match placed {
            Some(Ok(placed)) => placed,
            // It cannot panic but by a bug; the batch then fails, unstored.
            Some(Err(_)) => {
                return Err(Error::Backend {
                    router: super::ROUTER,
                    retryable: false,
                    source: "placing the batch's vectors failed".into(),
                });
            }
            // Only the packets stored, here.
            None => {
                let mut placed: Vec<_> = batch.iter().map(|_| None).collect();
                for ins in &inserted {
                    placed[ins.index] = place(&batch[ins.index]);
                }
                placed
            }
        };
        store_codes(&vtx, &mut inserted, placed)?;
        if stored_dimension.is_none()
            && let Some(d) = dimension
        {
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('dimension', ?1)",
                [d.to_string()],
            )
            .map_err(sqlite)?;
        }
        drop(placing);
        vtx.commit().map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
        // Durable now; make the new packets and vectors found.
        self.publish(batch, dimension, inserted);
        drop((conn, vconn));
        self.partition_in_background();
        Ok(receipts)
    }

    fn publish(&self, batch: &[Routed], dimension: Option<usize>, inserted: Vec<Inserted>) {
        let mut vectors = self.vectors.write().unwrap_or_else(|e| e.into_inner());
        let mut by_address = self.by_address.write().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = dimension {
            vectors.set_dimension(d);
        }
        for Inserted {
            seq,
            index: i,
            code,
            placement,
        } in inserted
        {
            by_address.insert(&Row::of(seq, &batch[i].packet));
            if let Some(code) = &code {
                vectors.insert(seq, &batch[i].packet, code, placement);
            }
            // Not put in the packet cache: it admits what queries read, and a million deposits
            // passing through it left reads of the hot addresses missing twice in a row
            // (docs/decisions.md, "The packet cache holds what queries read").
        }
    }
}

/// Stores the batch's new packets and their vectors (each id once; a packet stored before, or
/// earlier in the batch, must be the same): the receipts, and the packets stored, with their
/// codes still to place.
fn store_rows(
    tx: &rusqlite::Transaction<'_>,
    vtx: &rusqlite::Transaction<'_>,
    batch: &[Routed],
    now: crate::packet::Millis,
) -> Result<(Vec<Receipt>, Vec<Inserted>)> {
    let mut receipts = Vec::with_capacity(batch.len());
    let mut inserted: Vec<Inserted> = Vec::new();
    let mut in_batch: std::collections::HashMap<PacketId, (Vec<u8>, Option<Vec<u8>>)> =
        std::collections::HashMap::new();
    let mut find = tx
        .prepare_cached("SELECT seq, body, has_vector FROM packets WHERE id = ?1")
        .map_err(sqlite)?;
    let mut find_vector = vtx
        .prepare_cached("SELECT vector FROM vectors WHERE seq = ?1")
        .map_err(sqlite)?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO packets (id, address, domain, agent, outcome, confidence, created, expires, body, tags, has_vector) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .map_err(sqlite)?;
    let mut insert_vector = vtx
        .prepare_cached("INSERT OR REPLACE INTO vectors (seq, vector) VALUES (?1, ?2)")
        .map_err(sqlite)?;
    for (i, routed) in batch.iter().enumerate() {
        let p = &routed.packet;
        let body = p.to_msgpack();
        let vector = routed.vector.as_deref().map(vector_bytes);
        let id = p.id();
        let previous = match in_batch.get(&id) {
            Some(prev) => Some(prev.clone()),
            None => {
                let row: Option<(i64, Vec<u8>, bool)> = find
                    .query_row([id.as_uuid().as_bytes()], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()
                    .map_err(sqlite)?;
                match row {
                    Some((seq, b, true)) => {
                        let v: Vec<u8> =
                            find_vector.query_row([seq], |r| r.get(0)).map_err(sqlite)?;
                        Some((b, Some(v)))
                    }
                    Some((_, b, false)) => Some((b, None)),
                    None => None,
                }
            }
        };
        let stored = match previous {
            Some((b, v)) if b == body && v == vector => false,
            Some(_) => return Err(Error::Conflict { id: id.to_string() }),
            None => {
                super::forget::check_not_forgotten(tx, id, now)?;
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
                        tags_bytes(p.tags()),
                        vector.is_some(),
                    ])
                    .map_err(sqlite)?;
                let seq = tx.last_insert_rowid();
                if let Some(v) = &vector {
                    insert_vector.execute(params![seq, v]).map_err(sqlite)?;
                }
                inserted.push(Inserted {
                    seq,
                    index: i,
                    code: None,
                    placement: None,
                });
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
    Ok((receipts, inserted))
}

/// Stores the codes of the packets `inserted` stored, `placed` by their index in the batch, and
/// gives each its code and placement.
fn store_codes(
    vtx: &rusqlite::Transaction<'_>,
    inserted: &mut [Inserted],
    mut placed: Vec<Option<(Code, Option<Placement>)>>,
) -> Result<()> {
    let mut insert_code = vtx
        .prepare_cached(
            "INSERT OR REPLACE INTO codes (seq, code, list, generation) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(sqlite)?;
    for ins in inserted {
        let Some((code, placement)) = placed[ins.index].take() else {
            continue;
        };
        insert_code
            .execute(params![
                ins.seq,
                code.to_bytes(),
                placement.map(|p| p.list),
                placement.map(|p| p.generation as i64),
            ])
            .map_err(sqlite)?;
        ins.code = Some(code);
        ins.placement = placement;
    }
    Ok(())
}

/// Batches of at least this many packets have their vectors placed on a second thread (see
/// `Shared::deposit`); a smaller one costs less than starting it.
const PLACE_APART_FROM: usize = 64;

/// A packet a deposit stored: its `seq`, its place in the batch, its vector's code and the list
/// that code was placed in.
struct Inserted {
    seq: i64,
    index: usize,
    code: Option<Code>,
    placement: Option<Placement>,
}

//! How packets and vectors are stored in rows: their encodings, and reading the vectors back
//! into memory when the store opens.

use rusqlite::{Connection, OptionalExtension};

use std::collections::HashMap;

use super::by_address::{AddressIndex, Row};
use super::partition::Centroids;
use super::vectors::{Code, FilterFields, Placement, Snapshot, VectorStore};
use super::{ROUTER, sqlite};
use crate::error::{Error, Result};
use crate::packet::{Packet, now_ms};

pub(super) fn vector_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(super) fn vector_from_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

pub(super) fn decode_stored(body: &[u8]) -> Result<Packet> {
    Packet::from_own_msgpack(body).map_err(|e| Error::Backend {
        router: ROUTER,
        retryable: false,
        source: format!("a stored packet no longer decodes (is the database damaged?): {e}").into(),
    })
}

/// A packet's tags as stored in the `tags` column: a MessagePack list of strings.
pub(super) fn tags_bytes(tags: &[String]) -> Vec<u8> {
    rmp_serde::to_vec(tags).unwrap_or_else(|_| vec![0x90])
}

fn tags_from_bytes(b: &[u8]) -> Result<Vec<String>> {
    rmp_serde::from_slice(b).map_err(|e| Error::Backend {
        router: ROUTER,
        retryable: false,
        source: format!("a stored packet's tags no longer decode (is the database damaged?): {e}")
            .into(),
    })
}

/// Keeps how `snapshot`'s domain is now searched, in one transaction of the vectors file: around
/// `made`'s centroids, with the list of each of the snapshot's codes, or (`None`) scanned whole,
/// partitioning declined. See `schema::VECTORS_SCHEMA`.
pub(super) fn save_partition(
    vectors: &Connection,
    snapshot: &Snapshot,
    made: Option<(&Centroids, &[u32])>,
) -> Result<()> {
    let n = snapshot.seqs.len() as i64;
    let (centroids, assigned) = match made {
        Some((centroids, lists)) => {
            let mut pairs: Vec<(i64, u32)> = snapshot
                .seqs
                .iter()
                .copied()
                .zip(lists.iter().copied())
                .collect();
            pairs.sort_unstable();
            let assigned: Vec<u8> = pairs
                .iter()
                .flat_map(|(seq, list)| seq.to_le_bytes().into_iter().chain(list.to_le_bytes()))
                .collect();
            (Some(centroids.to_bytes()), Some(assigned))
        }
        None => (None, None),
    };
    vectors
        .execute(
            "INSERT OR REPLACE INTO partitions \
             (domain, generation, trained_on, declined_at, centroids, assigned) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                snapshot.domain_name,
                snapshot.generation as i64,
                n,
                made.is_none().then_some(n),
                centroids,
                assigned,
            ],
        )
        .map_err(sqlite)?;
    Ok(())
}

/// A domain's partition as the vectors file kept it, with a cursor over the lists of the codes
/// it was made from, which the open scan reads in `seq` order as they are kept.
struct Restored {
    generation: u64,
    /// `(seq, list)`, by `seq`.
    assigned: Vec<(i64, u32)>,
    next: usize,
}

impl Restored {
    /// The list of the code `seq`, whose row says `list` under `generation`.
    fn placement(
        &mut self,
        seq: i64,
        list: Option<i64>,
        generation: Option<i64>,
    ) -> Option<Placement> {
        let generation_here = self.generation;
        let at = |list: u32| Placement {
            list,
            generation: generation_here,
        };
        if let (Some(list), Some(g)) = (list, generation)
            && g as u64 == self.generation
        {
            return u32::try_from(list).ok().map(at);
        }
        while self.assigned.get(self.next).is_some_and(|(s, _)| *s < seq) {
            self.next += 1;
        }
        self.assigned
            .get(self.next)
            .filter(|(s, _)| *s == seq)
            .map(|(_, list)| at(*list))
    }
}

/// Restores into `store` every domain's partition the vectors file keeps (a row that does not
/// read back, as with another dimension, is passed over: that domain is partitioned again).
fn restore_partitions(
    vectors: &Connection,
    store: &mut VectorStore,
) -> Result<HashMap<String, Restored>> {
    let mut restored = HashMap::new();
    let Some(dimension) = store.dimension() else {
        return Ok(restored);
    };
    let mut stmt = vectors
        .prepare(
            "SELECT domain, generation, trained_on, declined_at, centroids, assigned \
             FROM partitions",
        )
        .map_err(sqlite)?;
    let mut rows = stmt.query([]).map_err(sqlite)?;
    while let Some(row) = rows.next().map_err(sqlite)? {
        let domain: String = row.get(0).map_err(sqlite)?;
        let generation = row.get::<_, i64>(1).map_err(sqlite)? as u64;
        let trained_on = row.get::<_, i64>(2).map_err(sqlite)?.max(0) as usize;
        let declined_at = row
            .get::<_, Option<i64>>(3)
            .map_err(sqlite)?
            .map(|n| n.max(0) as usize);
        let centroids: Option<Vec<u8>> = row.get(4).map_err(sqlite)?;
        let assigned: Option<Vec<u8>> = row.get(5).map_err(sqlite)?;
        let centroids = match centroids {
            Some(bytes) => match Centroids::from_bytes(&bytes, dimension, trained_on) {
                Some(c) => Some(c),
                None => {
                    tracing::warn!(%domain, "a domain's kept partition does not read back: it is partitioned again");
                    continue;
                }
            },
            None => None,
        };
        let assigned: Vec<(i64, u32)> = assigned
            .unwrap_or_default()
            .chunks_exact(12)
            .map(|pair| {
                let (seq, list) = pair.split_at(8);
                (
                    i64::from_le_bytes(seq.try_into().unwrap_or_default()),
                    u32::from_le_bytes(list.try_into().unwrap_or_default()),
                )
            })
            .collect();
        let partitioned = centroids.is_some();
        store.restore(&domain, generation, centroids, declined_at);
        if partitioned {
            restored.insert(
                domain,
                Restored {
                    generation,
                    assigned,
                    next: 0,
                },
            );
        }
    }
    Ok(restored)
}

/// The store's in-memory caches, from the packets' columns and the vectors file, read in `seq`
/// order and joined as they go, no packet body decoded: the address index of every packet, and
/// the vectors of the live ones with their filter fields.
pub(super) fn load_caches(
    conn: &Connection,
    vectors: &Connection,
) -> Result<(VectorStore, AddressIndex)> {
    let mut store = VectorStore::default();
    let mut index = AddressIndex::default();
    let dimension: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'dimension'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sqlite)?;
    if let Some(d) = dimension.and_then(|d| d.parse().ok()) {
        store.set_dimension(d);
    }
    let mut restored = restore_partitions(vectors, &mut store)?;
    let now = now_ms();
    let mut rows = conn
        .prepare(
            "SELECT seq, address, id, domain, created, expires, has_vector, agent, tags, outcome, \
             confidence FROM packets ORDER BY seq",
        )
        .map_err(sqlite)?;
    let mut rows = rows.query([]).map_err(sqlite)?;
    let mut stmt = vectors
        .prepare("SELECT seq, code, list, generation FROM codes ORDER BY seq")
        .map_err(sqlite)?;
    let mut vecs = stmt.query([]).map_err(sqlite)?;
    type CodeRow = (i64, Vec<u8>, Option<i64>, Option<i64>);
    let mut next_vector = || -> Result<Option<CodeRow>> {
        match vecs.next().map_err(sqlite)? {
            Some(r) => Ok(Some((
                r.get(0).map_err(sqlite)?,
                r.get(1).map_err(sqlite)?,
                r.get(2).map_err(sqlite)?,
                r.get(3).map_err(sqlite)?,
            ))),
            None => Ok(None),
        }
    };
    let damaged = |seq: i64, what: &str| Error::Backend {
        router: ROUTER,
        retryable: false,
        source: format!("packet {seq} has {what} (is the database damaged?)").into(),
    };
    let text = |row: &rusqlite::Row<'_>, i: usize| -> Result<String> { row.get(i).map_err(sqlite) };
    let mut vector = next_vector()?;
    let mut read_vector = vectors
        .prepare("SELECT vector FROM vectors WHERE seq = ?1")
        .map_err(sqlite)?;
    // Codes written here, for vectors stored without one (by a version that kept no codes).
    let mut missing: Vec<(i64, Code)> = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite)? {
        let seq: i64 = row.get(0).map_err(sqlite)?;
        let address = crate::packet::Address::from_bytes(
            row.get_ref(1)
                .map_err(sqlite)?
                .as_blob()
                .map_err(|e| sqlite(e.into()))?,
        )
        .map_err(|_| damaged(seq, "an invalid address"))?;
        let id: [u8; 16] = row
            .get_ref(2)
            .map_err(sqlite)?
            .as_blob()
            .map_err(|e| sqlite(e.into()))?
            .try_into()
            .map_err(|_| damaged(seq, "an id that is not 16 bytes"))?;
        let domain = text(row, 3)?;
        let created = row.get::<_, i64>(4).map_err(sqlite)? as u64;
        let expires = row
            .get::<_, Option<i64>>(5)
            .map_err(sqlite)?
            .map(|e| e as u64);
        index.insert(&Row {
            seq,
            address,
            id,
            domain: &domain,
            created,
            expires,
        });
        let has_vector: bool = row.get(6).map_err(sqlite)?;
        if !has_vector || expires.is_some_and(|e| e <= now) {
            continue;
        }
        // Vectors of packets gone (expired, or a crash between the two files' commits) are
        // passed over.
        while vector.as_ref().is_some_and(|(s, ..)| *s < seq) {
            vector = next_vector()?;
        }
        let mut kept_list = (None, None);
        let code = match vector.as_ref().filter(|(s, ..)| *s == seq) {
            Some((_, bytes, list, generation)) => {
                kept_list = (*list, *generation);
                Code::from_bytes(bytes)
            }
            None => {
                let v: Option<Vec<u8>> = read_vector
                    .query_row([seq], |r| r.get(0))
                    .optional()
                    .map_err(sqlite)?;
                let code = Code::of(&vector_from_bytes(
                    &v.ok_or_else(|| damaged(seq, "no vector in the vectors file"))?,
                ));
                missing.push((seq, code.clone()));
                Some(code)
            }
        }
        .filter(|c| store.dimension().is_none_or(|d| d == c.codes.len()))
        .ok_or_else(|| damaged(seq, "a vector code of the wrong length"))?;
        let outcome = text(row, 9)?;
        let fields = FilterFields {
            domain: &domain,
            agent: &text(row, 7)?,
            tags: &tags_from_bytes(
                row.get_ref(8)
                    .map_err(sqlite)?
                    .as_blob()
                    .map_err(|e| sqlite(e.into()))?,
            )?,
            outcome: outcome
                .parse()
                .map_err(|_| damaged(seq, &format!("an unknown outcome {outcome:?}")))?,
            confidence: row.get::<_, f64>(10).map_err(sqlite)? as f32,
            created,
            expires,
        };
        let placement = restored
            .get_mut(&domain)
            .and_then(|r| r.placement(seq, kept_list.0, kept_list.1));
        store.insert_fields(seq, &fields, &code, placement);
    }
    drop(vecs);
    if !missing.is_empty() {
        let tx = vectors.unchecked_transaction().map_err(sqlite)?;
        {
            let mut insert = tx
                .prepare("INSERT OR REPLACE INTO codes (seq, code) VALUES (?1, ?2)")
                .map_err(sqlite)?;
            for (seq, code) in &missing {
                insert
                    .execute(rusqlite::params![seq, code.to_bytes()])
                    .map_err(sqlite)?;
            }
        }
        tx.commit().map_err(sqlite)?;
        tracing::info!(
            vectors = missing.len(),
            "wrote the int8 codes of vectors stored without one"
        );
    }
    Ok((store, index))
}

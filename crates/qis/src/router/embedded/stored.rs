//! How packets and vectors are stored in rows: their encodings, and reading the vectors back
//! into memory when the store opens.

use rusqlite::{Connection, OptionalExtension};

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

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

/// The tags of the `tags` column, borrowed from its bytes.
fn tags_from_bytes(b: &[u8]) -> Result<Vec<&str>> {
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
    let mut restored = HashMap::default();
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

/// A live packet with a vector, as the packets table gives it to the vector store: its text
/// fields are ranges of its batch's bytes.
struct VectorRow {
    seq: i64,
    domain: std::ops::Range<usize>,
    agent: std::ops::Range<usize>,
    /// The `tags` column: a MessagePack list of strings.
    tags: std::ops::Range<usize>,
    outcome: crate::packet::Outcome,
    confidence: f32,
    created: u64,
    expires: Option<u64>,
}

/// Rows in `seq` order, with the bytes their text fields are in: one allocation for a batch,
/// not one for each string.
#[derive(Default)]
struct VectorRows {
    bytes: Vec<u8>,
    rows: Vec<VectorRow>,
}

impl VectorRows {
    fn with_capacity(rows: usize) -> Self {
        VectorRows {
            bytes: Vec::with_capacity(rows * 48),
            rows: Vec::with_capacity(rows),
        }
    }

    fn keep(&mut self, b: &[u8]) -> std::ops::Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(b);
        start..self.bytes.len()
    }

    fn text(&self, seq: i64, range: &std::ops::Range<usize>) -> Result<&str> {
        std::str::from_utf8(&self.bytes[range.clone()])
            .map_err(|_| damaged(seq, "a text column that is not UTF-8"))
    }
}

/// Rows go from one thread to the other in batches of this many.
const OPEN_BATCH: usize = 2_048;

fn damaged(seq: i64, what: &str) -> Error {
    Error::Backend {
        router: ROUTER,
        retryable: false,
        source: format!("packet {seq} has {what} (is the database damaged?)").into(),
    }
}

/// The store's in-memory caches, from the packets' columns and the vectors file, each read in
/// `seq` order, no packet body decoded: the address index of every packet, and the vectors of
/// the live ones with their filter fields. The two files are read on two threads: this one
/// scans the packets and builds the address index, and passes the live packets with a vector,
/// in batches, to one that scans the codes alongside and builds the vector store.
pub(super) fn load_caches(
    conn: &Connection,
    vectors: &mut Connection,
) -> Result<(VectorStore, AddressIndex)> {
    let dimension: Option<usize> = conn
        .query_row("SELECT value FROM meta WHERE key = 'dimension'", [], |r| {
            r.get::<_, String>(0)
        })
        .optional()
        .map_err(sqlite)?
        .and_then(|d| d.parse().ok());
    let now = now_ms();
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel::<VectorRows>(8);
        let codes = std::thread::Builder::new()
            .name("qis-open".into())
            .spawn_scoped(scope, move || load_vectors(vectors, dimension, receive))
            .map_err(|e| Error::Backend {
                router: ROUTER,
                retryable: true,
                source: format!("cannot start a thread to open the store: {e}").into(),
            })?;
        let index = load_index(conn, now, &send);
        drop(send);
        // The vector side's error first: it ends the packets' scan early, by refusing its rows.
        let store = codes.join().map_err(|_| Error::Backend {
            router: ROUTER,
            retryable: false,
            source: "opening the vector store failed (a bug)".into(),
        })??;
        Ok((store, index?))
    })
}

/// Column `i` of `row`, a text or a blob, borrowed.
fn bytes<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r [u8]> {
    row.get_ref(i)
        .map_err(sqlite)?
        .as_bytes()
        .map_err(|e| sqlite(e.into()))
}

/// Scans the packets table into the address index, and sends the live packets with a vector to
/// `vectors`; stops early, with what it has, once `vectors` takes no more (it failed).
fn load_index(
    conn: &Connection,
    now: u64,
    vectors: &std::sync::mpsc::SyncSender<VectorRows>,
) -> Result<AddressIndex> {
    let mut index = AddressIndex::default();
    let mut rows = conn
        .prepare(
            "SELECT seq, address, id, domain, created, expires, has_vector, agent, tags, outcome, \
             confidence FROM packets ORDER BY seq",
        )
        .map_err(sqlite)?;
    let mut rows = rows.query([]).map_err(sqlite)?;
    let mut batch = VectorRows::with_capacity(OPEN_BATCH);
    while let Some(row) = rows.next().map_err(sqlite)? {
        let seq: i64 = row.get(0).map_err(sqlite)?;
        let address = crate::packet::Address::from_bytes(bytes(row, 1)?)
            .map_err(|_| damaged(seq, "an invalid address"))?;
        let id: [u8; 16] = bytes(row, 2)?
            .try_into()
            .map_err(|_| damaged(seq, "an id that is not 16 bytes"))?;
        let domain = bytes(row, 3)?;
        let agent = bytes(row, 7)?;
        let created = row.get::<_, i64>(4).map_err(sqlite)? as u64;
        let expires = row
            .get::<_, Option<i64>>(5)
            .map_err(sqlite)?
            .map(|e| e as u64);
        index.insert(&Row {
            seq,
            address,
            id,
            domain: std::str::from_utf8(domain)
                .map_err(|_| damaged(seq, "a domain that is not UTF-8"))?,
            agent: std::str::from_utf8(agent)
                .map_err(|_| damaged(seq, "an agent that is not UTF-8"))?,
            created,
            expires,
        });
        let has_vector: bool = row.get(6).map_err(sqlite)?;
        if !has_vector || expires.is_some_and(|e| e <= now) {
            continue;
        }
        let outcome = row
            .get_ref(9)
            .map_err(sqlite)?
            .as_str()
            .map_err(|e| sqlite(e.into()))?;
        let outcome = outcome
            .parse()
            .map_err(|_| damaged(seq, &format!("an unknown outcome {outcome:?}")))?;
        let vector_row = VectorRow {
            seq,
            domain: batch.keep(domain),
            agent: batch.keep(agent),
            tags: batch.keep(bytes(row, 8)?),
            outcome,
            confidence: row.get::<_, f64>(10).map_err(sqlite)? as f32,
            created,
            expires,
        };
        batch.rows.push(vector_row);
        if batch.rows.len() == OPEN_BATCH
            && vectors
                .send(std::mem::replace(
                    &mut batch,
                    VectorRows::with_capacity(OPEN_BATCH),
                ))
                .is_err()
        {
            return Ok(index);
        }
    }
    if !batch.rows.is_empty() {
        // Refused only if the vector side failed, which reports it.
        let _ = vectors.send(batch);
    }
    Ok(index)
}

/// Builds the vector store from the packets `rows` sends (live, with a vector, in `seq` order)
/// and the codes of the vectors file, read alongside in the same order, with the partitions the
/// file keeps. A vector stored without a code (by a version that kept none) gets one, written
/// back.
fn load_vectors(
    vectors: &mut Connection,
    dimension: Option<usize>,
    rows: std::sync::mpsc::Receiver<VectorRows>,
) -> Result<VectorStore> {
    let mut store = VectorStore::default();
    if let Some(d) = dimension {
        store.set_dimension(d);
    }
    let mut restored = restore_partitions(vectors, &mut store)?;
    let mut stmt = vectors
        .prepare("SELECT seq, code, list, generation FROM codes ORDER BY seq")
        .map_err(sqlite)?;
    let mut codes = stmt.query([]).map_err(sqlite)?;
    type CodeRow = (i64, Vec<u8>, Option<i64>, Option<i64>);
    let mut next_code = || -> Result<Option<CodeRow>> {
        match codes.next().map_err(sqlite)? {
            Some(r) => Ok(Some((
                r.get(0).map_err(sqlite)?,
                r.get(1).map_err(sqlite)?,
                r.get(2).map_err(sqlite)?,
                r.get(3).map_err(sqlite)?,
            ))),
            None => Ok(None),
        }
    };
    let mut code_row = next_code()?;
    let mut read_vector = vectors
        .prepare("SELECT vector FROM vectors WHERE seq = ?1")
        .map_err(sqlite)?;
    // Codes written here, for vectors stored without one (by a version that kept no codes).
    let mut missing: Vec<(i64, Code)> = Vec::new();
    for batch in rows.iter() {
        for row in &batch.rows {
            let seq = row.seq;
            // Vectors of packets gone (expired, or a crash between the two files' commits) are
            // passed over.
            while code_row.as_ref().is_some_and(|(s, ..)| *s < seq) {
                code_row = next_code()?;
            }
            let mut kept_list = (None, None);
            let code = match code_row.as_ref().filter(|(s, ..)| *s == seq) {
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
            let domain = batch.text(seq, &row.domain)?;
            let tags = tags_from_bytes(&batch.bytes[row.tags.clone()])?;
            let fields = FilterFields {
                domain,
                agent: batch.text(seq, &row.agent)?,
                tags: &tags,
                outcome: row.outcome,
                confidence: row.confidence,
                created: row.created,
                expires: row.expires,
            };
            let placement = restored
                .get_mut(domain)
                .and_then(|r| r.placement(seq, kept_list.0, kept_list.1));
            store.insert_fields(seq, &fields, &code, placement);
        }
    }
    drop(codes);
    drop(stmt);
    drop(read_vector);
    if !missing.is_empty() {
        let tx = vectors.transaction().map_err(sqlite)?;
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
    Ok(store)
}

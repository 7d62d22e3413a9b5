//! How packets and vectors are stored in rows: their encodings, and reading the vectors back
//! into memory when the store opens.

use rusqlite::{Connection, OptionalExtension};

use super::by_address::{AddressIndex, Row};
use super::vectors::{Code, FilterFields, VectorStore};
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
    let now = now_ms();
    let mut rows = conn
        .prepare(
            "SELECT seq, address, id, domain, created, expires, has_vector, agent, tags, outcome, \
             confidence FROM packets ORDER BY seq",
        )
        .map_err(sqlite)?;
    let mut rows = rows.query([]).map_err(sqlite)?;
    let mut stmt = vectors
        .prepare("SELECT seq, code FROM codes ORDER BY seq")
        .map_err(sqlite)?;
    let mut vecs = stmt.query([]).map_err(sqlite)?;
    let mut next_vector = || -> Result<Option<(i64, Vec<u8>)>> {
        match vecs.next().map_err(sqlite)? {
            Some(r) => Ok(Some((r.get(0).map_err(sqlite)?, r.get(1).map_err(sqlite)?))),
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
        while vector.as_ref().is_some_and(|(s, _)| *s < seq) {
            vector = next_vector()?;
        }
        let code = match vector.as_ref().filter(|(s, _)| *s == seq) {
            Some((_, bytes)) => Code::from_bytes(bytes),
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
        store.insert_fields(seq, &fields, &code);
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

//! How packets and vectors are stored in rows: their encodings, and reading the vectors back
//! into memory when the store opens.

use rusqlite::{Connection, OptionalExtension};

use super::vectors::{FilterFields, VectorStore};
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

/// The in-memory side of vector search, from the packets' filter columns and the vectors file:
/// both read in `seq` order and joined as they go, no packet body decoded.
pub(super) fn load_vectors(conn: &Connection, vectors: &Connection) -> Result<VectorStore> {
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
    let mut metas = conn
        .prepare(
            "SELECT seq, domain, agent, tags, outcome, confidence, created, expires FROM packets \
             WHERE has_vector AND (expires IS NULL OR expires > ?1) ORDER BY seq",
        )
        .map_err(sqlite)?;
    let mut metas = metas.query([now]).map_err(sqlite)?;
    let mut stmt = vectors
        .prepare("SELECT seq, vector FROM vectors ORDER BY seq")
        .map_err(sqlite)?;
    let mut vecs = stmt.query([]).map_err(sqlite)?;
    let mut next_vector = || -> Result<Option<(i64, Vec<u8>)>> {
        match vecs.next().map_err(sqlite)? {
            Some(r) => Ok(Some((r.get(0).map_err(sqlite)?, r.get(1).map_err(sqlite)?))),
            None => Ok(None),
        }
    };
    let mut vector = next_vector()?;
    while let Some(row) = metas.next().map_err(sqlite)? {
        let seq: i64 = row.get(0).map_err(sqlite)?;
        // Vectors of packets gone (expired, or a crash between the two files' commits) are
        // passed over.
        while vector.as_ref().is_some_and(|(s, _)| *s < seq) {
            vector = next_vector()?;
        }
        let Some((_, bytes)) = vector.as_ref().filter(|(s, _)| *s == seq) else {
            return Err(Error::Backend {
                router: ROUTER,
                retryable: false,
                source: format!("packet {seq} has no vector in the vectors file (is it damaged?)")
                    .into(),
            });
        };
        let outcome: String = row.get(4).map_err(sqlite)?;
        let fields = FilterFields {
            domain: row
                .get_ref(1)
                .map_err(sqlite)?
                .as_str()
                .map_err(|e| sqlite(e.into()))?,
            agent: row
                .get_ref(2)
                .map_err(sqlite)?
                .as_str()
                .map_err(|e| sqlite(e.into()))?,
            tags: &tags_from_bytes(
                row.get_ref(3)
                    .map_err(sqlite)?
                    .as_blob()
                    .map_err(|e| sqlite(e.into()))?,
            )?,
            outcome: outcome.parse().map_err(|_| Error::Backend {
                router: ROUTER,
                retryable: false,
                source: format!("packet {seq} has an unknown outcome {outcome:?}").into(),
            })?,
            confidence: row.get::<_, f64>(5).map_err(sqlite)? as f32,
            created: row.get::<_, i64>(6).map_err(sqlite)? as u64,
            expires: row
                .get::<_, Option<i64>>(7)
                .map_err(sqlite)?
                .map(|e| e as u64),
        };
        store.insert_fields(seq, &fields, &vector_from_bytes(bytes));
    }
    Ok(store)
}

//! How packets and vectors are stored in rows: their encodings, and reading the vectors back
//! into memory when the store opens.

use rusqlite::{Connection, OptionalExtension};

use super::vectors::VectorStore;
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

pub(super) fn load_vectors(conn: &Connection) -> Result<VectorStore> {
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

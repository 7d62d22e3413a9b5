//! The read path: reader connections, the decoded-packet cache, queries, scans and stats.

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

use super::stored::{decode_stored, vector_from_bytes};
use super::vectors::Scored;
use super::{Shared, lock, sqlite};
use crate::error::{Error, Result};
use crate::packet::{Millis, Packet, now_ms};
use crate::router::{Hit, Query, Routed, Stats, Target};

impl Shared {
    /// The packet stored as `seq`, from the cache or decoded from `body` (read only on a miss).
    fn packet(
        &self,
        seq: i64,
        body: impl FnOnce() -> rusqlite::Result<Vec<u8>>,
    ) -> Result<Arc<Packet>> {
        if let Some(p) = self.cache.as_ref().and_then(|c| c.get(&seq)) {
            return Ok(p);
        }
        let packet = Arc::new(decode_stored(&body().map_err(sqlite)?)?);
        if let Some(c) = &self.cache {
            c.insert(seq, packet.clone());
        }
        Ok(packet)
    }

    pub(super) fn reader(&self) -> MutexGuard<'_, Connection> {
        // Take a free reader if there is one; otherwise wait on the next in turn.
        for r in &self.readers {
            if let Ok(guard) = r.try_lock() {
                return guard;
            }
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        lock(&self.readers[i])
    }

    pub(super) fn query(&self, query: &Query) -> Result<Vec<Hit>> {
        query.validate()?;
        let now = now_ms();
        match &query.target {
            Target::Address(address) => self.query_exact(address.as_bytes(), query, now),
            Target::Vector(v) => self.query_vector(v, query, now),
        }
    }

    /// Exact queries read only the covering index `packets_at_address` (address, newest first,
    /// expiry) for the packets' `seq`s, take the decoded packets from the cache (reading a body
    /// only on a miss), and apply the filter to the packets themselves: a 50-packet answer touches
    /// a few index pages instead of 50 table rows.
    fn query_exact(&self, address: &[u8], query: &Query, now: Millis) -> Result<Vec<Hit>> {
        let f = &query.filter;
        let since = f.since.map_or(0, |s| s.min(i64::MAX as u64) as i64);
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq FROM packets INDEXED BY packets_at_address \
                 WHERE address = ?1 AND (expires IS NULL OR expires > ?2) AND created >= ?3 \
                 ORDER BY created DESC, id DESC",
            )
            .map_err(sqlite)?;
        let mut body = conn
            .prepare_cached("SELECT body FROM packets WHERE seq = ?1")
            .map_err(sqlite)?;
        let mut rows = stmt
            .query(params![address, now.min(i64::MAX as u64) as i64, since])
            .map_err(sqlite)?;
        let mut hits = Vec::with_capacity(query.limit.min(64));
        while let Some(row) = rows.next().map_err(sqlite)? {
            let seq: i64 = row.get(0).map_err(sqlite)?;
            let packet = self.packet(seq, || body.query_row([seq], |r| r.get(0)))?;
            if f.matches(&packet, now) {
                hits.push(Hit { packet, score: 1.0 });
                if hits.len() == query.limit {
                    break;
                }
            }
        }
        Ok(hits)
    }

    fn query_vector(&self, target: &[f32], query: &Query, now: Millis) -> Result<Vec<Hit>> {
        let min_score = query.min_score.unwrap_or(f32::NEG_INFINITY);
        let scored: Vec<Scored> = {
            let vectors = self.vectors.read().unwrap_or_else(|e| e.into_inner());
            match vectors.dimension() {
                None => return Ok(Vec::new()),
                Some(d) if d != target.len() => {
                    return Err(Error::Dimension {
                        expected: d,
                        got: target.len(),
                    });
                }
                Some(_) => {}
            }
            let filter = vectors.compile(&query.filter, now);
            vectors.search(
                target,
                query.limit,
                min_score,
                &filter,
                self.options.exact_below,
            )
        };
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached("SELECT body FROM packets WHERE seq = ?1")
            .map_err(sqlite)?;
        let mut hits = Vec::with_capacity(scored.len());
        for s in scored {
            let cached = self.cache.as_ref().and_then(|c| c.get(&s.seq));
            let packet = match cached {
                Some(p) => p,
                None => {
                    // A purge may have removed it since the search: then it has expired anyway.
                    let Some(body) = stmt
                        .query_row([s.seq], |r| r.get::<_, Vec<u8>>(0))
                        .optional()
                        .map_err(sqlite)?
                    else {
                        continue;
                    };
                    self.packet(s.seq, || Ok(body))?
                }
            };
            if query.filter.matches(&packet, now) {
                hits.push(Hit {
                    packet,
                    score: s.score,
                });
            }
        }
        Ok(hits)
    }

    pub(super) fn scan(&self, cursor: i64, limit: usize) -> Result<(Vec<Routed>, Option<i64>)> {
        let now = now_ms() as i64;
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(
                "SELECT p.seq, p.body, v.vector FROM packets p LEFT JOIN v.vectors v \
                 ON p.has_vector AND v.seq = p.seq \
                 WHERE p.seq > ?1 AND (p.expires IS NULL OR p.expires > ?2) ORDER BY p.seq LIMIT ?3",
            )
            .map_err(sqlite)?;
        let mut rows = stmt
            .query(params![cursor, now, limit.min(i64::MAX as usize) as i64])
            .map_err(sqlite)?;
        let mut out = Vec::new();
        let mut last = cursor;
        while let Some(row) = rows.next().map_err(sqlite)? {
            last = row.get(0).map_err(sqlite)?;
            let body: Vec<u8> = row.get(1).map_err(sqlite)?;
            let vector: Option<Vec<u8>> = row.get(2).map_err(sqlite)?;
            let packet = Arc::new(decode_stored(&body)?);
            out.push(Routed {
                packet,
                vector: vector.map(|v| vector_from_bytes(&v).into()),
            });
        }
        let next = (out.len() == limit && limit > 0).then_some(last);
        Ok((out, next))
    }

    pub(super) fn stats(&self) -> Result<Stats> {
        let now = now_ms() as i64;
        let conn = self.reader();
        let (packets, addresses, vectors, expired): (i64, i64, i64, i64) = conn
            .query_row(
                "SELECT COUNT(*), COUNT(DISTINCT address), COALESCE(SUM(has_vector), 0), \
                 COALESCE(SUM(expires IS NOT NULL AND expires <= ?1), 0) FROM packets",
                [now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .map_err(sqlite)?;
        let dimension = self
            .vectors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .dimension();
        Ok(Stats {
            packets: packets as u64,
            addresses: addresses as u64,
            vectors: vectors as u64,
            expired: expired as u64,
            dimension,
        })
    }
}

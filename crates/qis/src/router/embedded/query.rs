//! The read path: reader connections, the decoded-packet cache, queries, scans and stats.

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

use super::stored::{decode_stored, vector_from_bytes};
use super::vectors::{Code, Scored, TopK, code_error, dot};
use super::{Shared, lock, sqlite};
use crate::error::{Error, Result};
use crate::packet::{Address, Millis, Packet, now_ms};
use crate::router::agent_cap::AgentCap;
use crate::router::{Hit, Query, Routed, Stats, Target};

/// How many standard deviations of its score by codes ([`code_error`]) a candidate may lie below
/// the k-th best exact score so far (or below `min_score`) and still be read and scored again.
/// By the model of the codes' error (even rounding, independent components, unit vectors), a
/// vector of the true top k is passed over for this reason about once in a billion candidates;
/// a test checks the model's spread, not so thin a tail. The rest of a query's candidates, which
/// could only reach the answer by an error that large, cost no read.
const CODE_ERRORS: f32 = 6.0;

impl Shared {
    /// The packets stored as `seqs`, in order: from the cache, and those it lacks read from
    /// SQLite through one reader (and put in the cache). `None` for a packet no longer stored
    /// (forgotten or purged since its `seq` was found).
    fn packets(&self, seqs: &[i64]) -> Result<Vec<Option<Arc<Packet>>>> {
        let mut out: Vec<Option<Arc<Packet>>> = seqs
            .iter()
            .map(|seq| self.cache.as_ref().and_then(|c| c.get(seq)))
            .collect();
        if out.iter().all(Option::is_some) {
            return Ok(out);
        }
        let conn = self.reader();
        // One read transaction for all of them: each read would otherwise begin its own, which
        // costs as much as the read itself.
        let tx = conn.unchecked_transaction().map_err(sqlite)?;
        let mut stmt = tx
            .prepare_cached("SELECT body FROM packets WHERE seq = ?1")
            .map_err(sqlite)?;
        for (slot, &seq) in out.iter_mut().zip(seqs) {
            if slot.is_some() {
                continue;
            }
            let Some(body) = stmt
                .query_row([seq], |r| r.get::<_, Vec<u8>>(0))
                .optional()
                .map_err(sqlite)?
            else {
                continue;
            };
            let packet = Arc::new(decode_stored(&body)?);
            if let Some(c) = &self.cache {
                c.insert(seq, packet.clone());
            }
            *slot = Some(packet);
        }
        Ok(out)
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
            Target::Address(address) => self.query_exact(address, query, now),
            Target::Vector(v) => self.query_vector(v, query, now),
        }
    }

    /// Exact queries take the address's packets, newest first, from the in-memory index (a
    /// chunk at a time, so that deposits are not held up), the decoded packets from the cache
    /// (reading bodies only for the misses), and apply the filter to the packets themselves.
    fn query_exact(&self, address: &Address, query: &Query, now: Millis) -> Result<Vec<Hit>> {
        let f = &query.filter;
        let since = f.since.unwrap_or(0);
        let mut hits = Vec::with_capacity(query.limit.min(64));
        let mut after = None;
        // An agent that has its share is passed over in the index, before its packets are read.
        let mut cap = AgentCap::new(query.max_per_agent);
        while hits.len() < query.limit {
            // A filter may pass over some: read a little more than the answer still lacks.
            let want = (query.limit - hits.len()).max(16);
            let chunk = self
                .by_address
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .newest(address, since, now, after, want, |a| cap.is_full(&a));
            let Some(last) = chunk.last() else {
                break;
            };
            after = Some(last.cursor());
            let exhausted = chunk.len() < want;
            let seqs: Vec<i64> = chunk.iter().map(|e| e.seq).collect();
            for (entry, packet) in chunk.iter().zip(self.packets(&seqs)?) {
                let Some(packet) = packet else { continue };
                if f.matches(&packet, now) && cap.admit(entry.agent) {
                    hits.push(Hit { packet, score: 1.0 });
                    if hits.len() == query.limit {
                        break;
                    }
                }
            }
            if exhausted {
                break;
            }
        }
        Ok(hits)
    }

    /// Vector queries take candidates from the codes in memory, score them again on their
    /// vectors (read from the vectors file in one read transaction, best first, skipping those
    /// whose codes' score puts them out of reach: see [`CODE_ERRORS`]), and apply the filter to
    /// the packets themselves.
    fn query_vector(&self, target: &[f32], query: &Query, now: Millis) -> Result<Vec<Hit>> {
        let min_score = query.min_score.unwrap_or(f32::NEG_INFINITY);
        let candidates: Vec<Scored> = {
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
                query.max_per_agent,
            )
        };
        let query_scale = Code::scale_of(target);
        let mut best = TopK::new(query.limit, query.max_per_agent);
        {
            let conn = self.reader();
            let tx = conn.unchecked_transaction().map_err(sqlite)?;
            let mut stmt = tx
                .prepare_cached("SELECT vector FROM v.vectors WHERE seq = ?1")
                .map_err(sqlite)?;
            for c in candidates {
                // What a candidate must reach: `min_score`, and once k are scored the k-th.
                let reach = best.kth().map_or(min_score, |k| k.score.max(min_score));
                if c.score + CODE_ERRORS * code_error(query_scale, c.scale) < reach {
                    continue;
                }
                // A forget or purge may have removed one since the search.
                let Some(bytes) = stmt
                    .query_row([c.seq], |r| r.get::<_, Vec<u8>>(0))
                    .optional()
                    .map_err(sqlite)?
                else {
                    continue;
                };
                let score = dot(target, &vector_from_bytes(&bytes));
                if score >= min_score {
                    best.offer(Scored { score, ..c });
                }
            }
        }
        let scored = best.into_sorted();
        let seqs: Vec<i64> = scored.iter().map(|s| s.seq).collect();
        let mut hits = Vec::with_capacity(scored.len());
        // A purge may have removed one since the search: then it has expired anyway.
        for (s, packet) in scored.iter().zip(self.packets(&seqs)?) {
            if let Some(packet) = packet.filter(|p| query.filter.matches(p, now)) {
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
        let (packets, vectors, expired): (i64, i64, i64) = conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(has_vector), 0), \
                 COALESCE(SUM(expires IS NOT NULL AND expires <= ?1), 0) FROM packets",
                [now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(sqlite)?;
        // From the index: counting distinct addresses in SQL sorts the whole table.
        let addresses = self
            .by_address
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len();
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

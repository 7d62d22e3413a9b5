//! TTL: the background purge of expired packets, and the purge itself.

use std::sync::Weak;
use std::time::Duration;

use super::{Shared, lock, sqlite};
use crate::error::Result;
use crate::packet::now_ms;

#[derive(Debug)]
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(super) async fn purge_loop(shared: Weak<Shared>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await; // the first tick is immediate
    loop {
        ticks.tick().await;
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let result = tokio::task::spawn_blocking(move || strong.purge()).await;
        match result {
            Ok(Ok(n)) if n > 0 => tracing::debug!(removed = n, "purged expired packets"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "background purge failed"),
            Err(e) => tracing::warn!(error = %e, "background purge task failed"),
        }
    }
}

impl Shared {
    pub(super) fn purge(&self) -> Result<u64> {
        let now = now_ms() as i64;
        let mut conn = lock(&self.writer);
        let tx = conn.transaction().map_err(sqlite)?;
        let removed: Vec<(i64, bool, Vec<u8>)> = tx
            .prepare_cached(
                "DELETE FROM packets WHERE expires IS NOT NULL AND expires <= ?1 \
                 RETURNING seq, has_vector, address",
            )
            .map_err(sqlite)?
            .query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(sqlite)?
            .collect::<rusqlite::Result<_>>()
            .map_err(sqlite)?;
        // Tombstones last as long as their packets would have.
        tx.prepare_cached("DELETE FROM tombstones WHERE expires IS NOT NULL AND expires <= ?1")
            .map_err(sqlite)?
            .execute([now])
            .map_err(sqlite)?;
        let dropped: Vec<i64> = removed.iter().filter(|r| r.1).map(|r| r.0).collect();
        super::forget::mark_dropped(&tx, &dropped)?;
        tx.commit().map_err(sqlite)?;
        if !dropped.is_empty() {
            super::forget::drop_vectors(&conn, &lock(&self.vector_writer))?;
        }
        self.unindex(removed.iter().map(|r| (r.2.as_slice(), r.0)));
        let mut vectors = self.vectors.write().unwrap_or_else(|e| e.into_inner());
        for (seq, had_vector, _) in &removed {
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

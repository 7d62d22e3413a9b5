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
        let conn = lock(&self.writer);
        let mut stmt = conn
            .prepare_cached(
                "DELETE FROM packets WHERE expires IS NOT NULL AND expires <= ?1 \
                 RETURNING seq, vector IS NOT NULL",
            )
            .map_err(sqlite)?;
        let removed: Vec<(i64, bool)> = stmt
            .query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sqlite)?
            .collect::<rusqlite::Result<_>>()
            .map_err(sqlite)?;
        // Tombstones last as long as their packets would have.
        conn.prepare_cached("DELETE FROM tombstones WHERE expires IS NOT NULL AND expires <= ?1")
            .map_err(sqlite)?
            .execute([now])
            .map_err(sqlite)?;
        let mut vectors = self.vectors.write().unwrap_or_else(|e| e.into_inner());
        for (seq, had_vector) in &removed {
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

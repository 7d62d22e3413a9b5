//! Reads: the last message on a subject, every message on a few subjects by batched direct gets,
//! whole parts of the network's headers by an ordered consumer, and the live packets they hold.

use std::collections::HashSet;
use std::sync::Arc;

use async_nats::HeaderMap;
use async_nats::jetstream::{consumer, stream};
use bytes::Bytes;
use futures::StreamExt;

use super::record::{EXPIRES_HEADER, decode_record};
use super::{NatsRouter, ROUTER};
use crate::error::{Error, Result};
use crate::packet::{Millis, Packet};
use crate::router::Vector;

/// Most messages one batched direct get returns; a subject holding more is read in several.
const DIRECT_BATCH: usize = 1000;

impl NatsRouter {
    /// The last message on `subject` (its sequence and payload), if any.
    pub(super) async fn last_on(&self, subject: &str) -> Result<Option<(u64, Bytes)>> {
        match self.stream.direct_get_last_for_subject(subject).await {
            Ok(m) => Ok(Some((m.sequence, m.payload))),
            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::unavailable(ROUTER, format!("reading {subject}"), e)),
        }
    }

    /// Every message on each of `subjects` (exact subjects, no wildcards), by batched direct
    /// gets: one request per subject, all in flight at once on one reply subscription, each
    /// answered by a run of messages that ends with an end-of-batch status. No consumer is created,
    /// so a query costs one round trip (more only for a subject past [`DIRECT_BATCH`] messages).
    /// Batched direct gets came with nats-server 2.11, which a qis stream needs anyway (its
    /// per-message TTLs).
    pub(super) async fn read_subjects(&self, subjects: Vec<String>) -> Result<Vec<Read>> {
        let inbox = self.client.new_inbox();
        let mut replies = self
            .client
            .subscribe(format!("{inbox}.*"))
            .await
            .map_err(|e| Error::unavailable(ROUTER, "subscribing to replies", e))?;
        let api = format!("$JS.API.DIRECT.GET.{}", self.stream_name());
        let ask = |i: usize, from: u64| {
            let body = serde_json::json!({
                "seq": from,
                "next_by_subj": subjects[i],
                "batch": DIRECT_BATCH,
            });
            self.client.publish_with_reply(
                api.clone(),
                format!("{inbox}.{i}"),
                Bytes::from(body.to_string()),
            )
        };
        for i in 0..subjects.len() {
            ask(i, 1)
                .await
                .map_err(|e| Error::unavailable(ROUTER, "requesting messages", e))?;
        }
        let mut open = subjects.len();
        let mut out = Vec::new();
        while open > 0 {
            let m = tokio::time::timeout(self.config.timeout, replies.next())
                .await
                .map_err(|_| {
                    Error::unavailable(ROUTER, "reading messages", "no answer within the timeout")
                })?
                .ok_or_else(|| {
                    Error::unavailable(ROUTER, "reading messages", "the connection closed")
                })?;
            let i: usize = m
                .subject
                .rsplit('.')
                .next()
                .and_then(|t| t.parse().ok())
                .filter(|i| *i < subjects.len())
                .ok_or_else(|| {
                    Error::unavailable(ROUTER, "reading messages", "a reply to no request")
                })?;
            let header = |name: &str| -> Option<u64> {
                m.headers.as_ref()?.get(name)?.as_str().parse().ok()
            };
            match m.status.map(|s| s.as_u16()) {
                None => {
                    let sequence = header("Nats-Sequence").ok_or_else(|| {
                        Error::unavailable(
                            ROUTER,
                            "reading messages",
                            "a message without its sequence",
                        )
                    })?;
                    out.push(Read {
                        sequence,
                        subject: subjects[i].clone(),
                        headers: m.headers.clone(),
                        payload: m.payload.clone(),
                    });
                }
                // End of batch: more to read when messages are still pending.
                Some(204) => match (header("Nats-Num-Pending"), header("Nats-Last-Sequence")) {
                    (Some(pending), Some(last)) if pending > 0 => ask(i, last + 1)
                        .await
                        .map_err(|e| Error::unavailable(ROUTER, "requesting messages", e))?,
                    _ => open -= 1,
                },
                // Nothing (more) on the subject.
                Some(404) => open -= 1,
                Some(code) => {
                    let why = m
                        .description
                        .clone()
                        .unwrap_or_else(|| format!("status {code}"));
                    return Err(Error::unavailable(ROUTER, "reading messages", why));
                }
            }
        }
        let _ = replies.unsubscribe().await;
        Ok(out)
    }

    /// Every message's headers on the subjects `filter` matches, through an ordered consumer: for
    /// stats and purges, which read whole parts of the network by wildcard.
    pub(super) async fn read_headers(&self, filter: String) -> Result<Vec<Read>> {
        self.read_wildcard(filter, true).await
    }

    /// Every message (with its payload) on the subjects `filter` matches: for forgetting, which
    /// must find each packet's records wherever they are.
    pub(super) async fn read_messages(&self, filter: String) -> Result<Vec<Read>> {
        self.read_wildcard(filter, false).await
    }

    async fn read_wildcard(&self, filter: String, headers_only: bool) -> Result<Vec<Read>> {
        let config = consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::All,
            headers_only,
            filter_subject: filter,
            ..Default::default()
        };
        let consumer = self
            .stream
            .create_consumer(config)
            .await
            .map_err(|e| Error::unavailable(ROUTER, "creating a reader", e))?;
        let pending = consumer.cached_info().num_pending;
        if pending == 0 {
            return Ok(Vec::new());
        }
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| Error::unavailable(ROUTER, "reading", e))?;
        let mut out = Vec::with_capacity(pending.min(100_000) as usize);
        while let Some(m) = messages.next().await {
            let m = m.map_err(|e| Error::unavailable(ROUTER, "reading", e))?;
            let info = m
                .info()
                .map_err(|e| Error::unavailable(ROUTER, "reading", e))?;
            let (sequence, left) = (info.stream_sequence, info.pending);
            out.push(Read {
                sequence,
                subject: m.subject.to_string(),
                headers: m.headers.clone(),
                payload: m.payload.clone(),
            });
            if left == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// Decoded live packets of `reads`, each id once.
    pub(super) fn packets(
        reads: &[Read],
        now: Millis,
    ) -> Result<Vec<(Arc<Packet>, Option<Vector>)>> {
        let mut seen = HashSet::with_capacity(reads.len());
        let mut out = Vec::with_capacity(reads.len());
        for r in reads {
            let (packet, vector) = decode_record(&r.payload)?;
            if packet.is_expired_at(now) || !seen.insert(packet.id()) {
                continue;
            }
            out.push((Arc::new(packet), vector));
        }
        Ok(out)
    }

    pub(super) async fn last_on_owned(&self, subject: String) -> Result<Option<(u64, Bytes)>> {
        self.last_on(&subject).await
    }
}

/// One message read from the stream.
pub(super) struct Read {
    pub(super) sequence: u64,
    pub(super) subject: String,
    headers: Option<HeaderMap>,
    pub(super) payload: Bytes,
}

/// Whether `r` is a forgotten id's tombstone.
pub(super) fn is_tombstone(r: &Read) -> bool {
    r.headers
        .as_ref()
        .is_some_and(|h| h.get(super::record::TOMBSTONE_HEADER).is_some())
}

pub(super) fn expires(r: &Read) -> Millis {
    r.headers
        .as_ref()
        .and_then(|h| h.get(EXPIRES_HEADER))
        .and_then(|v| v.as_str().parse().ok())
        .unwrap_or(Millis::MAX)
}

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, consumer, stream};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{Stream, StreamExt, future};

use super::NatsConfig;
use crate::error::{Error, Result};
use crate::packet::{Address, Millis, Packet, PacketId, now_ms};
use crate::router::layer::{Deadline, Deadlines, within};
use crate::router::{
    Capabilities, Hit, Hits, Query, Receipt, Routed, Router, Stats, Target, Vector,
    batch_dimension, cosine,
};
/// The NATS client crate this router uses, for callers who reach the server themselves.
pub use async_nats;

const ROUTER: &str = "nats";
/// Stream metadata marking a stream as a qis network, and its layout version.
const SCHEMA_KEY: &str = "qis.schema";
const SCHEMA: &str = "1";
const LSH_TABLES_KEY: &str = "qis.lsh_tables";
const LSH_BITS_KEY: &str = "qis.lsh_bits";
/// Header with the packet's expiry (ms since the epoch): purges read headers only.
const EXPIRES_HEADER: &str = "Qis-Expires";
/// Most messages one batched direct get returns; a subject holding more is read in several.
const DIRECT_BATCH: usize = 1000;
/// Record format version (first byte of every packet record).
const RECORD_VERSION: u8 = 1;

/// Packets in a NATS JetStream stream; see the [module docs](self).
pub struct NatsRouter {
    config: NatsConfig,
    client: async_nats::Client,
    js: jetstream::Context,
    stream: stream::Stream,
    /// `qis.<network>`.
    prefix: String,
    /// LSH settings of the stream (fixed when it was created).
    tables: usize,
    bits: usize,
    /// The network's vector dimension, once known.
    dimension: RwLock<Option<usize>>,
    /// Hyperplanes for that dimension.
    planes: OnceLock<Planes>,
}

impl fmt::Debug for NatsRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsRouter")
            .field("servers", &self.config.servers)
            .field("network", &self.config.network)
            .field("replicas", &self.config.replicas)
            .finish_non_exhaustive()
    }
}

impl NatsRouter {
    /// Connects to the servers, then opens the network's stream, creating it if it does not
    /// exist.
    ///
    /// Errors: a retryable [`Error::Backend`] when no server answers within the timeout; a
    /// non-retryable one when the stream exists but is not a qis network of this layout (nothing
    /// is changed then), or when its dimension differs from `config.dimension`.
    pub async fn connect(config: NatsConfig) -> Result<Deadline<Self>> {
        crate::router::url::check_network(&config.network)?;
        let servers = config.servers.join(",");
        let mut options = async_nats::ConnectOptions::new()
            .connection_timeout(config.timeout)
            .request_timeout(Some(config.timeout))
            .name("qis");
        if let Some((user, password)) = &config.credentials {
            options = options.user_and_password(user.clone(), password.clone());
        }
        let addrs: Vec<async_nats::ServerAddr> = config
            .servers
            .iter()
            .map(|s| {
                format!("nats://{s}")
                    .parse()
                    .map_err(|e| Error::Config(format!("NATS server {s:?}: {e}")))
            })
            .collect::<Result<_>>()?;
        let client = within(ROUTER, config.timeout * 2, "connecting", async {
            options
                .connect(addrs.as_slice())
                .await
                .map_err(|e| Error::unavailable(ROUTER, format!("cannot connect to {servers}"), e))
        })
        .await?;
        let js = jetstream::context::ContextBuilder::new()
            .timeout(config.timeout)
            .build(client.clone());
        let name = stream_name(&config.network);
        let prefix = format!("qis.{}", config.network);
        let stream = within(
            ROUTER,
            config.timeout * 2,
            "opening the stream",
            open_stream(&js, &name, &prefix, &config),
        )
        .await?;
        let metadata = &stream.cached_info().config.metadata;
        let setting = |key: &str| -> Result<usize> {
            metadata
                .get(key)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| {
                    Error::refused(
                        ROUTER,
                        format!("stream {name} has no usable {key} metadata"),
                    )
                })
        };
        let (tables, bits) = (setting(LSH_TABLES_KEY)?, setting(LSH_BITS_KEY)?);
        let router = NatsRouter {
            client,
            js,
            stream,
            prefix,
            tables,
            bits,
            dimension: RwLock::new(None),
            planes: OnceLock::new(),
            config,
        };
        let held = within(
            ROUTER,
            router.config.timeout,
            "reading the network",
            router.read_dimension(),
        )
        .await?;
        if let (Some(held), Some(want)) = (held, router.config.dimension)
            && held != want
        {
            return Err(Error::refused(
                ROUTER,
                format!(
                    "network {} holds {held}-dimensional vectors, not the {want} this router was configured with; nothing was changed",
                    router.config.network
                ),
            ));
        }
        let deadlines = router.deadlines();
        Ok(Deadline::new(router, deadlines))
    }

    /// How long each call may take: the configured timeout, six times that for a purge (it reads the headers of the whole stream).
    pub fn deadlines(&self) -> Deadlines {
        Deadlines::scaled(self.config.timeout, 1, 1, 1, 6)
    }

    /// The NATS client (for subscriptions of your own, or to close it).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The stream's name.
    pub fn stream_name(&self) -> String {
        stream_name(&self.config.network)
    }

    /// Packets deposited at `address` from now on, as they arrive (expired and repeated ones left
    /// out). The stream ends when the connection closes for good.
    pub async fn subscribe(
        &self,
        address: Address,
    ) -> Result<impl Stream<Item = Result<Arc<Packet>>> + Send + use<>> {
        let subject = self.address_subject(&address);
        let config = consumer::pull::OrderedConfig {
            filter_subject: subject.clone(),
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        };
        let messages = within(ROUTER, self.config.timeout, "subscribing", async {
            let c =
                self.stream.create_consumer(config).await.map_err(|e| {
                    Error::unavailable(ROUTER, format!("subscribing to {subject}"), e)
                })?;
            c.messages()
                .await
                .map_err(|e| Error::unavailable(ROUTER, format!("subscribing to {subject}"), e))
        })
        .await?;
        let mut seen: HashSet<PacketId> = HashSet::new();
        Ok(messages.filter_map(move |m| {
            let item = match m {
                Err(e) => Some(Err(Error::unavailable(ROUTER, "subscription", e))),
                Ok(m) => match decode_record(&m.payload) {
                    Err(e) => Some(Err(e)),
                    Ok((p, _)) if p.is_expired_at(now_ms()) => None,
                    Ok((p, _)) => {
                        if seen.len() > 100_000 {
                            seen.clear();
                        }
                        seen.insert(p.id()).then(|| Ok(Arc::new(p)))
                    }
                },
            };
            future::ready(item)
        }))
    }

    fn address_subject(&self, address: &Address) -> String {
        format!("{}.a.{}", self.prefix, address.to_hex())
    }

    fn id_subject(&self, id: PacketId) -> String {
        format!("{}.id.{}", self.prefix, id.as_uuid().simple())
    }

    fn meta_subject(&self) -> String {
        format!("{}.meta", self.prefix)
    }

    fn bucket_subject(&self, table: usize, code: u32) -> String {
        format!("{}.v.{table}.{code:x}", self.prefix)
    }

    fn planes(&self, dimension: usize) -> &Planes {
        self.planes
            .get_or_init(|| Planes::new(self.tables, self.bits, dimension, &self.config.network))
    }

    /// The dimension stored in the network (and remembered), if any.
    async fn read_dimension(&self) -> Result<Option<usize>> {
        if let Some(d) = *self.dimension.read().unwrap_or_else(|e| e.into_inner()) {
            return Ok(Some(d));
        }
        let held = match self.last_on(&self.meta_subject()).await? {
            None => None,
            Some((_, payload)) => Some(parse_meta(&payload)?),
        };
        if let Some(d) = held {
            *self.dimension.write().unwrap_or_else(|e| e.into_inner()) = Some(d);
        }
        Ok(held)
    }

    /// Fixes the network's dimension to `d` unless another one is already there (compare and set
    /// on the meta subject); returns the network's dimension.
    async fn fix_dimension(&self, d: usize) -> Result<usize> {
        let body = format!("{{\"dimension\":{d}}}");
        let publish = PublishMessage::build()
            .payload(Bytes::from(body))
            .expected_last_subject_sequence(0);
        let ack = self
            .js
            .send_publish(self.meta_subject(), publish)
            .await
            .map_err(|e| Error::unavailable(ROUTER, "fixing the dimension", e))?
            .await;
        match ack {
            Ok(_) => {
                *self.dimension.write().unwrap_or_else(|e| e.into_inner()) = Some(d);
                Ok(d)
            }
            Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => self
                .read_dimension()
                .await?
                .ok_or_else(|| Error::refused(ROUTER, "the network's dimension record vanished")),
            Err(e) => Err(Error::unavailable(ROUTER, "fixing the dimension", e)),
        }
    }

    /// The last message on `subject` (its sequence and payload), if any.
    async fn last_on(&self, subject: &str) -> Result<Option<(u64, Bytes)>> {
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
    async fn read_subjects(&self, subjects: Vec<String>) -> Result<Vec<Read>> {
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
    async fn read_headers(&self, filter: String) -> Result<Vec<Read>> {
        let config = consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::All,
            headers_only: true,
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
    fn packets(reads: &[Read], now: Millis) -> Result<Vec<(Arc<Packet>, Option<Vector>)>> {
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

    async fn deposit_inner(&self, batch: &[Routed]) -> Result<Vec<Receipt>> {
        let now = now_ms();
        for routed in batch {
            routed.admit(now)?;
        }
        // Refused before anything is written: a record over the server's message size limit.
        let max_payload = self.client.server_info().max_payload;
        let records: Vec<Bytes> = batch.iter().map(encode_record).collect();
        for (routed, record) in batch.iter().zip(&records) {
            if max_payload > 0 && record.len() + 512 > max_payload {
                return Err(Error::invalid(
                    "vector",
                    format!(
                        "packet {} with its vector is {} bytes, over what this NATS server takes in one message ({max_payload} bytes)",
                        routed.packet.id(),
                        record.len()
                    ),
                ));
            }
        }
        // The dimension: the batch's vectors must match the network's (fixing it if unset).
        let held = self.read_dimension().await?;
        if let Some(d) = batch_dimension(batch, held)?
            && held.is_none()
        {
            let fixed = self.fix_dimension(d).await?;
            batch_dimension(batch, Some(fixed))?;
        }

        // Repeats within the batch; digests for conflict checks.
        let digests: Vec<[u8; 16]> = records.iter().map(|r| digest(r)).collect();
        let mut first: HashMap<PacketId, usize> = HashMap::new();
        let mut repeat_in_batch = vec![false; batch.len()];
        for (i, routed) in batch.iter().enumerate() {
            let id = routed.packet.id();
            match first.get(&id) {
                Some(&j) if digests[j] == digests[i] => repeat_in_batch[i] = true,
                Some(_) => return Err(Error::Conflict { id: id.to_string() }),
                None => {
                    first.insert(id, i);
                }
            }
        }
        let unique: Vec<usize> = (0..batch.len()).filter(|&i| !repeat_in_batch[i]).collect();

        // Existing claims (read concurrently): a different digest is a conflict.
        let existing = future::try_join_all(
            unique
                .iter()
                .map(|&i| self.last_on_owned(self.id_subject(batch[i].packet.id()))),
        )
        .await?;
        let mut is_new = vec![false; batch.len()];
        for (&i, claim) in unique.iter().zip(&existing) {
            match claim {
                Some((_, d)) if d.as_ref() != digests[i] => {
                    return Err(Error::Conflict {
                        id: batch[i].packet.id().to_string(),
                    });
                }
                Some(_) => {}
                None => is_new[i] = true,
            }
        }

        // Claim the new ids. If any claim is refused (a concurrent depositor got there first),
        // take back the claims made and write nothing.
        let claims = future::join_all(unique.iter().filter(|&&i| is_new[i]).map(|&i| {
            let routed = &batch[i];
            let publish = with_expiry(
                PublishMessage::build()
                    .payload(Bytes::copy_from_slice(&digests[i]))
                    .message_id(format!("{}.id", routed.packet.id()))
                    .expected_last_subject_sequence(0),
                &routed.packet,
                now,
            );
            let subject = self.id_subject(routed.packet.id());
            async move {
                let ack = self
                    .js
                    .send_publish(subject, publish)
                    .await
                    .map_err(|e| Error::unavailable(ROUTER, "claiming a packet id", e))?
                    .await;
                Ok::<_, Error>((i, ack))
            }
        }))
        .await;
        let mut made = Vec::new();
        let mut failure = None;
        for claim in claims {
            match claim {
                Ok((_, Ok(ack))) if !ack.duplicate => made.push(ack.sequence),
                // A duplicate within the window: this very claim, made by an earlier attempt.
                Ok((_, Ok(_))) => {}
                Ok((i, Err(e)))
                    if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence =>
                {
                    let id = batch[i].packet.id();
                    let now_there = self.last_on(&self.id_subject(id)).await?;
                    match now_there {
                        Some((_, d)) if d.as_ref() == digests[i] => is_new[i] = false,
                        _ => failure = failure.or(Some(Error::Conflict { id: id.to_string() })),
                    }
                }
                Ok((_, Err(e))) => {
                    failure =
                        failure.or(Some(Error::unavailable(ROUTER, "claiming a packet id", e)));
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        if let Some(e) = failure {
            for seq in made {
                // Best effort: a claim left behind only makes a later retry a repeat, which
                // republishes the records.
                if let Err(de) = self.stream.delete_message(seq).await {
                    tracing::warn!(error = %de, "could not take back a packet id claim");
                }
            }
            return Err(e);
        }

        // Publish the records: new packets, and repeats (to finish an interrupted deposit).
        let mut acks = Vec::new();
        for &i in &unique {
            let routed = &batch[i];
            let id = routed.packet.id();
            let mut subjects = vec![(
                self.address_subject(routed.packet.address()),
                format!("{id}.a"),
            )];
            if let Some(v) = &routed.vector {
                let planes = self.planes(v.len());
                for (t, code) in planes.codes(v).into_iter().enumerate() {
                    subjects.push((self.bucket_subject(t, code), format!("{id}.v{t}")));
                }
            }
            for (subject, msg_id) in subjects {
                let publish = with_expiry(
                    PublishMessage::build()
                        .payload(records[i].clone())
                        .message_id(msg_id),
                    &routed.packet,
                    now,
                );
                acks.push(
                    self.js
                        .send_publish(subject, publish)
                        .await
                        .map_err(|e| Error::unavailable(ROUTER, "publishing a packet", e))?,
                );
                // The client holds a bounded number of unacknowledged publishes: collect the
                // acknowledgements before sending more than that.
                if acks.len() >= ACKS_IN_FLIGHT {
                    wait_for_acks(&mut acks).await?;
                }
            }
        }
        wait_for_acks(&mut acks).await?;
        Ok(batch
            .iter()
            .enumerate()
            .map(|(i, r)| Receipt {
                id: r.packet.id(),
                address: *r.packet.address(),
                stored: is_new[i] && !repeat_in_batch[i],
            })
            .collect())
    }

    async fn last_on_owned(&self, subject: String) -> Result<Option<(u64, Bytes)>> {
        self.last_on(&subject).await
    }

    async fn query_inner(&self, query: &Query) -> Result<Vec<Hit>> {
        query.validate()?;
        match &query.target {
            Target::Address(address) => {
                let reads = self
                    .read_subjects(vec![self.address_subject(address)])
                    .await?;
                let now = now_ms();
                let mut packets: Vec<Arc<Packet>> = Self::packets(&reads, now)?
                    .into_iter()
                    .map(|(p, _)| p)
                    .filter(|p| query.filter.matches(p, now))
                    .collect();
                packets.sort_by_key(|p| std::cmp::Reverse((p.created(), p.id())));
                packets.truncate(query.limit);
                Ok(packets
                    .into_iter()
                    .map(|packet| Hit { packet, score: 1.0 })
                    .collect())
            }
            Target::Vector(target) => {
                let Some(d) = self.read_dimension().await? else {
                    return Ok(Vec::new());
                };
                if d != target.len() {
                    return Err(Error::Dimension {
                        expected: d,
                        got: target.len(),
                    });
                }
                let planes = self.planes(d);
                let mut subjects = Vec::new();
                for (t, code) in planes.codes(target).into_iter().enumerate() {
                    for probe in probes(code, self.bits, self.config.lsh_probe) {
                        subjects.push(self.bucket_subject(t, probe));
                    }
                }
                let reads = self.read_subjects(subjects).await?;
                let now = now_ms();
                let min_score = query.min_score.unwrap_or(f32::NEG_INFINITY);
                let mut hits: Vec<Hit> = Self::packets(&reads, now)?
                    .into_iter()
                    .filter_map(|(packet, vector)| {
                        let score = cosine(target, vector.as_deref()?);
                        (score >= min_score && query.filter.matches(&packet, now))
                            .then_some(Hit { packet, score })
                    })
                    .collect();
                hits.sort_by(|a, b| {
                    b.score
                        .total_cmp(&a.score)
                        .then_with(|| b.packet.created().cmp(&a.packet.created()))
                        .then_with(|| b.packet.id().cmp(&a.packet.id()))
                });
                hits.truncate(query.limit);
                Ok(hits)
            }
        }
    }

    async fn stats_inner(&self) -> Result<Stats> {
        let now = now_ms();
        let claims = self.read_headers(format!("{}.id.>", self.prefix)).await?;
        let expired = claims.iter().filter(|r| expires(r) <= now).count() as u64;
        let count = |filter: String| async move {
            let mut info = self
                .stream
                .info_with_subjects(filter)
                .await
                .map_err(|e| Error::unavailable(ROUTER, "counting subjects", e))?;
            let (mut subjects, mut messages) = (0u64, 0u64);
            while let Some(entry) = info.next().await {
                let (_, n) =
                    entry.map_err(|e| Error::unavailable(ROUTER, "counting subjects", e))?;
                subjects += 1;
                messages += n as u64;
            }
            Ok::<_, Error>((subjects, messages))
        };
        let (addresses, _) = count(format!("{}.a.>", self.prefix)).await?;
        let (_, vectors) = count(format!("{}.v.0.>", self.prefix)).await?;
        Ok(Stats {
            packets: claims.len() as u64,
            addresses,
            vectors,
            expired,
            dimension: self.read_dimension().await?,
        })
    }

    async fn purge_inner(&self) -> Result<u64> {
        let now = now_ms();
        let reads = self.read_headers(format!("{}.>", self.prefix)).await?;
        let id_prefix = format!("{}.id.", self.prefix);
        let mut removed = 0;
        for r in reads.iter().filter(|r| expires(r) <= now) {
            let deleted = self
                .stream
                .delete_message(r.sequence)
                .await
                .map_err(|e| Error::unavailable(ROUTER, "deleting an expired packet", e));
            match deleted {
                Ok(_) => {
                    if r.subject.starts_with(&id_prefix) {
                        removed += 1;
                    }
                }
                // JetStream's own TTL may have removed it meanwhile.
                Err(e) => tracing::debug!(error = %e, "expired message already gone"),
            }
        }
        Ok(removed)
    }
}

/// Publishes sent before their acknowledgements are collected (below the client's own limit).
const ACKS_IN_FLIGHT: usize = 512;

async fn wait_for_acks(acks: &mut Vec<jetstream::context::PublishAckFuture>) -> Result<()> {
    for ack in future::join_all(acks.drain(..).map(IntoFuture::into_future)).await {
        ack.map_err(|e| Error::unavailable(ROUTER, "publishing a packet", e))?;
    }
    Ok(())
}

/// One message read from the stream.
struct Read {
    sequence: u64,
    subject: String,
    headers: Option<HeaderMap>,
    payload: Bytes,
}

fn expires(r: &Read) -> Millis {
    r.headers
        .as_ref()
        .and_then(|h| h.get(EXPIRES_HEADER))
        .and_then(|v| v.as_str().parse().ok())
        .unwrap_or(Millis::MAX)
}

fn stream_name(network: &str) -> String {
    format!("QIS_{network}")
}

fn parse_meta(payload: &[u8]) -> Result<usize> {
    #[derive(serde::Deserialize)]
    struct Meta {
        dimension: usize,
    }
    serde_json::from_slice::<Meta>(payload)
        .map(|m| m.dimension)
        .map_err(|e| {
            Error::refused(
                ROUTER,
                format!("the network's meta record is not qis's: {e}"),
            )
        })
}

/// Opens the stream `name`, creating it if needed; refuses one that is not a qis network.
async fn open_stream(
    js: &jetstream::Context,
    name: &str,
    prefix: &str,
    config: &NatsConfig,
) -> Result<stream::Stream> {
    let subjects = vec![format!("{prefix}.>")];
    let check = |s: stream::Stream| -> Result<stream::Stream> {
        let c = &s.cached_info().config;
        let schema = c.metadata.get(SCHEMA_KEY).map(String::as_str);
        if schema != Some(SCHEMA) || c.subjects != subjects {
            return Err(Error::refused(
                ROUTER,
                format!(
                    "stream {name} exists but is not a qis network of layout {SCHEMA} (subjects {:?}, {SCHEMA_KEY} {:?}); it was left unchanged",
                    c.subjects, schema
                ),
            ));
        }
        if !c.allow_direct || !c.allow_message_ttl {
            return Err(Error::refused(
                ROUTER,
                format!(
                    "stream {name} lacks direct gets or per-message TTLs; it was left unchanged"
                ),
            ));
        }
        Ok(s)
    };
    match js.get_stream(name).await {
        Ok(s) => return check(s),
        Err(e)
            if matches!(
                e.kind(),
                jetstream::context::GetStreamErrorKind::JetStream(_)
            ) =>
        {
            // Not found (or another JetStream error, which creating will report).
        }
        Err(e) => {
            return Err(Error::unavailable(
                ROUTER,
                format!("looking up stream {name}"),
                e,
            ));
        }
    }
    let metadata = HashMap::from([
        (SCHEMA_KEY.to_owned(), SCHEMA.to_owned()),
        (LSH_TABLES_KEY.to_owned(), config.lsh_tables.to_string()),
        (LSH_BITS_KEY.to_owned(), config.lsh_bits.to_string()),
    ]);
    let stream_config = stream::Config {
        name: name.to_owned(),
        description: Some(format!("qis network {}", config.network)),
        subjects: subjects.clone(),
        max_messages_per_subject: config.max_per_subject,
        max_age: config.max_age.unwrap_or(Duration::ZERO),
        num_replicas: config.replicas,
        storage: if config.memory_storage {
            stream::StorageType::Memory
        } else {
            stream::StorageType::File
        },
        discard: stream::DiscardPolicy::Old,
        duplicate_window: Duration::from_secs(120),
        allow_direct: true,
        allow_message_ttl: true,
        metadata,
        ..Default::default()
    };
    match js.create_stream(stream_config).await {
        Ok(s) => check(s),
        // Someone else created it meanwhile (perhaps with other settings): take theirs, if it is
        // a qis network.
        Err(create) => match js.get_stream(name).await {
            Ok(s) => check(s),
            Err(_) => Err(Error::unavailable(
                ROUTER,
                format!("creating stream {name}"),
                create,
            )),
        },
    }
}

/// Sets `Nats-TTL` (the packet's remaining life, in whole seconds, at least 1) and the exact expiry.
fn with_expiry(publish: PublishMessage, packet: &Packet, now: Millis) -> PublishMessage {
    match packet.expires_at() {
        None => publish,
        Some(at) => {
            let secs = at.saturating_sub(now).div_ceil(1000).max(1);
            publish
                .ttl(Duration::from_secs(secs))
                .header(EXPIRES_HEADER, at.to_string().as_str())
        }
    }
}

/// `[version][packet length: u16 LE][packet MessagePack][vector: f32 LE…]`.
fn encode_record(routed: &Routed) -> Bytes {
    let packet = routed.packet.to_msgpack();
    let dim = routed.vector.as_ref().map_or(0, |v| v.len());
    let mut out = Vec::with_capacity(3 + packet.len() + 4 * dim);
    out.push(RECORD_VERSION);
    out.extend_from_slice(&(packet.len() as u16).to_le_bytes());
    out.extend_from_slice(&packet);
    if let Some(v) = &routed.vector {
        for x in v.iter() {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    Bytes::from(out)
}

fn decode_record(bytes: &[u8]) -> Result<(Packet, Option<Vector>)> {
    let bad = |why: &str| Error::Decode {
        format: "NATS record",
        message: why.to_owned(),
    };
    if bytes.len() < 3 || bytes[0] != RECORD_VERSION {
        return Err(bad("not a qis record of version 1"));
    }
    let len = u16::from_le_bytes([bytes[1], bytes[2]]) as usize;
    let rest = &bytes[3..];
    if rest.len() < len || !(rest.len() - len).is_multiple_of(4) {
        return Err(bad("truncated record"));
    }
    let packet = Packet::from_own_msgpack(&rest[..len])?;
    let tail = &rest[len..];
    let vector = (!tail.is_empty()).then(|| {
        tail.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect::<Vector>()
    });
    Ok((packet, vector))
}

fn digest(record: &[u8]) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128(record).to_le_bytes()
}

/// Signed random projections: `tables × bits` hyperplanes, the same on every machine (drawn from
/// xxh3 of the network name, not from a library RNG whose stream may change between versions).
#[derive(Debug)]
struct Planes {
    tables: usize,
    bits: usize,
    dimension: usize,
    /// `tables × bits × dimension` Gaussian entries.
    normals: Vec<f32>,
}

impl Planes {
    fn new(tables: usize, bits: usize, dimension: usize, network: &str) -> Self {
        let seed = xxhash_rust::xxh3::xxh3_64(network.as_bytes());
        let n = tables * bits * dimension;
        let normals = (0..n)
            .map(|i| {
                // Box–Muller on two uniforms in (0, 1].
                let u = |k: u64| {
                    let h = xxhash_rust::xxh3::xxh3_64_with_seed(
                        &(i as u64 * 2 + k).to_le_bytes(),
                        seed,
                    );
                    ((h >> 11) as f64 + 1.0) / (1u64 << 53) as f64
                };
                let (u1, u2) = (u(0), u(1));
                ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
            })
            .collect();
        Planes {
            tables,
            bits,
            dimension,
            normals,
        }
    }

    /// The bucket of `v` in each table.
    fn codes(&self, v: &[f32]) -> Vec<u32> {
        debug_assert_eq!(v.len(), self.dimension);
        (0..self.tables)
            .map(|t| {
                (0..self.bits).fold(0u32, |code, b| {
                    let start = (t * self.bits + b) * self.dimension;
                    let plane = &self.normals[start..start + self.dimension];
                    let side = plane.iter().zip(v).map(|(p, x)| p * x).sum::<f32>() >= 0.0;
                    code | (u32::from(side) << b)
                })
            })
            .collect()
    }
}

/// `code` and every code within Hamming distance `radius` (0–2) of it, over `bits` bits.
fn probes(code: u32, bits: usize, radius: usize) -> Vec<u32> {
    let mut out = vec![code];
    if radius >= 1 {
        for i in 0..bits {
            out.push(code ^ (1 << i));
        }
    }
    if radius >= 2 {
        for i in 0..bits {
            for j in i + 1..bits {
                out.push(code ^ (1 << i) ^ (1 << j));
            }
        }
    }
    out
}

#[async_trait]
impl Router for NatsRouter {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            vector: true,
            approximate: true,
            durable: !self.config.memory_storage,
            dimension: self.config.dimension,
            ..Capabilities::new(ROUTER)
        }
    }

    async fn deposit(&self, packets: &[Routed]) -> Result<Vec<Receipt>> {
        self.deposit_inner(packets).await
    }

    async fn query(&self, query: &Query) -> Result<Hits> {
        self.query_inner(query).await.map(Hits::from)
    }

    async fn stats(&self) -> Result<Stats> {
        self.stats_inner().await
    }

    async fn purge_expired(&self) -> Result<u64> {
        self.purge_inner().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_cover_the_hamming_ball() {
        assert_eq!(probes(0b101, 3, 0), vec![0b101]);
        assert_eq!(probes(0b101, 3, 1), vec![0b101, 0b100, 0b111, 0b001]);
        assert_eq!(probes(0, 4, 2).len(), 1 + 4 + 6);
    }

    #[test]
    fn planes_are_the_same_everywhere_and_split_space() {
        let a = Planes::new(4, 8, 16, "net");
        let b = Planes::new(4, 8, 16, "net");
        assert_eq!(a.normals, b.normals);
        let mean = a.normals.iter().sum::<f32>() / a.normals.len() as f32;
        assert!(mean.abs() < 0.2, "{mean}");
        let v: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let neg: Vec<f32> = v.iter().map(|x| -x).collect();
        // Opposite vectors land in complementary buckets.
        for (x, y) in a.codes(&v).into_iter().zip(a.codes(&neg)) {
            assert_eq!(x ^ y, 0xff);
        }
    }

    #[test]
    fn records_round_trip() {
        let p = crate::packet::Packet::builder("a", "d", Address::from_bytes(&[1, 2]).unwrap())
            .build()
            .unwrap();
        let r = Routed::with_vector(p.clone(), &[0.6, 0.8]).unwrap();
        let (q, v) = decode_record(&encode_record(&r)).unwrap();
        assert_eq!((q, v.as_deref()), (p.clone(), Some(&[0.6f32, 0.8][..])));
        let (q, v) = decode_record(&encode_record(&Routed::new(p.clone()))).unwrap();
        assert_eq!((q, v), (p, None));
        assert!(decode_record(b"\x02xx").is_err());
    }
}

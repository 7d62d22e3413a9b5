use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, consumer, stream};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{Stream, StreamExt, future};

use super::layout::{LSH_BITS_KEY, LSH_TABLES_KEY, open_stream, parse_meta, stream_name};
use super::lsh::{Planes, probes};
use super::read::{expires, is_tombstone};
use super::record::{
    TOMBSTONE, TOMBSTONE_HEADER, decode_record, digest, encode_record, with_expiry,
};
use super::{NatsConfig, ROUTER};
use crate::error::{Error, Result};
use crate::packet::{Address, Packet, PacketId, now_ms};
use crate::router::agent_cap::{best_first, newest_first};
use crate::router::layer::{Deadline, Deadlines, within};
use crate::router::{
    AddressPage, AddressQuery, Capabilities, Forget, Hit, Hits, Query, Receipt, Routed, Router,
    Stats, Target, batch_dimension, cosine, tally,
};
/// The NATS client crate this router uses, for callers who reach the server themselves.
pub use async_nats;

/// Packets in a NATS JetStream stream; see the [module docs](self).
pub struct NatsRouter {
    pub(super) config: NatsConfig,
    pub(super) client: async_nats::Client,
    js: jetstream::Context,
    pub(super) stream: stream::Stream,
    /// `qis.<network>`.
    pub(super) prefix: String,
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
                Some((_, d)) if d.as_ref() == TOMBSTONE => {
                    return Err(Error::Forgotten {
                        id: batch[i].packet.id().to_string(),
                    });
                }
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
                        Some((_, d)) if d.as_ref() == TOMBSTONE => {
                            failure = failure.or(Some(Error::Forgotten { id: id.to_string() }));
                        }
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

    async fn query_inner(&self, query: &Query) -> Result<Vec<Hit>> {
        query.validate()?;
        match &query.target {
            Target::Address(address) => {
                let reads = self
                    .read_subjects(vec![self.address_subject(address)])
                    .await?;
                let now = now_ms();
                let packets: Vec<Arc<Packet>> = Self::packets(&reads, now)?
                    .into_iter()
                    .map(|(p, _)| p)
                    .filter(|p| query.filter.matches(p, now))
                    .collect();
                Ok(newest_first(packets, query.max_per_agent, query.limit))
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
                let hits: Vec<Hit> = Self::packets(&reads, now)?
                    .into_iter()
                    .filter_map(|(packet, vector)| {
                        let score = cosine(target, vector.as_deref()?);
                        (score >= min_score && query.filter.matches(&packet, now))
                            .then_some(Hit { packet, score })
                    })
                    .collect();
                Ok(best_first(hits, query.max_per_agent, query.limit))
            }
        }
    }

    async fn stats_inner(&self) -> Result<Stats> {
        let now = now_ms();
        let mut claims = self.read_headers(format!("{}.id.>", self.prefix)).await?;
        claims.retain(|r| !is_tombstone(r));
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

    /// Forgets what `what` names. For each packet: its id claim is replaced by a tombstone (the
    /// last message on the id subject, with the packet's own TTL, so that it expires when the
    /// packet would have), then its records are deleted. A forget cut short leaves records that
    /// a retry removes, never a packet that could be deposited again.
    async fn forget_inner(&self, what: &Forget) -> Result<u64> {
        what.validate()?;
        let now = now_ms();
        let records = self.read_messages(format!("{}.>", self.prefix)).await?;
        let (address_prefix, bucket_prefix) =
            (format!("{}.a.", self.prefix), format!("{}.v.", self.prefix));
        let mut by_id: HashMap<PacketId, (Packet, Vec<u64>)> = HashMap::new();
        for r in &records {
            if !(r.subject.starts_with(&address_prefix) || r.subject.starts_with(&bucket_prefix)) {
                continue;
            }
            let (packet, _) = decode_record(&r.payload)?;
            by_id
                .entry(packet.id())
                .or_insert_with(|| (packet, Vec::new()))
                .1
                .push(r.sequence);
        }
        if let (true, Some(agent)) = (what.strict, what.agent.as_deref()) {
            for (i, id) in what.ids.iter().enumerate() {
                if by_id.get(id).is_some_and(|(p, _)| p.agent() != agent) {
                    return Err(what.not_yours(i));
                }
            }
        }
        let mut removed = 0;
        for (packet, sequences) in by_id.values().filter(|(p, _)| what.matches(p)) {
            let subject = self.id_subject(packet.id());
            if let Some((claim, payload)) = self.last_on(&subject).await?
                && payload.as_ref() != TOMBSTONE
            {
                let publish = with_expiry(
                    PublishMessage::build()
                        .payload(Bytes::from_static(TOMBSTONE))
                        .header(TOMBSTONE_HEADER, "1")
                        .expected_last_subject_sequence(claim),
                    packet,
                    now,
                );
                self.js
                    .send_publish(subject, publish)
                    .await
                    .map_err(|e| Error::unavailable(ROUTER, "burying a packet id", e))?
                    .await
                    .map_err(|e| Error::unavailable(ROUTER, "burying a packet id", e))?;
                self.stream
                    .delete_message(claim)
                    .await
                    .map_err(|e| Error::unavailable(ROUTER, "deleting a packet id claim", e))?;
            }
            for seq in sequences {
                self.stream
                    .delete_message(*seq)
                    .await
                    .map_err(|e| Error::unavailable(ROUTER, "deleting a packet", e))?;
            }
            removed += 1;
        }
        Ok(removed)
    }

    /// Every address with live packets, from the records on the address subjects (a read of
    /// the whole network: fine for thousands of packets, slow for millions).
    async fn addresses_inner(&self, query: &AddressQuery) -> Result<AddressPage> {
        query.validate()?;
        let now = now_ms();
        let records = self.read_messages(format!("{}.a.>", self.prefix)).await?;
        let mut live = Vec::with_capacity(records.len());
        for r in &records {
            let (packet, _) = decode_record(&r.payload)?;
            if !packet.is_expired_at(now) {
                live.push((
                    *packet.address(),
                    packet.created(),
                    packet.domain().to_owned(),
                ));
            }
        }
        query.page(tally(live))
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
                    if r.subject.starts_with(&id_prefix) && !is_tombstone(r) {
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

#[async_trait]
impl Router for NatsRouter {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            vector: true,
            approximate: true,
            durable: !self.config.memory_storage,
            dimension: self.config.dimension,
            forget: true,
            addresses: true,
            ..Capabilities::new(ROUTER)
        }
    }

    async fn deposit(&self, packets: &[Routed]) -> Result<Vec<Receipt>> {
        self.deposit_inner(packets).await
    }

    async fn query(&self, query: &Query) -> Result<Hits> {
        self.query_inner(query).await.map(Hits::from)
    }

    async fn forget(&self, what: &Forget) -> Result<u64> {
        self.forget_inner(what).await
    }

    async fn addresses(&self, query: &AddressQuery) -> Result<AddressPage> {
        self.addresses_inner(query).await
    }

    async fn stats(&self) -> Result<Stats> {
        self.stats_inner().await
    }

    async fn purge_expired(&self) -> Result<u64> {
        self.purge_inner().await
    }
}

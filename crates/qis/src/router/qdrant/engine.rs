use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use qdrant_client::Qdrant;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter as QFilter, GetPointsBuilder,
    PayloadIncludeSelector, PointId, PointStruct, QueryPointGroupsBuilder, QueryPointsBuilder,
    Range, RetrievedPoint, ScoredPoint, ScrollPointsBuilder, UpdateMode, UpsertPointsBuilder,
    Value, VectorParamsBuilder, VectorsConfigBuilder, point_id::PointIdOptions,
    vectors_config::Config as VectorsConfigKind, with_payload_selector::SelectorOptions,
};

use super::QdrantConfig;
use crate::error::{Error, Result};
use crate::packet::{Millis, Packet, now_ms};
use crate::router::agent_cap::{best_first, newest_first};
use crate::router::layer::{Deadline, Deadlines, within};
use crate::router::{
    AddressPage, AddressQuery, Capabilities, Filter, Forget, Hit, Hits, Query, Receipt, Routed,
    Router, Stats, Target, tally,
};

const ROUTER: &str = "qdrant";
const SCHEMA: i64 = 1;
/// The name of the one vector of each point.
pub const VECTOR_NAME: &str = "problem";
/// Points per scroll page, and per upsert of tombstones.
const PAGE: u32 = 1000;
/// The payload field that marks a tombstone: a point that keeps a forgotten packet's id, with
/// only `expires` beside it (no vector, no address, no packet).
const FORGOTTEN: &str = "forgotten";

/// Packets in a Qdrant collection; see the [module docs](self).
pub struct QdrantRouter {
    config: QdrantConfig,
    client: Qdrant,
    collection: String,
}

impl fmt::Debug for QdrantRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QdrantRouter")
            .field("endpoint", &self.config.endpoint)
            .field("collection", &self.collection)
            .finish_non_exhaustive()
    }
}

fn backend(what: impl fmt::Display, e: qdrant_client::QdrantError) -> Error {
    use qdrant_client::QdrantError as Q;
    let retryable = match &e {
        // Unavailable, DeadlineExceeded, Aborted: the server is restarting, electing, or busy.
        // (Named by their `tonic::Code` debug form, so that qis does not depend on tonic itself.)
        Q::ResponseError { status } => {
            let code = format!("{:?}", status.code());
            matches!(
                code.as_str(),
                "Unavailable" | "DeadlineExceeded" | "Aborted" | "Unknown" | "Cancelled"
            ) || (code == "Internal" && status.message().contains("Failed to connect"))
        }
        Q::ResourceExhaustedError { .. } => true,
        // Connection and transport errors.
        _ => true,
    };
    Error::Backend {
        router: ROUTER,
        retryable,
        source: format!("{what}: {e}").into(),
    }
}

impl QdrantRouter {
    /// Connects and opens the network's collection, creating it (with its payload indexes) if it
    /// does not exist.
    ///
    /// Errors: a retryable [`Error::Backend`] when the server does not answer within the timeout;
    /// a non-retryable one when the collection exists but is not qis's, or holds vectors of
    /// another dimension or distance (nothing is changed then).
    pub async fn connect(config: QdrantConfig) -> Result<Deadline<Self>> {
        crate::router::url::check_network(&config.network)?;
        let mut builder = Qdrant::from_url(&config.endpoint)
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .skip_compatibility_check();
        if let Some(var) = &config.api_key_env {
            let key = std::env::var(var).map_err(|_| {
                Error::Config(format!("the Qdrant API key variable {var} is not set"))
            })?;
            builder = builder.api_key(key);
        }
        let client = builder
            .build()
            .map_err(|e| Error::refused(ROUTER, format!("cannot set up a Qdrant client: {e}")))?;
        let router = QdrantRouter {
            collection: format!("qis_{}", config.network),
            client,
            config,
        };
        within(
            ROUTER,
            router.config.timeout * 3,
            "opening the collection",
            router.open(),
        )
        .await?;
        let deadlines = router.deadlines();
        Ok(Deadline::new(router, deadlines))
    }

    /// How long each call may take: the configured timeout, longer for the calls that read or write a whole batch or collection.
    pub fn deadlines(&self) -> Deadlines {
        Deadlines::scaled(self.config.timeout, 3, 3, 6, 6)
    }

    async fn open(&self) -> Result<()> {
        let name = &self.collection;
        let exists = self
            .client
            .collection_exists(name)
            .await
            .map_err(|e| backend(format!("cannot reach {}", self.config.endpoint), e))?;
        if !exists {
            let vectors = {
                let mut v = VectorsConfigBuilder::default();
                v.add_named_vector_params(
                    VECTOR_NAME,
                    VectorParamsBuilder::new(self.config.dimension as u64, Distance::Cosine),
                );
                v
            };
            let created = self
                .client
                .create_collection(
                    CreateCollectionBuilder::new(name)
                        .vectors_config(vectors)
                        .replication_factor(self.config.replication_factor)
                        .write_consistency_factor(self.config.write_consistency)
                        .shard_number(self.config.shards)
                        .metadata(HashMap::from([(
                            "qis_schema".to_owned(),
                            serde_json::Value::from(SCHEMA),
                        )])),
                )
                .await;
            if let Err(e) = created {
                // Someone else may have created it meanwhile: check theirs below.
                if !self.client.collection_exists(name).await.unwrap_or(false) {
                    return Err(backend(format!("creating collection {name}"), e));
                }
            } else {
                for (field, kind) in [
                    ("address", FieldType::Keyword),
                    ("domain", FieldType::Keyword),
                    ("tags", FieldType::Keyword),
                    ("agent", FieldType::Keyword),
                    ("outcome", FieldType::Keyword),
                    ("confidence", FieldType::Float),
                    ("created", FieldType::Integer),
                    ("expires", FieldType::Integer),
                ] {
                    self.client
                        .create_field_index(
                            CreateFieldIndexCollectionBuilder::new(name, field, kind).wait(true),
                        )
                        .await
                        .map_err(|e| backend(format!("indexing {field}"), e))?;
                }
            }
        }
        let info = self
            .client
            .collection_info(name)
            .await
            .map_err(|e| backend(format!("reading collection {name}"), e))?;
        let config = info.result.and_then(|i| i.config).ok_or_else(|| {
            Error::refused(ROUTER, format!("collection {name} has no configuration"))
        })?;
        if config.metadata.get("qis_schema").map(|v| v.to_string()) != Some(SCHEMA.to_string()) {
            return Err(Error::refused(
                ROUTER,
                format!(
                    "collection {name} exists but is not a qis network of schema {SCHEMA}; it was left unchanged"
                ),
            ));
        }
        let params = config
            .params
            .and_then(|p| p.vectors_config)
            .and_then(|v| v.config);
        let problem = match params {
            Some(VectorsConfigKind::ParamsMap(map)) => map.map.get(VECTOR_NAME).cloned(),
            _ => None,
        };
        match problem {
            Some(p)
                if p.size == self.config.dimension as u64
                    && p.distance == Distance::Cosine as i32 => {}
            Some(p) => {
                return Err(Error::refused(
                    ROUTER,
                    format!(
                        "collection {name} holds {}-dimensional vectors of distance {}, not {}-dimensional cosine ones; it was left unchanged",
                        p.size,
                        Distance::try_from(p.distance).map_or("unknown", |d| d.as_str_name()),
                        self.config.dimension
                    ),
                ));
            }
            None => {
                return Err(Error::refused(
                    ROUTER,
                    format!(
                        "collection {name} has no vector named {VECTOR_NAME:?}; it was left unchanged"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The collection's status as Qdrant reports it (`green`, `yellow`, `grey`, `red`): the
    /// seed's `status`.
    pub async fn status(&self) -> Result<String> {
        let info = self
            .client
            .collection_info(&self.collection)
            .await
            .map_err(|e| backend("reading the collection", e))?;
        let status = info.result.map(|i| i.status).unwrap_or_default();
        Ok(qdrant_client::qdrant::CollectionStatus::try_from(status)
            .map_or("unknown", |s| s.as_str_name())
            .to_lowercase())
    }

    async fn deposit_inner(&self, batch: &[Routed]) -> Result<Vec<Receipt>> {
        let now = now_ms();
        for routed in batch {
            routed.admit(now)?;
            if let Some(v) = &routed.vector
                && v.len() != self.config.dimension
            {
                return Err(Error::Dimension {
                    expected: self.config.dimension,
                    got: v.len(),
                });
            }
        }
        let bodies: Vec<Vec<u8>> = batch.iter().map(|r| r.packet.to_msgpack()).collect();
        let digests: Vec<String> = batch
            .iter()
            .zip(&bodies)
            .map(|(r, b)| digest(b, r.vector.as_deref()))
            .collect();
        let ids: Vec<PointId> = batch
            .iter()
            .map(|r| PointId::from(r.packet.id().to_string()))
            .collect();
        let existing = self
            .points(ids.clone(), &["digest", FORGOTTEN, "expires"])
            .await?;
        let mut known: HashMap<String, String> = HashMap::new();
        let mut buried = Vec::new();
        for p in existing {
            let Some(id) = point_id(p.id.as_ref()) else {
                continue;
            };
            if p.payload.contains_key(FORGOTTEN) {
                // A forgotten packet is refused until it would have expired; after that its
                // tombstone goes, so that the id may be stored again.
                if integer(&p.payload, "expires").is_none_or(|e| e > now as i64) {
                    return Err(Error::Forgotten { id });
                }
                buried.push(p.id.clone().unwrap_or_default());
            } else if let Some(d) = p.payload.get("digest").and_then(Value::as_str) {
                known.insert(id, d.clone());
            }
        }
        if !buried.is_empty() {
            let mut stale = expired_filter(now);
            stale.must.push(Condition::has_id(buried));
            stale.must.push(Condition::is_empty("address"));
            self.client
                .delete_points(
                    DeletePointsBuilder::new(&self.collection)
                        .points(stale)
                        .wait(true),
                )
                .await
                .map_err(|e| backend("clearing expired tombstones", e))?;
        }
        let mut stored = vec![false; batch.len()];
        let mut points = Vec::new();
        for (i, routed) in batch.iter().enumerate() {
            let id = routed.packet.id().to_string();
            match known.get(&id) {
                Some(d) if *d == digests[i] => {}
                Some(_) => return Err(Error::Conflict { id }),
                None => {
                    known.insert(id, digests[i].clone());
                    stored[i] = true;
                    let vectors: HashMap<String, Vec<f32>> = routed
                        .vector
                        .iter()
                        .map(|v| (VECTOR_NAME.to_owned(), v.to_vec()))
                        .collect();
                    points.push(PointStruct::new(
                        ids[i].clone(),
                        vectors,
                        payload(routed, &bodies[i], &digests[i]),
                    ));
                }
            }
        }
        if !points.is_empty() {
            self.client
                .upsert_points(
                    UpsertPointsBuilder::new(&self.collection, points)
                        .wait(true)
                        .update_mode(UpdateMode::InsertOnly),
                )
                .await
                .map_err(|e| backend("storing packets", e))?;
        }
        Ok(batch
            .iter()
            .zip(stored)
            .map(|(r, stored)| Receipt {
                id: r.packet.id(),
                address: *r.packet.address(),
                stored,
            })
            .collect())
    }

    /// The points of `ids` that exist, with the payload `fields` and no vector.
    async fn points(&self, ids: Vec<PointId>, fields: &[&str]) -> Result<Vec<RetrievedPoint>> {
        Ok(self
            .client
            .get_points(
                GetPointsBuilder::new(&self.collection, ids)
                    .with_payload(include(fields))
                    .with_vectors(false),
            )
            .await
            .map_err(|e| backend("looking up packet ids", e))?
            .result)
    }

    /// Every point matching `filter` (all scroll pages), with the payload `fields` (all of it
    /// when empty) and no vector.
    async fn scroll_all(&self, filter: QFilter, fields: &[&str]) -> Result<Vec<RetrievedPoint>> {
        let mut out = Vec::new();
        let mut offset: Option<PointId> = None;
        let payload = include(fields);
        loop {
            let mut request = ScrollPointsBuilder::new(&self.collection)
                .filter(filter.clone())
                .limit(PAGE)
                .with_payload(payload.clone())
                .with_vectors(false);
            if let Some(o) = offset.take() {
                request = request.offset(o);
            }
            let page = self
                .client
                .scroll(request)
                .await
                .map_err(|e| backend("reading packets", e))?;
            out.extend(page.result);
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(out),
            }
        }
    }

    async fn query_inner(&self, query: &Query) -> Result<Vec<Hit>> {
        query.validate()?;
        let now = now_ms();
        let mut filter = to_filter(&query.filter, now);
        match &query.target {
            Target::Address(address) => {
                filter
                    .must
                    .push(Condition::matches("address", address.to_hex()));
                let found = self.scroll_all(filter, &[]).await?;
                let mut seen = HashSet::new();
                let mut packets = Vec::with_capacity(found.len());
                for point in &found {
                    let p = decode(&point.payload)?;
                    if seen.insert(p.id()) && query.filter.matches(&p, now_ms()) {
                        packets.push(Arc::new(p));
                    }
                }
                Ok(newest_first(packets, query.max_per_agent, query.limit))
            }
            Target::Vector(target) => {
                if target.len() != self.config.dimension {
                    return Err(Error::Dimension {
                        expected: self.config.dimension,
                        got: target.len(),
                    });
                }
                let points = match query.max_per_agent.filter(|m| *m < query.limit) {
                    None => self.nearest(target, filter, query).await?,
                    Some(m) => self.nearest_per_agent(target, filter, query, m).await?,
                };
                let now = now_ms();
                let mut hits = Vec::new();
                for point in points {
                    let p = decode(&point.payload)?;
                    if query.filter.matches(&p, now) {
                        hits.push(Hit {
                            packet: Arc::new(p),
                            score: point.score,
                        });
                    }
                }
                Ok(best_first(hits, query.max_per_agent, query.limit))
            }
        }
    }

    /// The `limit` points nearest `target` that pass `filter`.
    async fn nearest(
        &self,
        target: &[f32],
        filter: QFilter,
        query: &Query,
    ) -> Result<Vec<ScoredPoint>> {
        let mut request = QueryPointsBuilder::new(&self.collection)
            .query(qdrant_client::qdrant::Query::new_nearest(target.to_vec()))
            .using(VECTOR_NAME)
            .filter(filter)
            .limit(query.limit as u64)
            .with_payload(true);
        if let Some(s) = query.min_score {
            request = request.score_threshold(s);
        }
        Ok(self
            .client
            .query(request)
            .await
            .map_err(|e| backend("searching vectors", e))?
            .result)
    }

    /// The points nearest `target` that pass `filter`, grouped by agent in Qdrant: the `limit`
    /// agents with the nearest points, each with its nearest `per_agent`. The best `limit` of
    /// them with at most `per_agent` from one agent are among these (an agent whose best point
    /// is not among the best `limit` agents' cannot place one in the answer).
    async fn nearest_per_agent(
        &self,
        target: &[f32],
        filter: QFilter,
        query: &Query,
        per_agent: usize,
    ) -> Result<Vec<ScoredPoint>> {
        let mut request = QueryPointGroupsBuilder::new(&self.collection, "agent")
            .query(qdrant_client::qdrant::Query::new_nearest(target.to_vec()))
            .using(VECTOR_NAME)
            .filter(filter)
            .limit(query.limit as u64)
            .group_size(per_agent as u64)
            .with_payload(true);
        if let Some(s) = query.min_score {
            request = request.score_threshold(s);
        }
        let answer = self
            .client
            .query_groups(request)
            .await
            .map_err(|e| backend("searching vectors by agent", e))?;
        Ok(answer
            .result
            .into_iter()
            .flat_map(|groups| groups.groups)
            .flat_map(|group| group.hits)
            .collect())
    }

    async fn count(&self, filter: Option<QFilter>) -> Result<u64> {
        let mut request = CountPointsBuilder::new(&self.collection).exact(true);
        if let Some(f) = filter {
            request = request.filter(f);
        }
        Ok(self
            .client
            .count(request)
            .await
            .map_err(|e| backend("counting", e))?
            .result
            .map_or(0, |c| c.count))
    }

    async fn stats_inner(&self) -> Result<Stats> {
        let now = now_ms();
        let packets = self.count(Some(packets_only(QFilter::default()))).await?;
        let vectors = self
            .count(Some(QFilter::must([Condition::has_vector(VECTOR_NAME)])))
            .await?;
        let expired = self.count(Some(packets_only(expired_filter(now)))).await?;
        let all = self
            .scroll_all(packets_only(QFilter::default()), &["address"])
            .await?;
        let addresses: HashSet<&String> = all
            .iter()
            .filter_map(|p| p.payload.get("address").and_then(Value::as_str))
            .collect();
        Ok(Stats {
            packets,
            addresses: addresses.len() as u64,
            vectors,
            expired,
            dimension: Some(self.config.dimension),
        })
    }

    /// Removes the expired packets, and the tombstones of packets that would have expired by now.
    async fn purge_inner(&self) -> Result<u64> {
        let filter = expired_filter(now_ms());
        let n = self.count(Some(packets_only(filter.clone()))).await?;
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(filter)
                    .wait(true),
            )
            .await
            .map_err(|e| backend("purging", e))?;
        Ok(n)
    }

    /// Forgets what `what` names. Each packet is replaced by its tombstone in one upsert (so a
    /// point is the packet or its tombstone, never neither): a forget cut short leaves packets
    /// that a retry removes.
    async fn forget_inner(&self, what: &Forget) -> Result<u64> {
        what.validate()?;
        let fields = ["agent", "address", "expires"];
        let named: Vec<RetrievedPoint> = if what.ids.is_empty() {
            let mut must = Vec::new();
            if let Some(agent) = &what.agent {
                must.push(Condition::matches("agent", agent.clone()));
            }
            if let Some(address) = what.address {
                must.push(Condition::matches("address", address.to_hex()));
            }
            self.scroll_all(packets_only(QFilter::must(must)), &fields)
                .await?
        } else {
            let ids: Vec<PointId> = what
                .ids
                .iter()
                .map(|id| PointId::from(id.to_string()))
                .collect();
            self.points(ids, &fields).await?
        };
        // Tombstones hold no address: what is already forgotten is not forgotten again.
        let named: Vec<&RetrievedPoint> = named
            .iter()
            .filter(|p| p.payload.contains_key("address"))
            .collect();
        let text = |p: &RetrievedPoint, field: &str| {
            p.payload
                .get(field)
                .and_then(Value::as_str)
                .cloned()
                .unwrap_or_default()
        };
        if let (true, Some(agent)) = (what.strict, what.agent.as_deref())
            && let Some(p) = named.iter().find(|p| text(p, "agent") != agent)
        {
            let id = point_id(p.id.as_ref()).unwrap_or_default();
            let i = what
                .ids
                .iter()
                .position(|x| x.to_string() == id)
                .unwrap_or(0);
            return Err(what.not_yours(i));
        }
        let chosen: Vec<&RetrievedPoint> = named
            .into_iter()
            .filter(|p| what.agent.as_deref().is_none_or(|a| text(p, "agent") == a))
            .filter(|p| {
                what.address
                    .is_none_or(|a| text(p, "address") == a.to_hex())
            })
            .collect();
        for chunk in chosen.chunks(PAGE as usize) {
            let tombstones: Vec<PointStruct> = chunk
                .iter()
                .map(|p| {
                    PointStruct::new(
                        p.id.clone().unwrap_or_default(),
                        HashMap::<String, Vec<f32>>::new(),
                        HashMap::from([
                            (FORGOTTEN.to_owned(), Value::from(true)),
                            (
                                "expires".to_owned(),
                                Value::from(integer(&p.payload, "expires").unwrap_or(i64::MAX)),
                            ),
                        ]),
                    )
                })
                .collect();
            self.client
                .upsert_points(UpsertPointsBuilder::new(&self.collection, tombstones).wait(true))
                .await
                .map_err(|e| backend("forgetting packets", e))?;
        }
        Ok(chosen.len() as u64)
    }

    /// Every address with live packets, gathered from the packets' payloads (address, created
    /// and domain only).
    async fn addresses_inner(&self, query: &AddressQuery) -> Result<AddressPage> {
        query.validate()?;
        let live = self
            .scroll_all(
                packets_only(to_filter(&Filter::default(), now_ms())),
                &["address", "created", "domain"],
            )
            .await?;
        let mut entries = Vec::with_capacity(live.len());
        for p in &live {
            let m = &p.payload;
            if let (Some(hex), Some(created), Some(domain)) = (
                m.get("address").and_then(Value::as_str),
                integer(m, "created"),
                m.get("domain").and_then(Value::as_str),
            ) {
                entries.push((
                    crate::packet::Address::from_hex(hex)?,
                    created.max(0) as u64,
                    domain.clone(),
                ));
            }
        }
        query.page(tally(entries))
    }
}

fn point_id(id: Option<&PointId>) -> Option<String> {
    match id?.point_id_options.as_ref()? {
        PointIdOptions::Uuid(u) => Some(u.clone()),
        PointIdOptions::Num(n) => Some(n.to_string()),
    }
}

/// The payload `fields` (all of it when empty).
fn include(fields: &[&str]) -> SelectorOptions {
    if fields.is_empty() {
        SelectorOptions::Enable(true)
    } else {
        PayloadIncludeSelector::new(fields.iter().map(|f| (*f).to_owned()).collect::<Vec<_>>())
            .into()
    }
}

fn integer(payload: &HashMap<String, Value>, field: &str) -> Option<i64> {
    payload.get(field).and_then(Value::as_integer)
}

/// `filter`, narrowed to packets (not tombstones, which have no address).
fn packets_only(mut filter: QFilter) -> QFilter {
    filter.must_not.push(Condition::is_empty("address"));
    filter
}

fn expired_filter(now: Millis) -> QFilter {
    QFilter::must([Condition::range(
        "expires",
        Range {
            lte: Some(now as f64),
            ..Default::default()
        },
    )])
}

fn to_filter(filter: &Filter, now: Millis) -> QFilter {
    let mut must = vec![Condition::range(
        "expires",
        Range {
            gt: Some(now as f64),
            ..Default::default()
        },
    )];
    if let Some(d) = &filter.domain {
        must.push(Condition::matches("domain", d.clone()));
    }
    if !filter.tags_any.is_empty() {
        must.push(Condition::matches("tags", filter.tags_any.clone()));
    }
    if let Some(c) = filter.min_confidence {
        must.push(Condition::range(
            "confidence",
            Range {
                gte: Some(c as f64),
                ..Default::default()
            },
        ));
    }
    if !filter.outcomes.is_empty() {
        let o: Vec<String> = filter
            .outcomes
            .iter()
            .map(|o| o.as_str().to_owned())
            .collect();
        must.push(Condition::matches("outcome", o));
    }
    if let Some(s) = filter.since {
        must.push(Condition::range(
            "created",
            Range {
                gte: Some(s as f64),
                ..Default::default()
            },
        ));
    }
    let mut f = QFilter::must(must);
    if !filter.exclude_agents.is_empty() {
        f.must_not
            .push(Condition::matches("agent", filter.exclude_agents.clone()));
    }
    f
}

fn digest(body: &[u8], vector: Option<&[f32]>) -> String {
    format!("{:032x}", crate::router::content_digest(body, vector))
}

fn payload(routed: &Routed, body: &[u8], digest: &str) -> HashMap<String, Value> {
    let p = &routed.packet;
    let expires = p
        .expires_at()
        .map_or(i64::MAX, |e| e.min(i64::MAX as u64) as i64);
    HashMap::from([
        ("address".to_owned(), Value::from(p.address().to_hex())),
        ("domain".to_owned(), Value::from(p.domain())),
        ("agent".to_owned(), Value::from(p.agent())),
        ("outcome".to_owned(), Value::from(p.outcome().as_str())),
        ("confidence".to_owned(), Value::from(p.confidence() as f64)),
        ("created".to_owned(), Value::from(p.created() as i64)),
        ("expires".to_owned(), Value::from(expires)),
        (
            "tags".to_owned(),
            Value::from(
                p.tags()
                    .iter()
                    .map(|t| Value::from(t.as_str()))
                    .collect::<Vec<_>>(),
            ),
        ),
        ("body".to_owned(), Value::from(BASE64.encode(body))),
        ("digest".to_owned(), Value::from(digest)),
    ])
}

fn decode(payload: &HashMap<String, Value>) -> Result<Packet> {
    let bad = |why: String| Error::Decode {
        format: "Qdrant payload",
        message: why,
    };
    let body = payload
        .get("body")
        .and_then(|v| v.clone().into_json().as_str().map(str::to_owned))
        .ok_or_else(|| bad("a point without its packet (`body`)".into()))?;
    let bytes = BASE64.decode(body).map_err(|e| bad(e.to_string()))?;
    Packet::from_own_msgpack(&bytes)
}

#[async_trait]
impl Router for QdrantRouter {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            vector: true,
            // HNSW: approximate once a collection outgrows Qdrant's full-scan threshold.
            approximate: true,
            durable: true,
            dimension: Some(self.config.dimension),
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

    async fn stats(&self) -> Result<Stats> {
        self.stats_inner().await
    }

    async fn purge_expired(&self) -> Result<u64> {
        self.purge_inner().await
    }

    async fn forget(&self, what: &Forget) -> Result<u64> {
        self.forget_inner(what).await
    }

    async fn addresses(&self, query: &AddressQuery) -> Result<AddressPage> {
        self.addresses_inner(query).await
    }
}

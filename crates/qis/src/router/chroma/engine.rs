use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::ChromaConfig;
use crate::error::{Error, Result};
use crate::packet::{Millis, Packet, now_ms};
use crate::router::agent_cap::{newest_first, over_read, sort_best_first};
use crate::router::layer::{Deadline, Deadlines};
use crate::router::{
    AddressPage, AddressQuery, Capabilities, Filter, Forget, Hit, Hits, Query, Receipt, Routed,
    Router, Stats, Target, batch_dimension, tally,
};

const ROUTER: &str = "chroma";
const SCHEMA: i64 = 1;
/// Records fetched per page when a read walks a whole collection.
const PAGE: usize = 1000;

/// Packets in a Chroma server; see the [module docs](self).
pub struct ChromaRouter {
    config: ChromaConfig,
    http: reqwest::Client,
    /// `…/api/v2/tenants/<t>/databases/<d>/collections`.
    collections_url: String,
    packets: String,
    vectors: String,
    /// Forgotten ids (records with `expires` metadata: when the packet would have expired).
    tombstones: String,
    /// The vector collection's dimension, once known.
    dimension: RwLock<Option<usize>>,
}

impl fmt::Debug for ChromaRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChromaRouter")
            .field("base_url", &self.config.base_url)
            .field("network", &self.config.network)
            .finish_non_exhaustive()
    }
}

impl ChromaRouter {
    /// Connects to the server and opens the network's collections, creating them if needed.
    ///
    /// Errors: a retryable [`Error::Backend`] when the server does not answer within the timeout;
    /// a non-retryable one when a collection of that name exists but is not qis's (nothing is
    /// changed then).
    pub async fn connect(config: ChromaConfig) -> Result<Deadline<Self>> {
        crate::router::url::check_network(&config.network)?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| Error::refused(ROUTER, format!("cannot build an HTTP client: {e}")))?;
        let base = config.base_url.trim_end_matches('/');
        let collections_url = format!(
            "{base}/api/v2/tenants/{}/databases/{}/collections",
            config.tenant, config.database
        );
        let mut router = ChromaRouter {
            packets: String::new(),
            vectors: String::new(),
            tombstones: String::new(),
            http,
            collections_url,
            dimension: RwLock::new(None),
            config,
        };
        let name = format!("qis_{}", router.config.network);
        let (packets, _) = router.open_collection(&name, "packets").await?;
        let (vectors, dimension) = router
            .open_collection(&format!("{name}_vectors"), "vectors")
            .await?;
        let (tombstones, _) = router
            .open_collection(&format!("{name}_tombstones"), "tombstones")
            .await?;
        router.packets = packets;
        router.vectors = vectors;
        router.tombstones = tombstones;
        *router.dimension.write().unwrap_or_else(|e| e.into_inner()) = dimension;
        let deadlines = router.deadlines();
        Ok(Deadline::new(router, deadlines))
    }

    /// How long each call may take: the configured timeout, longer for the calls that read or write a whole batch or collection.
    pub fn deadlines(&self) -> Deadlines {
        Deadlines::scaled(self.config.timeout, 3, 3, 6, 6)
    }

    /// Sends `body` (or a GET without one) and decodes the JSON answer.
    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut request = self.http.request(method, url);
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request.send().await.map_err(|e| {
            Error::unavailable(
                ROUTER,
                format!("cannot reach {}", self.config.base_url),
                error_chain(&e),
            )
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| Error::unavailable(ROUTER, "reading an answer", e))?;
        if !status.is_success() {
            return Err(Error::Backend {
                router: ROUTER,
                retryable: status.is_server_error() || status.as_u16() == 429,
                source: format!(
                    "{url}: HTTP {status}: {}",
                    text.chars().take(300).collect::<String>()
                )
                .into(),
            });
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| {
            Error::refused(
                ROUTER,
                format!(
                    "{url}: not JSON ({e}): {}",
                    text.chars().take(200).collect::<String>()
                ),
            )
        })
    }

    /// Finds or creates the collection `name` of kind `kind`; its id and dimension.
    async fn open_collection(&self, name: &str, kind: &str) -> Result<(String, Option<usize>)> {
        let check = |c: &Value| -> Result<(String, Option<usize>)> {
            let meta = &c["metadata"];
            if meta["qis_schema"].as_i64() != Some(SCHEMA)
                || meta["qis_kind"].as_str() != Some(kind)
            {
                return Err(Error::refused(
                    ROUTER,
                    format!(
                        "collection {name} exists but is not a qis {kind} collection of schema {SCHEMA} (metadata {meta}); it was left unchanged"
                    ),
                ));
            }
            let space = &c["configuration_json"]["hnsw"]["space"];
            if !(space.is_null() || space == "cosine") {
                return Err(Error::refused(
                    ROUTER,
                    format!(
                        "collection {name} uses {space} distance, not cosine; it was left unchanged"
                    ),
                ));
            }
            let id = c["id"]
                .as_str()
                .ok_or_else(|| Error::refused(ROUTER, format!("collection {name} has no id")))?;
            Ok((id.to_owned(), c["dimension"].as_u64().map(|d| d as usize)))
        };
        let url = format!("{}/{name}", self.collections_url);
        match self.call(reqwest::Method::GET, &url, None).await {
            Ok(c) => return check(&c),
            Err(Error::Backend {
                retryable: false, ..
            }) => {} // not found: create it
            Err(e) => return Err(e),
        }
        let body = json!({
            "name": name,
            "metadata": {"qis_schema": SCHEMA, "qis_kind": kind},
            "configuration": {"hnsw": {"space": "cosine"}},
        });
        match self
            .call(reqwest::Method::POST, &self.collections_url, Some(&body))
            .await
        {
            Ok(c) => check(&c),
            // Created by someone else meanwhile: use it if it is qis's.
            Err(create) => match self.call(reqwest::Method::GET, &url, None).await {
                Ok(c) => check(&c),
                Err(_) => Err(create),
            },
        }
    }

    fn url(&self, collection: &str, op: &str) -> String {
        format!("{}/{collection}/{op}", self.collections_url)
    }

    async fn held_dimension(&self) -> Result<Option<usize>> {
        if let Some(d) = *self.dimension.read().unwrap_or_else(|e| e.into_inner()) {
            return Ok(Some(d));
        }
        let c = self
            .call(
                reqwest::Method::GET,
                &format!("{}/by-id/{}", self.collections_url, self.vectors),
                None,
            )
            .await
            .or_else(|_| Ok::<_, Error>(Value::Null))?;
        let d = c["dimension"].as_u64().map(|d| d as usize);
        if d.is_some() {
            *self.dimension.write().unwrap_or_else(|e| e.into_inner()) = d;
        }
        Ok(d)
    }

    /// Every record of `collection` matching `where_` (all pages), with the fields `include`.
    async fn get_all(
        &self,
        collection: &str,
        where_: Option<Value>,
        include: &[&str],
    ) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let mut body = json!({"include": include, "limit": PAGE, "offset": offset});
            if let Some(w) = &where_ {
                body["where"] = w.clone();
            }
            let page = self
                .call(
                    reqwest::Method::POST,
                    &self.url(collection, "get"),
                    Some(&body),
                )
                .await?;
            let n = records(&page, &mut out)?;
            if n < PAGE {
                return Ok(out);
            }
            offset += n;
        }
    }

    async fn deposit_inner(&self, batch: &[Routed]) -> Result<Vec<Receipt>> {
        let now = now_ms();
        for routed in batch {
            routed.admit(now)?;
        }
        let held = self.held_dimension().await?;
        batch_dimension(batch, held)?;
        let bodies: Vec<Vec<u8>> = batch.iter().map(|r| r.packet.to_msgpack()).collect();
        let digests: Vec<String> = batch
            .iter()
            .zip(&bodies)
            .map(|(r, body)| digest(body, r.vector.as_deref()))
            .collect();

        // Ids already there, and repeats within the batch.
        let ids: Vec<String> = batch.iter().map(|r| r.packet.id().to_string()).collect();
        let existing = self
            .call(
                reqwest::Method::POST,
                &self.url(&self.packets, "get"),
                Some(&json!({"ids": ids, "include": ["metadatas"]})),
            )
            .await?;
        let mut known: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        for (id, meta) in existing["ids"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(existing["metadatas"].as_array().into_iter().flatten())
        {
            if let (Some(id), Some(d)) = (id.as_str(), meta["digest"].as_str()) {
                known.insert(id.to_owned(), d.to_owned());
            }
        }
        let mut stored = vec![false; batch.len()];
        let mut fresh = Vec::new();
        for i in 0..batch.len() {
            match known.get(&ids[i]) {
                Some(d) if *d == digests[i] => {}
                Some(_) => return Err(Error::Conflict { id: ids[i].clone() }),
                None => {
                    known.insert(ids[i].clone(), digests[i].clone());
                    stored[i] = true;
                    fresh.push(i);
                }
            }
        }
        if fresh.is_empty() {
            return Ok(receipts(batch, &stored));
        }
        // A forgotten packet is refused until it would have expired.
        let buried = self
            .call(
                reqwest::Method::POST,
                &self.url(&self.tombstones, "get"),
                Some(&json!({
                    "ids": fresh.iter().map(|&i| &ids[i]).collect::<Vec<_>>(),
                    "where": {"expires": {"$gt": now as i64}},
                    "include": [],
                })),
            )
            .await?;
        if let Some(id) = buried["ids"].as_array().and_then(|a| a.first()) {
            return Err(Error::Forgotten {
                id: id.as_str().unwrap_or_default().to_owned(),
            });
        }

        let with_vectors: Vec<usize> = fresh
            .iter()
            .copied()
            .filter(|&i| batch[i].vector.is_some())
            .collect();
        if !with_vectors.is_empty() {
            let body = json!({
                "ids": with_vectors.iter().map(|&i| &ids[i]).collect::<Vec<_>>(),
                "embeddings": with_vectors.iter().map(|&i| batch[i].vector.as_deref().unwrap_or_default()).collect::<Vec<_>>(),
                "documents": with_vectors.iter().map(|&i| BASE64.encode(&bodies[i])).collect::<Vec<_>>(),
                "metadatas": with_vectors.iter().map(|&i| metadata(&batch[i], &digests[i])).collect::<Vec<_>>(),
            });
            self.call(
                reqwest::Method::POST,
                &self.url(&self.vectors, "upsert"),
                Some(&body),
            )
            .await?;
            if let Some(v) = &batch[with_vectors[0]].vector {
                *self.dimension.write().unwrap_or_else(|e| e.into_inner()) = Some(v.len());
            }
        }
        let body = json!({
            "ids": fresh.iter().map(|&i| &ids[i]).collect::<Vec<_>>(),
            "embeddings": fresh.iter().map(|_| [1.0f32]).collect::<Vec<_>>(),
            "documents": fresh.iter().map(|&i| BASE64.encode(&bodies[i])).collect::<Vec<_>>(),
            "metadatas": fresh.iter().map(|&i| metadata(&batch[i], &digests[i])).collect::<Vec<_>>(),
        });
        self.call(
            reqwest::Method::POST,
            &self.url(&self.packets, "upsert"),
            Some(&body),
        )
        .await?;
        Ok(receipts(batch, &stored))
    }

    async fn query_inner(&self, query: &Query) -> Result<Vec<Hit>> {
        query.validate()?;
        let now = now_ms();
        match &query.target {
            Target::Address(address) => {
                let mut clauses = filter_clauses(&query.filter, now);
                clauses.push(json!({"address": {"$eq": address.to_hex()}}));
                let found = self
                    .get_all(&self.packets, Some(all_of(clauses)), &["documents"])
                    .await?;
                let mut packets = Vec::with_capacity(found.len());
                let mut seen = HashSet::new();
                for r in found {
                    let p = r.packet()?;
                    // Chroma filtered already; the rules are checked again here, to the ms.
                    if seen.insert(p.id()) && query.filter.matches(&p, now_ms()) {
                        packets.push(Arc::new(p));
                    }
                }
                Ok(newest_first(packets, query.max_per_agent, query.limit))
            }
            Target::Vector(target) => {
                match self.held_dimension().await? {
                    None => return Ok(Vec::new()),
                    Some(d) if d != target.len() => {
                        return Err(Error::Dimension {
                            expected: d,
                            got: target.len(),
                        });
                    }
                    Some(_) => {}
                }
                // Chroma cannot cap by agent: a capped query reads more, then caps.
                over_read(query.limit, query.max_per_agent, |n| {
                    self.nearest(target, query, now, n)
                })
                .await
            }
        }
    }

    /// The `n` packets nearest `target` that pass the query's filter, best first, and whether
    /// Chroma may hold more.
    async fn nearest(
        &self,
        target: &[f32],
        query: &Query,
        now: Millis,
        n: usize,
    ) -> Result<(Vec<Hit>, bool)> {
        let body = json!({
            "query_embeddings": [target],
            "n_results": n,
            "where": all_of(filter_clauses(&query.filter, now)),
            "include": ["documents", "distances"],
        });
        let answer = self
            .call(
                reqwest::Method::POST,
                &self.url(&self.vectors, "query"),
                Some(&body),
            )
            .await?;
        let docs = answer["documents"][0]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let distances = answer["distances"][0]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let min_score = query.min_score.unwrap_or(f32::NEG_INFINITY);
        let now = now_ms();
        let mut hits = Vec::with_capacity(docs.len());
        for (doc, distance) in docs.iter().zip(&distances) {
            let p = decode_document(doc)?;
            let score = 1.0 - distance.as_f64().unwrap_or(2.0) as f32;
            if score >= min_score && query.filter.matches(&p, now) {
                hits.push(Hit {
                    packet: Arc::new(p),
                    score,
                });
            }
        }
        sort_best_first(&mut hits);
        Ok((hits, docs.len() == n))
    }

    async fn stats_inner(&self) -> Result<Stats> {
        let now = now_ms() as i64;
        let all = self.get_all(&self.packets, None, &["metadatas"]).await?;
        let mut addresses = HashSet::new();
        let mut expired = 0;
        for r in &all {
            if let Some(a) = r.metadata["address"].as_str() {
                addresses.insert(a.to_owned());
            }
            if r.metadata["expires"].as_i64().is_some_and(|e| e <= now) {
                expired += 1;
            }
        }
        let vectors = self
            .call(
                reqwest::Method::GET,
                &self.url(&self.vectors, "count"),
                None,
            )
            .await?
            .as_u64()
            .unwrap_or(0);
        Ok(Stats {
            packets: all.len() as u64,
            addresses: addresses.len() as u64,
            vectors,
            expired,
            dimension: self.held_dimension().await?,
        })
    }

    /// Forgets what `what` names: tombstones first (so that a forget cut short leaves packets a
    /// retry removes, never a packet that could be deposited again), then the packets.
    async fn forget_inner(&self, what: &Forget) -> Result<u64> {
        what.validate()?;
        let mut clauses = Vec::new();
        if let Some(agent) = &what.agent {
            clauses.push(json!({"agent": {"$eq": agent}}));
        }
        if let Some(address) = what.address {
            clauses.push(json!({"address": {"$eq": address.to_hex()}}));
        }
        let ids: Vec<String> = what.ids.iter().map(ToString::to_string).collect();
        let named: Vec<Record> = if ids.is_empty() {
            self.get_all(&self.packets, Some(all_of(clauses)), &["metadatas"])
                .await?
        } else {
            let mut found = Vec::new();
            for chunk in ids.chunks(PAGE) {
                let page = self
                    .call(
                        reqwest::Method::POST,
                        &self.url(&self.packets, "get"),
                        Some(&json!({"ids": chunk, "include": ["metadatas"]})),
                    )
                    .await?;
                records(&page, &mut found)?;
            }
            found
        };
        let agent_of = |r: &Record| r.metadata["agent"].as_str().unwrap_or_default().to_owned();
        if let (true, Some(agent)) = (what.strict, what.agent.as_deref())
            && let Some(r) = named.iter().find(|r| agent_of(r) != agent)
        {
            let i = ids.iter().position(|id| *id == r.id).unwrap_or(0);
            return Err(what.not_yours(i));
        }
        let chosen: Vec<&Record> = named
            .iter()
            .filter(|r| what.agent.as_deref().is_none_or(|a| agent_of(r) == a))
            .filter(|r| {
                what.address
                    .is_none_or(|a| r.metadata["address"].as_str() == Some(&a.to_hex()))
            })
            .collect();
        if chosen.is_empty() {
            return Ok(0);
        }
        for chunk in chosen.chunks(PAGE) {
            let body = json!({
                "ids": chunk.iter().map(|r| &r.id).collect::<Vec<_>>(),
                "embeddings": chunk.iter().map(|_| [1.0f32]).collect::<Vec<_>>(),
                "metadatas": chunk.iter().map(|r| json!({"expires": r.metadata["expires"].as_i64().unwrap_or(i64::MAX)})).collect::<Vec<_>>(),
            });
            self.call(
                reqwest::Method::POST,
                &self.url(&self.tombstones, "upsert"),
                Some(&body),
            )
            .await?;
            let ids: Vec<&String> = chunk.iter().map(|r| &r.id).collect();
            for collection in [&self.vectors, &self.packets] {
                self.call(
                    reqwest::Method::POST,
                    &self.url(collection, "delete"),
                    Some(&json!({"ids": ids})),
                )
                .await?;
            }
        }
        Ok(chosen.len() as u64)
    }

    /// Every address with live packets, gathered from the packets' metadata.
    async fn addresses_inner(&self, query: &AddressQuery) -> Result<AddressPage> {
        query.validate()?;
        let now = now_ms() as i64;
        let live = self
            .get_all(
                &self.packets,
                Some(json!({"expires": {"$gt": now}})),
                &["metadatas"],
            )
            .await?;
        let mut entries = Vec::with_capacity(live.len());
        for r in &live {
            let m = &r.metadata;
            if let (Some(hex), Some(created), Some(domain)) = (
                m["address"].as_str(),
                m["created"].as_i64(),
                m["domain"].as_str(),
            ) {
                entries.push((
                    crate::packet::Address::from_hex(hex)?,
                    created as u64,
                    domain.to_owned(),
                ));
            }
        }
        query.page(tally(entries))
    }

    async fn purge_inner(&self) -> Result<u64> {
        let now = now_ms() as i64;
        let where_ = json!({"expires": {"$lte": now}});
        // Tombstones go when their packets would have expired.
        self.call(
            reqwest::Method::POST,
            &self.url(&self.tombstones, "delete"),
            Some(&json!({"where": where_.clone()})),
        )
        .await?;
        let expired = self
            .get_all(&self.packets, Some(where_.clone()), &[])
            .await?;
        if expired.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = expired.iter().map(|r| r.id.as_str()).collect();
        for chunk in ids.chunks(PAGE) {
            for collection in [&self.vectors, &self.packets] {
                self.call(
                    reqwest::Method::POST,
                    &self.url(collection, "delete"),
                    Some(&json!({"ids": chunk})),
                )
                .await?;
            }
        }
        Ok(expired.len() as u64)
    }
}

/// One record of a `get` answer.
struct Record {
    id: String,
    document: Value,
    metadata: Value,
}

impl Record {
    fn packet(&self) -> Result<Packet> {
        decode_document(&self.document)
    }
}

/// Appends the records of a `get` answer to `out`; returns how many there were.
fn records(page: &Value, out: &mut Vec<Record>) -> Result<usize> {
    let ids = page["ids"]
        .as_array()
        .ok_or_else(|| Error::refused(ROUTER, format!("a get answer without ids: {page}")))?;
    for (i, id) in ids.iter().enumerate() {
        out.push(Record {
            id: id.as_str().unwrap_or_default().to_owned(),
            document: page["documents"][i].clone(),
            metadata: page["metadatas"][i].clone(),
        });
    }
    Ok(ids.len())
}

fn decode_document(doc: &Value) -> Result<Packet> {
    let text = doc.as_str().ok_or_else(|| Error::Decode {
        format: "Chroma document",
        message: "a record without its packet".into(),
    })?;
    let bytes = BASE64.decode(text).map_err(|e| Error::Decode {
        format: "Chroma document",
        message: e.to_string(),
    })?;
    Packet::from_own_msgpack(&bytes)
}

fn receipts(batch: &[Routed], stored: &[bool]) -> Vec<Receipt> {
    batch
        .iter()
        .zip(stored)
        .map(|(r, &stored)| Receipt {
            id: r.packet.id(),
            address: *r.packet.address(),
            stored,
        })
        .collect()
}

fn digest(body: &[u8], vector: Option<&[f32]>) -> String {
    format!("{:032x}", crate::router::content_digest(body, vector))
}

/// The filterable columns of a packet.
fn metadata(routed: &Routed, digest: &str) -> Value {
    let p = &routed.packet;
    let mut m = json!({
        "address": p.address().to_hex(),
        "domain": p.domain(),
        "agent": p.agent(),
        "outcome": p.outcome().as_str(),
        "confidence": p.confidence() as f64,
        "created": p.created() as i64,
        "expires": p.expires_at().map_or(i64::MAX, |e| e.min(i64::MAX as u64) as i64),
        "digest": digest,
    });
    for tag in p.tags() {
        m[format!("tag:{tag}")] = json!(true);
    }
    m
}

/// A filter as Chroma `where` clauses (always including "not expired at `now`").
fn filter_clauses(filter: &Filter, now: Millis) -> Vec<Value> {
    let mut c = vec![json!({"expires": {"$gt": now as i64}})];
    if let Some(d) = &filter.domain {
        c.push(json!({"domain": {"$eq": d}}));
    }
    if !filter.tags_any.is_empty() {
        let tags: Vec<Value> = filter
            .tags_any
            .iter()
            .map(|t| json!({format!("tag:{t}"): {"$eq": true}}))
            .collect();
        c.push(any_of(tags));
    }
    if let Some(m) = filter.min_confidence {
        c.push(json!({"confidence": {"$gte": m as f64}}));
    }
    if !filter.outcomes.is_empty() {
        let o: Vec<&str> = filter.outcomes.iter().map(|o| o.as_str()).collect();
        c.push(json!({"outcome": {"$in": o}}));
    }
    if let Some(s) = filter.since {
        c.push(json!({"created": {"$gte": s as i64}}));
    }
    if !filter.exclude_agents.is_empty() {
        c.push(json!({"agent": {"$nin": filter.exclude_agents}}));
    }
    c
}

fn all_of(mut clauses: Vec<Value>) -> Value {
    if clauses.len() == 1 {
        clauses.pop().unwrap_or(Value::Null)
    } else {
        json!({ "$and": clauses })
    }
}

fn any_of(mut clauses: Vec<Value>) -> Value {
    if clauses.len() == 1 {
        clauses.pop().unwrap_or(Value::Null)
    } else {
        json!({ "$or": clauses })
    }
}

/// An error and its causes on one line (reqwest hides "connection refused" in its sources).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[async_trait]
impl Router for ChromaRouter {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            vector: true,
            approximate: true,
            durable: true,
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

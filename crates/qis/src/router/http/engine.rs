use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::packet::Packet;
use crate::router::layer::{Retry, RetryPolicy};
use crate::router::{
    AddressPage, AddressQuery, Capabilities, Forget, Hit, Hits, Query, Receipt, Routed, Router,
    Stats, Target, TextQuery,
};
use crate::synth::Insight;
use crate::wire::{
    CapabilitiesResponse, DepositResponse, ErrorBody, ForgetResponse, JSON, MSGPACK,
    MsgpackDeposit, MsgpackItem, PurgeResponse, QueryRequest, StatsResponse, SynthRequest,
};

/// The router's name in [`Capabilities`] and errors.
const NAME: &str = "http";

/// Sets up an [`HttpRouter`].
#[derive(Clone, Debug)]
#[must_use]
pub struct HttpRouterBuilder {
    url: String,
    network: Option<String>,
    token: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    policy: RetryPolicy,
}

impl HttpRouterBuilder {
    /// The node's network to reach (`None`: its default network, at `/v1/…`; a network `N` is
    /// at `/v1/networks/N/…`).
    pub fn network(mut self, network: Option<String>) -> Self {
        self.network = network;
        self
    }

    /// The bearer token (`None`: no `Authorization` header, for an open node).
    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// Longest time one attempt of a request may take (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Longest time to open a connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Retries after the first attempt on transient errors (default 4).
    pub fn retries(mut self, retries: u32) -> Self {
        self.policy.retries = retries;
        self
    }

    /// The first backoff (default 50 ms); it doubles per retry up to `max` (default 2 s), and
    /// each wait is drawn uniformly below it.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.policy.first_backoff = first;
        self.policy.max_backoff = max;
        self
    }

    /// Builds the client and reads the node's capabilities (retrying as for any request).
    ///
    /// Errors: [`Error::Config`] for a malformed URL or token, or a token the node refuses;
    /// [`Error::Backend`] when the node cannot be reached.
    pub async fn connect(self) -> Result<Retry<HttpRouter>> {
        let base = self.url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Config(format!(
                "a node URL starts with http:// or https://, got {:?}",
                self.url
            )));
        }
        let api = match &self.network {
            None => format!("{base}/v1"),
            Some(network) => {
                crate::router::url::check_network(network)?;
                format!("{base}/v1/networks/{network}")
            }
        };
        let auth = match &self.token {
            Some(t) => Some(HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                Error::Config("the token has characters a header cannot hold".into())
            })?),
            None => None,
        };
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        let mut router = HttpRouter {
            client,
            base,
            api,
            auth,
            policy: self.policy,
            node: Arc::new(CapabilitiesResponse {
                network: String::new(),
                router: String::new(),
                vector: false,
                durable: false,
                dimension: None,
                embedder: None,
                max_batch: usize::MAX,
                max_body_bytes: usize::MAX,
                auth: String::new(),
                forget: false,
                addresses: false,
            }),
        };
        let node: CapabilitiesResponse = router.json(Method::GET, "/v1/capabilities").await?;
        router.node = Arc::new(node);
        let policy = router.policy;
        Ok(Retry::new(router, policy))
    }
}

impl super::HttpConfig {
    /// Connects to the node these settings name (its token read as [`token`](Self::token) says),
    /// inside the [`Retry`] layer of their `retries`.
    pub async fn connect(&self) -> Result<Retry<HttpRouter>> {
        HttpRouter::builder(&self.url)
            .network(self.network.clone())
            .token(self.token()?)
            .timeout(self.timeout)
            .retries(self.retries)
            .connect()
            .await
    }
}

/// A [`Router`] backed by a qis node over HTTP (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct HttpRouter {
    /// Pooled keep-alive connections.
    client: reqwest::Client,
    /// The node's base URL, without a trailing slash.
    base: String,
    /// Where the chosen network's routes start: `<base>/v1`, or `<base>/v1/networks/<name>`.
    api: String,
    /// `Bearer <token>`, if any.
    auth: Option<HeaderValue>,
    /// Retries of the calls that are not [`Router`] methods (the [`Retry`] layer around this
    /// router retries those).
    policy: RetryPolicy,
    /// What the node said it can do, read once at connect.
    node: Arc<CapabilitiesResponse>,
}

/// What a node answered when it refused a request.
#[derive(Debug, thiserror::Error)]
#[error("the node answered {status} {code}: {message}")]
struct Refused {
    status: StatusCode,
    code: String,
    message: String,
}

/// A transport failure.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
struct Transport {
    what: String,
    #[source]
    source: reqwest::Error,
}

#[derive(Deserialize)]
struct HitIn {
    score: f32,
    packet: Packet,
}

#[derive(Deserialize)]
struct HitsIn {
    hits: Vec<HitIn>,
}

impl HttpRouter {
    /// Starts setting up a router for the node at `url` (`http://host:port`).
    pub fn builder(url: impl Into<String>) -> HttpRouterBuilder {
        HttpRouterBuilder {
            url: url.into(),
            network: None,
            token: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            policy: RetryPolicy::default(),
        }
    }

    /// Connects to the node at `url` with `token` and default settings.
    pub async fn connect(url: &str, token: Option<String>) -> Result<Retry<Self>> {
        Self::builder(url).token(token).connect().await
    }

    /// What the node said it can do and accepts.
    pub fn node(&self) -> &CapabilitiesResponse {
        &self.node
    }

    /// The node's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Runs a query the node describes in full (including `text`, which the node embeds), once.
    pub async fn query_request(&self, request: &QueryRequest) -> Result<Vec<Hit>> {
        let body = rmp_serde::to_vec_named(request).map_err(|e| encode_error(&e))?;
        let bytes = self
            .send(
                Method::POST,
                "/v1/query",
                Some((MSGPACK, body.into())),
                true,
            )
            .await?;
        let hits: HitsIn = rmp_serde::from_slice(&bytes).map_err(|e| bad_answer(&e))?;
        Ok(hits
            .hits
            .into_iter()
            .map(|h| Hit {
                packet: Arc::new(h.packet),
                score: h.score,
            })
            .collect())
    }

    /// Queries and synthesizes on the node.
    pub async fn synthesize(&self, request: &SynthRequest) -> Result<Insight> {
        let body = Bytes::from(serde_json::to_vec(request).map_err(|e| encode_error(&e))?);
        let bytes = self
            .policy
            .run("synth", || {
                self.send(Method::POST, "/v1/synth", Some((JSON, body.clone())), false)
            })
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| bad_answer(&e))
    }

    /// The node's stats, with the name of the router behind it.
    pub async fn node_stats(&self) -> Result<StatsResponse> {
        self.json(Method::GET, "/v1/stats").await
    }

    async fn json<T: DeserializeOwned>(&self, method: Method, path: &str) -> Result<T> {
        let bytes = self
            .policy
            .run(path, || self.send(method.clone(), path, None, false))
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| bad_answer(&e))
    }

    /// Sends a request once; answers the body of a 2xx response. A failure worth retrying is a
    /// retryable error (with the node's `Retry-After`, when it gave one).
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Bytes)>,
        msgpack_answer: bool,
    ) -> Result<Bytes> {
        // `path` is one of the default network's routes: the same route of the chosen network.
        let url = match path.strip_prefix("/v1") {
            Some(rest) => format!("{}{rest}", self.api),
            None => format!("{}{path}", self.base),
        };
        let mut request = self.client.request(method.clone(), &url).header(
            ACCEPT,
            HeaderValue::from_static(if msgpack_answer { MSGPACK } else { JSON }),
        );
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        if let Some((content_type, bytes)) = body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
                .body(bytes);
        }
        // Requests never reach the node malformed (we build them), so a transport error is a
        // connection that failed, timed out or was reset: transient.
        let response = request
            .send()
            .await
            .map_err(|e| transport(format!("{method} {path}"), e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport(format!("{method} {path}: reading the answer"), e))?;
        if status.is_success() {
            return Ok(bytes);
        }
        let error = refused(status, &bytes);
        match retry_after {
            Some(after) if error.is_retryable() => Err(Error::busy(NAME, error.to_string(), after)),
            _ => Err(error),
        }
    }
}

/// The answers worth retrying: over the rate, or a node (or proxy) that is briefly unavailable.
fn transient(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}

fn transport(what: String, e: reqwest::Error) -> Error {
    Error::backend(NAME, !e.is_builder(), Transport { what, source: e })
}

fn encode_error(e: &dyn std::fmt::Display) -> Error {
    Error::refused(NAME, format!("cannot encode the request: {e}"))
}

fn bad_answer(e: &dyn std::fmt::Display) -> Error {
    Error::refused(NAME, format!("the node's answer cannot be decoded: {e}"))
}

/// Maps a refusal back to the library's error (see the module docs).
fn refused(status: StatusCode, bytes: &[u8]) -> Error {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) => body.into_error(NAME),
        // Not a node's answer (a proxy's page, say): keep its start for the message.
        Err(_) => Error::backend(
            NAME,
            transient(status),
            Refused {
                status,
                code: "unknown".into(),
                message: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
            },
        ),
    }
}

#[async_trait]
impl Router for HttpRouter {
    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::new(NAME);
        caps.vector = self.node.vector;
        caps.durable = self.node.durable;
        caps.text = self.node.embedder.is_some();
        caps.dimension = self.node.dimension;
        caps.forget = self.node.forget;
        caps.addresses = self.node.addresses;
        caps
    }

    async fn deposit(&self, packets: &[Routed]) -> Result<Vec<Receipt>> {
        if packets.is_empty() {
            return Ok(Vec::new());
        }
        if packets.len() > self.node.max_batch {
            return Err(Error::invalid(
                "packets",
                format!(
                    "the node takes at most {} packets per deposit, got {}; a batch is all or nothing, so split it yourself",
                    self.node.max_batch,
                    packets.len()
                ),
            ));
        }
        let body = MsgpackDeposit {
            packets: Some(
                packets
                    .iter()
                    .map(|r| MsgpackItem {
                        packet: serde_bytes::ByteBuf::from(r.packet.to_msgpack()),
                        vector: r.vector.as_ref().map(|v| v.to_vec()),
                    })
                    .collect(),
            ),
            ..MsgpackDeposit::default()
        };
        let body = rmp_serde::to_vec_named(&body).map_err(|e| encode_error(&e))?;
        let bytes = self
            .send(
                Method::POST,
                "/v1/packets",
                Some((MSGPACK, body.into())),
                true,
            )
            .await?;
        let answer: DepositResponse = rmp_serde::from_slice(&bytes).map_err(|e| bad_answer(&e))?;
        if answer.receipts.len() != packets.len() {
            return Err(bad_answer(&format!(
                "{} receipts for {} packets",
                answer.receipts.len(),
                packets.len()
            )));
        }
        Ok(answer.receipts)
    }

    async fn query(&self, query: &Query) -> Result<Hits> {
        // Fail fast, with the library's field names, before a round trip.
        query.validate()?;
        let (address, vector) = match &query.target {
            Target::Address(a) => (Some(*a), None),
            Target::Vector(v) => (None, Some(v.to_vec())),
        };
        self.query_request(&QueryRequest {
            address,
            vector,
            text: None,
            filter: query.filter.clone(),
            limit: Some(query.limit),
            min_score: query.min_score,
            max_per_agent: query.max_per_agent,
        })
        .await
        .map(Hits::from)
    }

    async fn query_text(&self, query: &TextQuery) -> Result<Hits> {
        query.validate()?;
        if self.node.embedder.is_none() {
            return Err(Error::NotSupported {
                router: NAME,
                what: "query texts: this node has no embedder".into(),
            });
        }
        self.query_request(&QueryRequest {
            address: None,
            vector: None,
            text: Some(query.text.clone()),
            filter: query.filter.clone(),
            limit: Some(query.limit),
            min_score: query.min_score,
            max_per_agent: query.max_per_agent,
        })
        .await
        .map(Hits::from)
    }

    async fn stats(&self) -> Result<Stats> {
        // One attempt: the Retry layer around this router retries (node_stats retries itself,
        // for callers outside the layer).
        let bytes = self.send(Method::GET, "/v1/stats", None, false).await?;
        let s: StatsResponse = serde_json::from_slice(&bytes).map_err(|e| bad_answer(&e))?;
        Ok(Stats {
            packets: s.packets,
            addresses: s.addresses,
            vectors: s.vectors,
            expired: s.expired,
            dimension: s.dimension,
        })
    }

    async fn forget(&self, what: &Forget) -> Result<u64> {
        what.validate()?;
        let body = serde_json::to_vec(what).map_err(|e| bad_answer(&e))?;
        let bytes = self
            .send(Method::POST, "/v1/forget", Some((JSON, body.into())), false)
            .await?;
        let answer: ForgetResponse = serde_json::from_slice(&bytes).map_err(|e| bad_answer(&e))?;
        Ok(answer.removed)
    }

    async fn addresses(&self, query: &AddressQuery) -> Result<AddressPage> {
        query.validate()?;
        let params = serde_urlencoded::to_string(query).map_err(|e| bad_answer(&e))?;
        let bytes = self
            .send(Method::GET, &format!("/v1/addresses?{params}"), None, false)
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| bad_answer(&e))
    }

    async fn purge_expired(&self) -> Result<u64> {
        let bytes = self.send(Method::POST, "/v1/purge", None, false).await?;
        let answer: PurgeResponse = serde_json::from_slice(&bytes).map_err(|e| bad_answer(&e))?;
        Ok(answer.removed)
    }
}

//! The node: its state, the axum app built from it, and `run`, which serves it on a socket until
//! a shutdown signal.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router as Routes;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{ConnectInfo, MatchedPath, RawPathParams, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use governor::{DefaultKeyedRateLimiter, Quota};
use qis::embed::Embedder;
use qis::fingerprint::{Fingerprint, KeysFingerprint};
use qis::router::Router;
use qis::sign::KeyRing;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api;
use crate::auth::{Auth, Caller, TokenDigest};
use crate::config::Limits;
use crate::error::{ApiError, Code};
use crate::metrics::Metrics;
use crate::network::{DEFAULT_NETWORK, Net, Network, NetworkSpec};

/// How a node is set up: who may call it, what it accepts, how it embeds `text` queries.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Tokens, or an open node.
    pub auth: Auth,
    /// Body, batch, time and rate limits.
    pub limits: Limits,
    /// Embeds the `text` of queries (none: text queries answer `not_supported`).
    pub embedder: Option<Arc<dyn Embedder>>,
    /// Agents' public keys: signed packets are verified on deposit against them, and synthesis
    /// may use only verified packets (none: signatures are stored unverified).
    pub keys: Option<Arc<KeyRing>>,
    /// Refuse unsigned packets (needs `keys`).
    pub require_signatures: bool,
    /// How the MCP tools at `/mcp` address a problem's context (default: `keys`).
    pub fingerprint: Arc<dyn Fingerprint>,
}

impl ServerConfig {
    /// A node with `auth`, default limits and no embedder.
    pub fn new(auth: Auth) -> Self {
        ServerConfig {
            auth,
            limits: Limits::default(),
            embedder: None,
            keys: None,
            require_signatures: false,
            fingerprint: Arc::new(KeysFingerprint::new()),
        }
    }

    /// Addresses the contexts MCP tools are given with `fingerprint`.
    #[must_use]
    pub fn fingerprint(mut self, fingerprint: Arc<dyn Fingerprint>) -> Self {
        self.fingerprint = fingerprint;
        self
    }

    /// Verifies signed packets against `keys`; with `require`, refuses unsigned ones too.
    #[must_use]
    pub fn signatures(mut self, keys: KeyRing, require: bool) -> Self {
        self.keys = Some(Arc::new(keys));
        self.require_signatures = require;
        self
    }

    /// Sets the limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the embedder of `text` queries.
    #[must_use]
    pub fn embedder(mut self, embedder: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(embedder);
        self
    }
}

/// Everything a request handler needs; cheap to clone (one `Arc`).
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

#[derive(Debug)]
pub(crate) struct Shared {
    /// The network of `/v1/…` and `/mcp`.
    pub(crate) default: Arc<Network>,
    /// Every network served, the default one included, by name.
    pub(crate) networks: BTreeMap<String, Arc<Network>>,
    pub(crate) config: ServerConfig,
    /// Requests per token, when the limits set a rate.
    limiter: Option<DefaultKeyedRateLimiter<TokenDigest>>,
    pub(crate) metrics: Metrics,
    /// Cancelled when the server shuts down, so that event streams end and connections drain.
    pub(crate) shutdown: CancellationToken,
    pub(crate) started: Instant,
    /// The request-body bytes the node may hold at once, in KiB permits
    /// ([`Limits::max_body_memory`]).
    pub(crate) bodies: Arc<tokio::sync::Semaphore>,
    /// What each caller holds of that budget.
    pub(crate) body_shares: Arc<crate::quota::Quota<TokenDigest>>,
}

impl AppState {
    /// The state of a node serving `router` as its one network, the default.
    pub fn new(router: Arc<dyn Router>, config: ServerConfig) -> Self {
        Self::build(vec![NetworkSpec::new(DEFAULT_NETWORK, router)], config)
    }

    /// The state of a node serving several networks, each on its own router; one of them must
    /// be [`DEFAULT_NETWORK`] (the network of `/v1/…`).
    ///
    /// Errors ([`qis::Error::Config`]): a malformed network name, a name given twice (or two
    /// names that differ only in case: they would share a directory on some file systems), no
    /// default network, a token bound to a network not served.
    pub fn with_networks(
        networks: impl IntoIterator<Item = NetworkSpec>,
        config: ServerConfig,
    ) -> qis::Result<Self> {
        let networks: Vec<NetworkSpec> = networks.into_iter().collect();
        let mut seen = std::collections::HashSet::new();
        for n in &networks {
            crate::network::check_network_name(&n.name)?;
            if !seen.insert(n.name.to_ascii_lowercase()) {
                return Err(qis::Error::Config(format!(
                    "the network {:?} is served twice (names that differ only in case count as one)",
                    n.name
                )));
            }
        }
        if !seen.contains(DEFAULT_NETWORK) {
            return Err(qis::Error::Config(format!(
                "a node always serves the network {DEFAULT_NETWORK:?} (the routes /v1/…); name one of the networks so"
            )));
        }
        if let Auth::Tokens(tokens) = &config.auth {
            let served: std::collections::HashSet<&str> =
                networks.iter().map(|n| n.name.as_str()).collect();
            if let Some(missing) = tokens.networks().into_iter().find(|n| !served.contains(n)) {
                return Err(qis::Error::Config(format!(
                    "a token is bound to the network {missing:?}, which this node does not serve"
                )));
            }
        }
        Ok(Self::build(networks, config))
    }

    fn build(networks: Vec<NetworkSpec>, config: ServerConfig) -> Self {
        let limiter = config.limits.rate_per_second.map(|rate| {
            DefaultKeyedRateLimiter::keyed(
                Quota::per_second(rate).allow_burst(config.limits.rate_burst),
            )
        });
        let shutdown = CancellationToken::new();
        let networks: BTreeMap<String, Arc<Network>> = networks
            .into_iter()
            .map(|spec| {
                let network = Network::new(spec, &config, &shutdown);
                (network.name.clone(), Arc::new(network))
            })
            .collect();
        let default = networks
            .get(DEFAULT_NETWORK)
            .cloned()
            .unwrap_or_else(|| unreachable!("every constructor serves the default network"));
        let templates = api::templates();
        let body_permits = crate::payload::kib(
            config
                .limits
                .max_body_memory
                .max(config.limits.max_body_bytes),
        )
        .min(tokio::sync::Semaphore::MAX_PERMITS);
        // One caller (a token; a peer address on an open node) holds at most an eighth of the
        // body budget, and always room for one largest body.
        let body_shares = crate::quota::Quota::new(
            (crate::payload::kib(config.limits.max_body_memory) / 8)
                .max(crate::payload::kib(config.limits.max_body_bytes)),
        );
        AppState(Arc::new(Shared {
            default,
            networks,
            config,
            limiter,
            metrics: Metrics::new(templates),
            shutdown,
            started: Instant::now(),
            bodies: Arc::new(tokio::sync::Semaphore::new(body_permits)),
            body_shares,
        }))
    }

    /// The router behind the node's default network.
    pub fn router(&self) -> &Arc<dyn Router> {
        &self.0.default.router
    }

    /// The names of the networks served, in order.
    pub fn networks(&self) -> impl Iterator<Item = &str> {
        self.0.networks.keys().map(String::as_str)
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.0.config.limits
    }

    /// The metrics (tests read error counts here).
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// Ends event streams; `run` calls it when its shutdown signal fires.
    pub fn shut_down(&self) {
        self.0.shutdown.cancel();
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.0
    }

    /// The network a request names (`None`: the default), as `caller` may reach it: a
    /// malformed name is 422 naming `network`; a token of another network 403 `wrong_network`
    /// (whether or not the named one exists, so that a token learns nothing of other
    /// networks); a network not served 404 `unknown_network`.
    fn network(&self, caller: &Caller, named: Option<&str>) -> Result<Arc<Network>, ApiError> {
        let name = named.unwrap_or(DEFAULT_NETWORK);
        if named.is_some() && crate::network::check_network_name(name).is_err() {
            return Err(ApiError::invalid(
                "network",
                format!(
                    "a network name is 1 to 48 ASCII letters, digits, '_' or '-' (no dots, no slashes), got {name:?}"
                ),
            ));
        }
        if let Some(mine) = &caller.network
            && mine != name
        {
            let routes = if mine == DEFAULT_NETWORK {
                "/v1/…".to_owned()
            } else {
                format!("/v1/networks/{mine}/…")
            };
            return Err(ApiError::new(
                Code::WrongNetwork,
                format!(
                    "this token belongs to the network {mine:?}, not {name:?}: its routes are {routes}"
                ),
            )
            .field("network"));
        }
        self.0.networks.get(name).cloned().ok_or_else(|| {
            ApiError::new(
                Code::UnknownNetwork,
                format!("this node serves no network {name:?}"),
            )
            .field("network")
        })
    }
}

/// The node's HTTP app: a function of its state, so tests can call it in process.
pub fn app(state: AppState) -> Routes {
    let v1 = api::routes(api::Access::Caller)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::payload::budget,
        ))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    // The routes of every network (`/v1/networks/{network}/…`) are those of the default one.
    Routes::new()
        .merge(v1)
        .merge(mcp(&state))
        .merge(api::routes(api::Access::Public))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                tracing::error!("a request handler panicked");
                ApiError::new(Code::Internal, "internal error; see the server's log")
                    .into_response()
            },
        ))
        .layer(middleware::from_fn(crate::payload::close_unread))
        .with_state(state)
}

/// Where the MCP tools of the default network are served.
pub const MCP_PATH: &str = "/mcp";
/// Where the MCP tools of the network `{network}` are served.
pub const NETWORK_MCP_PATH: &str = "/v1/networks/{network}/mcp";

/// `/mcp`: the MCP tools over streamable HTTP, behind the same tokens and rate as `/v1`; each
/// call acts as its token's agent, in its network. An open node takes the agent from `?agent=`
/// and, having no tokens to stop a DNS-rebinding page, answers only to loopback host names.
fn mcp(state: &AppState) -> Routes<AppState> {
    Routes::new()
        .route(MCP_PATH, any(mcp_call))
        .route(NETWORK_MCP_PATH, any(mcp_call))
        .route_layer(middleware::from_fn_with_state(state.clone(), principal))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::payload::budget,
        ))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
}

/// One MCP request, answered by its network's service.
async fn mcp_call(net: Net, req: Request) -> Response {
    net.mcp(req).await
}

/// Tells the MCP service who calls: the authenticated caller's agent (on an open node, the
/// `agent` of the query string).
async fn principal(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(caller) = req.extensions().get::<Caller>().cloned() else {
        return ApiError::new(Code::Unauthorized, "no credentials").into_response();
    };
    let agent = caller.agent.or_else(|| {
        matches!(state.shared().config.auth, Auth::Open)
            .then(|| {
                req.uri().query().and_then(|q| {
                    q.split('&')
                        .find_map(|kv| kv.strip_prefix("agent="))
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned)
                })
            })
            .flatten()
    });
    let ending = req.method() == axum::http::Method::DELETE;
    req.extensions_mut().insert(qis_mcp::Principal {
        agent,
        key: caller.key,
    });
    let mut response = next.run(req).await;
    // rmcp answers a session's end with 202; clients expect 200 or 204 (nothing follows).
    if ending && response.status() == axum::http::StatusCode::ACCEPTED {
        *response.status_mut() = axum::http::StatusCode::NO_CONTENT;
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::new(Code::NotFound, "no such route; see /openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        Code::MethodNotAllowed,
        "this route does not take this method; see /openapi.json",
    )
}

/// Times every request out, and counts it in the metrics by route, status and error code.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let start = Instant::now();
    let timeout = state.limits().request_timeout;
    let method = req.method().clone();
    let response = match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            let late = format!(
                "the request took longer than this node's {} ms limit",
                timeout.as_millis()
            );
            // The router may finish a write the node stopped waiting for (the embedded store's
            // transaction runs on its own thread), so the answer cannot say it did not happen.
            if route.as_deref().is_some_and(|r| api::writes(&method, r)) {
                ApiError::new(
                    Code::Timeout,
                    format!(
                        "{late}, and its outcome is unknown: it may have been applied in full; a retry with the same packet ids is safe (deposits are idempotent; a forget or purge again removes nothing more)"
                    ),
                )
                .details(crate::error::Details {
                    outcome: Some("unknown".to_owned()),
                    ..crate::error::Details::default()
                })
            } else {
                ApiError::new(Code::Timeout, format!("{late}; retry later"))
            }
            .into_response()
        }
    };
    let code = response.extensions().get::<Code>().copied();
    state.shared().metrics.observe(
        route.as_deref(),
        response.status().as_u16(),
        code,
        start.elapsed(),
    );
    response
}

/// Authenticates `/v1` and `/mcp` requests, finds the network they name (see
/// [`AppState::network`]), and applies the per-token and the network's rate limits.
async fn authenticate(
    State(state): State<AppState>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let query_token = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("access_token="))
            .map(str::to_owned)
    });
    // A token in a URL ends up in logs and histories: only the reads that browsers make
    // without headers take one.
    if query_token.is_some()
        && matches!(state.shared().config.auth, Auth::Tokens(_))
        && !(req.method() == axum::http::Method::GET
            && req
                .extensions()
                .get::<MatchedPath>()
                .is_some_and(|m| crate::api::takes_url_token(m.as_str())))
    {
        return Err(ApiError::new(
            Code::Unauthorized,
            "`access_token` in the URL is taken only by GET event streams and the dashboard's reads; send `Authorization: Bearer <token>`",
        )
        .field("access_token"));
    }
    let caller = state.shared().config.auth.caller(
        req.headers(),
        query_token.as_deref(),
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip()),
    )?;
    if let Some(limiter) = &state.shared().limiter
        && let Err(not_until) = limiter.check_key(&caller.key)
    {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        let secs = wait.as_secs() + 1;
        return Err(ApiError::new(
            Code::RateLimited,
            format!("this token is over its rate limit; retry in {secs} s"),
        )
        .retry_after(secs));
    }
    let named = match &params {
        Ok(params) => params
            .iter()
            .find_map(|(k, v)| (k == "network").then_some(v)),
        // A segment that is not UTF-8: a malformed name, if it is the network's (the other
        // segments are their handlers' to refuse).
        Err(RawPathParamsRejection::InvalidUtf8InPathParam(_))
            if req
                .extensions()
                .get::<MatchedPath>()
                .is_some_and(|m| m.as_str().contains("{network}")) =>
        {
            // `/v1/networks/{network}/…`: the segment as sent, if it is a name at all.
            req.uri()
                .path()
                .split('/')
                .nth(3)
                .filter(|n| crate::network::check_network_name(n).is_ok())
                .or(Some("\u{fffd}"))
        }
        Err(_) => None,
    };
    let network = state.network(&caller, named)?;
    network.admit()?;
    req.extensions_mut().insert::<Caller>(caller);
    req.extensions_mut().insert(Net(network));
    Ok(next.run(req).await)
}

/// Serves `state` on `listener` until `shutdown` completes, then stops accepting, ends event
/// streams, lets open requests finish, and returns once every connection is closed (so the
/// router's last handle held by a connection is gone: a store can be reopened at once).
///
/// Each connection holds one of [`Limits::max_connections`] permits (past the cap, new
/// connections wait in the kernel's backlog), and must deliver a request's headers within
/// [`Limits::header_timeout`], which also closes connections left idle that long: a client that
/// opens many connections and sends nothing, or headers a byte at a time, cannot hold the node.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt as _;

    let limits = state.limits().clone();
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let peers = crate::quota::Quota::new(limits.max_connections_per_peer);
    let connections = tokio_util::task::TaskTracker::new();
    let closing = state.shared().shutdown.clone();
    let routes = app(state.clone());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: not fatal. Wait a
                    // little so that a persistent error does not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small request/response pairs on keep-alive connections: no Nagle delay.
        let _ = tcp.set_nodelay(true);
        let Some(slot) = peers.take(crate::conn::peer_key(peer.ip()), 1) else {
            drop(permit);
            connections.spawn(crate::conn::refuse_over_cap(
                tcp,
                limits.max_connections_per_peer,
            ));
            continue;
        };
        let routes = routes.clone();
        let service =
            tower::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                routes.clone().oneshot(req.map(axum::body::Body::new))
            });
        let conn = http.serve_connection(
            TokioIo::new(crate::conn::JsonErrors::new(tcp)),
            TowerToHyperService::new(service),
        );
        let closing = closing.clone();
        connections.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, %peer, "connection ended");
                    }
                }
                () = closing.cancelled() => {
                    // Finish the request in flight, if any, then close.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    state.shut_down();
    drop(routes);
    drop(state);
    connections.close();
    connections.wait().await;
    Ok(())
}

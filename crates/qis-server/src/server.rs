//! The node: its state, the axum app built from it, and `run`, which serves it on a socket until
//! a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router as Routes;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota};
use qis::embed::Embedder;
use qis::fingerprint::{Fingerprint, KeysFingerprint};
use qis::router::Router;
use qis::router::layer::{Metered, Unsigned, VerifiedOnly};
use qis::setup::Qis;
use qis::sign::KeyRing;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::activity::{Activity, Watched};
use crate::api;
use crate::auth::{Auth, Caller, TokenDigest};
use crate::config::Limits;
use crate::error::{ApiError, Code, Details};
use crate::metrics::Metrics;

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
    /// Where packets live (any router, local or remote), metered: queries go here.
    pub(crate) router: Arc<dyn Router>,
    /// The same, with its counts (for `/metrics`).
    pub(crate) metered: Arc<Metered<Arc<dyn Router>>>,
    /// Where deposits go: the metered router, behind signature checks when the node holds
    /// agents' keys, recording what is stored in `activity`.
    pub(crate) depositor: Arc<dyn Router>,
    /// Queries that use only verified packets (`require_signed`), when the node holds keys.
    pub(crate) verified: Option<Arc<dyn Router>>,
    /// The library's façade over `depositor`, for the MCP tools: the same checks and counts
    /// as `/v1`, with the node's fingerprint, embedder and key ring.
    pub(crate) qis: Arc<Qis>,
    pub(crate) config: ServerConfig,
    /// Requests per token, when the limits set a rate.
    limiter: Option<DefaultKeyedRateLimiter<TokenDigest>>,
    pub(crate) metrics: Metrics,
    /// New packets for event streams; busy addresses and recent deposits for the dashboard.
    pub(crate) activity: Arc<Activity>,
    /// Cancelled when the server shuts down, so that event streams end and connections drain.
    pub(crate) shutdown: CancellationToken,
    pub(crate) started: Instant,
}

impl AppState {
    /// The state of a node serving `router`.
    pub fn new(router: Arc<dyn Router>, config: ServerConfig) -> Self {
        let limiter = config.limits.rate_per_second.map(|rate| {
            DefaultKeyedRateLimiter::keyed(
                Quota::per_second(rate).allow_burst(config.limits.rate_burst),
            )
        });
        let metered = Arc::new(Metered::new(router));
        let router: Arc<dyn Router> = metered.clone();
        let activity = Arc::new(Activity::new());
        let (checked, verified): (Arc<dyn Router>, Option<Arc<dyn Router>>) = match &config.keys {
            None => (router.clone(), None),
            Some(ring) => {
                let unsigned = if config.require_signatures {
                    Unsigned::Refuse
                } else {
                    Unsigned::Pass
                };
                (
                    Arc::new(VerifiedOnly::checking_deposits(
                        router.clone(),
                        ring.clone(),
                        unsigned,
                    )),
                    Some(Arc::new(VerifiedOnly::new(
                        router.clone(),
                        ring.clone(),
                        Unsigned::Pass,
                    ))),
                )
            }
        };
        let depositor: Arc<dyn Router> = Arc::new(Watched {
            inner: checked,
            activity: activity.clone(),
        });
        let mut qis = Qis::new(depositor.clone()).with_fingerprint(config.fingerprint.clone());
        if let Some(ring) = &config.keys {
            qis = qis.with_key_ring(ring.clone());
        }
        if let Some(embedder) = &config.embedder {
            qis = qis.with_embedder(embedder.clone());
        }
        let mut templates = api::templates();
        templates.push(MCP_PATH);
        AppState(Arc::new(Shared {
            router,
            metered,
            depositor,
            verified,
            qis: Arc::new(qis),
            config,
            limiter,
            metrics: Metrics::new(&templates),
            activity,
            shutdown: CancellationToken::new(),
            started: Instant::now(),
        }))
    }

    /// The router behind the node.
    pub fn router(&self) -> &Arc<dyn Router> {
        &self.0.router
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
}

/// The node's HTTP app: a function of its state, so tests can call it in process.
pub fn app(state: AppState) -> Routes {
    let v1 = api::routes(api::Access::Caller)
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
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
        .with_state(state)
}

/// Where the MCP tools are served.
pub const MCP_PATH: &str = "/mcp";

/// `/mcp`: the MCP tools over streamable HTTP, behind the same tokens and rate as `/v1`; each
/// call acts as its token's agent. An open node takes the agent from `?agent=` and, having no
/// tokens to stop a DNS-rebinding page, answers only to loopback host names.
fn mcp(state: &AppState) -> Routes<AppState> {
    let shared = state.shared();
    let mut config = qis_mcp::http::HttpConfig::new(
        shared.config.limits.max_body_bytes,
        shared.shutdown.child_token(),
    );
    if matches!(shared.config.auth, Auth::Open) {
        config = config.allowed_hosts(["localhost", "127.0.0.1", "::1", "[::1]"]);
    }
    let service = qis_mcp::http::service(shared.qis.clone(), config);
    Routes::new()
        .nest_service(MCP_PATH, service)
        .layer(middleware::from_fn_with_state(state.clone(), principal))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
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
    let response = match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            Code::Timeout,
            format!(
                "the request took longer than this node's {} ms limit; retry later",
                timeout.as_millis()
            ),
        )
        .into_response(),
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

/// Authenticates `/v1` requests and applies the per-token rate limit.
async fn authenticate(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let query_token = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("access_token="))
            .map(str::to_owned)
    });
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
        .details(Details {
            retry_after_secs: Some(secs),
            ..Details::default()
        }));
    }
    req.extensions_mut().insert::<Caller>(caller);
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
        let routes = routes.clone();
        let service =
            tower::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                routes.clone().oneshot(req.map(axum::body::Body::new))
            });
        let conn = http.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service));
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

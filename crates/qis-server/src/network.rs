//! The networks a node serves. Each is a router of its own (a directory of the embedded store, a
//! network of an engine) behind the node's layers, with what it saw arrive, its limits and its
//! MCP service: a request reaches exactly one network, and nothing of one is reachable from
//! another.
//!
//! The default network answers at `/v1/…` and `/mcp`; a network `N` at `/v1/networks/N/…` and
//! `/v1/networks/N/mcp`. Tokens are bound to one network (see [`crate::auth`]).

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use governor::{DefaultDirectRateLimiter, Quota};
use qis::router::Router;
use qis::router::layer::{Metered, Unsigned, VerifiedOnly};
use qis::setup::Qis;
use tokio_util::sync::CancellationToken;

use crate::activity::{Activity, Watched};
use crate::auth::Auth;
use crate::config::NetworkLimits;
use crate::error::{ApiError, Code};
use crate::server::ServerConfig;

/// The name of the network of `/v1/…`, and of tokens that name none.
pub const DEFAULT_NETWORK: &str = "default";

/// A network name: [`DEFAULT_NETWORK`], or 1 to 48 ASCII letters, digits, `_` or `-` (the
/// names of the library's router URLs: no dots, no slashes, nothing a path or a subject would
/// read as a separator or a wildcard).
pub fn check_network_name(name: &str) -> qis::Result<()> {
    qis::router::url::check_network(name)
}

/// One network a node serves: its name, its router (the namespace of this network only) and its
/// limits.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NetworkSpec {
    /// Its name, in the routes and in tokens.
    pub name: String,
    /// Where its packets live; no other network's router may share it.
    pub router: Arc<dyn Router>,
    /// Its rate and batch size.
    pub limits: NetworkLimits,
}

impl NetworkSpec {
    /// The network `name` on `router`, with no limits of its own.
    pub fn new(name: impl Into<String>, router: Arc<dyn Router>) -> Self {
        NetworkSpec {
            name: name.into(),
            router,
            limits: NetworkLimits::default(),
        }
    }

    /// Sets its limits.
    #[must_use]
    pub fn limits(mut self, limits: NetworkLimits) -> Self {
        self.limits = limits;
        self
    }
}

const TWO: NonZeroU32 = NonZeroU32::new(2).unwrap();

/// The MCP service of one network.
type McpService =
    qis_mcp::http::StreamableHttpService<qis_mcp::QisMcp, qis_mcp::http::LocalSessionManager>;

/// A network being served: its router behind the node's layers.
pub(crate) struct Network {
    pub(crate) name: String,
    /// Where packets live, metered: queries go here.
    pub(crate) router: Arc<dyn Router>,
    /// The same, with its counts (for `/metrics`).
    pub(crate) metered: Arc<Metered<Arc<dyn Router>>>,
    /// Where deposits and forgets go: the metered router, behind signature checks when the
    /// node holds agents' keys, recording what is stored in `activity`.
    pub(crate) depositor: Arc<dyn Router>,
    /// Queries that use only verified packets (`require_signed`), when the node holds keys.
    pub(crate) verified: Option<Arc<dyn Router>>,
    /// New packets for event streams; recent deposits for the dashboard.
    pub(crate) activity: Arc<Activity>,
    /// Most packets per deposit.
    pub(crate) max_batch: usize,
    /// Requests of all the network's callers together, when it has a rate.
    limiter: Option<DefaultDirectRateLimiter>,
    /// The MCP tools over the library's façade of `depositor`.
    mcp: McpService,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("name", &self.name)
            .field("router", &self.router.capabilities().name)
            .field("max_batch", &self.max_batch)
            .field("rate_limited", &self.limiter.is_some())
            .finish_non_exhaustive()
    }
}

impl Network {
    /// Puts `spec`'s router behind the node's layers.
    pub(crate) fn new(
        spec: NetworkSpec,
        config: &ServerConfig,
        shutdown: &CancellationToken,
    ) -> Self {
        let metered = Arc::new(Metered::new(spec.router));
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
        let mut mcp =
            qis_mcp::http::HttpConfig::new(config.limits.max_body_bytes, shutdown.child_token());
        if matches!(config.auth, Auth::Open) {
            mcp = mcp.allowed_hosts(["localhost", "127.0.0.1", "::1", "[::1]"]);
        }
        let limiter = spec.limits.rate_per_second.map(|rate| {
            let burst = spec
                .limits
                .rate_burst
                .unwrap_or_else(|| rate.saturating_mul(TWO));
            DefaultDirectRateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
        });
        let max_batch = spec.limits.max_batch.map_or(config.limits.max_batch, |n| {
            n.clamp(1, config.limits.max_batch)
        });
        Network {
            name: spec.name,
            router,
            metered,
            depositor,
            verified,
            activity,
            max_batch,
            limiter,
            mcp: qis_mcp::http::service(Arc::new(qis), mcp),
        }
    }

    /// Counts one request against the network's rate: `Err` with the seconds to wait when it is
    /// over.
    pub(crate) fn admit(&self) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            let secs = wait.as_secs() + 1;
            ApiError::new(
                Code::RateLimited,
                format!(
                    "the network {:?} is over its rate limit (all its tokens together); retry in {secs} s",
                    self.name
                ),
            )
            .retry_after(secs)
        })
    }

    /// Answers an MCP request (any method) with this network's service.
    pub(crate) async fn mcp(&self, request: axum::extract::Request) -> axum::response::Response {
        use axum::response::IntoResponse as _;
        self.mcp.handle(request).await.into_response()
    }
}

/// The network a request reaches, as the authentication put it in the request's extensions.
#[derive(Clone, Debug)]
pub(crate) struct Net(pub(crate) Arc<Network>);

impl std::ops::Deref for Net {
    type Target = Network;
    fn deref(&self) -> &Network {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Net {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Net>().cloned().ok_or_else(|| {
            tracing::error!("a network route without the network in its extensions");
            ApiError::new(Code::Internal, "internal error; see the server's log")
        })
    }
}

//! The streamable HTTP transport: a tower service a node nests at `/mcp`, behind its own
//! authentication, which puts each request's [`Principal`](crate::Principal) in its extensions.

use std::sync::Arc;

use qis::setup::Qis;
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
pub use rmcp::transport::streamable_http_server::StreamableHttpService;
pub use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use tokio_util::sync::CancellationToken;

use crate::QisMcp;

/// How the `/mcp` service is set up.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// The `Host` headers accepted (empty: any). A node that authenticates every request by
    /// token accepts any; an open one only loopback names, against DNS rebinding.
    pub allowed_hosts: Vec<String>,
    /// Cancelled when the node shuts down: every session ends.
    pub shutdown: CancellationToken,
}

impl HttpConfig {
    /// Any host, `max_body_bytes`, ended by `shutdown`.
    pub fn new(max_body_bytes: usize, shutdown: CancellationToken) -> Self {
        HttpConfig {
            max_body_bytes,
            allowed_hosts: Vec::new(),
            shutdown,
        }
    }

    /// Accepts only `Host` headers naming these hosts.
    #[must_use]
    pub fn allowed_hosts(mut self, hosts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.allowed_hosts = hosts.into_iter().map(Into::into).collect();
        self
    }
}

/// The MCP service over `qis`, each call acting as its request's principal.
pub fn service(
    qis: Arc<Qis>,
    config: HttpConfig,
) -> StreamableHttpService<QisMcp, LocalSessionManager> {
    let mut transport = StreamableHttpServerConfig::default()
        .with_cancellation_token(config.shutdown)
        .with_max_request_body_bytes(config.max_body_bytes);
    transport = if config.allowed_hosts.is_empty() {
        transport.disable_allowed_hosts()
    } else {
        transport.with_allowed_hosts(config.allowed_hosts)
    };
    StreamableHttpService::new(
        move || Ok(QisMcp::per_request(qis.clone())),
        LocalSessionManager::default().into(),
        transport,
    )
}

//! `--remote URL --token-env VAR`: run a command against a qis node instead of the local store.

use anyhow::{Context as _, Result};
use qis_server::client::HttpRouter;

/// Where a command runs: the local store (default) or a node.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteArgs {
    /// Run against the qis node at this URL (`http://host:port`) instead of the local store.
    #[arg(long, value_name = "URL", env = "QIS_REMOTE")]
    pub remote: Option<String>,
    /// The environment variable holding the node's bearer token [default: QIS_TOKEN, when set].
    #[arg(long, value_name = "VAR", requires = "remote")]
    pub token_env: Option<String>,
}

impl RemoteArgs {
    /// The node's router, when `--remote` is given.
    pub async fn connect(&self) -> Result<Option<HttpRouter>> {
        let Some(url) = &self.remote else {
            return Ok(None);
        };
        let token = crate::store::node_token("--token-env", self.token_env.as_deref())?;
        let router = HttpRouter::connect(url, token)
            .await
            .with_context(|| format!("cannot reach the qis node at {url}"))?;
        Ok(Some(router))
    }
}

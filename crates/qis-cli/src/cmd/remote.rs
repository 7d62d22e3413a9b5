//! `--remote URL --token-env VAR`: run a command against a qis node instead of the local store.
//! `--remote URL` is another spelling of `--router URL` for a node's `http(s)://` URL.

use anyhow::{Context as _, Result, bail};
use qis::router::http::HttpRouter;
use qis::router::layer::Retry;
use qis::router::url::{RouterSpec, parse_url};

use crate::config::{FileConfig, Global};

/// Where a command runs: the local store (default) or a node.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteArgs {
    /// Run against the qis node at this URL (`http://host:port`) instead of the local store;
    /// the same as `--router URL`.
    #[arg(long, value_name = "URL", env = "QIS_REMOTE")]
    pub remote: Option<String>,
    /// The environment variable holding the node's bearer token [default: QIS_TOKEN, when set];
    /// the same as the URL parameter `token_env=VAR`.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
}

impl RemoteArgs {
    /// The router these flags and the global ones name: the node of `--remote`, else the
    /// global `--router` (a node's token taken from `--token-env` when given).
    pub fn spec(&self, global: &Global, file: &FileConfig) -> Result<RouterSpec> {
        let spec = match &self.remote {
            Some(url) => {
                let spec = parse_url(url).with_context(|| format!("--remote {url:?}"))?;
                if !matches!(spec, RouterSpec::Http(_)) {
                    bail!(
                        "--remote takes a qis node's http(s):// URL; give other routers with --router"
                    );
                }
                spec
            }
            None => global.router_spec(file)?,
        };
        with_token_env(spec, "--token-env", self.token_env.as_deref())
    }

    /// The node's router, when the router named is a node (for what only a node does: report
    /// the router behind it).
    pub async fn node(
        &self,
        global: &Global,
        file: &FileConfig,
    ) -> Result<Option<Retry<HttpRouter>>> {
        let RouterSpec::Http(c) = self.spec(global, file)? else {
            return Ok(None);
        };
        let router = c
            .connect()
            .await
            .with_context(|| format!("cannot reach the qis node at {}", c.url))?;
        Ok(Some(router))
    }
}

/// `spec` with its node token read from the variable `var` (named by the flag `flag`), which
/// only a node's URL takes.
pub fn with_token_env(spec: RouterSpec, flag: &str, var: Option<&str>) -> Result<RouterSpec> {
    match (spec, var) {
        (spec, None) => Ok(spec),
        (RouterSpec::Http(mut c), Some(var)) => {
            c.token_env = Some(var.to_owned());
            Ok(RouterSpec::Http(c))
        }
        (other, Some(_)) => bail!(
            "{flag} names a qis node's token, but the router is {}, not a node",
            other.backend()
        ),
    }
}

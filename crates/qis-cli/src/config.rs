//! Settings from flags, `QIS_*` environment variables and `qis.toml`, in that order of precedence.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use qis::router::url::{RouterSpec, parse_url};
use serde::Deserialize;

/// `qis.toml`: the library's settings (every key optional; unknown keys are refused).
pub use qis::setup::Settings as FileConfig;

/// `[serve]` in `qis.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Where to listen (`127.0.0.1:7878`).
    pub listen: Option<String>,
    /// The router behind the node (`embedded`, `embedded:DIR`, `memory:`, `http://…`).
    pub router: Option<String>,
    /// A tokens file (TOML, `"token" = "agent"` per line).
    pub tokens_file: Option<PathBuf>,
    /// Tokens inline: `[serve.tokens]` with the tokens file's lines (`"token" = "agent"`, or
    /// `"token" = { agent = "…", network = "…", role = "operator" }`; `"sha256:<hex>"` keys).
    #[serde(default)]
    pub tokens: toml::Table,
    /// Networks served besides the default one, with their limits: `[serve.networks.NAME]`
    /// (every key optional; a network a token names is served even without a table).
    #[serde(default)]
    pub networks: std::collections::BTreeMap<String, NetworkSettings>,
}

/// `[serve.networks.NAME]` in `qis.toml`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSettings {
    /// Requests per second of all the network's tokens together [default: --network-rate].
    pub rate: Option<u32>,
    /// Requests the network may make at once before its rate applies [default: twice the rate].
    pub burst: Option<u32>,
    /// Most packets per deposit in this network [default: the node's --max-batch].
    pub max_batch: Option<usize>,
}

impl ServeConfig {
    /// The `[serve]` table of the settings.
    pub fn of(file: &FileConfig) -> Result<ServeConfig> {
        match &file.serve {
            None => Ok(ServeConfig::default()),
            Some(table) => table
                .clone()
                .try_into()
                .context("settings file: the [serve] table"),
        }
    }
}

/// Global flags shared by every command.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Data directory of the embedded store [default: ./qis-data].
    #[arg(long, global = true, env = "QIS_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The router: file:DIR (the embedded store), memory:, nats://HOST:PORT/NETWORK,
    /// qdrant://HOST:6334/NETWORK, chroma://HOST:8000/NETWORK [default: file:./qis-data].
    #[arg(
        long,
        global = true,
        env = "QIS_ROUTER",
        value_name = "URL",
        conflicts_with = "data"
    )]
    pub router: Option<String>,
    /// Settings file [default: ./qis.toml when it exists].
    #[arg(long, global = true, env = "QIS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl Global {
    /// Reads `qis.toml` (the named file must exist; the default one may not).
    pub fn file(&self) -> Result<FileConfig> {
        Ok(FileConfig::load(self.config.as_deref())?)
    }

    /// The data directory: `--data`, `QIS_DATA`, `data` in `qis.toml`, or `./qis-data`.
    pub fn data_dir(&self, file: &FileConfig) -> PathBuf {
        self.data
            .clone()
            .or_else(|| file.data.clone())
            .unwrap_or_else(|| PathBuf::from(qis::setup::DEFAULT_DATA_DIR))
    }
}

impl Global {
    /// The router to use: `--router` / `QIS_ROUTER`, else `--data` / `QIS_DATA` (the embedded
    /// store there), else `router` in qis.toml, else `data` in qis.toml, else `./qis-data`.
    pub fn router_spec(&self, file: &FileConfig) -> Result<RouterSpec> {
        match (&self.router, &self.data) {
            (Some(url), _) => parse_url(url).with_context(|| format!("router {url:?}")),
            (None, Some(dir)) => Ok(RouterSpec::Embedded { dir: dir.clone() }),
            (None, None) => Ok(file.router_spec()),
        }
    }
}

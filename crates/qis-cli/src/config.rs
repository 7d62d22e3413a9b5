//! Settings from flags, `QIS_*` environment variables and `qis.toml`, in that order of precedence.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use qis::router::url::{RouterSpec, parse_url};
use serde::Deserialize;

/// `qis.toml`: every key optional; unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The data directory of the embedded store.
    pub data: Option<PathBuf>,
    /// The router URL (`file:DIR`, `memory:`, `nats://…`, `qdrant://…`, `chroma://…`); wins over
    /// `data`.
    pub router: Option<String>,
    /// The agent id used by `qis deposit` and `qis synth --close-loop`.
    pub agent: Option<String>,
    /// `hashed`, `minilm` or `minilm:MODEL_DIR`.
    pub embedder: Option<qis::embed::EmbedderSpec>,
    /// The MiniLM model directory.
    pub model_dir: Option<PathBuf>,
    /// How problems map to addresses.
    #[serde(default)]
    pub fingerprint: FingerprintConfig,
    /// `qis serve`.
    #[serde(default)]
    pub serve: ServeConfig,
}

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
    /// Tokens inline: `[serve.tokens]` with `"token" = "agent"` lines (or `"sha256:<hex>"`).
    #[serde(default)]
    pub tokens: std::collections::BTreeMap<String, String>,
}

/// `[fingerprint]` in `qis.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FingerprintConfig {
    /// `keys` or `fields`.
    pub scheme: Option<String>,
    /// The routing schema for `fields`.
    pub schema: Option<PathBuf>,
    /// The environment variable holding the network secret.
    pub secret_env: Option<String>,
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
        let (path, required) = match &self.config {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from("qis.toml"), false),
        };
        if !required && !path.exists() {
            return Ok(FileConfig::default());
        }
        read(&path)
    }

    /// The data directory: `--data`, `QIS_DATA`, `data` in `qis.toml`, or `./qis-data`.
    pub fn data_dir(&self, file: &FileConfig) -> PathBuf {
        self.data
            .clone()
            .or_else(|| file.data.clone())
            .unwrap_or_else(|| PathBuf::from("qis-data"))
    }
}

impl Global {
    /// The router to use: `--router` / `QIS_ROUTER`, else `--data` / `QIS_DATA` (the embedded
    /// store there), else `router` in qis.toml, else `data` in qis.toml, else `./qis-data`.
    pub fn router_spec(&self, file: &FileConfig) -> Result<RouterSpec> {
        let url = match (&self.router, &self.data, &file.router) {
            (Some(url), _, _) => url.clone(),
            (None, Some(_), _) | (None, None, None) => {
                return Ok(RouterSpec::Embedded {
                    dir: self.data_dir(file),
                });
            }
            (None, None, Some(url)) => url.clone(),
        };
        parse_url(&url).with_context(|| format!("router {url:?}"))
    }
}

fn read(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the settings file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("settings file {}", path.display()))
}

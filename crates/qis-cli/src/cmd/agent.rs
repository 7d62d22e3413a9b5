//! The flags of the commands that act as an agent (`deposit`, `mcp`): who, how problems are
//! addressed and embedded, how deposits are signed, and where they go.

use std::path::PathBuf;

use anyhow::Result;

use super::fingerprint::FingerprintArgs;
use super::remote::RemoteArgs;
use crate::config::{FileConfig, Global};
use crate::store::EmbedderKind;

#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// Your agent id [default: `agent` in qis.toml].
    #[arg(long, env = "QIS_AGENT")]
    pub agent: Option<String>,
    #[command(flatten)]
    pub fingerprint: FingerprintArgs,
    /// The embedder of problem texts [default: the best this build has].
    #[arg(long, value_enum)]
    pub embedder: Option<EmbedderKind>,
    /// Sign every deposit with this agent's secret key (a file written by `qis keygen`).
    #[arg(long, env = "QIS_SIGNING_KEY", value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

impl AgentArgs {
    /// `qis.toml` with these flags on top.
    pub fn settings(&self, global: &Global) -> Result<FileConfig> {
        let mut settings = global.file()?;
        settings.agent = self.agent.clone().or(settings.agent);
        settings.router = Some(self.remote.spec(global, &settings)?);
        settings.fingerprint = self.fingerprint.spec(&settings)?;
        if let Some(kind) = self.embedder {
            settings.embedder = Some(kind.into());
        }
        if let Some(path) = &self.signing_key {
            settings.signing_key = Some(path.clone());
        }
        Ok(settings)
    }
}

//! `qis mcp`: serve the qis tools to an LLM host over the Model Context Protocol (stdio).
//!
//! A host starts it as a child process and speaks JSON-RPC on its stdin and stdout; everything
//! this command says for people goes to stderr.

use std::sync::Arc;

use anyhow::{Context as _, Result};

use super::agent::AgentArgs;
use crate::config::Global;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Agents' public keys (TOML key ring): `verified_only` consultations use them.
    #[arg(long, env = "QIS_AGENT_KEYS", value_name = "FILE")]
    agent_keys: Option<std::path::PathBuf>,
    #[command(flatten)]
    who: AgentArgs,
}

pub async fn run(global: &Global, args: Args) -> Result<()> {
    let mut settings = args.who.settings(global)?;
    if let Some(path) = &args.agent_keys {
        settings.agent_keys = Some(path.clone());
    }
    let opened = store::open_router(&settings.router_spec()).await?;
    let qis = Arc::new(settings.open_with(opened.router)?);
    match qis.agent() {
        Some(agent) => eprintln!("qis mcp: agent {agent} on {} (stdio)", opened.label),
        None => eprintln!(
            "qis mcp: no agent id (--agent, QIS_AGENT or `agent` in qis.toml): the tools only read; on {} (stdio)",
            opened.label
        ),
    }
    qis_mcp::serve_stdio(qis_mcp::QisMcp::local(qis))
        .await
        .map_err(|e| anyhow::anyhow!(e))
        .context("the MCP session ended with an error")
}

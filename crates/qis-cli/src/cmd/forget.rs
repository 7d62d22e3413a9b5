//! `qis forget`: take packets back from the store, by id, agent or address.

use anyhow::{Context as _, Result};
use qis::packet::{Address, PacketId};
use qis::router::Forget;

use super::remote::RemoteArgs;
use crate::config::Global;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A packet id to forget (repeatable).
    #[arg(long = "id", value_name = "ID")]
    ids: Vec<PacketId>,
    /// Every packet of this agent (with --id or --address: only this agent's among them).
    #[arg(long)]
    agent: Option<String>,
    /// Every packet at this address (hex).
    #[arg(long, value_parser = parse_address)]
    address: Option<Address>,
    /// Print `{"removed": N}`.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

fn parse_address(s: &str) -> Result<Address, String> {
    Address::from_hex(s).map_err(|e| e.to_string())
}

pub async fn run(global: &Global, args: Args) -> Result<()> {
    let settings = global.file()?;
    let spec = args.remote.spec(global, &settings)?;
    let opened = store::open_router(&spec).await?;
    let what = Forget {
        ids: args.ids,
        agent: args.agent,
        address: args.address,
        ..Forget::default()
    };
    let removed = opened
        .router
        .forget(&what)
        .await
        .with_context(|| format!("cannot forget in {}", opened.label))?;
    if args.json {
        println!("{}", serde_json::json!({ "removed": removed }));
    } else {
        println!(
            "forgot {removed} packet{} in {}; a deposit of a forgotten packet is refused until it would have expired",
            if removed == 1 { "" } else { "s" },
            opened.label
        );
    }
    Ok(())
}

//! `qis stats` and `qis purge`.

use anyhow::Result;
use qis::router::Router;

use super::remote::RemoteArgs;
use crate::config::Global;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the numbers as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub async fn run(global: &Global, args: Args) -> Result<()> {
    let file = global.file()?;
    if let Some(node) = args.remote.node(global, &file).await? {
        let s = node.node_stats().await?;
        if args.json {
            println!("{}", serde_json::to_string(&s)?);
        } else {
            println!("node:            {} ({} router)", node.url(), s.router);
            println!("total packets:   {}", s.packets);
            println!("indexed packets: {} (with a vector)", s.vectors);
            println!("addresses:       {}", s.addresses);
            println!("expired:         {}", s.expired);
            match s.dimension {
                Some(d) => println!("dimension:       {d}"),
                None => println!("dimension:       none yet"),
            }
        }
        return Ok(());
    }
    let opened = store::open_router(&global.router_spec(&file)?).await?;
    let stats = opened.router.stats().await?;
    let status = if stats.expired > 0 {
        "green (expired packets await the purge)"
    } else {
        "green"
    };
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "total_packets": stats.packets,
                "indexed_packets": stats.vectors,
                "status": "green",
                "addresses": stats.addresses,
                "expired": stats.expired,
                "dimension": stats.dimension,
                "router": opened.label,
            })
        );
    } else {
        println!("store:           {}", opened.label);
        println!("total packets:   {}", stats.packets);
        println!("indexed packets: {} (with a vector)", stats.vectors);
        println!("status:          {status}");
        println!("addresses:       {}", stats.addresses);
        println!("expired:         {}", stats.expired);
        match stats.dimension {
            Some(d) => println!("dimension:       {d}"),
            None => println!("dimension:       none yet"),
        }
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct PurgeArgs {}

pub async fn purge(global: &Global, _args: PurgeArgs) -> Result<()> {
    let file = global.file()?;
    let opened = store::open_router(&global.router_spec(&file)?).await?;
    let removed = opened.router.purge_expired().await?;
    println!("removed {removed} expired packets");
    Ok(())
}

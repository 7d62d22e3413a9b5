//! `qis addresses`: which addresses the store holds, most recently active first.

use anyhow::{Context as _, Result};
use qis::router::{AddressQuery, DEFAULT_ADDRESS_PAGE};

use super::remote::RemoteArgs;
use crate::config::Global;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// At most this many (1 to 1000).
    #[arg(long, default_value_t = DEFAULT_ADDRESS_PAGE)]
    limit: usize,
    /// Only addresses whose newest packet is in this domain.
    #[arg(long)]
    domain: Option<String>,
    /// Continue after this cursor (the `next` a page printed).
    #[arg(long)]
    cursor: Option<String>,
    /// Print the page as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub async fn run(global: &Global, args: Args) -> Result<()> {
    let settings = global.file()?;
    let spec = args.remote.spec(global, &settings)?;
    let opened = store::open_router(&spec).await?;
    let query = AddressQuery {
        limit: args.limit,
        cursor: args.cursor,
        domain: args.domain,
    };
    let page = opened
        .router
        .addresses(&query)
        .await
        .with_context(|| format!("cannot list the addresses of {}", opened.label))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&page)?);
        return Ok(());
    }
    println!(
        "{:<34} {:>8}  {:<24} domain",
        "address", "packets", "newest (ms)"
    );
    for a in &page.addresses {
        println!(
            "{:<34} {:>8}  {:<24} {}",
            a.address.to_hex(),
            a.packets,
            a.last,
            a.domain
        );
    }
    match &page.next {
        Some(next) => println!("more: qis addresses --cursor {next}"),
        None if page.addresses.is_empty() => println!("(no addresses)"),
        None => {}
    }
    Ok(())
}

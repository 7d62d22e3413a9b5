//! `qis query`: the packets at a problem's address, or nearest a text, with filters.

use anyhow::Result;

use super::selector::Selector;
use super::show;
use crate::config::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    selector: Selector,
    /// One JSON object per hit: {"score": …, "packet": {…}}.
    #[arg(long)]
    json: bool,
}

pub async fn run(global: &Global, args: Args) -> Result<()> {
    let (hits, _) = args.selector.select(global, None).await?;
    if args.json {
        for h in &hits {
            println!(
                "{}",
                serde_json::json!({"score": h.score, "packet": serde_json::to_value(&*h.packet)?})
            );
        }
    } else {
        show::hits(&hits);
        eprintln!("{} packets", hits.len());
    }
    Ok(())
}

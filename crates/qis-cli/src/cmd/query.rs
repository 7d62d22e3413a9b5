//! `qis query`: the packets at a problem's address, or nearest a text, with filters.

use anyhow::Result;
use qis::router::Router;

use super::selector::Selector;
use super::show;
use crate::config::Global;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    selector: Selector,
    /// One JSON object per hit: {"score": …, "packet": {…}}.
    #[arg(long)]
    json: bool,
}

pub async fn run(global: &Global, args: Args) -> Result<()> {
    let file = global.file()?;
    let dir = global.data_dir(&file);
    let query = args.selector.query(&file, &dir)?;
    let router = store::open(&dir).await?;
    let hits = router.query(&query).await?;
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

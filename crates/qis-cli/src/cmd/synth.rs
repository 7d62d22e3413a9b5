//! `qis synth`: query, then synthesize locally.

use anyhow::Result;
use qis::synth::{Method, Options, PerAgent};

use super::selector::Selector;
use super::show;
use crate::config::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    selector: Selector,
    /// frequency (the seed's), weighted, or bayesian.
    #[arg(long, default_value = "weighted", value_parser = parse_method)]
    method: Method,
    /// How an agent's several packets count: split (one vote shared), newest, or all.
    #[arg(long, default_value = "split", value_parser = parse_per_agent)]
    per_agent: PerAgent,
    /// Use only packets signed by their agent's key in this key ring (TOML, `agent = "<public
    /// key hex>"` per line, as `qis keygen` prints): unsigned and forged packets are left out.
    #[arg(long, value_name = "FILE")]
    agent_keys: Option<std::path::PathBuf>,
    /// Print the insight as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_method(s: &str) -> Result<Method, String> {
    s.parse().map_err(|e: qis::Error| e.to_string())
}

fn parse_per_agent(s: &str) -> Result<PerAgent, String> {
    s.parse().map_err(|e: qis::Error| e.to_string())
}

pub async fn run(global: &Global, args: Args) -> Result<()> {
    let (hits, dropped) = args
        .selector
        .select(global, args.agent_keys.as_deref())
        .await?;
    if dropped > 0 {
        eprintln!("left out {dropped} packets without a valid signature of their agent");
    }
    let options = Options {
        per_agent: args.per_agent,
        ..Options::default()
    };
    let insight = args.method.synthesizer(options).synthesize(&hits);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&insight)?);
    } else {
        show::insight(&insight);
    }
    Ok(())
}

//! `qis deposit`: distil an outcome into a packet and deposit it in the store.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use qis::node::Observation;
use qis::packet::{Outcome, ResultValue};

use qis::setup::Problem;

use super::agent::AgentArgs;
use super::fingerprint::parse_context;
use super::selector::{parse_confidence, parse_span};
use crate::config::Global;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The problem's domain.
    #[arg(long)]
    domain: String,
    /// The problem's context (JSON object); it never leaves this process, only its address does.
    #[arg(long)]
    context: String,
    /// What happened: resolved, partial, contradicted or open.
    #[arg(long, value_parser = parse_outcome)]
    outcome: Outcome,
    /// How confident you are, 0–1.
    #[arg(long, value_parser = parse_confidence)]
    confidence: f32,
    /// A result entry NAME=VALUE (number, true/false, or text); repeat for more.
    #[arg(long = "result", value_name = "NAME=VALUE", value_parser = parse_result)]
    results: Vec<(String, ResultValue)>,
    /// What changed, at most 200 characters.
    #[arg(long, default_value = "")]
    summary: String,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Share the problem text: it is embedded, so peers find the packet by meaning.
    #[arg(long)]
    problem: Option<String>,
    /// Expire after this long: 500ms, 90s, 30m, 12h, 7d.
    #[arg(long, value_parser = parse_span, allow_hyphen_values = true)]
    ttl: Option<u64>,
    /// Print the receipt as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    who: AgentArgs,
}

fn parse_outcome(s: &str) -> Result<Outcome, String> {
    s.parse().map_err(|e: qis::Error| e.to_string())
}

/// `name=1.5` → number, `name=true` → flag, anything else → text.
fn parse_result(s: &str) -> Result<(String, ResultValue), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))?;
    let value = match (value.parse::<f64>(), value.parse::<bool>()) {
        (Ok(x), _) if x.is_finite() => ResultValue::Number(x),
        (_, Ok(b)) => ResultValue::Bool(b),
        _ => ResultValue::Text(value.to_owned()),
    };
    Ok((name.to_owned(), value))
}

pub async fn run(global: &Global, args: Args) -> Result<()> {
    let settings = args.who.settings(global)?;
    let Some(agent) = settings.agent.clone() else {
        bail!("say who you are: --agent ID, QIS_AGENT, or `agent` in qis.toml");
    };
    let problem = Problem::Context {
        domain: args.domain,
        context: parse_context(&args.context)?,
    };
    let opened = store::open_router(&settings.router_spec()).await?;
    let qis = settings.open_with(opened.router)?;
    let mut observation = Observation::new(args.outcome, args.confidence)
        .summary(args.summary)
        .results(args.results.into_iter().collect());
    for tag in args.tags {
        observation = observation.tag(tag);
    }
    if let Some(ttl) = args.ttl {
        observation = observation.ttl(Duration::from_millis(ttl));
    }
    if let Some(problem) = args.problem {
        observation = observation.problem(problem);
    }
    let receipt = qis
        .deposit(&agent, &problem, observation)
        .await
        .context("deposit refused")?;
    if args.json {
        println!("{}", serde_json::to_string(&receipt)?);
    } else if receipt.stored {
        println!("stored {} at {}", receipt.id, receipt.address);
    } else {
        println!("already stored: {} at {}", receipt.id, receipt.address);
    }
    Ok(())
}

//! `qis deposit`: distil an outcome into a packet and deposit it in the store.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use qis::node::Observation;
use qis::packet::{Outcome, ResultValue};

use super::fingerprint::{FingerprintArgs, parse_context};
use super::remote::RemoteArgs;
use super::selector::parse_span;
use crate::config::Global;
use crate::store::{self, EmbedderKind};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The problem's domain.
    #[arg(long)]
    domain: String,
    /// The problem's context (JSON object); it never leaves this process, only its address does.
    #[arg(long)]
    context: String,
    #[command(flatten)]
    fingerprint: FingerprintArgs,
    /// What happened: resolved, partial, contradicted or open.
    #[arg(long, value_parser = parse_outcome)]
    outcome: Outcome,
    /// How confident you are, 0–1.
    #[arg(long)]
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
    #[arg(long, value_parser = parse_span)]
    ttl: Option<u64>,
    /// Your agent id [default: `agent` in qis.toml].
    #[arg(long, env = "QIS_AGENT")]
    agent: Option<String>,
    /// The embedder for --problem [default: the best this build has].
    #[arg(long, value_enum)]
    embedder: Option<EmbedderKind>,
    /// Sign the packet with this agent's secret key (a file written by `qis keygen`).
    #[arg(long, env = "QIS_SIGNING_KEY", value_name = "FILE")]
    signing_key: Option<std::path::PathBuf>,
    /// Print the receipt as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
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
    // qis.toml, with these flags on top.
    let mut settings = global.file()?;
    settings.agent = args.agent.clone().or(settings.agent);
    if settings.agent.is_none() {
        bail!("say who you are: --agent ID, QIS_AGENT, or `agent` in qis.toml");
    }
    settings.router = Some(args.remote.spec(global, &settings)?);
    settings.fingerprint = args.fingerprint.spec(&settings)?;
    if let Some(kind) = args.embedder {
        settings.embedder = Some(kind.into());
    }
    if let Some(path) = &args.signing_key {
        settings.signing_key = Some(path.clone());
    }
    let context = parse_context(&args.context)?;
    let opened = store::open_router(&settings.router_spec()).await?;
    let qis = settings.open_with(opened.router)?;
    let mut node = qis.node()?;
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
        node = node.with_embedder(qis.embedder()?);
        observation = observation.problem(problem);
    }
    let receipt = node
        .deposit(&args.domain, &context, observation)
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

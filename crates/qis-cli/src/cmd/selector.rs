//! What `qis query` and `qis synth` select: an address (given, or from a problem), or a text's
//! nearest neighbours, narrowed by filters.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use qis::packet::{Address, Millis, Outcome, now_ms};
use qis::router::url::parse_duration;
use qis::router::{Filter, Hits};
use qis::setup::{Look, Selection};

use super::fingerprint::{FingerprintArgs, parse_context};
use super::remote::RemoteArgs;
use crate::config::{FileConfig, Global};
use crate::store::{self, EmbedderKind};

/// Filters shared by every query.
#[derive(Debug, Clone, clap::Args)]
pub struct FilterArgs {
    /// Only packets carrying one of these tags (repeat the flag for more).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only packets at least this confident (0–1).
    #[arg(long, value_name = "C", value_parser = parse_confidence)]
    pub min_confidence: Option<f32>,
    /// Only these outcomes: resolved, partial, contradicted, open (repeatable).
    #[arg(long = "outcome", value_name = "OUTCOME", value_parser = parse_outcome)]
    pub outcomes: Vec<Outcome>,
    /// Only packets created since: ms since the epoch, or a span ago such as 30m, 12h, 7d.
    #[arg(long, value_name = "WHEN", value_parser = parse_since, allow_hyphen_values = true)]
    pub since: Option<Millis>,
    /// Never packets from this agent (repeatable).
    #[arg(long = "exclude-agent", value_name = "AGENT")]
    pub exclude_agents: Vec<String>,
}

impl FilterArgs {
    /// The filter, with an optional domain.
    pub fn filter(&self, domain: Option<&str>) -> Filter {
        Filter {
            domain: domain.map(str::to_owned),
            tags_any: self.tags.clone(),
            min_confidence: self.min_confidence,
            outcomes: self.outcomes.clone(),
            since: self.since,
            exclude_agents: self.exclude_agents.clone(),
        }
    }
}

fn parse_outcome(s: &str) -> Result<Outcome, String> {
    s.parse().map_err(|e: qis::Error| e.to_string())
}

/// A confidence: a number from 0 to 1.
pub fn parse_confidence(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(c) if c.is_finite() && (0.0..=1.0).contains(&c) => Ok(c),
        Ok(_) => Err(format!("must be a number from 0 to 1, got {s}")),
        Err(_) => Err(format!("expected a number from 0 to 1, got {s:?}")),
    }
}

/// `1795600000000` (ms since the epoch) or a span ago: `90s`, `30m`, `12h`, `7d` (see [`parse_span`]).
pub fn parse_since(s: &str) -> Result<Millis, String> {
    if let Ok(ms) = s.parse::<u64>() {
        return Ok(ms);
    }
    let ago = parse_span(s)?;
    Ok(now_ms().saturating_sub(ago))
}

/// A span such as `500ms`, `90s`, `30m`, `12h`, `7d`, in ms: the library's duration syntax
/// ([`parse_duration`], as in router URLs), for clap.
pub fn parse_span(s: &str) -> Result<u64, String> {
    if s.starts_with('-') {
        return Err(format!(
            "must not be negative: a span such as 500ms, 90s or 7d, got {s:?}"
        ));
    }
    let span = parse_duration(s).ok_or_else(|| {
        format!(
            "expected a whole number with a unit of ms, s, m, h or d (such as 500ms, 90s, 7d), \
             got {s:?}"
        )
    })?;
    Ok(u64::try_from(span.as_millis()).unwrap_or(u64::MAX))
}

/// What to look for.
#[derive(Debug, Clone, clap::Args)]
pub struct Selector {
    /// The problem's domain: with --context it names the problem; always a filter.
    #[arg(long)]
    pub domain: Option<String>,
    /// The problem's context (JSON object): query the address it fingerprints to.
    #[arg(long, conflicts_with_all = ["address", "text"])]
    pub context: Option<String>,
    /// Query this address (hex) directly.
    #[arg(long, conflicts_with = "text")]
    pub address: Option<String>,
    /// A problem text: the packets nearest it in meaning.
    #[arg(long)]
    pub text: Option<String>,
    #[command(flatten)]
    pub fingerprint: FingerprintArgs,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// At most this many packets (the top k for --text).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// --text only: no packet less similar than this (cosine, -1 to 1).
    #[arg(long)]
    pub min_score: Option<f32>,
    /// At most this many packets from one agent: its newest (or, for --text, its nearest).
    #[arg(long)]
    pub max_per_agent: Option<usize>,
    /// The embedder for --text [default: the best this build has]; with --remote, the node
    /// embeds the text.
    #[arg(long, value_enum)]
    pub embedder: Option<EmbedderKind>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

impl Selector {
    /// The settings: qis.toml with these flags on top (router, fingerprint, embedder).
    pub fn settings(&self, global: &Global) -> Result<FileConfig> {
        let mut settings = global.file()?;
        settings.router = Some(self.remote.spec(global, &settings)?);
        settings.fingerprint = self.fingerprint.spec(&settings)?;
        if let Some(kind) = self.embedder {
            settings.embedder = Some(kind.into());
        }
        Ok(settings)
    }

    /// The selection these flags describe.
    pub fn selection(&self) -> Result<Selection> {
        let target = match (&self.text, &self.address, &self.context) {
            (Some(text), _, _) => Look::Text(text.clone()),
            (None, Some(hex), _) => Look::Address(Address::from_hex(hex).context("--address")?),
            (None, None, Some(context)) => {
                let Some(domain) = &self.domain else {
                    bail!("--context needs --domain: a problem is a domain and a context");
                };
                Look::Problem {
                    domain: domain.clone(),
                    context: parse_context(context)?,
                }
            }
            (None, None, None) => {
                bail!("say what to query: --context (with --domain), --address or --text")
            }
        };
        if self.min_score.is_some() && !matches!(target, Look::Text(_)) {
            bail!("--min-score only applies to --text queries");
        }
        let mut selection = Selection::new(target);
        selection.filter = self.filters.filter(self.domain.as_deref());
        selection.limit = self.limit;
        selection.min_score = self.min_score;
        selection.max_per_agent = self.max_per_agent;
        Ok(selection)
    }

    /// Opens the façade the settings name (with `agent_keys` for verified-only reads) and
    /// answers the selection: the hits, and how many unverified ones were left out.
    pub async fn select(&self, global: &Global, agent_keys: Option<&Path>) -> Result<(Hits, u64)> {
        let mut settings = self.settings(global)?;
        if let Some(path) = agent_keys {
            settings.agent_keys = Some(path.to_owned());
        }
        let selection = self.selection()?;
        let opened = store::open_router(&settings.router_spec()).await?;
        let qis = settings.open_with(opened.router)?;
        Ok(qis.select(&selection, agent_keys.is_some()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_is_the_library_duration_in_ms() {
        assert_eq!(parse_span("500ms"), Ok(500));
        assert_eq!(parse_span("90s"), Ok(90_000));
        assert_eq!(parse_span("30m"), Ok(1_800_000));
        assert_eq!(parse_span("12h"), Ok(43_200_000));
        assert_eq!(parse_span("7d"), Ok(604_800_000));
        for bad in ["", "5", "s", "5x", "x5s", "1.5s"] {
            let e = parse_span(bad).unwrap_err();
            assert!(e.contains("ms, s, m, h or d"), "{bad:?}: {e}");
        }
        let e = parse_span("-5s").unwrap_err();
        assert!(e.contains("must not be negative"), "{e}");
    }
}

//! The three policies, how `qis` agents route and synthesize, and the one decision rule they share.
//!
//! Every agent decides by **Thompson sampling**: for each option it draws a success rate from a
//! Beta(1 + successes, 1 + failures) belief and picks the highest draw. The policies differ only in
//! which successes and failures feed that belief:
//!
//! - [`Policy::Isolated`] — the agent's own outcomes in this context.
//! - [`Policy::Qis`] — its own outcomes plus the evidence its peers' packets give: before acting, it
//!   consults the address of (context, option) for every option through a real
//!   [`Node`](qis::node::Node), excluding its own packets (it already counts those), and turns each
//!   [`Insight`] into pseudo-counts (see [`evidence`]).
//! - [`Policy::Central`] — every outcome any agent has observed in this context, pooled: the
//!   upper bound of what sharing could give.
//!
//! With no peers, a `qis` agent's belief is exactly an isolated agent's.

use std::fmt;
use std::str::FromStr;

use qis::synth::{FieldInsight, Insight, Method, PerAgent};

/// Who an agent learns from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Policy {
    /// Only its own outcomes.
    Isolated,
    /// Its own outcomes and its peers' packets, through qis.
    Qis,
    /// A pooled oracle that sees every outcome.
    Central,
}

impl Policy {
    /// All policies, in report order.
    pub const ALL: [Policy; 3] = [Policy::Isolated, Policy::Qis, Policy::Central];

    /// The policy's name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Policy::Isolated => "isolated",
            Policy::Qis => "qis",
            Policy::Central => "central",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How `qis` agents find their peers' packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Routing {
    /// The exact address of (context, option) under a `fields` fingerprint: a hash-map lookup.
    Exact,
    /// The nearest packets to the problem text's vector (hashed n-gram embedder), restricted to the
    /// option by a tag filter: neighbouring contexts count too, weighed by similarity.
    Vector,
}

impl Routing {
    /// Both routings.
    pub const ALL: [Routing; 2] = [Routing::Exact, Routing::Vector];

    /// The routing's name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Routing::Exact => "exact",
            Routing::Vector => "vector",
        }
    }
}

impl fmt::Display for Routing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Routing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Routing::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("routing must be exact or vector, got {s:?}"))
    }
}

/// How `qis` agents use the library.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QisConfig {
    /// The synthesis method.
    pub method: Method,
    /// Exact or vector routing.
    pub routing: Routing,
    /// How an agent's several packets count (default: one vote per agent, split).
    pub per_agent: PerAgent,
    /// The feedback loop: after acting, re-deposit the synthesized insight (`Node::close_loop`).
    pub feedback: bool,
    /// Packets pulled per consultation (the library's default is 50).
    pub limit: usize,
    /// At most this many of them from one agent (`None`: any number; the library's default is
    /// [`DEFAULT_MAX_PER_AGENT`](qis::router::DEFAULT_MAX_PER_AGENT)).
    pub max_per_agent: Option<usize>,
    /// Each node learns how far to trust each peer and weighs its packets by it
    /// (`Node::with_trust`).
    pub trust: bool,
    /// The confidence honest agents give their packets (dishonest ones claim 1.0).
    pub honest_confidence: f32,
}

impl Default for QisConfig {
    fn default() -> Self {
        QisConfig {
            method: Method::Bayesian,
            routing: Routing::Exact,
            per_agent: PerAgent::Split,
            feedback: false,
            limit: qis::router::DEFAULT_LIMIT,
            max_per_agent: Some(qis::router::DEFAULT_MAX_PER_AGENT),
            trust: false,
            honest_confidence: 0.8,
        }
    }
}

/// The evidence an insight gives about one option, as (successes, failures) pseudo-counts.
///
/// - `bayesian`: the posterior's α − 1 and β − 1, i.e. the vote weights (share of the agent's vote
///   × confidence × similarity) of resolved and contradicted packets.
/// - `weighted`: the weighted mean of the `success` field times the number of agents voting.
/// - `frequency`: the consensus rate of the winning `success` value (turned into a success share)
///   times the number of agents voting.
///
/// So with one vote per agent, each peer adds at most one pseudo-outcome per option, however many
/// packets it deposited.
pub fn evidence(method: Method, insight: &Insight) -> (f64, f64) {
    let agents = insight.agents as f64;
    match method {
        Method::Bayesian => insight
            .success
            .map_or((0.0, 0.0), |s| (s.alpha - 1.0, s.beta - 1.0)),
        Method::Weighted => match insight.fields.get("success") {
            Some(FieldInsight::Numeric { mean, .. }) => (mean * agents, (1.0 - mean) * agents),
            _ => (0.0, 0.0),
        },
        Method::Frequency => {
            let winner = insight
                .best
                .as_ref()
                .and_then(|b| b.get("success"))
                .and_then(|v| v.as_f64());
            match (winner, insight.consensus_rate) {
                (Some(v), Some(rate)) => {
                    let share = if v >= 0.5 { rate } else { 1.0 - rate };
                    (share * agents, (1.0 - share) * agents)
                }
                _ => (0.0, 0.0),
            }
        }
    }
}

//! The measures: a mean with its confidence interval, and one row type per experiment.

use qis::synth::{Method, PerAgent};

use crate::policy::{Policy, Routing};

/// A mean over replicates and its 95 % confidence half-width (NaN with one replicate).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    /// Mean of the replicates' values.
    pub mean: f64,
    /// 1.96 standard errors.
    pub ci: f64,
}

impl Stat {
    pub(super) fn of(values: &[f64]) -> Stat {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let ci = if values.len() < 2 {
            f64::NAN
        } else {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
            1.96 * (var / n).sqrt()
        };
        Stat { mean, ci }
    }
}

/// One point of regret versus N.
#[derive(Clone, Debug, PartialEq)]
pub struct RegretRow {
    /// N.
    pub agents: usize,
    /// The policy.
    pub policy: Policy,
    /// The synthesis method (`qis` only).
    pub synth: Option<Method>,
    /// Replicates averaged.
    pub replicates: usize,
    /// Expected regret per decision.
    pub regret: Stat,
    /// Share of decisions that chose the best option.
    pub best: Stat,
    /// `qis`: distinct peer agents synthesized per decision (all options consulted).
    pub peer_agents: f64,
    /// `qis`: packets synthesized per decision.
    pub peer_packets: f64,
}

/// One point of the cold-start curve.
#[derive(Clone, Debug, PartialEq)]
pub struct ColdStartRow {
    /// `isolated`, `qis`, `central` (newcomers), or `qis-founders`.
    pub series: &'static str,
    /// Rounds since the agent started.
    pub age: usize,
    /// Mean regret per decision at that age.
    pub regret: f64,
    /// Decisions averaged.
    pub decisions: u64,
}

/// Routing cost for one routing and N.
#[derive(Clone, Debug, PartialEq)]
pub struct RoutingRow {
    /// Exact or vector.
    pub routing: Routing,
    /// N.
    pub agents: usize,
    /// Rounds simulated.
    pub rounds: usize,
    /// Queries per decision (one per option).
    pub queries_per_decision: f64,
    /// Packets returned per query.
    pub hits_per_query: f64,
    /// Bytes (MessagePack) returned per query.
    pub bytes_per_query: f64,
    /// Stored packets the router looked at per query.
    pub examined_per_query: f64,
    /// Packets stored at the end.
    pub packets_stored: u64,
    /// Bytes each agent deposited over the run.
    pub deposited_per_agent: f64,
    /// Bytes each agent received over the run.
    pub received_per_agent: f64,
    /// Regret per decision of these `qis` agents.
    pub regret: f64,
    /// Regret per decision of the central oracle in the same worlds and rounds.
    pub central_regret: f64,
    /// Wall-clock nanoseconds per query (not deterministic).
    pub nanos_per_query: f64,
}

/// Honest agents' regret with a share of dishonest agents.
#[derive(Clone, Debug, PartialEq)]
pub struct DishonestRow {
    /// Share of dishonest agents.
    pub dishonest: f64,
    /// The policy.
    pub policy: Policy,
    /// The synthesis method (`qis` only).
    pub synth: Option<Method>,
    /// Honest agents' regret per decision.
    pub regret: Stat,
    /// Honest agents' share of best choices.
    pub best: Stat,
}

/// One flooding agent against the swarm.
#[derive(Clone, Debug, PartialEq)]
pub struct FloodRow {
    /// How an agent's packets count.
    pub per_agent: PerAgent,
    /// At most this many packets of one agent per consultation (`None`: any number).
    pub max_per_agent: Option<usize>,
    /// Flood packets per round per option address.
    pub flood: usize,
    /// Regret per decision in the flooded context.
    pub flooded_regret: Stat,
    /// Share of best choices in the flooded context, second half of the run.
    pub flooded_best_late: Stat,
    /// Regret per decision over every context.
    pub regret: Stat,
}

/// The feedback loop on or off.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedbackRow {
    /// N.
    pub agents: usize,
    /// The synthesis method.
    pub synth: Method,
    /// Whether agents re-deposit their synthesis.
    pub feedback: bool,
    /// Regret per decision.
    pub regret: Stat,
    /// Packets each agent deposited.
    pub packets_per_agent: f64,
    /// Bytes each agent deposited and received.
    pub bytes_per_agent: f64,
    /// Derived packets synthesis left out (already counted) per consultation.
    pub skipped_per_query: f64,
    /// Packets synthesized per decision.
    pub peer_packets: f64,
}

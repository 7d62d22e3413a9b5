//! What a sweep measured: rows per experiment, the stdout table and the CSV files.
//!
//! Everything here is a function of the sweep's seed, except `timing.csv` (wall-clock time per
//! query), which is kept apart for that reason.

use qis::synth::PerAgent;

use crate::sweep::SweepConfig;

mod aggregate;
mod csv;
mod rows;
mod table;

pub use rows::{ColdStartRow, DishonestRow, FeedbackRow, FloodRow, RegretRow, RoutingRow, Stat};

/// Everything a sweep measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The sweep's settings.
    pub config: SweepConfig,
    /// Regret per decision of a random choice, averaged over the replicate-0 world.
    pub random_regret: f64,
    /// Regret versus N.
    pub regret: Vec<RegretRow>,
    /// The cold-start curve.
    pub cold_start: Vec<ColdStartRow>,
    /// Newcomers' first consultation: distinct peers synthesized (all options), by policy `qis`.
    pub newcomer_first_peers: f64,
    /// Routing cost.
    pub routing: Vec<RoutingRow>,
    /// Dishonest agents.
    pub dishonest: Vec<DishonestRow>,
    /// Flooding.
    pub flood: Vec<FloodRow>,
    /// The feedback loop.
    pub feedback: Vec<FeedbackRow>,
}

/// `split`, `newest` or `all` ([`PerAgent::as_str`]).
pub fn per_agent_str(p: PerAgent) -> &'static str {
    p.as_str()
}

/// A cap on packets per agent: its number, or `none`.
pub fn cap_str(cap: Option<usize>) -> String {
    cap.map_or_else(|| "none".to_owned(), |m| m.to_string())
}

//! The tools' arguments: Rust types whose doc comments become the JSON Schemas an LLM reads.
//!
//! Every value is checked by the library (outcome names, confidence ranges, tag counts, packet
//! size); these types only say what a call may carry. An argument no schema names is refused
//! by name (the tools check every key against their schema).

use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Which problem a call is about: a domain with a context, or a problem in words.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ProblemArgs {
    /// The kind of problem, a short name shared by every agent that meets it, such as
    /// "clinical_trial" or "db_ops" (1–64 bytes).
    pub domain: Option<String>,
    /// The problem's situation as named fields, such as {"condition": "T2D", "stage": 2}. It is
    /// turned into an address inside qis and is never stored or shared. Give `context` or
    /// `problem`.
    pub context: Option<Map<String, Value>>,
    /// The problem in a sentence, such as "connection pool exhausted under peak load". Unlike
    /// `context` this text IS shared with peers, who find it by meaning. Give `context` or
    /// `problem` (or both when depositing: the context addresses, the text is shared).
    pub problem: Option<String>,
}

/// `deposit_outcome`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DepositArgs {
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub problem: ProblemArgs,
    /// What happened: "resolved" (it worked), "partial", "contradicted" (it did not work) or
    /// "open" (no verdict yet).
    #[schemars(extend("enum" = ["resolved", "partial", "contradicted", "open"]))]
    pub outcome: String,
    /// How sure you are of this outcome, from 0 to 1.
    pub confidence: f32,
    /// What you did or found, as up to 16 named values (numbers, short texts, true/false), such
    /// as {"protocol": "once_weekly", "hba1c_drop": 1.2}. Peers synthesize these.
    pub result: Option<Map<String, Value>>,
    /// One line on what changed, at most 200 characters.
    pub summary: Option<String>,
    /// Up to 8 short tags for filtering, such as ["glp1", "elderly"].
    pub tags: Option<Vec<String>>,
    /// Let the outcome expire after this long: "90s", "30m", "12h", "7d".
    pub ttl: Option<String>,
}

/// `consult` and `query_outcomes`: which packets, and how to narrow them.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct SelectArgs {
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub problem: ProblemArgs,
    /// An address (hex, as a receipt or a packet shows it) instead of a problem.
    pub address: Option<String>,
    /// Only packets with at least one of these tags.
    pub tags_any: Option<Vec<String>>,
    /// Only packets at least this confident (0–1).
    pub min_confidence: Option<f32>,
    /// Only these outcomes ("resolved", "partial", "contradicted", "open").
    pub outcomes: Option<Vec<String>>,
    /// Only packets created this recently: "30m", "12h", "7d".
    pub within: Option<String>,
    /// Leave out your own packets (default false).
    pub exclude_self: Option<bool>,
    /// At most this many packets (default 50, at most 1000).
    pub limit: Option<usize>,
    /// Problem texts only: no packet less similar than this (cosine, -1 to 1).
    pub min_score: Option<f32>,
    /// At most this many packets from one agent (its newest, or its nearest for a problem
    /// text), so that no agent fills the answer.
    pub max_per_agent: Option<usize>,
    /// Use only packets carrying their agent's valid signature (needs agents' keys).
    pub verified_only: Option<bool>,
}

/// `consult`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ConsultArgs {
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub select: SelectArgs,
    /// How packets are combined: "weighted" (default; confidence, similarity and recency weigh
    /// each vote), "bayesian" (a success probability with a credible interval) or "frequency"
    /// (the most common whole result).
    #[schemars(extend("enum" = ["weighted", "bayesian", "frequency"]))]
    pub method: Option<String>,
    /// How an agent's several packets count: "split" (default; one vote per agent), "newest"
    /// (only its newest packet) or "all" (every packet a vote).
    #[schemars(extend("enum" = ["split", "newest", "all"]))]
    pub per_agent: Option<String>,
}

/// `query_outcomes`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct QueryArgs {
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub select: SelectArgs,
}

/// `close_loop`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CloseLoopArgs {
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub problem: ProblemArgs,
}

/// `forget`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ForgetArgs {
    /// Your packets to take back, by id (as receipts and packets show them), at most 1000.
    pub ids: Option<Vec<String>>,
    /// Or every packet of yours at this address (hex).
    pub address: Option<String>,
    /// Or, set to true and alone, every packet you ever deposited.
    pub everything: Option<bool>,
}

/// `stats`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct StatsArgs {}

/// The `consult_peers` prompt.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PromptArgs {
    /// The task you are about to act on, in words.
    pub task: String,
    /// Its domain, if you know it.
    pub domain: Option<String>,
}

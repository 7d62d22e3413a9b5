//! Local synthesis: what a node makes of the packets it pulled.
//!
//! Three [`Synthesizer`]s, each giving an explainable [`Insight`]:
//!
//! - [`Frequency`] — the seed's: the most common whole `result`, with `sample_size` and
//!   `consensus_rate`. Ties go to the result seen first, as in the seed.
//! - [`Weighted`] — per result field: a weighted mean and spread for numbers, a weighted vote for
//!   categories; weight = confidence × similarity × recency decay.
//! - [`Bayesian`] — a Beta posterior of success (resolved vs contradicted, partial counts half) and,
//!   per numeric field, a posterior mean with a 95 % credible interval.
//!
//! Before any of them counts, two rules hold (see [`Options`]):
//!
//! 1. **Derived packets never double-count their sources.** A packet made by the feedback loop lists
//!    the original packets it summarises (`derived_from`). It is left out when any of those
//!    originals is present, or when an earlier derived packet already speaks for one of them.
//! 2. **One vote per agent** (by default): an agent's packets share one vote, so a flood of 1,000
//!    packets from one agent weighs what one packet from another agent weighs.
//!
//! Every insight lists the ids of the packets it used.

use std::collections::BTreeMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::time::Duration;

// foldhash: several times faster than SipHash on these short keys, and still seeded per process,
// so peers cannot precompute collisions to slow a node's synthesis down.
use foldhash::{HashMap, HashSet};
use serde::{Deserialize, Serialize};
use statrs::distribution::{Beta, ContinuousCDF, StudentsT};

use crate::error::{Error, Result};
use crate::packet::{Millis, Outcome, PacketId, ResultMap, ResultValue, now_ms};
use crate::router::Hit;

/// The synthesis methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// [`Frequency`].
    Frequency,
    /// [`Weighted`].
    Weighted,
    /// [`Bayesian`].
    Bayesian,
}

impl Method {
    /// All methods.
    pub const ALL: [Method; 3] = [Method::Frequency, Method::Weighted, Method::Bayesian];

    /// The method's name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Frequency => "frequency",
            Method::Weighted => "weighted",
            Method::Bayesian => "bayesian",
        }
    }

    /// A synthesizer of this method with `options`.
    pub fn synthesizer(&self, options: Options) -> Box<dyn Synthesizer> {
        match self {
            Method::Frequency => Box::new(Frequency(options)),
            Method::Weighted => Box::new(Weighted(options)),
            Method::Bayesian => Box::new(Bayesian(options)),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "method",
                    format!("must be frequency, weighted or bayesian, got {s:?}"),
                )
            })
    }
}

/// How an agent's several packets count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PerAgent {
    /// One vote per agent, shared equally among its packets (the default).
    #[default]
    Split,
    /// One vote per agent: only its newest packet counts.
    Newest,
    /// Every packet is a vote (the seed's behaviour; a flood outvotes everyone).
    All,
}

impl PerAgent {
    /// All ways, the default first.
    pub const ALL: [PerAgent; 3] = [PerAgent::Split, PerAgent::Newest, PerAgent::All];

    /// The way's name, as on the wire and the command line: `split`, `newest` or `all`.
    pub fn as_str(&self) -> &'static str {
        match self {
            PerAgent::Split => "split",
            PerAgent::Newest => "newest",
            PerAgent::All => "all",
        }
    }
}

impl fmt::Display for PerAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PerAgent {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        PerAgent::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "per_agent",
                    format!("must be split, newest or all, got {s:?}"),
                )
            })
    }
}

/// Options shared by every method.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Options {
    /// How an agent's several packets count.
    pub per_agent: PerAgent,
    /// Weighted and Bayesian: a packet this old weighs half (`None`: no decay).
    pub half_life: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            per_agent: PerAgent::Split,
            half_life: Some(Duration::from_secs(30 * 24 * 3600)),
        }
    }
}

/// What one result field says across the packets used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FieldInsight {
    /// Every value was a number.
    Numeric {
        /// Weighted mean.
        mean: f64,
        /// Weighted standard deviation.
        spread: f64,
        /// Bayesian: the 95 % credible interval of the mean (needs two or more votes).
        #[serde(skip_serializing_if = "Option::is_none")]
        interval: Option<(f64, f64)>,
        /// How many packets gave this field.
        n: usize,
    },
    /// Text or flags (or a mix): a weighted vote.
    Categorical {
        /// The value with the most weight.
        winner: ResultValue,
        /// Its share of the weight, 0–1.
        share: f64,
        /// Each value's weight, by its display form.
        votes: BTreeMap<String, f64>,
        /// How many packets gave this field.
        n: usize,
    },
}

/// Bayesian: the posterior of "this works" (resolved vs contradicted).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuccessPosterior {
    /// Beta α (1 + weighted successes).
    pub alpha: f64,
    /// Beta β (1 + weighted failures).
    pub beta: f64,
    /// Posterior mean of the success rate.
    pub mean: f64,
    /// 95 % credible interval.
    pub interval: (f64, f64),
}

/// What a node makes of its peers' packets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Insight {
    /// The method that made it.
    pub method: Method,
    /// The best-supported result (`None` when no packet could be used).
    pub best: Option<ResultMap>,
    /// How strongly `best` is supported, 0–1: the consensus rate for `frequency`; for
    /// `weighted` and `bayesian`, the mean confidence of the votes times the mean share of the
    /// winning category of each categorical field.
    pub confidence: f64,
    /// How many packets were used.
    pub sample_size: usize,
    /// How many independent agents they came from.
    pub agents: usize,
    /// `frequency`: the winning result's share of the votes (the seed's `consensus_rate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consensus_rate: Option<f64>,
    /// The outcome with the most weight among the votes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// `weighted` and `bayesian`: per result field.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, FieldInsight>,
    /// `bayesian`: the success posterior.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<SuccessPosterior>,
    /// Derived packets left out because their sources were already counted.
    pub skipped_derived: usize,
    /// The ids of the packets used, in the order given.
    pub used: Vec<PacketId>,
}

impl Insight {
    fn empty(method: Method) -> Self {
        Insight {
            method,
            best: None,
            confidence: 0.0,
            sample_size: 0,
            agents: 0,
            consensus_rate: None,
            outcome: None,
            fields: BTreeMap::new(),
            success: None,
            skipped_derived: 0,
            used: Vec::new(),
        }
    }
}

/// Turns the hits of a query into an [`Insight`].
pub trait Synthesizer: Send + Sync + fmt::Debug {
    /// The method.
    fn method(&self) -> Method;

    /// Synthesizes `hits` as of `now` (ms; recency decay counts from it), each agent's vote
    /// scaled by `weigh(agent)` (0 to 1): how far this node trusts that peer
    /// ([`crate::trust::Trust`]). A vote weighed 0 does not count. A synthesizer that cannot
    /// weigh peers ignores `weigh`.
    fn synthesize_weighing(
        &self,
        hits: &[Hit],
        now: Millis,
        weigh: &dyn Fn(&str) -> f64,
    ) -> Insight;

    /// Synthesizes `hits` as of `now`, every agent's vote whole.
    fn synthesize_at(&self, hits: &[Hit], now: Millis) -> Insight {
        self.synthesize_weighing(hits, now, &whole)
    }

    /// Synthesizes `hits` as of now.
    fn synthesize(&self, hits: &[Hit]) -> Insight {
        self.synthesize_at(hits, now_ms())
    }
}

/// No weighing: every agent's vote counts whole.
fn whole(_: &str) -> f64 {
    1.0
}

/// One counted packet: its index in the hits and its share of its agent's vote.
#[derive(Clone, Copy, Debug)]
struct Vote {
    index: usize,
    share: f64,
}

/// The packets that count, after the derived-packet and one-vote-per-agent rules.
#[derive(Debug)]
struct Selection {
    votes: Vec<Vote>,
    agents: usize,
    skipped_derived: usize,
}

/// Applies the two counting rules (module docs) to `hits`, keeping their order, and scales each
/// agent's votes by `weigh(agent)` (votes weighed 0 are left out).
fn select(hits: &[Hit], per_agent: PerAgent, weigh: &dyn Fn(&str) -> f64) -> Selection {
    // Rule 1: originals always count; a derived packet only if none of its sources is counted yet.
    let any_derived = hits.iter().any(|h| h.packet.is_derived());
    let mut covered: HashSet<PacketId> = if any_derived {
        hits.iter()
            .filter(|h| !h.packet.is_derived())
            .map(|h| h.packet.id())
            .collect()
    } else {
        HashSet::default()
    };
    let mut kept = Vec::with_capacity(hits.len());
    let mut skipped_derived = 0;
    for (index, hit) in hits.iter().enumerate() {
        let sources = hit.packet.derived_from();
        if !sources.is_empty() {
            if sources.iter().any(|s| covered.contains(s)) {
                skipped_derived += 1;
                continue;
            }
            covered.extend(sources.iter().copied());
        }
        kept.push(index);
    }

    // Rule 2: one vote per agent.
    // agent → (count, newest index)
    let mut per: HashMap<&str, (usize, usize)> =
        HashMap::with_capacity_and_hasher(kept.len(), Default::default());
    for &i in &kept {
        let p = &hits[i].packet;
        match per.entry(p.agent()) {
            Entry::Vacant(e) => {
                e.insert((1, i));
            }
            Entry::Occupied(mut e) => {
                let (count, newest) = e.get_mut();
                *count += 1;
                let q = &hits[*newest].packet;
                if (p.created(), p.id()) > (q.created(), q.id()) {
                    *newest = i;
                }
            }
        }
    }
    let mut weights: HashMap<&str, f64> = HashMap::default();
    let votes = kept
        .into_iter()
        .filter_map(|index| {
            let agent = hits[index].packet.agent();
            let (count, newest) = per[agent];
            let w = *weights
                .entry(agent)
                .or_insert_with(|| weigh(agent).clamp(0.0, 1.0));
            if w <= 0.0 {
                return None;
            }
            match per_agent {
                PerAgent::All => Some(Vote { index, share: w }),
                PerAgent::Split => Some(Vote {
                    index,
                    share: w / count as f64,
                }),
                PerAgent::Newest => (newest == index).then_some(Vote { index, share: w }),
            }
        })
        .collect();
    Selection {
        votes,
        // The agents that count: those weighed above 0.
        agents: weights.values().filter(|w| **w > 0.0).count(),
        skipped_derived,
    }
}

fn base_insight(method: Method, hits: &[Hit], sel: &Selection) -> Insight {
    let mut insight = Insight::empty(method);
    insight.sample_size = sel.votes.len();
    insight.agents = sel.agents;
    insight.skipped_derived = sel.skipped_derived;
    insight.used = sel
        .votes
        .iter()
        .map(|v| hits[v.index].packet.id())
        .collect();
    insight
}

/// The outcome with the most weight (ties: the earlier in [`Outcome::ALL`]).
fn leading_outcome(weighted: impl IntoIterator<Item = (Outcome, f64)>) -> Option<Outcome> {
    let mut totals = [None::<f64>; 4];
    for (outcome, w) in weighted {
        *totals[outcome as usize].get_or_insert(0.0) += w;
    }
    let mut best: Option<(usize, f64)> = None;
    for (i, total) in totals.iter().enumerate() {
        if let Some(t) = *total
            && best.is_none_or(|(_, b)| t > b)
        {
            best = Some((i, t));
        }
    }
    best.map(|(i, _)| Outcome::ALL[i])
}

/// A `result` map hashed and compared by value (numbers by their bits).
struct ResultKey<'a>(&'a ResultMap);

impl Hash for ResultKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.0.len());
        for (k, v) in self.0 {
            k.hash(state);
            match v {
                ResultValue::Number(x) => {
                    state.write_u8(0);
                    state.write_u64(if *x == 0.0 { 0 } else { x.to_bits() });
                }
                ResultValue::Text(s) => {
                    state.write_u8(1);
                    s.hash(state);
                }
                ResultValue::Bool(b) => {
                    state.write_u8(2);
                    b.hash(state);
                }
            }
        }
    }
}
impl PartialEq for ResultKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for ResultKey<'_> {}

/// The seed's synthesis: the most common whole `result`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Frequency(pub Options);

impl Synthesizer for Frequency {
    fn method(&self) -> Method {
        Method::Frequency
    }

    fn synthesize_weighing(
        &self,
        hits: &[Hit],
        _now: Millis,
        weigh: &dyn Fn(&str) -> f64,
    ) -> Insight {
        let sel = select(hits, self.0.per_agent, weigh);
        let mut insight = base_insight(Method::Frequency, hits, &sel);
        if sel.votes.is_empty() {
            return insight;
        }
        // result → (votes, first position); ties go to the first seen, as in the seed.
        let mut counts: HashMap<ResultKey<'_>, (f64, usize)> =
            HashMap::with_capacity_and_hasher(sel.votes.len(), Default::default());
        let mut total = 0.0;
        for (order, v) in sel.votes.iter().enumerate() {
            total += v.share;
            counts
                .entry(ResultKey(hits[v.index].packet.result()))
                .or_insert((0.0, order))
                .0 += v.share;
        }
        let (best, (votes, _)) = counts
            .into_iter()
            .max_by(|a, b| a.1.0.total_cmp(&b.1.0).then_with(|| b.1.1.cmp(&a.1.1)))
            .expect("at least one vote");
        insight.best = Some(best.0.clone());
        let rate = votes / total;
        insight.consensus_rate = Some(rate);
        insight.confidence = rate;
        insight.outcome = leading_outcome(
            sel.votes
                .iter()
                .map(|v| (hits[v.index].packet.outcome(), v.share)),
        );
        insight
    }
}

/// Per-field weighted synthesis: weight = confidence × similarity × recency.
#[derive(Clone, Copy, Debug, Default)]
pub struct Weighted(pub Options);

/// Bayesian synthesis: success posterior and credible intervals.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bayesian(pub Options);

/// A vote's weight for `weighted` and `bayesian`.
fn weight(options: &Options, hit: &Hit, vote: &Vote, now: Millis) -> f64 {
    let similarity = (hit.score as f64).clamp(0.0, 1.0);
    let recency = match options.half_life {
        Some(h) if !h.is_zero() => {
            let age = now.saturating_sub(hit.packet.created()) as f64;
            0.5f64.powf(age / h.as_millis() as f64)
        }
        _ => 1.0,
    };
    vote.share * hit.packet.confidence() as f64 * similarity * recency
}

/// Weighted per-field statistics shared by `weighted` and `bayesian`.
fn field_insights(
    hits: &[Hit],
    votes: &[Vote],
    weights: &[f64],
    with_interval: bool,
) -> BTreeMap<String, FieldInsight> {
    let mut by_field: BTreeMap<&str, Vec<(&ResultValue, f64)>> = BTreeMap::new();
    for (v, &w) in votes.iter().zip(weights) {
        for (k, value) in hits[v.index].packet.result() {
            by_field.entry(k).or_default().push((value, w));
        }
    }
    let mut out = BTreeMap::new();
    for (name, values) in by_field {
        let n = values.len();
        let numeric: Option<Vec<(f64, f64)>> = values
            .iter()
            .map(|(v, w)| v.as_f64().map(|x| (x, *w)))
            .collect();
        let insight = match numeric {
            Some(xs) => numeric_insight(&xs, with_interval),
            None => {
                let mut votes: BTreeMap<String, f64> = BTreeMap::new();
                let mut first: HashMap<String, &ResultValue> = HashMap::default();
                let mut order: Vec<String> = Vec::new();
                for (value, w) in &values {
                    let label = match value {
                        ResultValue::Text(s) => s.clone(),
                        other => other.to_string(),
                    };
                    if !first.contains_key(&label) {
                        first.insert(label.clone(), value);
                        order.push(label.clone());
                    }
                    *votes.entry(label).or_default() += w;
                }
                let total: f64 = votes.values().sum();
                // Ties go to the value seen first.
                let winner = order
                    .iter()
                    .fold(None::<&String>, |best, l| match best {
                        Some(b) if votes[b] >= votes[l] => Some(b),
                        _ => Some(l),
                    })
                    .expect("at least one value");
                FieldInsight::Categorical {
                    winner: first[winner].clone(),
                    share: if total > 0.0 {
                        votes[winner] / total
                    } else {
                        0.0
                    },
                    votes,
                    n,
                }
            }
        };
        out.insert(name.to_owned(), insight);
    }
    out
}

fn numeric_insight(xs: &[(f64, f64)], with_interval: bool) -> FieldInsight {
    let n = xs.len();
    let sum_w: f64 = xs.iter().map(|(_, w)| w).sum();
    let (mean, variance) = if sum_w > 0.0 {
        let mean = xs.iter().map(|(x, w)| x * w).sum::<f64>() / sum_w;
        let var = xs.iter().map(|(x, w)| w * (x - mean).powi(2)).sum::<f64>() / sum_w;
        (mean, var)
    } else {
        let mean = xs.iter().map(|(x, _)| x).sum::<f64>() / n as f64;
        let var = xs.iter().map(|(x, _)| (x - mean).powi(2)).sum::<f64>() / n as f64;
        (mean, var)
    };
    let interval = with_interval
        .then(|| credible_interval(xs, mean, variance))
        .flatten();
    FieldInsight::Numeric {
        mean,
        spread: variance.sqrt(),
        interval,
        n,
    }
}

/// 95 % interval of the mean: Student-t with the weights' effective sample size
/// (the posterior of a normal mean under the reference prior).
fn credible_interval(xs: &[(f64, f64)], mean: f64, variance: f64) -> Option<(f64, f64)> {
    let sum_w: f64 = xs.iter().map(|(_, w)| w).sum();
    let sum_w2: f64 = xs.iter().map(|(_, w)| w * w).sum();
    if sum_w <= 0.0 || sum_w2 <= 0.0 {
        return None;
    }
    let n_eff = sum_w * sum_w / sum_w2;
    if n_eff <= 1.0 + 1e-9 {
        return None;
    }
    let s2 = variance * n_eff / (n_eff - 1.0);
    let se = (s2 / n_eff).sqrt();
    let t = StudentsT::new(0.0, 1.0, n_eff - 1.0)
        .ok()?
        .inverse_cdf(0.975);
    Some((mean - t * se, mean + t * se))
}

fn weighted_common(
    method: Method,
    options: &Options,
    hits: &[Hit],
    now: Millis,
    weigh: &dyn Fn(&str) -> f64,
) -> (Insight, Vec<Vote>, Vec<f64>) {
    let sel = select(hits, options.per_agent, weigh);
    let mut insight = base_insight(method, hits, &sel);
    let weights: Vec<f64> = sel
        .votes
        .iter()
        .map(|v| weight(options, &hits[v.index], v, now))
        .collect();
    if sel.votes.is_empty() {
        return (insight, sel.votes, weights);
    }
    insight.fields = field_insights(hits, &sel.votes, &weights, method == Method::Bayesian);
    let mut best = ResultMap::new();
    let mut agreement = Vec::new();
    for (name, field) in &insight.fields {
        match field {
            FieldInsight::Numeric { mean, .. } => {
                best.insert(name.clone(), ResultValue::Number(*mean));
            }
            FieldInsight::Categorical { winner, share, .. } => {
                best.insert(name.clone(), winner.clone());
                agreement.push(*share);
            }
        }
    }
    let share_sum: f64 = sel.votes.iter().map(|v| v.share).sum();
    let mean_confidence = sel
        .votes
        .iter()
        .map(|v| v.share * hits[v.index].packet.confidence() as f64)
        .sum::<f64>()
        / share_sum;
    let mean_agreement = if agreement.is_empty() {
        1.0
    } else {
        agreement.iter().sum::<f64>() / agreement.len() as f64
    };
    insight.confidence = (mean_confidence * mean_agreement).clamp(0.0, 1.0);
    insight.best = Some(best);
    insight.outcome = leading_outcome(
        sel.votes
            .iter()
            .zip(&weights)
            .map(|(v, w)| (hits[v.index].packet.outcome(), *w)),
    );
    (insight, sel.votes, weights)
}

impl Synthesizer for Weighted {
    fn method(&self) -> Method {
        Method::Weighted
    }

    fn synthesize_weighing(
        &self,
        hits: &[Hit],
        now: Millis,
        weigh: &dyn Fn(&str) -> f64,
    ) -> Insight {
        weighted_common(Method::Weighted, &self.0, hits, now, weigh).0
    }
}

impl Synthesizer for Bayesian {
    fn method(&self) -> Method {
        Method::Bayesian
    }

    fn synthesize_weighing(
        &self,
        hits: &[Hit],
        now: Millis,
        weigh: &dyn Fn(&str) -> f64,
    ) -> Insight {
        let (mut insight, votes, weights) =
            weighted_common(Method::Bayesian, &self.0, hits, now, weigh);
        let (mut alpha, mut beta) = (1.0, 1.0);
        for (v, w) in votes.iter().zip(&weights) {
            match hits[v.index].packet.outcome() {
                Outcome::Resolved => alpha += w,
                Outcome::Contradicted => beta += w,
                Outcome::Partial => {
                    alpha += w / 2.0;
                    beta += w / 2.0;
                }
                Outcome::Open => {}
            }
        }
        if let Ok(dist) = Beta::new(alpha, beta) {
            insight.success = Some(SuccessPosterior {
                alpha,
                beta,
                mean: alpha / (alpha + beta),
                interval: (dist.inverse_cdf(0.025), dist.inverse_cdf(0.975)),
            });
        }
        insight
    }
}

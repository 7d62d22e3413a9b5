//! What a sweep measured: rows per experiment, the stdout table and the CSV files.
//!
//! Everything here is a function of the sweep's seed, except `timing.csv` (wall-clock time per
//! query), which is kept apart for that reason.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use qis::synth::{Method, PerAgent};

use crate::policy::{Policy, Routing};
use crate::run::{RunResult, Tally};
use crate::sweep::{Experiment, Job, SweepConfig};
use crate::world::{K, World};
use crate::{Error, Result};

/// A mean over replicates and its 95 % confidence half-width (NaN with one replicate).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    /// Mean of the replicates' values.
    pub mean: f64,
    /// 1.96 standard errors.
    pub ci: f64,
}

impl Stat {
    fn of(values: &[f64]) -> Stat {
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

/// Groups `(job, result)` pairs of one experiment by `key`, in order of first appearance.
fn groups<'a, K: PartialEq>(
    pairs: &'a [(&'a Job, &'a RunResult)],
    experiment: Experiment,
    key: impl Fn(&Job) -> K,
) -> Vec<(K, Vec<(&'a Job, &'a RunResult)>)> {
    let mut out: Vec<(K, Vec<(&Job, &RunResult)>)> = Vec::new();
    for &(job, r) in pairs.iter().filter(|(j, _)| j.experiment == experiment) {
        let k = key(job);
        match out.iter_mut().find(|(g, _)| *g == k) {
            Some((_, members)) => members.push((job, r)),
            None => out.push((k, vec![(job, r)])),
        }
    }
    out
}

fn stat(members: &[(&Job, &RunResult)], f: impl Fn(&RunResult) -> f64) -> Stat {
    let values: Vec<f64> = members.iter().map(|(_, r)| f(r)).collect();
    Stat::of(&values)
}

fn pooled(members: &[(&Job, &RunResult)], f: impl Fn(&RunResult) -> Tally) -> f64 {
    let mut t = Tally::default();
    for (_, r) in members {
        t.merge(&f(r));
    }
    t.mean()
}

fn synth_of(job: &Job) -> Option<Method> {
    (job.policy == Policy::Qis).then_some(job.scenario.qis.method)
}

impl Report {
    /// Builds the report from the jobs of `config` and their results (same order).
    pub fn new(config: &SweepConfig, jobs: &[Job], results: &[RunResult]) -> Report {
        let pairs: Vec<(&Job, &RunResult)> = jobs.iter().zip(results).collect();
        let world = World::new(crate::seed::replicate_seed(config.seed, 0));

        let regret = groups(&pairs, Experiment::Regret, |j| {
            (j.scenario.agents, j.policy, synth_of(j))
        })
        .into_iter()
        .map(|((agents, policy, synth), m)| RegretRow {
            agents,
            policy,
            synth,
            replicates: m.len(),
            regret: stat(&m, |r| r.regret.mean()),
            best: stat(&m, |r| r.best_chosen.mean()),
            peer_agents: pooled(&m, |r| r.peer_agents),
            peer_packets: pooled(&m, |r| r.peer_packets),
        })
        .collect();

        let mut cold_start = Vec::new();
        let mut newcomer_first_peers = f64::NAN;
        for (policy, m) in groups(&pairs, Experiment::ColdStart, |j| j.policy) {
            let rounds = m[0].0.scenario.rounds;
            let join = m[0].0.scenario.join_round;
            let mut series =
                |name: &'static str, ages: usize, pick: &dyn Fn(&RunResult) -> &Vec<Tally>| {
                    for age in 0..ages {
                        let mut t = Tally::default();
                        for (_, r) in &m {
                            t.merge(&pick(r)[age]);
                        }
                        cold_start.push(ColdStartRow {
                            series: name,
                            age,
                            regret: t.mean(),
                            decisions: t.count,
                        });
                    }
                };
            series(policy.as_str(), rounds - join, &|r| &r.newcomers_by_age);
            if policy == Policy::Qis {
                series("qis-founders", rounds - join, &|r| &r.founders_by_age);
                newcomer_first_peers = pooled(&m, |r| r.newcomer_first_peers);
            }
        }

        let central_regret = |agents: usize| {
            pairs
                .iter()
                .find(|(j, _)| {
                    j.experiment == Experiment::Routing
                        && j.policy == Policy::Central
                        && j.scenario.agents == agents
                })
                .map_or(f64::NAN, |(_, r)| r.regret.mean())
        };
        let routing_pairs: Vec<(&Job, &RunResult)> = pairs
            .iter()
            .copied()
            .filter(|(j, _)| j.policy == Policy::Qis)
            .collect();
        let routing = groups(&routing_pairs, Experiment::Routing, |j| {
            (j.scenario.qis.routing, j.scenario.agents)
        })
        .into_iter()
        .map(|((routing, agents), m)| {
            let (job, r) = m[0];
            let meter = &r.meter;
            let q = meter.queries.max(1) as f64;
            let decisions = r.regret.count.max(1) as f64;
            RoutingRow {
                routing,
                agents,
                rounds: job.scenario.rounds,
                queries_per_decision: meter.queries as f64 / decisions,
                hits_per_query: meter.hits as f64 / q,
                bytes_per_query: meter.bytes_returned as f64 / q,
                examined_per_query: meter.examined as f64 / q,
                packets_stored: meter.deposits,
                deposited_per_agent: meter.bytes_deposited as f64 / agents as f64,
                received_per_agent: meter.bytes_returned as f64 / agents as f64,
                regret: r.regret.mean(),
                central_regret: central_regret(agents),
                nanos_per_query: meter.query_nanos as f64 / q,
            }
        })
        .collect();

        let dishonest = groups(&pairs, Experiment::Dishonest, |j| {
            (j.scenario.dishonest.to_bits(), j.policy, synth_of(j))
        })
        .into_iter()
        .map(|((f, policy, synth), m)| DishonestRow {
            dishonest: f64::from_bits(f),
            policy,
            synth,
            regret: stat(&m, |r| r.regret.mean()),
            best: stat(&m, |r| r.best_chosen.mean()),
        })
        .collect();

        let flood = groups(&pairs, Experiment::Flood, |j| {
            (j.scenario.qis.per_agent, j.scenario.flood)
        })
        .into_iter()
        .map(|((per_agent, flood), m)| FloodRow {
            per_agent,
            flood,
            flooded_regret: stat(&m, |r| r.flooded_regret.mean()),
            flooded_best_late: stat(&m, |r| r.flooded_best_late.mean()),
            regret: stat(&m, |r| r.regret.mean()),
        })
        .collect();

        let feedback = groups(&pairs, Experiment::Feedback, |j| {
            (
                j.scenario.agents,
                j.scenario.qis.method,
                j.scenario.qis.feedback,
            )
        })
        .into_iter()
        .map(|((agents, synth, feedback), m)| {
            let per_agent = |f: &dyn Fn(&RunResult) -> u64| {
                m.iter().map(|(_, r)| f(r) as f64).sum::<f64>() / (m.len() * agents) as f64
            };
            let queries: u64 = m.iter().map(|(_, r)| r.meter.queries).sum();
            FeedbackRow {
                agents,
                synth,
                feedback,
                regret: stat(&m, |r| r.regret.mean()),
                packets_per_agent: per_agent(&|r| r.meter.deposits),
                bytes_per_agent: per_agent(&|r| r.meter.bytes_deposited + r.meter.bytes_returned),
                skipped_per_query: m.iter().map(|(_, r)| r.derived_skipped).sum::<u64>() as f64
                    / queries.max(1) as f64,
                peer_packets: pooled(&m, |r| r.peer_packets),
            }
        })
        .collect();

        Report {
            config: config.clone(),
            random_regret: world.random_regret(),
            regret,
            cold_start,
            newcomer_first_peers,
            routing,
            dishonest,
            flood,
            feedback,
        }
    }

    /// The report as text, for stdout. Deterministic: no timing in it.
    pub fn table(&self) -> String {
        let c = &self.config;
        let mut s = String::new();
        let w = &mut s;
        let _ = writeln!(
            w,
            "qis simulate: {} sweep, seed {}; policies: isolated, qis, central",
            if c.quick { "quick" } else { "full" },
            c.seed
        );
        let _ = writeln!(
            w,
            "world: 24 contexts (3 routing fields, 0.25 % to 22.5 % of problems), {K} options with hidden \
             success rates; random choice regret {}",
            f4(self.random_regret)
        );
        let _ = writeln!(
            w,
            "decision rule: Thompson sampling on Beta(1 + successes, 1 + failures) for every policy; \
             qis agents add peers' evidence from {} packets per option (limit)",
            c.limit
        );

        let _ = writeln!(
            w,
            "\n## Regret per decision versus N (exact routing, {} rounds; mean ± 95 % CI over replicates)",
            c.rounds
        );
        let _ = writeln!(
            w,
            "{:>6}  {:<8}  {:<9}  {:>4}  {:>17}  {:>12}  {:>11}  {:>14}  {:>14}",
            "agents",
            "policy",
            "synth",
            "reps",
            "regret/decision",
            "regret/agent",
            "best-option",
            "peers/decision",
            "pairs N(N-1)/2"
        );
        for r in &self.regret {
            let pairs = (r.agents as u128 * (r.agents as u128).saturating_sub(1)) / 2;
            let _ = writeln!(
                w,
                "{:>6}  {:<8}  {:<9}  {:>4}  {:>17}  {:>12}  {:>11}  {:>14}  {:>14}",
                r.agents,
                r.policy.as_str(),
                r.synth.map_or("-", |m| m.as_str()),
                r.replicates,
                pm(r.regret),
                f3(r.regret.mean * c.rounds as f64),
                f3(r.best.mean),
                f1(r.peer_agents),
                pairs
            );
        }

        let _ = writeln!(
            w,
            "\n## Cold start: a tenth of {} agents join at round {} (regret per decision by rounds since joining)",
            c.cold_start_agents,
            c.rounds / 2
        );
        let series: Vec<&str> = dedup(self.cold_start.iter().map(|r| r.series));
        let _ = write!(w, "{:>4}", "age");
        for name in &series {
            let _ = write!(w, "  {name:>12}");
        }
        let _ = writeln!(w);
        let ages = self.cold_start.iter().map(|r| r.age + 1).max().unwrap_or(0);
        for age in 0..ages {
            let _ = write!(w, "{age:>4}");
            for name in &series {
                let v = self
                    .cold_start
                    .iter()
                    .find(|r| r.series == *name && r.age == age)
                    .map_or(f64::NAN, |r| r.regret);
                let _ = write!(w, "  {:>12}", f4(v));
            }
            let _ = writeln!(w);
        }
        let _ = writeln!(
            w,
            "newcomers' first consultation synthesized {} distinct peers (over {K} options)",
            f1(self.newcomer_first_peers)
        );

        let _ = writeln!(
            w,
            "\n## Routing cost ({} rounds; memory router; bytes are MessagePack)",
            c.cost_rounds
        );
        let _ = writeln!(
            w,
            "{:<7}  {:>6}  {:>9}  {:>10}  {:>14}  {:>11}  {:>9}  {:>13}  {:>12}  {:>8}  {:>8}",
            "routing",
            "agents",
            "hits/query",
            "bytes/query",
            "examined/query",
            "queries/dec",
            "stored",
            "sent B/agent",
            "recv B/agent",
            "regret",
            "central"
        );
        for r in &self.routing {
            let _ = writeln!(
                w,
                "{:<7}  {:>6}  {:>9}  {:>10}  {:>14}  {:>11}  {:>9}  {:>13}  {:>12}  {:>8}  {:>8}",
                r.routing.as_str(),
                r.agents,
                f1(r.hits_per_query),
                f0(r.bytes_per_query),
                f1(r.examined_per_query),
                f1(r.queries_per_decision),
                r.packets_stored,
                f0(r.deposited_per_agent),
                f0(r.received_per_agent),
                f4(r.regret),
                f4(r.central_regret)
            );
        }

        let _ = writeln!(
            w,
            "\n## Dishonest agents ({} agents; liars invert every outcome and claim confidence 1.0, \
             honest agents say {}; honest agents' regret)",
            c.robustness_agents,
            crate::policy::QisConfig::default().honest_confidence
        );
        let _ = writeln!(
            w,
            "{:>9}  {:<8}  {:<9}  {:>17}  {:>11}",
            "dishonest", "policy", "synth", "regret/decision", "best-option"
        );
        for r in &self.dishonest {
            let _ = writeln!(
                w,
                "{:>9}  {:<8}  {:<9}  {:>17}  {:>11}",
                f2(r.dishonest),
                r.policy.as_str(),
                r.synth.map_or("-", |m| m.as_str()),
                pm(r.regret),
                f3(r.best.mean)
            );
        }

        let _ = writeln!(
            w,
            "\n## One flooding agent ({} agents; packets per round at each option of the most common \
             context, pushing its worst option)",
            c.robustness_agents
        );
        let _ = writeln!(
            w,
            "{:<9}  {:>6}  {:>17}  {:>17}  {:>17}",
            "per-agent", "flood", "flooded regret", "flooded best late", "all regret"
        );
        for r in &self.flood {
            let _ = writeln!(
                w,
                "{:<9}  {:>6}  {:>17}  {:>17}  {:>17}",
                per_agent_str(r.per_agent),
                r.flood,
                pm(r.flooded_regret),
                pm(r.flooded_best_late),
                pm(r.regret)
            );
        }

        let _ = writeln!(w, "\n## Feedback loop (re-depositing synthesized packets)");
        let _ = writeln!(
            w,
            "{:>6}  {:<9}  {:<8}  {:>17}  {:>14}  {:>13}  {:>15}  {:>14}",
            "agents",
            "synth",
            "feedback",
            "regret/decision",
            "packets/agent",
            "bytes/agent",
            "skipped/query",
            "packets/dec"
        );
        for r in &self.feedback {
            let _ = writeln!(
                w,
                "{:>6}  {:<9}  {:<8}  {:>17}  {:>14}  {:>13}  {:>15}  {:>14}",
                r.agents,
                r.synth.as_str(),
                if r.feedback { "on" } else { "off" },
                pm(r.regret),
                f1(r.packets_per_agent),
                f0(r.bytes_per_agent),
                f2(r.skipped_per_query),
                f1(r.peer_packets)
            );
        }
        s
    }

    /// Writes the CSV files into `dir` (created if missing); returns their paths.
    pub fn write_csv(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?;
        let mut written = Vec::new();
        let mut file = |name: &str, text: String| -> Result<()> {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            written.push(path);
            Ok(())
        };

        let mut t = String::from(
            "agents,policy,synth,replicates,rounds,regret_per_decision,regret_ci95,best_option_rate,peer_agents_per_decision,peer_packets_per_decision,pairs\n",
        );
        for r in &self.regret {
            let pairs = (r.agents as u128 * (r.agents as u128).saturating_sub(1)) / 2;
            let _ = writeln!(
                t,
                "{},{},{},{},{},{},{},{},{},{},{}",
                r.agents,
                r.policy,
                r.synth.map_or("", |m| m.as_str()),
                r.replicates,
                self.config.rounds,
                c6(r.regret.mean),
                c6(r.regret.ci),
                c6(r.best.mean),
                c6(r.peer_agents),
                c6(r.peer_packets),
                pairs
            );
        }
        file("regret_vs_n.csv", t)?;

        let mut t = String::from("series,age,regret_per_decision,decisions\n");
        for r in &self.cold_start {
            let _ = writeln!(t, "{},{},{},{}", r.series, r.age, c6(r.regret), r.decisions);
        }
        file("cold_start.csv", t)?;

        let mut t = String::from(
            "routing,agents,rounds,queries_per_decision,hits_per_query,bytes_per_query,examined_per_query,packets_stored,bytes_deposited_per_agent,bytes_received_per_agent,regret_per_decision,central_regret_per_decision\n",
        );
        let mut timing = String::from(
            "# wall-clock time inside MemoryRouter::query; NOT deterministic (machine, load)\nrouting,agents,rounds,ns_per_query,ns_per_examined_packet\n",
        );
        for r in &self.routing {
            let _ = writeln!(
                t,
                "{},{},{},{},{},{},{},{},{},{},{},{}",
                r.routing,
                r.agents,
                r.rounds,
                c6(r.queries_per_decision),
                c6(r.hits_per_query),
                c6(r.bytes_per_query),
                c6(r.examined_per_query),
                r.packets_stored,
                c6(r.deposited_per_agent),
                c6(r.received_per_agent),
                c6(r.regret),
                c6(r.central_regret)
            );
            let _ = writeln!(
                timing,
                "{},{},{},{:.0},{:.2}",
                r.routing,
                r.agents,
                r.rounds,
                r.nanos_per_query,
                r.nanos_per_query / r.examined_per_query.max(1.0)
            );
        }
        file("routing_cost.csv", t)?;
        file("timing.csv", timing)?;

        let mut t = String::from(
            "dishonest,policy,synth,honest_regret_per_decision,regret_ci95,best_option_rate\n",
        );
        for r in &self.dishonest {
            let _ = writeln!(
                t,
                "{},{},{},{},{},{}",
                r.dishonest,
                r.policy,
                r.synth.map_or("", |m| m.as_str()),
                c6(r.regret.mean),
                c6(r.regret.ci),
                c6(r.best.mean)
            );
        }
        file("dishonest.csv", t)?;

        let mut t = String::from(
            "per_agent,flood,flooded_regret,flooded_regret_ci95,flooded_best_late,flooded_best_late_ci95,regret,regret_ci95\n",
        );
        for r in &self.flood {
            let _ = writeln!(
                t,
                "{},{},{},{},{},{},{},{}",
                per_agent_str(r.per_agent),
                r.flood,
                c6(r.flooded_regret.mean),
                c6(r.flooded_regret.ci),
                c6(r.flooded_best_late.mean),
                c6(r.flooded_best_late.ci),
                c6(r.regret.mean),
                c6(r.regret.ci)
            );
        }
        file("flood.csv", t)?;

        let mut t = String::from(
            "agents,synth,feedback,regret_per_decision,regret_ci95,packets_per_agent,bytes_per_agent,derived_skipped_per_query,packets_per_decision\n",
        );
        for r in &self.feedback {
            let _ = writeln!(
                t,
                "{},{},{},{},{},{},{},{},{}",
                r.agents,
                r.synth,
                if r.feedback { "on" } else { "off" },
                c6(r.regret.mean),
                c6(r.regret.ci),
                c6(r.packets_per_agent),
                c6(r.bytes_per_agent),
                c6(r.skipped_per_query),
                c6(r.peer_packets)
            );
        }
        file("feedback.csv", t)?;
        Ok(written)
    }
}

/// `split` or `all`.
pub fn per_agent_str(p: PerAgent) -> &'static str {
    match p {
        PerAgent::Split => "split",
        PerAgent::Newest => "newest",
        PerAgent::All => "all",
    }
}

fn dedup<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

fn fmt_or_dash(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "-".into()
    }
}
fn f0(x: f64) -> String {
    fmt_or_dash(x, 0)
}
fn f1(x: f64) -> String {
    fmt_or_dash(x, 1)
}
fn f2(x: f64) -> String {
    fmt_or_dash(x, 2)
}
fn f3(x: f64) -> String {
    fmt_or_dash(x, 3)
}
fn f4(x: f64) -> String {
    fmt_or_dash(x, 4)
}
fn pm(s: Stat) -> String {
    if s.ci.is_finite() {
        format!("{:.4} ± {:.4}", s.mean, s.ci)
    } else {
        f4(s.mean)
    }
}
/// CSV numbers: six decimals, empty when undefined.
fn c6(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.6}")
    } else {
        String::new()
    }
}

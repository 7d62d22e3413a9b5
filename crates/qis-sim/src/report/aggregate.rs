//! From a sweep's jobs and results to the report's rows.

use qis::synth::Method;

use super::{
    ColdStartRow, DishonestRow, FeedbackRow, FloodRow, RegretRow, Report, RoutingRow, Stat,
};
use crate::policy::Policy;
use crate::run::{RunResult, Tally};
use crate::sweep::{Experiment, Job, SweepConfig};
use crate::world::World;

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
            (
                j.scenario.qis.per_agent,
                j.scenario.qis.max_per_agent,
                j.scenario.flood,
            )
        })
        .into_iter()
        .map(|((per_agent, max_per_agent, flood), m)| FloodRow {
            per_agent,
            max_per_agent,
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
}

//! The experiments of `qis simulate`, as independent runs executed in parallel.
//!
//! A sweep is a list of [`Job`]s (experiment, scenario, policy, replicate). Rayon runs them on every
//! core; results come back in job order whatever the scheduling, so the report is the same on any
//! machine. Replicate `r` of every experiment uses the same world and the same agent randomness
//! for every policy (common random numbers): differences between policies are not luck.

use std::str::FromStr;

use qis::router::url::RouterSpec;
use qis::synth::{Method, PerAgent};
use rayon::prelude::*;

use crate::policy::{Policy, QisConfig, Routing};
use crate::run::{RunResult, Scenario, run, run_on};
use crate::seed::replicate_seed;
use crate::{Error, Result};

/// What a sweep measures and how big it is.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepConfig {
    /// The seed everything is drawn from.
    pub seed: u64,
    /// Whether this is the quick sweep (a label in the report).
    pub quick: bool,
    /// Regret versus N: the numbers of agents.
    pub agents: Vec<usize>,
    /// Rounds per run (every agent decides once per round).
    pub rounds: usize,
    /// Replicates per N are `max(min_replicates, ceil(replicate_agents / N))`: small swarms get
    /// more worlds, so every point averages a similar number of agents.
    pub replicate_agents: usize,
    /// At least this many replicates per point.
    pub min_replicates: usize,
    /// The synthesis methods `qis` agents are run with.
    pub methods: Vec<Method>,
    /// Routings measured in the routing-cost experiment.
    pub routing: Vec<Routing>,
    /// Vector routing scans every stored packet per query: it is only run up to this many agents.
    pub vector_max_agents: usize,
    /// Rounds of the routing-cost experiment.
    pub cost_rounds: usize,
    /// Agents in the cold-start experiment (a tenth of them join halfway).
    pub cold_start_agents: usize,
    /// Agents in the robustness experiments.
    pub robustness_agents: usize,
    /// Shares of dishonest agents.
    pub dishonest: Vec<f64>,
    /// Flood volumes (packets per round per option address).
    pub flood: Vec<usize>,
    /// The caps on packets per agent per consultation the flood experiment compares (`None`:
    /// no cap, as before the cap existed).
    pub flood_caps: Vec<Option<usize>>,
    /// Feedback loop settings compared.
    pub feedback: Vec<bool>,
    /// Agents in the feedback experiment.
    pub feedback_agents: Vec<usize>,
    /// Packets pulled per consultation.
    pub limit: usize,
}

impl SweepConfig {
    /// The quick sweep: seconds, for CI and a first look.
    pub fn quick(seed: u64) -> Self {
        SweepConfig {
            seed,
            quick: true,
            agents: vec![1, 10, 100],
            rounds: 20,
            replicate_agents: 40,
            min_replicates: 2,
            methods: vec![Method::Bayesian],
            routing: vec![Routing::Exact, Routing::Vector],
            vector_max_agents: 30,
            cost_rounds: 10,
            cold_start_agents: 40,
            robustness_agents: 30,
            dishonest: vec![0.0, 0.3],
            flood: vec![0, 20],
            flood_caps: vec![None, Some(qis::router::DEFAULT_MAX_PER_AGENT)],
            feedback: vec![false, true],
            feedback_agents: vec![20],
            limit: qis::router::DEFAULT_LIMIT,
        }
    }

    /// The full sweep: minutes on two cores.
    pub fn full(seed: u64) -> Self {
        SweepConfig {
            seed,
            quick: false,
            agents: vec![1, 10, 100, 1000, 10_000],
            rounds: 30,
            replicate_agents: 600,
            min_replicates: 2,
            methods: Method::ALL.to_vec(),
            routing: vec![Routing::Exact, Routing::Vector],
            vector_max_agents: 1000,
            cost_rounds: 10,
            cold_start_agents: 1000,
            robustness_agents: 500,
            dishonest: vec![0.0, 0.1, 0.2, 0.3, 0.4],
            flood: vec![0, 10, 100, 1000],
            flood_caps: vec![None, Some(qis::router::DEFAULT_MAX_PER_AGENT)],
            feedback: vec![false, true],
            feedback_agents: vec![10, 100, 1000],
            limit: qis::router::DEFAULT_LIMIT,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.agents.is_empty() || self.agents.iter().any(|&n| n == 0 || n > 100_000) {
            return bad("agents must be 1 to 100000 each".into());
        }
        if self.rounds < 2 || self.rounds > 10_000 || self.cost_rounds == 0 {
            return bad(format!("rounds must be 2 to 10000, got {}", self.rounds));
        }
        if self.methods.is_empty() {
            return bad("at least one synthesis method is needed".into());
        }
        if self.dishonest.iter().any(|f| !(0.0..1.0).contains(f)) {
            return bad("dishonest shares must be from 0 to below 1".into());
        }
        if self.limit == 0 || self.limit > qis::router::MAX_LIMIT {
            return bad(format!(
                "limit must be 1 to {}, got {}",
                qis::router::MAX_LIMIT,
                self.limit
            ));
        }
        Ok(())
    }

    fn replicates(&self, agents: usize) -> usize {
        self.replicate_agents
            .div_ceil(agents)
            .max(self.min_replicates)
    }

    fn qis(&self, method: Method) -> QisConfig {
        QisConfig {
            method,
            limit: self.limit,
            ..QisConfig::default()
        }
    }

    /// The method the single-method experiments use: Bayesian when selected, else the first.
    pub fn main_method(&self) -> Method {
        if self.methods.contains(&Method::Bayesian) {
            Method::Bayesian
        } else {
            self.methods[0]
        }
    }

    /// Every run of the sweep, in report order.
    pub fn jobs(&self) -> Vec<Job> {
        let mut jobs = Vec::new();
        let mut push = |experiment, scenario: Scenario, policy, replicate| {
            jobs.push(Job {
                experiment,
                scenario,
                policy,
                replicate,
                seed: replicate_seed(self.seed, replicate),
            });
        };
        let main = self.main_method();

        // Regret versus N.
        for &n in &self.agents {
            for rep in 0..self.replicates(n) {
                let base = Scenario {
                    agents: n,
                    rounds: self.rounds,
                    qis: self.qis(main),
                    ..Scenario::default()
                };
                push(Experiment::Regret, base, Policy::Isolated, rep);
                for &m in &self.methods {
                    let s = Scenario {
                        qis: self.qis(m),
                        ..base
                    };
                    push(Experiment::Regret, s, Policy::Qis, rep);
                }
                push(Experiment::Regret, base, Policy::Central, rep);
            }
        }

        // Cold start: a tenth of the agents join halfway through.
        let n = self.cold_start_agents;
        for rep in 0..self.replicates(n) {
            let s = Scenario {
                agents: n,
                rounds: self.rounds,
                newcomers: (n / 10).max(1),
                join_round: self.rounds / 2,
                qis: self.qis(main),
                ..Scenario::default()
            };
            for policy in Policy::ALL {
                push(Experiment::ColdStart, s, policy, rep);
            }
        }

        // Routing cost, one replicate: the counts hardly vary between worlds. The central oracle
        // of the same worlds and rounds is the reference for the regret column.
        for &n in &self.agents {
            let s = Scenario {
                agents: n,
                rounds: self.cost_rounds,
                qis: self.qis(main),
                ..Scenario::default()
            };
            push(Experiment::Routing, s, Policy::Central, 0);
        }
        for &routing in &self.routing {
            for &n in &self.agents {
                if routing == Routing::Vector && n > self.vector_max_agents {
                    continue;
                }
                let s = Scenario {
                    agents: n,
                    rounds: self.cost_rounds,
                    qis: QisConfig {
                        routing,
                        ..self.qis(main)
                    },
                    ..Scenario::default()
                };
                push(Experiment::Routing, s, Policy::Qis, 0);
            }
        }

        // Dishonest agents, under each method; isolated and central as references.
        let n = self.robustness_agents;
        for &f in &self.dishonest {
            for rep in 0..self.replicates(n) {
                let base = Scenario {
                    agents: n,
                    rounds: self.rounds,
                    dishonest: f,
                    qis: self.qis(main),
                    ..Scenario::default()
                };
                push(Experiment::Dishonest, base, Policy::Isolated, rep);
                for &m in &self.methods {
                    let s = Scenario {
                        qis: self.qis(m),
                        ..base
                    };
                    push(Experiment::Dishonest, s, Policy::Qis, rep);
                }
                push(Experiment::Dishonest, base, Policy::Central, rep);
            }
        }

        // One flooding agent: one vote per agent (split) against every packet a vote (all),
        // with and without a cap on the packets one agent may place in a consultation.
        for per_agent in [PerAgent::Split, PerAgent::All] {
            for &max_per_agent in &self.flood_caps {
                for &flood in &self.flood {
                    for rep in 0..self.replicates(n) {
                        let s = Scenario {
                            agents: n,
                            rounds: self.rounds,
                            flood,
                            qis: QisConfig {
                                per_agent,
                                max_per_agent,
                                ..self.qis(main)
                            },
                            ..Scenario::default()
                        };
                        push(Experiment::Flood, s, Policy::Qis, rep);
                    }
                }
            }
        }

        // The feedback loop.
        for &n in &self.feedback_agents {
            for &m in &self.methods {
                for &feedback in &self.feedback {
                    for rep in 0..self.replicates(n) {
                        let s = Scenario {
                            agents: n,
                            rounds: self.rounds,
                            qis: QisConfig {
                                feedback,
                                ..self.qis(m)
                            },
                            ..Scenario::default()
                        };
                        push(Experiment::Feedback, s, Policy::Qis, rep);
                    }
                }
            }
        }
        jobs
    }
}

/// Which experiment a run belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Experiment {
    /// Regret versus N.
    Regret,
    /// Newcomers joining a running swarm.
    ColdStart,
    /// Routing cost and bytes per agent, exact and vector.
    Routing,
    /// A share of dishonest agents.
    Dishonest,
    /// One flooding agent.
    Flood,
    /// The feedback loop on and off.
    Feedback,
}

/// One independent run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Job {
    /// The experiment it belongs to.
    pub experiment: Experiment,
    /// What it simulates.
    pub scenario: Scenario,
    /// Under which policy.
    pub policy: Policy,
    /// Which replicate (world).
    pub replicate: usize,
    /// The replicate's seed.
    pub seed: u64,
}

impl Job {
    /// A rough measure of the work, for progress bars: agent-decisions, weighted by what the
    /// policy does per decision.
    pub fn work(&self) -> u64 {
        let s = &self.scenario;
        let decisions = (s.agents * s.rounds) as u64;
        match self.policy {
            Policy::Qis => {
                let per = match s.qis.routing {
                    // A vector query scans every packet stored so far: on average half the run's.
                    Routing::Vector => 4 * (decisions / 2).max(1) / 8,
                    Routing::Exact => 8 + if s.qis.feedback { 8 } else { 0 },
                };
                decisions * per + (s.flood * 4 * s.rounds) as u64
            }
            _ => decisions / 4 + 1,
        }
    }
}

/// Runs every job on rayon's pool; `done` is called after each with the job's work. Results come
/// back in job order.
pub fn execute(jobs: &[Job], done: &(dyn Fn(u64) + Sync)) -> Result<Vec<RunResult>> {
    execute_on(jobs, None, done)
}

/// [`execute`], with the `qis` agents of each run routing through a fresh namespace of `router`
/// (see [`RouterSpec::namespaced`]: a network `<network>-sim<nonce>-<job>` on an engine, a
/// directory `<dir>/networks/sim<nonce>-<job>` for the embedded store, removed after its run), opened in
/// a tokio runtime of the run's own. `None`: a memory router per run.
pub fn execute_on(
    jobs: &[Job],
    router: Option<&RouterSpec>,
    done: &(dyn Fn(u64) + Sync),
) -> Result<Vec<RunResult>> {
    // A router without namespaces (a qis node) is refused before any run starts.
    if let Some(spec) = router {
        spec.namespaced("check")?;
    }
    let nonce = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let run_job = |i: usize| -> Result<RunResult> {
        let job = &jobs[i];
        match router {
            Some(spec) if job.policy == Policy::Qis => {
                let spec = spec.namespaced(&format!("sim{nonce}-{i}"))?;
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Error::Config(format!("cannot start a runtime: {e}")))?;
                let result = runtime.block_on(async {
                    let store = spec.open().await?;
                    run_on(&job.scenario, job.policy, job.seed, store).await
                });
                if let RouterSpec::Embedded { dir } = &spec {
                    let _ = std::fs::remove_dir_all(dir);
                }
                result
            }
            _ => run(&job.scenario, job.policy, job.seed),
        }
    };
    // Start the biggest runs first so that no long run is left alone at the end.
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(jobs[i].work()));
    let results: Result<Vec<(usize, RunResult)>> = order
        .par_iter()
        .map(|&i| {
            let r = run_job(i)?;
            done(jobs[i].work());
            Ok((i, r))
        })
        .collect();
    // The runs' directories are gone; so is the `networks` directory that held them, unless
    // it holds anything else (`remove_dir` removes only an empty one).
    if let Some(RouterSpec::Embedded { dir }) = router.map(|s| s.namespaced("check")).transpose()?
        && let Some(parent) = dir.parent()
    {
        let _ = std::fs::remove_dir(parent);
    }
    let mut results = results?;
    results.sort_by_key(|(i, _)| *i);
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

/// Parses a synthesis method name.
pub fn parse_method(s: &str) -> std::result::Result<Method, String> {
    Method::from_str(s).map_err(|e| e.to_string())
}

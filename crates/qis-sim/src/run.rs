//! One run: N agents acting over rounds in one world under one policy.
//!
//! Each round, every active agent in turn meets a context (drawn from the world's frequencies),
//! picks an option by Thompson sampling on what its policy lets it know, observes a noisy outcome,
//! and learns from it. A `qis` agent also deposits an outcome packet at the address of (context,
//! option) — a true one if honest, the opposite if dishonest — and, with the feedback loop on,
//! re-deposits what it synthesized.
//!
//! Everything random is drawn from the run's seed by agent and round ([`crate::seed`]), and the
//! router stamps packets with simulated time ([`crate::router::Stamped`]), so a run's results are a
//! function of its seed alone.

use std::sync::Arc;

use qis::embed::HashedEmbedder;
use qis::fingerprint::FieldsFingerprint;
use qis::node::{Node, Observation};
use qis::packet::Outcome;
use qis::router::memory::MemoryRouter;
use qis::router::{Filter, Router};
use qis::synth::{Insight, Options, Synthesizer};
use rand_distr::{Beta, Distribution};

use crate::Result;
use crate::policy::{Policy, QisConfig, Routing, evidence};
use crate::router::{CachedEmbedder, Meter, Metered, Stamped};
use crate::seed::{decision_rng, mix};
use crate::world::{DOMAIN, K, OPTIONS, World};

/// The dimension of the hashed embedder used for vector routing (small: every vector query scans
/// every stored vector).
pub const VECTOR_DIMENSION: usize = 64;

/// What one run simulates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scenario {
    /// Agents, newcomers included.
    pub agents: usize,
    /// Rounds; every founding agent acts once per round.
    pub rounds: usize,
    /// The last `newcomers` agents only start acting at `join_round` (the cold-start curve).
    pub newcomers: usize,
    /// The round newcomers join in.
    pub join_round: usize,
    /// The share of agents that deposit the opposite of what they observed, claiming confidence 1.
    pub dishonest: f64,
    /// Packets one extra flooding agent deposits per round at every option's address of the most
    /// common context, claiming that its worst option succeeds and every other fails (0: none).
    pub flood: usize,
    /// How `qis` agents use the library.
    pub qis: QisConfig,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            agents: 100,
            rounds: 30,
            newcomers: 0,
            join_round: 0,
            dishonest: 0.0,
            flood: 0,
            qis: QisConfig::default(),
        }
    }
}

impl Scenario {
    /// Whether agent `agent` deposits lies: `dishonest` × N of them, spread evenly.
    pub fn is_dishonest(&self, agent: usize) -> bool {
        let f = self.dishonest;
        ((agent + 1) as f64 * f).floor() > (agent as f64 * f).floor()
    }

    /// Whether agent `agent` is a newcomer.
    pub fn is_newcomer(&self, agent: usize) -> bool {
        agent >= self.agents.saturating_sub(self.newcomers)
    }

    /// The round agent `agent` starts acting in.
    pub fn first_round(&self, agent: usize) -> usize {
        if self.is_newcomer(agent) {
            self.join_round
        } else {
            0
        }
    }
}

/// A sum and a count, for means.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    /// The sum.
    pub sum: f64,
    /// How many values were added.
    pub count: u64,
}

impl Tally {
    /// Adds one value.
    pub fn add(&mut self, x: f64) {
        self.sum += x;
        self.count += 1;
    }
    /// Adds another tally.
    pub fn merge(&mut self, other: &Tally) {
        self.sum += other.sum;
        self.count += other.count;
    }
    /// The mean (NaN when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.sum / self.count as f64
        }
    }
}

/// What one run measured. Regret counts honest agents only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunResult {
    /// Expected regret (best rate − chosen rate) per decision, over honest founding agents.
    pub regret: Tally,
    /// Decisions (of the same agents) that chose the best option: 1 or 0 each.
    pub best_chosen: Tally,
    /// Honest founders' regret by round (age = round).
    pub founders_by_age: Vec<Tally>,
    /// Honest newcomers' regret by rounds since they joined.
    pub newcomers_by_age: Vec<Tally>,
    /// Distinct peer agents whose packets a newcomer's first consultation synthesized (all options).
    pub newcomer_first_peers: Tally,
    /// Regret of honest agents' decisions in the flooded (most common) context.
    pub flooded_regret: Tally,
    /// Whether those decisions chose the best option (1 or 0), in the second half of the rounds.
    pub flooded_best_late: Tally,
    /// How often each option was chosen in those decisions (second half of the rounds).
    pub flooded_choices_late: [u64; K],
    /// Per `qis` decision: distinct peer agents synthesized, summed over the options consulted.
    pub peer_agents: Tally,
    /// Per `qis` decision: packets synthesized, summed over the options consulted.
    pub peer_packets: Tally,
    /// Derived packets the feedback loop deposited.
    pub derived_deposited: u64,
    /// Derived packets synthesis left out because their sources were already counted.
    pub derived_skipped: u64,
    /// What the router did.
    pub meter: Meter,
    /// A digest of every (agent, round, choice): equal digests mean the same decisions.
    pub choices: u64,
}

/// Beta(α, β) pseudo-counts per option.
type Belief = [(f64, f64); K];

/// Thompson sampling: one draw from each option's Beta(1 + s, 1 + f), the highest wins (ties: the
/// first option).
fn thompson(belief: &Belief, rng: &mut rand_chacha::ChaCha8Rng) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (k, (s, f)) in belief.iter().enumerate() {
        let draw = Beta::new(1.0 + s, 1.0 + f)
            .expect("positive parameters")
            .sample(rng);
        if draw > best.1 {
            best = (k, draw);
        }
    }
    best.0
}

/// A `qis` agent's handle on the library.
struct QisSide {
    nodes: Vec<Node>,
    flooder: Option<Node>,
    metered: Arc<Metered<Arc<dyn Router>>>,
    config: QisConfig,
}

impl QisSide {
    fn new(scenario: &Scenario, store: Arc<dyn Router>) -> Result<QisSide> {
        let config = scenario.qis;
        let metered = Arc::new(Metered::new(store));
        let router: Arc<dyn Router> = Arc::new(Stamped::new(metered.clone()));
        let fingerprint = Arc::new(FieldsFingerprint::new(World::schema()));
        // No recency decay: simulated time is not wall time, and packets of one run are all
        // equally fresh; results then depend on packet content alone.
        let options = Options {
            per_agent: config.per_agent,
            half_life: None,
        };
        let synthesizer: Arc<dyn Synthesizer> = config.method.synthesizer(options).into();
        let embedder = match config.routing {
            Routing::Exact => None,
            Routing::Vector => Some(Arc::new(CachedEmbedder::new(HashedEmbedder::new(
                VECTOR_DIMENSION,
            )?))),
        };
        let node = |name: String| -> Result<Node> {
            let mut node = Node::new(
                name,
                fingerprint.clone(),
                router.clone(),
                synthesizer.clone(),
            )?
            .with_limit(config.limit)
            .with_max_per_agent(config.max_per_agent)
            .excluding_self(true);
            if let Some(e) = &embedder {
                node = node.with_embedder(e.clone());
            }
            if config.trust {
                node = node.with_trust(Arc::new(qis::trust::Trust::default()));
            }
            Ok(node)
        };
        let nodes = (0..scenario.agents)
            .map(|a| node(format!("agent-{a:05}")))
            .collect::<Result<Vec<_>>>()?;
        let flooder = if scenario.flood > 0 {
            Some(node("flooder".into())?)
        } else {
            None
        };
        Ok(QisSide {
            nodes,
            flooder,
            metered,
            config,
        })
    }

    /// What agent `agent`'s peers say about option `option` of `problem`.
    async fn consult(
        &self,
        world: &World,
        agent: usize,
        problem: usize,
        option: usize,
    ) -> Result<Insight> {
        let node = &self.nodes[agent];
        let p = world.problem(problem);
        Ok(match self.config.routing {
            Routing::Exact => node.consult(DOMAIN, &p.contexts[option]).await?,
            Routing::Vector => {
                let filter = Filter {
                    domain: Some(DOMAIN.into()),
                    tags_any: vec![option_tag(option)],
                    ..Filter::default()
                };
                node.consult_text(&p.texts[option], self.config.limit, filter)
                    .await?
            }
        })
    }

    /// Deposits one outcome packet for `node` (its text goes along for vector routing).
    async fn deposit(
        &self,
        node: &Node,
        world: &World,
        problem: usize,
        option: usize,
        success: bool,
        confidence: f32,
    ) -> Result<()> {
        let p = world.problem(problem);
        let mut o = Observation::new(
            if success {
                Outcome::Resolved
            } else {
                Outcome::Contradicted
            },
            confidence,
        )
        .result("success", if success { 1.0 } else { 0.0 })
        .tag(option_tag(option));
        if self.config.routing == Routing::Vector {
            o = o.problem(p.texts[option].clone());
        }
        node.deposit(DOMAIN, &p.contexts[option], o).await?;
        Ok(())
    }
}

fn option_tag(option: usize) -> String {
    format!("option:{}", OPTIONS[option])
}

/// Runs `scenario` under `policy` in the world of `seed`, with agents' randomness from `seed` too;
/// `qis` agents route through a memory router of their own.
pub fn run(scenario: &Scenario, policy: Policy, seed: u64) -> Result<RunResult> {
    futures::executor::block_on(run_on(
        scenario,
        policy,
        seed,
        Arc::new(MemoryRouter::new()),
    ))
}

/// [`run`], with `qis` agents routing through `store`, which must be empty (and in a tokio
/// runtime when the router needs one). Results do not depend on the router: every router
/// answers the same packets.
pub async fn run_on(
    scenario: &Scenario,
    policy: Policy,
    seed: u64,
    store: Arc<dyn Router>,
) -> Result<RunResult> {
    let world = World::new(seed);
    let problems = world.problems().len();
    let n = scenario.agents;
    let qis = match policy {
        Policy::Qis => Some(QisSide::new(scenario, store)?),
        _ => None,
    };
    // own[agent * problems + problem][option] = (successes, failures)
    let mut own = vec![[(0u32, 0u32); K]; n * problems];
    let mut pooled = vec![[(0u64, 0u64); K]; problems];
    let flooded = world.most_common();
    let mut r = RunResult {
        founders_by_age: vec![Tally::default(); scenario.rounds],
        newcomers_by_age: vec![Tally::default(); scenario.rounds],
        ..RunResult::default()
    };

    for round in 0..scenario.rounds {
        if let (Some(q), Some(flooder)) = (&qis, qis.as_ref().and_then(|q| q.flooder.as_ref())) {
            let target = world.problem(flooded);
            for option in 0..K {
                for _ in 0..scenario.flood {
                    q.deposit(
                        flooder,
                        &world,
                        flooded,
                        option,
                        option == target.worst,
                        1.0,
                    )
                    .await?;
                }
            }
        }
        for agent in 0..n {
            let first = scenario.first_round(agent);
            if round < first {
                continue;
            }
            let problem = world.draw(World::context_draw(seed, agent, round));
            let mine = &mut own[agent * problems + problem];
            let mut belief: Belief = [(0.0, 0.0); K];
            match policy {
                Policy::Isolated => {
                    for (b, &(s, f)) in belief.iter_mut().zip(mine.iter()) {
                        *b = (f64::from(s), f64::from(f));
                    }
                }
                Policy::Central => {
                    for (b, &(s, f)) in belief.iter_mut().zip(&pooled[problem]) {
                        *b = (s as f64, f as f64);
                    }
                }
                Policy::Qis => {
                    let q = qis.as_ref().expect("qis side");
                    let (mut peers, mut packets) = (0usize, 0usize);
                    for (option, b) in belief.iter_mut().enumerate() {
                        let insight = q.consult(&world, agent, problem, option).await?;
                        let (ps, pf) = evidence(q.config.method, &insight);
                        let (s, f) = mine[option];
                        *b = (f64::from(s) + ps, f64::from(f) + pf);
                        peers += insight.agents;
                        packets += insight.sample_size;
                        r.derived_skipped += insight.skipped_derived as u64;
                    }
                    r.peer_agents.add(peers as f64);
                    r.peer_packets.add(packets as f64);
                    if scenario.is_newcomer(agent) && round == first {
                        r.newcomer_first_peers.add(peers as f64);
                    }
                }
            }
            let choice = thompson(&belief, &mut decision_rng(seed, agent, round));
            r.choices = mix(&[r.choices, agent as u64, round as u64, choice as u64]);
            let success = world.succeeds(problem, choice, World::outcome_draw(seed, agent, round));
            let slot = &mut mine[choice];
            if success {
                slot.0 += 1;
                pooled[problem][choice].0 += 1;
            } else {
                slot.1 += 1;
                pooled[problem][choice].1 += 1;
            }

            let dishonest = scenario.is_dishonest(agent);
            if !dishonest {
                let regret = world.regret(problem, choice);
                let best = f64::from(u8::from(choice == world.problem(problem).best));
                let age = round - first;
                if scenario.is_newcomer(agent) {
                    r.newcomers_by_age[age].add(regret);
                } else {
                    r.regret.add(regret);
                    r.best_chosen.add(best);
                    r.founders_by_age[age].add(regret);
                }
                if problem == flooded {
                    r.flooded_regret.add(regret);
                    if round >= scenario.rounds / 2 {
                        r.flooded_best_late.add(best);
                        r.flooded_choices_late[choice] += 1;
                    }
                }
            }

            if let Some(q) = &qis {
                let node = &q.nodes[agent];
                let (reported, confidence) = if dishonest {
                    (!success, 1.0)
                } else {
                    (success, q.config.honest_confidence)
                };
                q.deposit(node, &world, problem, choice, reported, confidence)
                    .await?;
                if q.config.feedback
                    && node
                        .close_loop(DOMAIN, &world.problem(problem).contexts[choice])
                        .await?
                        .is_some()
                {
                    r.derived_deposited += 1;
                }
            }
        }
    }
    if let Some(q) = &qis {
        r.meter = q.metered.meter();
    }
    Ok(r)
}

//! The ground truth: problem contexts, options with hidden success rates, noisy outcomes.
//!
//! A problem context is one value of each of three routing fields (`condition`, `severity`,
//! `setting`). Values are drawn with skewed frequencies, so the 24 contexts range from common
//! (22.5 % of all problems) to rare (0.25 %). Every context has the same four options; option `o`
//! succeeds in context `c` with a hidden rate
//!
//! ```text
//! logit p(c, o) = μ_o + θ_o[condition(c)] + θ_o[severity(c)] + θ_o[setting(c)]
//! ```
//!
//! with μ ~ N(0, 0.5²) and every θ ~ N(0, 0.7²), drawn from the world's seed. Contexts that share
//! field values share effects, so neighbouring contexts have related (not equal) best options:
//! what semantic routing can borrow. An outcome is a Bernoulli draw at that rate.

use qis::fingerprint::{Context, Normalize, RoutingField, RoutingSchema};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::seed::{Stream, mix, unit};

/// The domain every simulated packet is deposited in.
pub const DOMAIN: &str = "sim";

/// The options every context offers.
pub const OPTIONS: [&str; 4] = ["a", "b", "c", "d"];

/// How many options a context offers.
pub const K: usize = OPTIONS.len();

/// One routing field: its name and its values with their frequencies (summing to 1).
#[derive(Debug)]
struct Field {
    name: &'static str,
    values: &'static [(&'static str, f64)],
}

const FIELDS: [Field; 3] = [
    Field {
        name: "condition",
        values: &[
            ("asthma", 0.50),
            ("copd", 0.25),
            ("diabetes", 0.15),
            ("heart_failure", 0.10),
        ],
    },
    Field {
        name: "severity",
        values: &[("mild", 0.60), ("moderate", 0.30), ("severe", 0.10)],
    },
    Field {
        name: "setting",
        values: &[("urban", 0.75), ("rural", 0.25)],
    },
];

/// One problem context and its hidden truth.
#[derive(Debug, Clone)]
pub struct Problem {
    /// How often an agent meets it, 0–1.
    pub probability: f64,
    /// The hidden success rate of each option.
    pub rates: [f64; K],
    /// The option with the highest rate.
    pub best: usize,
    /// The option with the lowest rate (what a flooder pushes).
    pub worst: usize,
    /// Per option: the routing context an agent fingerprints (the problem's fields and the option).
    pub contexts: Vec<Context>,
    /// Per option: the problem text shared for semantic routing.
    pub texts: Vec<String>,
    /// A short label, `asthma/mild/urban`.
    pub label: String,
}

/// Contexts, their frequencies and their hidden success rates.
#[derive(Debug, Clone)]
pub struct World {
    problems: Vec<Problem>,
    /// Cumulative probabilities, to draw a context from one uniform number.
    cumulative: Vec<f64>,
}

impl World {
    /// The world of `seed`: the same seed gives the same rates.
    pub fn new(seed: u64) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(&[seed, Stream::World as u64]));
        let base = Normal::new(0.0, 0.5).expect("valid normal");
        let effect = Normal::new(0.0, 0.7).expect("valid normal");
        let mu: Vec<f64> = (0..K).map(|_| base.sample(&mut rng)).collect();
        // theta[field][value][option]
        let theta: Vec<Vec<Vec<f64>>> = FIELDS
            .iter()
            .map(|f| {
                f.values
                    .iter()
                    .map(|_| (0..K).map(|_| effect.sample(&mut rng)).collect())
                    .collect()
            })
            .collect();
        let mut problems = Vec::new();
        for (i0, (v0, p0)) in FIELDS[0].values.iter().enumerate() {
            for (i1, (v1, p1)) in FIELDS[1].values.iter().enumerate() {
                for (i2, (v2, p2)) in FIELDS[2].values.iter().enumerate() {
                    let mut rates = [0.0; K];
                    for (o, rate) in rates.iter_mut().enumerate() {
                        let logit = mu[o] + theta[0][i0][o] + theta[1][i1][o] + theta[2][i2][o];
                        *rate = 1.0 / (1.0 + (-logit).exp());
                    }
                    let best = argmax(&rates);
                    let worst = argmin(&rates);
                    let values = [*v0, *v1, *v2];
                    let contexts = OPTIONS
                        .iter()
                        .map(|option| {
                            let mut c = Context::new();
                            for (f, v) in FIELDS.iter().zip(values) {
                                c.insert(f.name.into(), v.into());
                            }
                            c.insert("option".into(), (*option).into());
                            c
                        })
                        .collect();
                    let texts = OPTIONS
                        .iter()
                        .map(|option| {
                            format!(
                                "{v0} patient, {v1} severity, {v2} setting, treated with protocol {option}"
                            )
                        })
                        .collect();
                    problems.push(Problem {
                        probability: p0 * p1 * p2,
                        rates,
                        best,
                        worst,
                        contexts,
                        texts,
                        label: format!("{v0}/{v1}/{v2}"),
                    });
                }
            }
        }
        let mut acc = 0.0;
        let cumulative = problems
            .iter()
            .map(|p| {
                acc += p.probability;
                acc
            })
            .collect();
        World {
            problems,
            cumulative,
        }
    }

    /// Every context, most frequent field values first.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The context with this index.
    pub fn problem(&self, index: usize) -> &Problem {
        &self.problems[index]
    }

    /// The context an agent meets, given a uniform number in [0, 1).
    pub fn draw(&self, u: f64) -> usize {
        self.cumulative
            .partition_point(|&c| c <= u)
            .min(self.problems.len() - 1)
    }

    /// The index of the most frequent context (where a flooder aims).
    pub fn most_common(&self) -> usize {
        let mut best = 0;
        for (i, p) in self.problems.iter().enumerate() {
            if p.probability > self.problems[best].probability {
                best = i;
            }
        }
        best
    }

    /// Expected regret of choosing `option` in context `problem`: best rate minus its rate.
    pub fn regret(&self, problem: usize, option: usize) -> f64 {
        let p = &self.problems[problem];
        p.rates[p.best] - p.rates[option]
    }

    /// Whether `option` succeeds in `problem` given the uniform number `u` (a noisy outcome).
    pub fn succeeds(&self, problem: usize, option: usize, u: f64) -> bool {
        u < self.problems[problem].rates[option]
    }

    /// Expected regret per decision of choosing uniformly at random, averaged over contexts.
    pub fn random_regret(&self) -> f64 {
        self.problems
            .iter()
            .map(|p| {
                let mean = p.rates.iter().sum::<f64>() / K as f64;
                p.probability * (p.rates[p.best] - mean)
            })
            .sum()
    }

    /// The routing schema: the three fields and the option, each exact.
    pub fn schema() -> RoutingSchema {
        let field = |name: &str| RoutingField {
            name: name.into(),
            normalize: Normalize::Exact,
            required: true,
        };
        let mut fields: Vec<RoutingField> = FIELDS.iter().map(|f| field(f.name)).collect();
        fields.push(field("option"));
        RoutingSchema::new(fields).expect("a valid schema")
    }

    /// A uniform number for the context agent `agent` meets in round `round`.
    pub(crate) fn context_draw(seed: u64, agent: usize, round: usize) -> f64 {
        unit(mix(&[
            seed,
            Stream::Context as u64,
            agent as u64,
            round as u64,
        ]))
    }

    /// A uniform number for the outcome agent `agent` observes in round `round` (shared by every
    /// option, so the policies face the same luck).
    pub(crate) fn outcome_draw(seed: u64, agent: usize, round: usize) -> f64 {
        unit(mix(&[
            seed,
            Stream::Outcome as u64,
            agent as u64,
            round as u64,
        ]))
    }
}

fn argmax(xs: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in xs.iter().enumerate() {
        if *x > xs[best] {
            best = i;
        }
    }
    best
}

fn argmin(xs: &[f64]) -> usize {
    let mut worst = 0;
    for (i, x) in xs.iter().enumerate() {
        if *x < xs[worst] {
            worst = i;
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_sum_to_one_and_draws_cover_every_context() {
        let w = World::new(1);
        let total: f64 = w.problems().iter().map(|p| p.probability).sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert_eq!(w.problems().len(), 24);
        assert_eq!(w.draw(0.0), 0);
        assert_eq!(w.draw(0.999_999_999), 23);
        // The rarest context is 90 times rarer than the most common one.
        let max = w.problems()[w.most_common()].probability;
        let min = w
            .problems()
            .iter()
            .map(|p| p.probability)
            .fold(1.0, f64::min);
        assert!(max / min > 80.0, "{max} / {min}");
    }

    #[test]
    fn the_same_seed_gives_the_same_world() {
        let (a, b, c) = (World::new(3), World::new(3), World::new(4));
        for i in 0..24 {
            assert_eq!(a.problem(i).rates, b.problem(i).rates);
        }
        assert_ne!(a.problem(0).rates, c.problem(0).rates);
        let p = a.problem(5);
        assert_eq!(a.regret(5, p.best), 0.0);
        assert!(a.regret(5, p.worst) > 0.0);
        assert!(a.random_regret() > 0.0);
    }
}

//! Synthetic problems for benchmarks: problem texts, and vectors clustered as text embeddings are.
//!
//! A problem belongs to a *domain* (ten of them) and a *topic* within it: the topic is what an
//! address stands for (the same kind of problem, met again by another agent), and each packet is
//! one *variant* of it, worded its own way. Two sources share that structure:
//!
//! - [`problem_text`]: an English sentence per variant, from per-domain templates whose topic
//!   slots are fixed and whose other slots vary, for embedding with a real model (MiniLM);
//! - [`Clustered`]: unit vectors built as a sum of a shared direction (text embeddings are not
//!   centred), a domain direction, a topic direction and per-variant noise, with weights chosen so
//!   that the cosines between variants of one topic, between topics of one domain and between
//!   domains match those of all-MiniLM-L6-v2 on [`problem_text`]'s sentences (see
//!   docs/performance.md, where both are measured).
//!
//! [`uniform`] unit vectors (no clusters at all) stay the worst case for an approximate index.
//!
//! Every value is a function of a seed and the packet's index, so that a vector can be made again
//! rather than kept, and two runs (or two routers in one run) see the same vectors.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// How many domains the workload has.
pub const DOMAINS: usize = 10;

/// A topic's number across domains.
fn topic_id(domain: usize, topic: usize) -> u64 {
    ((domain % DOMAINS) as u64) << 24 | topic as u64
}

/// A generator seeded for one item: the seed's stream `stream`, item `i`.
fn rng_for(seed: u64, stream: u64, i: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    rng.set_stream(i);
    rng
}

/// A unit vector drawn uniformly from the sphere.
pub fn uniform(rng: &mut impl Rng, dim: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dim).map(|_| StandardNormal.sample(rng)).collect();
    normalize(&mut v);
    v
}

/// The uniform unit vector of (domain, topic, variant) under `seed`: the same every time, as
/// [`Clustered::vector`]'s are, so that a run can make a packet's vector again.
pub fn uniform_for(seed: u64, domain: usize, topic: usize, variant: u64, dim: usize) -> Vec<f32> {
    uniform(
        &mut rng_for(seed, 5 << 32 | topic_id(domain, topic), variant),
        dim,
    )
}

fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Vectors clustered by domain and topic, as text embeddings of problems are.
///
/// Each vector mirrors one [`problem_text`] sentence: a sum of a shared direction, its domain's,
/// one direction per slot of the sentence (the topic's two, the variant's three, picked as the
/// sentence picks them) and a little noise of its own, normalised. Variants of one topic are then
/// near one another, sentences that share a phrase a little nearer, and domains apart.
#[derive(Debug, Clone)]
pub struct Clustered {
    dim: usize,
    seed: u64,
    /// The weights of the shared, domain, topic, variant and noise parts.
    weights: [f32; 5],
    shared: Vec<f32>,
    /// Per domain: its direction, then one per word of each slot, in slot order.
    domains: Vec<Vec<Vec<f32>>>,
}

impl Clustered {
    /// The weights that match all-MiniLM-L6-v2 on [`problem_text`]'s sentences: mean cosines of
    /// 0.76 within a topic, 0.42 across topics of a domain, 0.12 across domains (measured with
    /// `qis bench --vectors texts`, docs/performance.md). The squares sum to 1: each part's share
    /// of a vector. The noise is small because the sentences' own variation is their words.
    pub const MINILM_LIKE: [f32; 5] = [0.344, 0.469, 0.611, 0.52, 0.14];

    /// A generator of `dim`-dimensional vectors with [`Clustered::MINILM_LIKE`] weights.
    pub fn new(dim: usize, seed: u64) -> Self {
        Self::with_weights(dim, seed, Self::MINILM_LIKE)
    }

    /// A generator with other weights (shared, domain, topic, variant, noise).
    pub fn with_weights(dim: usize, seed: u64, weights: [f32; 5]) -> Self {
        let shared = uniform(&mut rng_for(seed, 1, 0), dim);
        let domains = DOMAIN_TEXTS
            .iter()
            .enumerate()
            .map(|(d, text)| {
                let words: usize = text.slots().map(<[_]>::len).sum();
                (0..=words as u64)
                    .map(|w| uniform(&mut rng_for(seed, 2 << 32 | d as u64, w), dim))
                    .collect()
            })
            .collect();
        Clustered {
            dim,
            seed,
            weights,
            shared,
            domains,
        }
    }

    /// The vectors' dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The vector of [`problem_text`]`(seed, domain, topic, variant)`: a unit vector.
    pub fn vector(&self, domain: usize, topic: usize, variant: u64) -> Vec<f32> {
        let [ws, wd, wt, wv, wn] = self.weights;
        let d = domain % DOMAINS;
        let text = &DOMAIN_TEXTS[d];
        let dirs = &self.domains[d];
        let words = text.words(self.seed, d, topic, variant);
        let noise = uniform(
            &mut rng_for(self.seed, 3 << 32 | topic_id(d, topic), variant),
            self.dim,
        );
        let (t, v) = (wt / 2f32.sqrt(), wv / 3f32.sqrt());
        let mut out: Vec<f32> = (0..self.dim)
            .map(|j| ws * self.shared[j] + wd * dirs[0][j] + wn * noise[j])
            .collect();
        let mut offset = 1;
        for (slot, (len, word)) in text.slots().map(<[_]>::len).zip(words).enumerate() {
            let w = if slot < 2 { t } else { v };
            let dir = &dirs[offset + word];
            out.iter_mut().zip(dir).for_each(|(o, x)| *o += w * x);
            offset += len;
        }
        normalize(&mut out);
        out
    }
}

/// One domain's sentence pattern: topic slots (fixed for a topic) and variant slots.
struct Domain {
    name: &'static str,
    /// `{0}` and `{1}` are the topic's slots, `{2}`, `{3}` and `{4}` the variant's.
    template: &'static str,
    topic: [&'static [&'static str]; 2],
    variant: [&'static [&'static str]; 3],
}

impl Domain {
    /// The five slots' word lists: the topic's two, then the variant's three.
    fn slots(&self) -> impl Iterator<Item = &'static [&'static str]> + '_ {
        self.topic.iter().chain(&self.variant).copied()
    }

    /// The word picked in each slot: the topic's from its number, the variant's at random.
    fn words(&self, seed: u64, domain: usize, topic: usize, variant: u64) -> [usize; 5] {
        let a = self.topic[0].len();
        let mut rng = rng_for(seed, 4 << 32 | topic_id(domain, topic), variant);
        let mut pick = |n: usize| rng.random_range(0..n);
        [
            topic % a,
            (topic / a) % self.topic[1].len(),
            pick(self.variant[0].len()),
            pick(self.variant[1].len()),
            pick(self.variant[2].len()),
        ]
    }
}

const DOMAIN_TEXTS: [Domain; DOMAINS] = [
    Domain {
        name: "clinical",
        template: "{2} patient with {0} on {1}, {3}; {4}",
        topic: [
            &[
                "type 2 diabetes",
                "hypertension",
                "asthma",
                "chronic kidney disease",
                "heart failure",
                "atrial fibrillation",
                "major depression",
                "COPD",
                "rheumatoid arthritis",
                "migraine",
                "epilepsy",
                "hypothyroidism",
                "psoriasis",
                "osteoporosis",
                "gout",
                "Crohn's disease",
                "anemia",
                "insomnia",
                "obesity",
                "sleep apnea",
            ],
            &[
                "metformin",
                "lisinopril",
                "an inhaled steroid",
                "a beta blocker",
                "warfarin",
                "an SSRI",
                "methotrexate",
                "levothyroxine",
                "a statin",
                "insulin",
            ],
        ],
        variant: [
            &[
                "A 54-year-old",
                "An elderly",
                "A young adult",
                "A 38-year-old",
                "A pregnant",
                "A 71-year-old",
                "A teenage",
                "An overweight",
            ],
            &[
                "poorly controlled after three months",
                "with new side effects",
                "stable but missing doses",
                "worse after a dose change",
                "with a recent hospital stay",
                "asking to stop the drug",
            ],
            &[
                "what dosing schedule works best",
                "which follow-up helps adherence",
                "whether to switch therapy",
                "how to cut the side effects",
                "what to monitor next",
            ],
        ],
    },
    Domain {
        name: "agriculture",
        template: "{2} {0} field under {1}: {3}, {4}",
        topic: [
            &[
                "maize",
                "wheat",
                "rice",
                "soybean",
                "potato",
                "tomato",
                "cotton",
                "barley",
                "sorghum",
                "cassava",
                "coffee",
                "grapevine",
                "apple orchard",
                "lettuce",
                "sugarcane",
                "canola",
                "peanut",
                "onion",
                "banana",
                "oat",
            ],
            &[
                "drought stress",
                "waterlogged soil",
                "aphid pressure",
                "fungal blight",
                "low nitrogen",
                "saline irrigation water",
                "late frost",
                "weed competition",
                "heat waves",
                "acidic soil",
            ],
        ],
        variant: [
            &[
                "A small",
                "A large irrigated",
                "An organic",
                "A hillside",
                "A rain-fed",
                "A newly planted",
                "A sandy",
                "A clay-heavy",
            ],
            &[
                "yields fell by a third",
                "leaves are yellowing early",
                "growth stalled in June",
                "the last treatment did little",
                "seedlings are patchy",
                "fruit set is poor",
            ],
            &[
                "which schedule of watering helps",
                "what treatment to try next",
                "how much fertilizer to apply",
                "when to replant",
                "which variety copes better",
            ],
        ],
    },
    Domain {
        name: "software",
        template: "{2} {0} service failing with {1}; {3}, so {4}",
        topic: [
            &[
                "Python web",
                "Java payment",
                "Go API gateway",
                "Node.js chat",
                "Rust storage",
                "PHP shop",
                "Kotlin mobile backend",
                "C++ trading",
                "Ruby billing",
                "Elixir messaging",
                "Scala analytics",
                "TypeScript dashboard",
                "C# reporting",
                "Django admin",
                "Spring batch",
                "Rails search",
                "Flask upload",
                "gRPC inventory",
                "GraphQL catalog",
                "Kafka consumer",
            ],
            &[
                "memory leaks under load",
                "database connection timeouts",
                "slow cold starts",
                "deadlocks in the worker pool",
                "TLS handshake errors",
                "disk full on the host",
                "high tail latency",
                "crashes after deploys",
                "stale cache reads",
                "lost messages on restart",
            ],
        ],
        variant: [
            &[
                "Our production",
                "A staging",
                "A legacy",
                "A containerised",
                "A newly migrated",
                "A multi-region",
                "A small team's",
                "An on-premises",
            ],
            &[
                "it started after the last release",
                "it happens only at peak traffic",
                "restarts help for an hour",
                "logs show nothing unusual",
                "it affects one region",
                "rollbacks did not fix it",
            ],
            &[
                "which fix should we try first",
                "what configuration change helps",
                "how should we roll it out",
                "what should we measure",
                "which mitigation works",
            ],
        ],
    },
    Domain {
        name: "support",
        template: "{2} customer of our {0} reports {1}; {3}, and we wonder {4}",
        topic: [
            &[
                "broadband",
                "mobile plan",
                "streaming",
                "banking app",
                "smart thermostat",
                "electric car",
                "meal kit",
                "insurance",
                "airline",
                "hotel booking",
                "online course",
                "fitness tracker",
                "home security",
                "printer",
                "laptop",
                "washing machine",
                "food delivery",
                "ride sharing",
                "cloud storage",
                "photo editing",
            ],
            &[
                "double billing",
                "a failed login",
                "a delayed refund",
                "a broken device",
                "slow speeds",
                "a cancelled order",
                "missing features",
                "a data loss",
                "rude service",
                "an unexpected fee",
            ],
        ],
        variant: [
            &[
                "A long-time",
                "A new",
                "An angry",
                "A business",
                "A confused",
                "A premium",
                "An elderly",
                "A student",
            ],
            &[
                "they have called three times",
                "they threaten to leave",
                "they posted a public review",
                "the first agent could not help",
                "it happened twice this month",
                "they want compensation",
            ],
            &[
                "which reply calms them",
                "what offer keeps them",
                "how fast to escalate",
                "what to fix first",
                "which channel works best",
            ],
        ],
    },
    Domain {
        name: "logistics",
        template: "{2} {0} delivery route hit by {1}; {3}, {4}",
        topic: [
            &[
                "urban parcel",
                "refrigerated food",
                "pharmacy",
                "furniture",
                "grocery",
                "long-haul freight",
                "last-mile bike",
                "airport cargo",
                "port container",
                "rural mail",
                "hospital supply",
                "construction material",
                "fuel tanker",
                "e-commerce returns",
                "spare parts",
                "fresh flowers",
                "livestock feed",
                "electronics",
                "textile",
                "school supply",
            ],
            &[
                "road closures",
                "driver shortages",
                "late warehouse picks",
                "fuel price spikes",
                "customs holds",
                "winter storms",
                "vehicle breakdowns",
                "missed time windows",
                "wrong addresses",
                "capacity overflow",
            ],
        ],
        variant: [
            &[
                "Our weekday",
                "A regional",
                "A night-time",
                "A cross-border",
                "A seasonal",
                "A same-day",
                "A high-volume",
                "A subcontracted",
            ],
            &[
                "on-time delivery dropped to 80 percent",
                "costs rose sharply this quarter",
                "customers complain daily",
                "the backlog keeps growing",
                "drivers work overtime",
                "two depots are affected",
            ],
            &[
                "which rerouting rule works",
                "how to schedule the fleet",
                "what buffer to add",
                "which partner to use",
                "how to batch the orders",
            ],
        ],
    },
    Domain {
        name: "energy",
        template: "{2} {0} plant facing {1}; {3}, {4}",
        topic: [
            &[
                "solar",
                "onshore wind",
                "offshore wind",
                "hydro",
                "gas turbine",
                "biogas",
                "geothermal",
                "battery storage",
                "coal",
                "nuclear",
                "rooftop solar",
                "district heating",
                "heat pump",
                "tidal",
                "pumped storage",
                "diesel backup",
                "fuel cell",
                "biomass",
                "micro-grid",
                "hydrogen electrolysis",
            ],
            &[
                "output curtailment",
                "inverter faults",
                "grid frequency swings",
                "blade icing",
                "cooling water limits",
                "falling efficiency",
                "maintenance backlogs",
                "price volatility",
                "forecast errors",
                "transformer overheating",
            ],
        ],
        variant: [
            &[
                "A 50 MW",
                "A small community",
                "An ageing",
                "A newly commissioned",
                "A remote",
                "A utility-scale",
                "A hybrid",
                "A leased",
            ],
            &[
                "losses doubled since spring",
                "operators see alarms every night",
                "the grid operator sent a warning",
                "repairs take weeks",
                "revenue fell this year",
                "the fault recurs after resets",
            ],
            &[
                "what control setting helps",
                "which maintenance plan works",
                "how to forecast better",
                "when to dispatch storage",
                "what upgrade pays off",
            ],
        ],
    },
    Domain {
        name: "education",
        template: "{2} student learning {0} struggles with {1}; {3}, {4}",
        topic: [
            &[
                "algebra",
                "reading",
                "chemistry",
                "Spanish",
                "physics",
                "essay writing",
                "geometry",
                "biology",
                "history",
                "programming",
                "statistics",
                "music theory",
                "German",
                "calculus",
                "economics",
                "art history",
                "French",
                "geography",
                "accounting",
                "Mandarin",
            ],
            &[
                "low motivation",
                "test anxiety",
                "missed classes",
                "weak foundations",
                "attention problems",
                "homework overload",
                "language barriers",
                "slow progress",
                "poor note taking",
                "exam timing",
            ],
        ],
        variant: [
            &[
                "A ninth-grade",
                "An adult",
                "A gifted",
                "A first-year university",
                "A home-schooled",
                "A dyslexic",
                "A part-time",
                "An exchange",
            ],
            &[
                "grades dropped this term",
                "tutoring twice a week has not helped",
                "parents are worried",
                "they avoid the subject",
                "they fail timed tests",
                "they copy homework",
            ],
            &[
                "which study routine works",
                "what practice format helps",
                "how often to review",
                "which feedback style helps",
                "what goal to set",
            ],
        ],
    },
    Domain {
        name: "manufacturing",
        template: "{2} {0} line seeing {1}; {3}, {4}",
        topic: [
            &[
                "injection moulding",
                "CNC machining",
                "PCB assembly",
                "bottling",
                "welding",
                "paint",
                "textile weaving",
                "steel rolling",
                "glass forming",
                "3D printing",
                "packaging",
                "die casting",
                "bakery",
                "pharmaceutical tablet",
                "tyre curing",
                "paper",
                "cement kiln",
                "battery cell",
                "semiconductor etch",
                "furniture",
            ],
            &[
                "rising scrap rates",
                "dimensional drift",
                "surface defects",
                "unplanned downtime",
                "bearing wear",
                "contamination",
                "cycle time creep",
                "operator errors",
                "supplier material variation",
                "calibration drift",
            ],
        ],
        variant: [
            &[
                "Our night-shift",
                "A high-speed",
                "A retrofitted",
                "A single-product",
                "A new",
                "A three-shift",
                "A low-volume",
                "An automated",
            ],
            &[
                "scrap reached 6 percent",
                "it started after maintenance",
                "audits flagged it twice",
                "the cause is unclear",
                "it varies by batch",
                "the customer returned a lot",
            ],
            &[
                "which inspection catches it",
                "what process change helps",
                "how to tune the machine",
                "which supplier fix works",
                "what training helps",
            ],
        ],
    },
    Domain {
        name: "finance",
        template: "{2} {0} portfolio exposed to {1}; {3}, {4}",
        topic: [
            &[
                "retail credit card",
                "small business loan",
                "mortgage",
                "auto loan",
                "student loan",
                "merchant payments",
                "crypto custody",
                "wire transfer",
                "insurance claims",
                "payroll",
                "microfinance",
                "invoice factoring",
                "buy now pay later",
                "savings account",
                "brokerage",
                "remittance",
                "corporate treasury",
                "pension fund",
                "trade finance",
                "leasing",
            ],
            &[
                "card-not-present fraud",
                "rising defaults",
                "synthetic identities",
                "money laundering patterns",
                "chargeback abuse",
                "interest rate shocks",
                "account takeovers",
                "first-party fraud",
                "concentration risk",
                "liquidity stress",
            ],
        ],
        variant: [
            &[
                "A mid-sized bank's",
                "A fintech's",
                "A credit union's",
                "A regional lender's",
                "An online broker's",
                "A cooperative's",
                "A start-up's",
                "An insurer's",
            ],
            &[
                "losses rose 40 percent this year",
                "the regulator asked questions",
                "false alarms swamp the team",
                "the model is two years old",
                "it hits new customers most",
                "manual review cannot keep up",
            ],
            &[
                "which rule catches it",
                "what threshold to set",
                "how to retrain the model",
                "which signal matters most",
                "what review process works",
            ],
        ],
    },
    Domain {
        name: "network",
        template: "{2} {0} network suffering {1}; {3}, {4}",
        topic: [
            &[
                "campus Wi-Fi",
                "data centre",
                "branch office",
                "5G radio",
                "fibre backbone",
                "home mesh",
                "industrial IoT",
                "hospital",
                "stadium",
                "retail store",
                "satellite link",
                "VPN",
                "SD-WAN",
                "cable access",
                "LoRa sensor",
                "cloud VPC",
                "metro Ethernet",
                "school",
                "hotel",
                "factory floor",
            ],
            &[
                "packet loss",
                "DNS failures",
                "interference",
                "routing loops",
                "DHCP exhaustion",
                "jitter on calls",
                "congestion at peak",
                "BGP flaps",
                "certificate expiry",
                "firmware bugs",
            ],
        ],
        variant: [
            &[
                "Our",
                "A customer's",
                "A newly installed",
                "A busy",
                "A small",
                "A shared",
                "A critical",
                "An outsourced",
            ],
            &[
                "users complain every afternoon",
                "it began after an upgrade",
                "monitoring shows spikes",
                "it affects video calls",
                "reboots fix it briefly",
                "only some sites see it",
            ],
            &[
                "which setting fixes it",
                "what to check first",
                "which vendor patch helps",
                "how to split the traffic",
                "what redundancy works",
            ],
        ],
    },
];

/// How many topics each domain has (its two topic slots' combinations).
pub fn topics_per_domain() -> usize {
    DOMAIN_TEXTS
        .iter()
        .map(|d| d.topic[0].len() * d.topic[1].len())
        .min()
        .unwrap_or(0)
}

/// Domain `domain`'s name.
pub fn domain_name(domain: usize) -> &'static str {
    DOMAIN_TEXTS[domain % DOMAINS].name
}

/// Variant `variant` of topic `topic` (within its domain) of domain `domain`, as a sentence.
pub fn problem_text(seed: u64, domain: usize, topic: usize, variant: u64) -> String {
    let d = domain % DOMAINS;
    let text = &DOMAIN_TEXTS[d];
    let words = text.words(seed, d, topic, variant);
    let mut out = text.template.to_owned();
    for (slot, (list, word)) in text.slots().zip(words).enumerate() {
        out = out.replace(&format!("{{{slot}}}"), list[word]);
    }
    out + "?"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn texts_keep_their_topic_and_vary_otherwise() {
        let t = problem_text(1, 0, 0, 0);
        assert!(
            t.contains("type 2 diabetes") && t.contains("metformin"),
            "{t}"
        );
        assert_eq!(t, problem_text(1, 0, 0, 0));
        let variants: std::collections::HashSet<String> =
            (0..50).map(|v| problem_text(1, 0, 0, v)).collect();
        assert!(variants.len() > 20, "{} distinct variants", variants.len());
        assert_eq!(topics_per_domain(), 200);
    }

    #[test]
    fn clustered_vectors_are_closer_within_a_topic_than_a_domain_than_across() {
        let c = Clustered::new(384, 7);
        let v = c.vector(2, 10, 0);
        assert!((cos(&v, &v) - 1.0).abs() < 1e-5);
        assert_eq!(v, c.vector(2, 10, 0));
        let same_topic = cos(&v, &c.vector(2, 10, 1));
        let same_domain = cos(&v, &c.vector(2, 11, 0));
        let other_domain = cos(&v, &c.vector(3, 500, 0));
        assert!(
            same_topic > same_domain + 0.1 && same_domain > other_domain + 0.1,
            "{same_topic} {same_domain} {other_domain}"
        );
    }
}

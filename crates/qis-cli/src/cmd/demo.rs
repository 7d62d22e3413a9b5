//! `qis demo`: the seed's 20-agent loop, end to end, then the weighted and Bayesian views of the
//! same packets and the feedback loop.

use std::sync::Arc;

use anyhow::Result;
use qis::embed::Embedder;
use qis::fingerprint::{Context, Fingerprint, KeysFingerprint};
use qis::node::{Node, Observation};
use qis::packet::Outcome;
use qis::router::{Filter, Query, Router};
use qis::synth::{Method, Options, Synthesizer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

use super::show;
use crate::config::Global;
use crate::store::{self, EmbedderKind};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many agents deposit an outcome.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    agents: u32,
    /// Random seed (the same seed prints the same numbers); random when left out.
    #[arg(long)]
    seed: Option<u64>,
    /// Use a throwaway store in a temporary directory instead of the data directory.
    #[arg(long)]
    ephemeral: bool,
    /// Run the seed's semantic loop instead: agents deposit problem texts and find each other
    /// by meaning (vector search), showing the cold-start curve.
    #[arg(long)]
    semantic: bool,
    /// The embedder for --semantic [default: the best this build has].
    #[arg(long, value_enum)]
    embedder: Option<EmbedderKind>,
}

const DOMAIN: &str = "clinical_trial";

pub async fn run(global: &Global, args: Args) -> Result<()> {
    let file = global.file()?;
    // The temporary directory (for --ephemeral) lives until the demo ends.
    let (spec, _temp) = if args.ephemeral {
        let temp = tempfile::tempdir()?;
        let dir = temp.path().to_owned();
        (qis::router::url::RouterSpec::Embedded { dir }, Some(temp))
    } else {
        (global.router_spec(&file)?, None)
    };
    let opened = store::open_router(&spec).await?;
    let router: Arc<dyn Router> = opened.router.clone();
    match &opened.dir {
        Some(dir) => println!(
            "Routing layer: the embedded store in {}{}",
            dir.display(),
            if args.ephemeral {
                " (temporary)"
            } else {
                " (kept; --ephemeral for a throwaway one)"
            }
        ),
        None => println!("Routing layer: {}", opened.label),
    }
    if args.semantic {
        let mut settings = file;
        if let Some(kind) = args.embedder {
            settings.embedder = Some(kind.into());
        }
        let embedder = settings.embedder_spec().open()?;
        opened.router.bind_embedder(embedder.name())?;
        return semantic(router, embedder, args.agents as usize).await;
    }
    exact(router, args).await
}

async fn exact(router: Arc<dyn Router>, args: Args) -> Result<()> {
    let seed = args.seed.unwrap_or_else(rand::random);
    let mut rng = StdRng::seed_from_u64(seed);
    let n = args.agents as usize;
    println!("\n=== QIS loop demo (seed {seed}; --seed {seed} repeats it) ===");
    let fingerprint: Arc<dyn Fingerprint> = Arc::new(KeysFingerprint::new());
    let frequency: Arc<dyn Synthesizer> = Method::Frequency.synthesizer(Options::default()).into();
    let context: Context =
        serde_json::from_str(r#"{"condition": "T2D", "intervention_type": "GLP1"}"#)?;

    // Phase 1: every agent distils its local outcome into a packet and deposits it.
    println!("\nPhase 1: {n} agents deposit outcome packets");
    let hba1c = Normal::new(1.2, 0.3)?;
    let mut address = None;
    for i in 0..n {
        let reduction = round2(hba1c.sample(&mut rng));
        let adherence = round2(rng.random_range(0.6..0.95));
        let protocol = if rng.random_bool(0.5) {
            "once_weekly"
        } else {
            "twice_weekly"
        };
        let outcome = if reduction >= 1.0 {
            Outcome::Resolved
        } else if reduction >= 0.5 {
            Outcome::Partial
        } else {
            Outcome::Contradicted
        };
        let confidence = round2(rng.random_range(0.5..0.95)) as f32;
        let site = Node::new(
            format!("site_{i:02}"),
            fingerprint.clone(),
            router.clone(),
            frequency.clone(),
        )?;
        let receipt = site
            .deposit(
                DOMAIN,
                &context,
                Observation::new(outcome, confidence)
                    .result("hba1c_reduction", reduction)
                    .result("adherence", adherence)
                    .result("protocol", protocol)
                    .summary(format!(
                        "HbA1c down {reduction} on a {protocol} GLP-1 protocol"
                    )),
            )
            .await?;
        address = Some(receipt.address);
    }
    let address = address.expect("at least one agent");
    let in_bucket = router
        .query(&Query::exact(address).limit(qis::router::MAX_LIMIT))
        .await?
        .len();
    let earlier = in_bucket.saturating_sub(n);
    println!(
        "  -> every packet routed to address {address} (scheme: {})",
        fingerprint.scheme()
    );
    if earlier == 0 {
        println!("  -> {in_bucket} packets in the bucket");
    } else {
        println!(
            "  -> {in_bucket} packets in the bucket ({n} from this run, {earlier} from earlier runs)"
        );
    }

    // Phase 2: a new agent consults its peers before acting.
    println!("\nPhase 2: a new agent consults its peers before starting its trial");
    let newcomer = Node::new(
        "site_new",
        fingerprint.clone(),
        router.clone(),
        frequency.clone(),
    )?;
    let insight = newcomer.consult(DOMAIN, &context).await?;
    println!(
        "  -> retrieved {} peer outcomes from {} agents",
        insight.sample_size, insight.agents
    );
    println!(
        "  -> consensus rate: {:.0}%",
        insight.consensus_rate.unwrap_or(0.0) * 100.0
    );
    if let Some(best) = &insight.best {
        println!("  -> best-supported outcome: {}", show::result(best));
    }
    println!(
        "     (whole results rarely repeat when they hold measured numbers: the per-field views below say more)"
    );

    let hits = router.query(&Query::exact(address)).await?;
    for method in [Method::Weighted, Method::Bayesian] {
        let view = method.synthesizer(Options::default()).synthesize(&hits);
        println!();
        show::insight(&view);
    }

    // Phase 3: the feedback loop. The newcomer re-deposits its synthesis, citing its sources.
    println!("\nPhase 3: feedback loop");
    let (derived, receipt) = match newcomer.close_loop(DOMAIN, &context).await? {
        Some(done) => done,
        None => anyhow::bail!("nothing to synthesize"),
    };
    let derived_packet = router
        .query(&Query::exact(address))
        .await?
        .into_iter()
        .find(|h| h.packet.id() == receipt.id)
        .map(|h| h.packet)
        .expect("the derived packet was just deposited");
    println!(
        "  -> {} re-deposited its {} insight as packet {} (derived from {} packets, {} bytes of MessagePack)",
        newcomer.agent(),
        derived.method,
        receipt.id,
        derived_packet.derived_from().len(),
        derived_packet.to_msgpack().len()
    );
    let later = Node::new("site_later", fingerprint, router.clone(), frequency)?;
    let again = later.consult(DOMAIN, &context).await?;
    println!(
        "  -> a later agent sees {} packets but counts {} from {} agents: the derived packet is skipped ({}) while its sources are present, so nothing counts twice",
        router
            .query(&Query::exact(address).limit(qis::router::MAX_LIMIT))
            .await?
            .len(),
        again.sample_size,
        again.agents,
        again.skipped_derived
    );

    println!("\nSynthesis opportunities: N agents form N(N-1)/2 pairs");
    for n in [10u64, 100, 1_000, 10_000, 1_000_000] {
        println!("  N={n:>10} agents -> {:>16} pairs", n * (n - 1) / 2);
    }
    println!("  (a pair is an opportunity, not a gain: `qis simulate` measures what sharing buys)");
    Ok(())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Problems in four families; within a family, the texts say the same thing in other words.
const PROBLEMS: [(&str, &str, [&str; 5]); 4] = [
    (
        "llm-inference",
        "Flash attention + chunked prefill cut p99 latency 62%",
        [
            "Transformer attention overhead grows quadratically with sequence length; inference latency unacceptable at 8k+ tokens",
            "attention cost in transformers scales quadratically as sequences get longer, so latency at 8k tokens is too high",
            "long prompts: transformer inference latency explodes past 8k tokens because attention is quadratic",
            "quadratic attention makes transformer inference too slow for sequences above 8k tokens",
            "inference latency of our transformer becomes unacceptable with 8k token sequences (quadratic attention)",
        ],
    ),
    (
        "databases",
        "Pool size tied to cores, statement timeouts, queueing at the edge",
        [
            "database connection pool exhausted under peak load, requests time out",
            "at peak load the pool of database connections is exhausted and requests time out",
            "requests time out at peak because the database connection pool runs dry",
            "connection pool to the database exhausted during load peaks",
            "our service exhausts its database connection pool at peak traffic",
        ],
    ),
    (
        "ci",
        "Quarantined flaky tests, fixed shared temp dirs, retries only on infra errors",
        [
            "flaky integration tests fail intermittently on CI runners",
            "integration tests on the CI runners are flaky and fail intermittently",
            "intermittent failures of integration tests on CI: flaky runs",
            "CI integration test suite is flaky, failing intermittently on runners",
            "our integration tests fail intermittently on the CI runners (flaky)",
        ],
    ),
    (
        "agriculture",
        "Soil-moisture-triggered drip irrigation cut water use 30% in sandy plots",
        [
            "crop irrigation schedule wastes water in sandy soil",
            "irrigation schedules for crops in sandy soils waste water",
            "fixed irrigation timing wastes water on sandy soil crops",
            "water wasted by the crop irrigation schedule on sandy soil",
            "sandy soil fields: the irrigation schedule wastes a lot of water",
        ],
    ),
];

/// The seed's semantic loop: each agent deposits its outcome with its problem text, then queries
/// for related packets; the cold-start curve shows how many peers each agent found.
async fn semantic(router: Arc<dyn Router>, embedder: Arc<dyn Embedder>, n: usize) -> Result<()> {
    println!(
        "\n=== QIS semantic loop demo: {n} agents, embedder {} ===",
        embedder.name()
    );
    // Related means at least this similar; model-free vectors are less similar in absolute terms.
    let min_score = if embedder.name() == qis::embed::HashedEmbedder::default().name() {
        0.3
    } else {
        0.5
    };
    let fingerprint: Arc<dyn Fingerprint> = Arc::new(KeysFingerprint::new());
    let synth: Arc<dyn Synthesizer> = Method::Weighted.synthesizer(Options::default()).into();
    let run = format!("{:08x}", rand::random::<u32>());
    let mut curve = Vec::with_capacity(n);
    for i in 0..n {
        let (tag, fix, texts) = &PROBLEMS[i % PROBLEMS.len()];
        let problem = texts[(i / PROBLEMS.len()) % texts.len()];
        let agent = format!("agent_{i:03}");
        let node = Node::new(
            agent.clone(),
            fingerprint.clone(),
            router.clone(),
            synth.clone(),
        )?
        .with_embedder(embedder.clone())
        .excluding_self(true);
        let context: Context =
            serde_json::from_value(serde_json::json!({"family": tag, "run": run}))?;
        node.deposit(
            "semantic-demo",
            &context,
            Observation::new(Outcome::Resolved, 0.87)
                .summary(*fix)
                .tag(*tag)
                .problem(problem),
        )
        .await?;
        let filter = Filter {
            domain: Some("semantic-demo".into()),
            ..Filter::default()
        };
        let related: Vec<_> = node
            .related(problem, 5, filter)
            .await?
            .into_iter()
            .filter(|h| h.score >= min_score)
            .collect();
        println!(
            "\n[{agent}] deposited. Found {} related packets:",
            related.len()
        );
        for h in &related {
            println!(
                "  score={:.3} | {}: {}",
                h.score,
                h.packet.agent(),
                h.packet.summary()
            );
        }
        curve.push(related.len());
    }
    println!("\nCold-start curve (peers found with score >= {min_score}, by agent index):");
    for (i, found) in curve.iter().enumerate() {
        println!("  agent {i:>3}: {:<5} {}", found, "#".repeat(*found));
    }
    if let Some(first) = curve.iter().position(|&f| f > 0) {
        println!(
            "  the first {first} agents found nobody; from agent {first} on, new agents meet peers"
        );
    }
    let stats = router.stats().await?;
    println!("\n--- Collection stats ---");
    println!(
        "{{'total_packets': {}, 'indexed_packets': {}, 'status': 'green'}}",
        stats.packets, stats.vectors
    );
    Ok(())
}

//! `qis demo`: the seed's 20-agent loop, end to end, then the weighted and Bayesian views of the
//! same packets and the feedback loop.

use std::sync::Arc;

use anyhow::Result;
use qis::fingerprint::{Context, Fingerprint, KeysFingerprint};
use qis::node::{Node, Observation};
use qis::packet::{Outcome, ResultMap};
use qis::router::memory::MemoryRouter;
use qis::router::{Query, Router};
use qis::synth::{FieldInsight, Insight, Method, Options, Synthesizer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many agents deposit an outcome.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    agents: u32,
    /// Random seed (the same seed prints the same numbers); random when left out.
    #[arg(long)]
    seed: Option<u64>,
}

const DOMAIN: &str = "clinical_trial";

pub fn run(args: Args) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(demo(args))
}

fn show(result: &ResultMap) -> String {
    serde_json::to_string(result).unwrap_or_default()
}

async fn demo(args: Args) -> Result<()> {
    let seed = args.seed.unwrap_or_else(rand::random);
    let mut rng = StdRng::seed_from_u64(seed);
    let n = args.agents as usize;

    println!("=== QIS loop demo (seed {seed}; --seed {seed} repeats it) ===\n");
    let router: Arc<dyn Router> = Arc::new(MemoryRouter::new());
    println!("Routing layer: memory (nothing leaves this process)");
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
    println!(
        "  -> every packet routed to address {address} (scheme: {})",
        fingerprint.scheme()
    );
    println!("  -> {in_bucket} packets in the bucket");

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
        println!("  -> best-supported outcome: {}", show(best));
    }
    println!(
        "     (whole results rarely repeat when they hold measured numbers: the per-field views below say more)"
    );

    let hits = router.query(&Query::exact(address)).await?;
    for method in [Method::Weighted, Method::Bayesian] {
        let view = method.synthesizer(Options::default()).synthesize(&hits);
        print_fields(&view);
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

fn print_fields(insight: &Insight) {
    println!(
        "\n  {} view ({} packets, {} agents, confidence {:.2}):",
        insight.method, insight.sample_size, insight.agents, insight.confidence
    );
    for (name, field) in &insight.fields {
        match field {
            FieldInsight::Numeric {
                mean,
                spread,
                interval,
                n,
            } => match interval {
                Some((lo, hi)) => println!(
                    "    {name:<16} mean {mean:.3} ± {spread:.3} (95% credible interval {lo:.3} to {hi:.3}; n={n})"
                ),
                None => println!("    {name:<16} mean {mean:.3} ± {spread:.3} (n={n})"),
            },
            FieldInsight::Categorical {
                winner, share, n, ..
            } => {
                println!(
                    "    {name:<16} {winner} with {:.0}% of the weight (n={n})",
                    share * 100.0
                )
            }
        }
    }
    if let Some(s) = &insight.success {
        println!(
            "    {:<16} {:.2} (95% credible interval {:.2} to {:.2}; Beta({:.2}, {:.2}))",
            "P(resolved)", s.mean, s.interval.0, s.interval.1, s.alpha, s.beta
        );
    }
}

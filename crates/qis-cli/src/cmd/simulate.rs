//! `qis simulate`: measures what outcome routing buys against isolated agents and a central pooled
//! oracle, in a simulated world whose truth is known (the `qis-sim` crate does the work).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, Result};
use indicatif::{ProgressBar, ProgressStyle};
use qis::synth::Method;
use qis_sim::policy::Routing;
use qis_sim::report::Report;
use qis_sim::sweep::{SweepConfig, execute, execute_on, parse_method};

/// The experiments: regret per agent versus N, the cold-start curve, routing cost and bytes per
/// agent (exact and vector routing), dishonest and flooding agents, and the feedback loop on/off.
/// Three policies are compared: `isolated` (own outcomes only), `qis` (own outcomes plus peers'
/// packets through a real Node, router, fingerprint and synthesizer) and `central` (a pooled oracle
/// that sees every outcome).
///
/// Prints a table on stdout and writes CSV files and SVG plots to --out. The same seed gives
/// byte-identical stdout and CSV files (timing.csv, wall-clock per query, excepted). Runs use every
/// core (set RAYON_NUM_THREADS to use fewer).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The seed every world and every agent's randomness is drawn from.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The quick sweep (seconds; for CI): N up to 100, 20 rounds, Bayesian synthesis only.
    /// Without it, the full sweep (minutes): N up to 10,000, 30 rounds, all three methods.
    #[arg(long)]
    quick: bool,
    /// Numbers of agents for regret versus N and routing cost, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..=100_000))]
    agents: Vec<u64>,
    /// Rounds per run; every agent decides once per round.
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..=10_000))]
    rounds: Option<u64>,
    /// Synthesis methods qis agents use: frequency, weighted, bayesian (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = parse_method)]
    synth: Vec<Method>,
    /// Routings measured for routing cost: exact, vector (comma-separated).
    #[arg(long, value_delimiter = ',')]
    routing: Vec<Routing>,
    /// Shares of dishonest agents (0 to below 1) for the robustness experiment, comma-separated.
    #[arg(long, value_delimiter = ',')]
    dishonest: Vec<f64>,
    /// Flood volumes (packets one agent deposits per round at each option's address of the most
    /// common context), comma-separated; 0 is the no-flood baseline.
    #[arg(long, value_delimiter = ',')]
    flood: Vec<usize>,
    /// Caps on the packets one agent may place in a consultation, which the flood experiment
    /// compares: numbers or `none`, comma-separated [default: none and the library's default,
    /// 3]. Every other experiment uses the library's default.
    #[arg(long, value_delimiter = ',', value_parser = parse_cap)]
    max_per_agent: Vec<Cap>,
    /// The feedback loop (re-depositing synthesized packets): on, off, or both to compare.
    #[arg(long, value_enum)]
    feedback: Option<Feedback>,
    /// Packets a qis agent pulls per option and decision (the library's default: 50).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    limit: Option<u64>,
    /// Where `qis` agents route: `memory:` (the default, a memory router per run) or any router
    /// URL (`file:DIR`, `nats://…`, `chroma://…`, `qdrant://…`); each run gets a namespace of its
    /// own (a network `<network>-sim<nonce>-<run>`, or a directory under DIR removed after the
    /// run). Engines are far slower than memory: pair them with --quick or few --agents. Results
    /// do not depend on the router.
    #[arg(long, value_name = "URL", default_value = "memory:")]
    router: String,
    /// Where the CSV files and plots go.
    #[arg(long, default_value = "qis-sim-out")]
    out: PathBuf,
    /// Skip the plots (CSV and the table only).
    #[arg(long)]
    no_plots: bool,
}

/// A cap on packets per agent, or none.
#[derive(Clone, Copy, Debug)]
struct Cap(Option<usize>);

fn parse_cap(s: &str) -> Result<Cap, String> {
    if s == "none" {
        return Ok(Cap(None));
    }
    match s.parse::<usize>() {
        Ok(m) if (1..=qis::router::MAX_LIMIT).contains(&m) => Ok(Cap(Some(m))),
        _ => Err(format!(
            "a cap is `none` or a number from 1 to {}, not {s:?}",
            qis::router::MAX_LIMIT
        )),
    }
}

/// Feedback loop settings to compare.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Feedback {
    /// Agents re-deposit what they synthesized.
    On,
    /// They do not.
    Off,
    /// Compare both.
    Both,
}

impl Args {
    fn config(&self) -> SweepConfig {
        let mut c = if self.quick {
            SweepConfig::quick(self.seed)
        } else {
            SweepConfig::full(self.seed)
        };
        if !self.agents.is_empty() {
            c.agents = self.agents.iter().map(|&n| n as usize).collect();
        }
        if let Some(r) = self.rounds {
            c.rounds = r as usize;
        }
        if !self.synth.is_empty() {
            c.methods = self.synth.clone();
        }
        if !self.routing.is_empty() {
            c.routing = self.routing.clone();
        }
        if !self.dishonest.is_empty() {
            c.dishonest = self.dishonest.clone();
        }
        if !self.flood.is_empty() {
            c.flood = self.flood.clone();
        }
        if !self.max_per_agent.is_empty() {
            c.flood_caps = self.max_per_agent.iter().map(|c| c.0).collect();
        }
        if let Some(f) = self.feedback {
            c.feedback = match f {
                Feedback::On => vec![true],
                Feedback::Off => vec![false],
                Feedback::Both => vec![false, true],
            };
        }
        if let Some(l) = self.limit {
            c.limit = l as usize;
        }
        c
    }
}

pub fn run(args: Args) -> Result<()> {
    let config = args.config();
    config.validate()?;
    let started = Instant::now();
    let jobs = config.jobs();
    let total: u64 = jobs.iter().map(|j| j.work()).sum();
    // The bar goes to stderr, and only to a terminal: piped output stays byte-identical.
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {percent}% ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let router = qis::router::url::parse_url(&args.router)
        .with_context(|| format!("--router {:?}", args.router))?;
    let results = if router == qis::router::url::RouterSpec::Memory {
        execute(&jobs, &|work| bar.inc(work))?
    } else {
        eprintln!(
            "qis agents route through {} ({})",
            router.backend(),
            args.router
        );
        execute_on(&jobs, Some(&router), &|work| bar.inc(work))
            .with_context(|| format!("--router {:?}", args.router))?
    };
    bar.finish_and_clear();

    let report = Report::new(&config, &jobs, &results);
    print!("{}", report.table());
    let mut written = report
        .write_csv(&args.out)
        .with_context(|| format!("writing CSV files to {}", args.out.display()))?;
    if !args.no_plots {
        written.extend(qis_sim::plot::write_all(&report, &args.out)?);
    }
    eprintln!(
        "{} runs in {:.1} s; wrote {} files to {}",
        jobs.len(),
        started.elapsed().as_secs_f64(),
        written.len(),
        args.out.display()
    );
    Ok(())
}

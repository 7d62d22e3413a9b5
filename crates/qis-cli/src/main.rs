//! `qis`: the command-line face of the qis library.
//!
//! # Layout
//! - `cmd/` — one file per command. Each is glue: its flags are laid over the library's
//!   [`Settings`](qis::setup::Settings), one call to the façade [`Qis`](qis::setup::Qis) (or a
//!   router), then rendering. `selector.rs` turns query flags into a
//!   [`Selection`](qis::setup::Selection); `remote.rs` is `--remote`, another spelling of
//!   `--router` for a node.
//! - `config.rs` — the global flags and `qis.toml` (the library's `Settings`, plus `[serve]`).
//! - `store.rs` — opening a router with the messages a person reads, and `--embedder` choices.
//!
//! This file only parses arguments, sets up logging and runs the command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod config;
mod store;

/// QIS outcome routing: agents learn from each other's outcomes without sharing raw data.
///
/// Settings come from flags, then `QIS_*` environment variables, then `qis.toml`.
#[derive(Debug, Parser)]
#[command(name = "qis", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    global: config::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the seed's 20-agent loop end to end on the embedded store.
    Demo(cmd::demo::Args),
    /// Deposit one outcome packet.
    Deposit(cmd::deposit::Args),
    /// Query packets: by problem, address or text, with filters.
    Query(cmd::query::Args),
    /// Query, then synthesize locally (frequency, weighted or Bayesian).
    Synth(cmd::synth::Args),
    /// What the store holds (the seed's collection stats).
    Stats(cmd::stats::Args),
    /// Remove expired packets now.
    Purge(cmd::stats::PurgeArgs),
    /// Take packets back: by id, agent or address (tombstones refuse their replay).
    Forget(cmd::forget::Args),
    /// List the addresses the store holds, most recently active first, with packet counts.
    Addresses(cmd::addresses::Args),
    /// Write every live packet as JSON Lines.
    Export(cmd::transfer::ExportArgs),
    /// Read packets from JSON Lines (validated whole before anything is stored).
    Import(cmd::transfer::ImportArgs),
    /// Measure the embedded store (or, with --router, any router) on this machine: deposits,
    /// queries, recall.
    Bench(cmd::bench::Args),
    /// Print the address of a problem (domain + context) under a fingerprint scheme.
    Fingerprint(cmd::fingerprint::Args),
    /// Make an agent's ed25519 key for signed packets; prints its key-ring line.
    Keygen(cmd::keygen::Args),
    /// Measure the claim: isolated vs qis vs a central oracle in a simulated world (regret vs N,
    /// cold start, routing cost, dishonest and flooding agents, the feedback loop), with plots.
    Simulate(cmd::simulate::Args),
    /// Run a qis node: the routing layer over HTTP, with tokens, limits, metrics and a dashboard
    /// (and the MCP tools at /mcp).
    Serve(cmd::serve::Args),
    /// Serve the qis tools to an LLM host over the Model Context Protocol, on stdio.
    Mcp(cmd::mcp::Args),
}

/// The command line, with negative numbers taken as values (`--confidence -1` is refused by
/// the flag's own rule, not as an unknown argument `-1`).
fn parse_args() -> Cli {
    use clap::{CommandFactory as _, FromArgMatches as _};
    fn negatives(command: clap::Command) -> clap::Command {
        command
            .allow_negative_numbers(true)
            .mut_subcommands(negatives)
    }
    let matches = negatives(Cli::command()).get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn main() -> ExitCode {
    // `qis query | head` should end quietly when `head` has read enough, as other Unix tools do,
    // not panic on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QIS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = parse_args();
    // The server uses every core; the other commands are one short conversation with a store.
    let runtime = if matches!(cli.command, Command::Serve(_)) {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let result = runtime
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole cause chain on one line, without a backtrace: errors here are the user's
            // to fix, not the program's.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Demo(args) => cmd::demo::run(g, args).await,
        Command::Deposit(args) => cmd::deposit::run(g, args).await,
        Command::Query(args) => cmd::query::run(g, args).await,
        Command::Synth(args) => cmd::synth::run(g, args).await,
        Command::Stats(args) => cmd::stats::run(g, args).await,
        Command::Purge(args) => cmd::stats::purge(g, args).await,
        Command::Forget(args) => cmd::forget::run(g, args).await,
        Command::Addresses(args) => cmd::addresses::run(g, args).await,
        Command::Export(args) => cmd::transfer::export(g, args).await,
        Command::Import(args) => cmd::transfer::import(g, args).await,
        Command::Bench(args) => cmd::bench::run(g, args).await,
        Command::Fingerprint(args) => cmd::fingerprint::run(g, args),
        Command::Keygen(args) => cmd::keygen::run(args),
        Command::Simulate(args) => cmd::simulate::run(args),
        Command::Mcp(args) => cmd::mcp::run(g, args).await,
        Command::Serve(args) => cmd::serve::run(g, args).await,
    }
}

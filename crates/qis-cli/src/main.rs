//! `qis`: the command-line face of the qis library.
//!
//! One file per command in `cmd/`; this file only parses arguments and sets up logging.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// QIS outcome routing: agents learn from each other's outcomes without sharing raw data.
#[derive(Debug, Parser)]
#[command(name = "qis", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the seed's 20-agent loop end to end: deposit, consult, synthesize, feed back.
    Demo(cmd::demo::Args),
    /// Print the address of a problem (domain + context) under a fingerprint scheme.
    Fingerprint(cmd::fingerprint::Args),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QIS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Fingerprint(args) => cmd::fingerprint::run(args),
    };
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

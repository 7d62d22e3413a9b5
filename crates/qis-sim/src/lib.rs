//! # qis-sim — the seeds' claim, measured
//!
//! The seeds claim that N agents sharing outcomes through qis get N(N−1)/2 synthesis opportunities
//! at O(log N) routing cost each. This crate measures what that buys in a world whose truth is
//! known: problem contexts with hidden per-option success rates ([`world`]), agents that decide by
//! Thompson sampling under three [`policy`]s (isolated, qis through the real library, a central
//! pooled oracle), and a [`sweep`] of experiments — regret versus N, the cold-start curve, routing
//! cost and bytes per agent (exact and vector routing), dishonest and flooding agents, the feedback
//! loop — written as a table, CSV files and SVG plots ([`report`], [`plot`]).
//!
//! `qis` agents run the library itself: a [`Node`](qis::node::Node) per agent with a `fields`
//! fingerprint, the [`MemoryRouter`](qis::router::memory::MemoryRouter) (wrapped to stamp
//! simulated time and to meter each query, [`router`]), the library's synthesizers, and for vector
//! routing the hashed embedder.
//!
//! A run is a function of its seed: the same seed gives byte-identical tables and CSV files.
//!
//! ```
//! use qis_sim::policy::Policy;
//! use qis_sim::run::{Scenario, run};
//!
//! let scenario = Scenario { agents: 20, rounds: 10, ..Scenario::default() };
//! let isolated = run(&scenario, Policy::Isolated, 7)?;
//! let qis = run(&scenario, Policy::Qis, 7)?;
//! assert_eq!(isolated.regret.count, 200);
//! assert!(qis.meter.queries > 0);
//! # Ok::<(), qis_sim::Error>(())
//! ```
//!
//! # Layout
//! - [`world`] — contexts, options, hidden rates, noisy outcomes.
//! - [`policy`] — isolated / qis / central, routing, and how an insight becomes evidence.
//! - [`run`] — one run: N agents over rounds under one policy.
//! - [`router`] — the simulated clock and the cost meter around the memory router (layers that
//!   forward every method, as the library's [`qis::router::layer`] do).
//! - [`sweep`] — the experiments, run in parallel (rayon), combined in a fixed order.
//! - [`report`] — one module per concern: the row types, their aggregation, the stdout table and
//!   the CSV files; [`plot`] — the SVG plots.

#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

pub mod plot;
pub mod policy;
pub mod report;
pub mod router;
pub mod run;
mod seed;
pub mod sweep;
pub mod workload;
pub mod world;

/// What can go wrong in a simulation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The library refused something (a bug in the simulator if it happens).
    #[error(transparent)]
    Qis(#[from] qis::Error),
    /// Writing an output file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Drawing a plot failed.
    #[error("drawing {path}: {message}")]
    Plot {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        message: String,
    },
    /// A setting is out of range.
    #[error("{0}")]
    Config(String),
}

/// This crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

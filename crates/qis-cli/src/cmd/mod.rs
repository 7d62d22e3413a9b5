//! One module per `qis` command, and what several share (`selector`, `show`).

pub mod addresses;
pub mod agent;
pub mod bench;
pub mod demo;
pub mod deposit;
pub mod fingerprint;
pub mod forget;
pub mod keygen;
pub mod mcp;
pub mod query;
pub mod remote;
pub mod selector;
pub mod serve;
pub mod show;
pub mod simulate;
pub mod stats;
pub mod synth;
pub mod transfer;

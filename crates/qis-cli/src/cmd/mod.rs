//! One module per `qis` command, and what several share (`selector`, `show`).

pub mod bench;
pub mod demo;
pub mod deposit;
pub mod fingerprint;
pub mod query;
pub mod selector;
pub mod show;
pub mod simulate;
pub mod stats;
pub mod synth;
pub mod transfer;

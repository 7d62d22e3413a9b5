//! One module per `qis` command.

pub mod demo;
pub mod fingerprint;

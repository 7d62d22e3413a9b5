//! Empty: this crate only exists so that `cargo build --features X` compiles candidate X alone.

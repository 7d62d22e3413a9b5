//! `qis._qis`: the qis library for Python (PyO3, abi3 for CPython 3.10 and up). The package
//! `qis` re-exports it and adds the framework adapters (`qis.adapters`).
//!
//! There is no second implementation here: fingerprints, packets, routers and synthesis are the
//! library's, reached through its façade (`qis::setup::Qis`). This crate converts arguments,
//! runs the library's futures with the GIL released, and maps its refusals to exceptions.
//!
//! # Layout
//! - `node` — `Node` (blocking) and `AsyncNode` (asyncio), over one shared core.
//! - `types` — `Receipt`, `Packet`, `Hit`, `Insight`, `Stats`: typed answers with `to_dict()`.
//! - `errors` — `QisError` and its kinds, from the library's one error mapping.
//! - `convert` — Python values to and from JSON values.

use pyo3::prelude::*;

mod convert;
mod errors;
mod node;
mod types;

/// The address a problem fingerprints to under the seed-compatible `keys` scheme (hex), without
/// opening a node.
#[pyfunction]
fn address(domain: &str, context: &Bound<'_, PyAny>) -> PyResult<String> {
    use qis::fingerprint::Fingerprint as _;
    let context = convert::dict_arg(context, "context")?;
    qis::fingerprint::KeysFingerprint::new()
        .address(domain, &context)
        .map(|a| a.to_hex())
        .map_err(errors::from_qis)
}

#[pymodule]
fn _qis(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<node::Node>()?;
    m.add_class::<node::AsyncNode>()?;
    m.add_class::<types::Receipt>()?;
    m.add_class::<types::Packet>()?;
    m.add_class::<types::Hit>()?;
    m.add_class::<types::Insight>()?;
    m.add_class::<types::Stats>()?;
    m.add_function(wrap_pyfunction!(address, m)?)?;
    errors::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

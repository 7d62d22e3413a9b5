//! What the library answers, as typed Python objects: each has read-only attributes and
//! `to_dict()` (the packet's or insight's JSON form, as the node and the CLI print it).

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde::Serialize;

use crate::convert::to_py;

/// An `f32` as the float its shortest decimal text reads as (0.7, not 0.699999988079071).
fn shortest(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

fn dict<'py>(py: Python<'py>, value: &impl Serialize) -> PyResult<Bound<'py, PyDict>> {
    let json = qis::wire::to_json_value(value)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    Ok(to_py(py, &json)?.cast_into::<PyDict>()?)
}

/// What the router said of one deposited packet.
#[pyclass(module = "qis", frozen, get_all)]
#[derive(Clone, Debug)]
pub(crate) struct Receipt {
    /// The packet's id.
    pub(crate) id: String,
    /// Where it is stored (hex).
    pub(crate) address: String,
    /// False when the router held this packet already (an idempotent repeat).
    pub(crate) stored: bool,
}

impl From<qis::router::Receipt> for Receipt {
    fn from(r: qis::router::Receipt) -> Self {
        Receipt {
            id: r.id.to_string(),
            address: r.address.to_hex(),
            stored: r.stored,
        }
    }
}

#[pymethods]
impl Receipt {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("id", &self.id)?;
        d.set_item("address", &self.address)?;
        d.set_item("stored", self.stored)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "Receipt(id={:?}, address={:?}, stored={})",
            self.id,
            self.address,
            if self.stored { "True" } else { "False" }
        )
    }
}

/// One outcome packet: what worked, for what kind of problem, how confident.
#[pyclass(module = "qis", frozen)]
#[derive(Clone, Debug)]
pub(crate) struct Packet(pub(crate) Arc<qis::packet::Packet>);

#[pymethods]
impl Packet {
    #[getter]
    fn id(&self) -> String {
        self.0.id().to_string()
    }
    #[getter]
    fn agent(&self) -> &str {
        self.0.agent()
    }
    #[getter]
    fn domain(&self) -> &str {
        self.0.domain()
    }
    #[getter]
    fn address(&self) -> String {
        self.0.address().to_hex()
    }
    #[getter]
    fn outcome(&self) -> &'static str {
        self.0.outcome().as_str()
    }
    #[getter]
    fn confidence(&self) -> f64 {
        shortest(self.0.confidence())
    }
    /// What worked: a dict of numbers, strings and bools.
    #[getter]
    fn result<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        dict(py, self.0.result())
    }
    #[getter]
    fn summary(&self) -> &str {
        self.0.summary()
    }
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.0.tags().to_vec()
    }
    /// The shared problem text, if the agent shared one.
    #[getter]
    fn problem(&self) -> Option<&str> {
        self.0.problem()
    }
    /// Milliseconds since the epoch.
    #[getter]
    fn created(&self) -> u64 {
        self.0.created()
    }
    /// Seconds the packet lives, if it expires.
    #[getter]
    fn ttl(&self) -> Option<u64> {
        self.0.ttl()
    }
    /// The original packets a derived one (the feedback loop's) rests on.
    #[getter]
    fn derived_from(&self) -> Vec<String> {
        self.0
            .derived_from()
            .iter()
            .map(ToString::to_string)
            .collect()
    }
    /// Whether the packet carries its agent's signature (not checked here).
    #[getter]
    fn signed(&self) -> bool {
        self.0.signature().is_some()
    }

    /// The packet's JSON form as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        dict(py, &*self.0)
    }

    fn __repr__(&self) -> String {
        format!(
            "Packet(id={:?}, agent={:?}, domain={:?}, outcome={:?}, confidence={})",
            self.0.id().to_string(),
            self.0.agent(),
            self.0.domain(),
            self.0.outcome().as_str(),
            self.0.confidence()
        )
    }

    fn __eq__(&self, other: &Packet) -> bool {
        *self.0 == *other.0
    }

    fn __hash__(&self) -> u64 {
        let id = self.0.id().to_string();
        id.bytes().fold(0xcbf2_9ce4_8422_2325, |h: u64, b| {
            (h ^ b as u64).wrapping_mul(0x1000_0000_01b3)
        })
    }
}

/// A packet a query found, and how similar it is (1.0 for exact queries).
#[pyclass(module = "qis", frozen, get_all)]
#[derive(Clone, Debug)]
pub(crate) struct Hit {
    pub(crate) score: f64,
    pub(crate) packet: Packet,
}

impl From<&qis::router::Hit> for Hit {
    fn from(h: &qis::router::Hit) -> Self {
        Hit {
            score: shortest(h.score),
            packet: Packet(h.packet.clone()),
        }
    }
}

#[pymethods]
impl Hit {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("score", self.score)?;
        d.set_item("packet", self.packet.to_dict(py)?)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "Hit(score={}, packet={})",
            self.score,
            self.packet.__repr__()
        )
    }
}

/// What the peers' packets say: the best supported result, how strongly, from how many agents.
#[pyclass(module = "qis", frozen)]
#[derive(Clone, Debug)]
pub(crate) struct Insight(pub(crate) qis::synth::Insight);

#[pymethods]
impl Insight {
    /// `frequency`, `weighted` or `bayesian`.
    #[getter]
    fn method(&self) -> String {
        self.0.method.to_string()
    }
    /// The best supported result (None when nothing was found).
    #[getter]
    fn best<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.0.best.as_ref().map(|b| dict(py, b)).transpose()
    }
    #[getter]
    fn confidence(&self) -> f64 {
        self.0.confidence
    }
    /// Packets the synthesis used.
    #[getter]
    fn sample_size(&self) -> usize {
        self.0.sample_size
    }
    /// Distinct agents behind them.
    #[getter]
    fn agents(&self) -> usize {
        self.0.agents
    }
    #[getter]
    fn consensus_rate(&self) -> Option<f64> {
        self.0.consensus_rate
    }
    #[getter]
    fn outcome(&self) -> Option<&'static str> {
        self.0.outcome.map(|o| o.as_str())
    }
    /// The ids of the packets used.
    #[getter]
    fn used(&self) -> Vec<String> {
        self.0.used.iter().map(ToString::to_string).collect()
    }

    /// The insight's JSON form (per-field statistics, the success posterior) as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        dict(py, &self.0)
    }

    fn __bool__(&self) -> bool {
        self.0.best.is_some()
    }

    fn __repr__(&self) -> String {
        format!(
            "Insight(method={:?}, agents={}, sample_size={}, confidence={:.3})",
            self.0.method.to_string(),
            self.0.agents,
            self.0.sample_size,
            self.0.confidence
        )
    }
}

/// What the router holds.
#[pyclass(module = "qis", frozen, get_all)]
#[derive(Clone, Debug)]
pub(crate) struct Stats {
    pub(crate) packets: u64,
    pub(crate) addresses: u64,
    pub(crate) vectors: u64,
    pub(crate) expired: u64,
    pub(crate) dimension: Option<usize>,
    pub(crate) router: String,
}

#[pymethods]
impl Stats {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("packets", self.packets)?;
        d.set_item("addresses", self.addresses)?;
        d.set_item("vectors", self.vectors)?;
        d.set_item("expired", self.expired)?;
        d.set_item("dimension", self.dimension)?;
        d.set_item("router", &self.router)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "Stats(packets={}, addresses={}, vectors={}, router={:?})",
            self.packets, self.addresses, self.vectors, self.router
        )
    }
}

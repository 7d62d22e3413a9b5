//! `qis.Node` (blocking) and `qis.AsyncNode` (asyncio): one agent's loop over the library's
//! façade. Arguments are converted while the GIL is held; the work (I/O, embedding, synthesis)
//! runs on the extension's tokio runtime with the GIL released.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyString};
use qis::node::Observation;
use qis::packet::{Address, Outcome, ResultMap, now_ms};
use qis::router::url::{parse_duration, parse_url};
use qis::router::{DEFAULT_LIMIT, Forget};
use qis::setup::{Problem, Qis, Selection, Settings};
use qis::synth::{Method, Options, PerAgent};
use serde_json::Value;

use crate::convert::dict_arg;
use crate::errors::{NodeClosed, from_qis, invalid};
use crate::types::{Hit, Insight, Receipt, Stats};

fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// What a node is opened from: `qis.toml` (or `config`), the `QIS_*` variables, then these.
#[allow(clippy::too_many_arguments)]
fn settings(
    agent: String,
    router: Option<String>,
    data: Option<PathBuf>,
    config: Option<PathBuf>,
    embedder: Option<String>,
    model_dir: Option<PathBuf>,
    fingerprint: Option<String>,
    signing_key: Option<PathBuf>,
    agent_keys: Option<PathBuf>,
) -> PyResult<Settings> {
    let mut s = Settings::load(config.as_deref())
        .and_then(Settings::apply_env)
        .map_err(from_qis)?;
    s.agent = Some(agent);
    if let Some(dir) = data {
        s.data = Some(dir);
        s.router = None;
    }
    if let Some(url) = router {
        s.router = Some(parse_url(&url).map_err(|e| named("router", e))?);
    }
    if let Some(e) = embedder {
        s.embedder = Some(e.parse().map_err(|e| named("embedder", e))?);
    }
    if let Some(dir) = model_dir {
        s.model_dir = Some(dir);
    }
    if let Some(f) = fingerprint {
        s.fingerprint = f.parse().map_err(|e| named("fingerprint", e))?;
    }
    if let Some(path) = signing_key {
        s.signing_key = Some(path);
    }
    if let Some(path) = agent_keys {
        s.agent_keys = Some(path);
    }
    Ok(s)
}

/// A library error under the argument's own name.
fn named(field: &str, e: qis::Error) -> PyErr {
    from_qis(e.under_as(field))
}

/// A span: seconds (int or float) or text such as `"90s"`, `"12h"`, `"7d"`.
fn span(value: &Bound<'_, PyAny>, field: &str) -> PyResult<Duration> {
    if value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>() {
        let secs: f64 = value.extract()?;
        return match Duration::try_from_secs_f64(secs) {
            Ok(d) if secs > 0.0 && d.as_millis() < u64::MAX as u128 => Ok(d),
            _ => Err(invalid(
                field,
                format!("must be a positive, finite number of seconds, got {secs}"),
            )),
        };
    }
    if let Ok(text) = value.cast::<PyString>() {
        let text = text.to_str()?;
        return parse_duration(text).ok_or_else(|| {
            invalid(
                field,
                format!("a span such as 90s, 30m, 12h or 7d, got {text:?}"),
            )
        });
    }
    Err(invalid(
        field,
        "seconds (a number) or a span such as \"7d\"",
    ))
}

fn context_arg(context: Option<&Bound<'_, PyAny>>) -> PyResult<Option<qis::fingerprint::Context>> {
    context
        .filter(|c| !c.is_none())
        .map(|c| dict_arg(c, "context"))
        .transpose()
}

/// The problem of a deposit or a feedback loop, and a text to share along with a context.
fn problem_arg(
    domain: Option<String>,
    context: Option<&Bound<'_, PyAny>>,
    problem: Option<String>,
) -> PyResult<(Problem, Option<String>)> {
    Problem::from_parts(domain, context_arg(context)?, problem).map_err(from_qis)
}

/// The filters and target of a consultation or a query.
#[derive(Debug, Default)]
struct Select {
    domain: Option<String>,
    context: Option<qis::fingerprint::Context>,
    problem: Option<String>,
    address: Option<String>,
    tags_any: Vec<String>,
    min_confidence: Option<f32>,
    outcomes: Vec<String>,
    within: Option<Duration>,
    exclude_self: bool,
    limit: Option<usize>,
    min_score: Option<f32>,
    max_per_agent: Option<usize>,
}

impl Select {
    fn selection(self, agent: &str) -> PyResult<Selection> {
        let address = self
            .address
            .map(|a| Address::from_hex(&a).map_err(|e| named("address", e)))
            .transpose()?;
        let mut s = Selection::from_parts(self.domain, self.context, self.problem, address)
            .map_err(from_qis)?;
        s.filter.tags_any = self.tags_any;
        s.filter.min_confidence = self.min_confidence;
        for (i, o) in self.outcomes.iter().enumerate() {
            s.filter
                .outcomes
                .push(o.parse().map_err(|e| named(&format!("outcomes[{i}]"), e))?);
        }
        if let Some(d) = self.within {
            s.filter.since = Some(now_ms().saturating_sub(d.as_millis() as u64));
        }
        if self.exclude_self {
            s.filter.exclude_agents.push(agent.to_owned());
        }
        s.limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        s.min_score = self.min_score;
        s.max_per_agent = self.max_per_agent;
        Ok(s)
    }
}

/// The node's state, shared by the blocking and the asyncio classes.
#[derive(Debug)]
struct Core {
    agent: String,
    qis: RwLock<Option<Arc<Qis>>>,
}

impl Core {
    fn open(py: Python<'_>, settings: Settings) -> PyResult<Core> {
        let agent = settings.agent.clone().unwrap_or_default();
        // Fails early on a bad agent id, naming it.
        let qis = py
            .detach(|| runtime().block_on(settings.open()))
            .map_err(from_qis)?;
        qis.node_for(agent.clone()).map_err(from_qis)?;
        Ok(Core {
            agent,
            qis: RwLock::new(Some(Arc::new(qis))),
        })
    }

    fn qis(&self) -> PyResult<Arc<Qis>> {
        self.qis
            .read()
            .ok()
            .and_then(|q| q.clone())
            .ok_or_else(|| NodeClosed::new_err("this node is closed: open a new one"))
    }

    fn close(&self) {
        if let Ok(mut q) = self.qis.write() {
            *q = None;
        }
    }

    fn deposit(
        &self,
        problem: Problem,
        observation: Observation,
    ) -> PyResult<impl Future<Output = PyResult<Receipt>> + Send + 'static> {
        let (qis, agent) = (self.qis()?, self.agent.clone());
        Ok(async move {
            let receipt = qis.deposit(&agent, &problem, observation).await;
            receipt.map(Receipt::from).map_err(from_qis)
        })
    }

    fn deposit_many(
        &self,
        items: Vec<(Problem, Observation)>,
    ) -> PyResult<impl Future<Output = PyResult<Vec<Receipt>>> + Send + 'static> {
        let (qis, agent) = (self.qis()?, self.agent.clone());
        Ok(async move {
            let receipts = qis.deposit_many(&agent, items).await.map_err(from_qis)?;
            Ok(receipts.into_iter().map(Receipt::from).collect())
        })
    }

    /// This agent's packets named by `ids`, or at `address`, or (`everything`) all of them.
    fn forget(
        &self,
        ids: Option<Vec<String>>,
        address: Option<String>,
        everything: bool,
    ) -> PyResult<impl Future<Output = PyResult<u64>> + Send + 'static> {
        let what = Forget::own(
            self.agent.clone(),
            &ids.unwrap_or_default(),
            address.as_deref(),
            everything,
        )
        .map_err(from_qis)?;
        let qis = self.qis()?;
        Ok(async move { qis.router().forget(&what).await.map_err(from_qis) })
    }

    fn select(
        &self,
        s: Select,
        verified_only: bool,
    ) -> PyResult<impl Future<Output = PyResult<Vec<Hit>>> + Send + 'static> {
        let (qis, selection) = (self.qis()?, s.selection(&self.agent)?);
        Ok(async move {
            let (hits, _) = qis
                .select(&selection, verified_only)
                .await
                .map_err(from_qis)?;
            Ok(hits.iter().map(Hit::from).collect())
        })
    }

    fn consult(
        &self,
        s: Select,
        method: Method,
        options: Options,
        verified_only: bool,
    ) -> PyResult<impl Future<Output = PyResult<Insight>> + Send + 'static> {
        let (qis, selection) = (self.qis()?, s.selection(&self.agent)?);
        Ok(async move {
            let (insight, _) = qis
                .synthesize(&selection, method, options, verified_only)
                .await
                .map_err(from_qis)?;
            Ok(Insight(insight))
        })
    }

    fn close_loop(
        &self,
        problem: Problem,
    ) -> PyResult<impl Future<Output = PyResult<Option<(Insight, Receipt)>>> + Send + 'static> {
        let (qis, agent) = (self.qis()?, self.agent.clone());
        Ok(async move {
            let done = qis.close_loop(&agent, &problem).await.map_err(from_qis)?;
            Ok(done.map(|(i, r)| (Insight(i), Receipt::from(r))))
        })
    }

    fn stats(&self) -> PyResult<impl Future<Output = PyResult<Stats>> + Send + 'static> {
        let qis = self.qis()?;
        Ok(async move {
            let router = qis.router();
            let s = router.stats().await.map_err(from_qis)?;
            Ok(Stats {
                packets: s.packets,
                addresses: s.addresses,
                vectors: s.vectors,
                expired: s.expired,
                dimension: s.dimension,
                router: router.capabilities().name.to_owned(),
            })
        })
    }

    fn address(&self, domain: &str, context: &Bound<'_, PyAny>) -> PyResult<String> {
        let context = dict_arg(context, "context")?;
        Ok(self
            .qis()?
            .address(domain, &context)
            .map_err(from_qis)?
            .to_hex())
    }
}

/// An observation from a deposit's arguments.
#[allow(clippy::too_many_arguments)]
fn observation(
    outcome: &str,
    confidence: &Bound<'_, PyAny>,
    result: Option<&Bound<'_, PyAny>>,
    summary: Option<String>,
    tags: Option<Vec<String>>,
    ttl: Option<&Bound<'_, PyAny>>,
    shared: Option<String>,
) -> PyResult<Observation> {
    let outcome: Outcome = outcome.parse().map_err(|e| named("outcome", e))?;
    let confidence: f32 = match confidence.extract::<f64>() {
        Ok(c) if confidence.is_instance_of::<PyInt>() || confidence.is_instance_of::<PyFloat>() => {
            c as f32
        }
        _ => {
            return Err(invalid(
                "confidence",
                format!(
                    "must be a number from 0 to 1, got {}",
                    confidence.get_type().name()?
                ),
            ));
        }
    };
    let result: ResultMap = match result.filter(|r| !r.is_none()) {
        None => ResultMap::new(),
        Some(r) => {
            let map = dict_arg(r, "result")?;
            serde_path_to_error::deserialize(Value::Object(map))
                .map_err(|e| invalid(format!("result.{}", e.path()), e.into_inner().to_string()))?
        }
    };
    let mut o = Observation::new(outcome, confidence)
        .results(result)
        .summary(summary.unwrap_or_default());
    for tag in tags.unwrap_or_default() {
        o = o.tag(tag);
    }
    if let Some(ttl) = ttl.filter(|t| !t.is_none()) {
        o = o.ttl(span(ttl, "ttl")?);
    }
    if let Some(text) = shared {
        o = o.problem(text);
    }
    Ok(o)
}

/// The keys a deposit item may have.
const ITEM_KEYS: [&str; 9] = [
    "domain",
    "context",
    "problem",
    "outcome",
    "confidence",
    "result",
    "summary",
    "tags",
    "ttl",
];

/// The items of `deposit_many`: dicts with `deposit`'s arguments; errors name `items[i].field`.
fn items_arg(items: &Bound<'_, PyAny>) -> PyResult<Vec<(Problem, Observation)>> {
    let mut out = Vec::new();
    for (i, item) in items.try_iter()?.enumerate() {
        let item = item?;
        out.push(item_arg(&item).map_err(|e| under(item.py(), e, &format!("items[{i}]")))?);
    }
    Ok(out)
}

fn item_arg(item: &Bound<'_, PyAny>) -> PyResult<(Problem, Observation)> {
    let Ok(d) = item.cast::<pyo3::types::PyDict>() else {
        return Err(invalid("", "each item is a dict of deposit's arguments"));
    };
    for key in d.keys() {
        let key: String = key.extract()?;
        if !ITEM_KEYS.contains(&key.as_str()) {
            return Err(invalid(
                key,
                format!(
                    "not an argument of deposit; an item takes {}",
                    ITEM_KEYS.join(", ")
                ),
            ));
        }
    }
    let get = |k: &str| d.get_item(k).ok().flatten().filter(|v| !v.is_none());
    let text = |k: &str| -> PyResult<Option<String>> {
        get(k)
            .map(|v| {
                v.extract::<String>()
                    .map_err(|_| invalid(k, "must be a str"))
            })
            .transpose()
    };
    let outcome = text("outcome")?.ok_or_else(|| invalid("outcome", "required"))?;
    let confidence = get("confidence").ok_or_else(|| invalid("confidence", "required"))?;
    let tags = get("tags")
        .map(|t| {
            t.extract::<Vec<String>>()
                .map_err(|_| invalid("tags", "must be a list of str"))
        })
        .transpose()?;
    let context = get("context");
    let (problem, shared) = problem_arg(text("domain")?, context.as_ref(), text("problem")?)?;
    let o = observation(
        &outcome,
        &confidence,
        get("result").as_ref(),
        text("summary")?,
        tags,
        get("ttl").as_ref(),
        shared,
    )?;
    Ok((problem, o))
}

/// `err` with its field under `prefix` (`items[3]` + `confidence`).
fn under(py: Python<'_>, err: PyErr, prefix: &str) -> PyErr {
    let value = err.value(py);
    let Ok(field) = value.getattr("field") else {
        return err;
    };
    let field: Option<String> = field.extract().unwrap_or(None);
    let path = match field.as_deref() {
        None | Some("") => prefix.to_owned(),
        Some(f) => format!("{prefix}.{f}"),
    };
    let message = err.value(py).to_string();
    let rule = message
        .split_once("`: ")
        .map_or(message.as_str(), |(_, rule)| rule)
        .to_owned();
    invalid(path, rule)
}

fn method_options(method: &str, per_agent: &str) -> PyResult<(Method, Options)> {
    let method: Method = method.parse().map_err(|e| named("method", e))?;
    let options = Options {
        per_agent: per_agent
            .parse::<PerAgent>()
            .map_err(|e| named("per_agent", e))?,
        ..Options::default()
    };
    Ok((method, options))
}

#[allow(clippy::too_many_arguments)]
fn select_args(
    domain: Option<String>,
    context: Option<&Bound<'_, PyAny>>,
    problem: Option<String>,
    address: Option<String>,
    tags_any: Option<Vec<String>>,
    min_confidence: Option<f32>,
    outcomes: Option<Vec<String>>,
    within: Option<&Bound<'_, PyAny>>,
    exclude_self: bool,
    limit: Option<usize>,
    min_score: Option<f32>,
    max_per_agent: Option<usize>,
) -> PyResult<Select> {
    Ok(Select {
        domain,
        context: context_arg(context)?,
        problem,
        address,
        tags_any: tags_any.unwrap_or_default(),
        min_confidence,
        outcomes: outcomes.unwrap_or_default(),
        within: within
            .filter(|w| !w.is_none())
            .map(|w| span(w, "within"))
            .transpose()?,
        exclude_self,
        limit,
        min_score,
        max_per_agent,
    })
}

/// Runs `fut` on the runtime with the GIL released.
fn block<T: Send>(py: Python<'_>, fut: impl Future<Output = PyResult<T>> + Send) -> PyResult<T> {
    py.detach(|| runtime().block_on(fut))
}

/// One agent's side of the loop, blocking: deposit, consult, query, close_loop, stats.
///
/// `qis.Node("site_07", router="file:./qis-data")`; the router is any qis router URL
/// (`memory:`, `file:DIR`, `http://node:7878?token_env=QIS_TOKEN`, `nats://…`, …), else the
/// settings' (`qis.toml`, `QIS_*`), else the embedded store in `./qis-data`.
#[pyclass(module = "qis")]
#[derive(Debug)]
pub(crate) struct Node(Core);

/// One agent's side of the loop, for asyncio: every method returns an awaitable and never
/// blocks the event loop.
#[pyclass(module = "qis")]
#[derive(Debug)]
pub(crate) struct AsyncNode(Core);

macro_rules! constructor {
    ($ty:ident) => {
        #[pymethods]
        impl $ty {
            #[new]
            #[pyo3(signature = (agent, router=None, *, data=None, config=None, embedder=None, model_dir=None, fingerprint=None, signing_key=None, agent_keys=None))]
            #[allow(clippy::too_many_arguments)]
            fn new(
                py: Python<'_>,
                agent: String,
                router: Option<String>,
                data: Option<PathBuf>,
                config: Option<PathBuf>,
                embedder: Option<String>,
                model_dir: Option<PathBuf>,
                fingerprint: Option<String>,
                signing_key: Option<PathBuf>,
                agent_keys: Option<PathBuf>,
            ) -> PyResult<Self> {
                let s = settings(
                    agent, router, data, config, embedder, model_dir, fingerprint, signing_key,
                    agent_keys,
                )?;
                Ok($ty(Core::open(py, s)?))
            }

            /// The agent id.
            #[getter]
            fn agent(&self) -> &str {
                &self.0.agent
            }

            /// The address a problem fingerprints to (hex); the context stays here.
            fn address(&self, domain: &str, context: &Bound<'_, PyAny>) -> PyResult<String> {
                self.0.address(domain, context)
            }

            /// Closes the node: its router is released once no call is running on it; any
            /// later call raises `NodeClosed`.
            fn close(&self) {
                self.0.close()
            }

            /// Whether `close()` was called.
            #[getter]
            fn closed(&self) -> bool {
                self.0.qis().is_err()
            }

            fn __repr__(&self) -> String {
                match self.0.qis() {
                    Ok(q) => format!(
                        "{}(agent={:?}, router={:?})",
                        stringify!($ty),
                        self.0.agent,
                        q.router().capabilities().name
                    ),
                    Err(_) => format!("{}(agent={:?}, closed)", stringify!($ty), self.0.agent),
                }
            }
        }
    };
}

constructor!(Node);
constructor!(AsyncNode);

#[pymethods]
impl Node {
    /// Deposits what happened: for `domain` and a `context` dict (fingerprinted here, never
    /// stored), or a shared `problem` text; `outcome` is resolved, partial, contradicted or open.
    #[pyo3(signature = (domain, context=None, *, outcome, confidence, result=None, summary=None, tags=None, problem=None, ttl=None))]
    #[allow(clippy::too_many_arguments)]
    fn deposit(
        &self,
        py: Python<'_>,
        domain: String,
        context: Option<&Bound<'_, PyAny>>,
        outcome: &str,
        confidence: &Bound<'_, PyAny>,
        result: Option<&Bound<'_, PyAny>>,
        summary: Option<String>,
        tags: Option<Vec<String>>,
        problem: Option<String>,
        ttl: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Receipt> {
        let (target, shared) = problem_arg(Some(domain), context, problem)?;
        let o = observation(outcome, confidence, result, summary, tags, ttl, shared)?;
        block(py, self.0.deposit(target, o)?)
    }

    /// Deposits many outcomes in one call of the router: `items` are dicts of `deposit`'s
    /// arguments (`domain`, `context` or `problem`, `outcome`, `confidence`, …). All are checked
    /// before any is stored; a bad one raises naming `items[i].field`.
    fn deposit_many(&self, py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<Vec<Receipt>> {
        let items = items_arg(items)?;
        block(py, self.0.deposit_many(items)?)
    }

    /// What the peers' packets say about a problem: the synthesized insight.
    #[pyo3(signature = (domain=None, context=None, *, problem=None, address=None, method="weighted", per_agent="split", tags_any=None, min_confidence=None, outcomes=None, within=None, exclude_self=false, limit=None, min_score=None, max_per_agent=None, verified_only=false))]
    #[allow(clippy::too_many_arguments)]
    fn consult(
        &self,
        py: Python<'_>,
        domain: Option<String>,
        context: Option<&Bound<'_, PyAny>>,
        problem: Option<String>,
        address: Option<String>,
        method: &str,
        per_agent: &str,
        tags_any: Option<Vec<String>>,
        min_confidence: Option<f32>,
        outcomes: Option<Vec<String>>,
        within: Option<&Bound<'_, PyAny>>,
        exclude_self: bool,
        limit: Option<usize>,
        min_score: Option<f32>,
        max_per_agent: Option<usize>,
        verified_only: bool,
    ) -> PyResult<Insight> {
        let (method, options) = method_options(method, per_agent)?;
        let s = select_args(
            domain,
            context,
            problem,
            address,
            tags_any,
            min_confidence,
            outcomes,
            within,
            exclude_self,
            limit,
            min_score,
            max_per_agent,
        )?;
        block(py, self.0.consult(s, method, options, verified_only)?)
    }

    /// The packets themselves: newest first for a context or an address, most similar first
    /// for a problem text.
    #[pyo3(signature = (domain=None, context=None, *, problem=None, address=None, tags_any=None, min_confidence=None, outcomes=None, within=None, exclude_self=false, limit=None, min_score=None, max_per_agent=None, verified_only=false))]
    #[allow(clippy::too_many_arguments)]
    fn query(
        &self,
        py: Python<'_>,
        domain: Option<String>,
        context: Option<&Bound<'_, PyAny>>,
        problem: Option<String>,
        address: Option<String>,
        tags_any: Option<Vec<String>>,
        min_confidence: Option<f32>,
        outcomes: Option<Vec<String>>,
        within: Option<&Bound<'_, PyAny>>,
        exclude_self: bool,
        limit: Option<usize>,
        min_score: Option<f32>,
        max_per_agent: Option<usize>,
        verified_only: bool,
    ) -> PyResult<Vec<Hit>> {
        let s = select_args(
            domain,
            context,
            problem,
            address,
            tags_any,
            min_confidence,
            outcomes,
            within,
            exclude_self,
            limit,
            min_score,
            max_per_agent,
        )?;
        block(py, self.0.select(s, verified_only)?)
    }

    /// The feedback loop: consults, then deposits the insight as this agent's packet citing
    /// its sources. `None` when there was nothing to synthesize.
    #[pyo3(signature = (domain, context=None, *, problem=None))]
    fn close_loop(
        &self,
        py: Python<'_>,
        domain: String,
        context: Option<&Bound<'_, PyAny>>,
        problem: Option<String>,
    ) -> PyResult<Option<(Insight, Receipt)>> {
        let (target, _) = problem_arg(Some(domain), context, problem)?;
        block(py, self.0.close_loop(target)?)
    }

    /// Takes back this agent's packets: by `ids`, at an `address`, or `everything`. Returns how
    /// many were removed; a forgotten packet is gone from every query, and depositing it again
    /// raises `Forgotten` until it would have expired.
    #[pyo3(signature = (ids=None, *, address=None, everything=false))]
    fn forget(
        &self,
        py: Python<'_>,
        ids: Option<Vec<String>>,
        address: Option<String>,
        everything: bool,
    ) -> PyResult<u64> {
        block(py, self.0.forget(ids, address, everything)?)
    }

    /// What the router holds.
    fn stats(&self, py: Python<'_>) -> PyResult<Stats> {
        block(py, self.0.stats()?)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        _kind: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.0.close();
        false
    }
}

#[pymethods]
impl AsyncNode {
    /// `Node.deposit`, awaitable.
    #[pyo3(signature = (domain, context=None, *, outcome, confidence, result=None, summary=None, tags=None, problem=None, ttl=None))]
    #[allow(clippy::too_many_arguments)]
    fn deposit<'py>(
        &self,
        py: Python<'py>,
        domain: String,
        context: Option<&Bound<'py, PyAny>>,
        outcome: &str,
        confidence: &Bound<'py, PyAny>,
        result: Option<&Bound<'py, PyAny>>,
        summary: Option<String>,
        tags: Option<Vec<String>>,
        problem: Option<String>,
        ttl: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (target, shared) = problem_arg(Some(domain), context, problem)?;
        let o = observation(outcome, confidence, result, summary, tags, ttl, shared)?;
        pyo3_async_runtimes::tokio::future_into_py(py, self.0.deposit(target, o)?)
    }

    /// `Node.deposit_many`, awaitable.
    fn deposit_many<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let items = items_arg(items)?;
        pyo3_async_runtimes::tokio::future_into_py(py, self.0.deposit_many(items)?)
    }

    /// `Node.consult`, awaitable.
    #[pyo3(signature = (domain=None, context=None, *, problem=None, address=None, method="weighted", per_agent="split", tags_any=None, min_confidence=None, outcomes=None, within=None, exclude_self=false, limit=None, min_score=None, max_per_agent=None, verified_only=false))]
    #[allow(clippy::too_many_arguments)]
    fn consult<'py>(
        &self,
        py: Python<'py>,
        domain: Option<String>,
        context: Option<&Bound<'py, PyAny>>,
        problem: Option<String>,
        address: Option<String>,
        method: &str,
        per_agent: &str,
        tags_any: Option<Vec<String>>,
        min_confidence: Option<f32>,
        outcomes: Option<Vec<String>>,
        within: Option<&Bound<'py, PyAny>>,
        exclude_self: bool,
        limit: Option<usize>,
        min_score: Option<f32>,
        max_per_agent: Option<usize>,
        verified_only: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (method, options) = method_options(method, per_agent)?;
        let s = select_args(
            domain,
            context,
            problem,
            address,
            tags_any,
            min_confidence,
            outcomes,
            within,
            exclude_self,
            limit,
            min_score,
            max_per_agent,
        )?;
        pyo3_async_runtimes::tokio::future_into_py(
            py,
            self.0.consult(s, method, options, verified_only)?,
        )
    }

    /// `Node.query`, awaitable.
    #[pyo3(signature = (domain=None, context=None, *, problem=None, address=None, tags_any=None, min_confidence=None, outcomes=None, within=None, exclude_self=false, limit=None, min_score=None, max_per_agent=None, verified_only=false))]
    #[allow(clippy::too_many_arguments)]
    fn query<'py>(
        &self,
        py: Python<'py>,
        domain: Option<String>,
        context: Option<&Bound<'py, PyAny>>,
        problem: Option<String>,
        address: Option<String>,
        tags_any: Option<Vec<String>>,
        min_confidence: Option<f32>,
        outcomes: Option<Vec<String>>,
        within: Option<&Bound<'py, PyAny>>,
        exclude_self: bool,
        limit: Option<usize>,
        min_score: Option<f32>,
        max_per_agent: Option<usize>,
        verified_only: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = select_args(
            domain,
            context,
            problem,
            address,
            tags_any,
            min_confidence,
            outcomes,
            within,
            exclude_self,
            limit,
            min_score,
            max_per_agent,
        )?;
        pyo3_async_runtimes::tokio::future_into_py(py, self.0.select(s, verified_only)?)
    }

    /// `Node.close_loop`, awaitable.
    #[pyo3(signature = (domain, context=None, *, problem=None))]
    fn close_loop<'py>(
        &self,
        py: Python<'py>,
        domain: String,
        context: Option<&Bound<'py, PyAny>>,
        problem: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (target, _) = problem_arg(Some(domain), context, problem)?;
        pyo3_async_runtimes::tokio::future_into_py(py, self.0.close_loop(target)?)
    }

    /// `Node.forget`, awaitable.
    #[pyo3(signature = (ids=None, *, address=None, everything=false))]
    fn forget<'py>(
        &self,
        py: Python<'py>,
        ids: Option<Vec<String>>,
        address: Option<String>,
        everything: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        pyo3_async_runtimes::tokio::future_into_py(py, self.0.forget(ids, address, everything)?)
    }

    /// `Node.stats`, awaitable.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pyo3_async_runtimes::tokio::future_into_py(py, self.0.stats()?)
    }

    fn __aenter__<'py>(slf: Py<Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pyo3_async_runtimes::tokio::future_into_py(py, async move { Ok(slf) })
    }

    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _kind: Option<&Bound<'py, PyAny>>,
        _value: Option<&Bound<'py, PyAny>>,
        _traceback: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.0.close();
        pyo3_async_runtimes::tokio::future_into_py(py, async move { Ok(false) })
    }
}

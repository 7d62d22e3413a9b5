//! The tools: a table of names, descriptions and schemas, and each tool's glue from its
//! arguments to one call of the library's façade ([`Qis`]).

use std::sync::Arc;
use std::time::Duration;

use qis::node::Observation;
use qis::packet::{Address, Outcome, ResultMap, now_ms};
use qis::router::url::parse_duration;
use qis::router::{DEFAULT_LIMIT, Forget, Hit};
use qis::setup::{Problem, Qis, Selection};
use qis::synth::{Method, Options, PerAgent};
use qis::wire::{Code, ErrorBody};
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use rmcp::schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::args::{
    CloseLoopArgs, ConsultArgs, DepositArgs, ForgetArgs, ProblemArgs, QueryArgs, SelectArgs,
    StatsArgs,
};

/// A refusal that names the field and the rule (boxed: it is the cold path).
pub(crate) type Refusal = Box<ErrorBody>;

/// What a tool answers: a JSON value, or a refusal.
pub(crate) type Answer = Result<Value, Refusal>;

/// The tools, as `tools/list` shows them: built once (their schemas are generated from the
/// argument types), then shared.
pub(crate) fn catalog() -> &'static [Tool] {
    static CATALOG: std::sync::OnceLock<Vec<Tool>> = std::sync::OnceLock::new();
    CATALOG.get_or_init(build_catalog)
}

fn build_catalog() -> Vec<Tool> {
    vec![
        tool::<DepositArgs>(
            "deposit_outcome",
            "Deposit an outcome",
            "Share what happened when you acted on a problem, so that peers facing the same \
             problem learn from it. Call it after you tried something and know how it went. Name \
             the problem by `domain` with a `context` object (turned into an address inside qis, \
             never stored) or with a `problem` sentence (shared, found by meaning). Never put raw \
             data or personal details in `result` or `summary`: only what worked.\n\
             Example: {\"domain\": \"db_ops\", \"context\": {\"engine\": \"postgres\", \"symptom\": \
             \"pool_exhausted\"}, \"outcome\": \"resolved\", \"confidence\": 0.8, \"result\": \
             {\"fix\": \"raise_pool_size\", \"pool_size\": 50}, \"summary\": \"doubling the pool \
             stopped the timeouts\"}",
            ToolAnnotations::new()
                .read_only(false)
                .destructive(false)
                .idempotent(false)
                .open_world(false),
        ),
        tool::<ConsultArgs>(
            "consult",
            "Consult your peers",
            "Before you act on a problem, ask what worked for the other agents that met it: \
             returns one synthesized insight (the best supported result, how confident, from how \
             many independent agents, and which packets it used). Name the problem as for \
             deposit_outcome: `domain` with `context`, or a `problem` sentence (nearest in \
             meaning), or an `address`.\n\
             Example: {\"domain\": \"db_ops\", \"context\": {\"engine\": \"postgres\", \"symptom\": \
             \"pool_exhausted\"}}",
            read_only(),
        ),
        tool::<QueryArgs>(
            "query_outcomes",
            "List outcome packets",
            "The outcome packets themselves, when you want to read them one by one rather than \
             their synthesis (consult): newest first for a context or an address, most similar \
             first for a problem sentence. Filters: tags_any, min_confidence, outcomes, within, \
             exclude_self, limit.\n\
             Example: {\"problem\": \"connection pool exhausted at peak\", \"limit\": 5, \
             \"min_confidence\": 0.5}",
            read_only(),
        ),
        tool::<CloseLoopArgs>(
            "close_loop",
            "Close the loop",
            "Consult, then deposit the synthesized insight as your own packet, citing the \
             packets it rests on (so it is never counted twice). Call it when you adopted what \
             your peers found, so that the network's memory of this problem grows. Nothing is \
             deposited when there is nothing to synthesize.\n\
             Example: {\"domain\": \"db_ops\", \"context\": {\"engine\": \"postgres\", \"symptom\": \
             \"pool_exhausted\"}}",
            ToolAnnotations::new()
                .read_only(false)
                .destructive(false)
                .idempotent(false)
                .open_world(false),
        ),
        tool::<ForgetArgs>(
            "forget",
            "Take back your outcomes",
            "Remove packets you deposited: a mistaken outcome, one you must erase, or all of \
             yours. Only your own packets are touched. A forgotten packet is gone from every \
             query at once, and depositing it again is refused. Give `ids`, or an `address`, or \
             `everything: true`.\n\
             Example: {\"ids\": [\"01a2371b-d164-7636-8f88-36da88fd1c59\"]}",
            ToolAnnotations::new()
                .read_only(false)
                .destructive(true)
                .idempotent(true)
                .open_world(false),
        ),
        tool::<StatsArgs>(
            "stats",
            "Store statistics",
            "How much the network holds: packets, addresses, packets with vectors, expired \
             packets, and the router behind it. Takes no arguments.\nExample: {}",
            read_only(),
        ),
    ]
}

fn read_only() -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false)
}

fn tool<T: JsonSchema + 'static>(
    name: &'static str,
    title: &str,
    description: &'static str,
    annotations: ToolAnnotations,
) -> Tool {
    let mut annotations = annotations;
    annotations.title = Some(title.to_owned());
    Tool::new(name, description, JsonObject::new())
        .with_input_schema::<T>()
        .with_title(title)
        .with_annotations(annotations)
}

/// Runs tool `name` as `agent` (the session's, if it has one). `None`: no such tool.
pub(crate) async fn call(
    qis: &Arc<Qis>,
    agent: Option<&str>,
    name: &str,
    args: JsonObject,
) -> Option<Answer> {
    Some(match name {
        "deposit_outcome" => deposit(qis, agent, parse(name, args)?).await,
        "consult" => consult(qis, agent, parse(name, args)?).await,
        "query_outcomes" => query(qis, agent, parse(name, args)?).await,
        "close_loop" => close_loop(qis, agent, parse(name, args)?).await,
        "forget" => forget(qis, agent, parse(name, args)?).await,
        "stats" => stats(qis, parse(name, args)?).await,
        _ => return None,
    })
}

/// Decodes a tool's arguments; an argument its schema does not name is refused by name.
fn parse<T: DeserializeOwned + JsonSchema + 'static>(
    tool: &str,
    args: JsonObject,
) -> Option<Result<T, Refusal>> {
    let schema = &catalog().iter().find(|t| t.name == tool)?.input_schema;
    let known: Vec<&str> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if let Some(unknown) = args.keys().find(|k| !known.contains(&k.as_str())) {
        let takes = if known.is_empty() {
            "no arguments".to_owned()
        } else {
            format!("only {}", known.join(", "))
        };
        return Some(Err(invalid(
            unknown.clone(),
            format!("{tool} has no such argument; it takes {takes}"),
        )));
    }
    Some(
        serde_path_to_error::deserialize::<_, T>(Value::Object(args)).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            if path.is_empty() || path == "." {
                invalid("arguments", message)
            } else {
                invalid(path, message)
            }
        }),
    )
}

/// A library refusal; a configuration fault the caller can fix (no embedder, no agents' keys)
/// is said as it is.
fn refused(e: qis::Error) -> Refusal {
    match e {
        qis::Error::Config(message) => refuse(Code::NotSupported, message),
        other => Box::new(ErrorBody::from(other)),
    }
}

fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Refusal {
    Box::new(ErrorBody::invalid(field, rule))
}

fn refuse(code: Code, message: impl Into<String>) -> Refusal {
    Box::new(ErrorBody::new(code, message))
}

fn who(agent: Option<&str>) -> Result<&str, Refusal> {
    agent.ok_or_else(|| {
        refuse(
            Code::Unauthorized,
            "this session has no agent id: start `qis mcp --agent ID` (or set `agent` in qis.toml), \
             or connect to a node with a token bound to an agent",
        )
    })
}

/// The problem a deposit or a feedback loop is about, and a problem text to share as well.
fn problem(p: ProblemArgs) -> Result<(Problem, Option<String>), Refusal> {
    Problem::from_parts(p.domain, p.context, p.problem).map_err(refused)
}

fn span(field: &str, text: &str) -> Result<Duration, Refusal> {
    parse_duration(text).ok_or_else(|| {
        invalid(
            field,
            format!("a span such as 90s, 30m, 12h or 7d, got {text:?}"),
        )
    })
}

async fn deposit(qis: &Qis, agent: Option<&str>, args: Result<DepositArgs, Refusal>) -> Answer {
    let a = args?;
    let agent = who(agent)?;
    let (problem, shared) = problem(a.problem)?;
    let outcome: Outcome = a.outcome.parse().map_err(refused)?;
    let result: ResultMap = match a.result {
        None => ResultMap::new(),
        Some(map) => serde_path_to_error::deserialize(Value::Object(map))
            .map_err(|e| invalid(format!("result.{}", e.path()), e.into_inner().to_string()))?,
    };
    let mut observation = Observation::new(outcome, a.confidence)
        .results(result)
        .summary(a.summary.unwrap_or_default());
    for tag in a.tags.unwrap_or_default() {
        observation = observation.tag(tag);
    }
    if let Some(ttl) = &a.ttl {
        observation = observation.ttl(span("ttl", ttl)?);
    }
    if let Some(text) = shared {
        observation = observation.problem(text);
    }
    let receipt = qis
        .deposit(agent, &problem, observation)
        .await
        .map_err(refused)?;
    Ok(json!({
        "stored": receipt.stored,
        "id": receipt.id,
        "address": receipt.address,
        "agent": agent,
        "note": if receipt.stored { "deposited" } else { "already held: a repeat of a packet deposited before" },
    }))
}

/// The selection a consult or a query names, and whether it reads verified packets only.
fn selection(agent: Option<&str>, a: SelectArgs) -> Result<(Selection, bool), Refusal> {
    let p = a.problem;
    let address = a
        .address
        .map(|hex| Address::from_hex(&hex).map_err(|e| named("address", e)))
        .transpose()?;
    let mut s = Selection::from_parts(p.domain, p.context, p.problem, address).map_err(refused)?;
    s.filter.tags_any = a.tags_any.unwrap_or_default();
    s.filter.min_confidence = a.min_confidence;
    for (i, o) in a.outcomes.unwrap_or_default().iter().enumerate() {
        s.filter
            .outcomes
            .push(o.parse().map_err(|e| named(&format!("outcomes[{i}]"), e))?);
    }
    if let Some(within) = &a.within {
        let d = span("within", within)?;
        s.filter.since = Some(now_ms().saturating_sub(d.as_millis() as u64));
    }
    if a.exclude_self == Some(true) {
        s.filter.exclude_agents.push(who(agent)?.to_owned());
    }
    s.limit = a.limit.unwrap_or(DEFAULT_LIMIT);
    s.min_score = a.min_score;
    s.max_per_agent = a.max_per_agent;
    Ok((s, a.verified_only.unwrap_or(false)))
}

async fn consult(qis: &Qis, agent: Option<&str>, args: Result<ConsultArgs, Refusal>) -> Answer {
    let a = args?;
    let method: Method = match &a.method {
        Some(m) => m.parse().map_err(|e| named("method", e))?,
        None => Method::Weighted,
    };
    let mut options = Options::default();
    if let Some(p) = &a.per_agent {
        options.per_agent = p.parse::<PerAgent>().map_err(|e| named("per_agent", e))?;
    }
    let (selection, verified) = selection(agent, a.select)?;
    let (insight, dropped) = qis
        .synthesize(&selection, method, options, verified)
        .await
        .map_err(refused)?;
    let mut v = qis::wire::to_json_value(&insight).map_err(internal)?;
    if verified && let Some(o) = v.as_object_mut() {
        o.insert("left_out_unverified".into(), json!(dropped));
    }
    Ok(v)
}

/// A library parse error, under the argument's own name.
fn named(field: &str, e: qis::Error) -> Refusal {
    refused(e.under_as(field))
}

fn internal(e: serde_json::Error) -> Refusal {
    tracing::error!(error = %e, "cannot render an answer");
    refuse(Code::Internal, "internal error; see the server's log")
}

pub(crate) fn hits(hits: &[Hit]) -> Value {
    Value::Array(
        hits.iter()
            .map(|h| {
                json!({
                    "score": qis::wire::to_json_value(&h.score).unwrap_or_default(),
                    "packet": qis::wire::to_json_value(&*h.packet).unwrap_or_default(),
                })
            })
            .collect(),
    )
}

async fn query(qis: &Qis, agent: Option<&str>, args: Result<QueryArgs, Refusal>) -> Answer {
    let (selection, verified) = selection(agent, args?.select)?;
    let (found, dropped) = qis.select(&selection, verified).await.map_err(refused)?;
    let mut v = json!({"count": found.len(), "hits": hits(&found)});
    if verified {
        v["left_out_unverified"] = json!(dropped);
    }
    Ok(v)
}

async fn close_loop(
    qis: &Qis,
    agent: Option<&str>,
    args: Result<CloseLoopArgs, Refusal>,
) -> Answer {
    let a = args?;
    let agent = who(agent)?;
    let (problem, _) = problem(a.problem)?;
    match qis.close_loop(agent, &problem).await.map_err(refused)? {
        None => Ok(json!({
            "deposited": false,
            "note": "nothing to synthesize yet: no packet of a peer answers this problem",
        })),
        Some((insight, receipt)) => Ok(json!({
            "deposited": receipt.stored,
            "id": receipt.id,
            "address": receipt.address,
            "insight": qis::wire::to_json_value(&insight).map_err(internal)?,
        })),
    }
}

async fn forget(qis: &Qis, agent: Option<&str>, args: Result<ForgetArgs, Refusal>) -> Answer {
    let a = args?;
    let agent = who(agent)?;
    let what = Forget::own(
        agent,
        &a.ids.unwrap_or_default(),
        a.address.as_deref(),
        a.everything == Some(true),
    )
    .map_err(refused)?;
    let removed = qis.router().forget(&what).await.map_err(refused)?;
    Ok(json!({
        "removed": removed,
        "agent": agent,
        "note": "forgotten packets are gone from every query; depositing them again is refused until they would have expired",
    }))
}

async fn stats(qis: &Qis, args: Result<StatsArgs, Refusal>) -> Answer {
    args?;
    let router = qis.router();
    let stats = router.stats().await.map_err(refused)?;
    let mut v = serde_json::to_value(&stats).map_err(internal)?;
    v["router"] = json!(router.capabilities().name);
    Ok(v)
}

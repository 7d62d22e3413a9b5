//! One configuration, one façade: [`Settings`] (what `qis.toml`, `QIS_*` variables and flags
//! say) opens a [`Qis`]: the router, the fingerprint, the embedder, the synthesis and the agent's
//! signing key, put together once. The CLI and the server build one; a command or a handler is
//! then parse, one call, render.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use qis::node::Observation;
//! use qis::packet::Outcome;
//! use qis::setup::{Selection, Settings};
//!
//! let settings: Settings = toml::from_str(r#"
//!     router = "memory:"
//!     agent = "site_07"
//!     embedder = "hashed"
//! "#)?;
//! let qis = settings.open().await?;
//! let context = serde_json::from_str(r#"{"condition": "T2D"}"#)?;
//! qis.node()?.deposit("clinical_trial", &context,
//!     Observation::new(Outcome::Resolved, 0.9).result("protocol", "once_weekly")).await?;
//! let hits = qis.query(&Selection::problem("clinical_trial", context)).await?;
//! assert_eq!(hits.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use crate::embed::{Embedder, EmbedderSpec};
use crate::error::{Error, Result};
use crate::fingerprint::{Context, Fingerprint, FingerprintSpec};
use crate::node::Node;
use crate::packet::Address;
use crate::router::layer::{Unsigned, VerifiedOnly};
use crate::router::url::{RouterSpec, parse_url};
use crate::router::{DEFAULT_LIMIT, DEFAULT_MAX_PER_AGENT, Filter, Hits, Query, Router, TextQuery};
use crate::sign::{AgentKey, KeyRing};
use crate::synth::{Insight, Method, Options};

/// The data directory when nothing names one.
pub const DEFAULT_DATA_DIR: &str = "qis-data";

/// What a `qis` program is set up with. Every field is optional; `qis.toml` holds the same keys
/// (unknown ones are refused), [`Settings::apply_env`] lays `QIS_*` variables over them, and a
/// program's flags go on top by setting fields.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Settings {
    /// The embedded store's directory (`file:DIR`), when `router` names none.
    pub data: Option<PathBuf>,
    /// The router URL; wins over `data`.
    #[serde(default, deserialize_with = "router_url")]
    pub router: Option<RouterSpec>,
    /// This agent's id (deposits, the feedback loop).
    pub agent: Option<String>,
    /// The embedder (default: the best this build has).
    pub embedder: Option<EmbedderSpec>,
    /// Where MiniLM's files are, when `embedder` names no directory.
    pub model_dir: Option<PathBuf>,
    /// How problems map to addresses (default: `keys`).
    #[serde(default)]
    pub fingerprint: FingerprintSpec,
    /// The agent's secret key (a file `qis keygen` wrote): deposits are signed.
    pub signing_key: Option<PathBuf>,
    /// Agents' public keys (TOML key ring): verified-only reads and checks.
    pub agent_keys: Option<PathBuf>,
    /// The node server's own settings (`[serve]`), read by `qis serve`.
    #[serde(default)]
    pub serve: Option<toml::Table>,
}

fn router_url<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<RouterSpec>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    text.map(|t| parse_url(&t).map_err(serde::de::Error::custom))
        .transpose()
}

impl Settings {
    /// Reads a settings file (`qis.toml`). Errors: [`Error::Config`] naming the file and the key.
    pub fn from_file(path: &Path) -> Result<Settings> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "cannot read the settings file {}: {e}",
                path.display()
            ))
        })?;
        toml::from_str(&text)
            .map_err(|e| Error::Config(format!("settings file {}: {e}", path.display())))
    }

    /// Reads `path`, or `./qis.toml` when it exists (nothing otherwise).
    pub fn load(path: Option<&Path>) -> Result<Settings> {
        match path {
            Some(p) => Settings::from_file(p),
            None if Path::new("qis.toml").exists() => Settings::from_file(Path::new("qis.toml")),
            None => Ok(Settings::default()),
        }
    }

    /// Lays the `QIS_*` variables that are set over these settings: `QIS_DATA` (which also
    /// clears a `router` of the file), `QIS_ROUTER`, `QIS_AGENT`, `QIS_EMBEDDER`, `QIS_MODEL_DIR`,
    /// `QIS_SIGNING_KEY`, `QIS_AGENT_KEYS`.
    pub fn apply_env(mut self) -> Result<Settings> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(dir) = var("QIS_DATA") {
            self.data = Some(dir.into());
            self.router = None;
        }
        if let Some(url) = var("QIS_ROUTER") {
            self.router =
                Some(parse_url(&url).map_err(|e| Error::Config(format!("QIS_ROUTER: {e}")))?);
        }
        if let Some(agent) = var("QIS_AGENT") {
            self.agent = Some(agent);
        }
        if let Some(e) = var("QIS_EMBEDDER") {
            self.embedder = Some(e.parse()?);
        }
        if let Some(dir) = var("QIS_MODEL_DIR") {
            self.model_dir = Some(dir.into());
        }
        if let Some(path) = var("QIS_SIGNING_KEY") {
            self.signing_key = Some(path.into());
        }
        if let Some(path) = var("QIS_AGENT_KEYS") {
            self.agent_keys = Some(path.into());
        }
        Ok(self)
    }

    /// The router: `router`, else the embedded store in `data`, else in `./qis-data`.
    pub fn router_spec(&self) -> RouterSpec {
        match (&self.router, &self.data) {
            (Some(spec), _) => spec.clone(),
            (None, dir) => RouterSpec::Embedded {
                dir: dir.clone().unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            },
        }
    }

    /// The embedder: `embedder` (MiniLM from `model_dir` unless it names a directory), else the
    /// best this build has.
    pub fn embedder_spec(&self) -> EmbedderSpec {
        let dir = self.model_dir.as_deref();
        match &self.embedder {
            Some(spec) => spec.clone().with_model_dir(dir),
            None => EmbedderSpec::best_available(dir),
        }
    }

    /// Opens everything the settings name, with the router opened by [`RouterSpec::open`].
    pub async fn open(&self) -> Result<Qis> {
        let router = self.router_spec().open().await?;
        self.open_with(router)
    }

    /// Puts the façade together around a router opened already (the embedded store a caller
    /// also needs as itself, say). Reads the fingerprint's schema and secret, the signing key and
    /// the key ring now; the embedder is loaded when first needed.
    pub fn open_with(&self, router: Arc<dyn Router>) -> Result<Qis> {
        let signing_key = match &self.signing_key {
            Some(path) => Some(Arc::new(AgentKey::from_file(path)?)),
            None => None,
        };
        let ring = match &self.agent_keys {
            Some(path) => Some(Arc::new(KeyRing::from_file(path)?)),
            None => None,
        };
        Ok(Qis {
            fingerprint: self.fingerprint.open()?,
            embedder_spec: self.embedder_spec(),
            agent: self.agent.clone(),
            signing_key,
            ring,
            ..Qis::new(router)
        })
    }
}

/// What to look for: a problem (its address), an address, a text's nearest packets, or a
/// vector's; narrowed by a filter.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Selection {
    /// Where to look.
    pub target: Look,
    /// Conditions every hit meets.
    pub filter: Filter,
    /// At most this many hits (the top k of a text or vector).
    pub limit: usize,
    /// Texts and vectors: no hit less similar than this.
    pub min_score: Option<f32>,
    /// At most this many hits from one agent (see [`Query::max_per_agent`]).
    pub max_per_agent: Option<usize>,
}

/// Where a [`Selection`] looks.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Look {
    /// The address a problem (domain and context) fingerprints to; the context stays here.
    Problem {
        /// The problem's domain.
        domain: String,
        /// Its context.
        context: Context,
    },
    /// An address.
    Address(Address),
    /// The packets nearest a problem text in meaning.
    Text(String),
}

/// A problem as a person or an agent names it: a domain and a context, or a domain and a
/// problem text.
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    /// Fingerprinted to its address; the context never leaves this process.
    Context {
        /// The problem's domain.
        domain: String,
        /// Its context.
        context: Context,
    },
    /// Shared as the packet's `problem`: addressed by [`text_address`](crate::fingerprint::text_address) and found by meaning
    /// through its vector.
    Text {
        /// The problem's domain.
        domain: String,
        /// The problem, in words.
        text: String,
    },
}

impl Problem {
    /// The problem a surface's arguments name, and a text to share along with a context: a
    /// domain with a context (and perhaps a text), or a domain with a text. Errors name the
    /// argument (`domain`, `context`).
    pub fn from_parts(
        domain: Option<String>,
        context: Option<Context>,
        text: Option<String>,
    ) -> Result<(Problem, Option<String>)> {
        let domain = domain.ok_or_else(|| {
            Error::invalid(
                "domain",
                "required: the kind of problem, a short name such as \"db_ops\"",
            )
        })?;
        match (context, text) {
            (Some(context), text) => Ok((Problem::Context { domain, context }, text)),
            (None, Some(text)) => Ok((Problem::Text { domain, text }, None)),
            (None, None) => Err(Error::invalid(
                "context",
                "give `context` (an object of named fields) or `problem` (a sentence)",
            )),
        }
    }

    /// The domain.
    pub fn domain(&self) -> &str {
        match self {
            Problem::Context { domain, .. } | Problem::Text { domain, .. } => domain,
        }
    }
}

impl Selection {
    /// The packets a problem names: at its address (a context), or nearest its text in meaning
    /// within its domain.
    pub fn of(problem: &Problem) -> Selection {
        match problem {
            Problem::Context { domain, context } => Selection::problem(domain, context.clone()),
            Problem::Text { domain, text } => {
                let mut s = Selection::new(Look::Text(text.clone()));
                s.filter.domain = Some(domain.clone());
                s
            }
        }
    }

    /// The selection a surface's arguments name: an `address`, a `domain` with a `context`, or
    /// a problem `text` (within `domain` when given; with an address, `domain` filters). Errors
    /// name the argument.
    pub fn from_parts(
        domain: Option<String>,
        context: Option<Context>,
        text: Option<String>,
        address: Option<Address>,
    ) -> Result<Selection> {
        let mut s = match (address, context, text) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(Error::invalid(
                    "address",
                    "give an address or a problem (`context` or `problem`), not both",
                ));
            }
            (Some(address), None, None) => Selection::new(Look::Address(address)),
            (None, Some(context), _) => {
                let domain = domain.ok_or_else(|| {
                    Error::invalid("domain", "required with `context`: the kind of problem")
                })?;
                return Ok(Selection::problem(domain, context));
            }
            (None, None, Some(text)) => Selection::new(Look::Text(text)),
            (None, None, None) => {
                return Err(Error::invalid(
                    "context",
                    "give `domain` with `context`, a `problem` sentence, or an `address`",
                ));
            }
        };
        s.filter.domain = domain;
        Ok(s)
    }

    /// The packets at a problem's address.
    pub fn problem(domain: impl Into<String>, context: Context) -> Selection {
        Selection::new(Look::Problem {
            domain: domain.into(),
            context,
        })
    }

    /// A selection with the default limit and no filter.
    pub fn new(target: Look) -> Selection {
        Selection {
            target,
            filter: Filter::default(),
            limit: DEFAULT_LIMIT,
            min_score: None,
            max_per_agent: None,
        }
    }
}

/// The façade a [`Settings`] opens: one router, fingerprint, embedder and signing key, used by
/// every command and handler the same way.
#[derive(Debug)]
pub struct Qis {
    router: Arc<dyn Router>,
    fingerprint: Arc<dyn Fingerprint>,
    embedder_spec: EmbedderSpec,
    embedder: OnceLock<Arc<dyn Embedder>>,
    /// Set once the router accepted the embedder.
    bound: OnceLock<()>,
    agent: Option<String>,
    signing_key: Option<Arc<AgentKey>>,
    ring: Option<Arc<KeyRing>>,
}

impl Qis {
    /// A façade over `router` with the defaults a [`Settings::default`] names: the `keys`
    /// fingerprint, the best embedder of this build (loaded when first needed), no agent, no
    /// keys. The `with_*` methods set the parts a program holds already (a node server's).
    pub fn new(router: Arc<dyn Router>) -> Qis {
        Qis {
            router,
            fingerprint: Arc::new(crate::fingerprint::KeysFingerprint::new()),
            embedder_spec: EmbedderSpec::best_available(None),
            embedder: OnceLock::new(),
            bound: OnceLock::new(),
            agent: None,
            signing_key: None,
            ring: None,
        }
    }

    /// Addresses problems with `fingerprint`.
    #[must_use]
    pub fn with_fingerprint(mut self, fingerprint: Arc<dyn Fingerprint>) -> Qis {
        self.fingerprint = fingerprint;
        self
    }

    /// Embeds with `embedder` (bound to the router: a store holding another model's vectors
    /// refuses it, when first used).
    #[must_use]
    pub fn with_embedder(self, embedder: Arc<dyn Embedder>) -> Qis {
        let embedder_lock = OnceLock::new();
        let _ = embedder_lock.set(embedder);
        Qis {
            embedder: embedder_lock,
            bound: OnceLock::new(),
            ..self
        }
    }

    /// Verifies against `ring` (verified-only reads).
    #[must_use]
    pub fn with_key_ring(mut self, ring: Arc<KeyRing>) -> Qis {
        self.ring = Some(ring);
        self
    }

    /// The settings' agent, if they name one.
    pub fn agent(&self) -> Option<&str> {
        self.agent.as_deref()
    }

    /// Deposits an observation of a problem as `agent`: at its context's address, or (a text)
    /// sharing the text with its vector ([`Node::deposit_text`]). An observation that shares a
    /// problem text ([`Observation::problem`](crate::node::Observation::problem)) carries its
    /// vector too.
    pub async fn deposit(
        &self,
        agent: &str,
        problem: &Problem,
        observation: crate::node::Observation,
    ) -> Result<crate::router::Receipt> {
        match problem {
            Problem::Context { domain, context } => {
                let mut node = self.node_for(agent)?;
                if observation.shared_problem().is_some() {
                    node = node.with_embedder(self.embedder()?);
                }
                node.deposit(domain, context, observation).await
            }
            Problem::Text { domain, text } => {
                self.node_for(agent)?
                    .with_embedder(self.embedder()?)
                    .deposit_text(domain, text, observation)
                    .await
            }
        }
    }

    /// Deposits several observations as `agent` in one call of the router ([`Node::deposit_many`]):
    /// all are checked before any is sent. Receipts are in the order of `items`.
    pub async fn deposit_many(
        &self,
        agent: &str,
        items: Vec<(Problem, crate::node::Observation)>,
    ) -> Result<Vec<crate::router::Receipt>> {
        let mut node = self.node_for(agent)?;
        let texts = items
            .iter()
            .any(|(p, o)| matches!(p, Problem::Text { .. }) || o.shared_problem().is_some());
        if texts {
            node = node.with_embedder(self.embedder()?);
        }
        let mut batch = Vec::with_capacity(items.len());
        for (i, (problem, observation)) in items.into_iter().enumerate() {
            batch.push(match problem {
                Problem::Context { domain, context } => {
                    let address = self
                        .address(&domain, &context)
                        .map_err(|e| e.under(&format!("items[{i}]")))?;
                    (domain, address, observation)
                }
                Problem::Text { domain, text } => {
                    let address = crate::fingerprint::text_address(&domain, &text);
                    (domain, address, observation.problem(text))
                }
            });
        }
        node.deposit_many(batch).await
    }

    /// The feedback loop as `agent` ([`Node::close_loop`], [`Node::close_loop_text`]): consults,
    /// then re-deposits the insight citing its sources; `None` when there was nothing to
    /// synthesize.
    pub async fn close_loop(
        &self,
        agent: &str,
        problem: &Problem,
    ) -> Result<Option<(Insight, crate::router::Receipt)>> {
        match problem {
            Problem::Context { domain, context } => {
                self.node_for(agent)?.close_loop(domain, context).await
            }
            Problem::Text { domain, text } => {
                self.node_for(agent)?
                    .with_embedder(self.embedder()?)
                    .close_loop_text(domain, text)
                    .await
            }
        }
    }

    /// The router.
    pub fn router(&self) -> &Arc<dyn Router> {
        &self.router
    }

    /// The fingerprint.
    pub fn fingerprint(&self) -> &Arc<dyn Fingerprint> {
        &self.fingerprint
    }

    /// The embedder, loaded on first use and bound to the router
    /// ([`Router::bind_embedder`]: a store holding another model's vectors refuses it).
    pub fn embedder(&self) -> Result<Arc<dyn Embedder>> {
        let e = match self.embedder.get() {
            Some(e) => e.clone(),
            None => {
                let e = self.embedder_spec.open()?;
                self.embedder.get_or_init(|| e).clone()
            }
        };
        if self.bound.get().is_none() {
            self.router.bind_embedder(e.name())?;
            let _ = self.bound.set(());
        }
        Ok(e)
    }

    /// The agents' key ring, if the settings name one.
    pub fn key_ring(&self) -> Option<&Arc<KeyRing>> {
        self.ring.as_ref()
    }

    /// The node of the settings' agent. Errors: [`Error::Config`] when no agent is set.
    pub fn node(&self) -> Result<Node> {
        let agent = self.agent.clone().ok_or_else(|| {
            Error::Config("say who you are: an agent id (`agent` in qis.toml, QIS_AGENT)".into())
        })?;
        self.node_for(agent)
    }

    /// A node for `agent` on this router and fingerprint, signing with the settings' key. For
    /// semantic routing add `.with_embedder(qis.embedder()?)` (the model loads only then).
    pub fn node_for(&self, agent: impl Into<String>) -> Result<Node> {
        let synth = Method::Frequency.synthesizer(Options::default()).into();
        let mut node = Node::new(agent, self.fingerprint.clone(), self.router.clone(), synth)?;
        if let Some(key) = &self.signing_key {
            node = node.with_signing_key((**key).clone());
        }
        Ok(node)
    }

    /// The address of a problem (the context never leaves this process).
    pub fn address(&self, domain: &str, context: &Context) -> Result<Address> {
        self.fingerprint.address(domain, context)
    }

    /// The packets a selection names. A text goes to a router that embeds texts itself (a node
    /// with an embedder) as text, and is embedded here otherwise. With `verified_only`, only
    /// packets carrying their agent's valid signature under the settings' key ring are kept;
    /// the second value counts those left out.
    pub async fn select(&self, selection: &Selection, verified_only: bool) -> Result<(Hits, u64)> {
        if !verified_only {
            return Ok((self.answer(&*self.router, selection).await?, 0));
        }
        let ring = self.ring.clone().ok_or_else(|| {
            Error::Config("verified-only reads need agents' keys (`agent_keys`)".into())
        })?;
        let verified = VerifiedOnly::new(self.router.clone(), ring, Unsigned::Pass);
        let hits = self.answer(&verified, selection).await?;
        Ok((hits, verified.dropped()))
    }

    /// [`Qis::select`] of every packet, verified or not.
    pub async fn query(&self, selection: &Selection) -> Result<Hits> {
        Ok(self.select(selection, false).await?.0)
    }

    /// Selects, then synthesizes locally with `method` and `options`. As a [`Node`]'s
    /// consultations do, it takes at most [`DEFAULT_MAX_PER_AGENT`] packets from one agent
    /// unless the selection names its own `max_per_agent` (its `limit` lifts the cap).
    pub async fn synthesize(
        &self,
        selection: &Selection,
        method: Method,
        options: Options,
        verified_only: bool,
    ) -> Result<(Insight, u64)> {
        let selection = Selection {
            max_per_agent: selection.max_per_agent.or(Some(DEFAULT_MAX_PER_AGENT)),
            ..selection.clone()
        };
        let (hits, dropped) = self.select(&selection, verified_only).await?;
        Ok((method.synthesizer(options).synthesize(&hits), dropped))
    }

    async fn answer(&self, router: &dyn Router, s: &Selection) -> Result<Hits> {
        let query = match &s.target {
            Look::Text(text) if router.capabilities().text => {
                return router
                    .query_text(&TextQuery {
                        text: text.clone(),
                        filter: s.filter.clone(),
                        limit: s.limit,
                        min_score: s.min_score,
                        max_per_agent: s.max_per_agent,
                    })
                    .await;
            }
            Look::Text(text) => {
                let vector = crate::embed::embed_query(self.embedder()?, text).await?;
                let mut q = Query::nearest(&vector, s.limit)?;
                if let Some(m) = s.min_score {
                    q = q.min_score(m);
                }
                q
            }
            other => {
                if s.min_score.is_some() {
                    return Err(Error::invalid(
                        "min_score",
                        "only applies to text (nearest-packet) queries",
                    ));
                }
                let address = match other {
                    Look::Problem { domain, context } => self.address(domain, context)?,
                    Look::Address(a) => *a,
                    Look::Text(_) => unreachable!("handled above"),
                };
                Query::exact(address)
            }
        };
        let query = Query {
            max_per_agent: s.max_per_agent,
            ..query.limit(s.limit).filter(s.filter.clone())
        };
        query.validate()?;
        router.query(&query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_names_every_part_and_refuses_typos() {
        let s: Settings = toml::from_str(
            r#"
            data = "/var/lib/qis"
            embedder = "minilm"
            model_dir = "/models/m"
            [fingerprint]
            scheme = "keys"
            secret_env = "QIS_SECRET"
            [serve]
            listen = "127.0.0.1:7878"
            "#,
        )
        .unwrap();
        assert_eq!(s.router_spec().to_string(), "file:/var/lib/qis");
        assert_eq!(s.embedder_spec().to_string(), "minilm:/models/m");
        assert_eq!(s.fingerprint.to_string(), "keys?secret_env=QIS_SECRET");
        assert!(s.serve.is_some());
        let with_router: Settings = toml::from_str("data = \"d\"\nrouter = \"memory:\"").unwrap();
        assert_eq!(with_router.router_spec(), RouterSpec::Memory);
        for (text, says) in [
            ("agnet = \"a\"", "agnet"),
            ("router = \"redis://x\"", "unknown router scheme"),
            ("embedder = \"bert\"", "embedder"),
        ] {
            let err = toml::from_str::<Settings>(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
        assert_eq!(
            Settings::default().router_spec(),
            RouterSpec::Embedded {
                dir: DEFAULT_DATA_DIR.into()
            }
        );
    }

    #[tokio::test]
    async fn the_facade_answers_problems_addresses_and_texts() {
        let s: Settings =
            toml::from_str("router = \"memory:\"\nagent = \"a\"\nembedder = \"hashed\"").unwrap();
        let qis = s.open().await.unwrap();
        let context: Context = serde_json::from_str(r#"{"k": 1}"#).unwrap();
        let node = qis.node().unwrap().with_embedder(qis.embedder().unwrap());
        let o = crate::node::Observation::new(crate::packet::Outcome::Resolved, 0.9)
            .problem("the connection pool runs dry at peak");
        let receipt = node.deposit("d", &context, o).await.unwrap();
        let by_problem = qis.query(&Selection::problem("d", context)).await.unwrap();
        let by_address = qis
            .query(&Selection::new(Look::Address(receipt.address)))
            .await
            .unwrap();
        let by_text = qis
            .query(&Selection::new(Look::Text(
                "pool of connections runs out".into(),
            )))
            .await
            .unwrap();
        assert_eq!(
            (by_problem.len(), by_address.len(), by_text.len()),
            (1, 1, 1)
        );
        let mut exact_with_score = Selection::new(Look::Address(receipt.address));
        exact_with_score.min_score = Some(0.5);
        let err = qis.query(&exact_with_score).await.unwrap_err().to_string();
        assert!(err.contains("min_score"), "{err}");
        let err = qis
            .select(&Selection::new(Look::Address(receipt.address)), true)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("agent_keys"), "{err}");
    }
}

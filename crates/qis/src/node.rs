//! One agent's side of the loop: fingerprint → deposit → query → synthesize → (re-deposit).
//!
//! A [`Node`] binds an agent id, a [`Fingerprint`], a [`Router`] and a [`Synthesizer`]. Raw
//! context never leaves it: only the address (and, if the agent chooses, a problem text) does.
//!
//! ```
//! # tokio_test_block(async {
//! use std::sync::Arc;
//! use qis::{fingerprint::{Context, KeysFingerprint}, node::{Node, Observation},
//!           packet::Outcome, router::memory::MemoryRouter, synth::{Frequency, Options}};
//!
//! let router = Arc::new(MemoryRouter::new());
//! let fingerprint = Arc::new(KeysFingerprint::new());
//! let synth = Arc::new(Frequency(Options::default()));
//! let context: Context = serde_json::from_str(r#"{"condition": "T2D", "intervention_type": "GLP1"}"#)?;
//!
//! let site = Node::new("site_01", fingerprint.clone(), router.clone(), synth.clone())?;
//! site.deposit("clinical_trial", &context,
//!     Observation::new(Outcome::Resolved, 0.9).result("protocol", "once_weekly")).await?;
//!
//! let newcomer = Node::new("site_99", fingerprint, router, synth)?;
//! let insight = newcomer.consult("clinical_trial", &context).await?;
//! assert_eq!(insight.agents, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! # fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::fingerprint::{Context, Fingerprint, text_address};
use crate::packet::{
    Address, MAX_DERIVED_FROM, MAX_NAME_BYTES, Outcome, Packet, PacketId, ResultMap, ResultValue,
    now_ms,
};
use crate::router::layer::{Unsigned, VerifiedOnly};
use crate::router::{
    DEFAULT_LIMIT, DEFAULT_MAX_PER_AGENT, Filter, Hit, Hits, Query, Receipt, Routed, Router,
};
use crate::sign::{AgentKey, KeyRing};
use crate::synth::{Insight, Synthesizer};
use crate::trust::Trust;

/// What an agent observed, before it becomes a packet.
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct Observation {
    outcome: Outcome,
    confidence: f32,
    result: ResultMap,
    summary: String,
    tags: Vec<String>,
    problem: Option<String>,
    ttl: Option<Duration>,
}

impl Observation {
    /// An outcome and how confident the agent is in it (0–1).
    pub fn new(outcome: Outcome, confidence: f32) -> Self {
        Observation {
            outcome,
            confidence,
            result: ResultMap::new(),
            summary: String::new(),
            tags: Vec::new(),
            problem: None,
            ttl: None,
        }
    }
    /// Adds a `result` entry.
    pub fn result(mut self, key: impl Into<String>, value: impl Into<ResultValue>) -> Self {
        self.result.insert(key.into(), value.into());
        self
    }
    /// Replaces the whole result.
    pub fn results(mut self, result: ResultMap) -> Self {
        self.result = result;
        self
    }
    /// What changed (≤ 200 characters).
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = summary.into();
        self
    }
    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }
    /// Shares the problem text along with the packet.
    pub fn problem(mut self, problem: impl Into<String>) -> Self {
        self.problem = Some(problem.into());
        self
    }
    /// The problem text shared along with the packet, if any.
    pub fn shared_problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }
    /// Lets the packet expire after `ttl`.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }
}

/// One agent's side of the loop.
#[derive(Debug, Clone)]
pub struct Node {
    /// Every packet this node deposits carries this agent id.
    agent: String,
    /// Turns a problem into its address; raw context stops here.
    fingerprint: Arc<dyn Fingerprint>,
    /// Where packets are deposited and queried.
    router: Arc<dyn Router>,
    /// How pulled packets become an insight.
    synthesizer: Arc<dyn Synthesizer>,
    /// How many packets a consultation pulls.
    limit: usize,
    /// How many of them may come from one agent (none: any number).
    max_per_agent: Option<usize>,
    /// Whether consultations leave out this node's own packets.
    exclude_self: bool,
    /// Turns shared problem texts into vectors, for semantic routing (none: exact only).
    embedder: Option<Arc<dyn Embedder>>,
    /// Signs every packet this node deposits (none: unsigned).
    signing_key: Option<Arc<AgentKey>>,
    /// What consultations read: the router, or the router seen through a key ring
    /// ([`Node::requiring_signatures`]).
    reader: Arc<dyn Router>,
    /// How far this node trusts each peer, learned from its own outcomes ([`Node::with_trust`]).
    trust: Option<Arc<Trust>>,
}

impl Node {
    /// A node for `agent` (1–64 bytes).
    pub fn new(
        agent: impl Into<String>,
        fingerprint: Arc<dyn Fingerprint>,
        router: Arc<dyn Router>,
        synthesizer: Arc<dyn Synthesizer>,
    ) -> Result<Self> {
        let agent = agent.into();
        if agent.is_empty() || agent.len() > MAX_NAME_BYTES {
            return Err(Error::invalid(
                "agent",
                format!("must be 1 to {MAX_NAME_BYTES} bytes, got {}", agent.len()),
            ));
        }
        Ok(Node {
            agent,
            fingerprint,
            reader: router.clone(),
            router,
            synthesizer,
            limit: DEFAULT_LIMIT,
            max_per_agent: Some(DEFAULT_MAX_PER_AGENT),
            exclude_self: false,
            embedder: None,
            signing_key: None,
            trust: None,
        })
    }

    /// Pull at most `limit` packets per consultation (default 50, the seed's).
    #[must_use]
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Pull at most `max` packets from one agent per consultation, each agent's newest (default
    /// [`DEFAULT_MAX_PER_AGENT`]; `None`: any number). One agent that deposits faster than the
    /// rest then cannot push their packets out of the `limit` newest (docs/claim.md measures
    /// this).
    #[must_use]
    pub fn with_max_per_agent(mut self, max: Option<usize>) -> Self {
        self.max_per_agent = max;
        self
    }

    /// Learns how far each peer's reports agree with this node's own outcomes and with the
    /// evidence around them, and weighs each peer's packets by it in every synthesis
    /// ([`crate::trust`]): a liar's packets stop counting. The trust may be kept in a file
    /// ([`Trust::open`]) to survive a restart. Default: none (every peer counts whole).
    #[must_use]
    pub fn with_trust(mut self, trust: Arc<Trust>) -> Self {
        self.trust = Some(trust);
        self
    }

    /// Leave this node's own packets out of its consultations (default: they count).
    #[must_use]
    pub fn excluding_self(mut self, exclude: bool) -> Self {
        self.exclude_self = exclude;
        self
    }

    /// Routes semantically too: packets whose observation shares a problem text are deposited
    /// with its vector, and [`Node::related`] finds packets by meaning. The router is told which
    /// embedder makes the vectors ([`Router::bind_embedder`]), so a store that holds another
    /// model's vectors refuses them.
    #[must_use]
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(embedder);
        self
    }

    /// Signs every packet this node deposits, derived ones included, with `key` (whose public
    /// key peers hold for this node's agent id).
    #[must_use]
    pub fn with_signing_key(mut self, key: AgentKey) -> Self {
        self.signing_key = Some(Arc::new(key));
        self
    }

    /// Consult only packets that carry their agent's signature under `ring`: unsigned packets,
    /// packets of agents without a key in it and forged ones are left out before synthesis.
    #[must_use]
    pub fn requiring_signatures(mut self, ring: KeyRing) -> Self {
        self.reader = Arc::new(VerifiedOnly::new(
            self.router.clone(),
            Arc::new(ring),
            Unsigned::Pass,
        ));
        self
    }

    /// The agent id.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// The router.
    pub fn router(&self) -> &Arc<dyn Router> {
        &self.router
    }

    /// The address of a problem.
    pub fn address(&self, domain: &str, context: &Context) -> Result<Address> {
        self.fingerprint.address(domain, context)
    }

    /// Distils an observation into a packet at the problem's address and deposits it.
    pub async fn deposit(
        &self,
        domain: &str,
        context: &Context,
        observation: Observation,
    ) -> Result<Receipt> {
        let address = self.address(domain, context)?;
        let packet = self.packet(domain, address, observation)?.build()?;
        self.deposit_packet(packet).await
    }

    /// Deposits an observation about a problem named by a text alone: the packet shares the
    /// text, sits at [`text_address`] of the domain and the text, and carries the text's vector
    /// when the node has an embedder ([`Node::with_embedder`]), so peers find it by meaning.
    pub async fn deposit_text(
        &self,
        domain: &str,
        text: &str,
        observation: Observation,
    ) -> Result<Receipt> {
        let packet = self
            .packet(
                domain,
                text_address(domain, text),
                observation.problem(text),
            )?
            .build()?;
        self.deposit_packet(packet).await
    }

    fn packet(
        &self,
        domain: &str,
        address: Address,
        o: Observation,
    ) -> Result<crate::packet::PacketBuilder> {
        let mut b = Packet::builder(self.agent.clone(), domain, address)
            .outcome(o.outcome)
            .confidence(o.confidence)
            .results(o.result)
            .summary(o.summary)
            .tags(o.tags);
        if let Some(p) = o.problem {
            b = b.problem(p);
        }
        if let Some(ttl) = o.ttl {
            b = b.ttl(ttl);
        }
        Ok(b)
    }

    /// Deposits several observations in one call of the router (each at its own address, as
    /// [`Node::deposit`] would): every packet is built and checked first, so one that breaks a
    /// rule refuses the batch before anything is sent, naming `items[i].field`; the router then stores the batch all or
    /// nothing where its engine allows it. Receipts are in the order of `items`.
    pub async fn deposit_many(
        &self,
        items: Vec<(String, Address, Observation)>,
    ) -> Result<Vec<Receipt>> {
        let mut batch = Vec::with_capacity(items.len());
        for (i, (domain, address, observation)) in items.into_iter().enumerate() {
            let routed = self
                .packet(&domain, address, observation)
                .and_then(|b| b.build())
                .and_then(|p| self.routed(p))
                .map_err(|e| e.under(&format!("items[{i}]")))?;
            batch.push(routed);
        }
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let receipts = self.router.deposit(&batch).await?;
        for r in &batch {
            self.observed(&r.packet);
        }
        Ok(receipts)
    }

    /// Tells the trust (if any) of this node's own outcome in `packet` (not of a derived one:
    /// that is the peers' word, not an observation).
    fn observed(&self, packet: &Packet) {
        if let Some(trust) = &self.trust
            && !packet.is_derived()
        {
            trust.observe(*packet.address(), packet.outcome());
        }
    }

    /// Synthesizes `hits`, weighing each peer by this node's trust in it, if it has one.
    fn synthesize(&self, hits: &[Hit]) -> Insight {
        match &self.trust {
            Some(trust) => self
                .synthesizer
                .synthesize_weighing(hits, now_ms(), &|agent| trust.weight(agent)),
            None => self.synthesizer.synthesize(hits),
        }
    }

    /// A packet signed (when the node has a key) and with its problem's vector (when it has an
    /// embedder and shares a problem).
    fn routed(&self, packet: Packet) -> Result<Routed> {
        let packet = match &self.signing_key {
            Some(key) => key.sign(packet),
            None => packet,
        };
        match (&self.embedder, packet.problem()) {
            (Some(embedder), Some(problem)) => {
                self.router.bind_embedder(embedder.name())?;
                let vector = embedder.embed(problem)?;
                Routed::with_vector(packet, &vector)
            }
            _ => Ok(Routed::new(packet)),
        }
    }

    async fn deposit_packet(&self, packet: Packet) -> Result<Receipt> {
        let routed = self.routed(packet)?;
        let mut receipts = self.router.deposit(std::slice::from_ref(&routed)).await?;
        self.observed(&routed.packet);
        receipts.pop().ok_or_else(|| Error::Backend {
            router: self.router.capabilities().name,
            retryable: false,
            source: "a deposit of one packet returned no receipt".into(),
        })
    }

    /// The packets at the problem's address, newest first, and what they say.
    pub async fn consult(&self, domain: &str, context: &Context) -> Result<Insight> {
        let address = self.address(domain, context)?;
        let hits = self.pull(domain, address).await?;
        if let Some(trust) = &self.trust {
            trust.learn(&address, &self.agent, &hits);
        }
        Ok(self.synthesize(&hits))
    }

    /// The packets of `domain` at `address` a consultation reads: newest first, at most `limit`,
    /// capped per agent, this node's own left out if it says so.
    async fn pull(&self, domain: &str, address: Address) -> Result<Hits> {
        let mut filter = Filter {
            domain: Some(domain.to_owned()),
            ..Filter::default()
        };
        if self.exclude_self {
            filter.exclude_agents.push(self.agent.clone());
        }
        let query = Query {
            max_per_agent: self.max_per_agent,
            ..Query::exact(address).filter(filter).limit(self.limit)
        };
        self.reader.query(&query).await
    }

    /// The `top_k` packets whose shared problem text is nearest `text` in meaning, best first,
    /// at most [`Node::with_max_per_agent`] from one agent (needs [`Node::with_embedder`] and a
    /// router with vector search).
    pub async fn related(&self, text: &str, top_k: usize, filter: Filter) -> Result<Hits> {
        let embedder = self.embedder.as_ref().ok_or_else(|| {
            Error::Config("semantic queries need an embedder: use Node::with_embedder".into())
        })?;
        self.router.bind_embedder(embedder.name())?;
        let vector = embedder.embed(text)?;
        let mut filter = filter;
        if self.exclude_self {
            filter.exclude_agents.push(self.agent.clone());
        }
        let query = Query {
            max_per_agent: self.max_per_agent,
            ..Query::nearest(&vector, top_k)?.filter(filter)
        };
        self.reader.query(&query).await
    }

    /// What the packets nearest `text` in meaning say (similarity weighs in `weighted` and
    /// `bayesian` synthesis).
    pub async fn consult_text(&self, text: &str, top_k: usize, filter: Filter) -> Result<Insight> {
        let hits = self.related(text, top_k, filter).await?;
        Ok(self.synthesize(&hits))
    }

    /// The feedback loop: consults, then re-deposits the insight as a derived packet whose
    /// `derived_from` lists the original packets it rests on.
    ///
    /// A packet can cite at most [`MAX_DERIVED_FROM`] originals, so the insight re-deposited is
    /// synthesized from the newest packets whose originals fit in that list, all of them cited.
    /// Returns `None` when there is nothing to synthesize.
    pub async fn close_loop(
        &self,
        domain: &str,
        context: &Context,
    ) -> Result<Option<(Insight, Receipt)>> {
        let address = self.address(domain, context)?;
        let hits = self.pull(domain, address).await?;
        self.close_loop_on(domain, address, None, hits).await
    }

    /// [`Node::close_loop`] for a problem named by a text: consults the packets of `domain`
    /// nearest the text in meaning, then re-deposits the insight at the text's address
    /// ([`Node::deposit_text`]), citing the originals it rests on. Needs an embedder.
    pub async fn close_loop_text(
        &self,
        domain: &str,
        text: &str,
    ) -> Result<Option<(Insight, Receipt)>> {
        let filter = Filter {
            domain: Some(domain.to_owned()),
            ..Filter::default()
        };
        let hits = self.related(text, self.limit, filter).await?;
        self.close_loop_on(domain, text_address(domain, text), Some(text), hits)
            .await
    }

    async fn close_loop_on(
        &self,
        domain: &str,
        address: Address,
        problem: Option<&str>,
        hits: Hits,
    ) -> Result<Option<(Insight, Receipt)>> {
        // Keep the newest hits whose lineage (the originals behind them) fits in one packet.
        let mut cited_sources: BTreeSet<PacketId> = BTreeSet::new();
        let mut cited = Vec::new();
        for hit in hits {
            let sources = lineage(&hit);
            let new = sources
                .iter()
                .filter(|s| !cited_sources.contains(s))
                .count();
            if cited_sources.len() + new > MAX_DERIVED_FROM {
                break;
            }
            cited_sources.extend(sources);
            cited.push(hit);
        }
        // The derived packet must also fit the size budget: cite fewer (the oldest go first)
        // until it does.
        loop {
            let insight = self.synthesize(&cited);
            let Some(best) = insight.best.clone() else {
                return Ok(None);
            };
            match self.derived_packet(domain, address, problem, &insight, best, &cited) {
                Err(Error::TooLarge { .. }) if cited.len() > 1 => {
                    cited.pop();
                }
                Err(e) => return Err(e),
                Ok(packet) => {
                    let receipt = self.deposit_packet(packet).await?;
                    return Ok(Some((insight, receipt)));
                }
            }
        }
    }

    fn derived_packet(
        &self,
        domain: &str,
        address: Address,
        problem: Option<&str>,
        insight: &Insight,
        best: ResultMap,
        cited: &[Hit],
    ) -> Result<Packet> {
        // Cite exactly the lineage of the packets the synthesis used.
        let used: BTreeSet<PacketId> = insight.used.iter().copied().collect();
        let mut derived_from: Vec<PacketId> = Vec::new();
        for hit in cited.iter().filter(|h| used.contains(&h.packet.id())) {
            for s in lineage(hit) {
                if !derived_from.contains(&s) {
                    derived_from.push(s);
                }
            }
        }
        let mut observation = Observation::new(
            insight.outcome.unwrap_or(Outcome::Open),
            insight.confidence as f32,
        )
        .results(best)
        .summary(format!(
            "{} synthesis of {} packets from {} agents",
            insight.method, insight.sample_size, insight.agents
        ));
        if let Some(text) = problem {
            observation = observation.problem(text);
        }
        self.packet(domain, address, observation)?
            .derived_from(derived_from)
            .build()
    }
}

/// The original packets behind a hit: its sources if derived, else itself.
fn lineage(hit: &Hit) -> Vec<PacketId> {
    if hit.packet.is_derived() {
        hit.packet.derived_from().to_vec()
    } else {
        vec![hit.packet.id()]
    }
}

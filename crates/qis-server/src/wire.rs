//! The HTTP API's request and response bodies, shared by the server and the
//! [`client`](crate::client), so the two cannot drift apart.
//!
//! Bodies are JSON (`application/json`) or MessagePack (`application/msgpack`), with the same
//! field names. The one difference is how a deposited packet travels: in JSON it is the packet's
//! JSON object; in MessagePack it is a binary holding the packet's own MessagePack encoding
//! ([`Packet::to_msgpack`], the ≤ 512-byte form), so that the server checks exactly the bytes the
//! size budget is about. Responses are JSON unless the request's `Accept` names MessagePack.

use qis::packet::{Address, Packet, PacketId};
use qis::router::{Filter, Receipt};
use qis::synth::{Method, PerAgent};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// `POST /v1/packets`: one packet (`packet`, optional `vector`) or a batch (`packets`). `P` is how a
/// packet travels: its JSON object ([`JsonDeposit`]) or a binary holding its MessagePack
/// ([`MsgpackDeposit`]).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deposit<P> {
    /// One packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet: Option<P>,
    /// Its vector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
    /// A batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packets: Option<Vec<DepositItem<P>>>,
}

/// One packet of a batch.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositItem<P> {
    /// The packet.
    pub packet: P,
    /// Its embedding, if it is routed semantically too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}

/// A deposit in JSON: each packet as its JSON object, checked when decoded.
pub(crate) type JsonDeposit = Deposit<Box<RawValue>>;
/// A deposit in MessagePack: each packet as a binary holding its MessagePack bytes
/// ([`Packet::to_msgpack`]).
pub type MsgpackDeposit = Deposit<serde_bytes::ByteBuf>;
/// One packet of a MessagePack batch.
pub type MsgpackItem = DepositItem<serde_bytes::ByteBuf>;

/// What a deposit answers: one receipt per packet, in the order sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DepositResponse {
    /// Receipts, in request order.
    #[schema(value_type = Vec<ReceiptDoc>)]
    pub receipts: Vec<Receipt>,
    /// How many packets were new (the others were already stored: idempotent repeats).
    pub stored: usize,
}

/// `POST /v1/query`: exactly one of `address`, `vector` or `text`, a filter, a limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// Every packet at this address (hex), newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "1dd96c30c27fe860")]
    pub address: Option<Address>,
    /// The packets nearest this vector (any length; scaled to unit length), best first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
    /// The packets nearest this problem text, embedded by the node's embedder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Conditions every hit meets.
    #[serde(default)]
    #[schema(value_type = FilterDoc)]
    pub filter: Filter,
    /// At most this many hits, 1 to 10,000 (default 50); the top k of a vector query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Vector and text queries: no hit below this cosine similarity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f32>,
}

/// One hit, as served.
#[derive(Debug, Serialize)]
pub(crate) struct HitOut<'a> {
    pub(crate) score: f32,
    pub(crate) packet: &'a Packet,
}

/// Hits, as served.
#[derive(Debug, Serialize)]
pub(crate) struct HitsOut<'a> {
    pub(crate) hits: Vec<HitOut<'a>>,
}

/// What a query answers.
#[derive(Clone, Debug, PartialEq, Deserialize, ToSchema)]
pub struct QueryResponse {
    /// Newest first (exact) or best score first (vector, text).
    pub hits: Vec<HitDoc>,
}

/// One hit.
#[derive(Clone, Debug, PartialEq, Deserialize, ToSchema)]
pub struct HitDoc {
    /// 1.0 for exact hits; the cosine similarity for vector hits.
    pub score: f32,
    /// The packet.
    #[schema(value_type = PacketDoc)]
    pub packet: Packet,
}

/// `POST /v1/synth`: a query, then a synthesis of its hits on the node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SynthRequest {
    /// What to synthesize.
    pub query: QueryRequest,
    /// `frequency`, `weighted` (default) or `bayesian`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "weighted")]
    pub method: Option<Method>,
    /// How an agent's several packets count: `split` (default), `newest` or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "split")]
    pub per_agent: Option<PerAgent>,
    /// Weighted and Bayesian: a packet this many seconds old weighs half (default 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_life_secs: Option<u64>,
    /// Use only packets that carry their agent's valid signature (needs a node with agents'
    /// keys); unsigned and unverifiable packets are left out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_signed: bool,
}

/// What the node's router holds (`GET /v1/stats`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatsResponse {
    /// Packets stored (including expired ones not yet purged).
    pub packets: u64,
    /// Distinct addresses.
    pub addresses: u64,
    /// Packets that carry a vector.
    pub vectors: u64,
    /// Stored packets already expired.
    pub expired: u64,
    /// The dimension of the vectors held.
    pub dimension: Option<usize>,
    /// The router behind the node (`embedded`, `memory`, `http`).
    pub router: String,
}

/// What the node can do (`GET /v1/capabilities`); the client reads it once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CapabilitiesResponse {
    /// The router behind the node.
    pub router: String,
    /// Nearest-vector queries.
    pub vector: bool,
    /// Acknowledged deposits survive a restart.
    pub durable: bool,
    /// A fixed vector dimension, if the router has one.
    pub dimension: Option<usize>,
    /// The embedder of `text` queries (`None`: text queries are not supported).
    pub embedder: Option<String>,
    /// Most packets per deposit.
    pub max_batch: usize,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// `tokens` or `open`.
    pub auth: String,
}

/// `POST /v1/purge`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PurgeResponse {
    /// Expired packets removed.
    pub removed: u64,
}

/// `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Seconds since the server started.
    pub uptime_secs: u64,
}

/// One recent deposit, for the dashboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RecentDeposit {
    /// Packet id.
    #[schema(value_type = String)]
    pub id: PacketId,
    /// Depositing agent.
    pub agent: String,
    /// Domain.
    pub domain: String,
    /// Address (hex).
    #[schema(value_type = String)]
    pub address: Address,
    /// Outcome.
    pub outcome: String,
    /// Confidence.
    pub confidence: f32,
    /// When the node received it (ms since the epoch).
    pub received: u64,
}

/// An address this node has seen deposits at since it started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AddressActivity {
    /// The address (hex).
    #[schema(value_type = String)]
    pub address: Address,
    /// Packets stored there through this node since it started.
    pub deposits: u64,
    /// When the last one arrived (ms since the epoch).
    pub last: u64,
}

/// `GET /v1/dashboard`: what the dashboard page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DashboardResponse {
    /// The router's counts.
    pub stats: StatsResponse,
    /// The busiest addresses since the node started, most deposits first (at most 20).
    pub addresses: Vec<AddressActivity>,
    /// The latest deposits, newest first (at most 20).
    pub recent: Vec<RecentDeposit>,
}

/// One point of an address's consensus over time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConsensusPoint {
    /// The time (ms since the epoch): packets created up to it are counted.
    pub at: u64,
    /// Packets counted.
    pub packets: usize,
    /// The frequency synthesis's consensus rate at that time (0–1; `None` with no packets).
    pub consensus_rate: Option<f64>,
}

/// `GET /v1/addresses/{address}/consensus`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConsensusResponse {
    /// The address.
    #[schema(value_type = String)]
    pub address: Address,
    /// Oldest first.
    pub points: Vec<ConsensusPoint>,
}

// ---- Documentation-only schemas of library types (the OpenAPI document shows their fields). ----

/// An outcome packet (wire version 1). Unknown fields are refused; every rule is checked.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct PacketDoc {
    /// UUID v7 made by the depositor; deposits are idempotent on it.
    #[schema(example = "01969b8e-8f3c-7b2a-9c4d-2f1e0a9b8c7d")]
    id: String,
    /// 1–64 bytes; on a node with tokens, the caller's agent.
    agent: String,
    /// 1–64 bytes.
    domain: String,
    /// 1–32 bytes as lowercase hex, from the fingerprint.
    #[schema(example = "1dd96c30c27fe860")]
    address: String,
    /// `resolved`, `partial`, `contradicted` or `open`.
    outcome: String,
    /// Finite, 0 to 1.
    confidence: f32,
    /// At most 16 entries: name → number, string or bool.
    #[schema(value_type = Option<Object>)]
    result: Option<()>,
    /// At most 200 characters.
    summary: Option<String>,
    /// At most 8 tags.
    tags: Option<Vec<String>>,
    /// The problem text, if shared.
    problem: Option<String>,
    /// Milliseconds since the epoch.
    created: u64,
    /// Seconds to live.
    ttl: Option<u64>,
    /// Ids of the packets this one was synthesized from.
    derived_from: Option<Vec<String>>,
}

/// `POST /v1/packets` body: one packet, or a batch.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct DepositDoc {
    /// One packet (give `packet` or `packets`, not both).
    packet: Option<PacketDoc>,
    /// The packet's vector.
    vector: Option<Vec<f32>>,
    /// A batch, stored all or nothing.
    packets: Option<Vec<DepositItemDoc>>,
}

/// One packet of a batch.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct DepositItemDoc {
    /// The packet (in MessagePack bodies: a binary with its MessagePack encoding).
    packet: PacketDoc,
    /// Its vector.
    vector: Option<Vec<f32>>,
}

/// A receipt.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ReceiptDoc {
    /// The packet id.
    id: String,
    /// Where it was stored.
    address: String,
    /// `false` for an idempotent repeat.
    stored: bool,
}

/// A query filter; every condition given must hold.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct FilterDoc {
    /// Only this domain.
    domain: Option<String>,
    /// Only packets with at least one of these tags.
    tags_any: Option<Vec<String>>,
    /// Only packets at least this confident.
    min_confidence: Option<f32>,
    /// Only these outcomes.
    outcomes: Option<Vec<String>>,
    /// Only packets created at or after this time (ms since the epoch).
    since: Option<u64>,
    /// Never packets from these agents.
    exclude_agents: Option<Vec<String>>,
}

/// A synthesis: the best-supported result, how strongly, from how many agents, and which
/// packets were used (see the `qis::synth` documentation).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct InsightDoc {
    /// `frequency`, `weighted` or `bayesian`.
    method: String,
    /// The best-supported result.
    #[schema(value_type = Option<Object>)]
    best: Option<()>,
    /// How strongly it is supported, 0–1.
    confidence: f64,
    /// Packets used.
    sample_size: usize,
    /// Independent agents they came from.
    agents: usize,
    /// Frequency: the winning result's share.
    consensus_rate: Option<f64>,
    /// Per result field (weighted, bayesian).
    #[schema(value_type = Option<Object>)]
    fields: Option<()>,
    /// Ids of the packets used.
    used: Vec<String>,
}

//! The qis node's HTTP protocol: the request and response bodies, the error body and its stable
//! codes. The node server (`qis serve`) and the [`HttpRouter`](crate::router::http) both use these
//! types, so the two cannot drift apart; no HTTP crate is needed to use them.
//!
//! Bodies are JSON (`application/json`) or MessagePack (`application/msgpack`), with the same
//! field names. The one difference is how a deposited packet travels: in JSON it is the packet's
//! JSON object; in MessagePack it is a binary holding the packet's own MessagePack encoding
//! ([`Packet::to_msgpack`], the ≤ 512-byte form), so that the server checks exactly the bytes the
//! size budget is about. Responses are JSON unless the request's `Accept` names MessagePack.
//!
//! With the feature `openapi`, every type here also describes itself for the node's OpenAPI
//! document (`utoipa`), and [`doc`] holds the schemas of library types that travel in them.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::packet::{Address, Packet};
use crate::router::{Filter, Receipt};
use crate::synth::{Method, PerAgent};

#[cfg(feature = "openapi")]
pub mod doc;
mod error;

#[cfg(feature = "openapi")]
use doc::{FilterDoc, PacketDoc, ReceiptDoc};
pub use error::{Code, Details, ErrorBody};

/// `value` as a JSON value with its numbers as the JSON text writes them: a packet's `f32`
/// confidence of 0.7 stays `0.7` (through [`serde_json::to_value`] it would widen to
/// `0.699999988079071`). For surfaces that hand JSON values on (the MCP tools, Python's
/// `to_dict()`).
pub fn to_json_value<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<serde_json::Value> {
    serde_json::from_str(&serde_json::to_string(value)?)
}

/// `application/msgpack`, the MessagePack media type.
pub const MSGPACK: &str = "application/msgpack";
/// `application/json`.
pub const JSON: &str = "application/json";

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
pub type JsonDeposit = Deposit<Box<RawValue>>;
/// A deposit in MessagePack: each packet as a binary holding its MessagePack bytes
/// ([`Packet::to_msgpack`]).
pub type MsgpackDeposit = Deposit<serde_bytes::ByteBuf>;
/// One packet of a MessagePack batch.
pub type MsgpackItem = DepositItem<serde_bytes::ByteBuf>;

/// What a deposit answers: one receipt per packet, in the order sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DepositResponse {
    /// Receipts, in request order.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<ReceiptDoc>))]
    pub receipts: Vec<Receipt>,
    /// How many packets were new (the others were already stored: idempotent repeats).
    pub stored: usize,
}

/// `POST /v1/query`: exactly one of `address`, `vector` or `text`, a filter, a limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// Every packet at this address (hex), newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "1dd96c30c27fe860"))]
    pub address: Option<Address>,
    /// The packets nearest this vector (any length; scaled to unit length), best first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
    /// The packets nearest this problem text, embedded by the node's embedder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Conditions every hit meets.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = FilterDoc))]
    pub filter: Filter,
    /// At most this many hits, 1 to 10,000 (default 50); the top k of a vector query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Vector and text queries: no hit below this cosine similarity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f32>,
    /// At most this many hits from one agent, 1 to 10,000: each agent's newest (address) or
    /// best scored (vector, text). Absent: any number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_agent: Option<usize>,
}

/// What a query answers.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueryResponse {
    /// Newest first (exact) or best score first (vector, text).
    pub hits: Vec<HitDoc>,
}

/// One hit.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HitDoc {
    /// 1.0 for exact hits; the cosine similarity for vector hits.
    pub score: f32,
    /// The packet.
    #[cfg_attr(feature = "openapi", schema(value_type = PacketDoc))]
    pub packet: Packet,
}

/// `POST /v1/synth`: a query, then a synthesis of its hits on the node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SynthRequest {
    /// What to synthesize.
    pub query: QueryRequest,
    /// `frequency`, `weighted` (default) or `bayesian`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "weighted"))]
    pub method: Option<Method>,
    /// How an agent's several packets count: `split` (default), `newest` or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "split"))]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CapabilitiesResponse {
    /// The network these routes reach (`default` for `/v1/…`; absent from nodes older than
    /// networks).
    #[serde(default = "default_network")]
    pub network: String,
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
    /// The router forgets packets (`POST /v1/forget`); false from nodes older than forgetting.
    #[serde(default)]
    pub forget: bool,
    /// The router lists its addresses (`GET`/`POST /v1/addresses`).
    #[serde(default)]
    pub addresses: bool,
}

fn default_network() -> String {
    "default".to_owned()
}

/// `POST /v1/forget` and `DELETE /v1/packets/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForgetResponse {
    /// Packets removed (each leaves a tombstone: its id and expiry).
    pub removed: u64,
}

/// `POST /v1/purge`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PurgeResponse {
    /// Expired packets removed.
    pub removed: u64,
}

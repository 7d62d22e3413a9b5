//! Documentation-only schemas of library types, so that the node's OpenAPI document shows their
//! fields (feature `openapi`). Nothing is ever encoded or decoded through them.

#![allow(dead_code)]

use utoipa::ToSchema;

/// An outcome packet (wire version 1). Unknown fields are refused; every rule is checked.
#[derive(Debug, ToSchema)]
pub struct PacketDoc {
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
    /// The agent's ed25519 signature of the packet, 64 bytes as lowercase hex (see `qis keygen`).
    signature: Option<String>,
}

/// `POST /v1/packets` body: one packet, or a batch.
#[derive(Debug, ToSchema)]
pub struct DepositDoc {
    /// One packet (give `packet` or `packets`, not both).
    packet: Option<PacketDoc>,
    /// The packet's vector.
    vector: Option<Vec<f32>>,
    /// A batch, stored all or nothing.
    packets: Option<Vec<DepositItemDoc>>,
}

/// One packet of a batch.
#[derive(Debug, ToSchema)]
pub struct DepositItemDoc {
    /// The packet (in MessagePack bodies: a binary with its MessagePack encoding).
    packet: PacketDoc,
    /// Its vector.
    vector: Option<Vec<f32>>,
}

/// A receipt.
#[derive(Debug, ToSchema)]
pub struct ReceiptDoc {
    /// The packet id.
    id: String,
    /// Where it was stored.
    address: String,
    /// `false` for an idempotent repeat.
    stored: bool,
}

/// A query filter; every condition given must hold.
#[derive(Debug, ToSchema)]
pub struct FilterDoc {
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
#[derive(Debug, ToSchema)]
pub struct InsightDoc {
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

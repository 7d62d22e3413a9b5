//! The HTTP API's bodies. Those the [`HttpRouter`](qis::router::http::HttpRouter) shares are the
//! library's ([`qis::wire`], re-exported here); the ones below only the node serves (health, the
//! dashboard's), and the borrowed forms it serves hits in.

use qis::packet::{Address, Packet, PacketId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use qis::wire::doc::*;
pub use qis::wire::*;

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

/// An address of the dashboard: from the router's listing (live packets, newest `created`), or,
/// on a router that cannot list, what this node has seen arrive since it started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AddressActivity {
    /// The address (hex).
    #[schema(value_type = String)]
    pub address: Address,
    /// Live packets there (on a router that cannot list: packets stored through this node
    /// since it started).
    pub deposits: u64,
    /// The newest packet's time (ms since the epoch).
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

//! Taking packets back: what [`Router::forget`](super::Router::forget) removes, and the
//! tombstones that keep a forgotten packet from coming back.
//!
//! - A [`Forget`] names packets by id, every packet of an agent, or every packet at an address
//!   (of one agent, when both are given). Ids may be narrowed to one agent's too, so that a
//!   caller who may only forget their own packets names the rest without touching them.
//! - A router removes what matches and returns how many packets it removed. Forgetting is
//!   idempotent: forgetting again removes nothing and returns 0.
//! - Each packet removed leaves a **tombstone**: its id and the time it would have expired (never,
//!   for a packet without a TTL). Until then a deposit of that id is refused with
//!   [`Error::Forgotten`], so a replay of a forgotten packet does not store it again. A tombstone
//!   holds nothing else: no agent, no address, no content.
//! - Forgetting an id a router does not hold removes nothing and leaves no tombstone: a deposit
//!   of it later is stored. Of a deposit and a forget of the same id, the one the router orders
//!   second decides: the packet is stored (and not forgotten), or gone with its tombstone.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::packet::{Address, MAX_NAME_BYTES, Packet, PacketId};

/// Most ids one forget names.
pub const MAX_FORGET_IDS: usize = 1_000;

/// Which packets to forget (see the [module docs](self)).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Forget {
    /// These packets (at most [`MAX_FORGET_IDS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub ids: Vec<PacketId>,
    /// Only this agent's packets (alone: every packet of the agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Every packet at this address (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub address: Option<Address>,
    /// With `ids` and `agent`: refuse the whole call ([`Error::Forbidden`], naming the id) when
    /// a named id is another agent's packet, instead of leaving it alone. How a node holds a
    /// caller that acts for one agent to its own packets.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
}

impl Forget {
    /// These packets.
    pub fn ids(ids: impl IntoIterator<Item = PacketId>) -> Forget {
        Forget {
            ids: ids.into_iter().collect(),
            ..Forget::default()
        }
    }

    /// Every packet of `agent`.
    pub fn agent(agent: impl Into<String>) -> Forget {
        Forget {
            agent: Some(agent.into()),
            ..Forget::default()
        }
    }

    /// Every packet at `address`.
    pub fn address(address: Address) -> Forget {
        Forget {
            address: Some(address),
            ..Forget::default()
        }
    }

    /// What a caller acting for `agent` asks to take back of its own, as a surface names it:
    /// packet ids (text), or an address (hex), or `everything`, exactly one of the three.
    /// Errors: [`Error::Invalid`] naming `ids[i]`, `address` or `everything`.
    pub fn own(
        agent: impl Into<String>,
        ids: &[String],
        address: Option<&str>,
        everything: bool,
    ) -> Result<Forget> {
        let mut what = Forget::agent(agent);
        for (i, id) in ids.iter().enumerate() {
            what.ids.push(
                id.parse()
                    .map_err(|e: Error| e.under_as(&format!("ids[{i}]")))?,
            );
        }
        if let Some(hex) = address {
            what.address = Some(Address::from_hex(hex).map_err(|e| e.under_as("address"))?);
        }
        if everything != (what.ids.is_empty() && what.address.is_none()) {
            return Err(Error::invalid(
                "everything",
                "give ids, or an address, or everything alone",
            ));
        }
        Ok(what)
    }

    /// Only `agent`'s packets among those named.
    #[must_use]
    pub fn by(mut self, agent: impl Into<String>) -> Forget {
        self.agent = Some(agent.into());
        self
    }

    /// Refuses, rather than leaves, named ids that are another agent's ([`Forget::strict`]).
    #[must_use]
    pub fn strict(mut self) -> Forget {
        self.strict = true;
        self
    }

    /// The refusal of a strict forget whose `ids[i]` is held by `holder` (not `self.agent`).
    pub fn not_yours(&self, i: usize) -> Error {
        Error::Forbidden {
            field: format!("ids[{i}]"),
            rule: format!(
                "packet {} is not a packet of agent {:?}: a caller may forget only its own agent's packets (an operator may forget any); nothing was removed",
                self.ids[i],
                self.agent.as_deref().unwrap_or_default()
            ),
        }
    }

    /// Checks the selector names something. Errors: [`Error::Invalid`] naming `ids`, `agent`
    /// or `address`.
    pub fn validate(&self) -> Result<()> {
        if self.ids.is_empty() && self.agent.is_none() && self.address.is_none() {
            return Err(Error::invalid(
                "ids",
                "name what to forget: packet ids, an agent, or an address",
            ));
        }
        if !self.ids.is_empty() && self.address.is_some() {
            return Err(Error::invalid(
                "address",
                "give packet ids or an address, not both",
            ));
        }
        if self.ids.len() > MAX_FORGET_IDS {
            return Err(Error::invalid(
                "ids",
                format!(
                    "at most {MAX_FORGET_IDS} ids in one forget, got {}",
                    self.ids.len()
                ),
            ));
        }
        if let Some(agent) = &self.agent
            && (agent.is_empty() || agent.len() > MAX_NAME_BYTES)
        {
            return Err(Error::invalid(
                "agent",
                format!("must be 1 to {MAX_NAME_BYTES} bytes, got {}", agent.len()),
            ));
        }
        Ok(())
    }

    /// Whether `packet` is one this selector names.
    pub fn matches(&self, packet: &Packet) -> bool {
        (self.ids.is_empty() || self.ids.contains(&packet.id()))
            && self.agent.as_deref().is_none_or(|a| packet.agent() == a)
            && self.address.is_none_or(|a| *packet.address() == a)
    }
}

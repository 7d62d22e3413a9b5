//! Building a packet field by field.

use std::time::Duration;

use super::{Address, Millis, Outcome, Packet, PacketId, ResultMap, ResultValue};
use crate::error::Result;

impl Packet {
    /// Starts a packet for `agent` in `domain` at `address`. Defaults: a new id, created now,
    /// outcome `open`, confidence 0, no result, no TTL.
    pub fn builder(
        agent: impl Into<String>,
        domain: impl Into<String>,
        address: Address,
    ) -> PacketBuilder {
        // The new id's timestamp is "now": one clock read serves both.
        let id = PacketId::new();
        PacketBuilder {
            packet: Packet {
                id,
                agent: agent.into(),
                domain: domain.into(),
                address,
                outcome: Outcome::Open,
                confidence: 0.0,
                result: ResultMap::new(),
                summary: String::new(),
                tags: Vec::new(),
                problem: None,
                created: id.unix_ms(),
                ttl: None,
                derived_from: Vec::new(),
                signature: None,
            },
        }
    }
}

/// Builds a [`Packet`]; [`PacketBuilder::build`] checks every rule.
#[derive(Debug, Clone)]
#[must_use]
pub struct PacketBuilder {
    packet: Packet,
}

impl PacketBuilder {
    /// Sets the id (by default a new UUID v7).
    pub fn id(mut self, id: PacketId) -> Self {
        self.packet.id = id;
        self
    }
    /// Sets what happened.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.packet.outcome = outcome;
        self
    }
    /// Sets the confidence (0–1).
    pub fn confidence(mut self, confidence: f32) -> Self {
        self.packet.confidence = confidence;
        self
    }
    /// Adds one `result` entry.
    pub fn result(mut self, key: impl Into<String>, value: impl Into<ResultValue>) -> Self {
        self.packet.result.insert(key.into(), value.into());
        self
    }
    /// Replaces the whole `result` map.
    pub fn results(mut self, result: ResultMap) -> Self {
        self.packet.result = result;
        self
    }
    /// Sets the summary (at most 200 characters).
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.packet.summary = summary.into();
        self
    }
    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.packet.tags.push(tag.into());
        self
    }
    /// Replaces the tags.
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.packet.tags = tags.into_iter().map(Into::into).collect();
        self
    }
    /// Shares the problem text (embeddings are made from it).
    pub fn problem(mut self, problem: impl Into<String>) -> Self {
        self.packet.problem = Some(problem.into());
        self
    }
    /// Sets the creation time in ms since the epoch (by default, now).
    pub fn created(mut self, created: Millis) -> Self {
        self.packet.created = created;
        self
    }
    /// Sets the time to live.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.packet.ttl = Some(ttl.as_secs());
        self
    }
    /// Sets the time to live in whole seconds.
    pub fn ttl_secs(mut self, secs: u64) -> Self {
        self.packet.ttl = Some(secs);
        self
    }
    /// Marks the packet as synthesized from these original packets.
    pub fn derived_from(mut self, sources: Vec<PacketId>) -> Self {
        self.packet.derived_from = sources;
        self
    }
    /// Checks every rule and returns the packet.
    pub fn build(self) -> Result<Packet> {
        self.packet.validate()?;
        Ok(self.packet)
    }
}

#[cfg(test)]
mod tests {
    use super::super::now_ms;
    use super::*;

    #[test]
    fn a_new_packet_is_created_when_its_id_was_made() {
        let before = now_ms();
        let p = Packet::builder("a", "d", Address::from_bytes(&[1]).unwrap())
            .build()
            .unwrap();
        assert!(before <= p.created() && p.created() <= now_ms());
        assert_eq!(p.created(), p.id().unix_ms());
    }
}

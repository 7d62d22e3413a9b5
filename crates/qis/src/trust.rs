//! Local trust: how far this node believes each peer reports what it observed.
//!
//! Confidence is self-reported, so it cannot tell a liar from an honest peer. What a node can do
//! is compare: each peer's packet at an address says whether an option succeeded, and the node
//! has its own outcomes at that address (what it deposited itself) and the other peers' reports
//! beside it. [`Trust`] keeps, per peer, the evidence (a log-likelihood ratio) that the peer
//! reports honestly rather than inverted, and gives synthesis a weight from 0 to 1 per peer
//! ([`Trust::weight`]): 1 for a peer it knows nothing about or has found honest, falling toward 0
//! as a peer's reports keep contradicting what the node and the others see.
//!
//! Each packet is scored once, when a consultation first returns it ([`Trust::learn`]), against a
//! reference rate: the node's own successes and failures at that address, pooled with the other
//! packets of the answer (each weighed by its agent's trust, the scored agent's own left out). A
//! report of success is evidence `ln(r / (1 − r))` for honesty, a report of failure the opposite,
//! so a report the reference cannot judge (`r` near ½) moves nothing.
//!
//! Everything is kept at the node: no coordinator, nothing sent. Memory is bounded (at most
//! [`Limits::peers`] peers and [`Limits::addresses`] addresses of own outcomes, the least
//! recently seen forgotten first; the ids of scored packets in a ring of [`Limits::scored`]).
//! [`Trust::open`] keeps it in a file that [`Trust::save`] rewrites atomically, so a restarted
//! node keeps what it learned.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use foldhash::{HashMap, HashSet};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::packet::{Address, Outcome, PacketId};
use crate::router::Hit;

/// How much a node remembers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Peers with a trust record.
    pub peers: usize,
    /// Addresses with a tally of this node's own outcomes.
    pub addresses: usize,
    /// Ids of packets already scored (so that a packet returned again is not counted twice).
    pub scored: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            peers: 100_000,
            addresses: 100_000,
            scored: 1 << 20,
        }
    }
}

/// The prior odds that a peer reports honestly: 4 to 1.
const PRIOR_LOG_ODDS: f64 = 1.386_294_361_119_890_6;
/// How much a unit of evidence moves a peer's log-odds. The reports a node sees are not
/// independent (they share the reference they are judged against), so 1 undersells them: in
/// the simulator's world with 40 % liars (`trust_at_200_agents` in qis-sim's invariants, run with
/// this set to 1, 3 and 8; docs/decisions.md), honest agents' regret was 0.114 / 0.141 /
/// 0.157 (frequency / weighted / bayesian) at 1, 0.103 / 0.092 / 0.101 at 3, 0.102 / 0.096 / 0.094
/// at 8, against 0.156 / 0.206 / 0.210 without trust.
const SHARPNESS: f64 = 3.0;
/// A peer's evidence is kept within these bounds, so that a long-honest peer that turns to lying
/// is found out in tens of reports, not hundreds.
const EVIDENCE: (f64, f64) = (-40.0, 8.0);
/// A reference rate is kept this far from 0 and 1: one report never weighs more than ln 49.
const REFERENCE_CLAMP: f64 = 0.02;

/// One peer's record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Peer {
    /// Log-likelihood ratio, honest against inverted.
    evidence: f64,
    /// Reports scored.
    reports: u64,
    /// When it was last seen (the book's clock).
    seen: u64,
}

/// This node's own outcomes at one address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Tally {
    successes: f64,
    failures: f64,
    seen: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Book {
    peers: HashMap<String, Peer>,
    own: HashMap<Address, Tally>,
    /// Scored packet ids, oldest first (with `scored_set` for lookups).
    scored: VecDeque<PacketId>,
    #[serde(skip)]
    scored_set: HashSet<PacketId>,
    clock: u64,
    /// Changes since the file was last written.
    #[serde(skip)]
    unsaved: u64,
}

/// What a peer's report says about the option at its address: success, failure, or nothing to
/// judge (`partial`, `open`).
fn success(outcome: Outcome) -> Option<bool> {
    match outcome {
        Outcome::Resolved => Some(true),
        Outcome::Contradicted => Some(false),
        Outcome::Partial | Outcome::Open => None,
    }
}

/// A peer's weight from its evidence: its probability of being honest, relative to the prior's,
/// capped at 1.
fn weight_of(evidence: f64) -> f64 {
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    (sigmoid(PRIOR_LOG_ODDS + SHARPNESS * evidence) / sigmoid(PRIOR_LOG_ODDS)).min(1.0)
}

impl Book {
    fn weight(&self, agent: &str) -> f64 {
        self.peers.get(agent).map_or(1.0, |p| weight_of(p.evidence))
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Drops the least recently seen tenth of a map once it holds more than `max`.
    fn bound<K: Clone + Eq + std::hash::Hash, V>(
        map: &mut HashMap<K, V>,
        max: usize,
        seen: impl Fn(&V) -> u64,
    ) {
        if map.len() <= max {
            return;
        }
        let mut ages: Vec<u64> = map.values().map(&seen).collect();
        let drop = (map.len() - max).max(max / 10).min(ages.len() - 1);
        let (_, cut, _) = ages.select_nth_unstable(drop);
        let cut = *cut;
        map.retain(|_, v| seen(v) > cut);
    }

    fn remember_scored(&mut self, id: PacketId, max: usize) -> bool {
        if !self.scored_set.insert(id) {
            return false;
        }
        self.scored.push_back(id);
        while self.scored.len() > max {
            if let Some(old) = self.scored.pop_front() {
                self.scored_set.remove(&old);
            }
        }
        true
    }
}

/// A node's trust in its peers; see the [module docs](self).
#[derive(Debug)]
pub struct Trust {
    book: Mutex<Book>,
    limits: Limits,
    /// Where it is kept, if anywhere.
    file: Option<PathBuf>,
}

impl Default for Trust {
    fn default() -> Self {
        Trust::new(Limits::default())
    }
}

impl Trust {
    /// Trust kept in memory only.
    pub fn new(limits: Limits) -> Self {
        Trust {
            book: Mutex::new(Book::default()),
            limits,
            file: None,
        }
    }

    /// Trust kept in `file`: read from it if it exists, written back by [`Trust::save`].
    /// Errors: [`Error::Config`] for a file that cannot be read or is not a trust file.
    pub fn open(file: impl AsRef<Path>, limits: Limits) -> Result<Self> {
        let file = file.as_ref().to_owned();
        let book = match std::fs::read(&file) {
            Ok(bytes) => {
                let mut book: Book = rmp_serde::from_slice(&bytes).map_err(|e| {
                    Error::Config(format!("{} is not a qis trust file: {e}", file.display()))
                })?;
                book.scored_set = book.scored.iter().copied().collect();
                book
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Book::default(),
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot read {}: {e}",
                    file.display()
                )));
            }
        };
        Ok(Trust {
            book: Mutex::new(book),
            limits,
            file: Some(file),
        })
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        // Updates are whole before the lock is released: a poisoned book is still consistent.
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How much synthesis should weigh `agent`'s packets: 0 to 1 (1 for a peer never judged).
    pub fn weight(&self, agent: &str) -> f64 {
        self.book().weight(agent)
    }

    /// Records this node's own outcome at `address` (what it deposited there itself).
    pub fn observe(&self, address: Address, outcome: Outcome) {
        let Some(succeeded) = success(outcome) else {
            return;
        };
        let mut book = self.book();
        let seen = book.tick();
        let tally = book.own.entry(address).or_default();
        if succeeded {
            tally.successes += 1.0;
        } else {
            tally.failures += 1.0;
        }
        tally.seen = seen;
        book.unsaved += 1;
        Book::bound(&mut book.own, self.limits.addresses, |t| t.seen);
    }

    /// Scores the packets of a consultation of `address` that were not scored before (see the
    /// [module docs](self)). `me` is this node's own agent, whose packets are not scored.
    pub fn learn(&self, address: &Address, me: &str, hits: &[Hit]) {
        let mut book = self.book();
        let own = book.own.get(address).copied().unwrap_or_default();
        // Every report of the answer, weighed by its agent's trust as it stands.
        let judged = |h: &&Hit| {
            h.packet.agent() != me && !h.packet.is_derived() && h.packet.address() == address
        };
        let mut by_agent: HashMap<&str, (f64, f64)> = HashMap::default();
        let (mut total_s, mut total_w) = (0.0, 0.0);
        for h in hits.iter().filter(judged) {
            let Some(said) = success(h.packet.outcome()) else {
                continue;
            };
            let w = book.weight(h.packet.agent());
            let s = if said { w } else { 0.0 };
            let e = by_agent.entry(h.packet.agent()).or_default();
            e.0 += s;
            e.1 += w;
            total_s += s;
            total_w += w;
        }
        let seen = book.tick();
        for h in hits.iter().filter(judged) {
            let p = &h.packet;
            let Some(said) = success(p.outcome()) else {
                continue;
            };
            if !book.remember_scored(p.id(), self.limits.scored) {
                continue;
            }
            // The reference: own outcomes and the others' reports, this agent's left out.
            let (mine_s, mine_w) = by_agent.get(p.agent()).copied().unwrap_or_default();
            let r = (1.0 + own.successes + total_s - mine_s)
                / (2.0 + own.successes + own.failures + total_w - mine_w);
            let r = r.clamp(REFERENCE_CLAMP, 1.0 - REFERENCE_CLAMP);
            let evidence = if said {
                (r / (1.0 - r)).ln()
            } else {
                ((1.0 - r) / r).ln()
            };
            let peer = book.peers.entry(p.agent().to_owned()).or_default();
            peer.evidence = (peer.evidence + evidence).clamp(EVIDENCE.0, EVIDENCE.1);
            peer.reports += 1;
            peer.seen = seen;
            book.unsaved += 1;
        }
        Book::bound(&mut book.peers, self.limits.peers, |p| p.seen);
    }

    /// Peers with a record, and reports scored in all.
    pub fn summary(&self) -> (usize, u64) {
        let book = self.book();
        (
            book.peers.len(),
            book.peers.values().map(|p| p.reports).sum(),
        )
    }

    /// Writes the book to its file (a temporary file renamed over it, so that a crash leaves the
    /// old one or the new one), if it has one and anything changed. Errors: [`Error::Config`].
    pub fn save(&self) -> Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut book = self.book();
        if book.unsaved == 0 && file.exists() {
            return Ok(());
        }
        let bytes = rmp_serde::to_vec_named(&*book)
            .map_err(|e| Error::Config(format!("encoding the trust file: {e}")))?;
        let tmp = file.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, file)
        };
        write().map_err(|e| Error::Config(format!("writing {}: {e}", file.display())))?;
        book.unsaved = 0;
        Ok(())
    }
}

impl Drop for Trust {
    fn drop(&mut self) {
        if let Err(e) = self.save() {
            tracing::warn!("trust not saved: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::packet::Packet;

    fn hit(agent: &str, address: Address, outcome: Outcome) -> Hit {
        Hit {
            packet: Arc::new(
                Packet::builder(agent, "d", address)
                    .outcome(outcome)
                    .confidence(if agent.starts_with("liar") { 1.0 } else { 0.8 })
                    .build()
                    .unwrap(),
            ),
            score: 1.0,
        }
    }

    /// A world of addresses where the option succeeds 80 % of the time: 6 honest peers report
    /// what they saw, 4 liars the opposite, and the node sees some outcomes itself.
    fn consult_many(trust: &Trust, rounds: usize) {
        let mut x = 12345u64;
        let mut draw = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 1000) as f64 / 1000.0 < 0.8
        };
        for round in 0..rounds {
            let address = Address::from_bytes(&[(round % 7) as u8; 8]).unwrap();
            let mut hits = Vec::new();
            for a in 0..10 {
                let saw = draw();
                let (name, said) = if a < 6 {
                    (format!("honest-{a}"), saw)
                } else {
                    (format!("liar-{a}"), !saw)
                };
                let outcome = if said {
                    Outcome::Resolved
                } else {
                    Outcome::Contradicted
                };
                hits.push(hit(&name, address, outcome));
            }
            trust.learn(&address, "me", &hits);
            let mine = if draw() {
                Outcome::Resolved
            } else {
                Outcome::Contradicted
            };
            trust.observe(address, mine);
        }
    }

    #[test]
    fn liars_lose_their_weight_and_honest_peers_keep_theirs() {
        let trust = Trust::default();
        assert_eq!(
            trust.weight("anyone"),
            1.0,
            "a peer never judged counts whole"
        );
        consult_many(&trust, 60);
        for a in 0..6 {
            let w = trust.weight(&format!("honest-{a}"));
            assert!(w > 0.95, "honest-{a}: {w}");
        }
        for a in 6..10 {
            let w = trust.weight(&format!("liar-{a}"));
            assert!(w < 0.05, "liar-{a}: {w}");
        }
    }

    #[test]
    fn a_packet_returned_again_is_scored_once() {
        let trust = Trust::default();
        let address = Address::from_bytes(&[1; 8]).unwrap();
        trust.observe(address, Outcome::Resolved);
        trust.observe(address, Outcome::Resolved);
        let hits = vec![hit("liar", address, Outcome::Contradicted)];
        trust.learn(&address, "me", &hits);
        let once = trust.weight("liar");
        assert!(once < 1.0);
        trust.learn(&address, "me", &hits);
        assert_eq!(trust.weight("liar"), once);
        assert_eq!(trust.summary(), (1, 1));
    }

    #[test]
    fn memory_stays_bounded() {
        let trust = Trust::new(Limits {
            peers: 50,
            addresses: 20,
            scored: 100,
        });
        let address = Address::from_bytes(&[2; 8]).unwrap();
        for i in 0..500u32 {
            trust.observe(
                Address::from_bytes(&i.to_le_bytes()).unwrap(),
                Outcome::Resolved,
            );
            let hits = vec![hit(&format!("peer-{i}"), address, Outcome::Resolved)];
            trust.learn(&address, "me", &hits);
        }
        let book = trust.book();
        assert!(book.peers.len() <= 50, "{}", book.peers.len());
        assert!(book.own.len() <= 20, "{}", book.own.len());
        assert!(book.scored.len() <= 100 && book.scored_set.len() == book.scored.len());
        assert!(
            book.peers.contains_key("peer-499"),
            "the most recent are kept"
        );
    }

    #[test]
    fn what_was_learned_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("trust.qis");
        let address = Address::from_bytes(&[3; 8]).unwrap();
        let again = vec![hit("liar-7", address, Outcome::Contradicted)];
        let before = {
            let trust = Trust::open(&file, Limits::default()).unwrap();
            consult_many(&trust, 40);
            trust.learn(&address, "me", &again);
            trust.save().unwrap();
            (
                trust.weight("liar-7"),
                trust.weight("honest-1"),
                trust.summary(),
            )
        };
        let trust = Trust::open(&file, Limits::default()).unwrap();
        assert_eq!(
            (
                trust.weight("liar-7"),
                trust.weight("honest-1"),
                trust.summary()
            ),
            before
        );
        // A packet scored before the restart is not scored again.
        trust.learn(&address, "me", &again);
        assert_eq!(trust.summary(), before.2);
        // Dropped without a save: what it learned since is written anyway.
        let address = Address::from_bytes(&[4; 8]).unwrap();
        trust.learn(
            &address,
            "me",
            &[hit("liar-9", address, Outcome::Contradicted)],
        );
        let dropped = trust.summary();
        drop(trust);
        assert_eq!(
            Trust::open(&file, Limits::default()).unwrap().summary(),
            dropped
        );
        std::fs::write(&file, b"not a trust file").unwrap();
        let err = Trust::open(&file, Limits::default()).unwrap_err();
        assert!(err.to_string().contains("not a qis trust file"), "{err}");
    }
}

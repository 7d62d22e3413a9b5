//! At most *m* hits per agent ([`Query::max_per_agent`](super::Query::max_per_agent)): what every
//! router uses to keep one agent's packets from filling a query's answer.
//!
//! An answer in its order (newest first, or best first) keeps a hit while its agent has fewer
//! than *m* before it: [`AgentCap`] counts, for routers that walk their packets in that order,
//! and [`cap_sorted`] applies it to a list already read. For the best `k` of packets offered in
//! any order, [`CappedTop`] keeps the same answer as sorting them all and then capping, without
//! holding more than `k`.

// Each router uses a part of this, and a build holds only the routers of its features.
#![cfg_attr(
    not(all(feature = "embedded", feature = "nats", feature = "chroma")),
    allow(dead_code)
)]

use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::hash::Hash;
use std::sync::Arc;

use super::{Hit, MAX_LIMIT};
use crate::packet::Packet;

/// A packet's agent, compared and hashed by name without copying it.
#[derive(Clone, Debug)]
pub(crate) struct AgentOf(pub(crate) Arc<Packet>);

impl PartialEq for AgentOf {
    fn eq(&self, other: &Self) -> bool {
        self.0.agent() == other.0.agent()
    }
}
impl Eq for AgentOf {}
impl Hash for AgentOf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.agent().hash(state);
    }
}

/// Counts the hits given to each agent, in the order of the answer.
#[derive(Debug)]
pub(crate) struct AgentCap<A> {
    cap: Option<usize>,
    given: HashMap<A, usize, foldhash::fast::RandomState>,
}

impl<A: Hash + Eq> AgentCap<A> {
    /// At most `cap` per agent (`None`: no cap).
    pub(crate) fn new(cap: Option<usize>) -> Self {
        AgentCap {
            cap,
            given: HashMap::default(),
        }
    }

    /// Whether `agent` may have one more hit; if so, it is counted.
    pub(crate) fn admit(&mut self, agent: A) -> bool {
        let Some(cap) = self.cap else {
            return true;
        };
        let given = self.given.entry(agent).or_insert(0);
        if *given < cap {
            *given += 1;
            true
        } else {
            false
        }
    }

    /// Whether `agent` has had its `cap` already (it is not counted).
    pub(crate) fn is_full(&self, agent: &A) -> bool {
        self.cap
            .is_some_and(|cap| self.given.get(agent).is_some_and(|g| *g >= cap))
    }
}

/// The first `limit` of `hits` (in their order) with at most `per_agent` from one agent.
pub(crate) fn cap_sorted(hits: Vec<Hit>, per_agent: Option<usize>, limit: usize) -> Vec<Hit> {
    if per_agent.is_none() {
        let mut hits = hits;
        hits.truncate(limit);
        return hits;
    }
    let mut cap = AgentCap::new(per_agent);
    let mut kept = Vec::with_capacity(limit.min(hits.len()));
    for hit in hits {
        if kept.len() == limit {
            break;
        }
        if cap.admit(AgentOf(hit.packet.clone())) {
            kept.push(hit);
        }
    }
    kept
}

/// Sorts hits best first: by score, then newest (`created`, then id), as vector answers are.
pub(crate) fn sort_best_first(hits: &mut [Hit]) {
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| b.packet.created().cmp(&a.packet.created()))
            .then_with(|| b.packet.id().cmp(&a.packet.id()))
    });
}

/// The answer of an exact query from every packet it may hold, read in any order: newest first,
/// at most `per_agent` of one agent, the first `limit`.
pub(crate) fn newest_first(
    mut packets: Vec<Arc<Packet>>,
    per_agent: Option<usize>,
    limit: usize,
) -> Vec<Hit> {
    packets.sort_by_key(|p| std::cmp::Reverse((p.created(), p.id())));
    let hits = packets
        .into_iter()
        .map(|packet| Hit { packet, score: 1.0 })
        .collect();
    cap_sorted(hits, per_agent, limit)
}

/// The answer of a vector query from scored hits in any order: best first, at most `per_agent`
/// of one agent, the first `limit`.
pub(crate) fn best_first(mut hits: Vec<Hit>, per_agent: Option<usize>, limit: usize) -> Vec<Hit> {
    sort_best_first(&mut hits);
    cap_sorted(hits, per_agent, limit)
}

/// How much more than it answers a capped query asks an engine that cannot cap, each time it
/// asks again ([`over_read`]).
const OVER_READ: usize = 4;

/// The best `limit` hits with at most `per_agent` from one agent, from an engine that answers
/// only its best `n` (in order) and cannot cap by agent itself: `read(n)` gives them, and whether
/// the engine may hold more. It asks for [`OVER_READ`] times the limit, then as many times more
/// while the cap leaves the answer short and the engine has more, up to [`MAX_LIMIT`]. So the
/// answer is bounded in cost, and short only when one or a few agents hold more than that many
/// of the best hits; the routers that do this say so in their docs.
pub(crate) async fn over_read<F, Fut>(
    limit: usize,
    per_agent: Option<usize>,
    mut read: F,
) -> crate::Result<Vec<Hit>>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = crate::Result<(Vec<Hit>, bool)>>,
{
    if per_agent.is_none_or(|m| m >= limit) {
        let (mut hits, _) = read(limit).await?;
        hits.truncate(limit);
        return Ok(hits);
    }
    let mut n = limit.saturating_mul(OVER_READ).min(MAX_LIMIT);
    loop {
        let (hits, more) = read(n).await?;
        let kept = cap_sorted(hits, per_agent, limit);
        if kept.len() == limit || !more || n == MAX_LIMIT {
            return Ok(kept);
        }
        n = n.saturating_mul(OVER_READ).min(MAX_LIMIT);
    }
}

/// Something to rank: "less" is better (so that a max-heap keeps the worst on top), and it knows
/// its agent.
pub(crate) trait Ranked: Ord + Clone {
    /// What tells agents apart.
    type Agent: Hash + Eq + Clone;
    /// The agent it came from.
    fn agent(&self) -> Self::Agent;
}

/// The best `k` of what it is offered, with at most `per_agent` from one agent (or any number).
///
/// Uncapped, it is a heap of `k` with the worst on top: offering costs one comparison once full.
/// Capped, it keeps the `k` in an ordered set and each agent's in another, so that a better hit
/// of an agent that has its share replaces that agent's worst. Either way it holds the answer
/// of sorting everything offered and keeping the first `k` that the cap allows.
pub(crate) struct CappedTop<T: Ranked> {
    k: usize,
    held: Held<T>,
}

enum Held<T: Ranked> {
    Any(BinaryHeap<T>),
    Capped {
        per_agent: usize,
        all: BTreeSet<T>,
        by_agent: HashMap<T::Agent, BTreeSet<T>, foldhash::fast::RandomState>,
    },
}

impl<T: Ranked> CappedTop<T> {
    /// The best `k`, at most `per_agent` of them from one agent.
    pub(crate) fn new(k: usize, per_agent: Option<usize>) -> Self {
        let held = match per_agent {
            // A cap of `k` or more caps nothing.
            Some(per_agent) if per_agent < k => Held::Capped {
                per_agent,
                all: BTreeSet::new(),
                by_agent: HashMap::default(),
            },
            _ => Held::Any(BinaryHeap::with_capacity(k + 1)),
        };
        CappedTop { k, held }
    }

    /// Offers one; it is kept if it is among the best `k` the cap allows so far.
    pub(crate) fn offer(&mut self, item: T) {
        match &mut self.held {
            Held::Any(heap) => {
                if heap.len() < self.k {
                    heap.push(item);
                } else if let Some(mut worst) = heap.peek_mut()
                    && item < *worst
                {
                    *worst = item;
                }
            }
            Held::Capped {
                per_agent,
                all,
                by_agent,
            } => {
                if all.len() == self.k && all.last().is_some_and(|worst| item >= *worst) {
                    return;
                }
                let agent = item.agent();
                let mine = by_agent.entry(agent).or_default();
                if mine.len() == *per_agent {
                    // Its agent has its share: it replaces that agent's worst, if better.
                    let Some(worst) = mine.last().filter(|w| item < **w).cloned() else {
                        return;
                    };
                    mine.remove(&worst);
                    all.remove(&worst);
                } else if all.len() == self.k {
                    // The worst held gives way (it may be another agent's).
                    let Some(worst) = all.pop_last() else { return };
                    if let Some(theirs) = by_agent.get_mut(&worst.agent()) {
                        theirs.remove(&worst);
                    }
                }
                by_agent
                    .entry(item.agent())
                    .or_default()
                    .insert(item.clone());
                all.insert(item);
            }
        }
    }

    /// The worst of the best `k`, once `k` are held: what a new one must beat.
    pub(crate) fn kth(&self) -> Option<&T> {
        match &self.held {
            Held::Any(heap) => (heap.len() == self.k).then(|| heap.peek()).flatten(),
            Held::Capped { all, .. } => (all.len() == self.k).then(|| all.last()).flatten(),
        }
    }

    /// What it holds, in no order (to offer to another).
    pub(crate) fn into_unsorted(self) -> Vec<T> {
        match self.held {
            Held::Any(heap) => heap.into_vec(),
            Held::Capped { all, .. } => all.into_iter().collect(),
        }
    }

    /// The best `k`, best first.
    pub(crate) fn into_sorted(self) -> Vec<T> {
        match self.held {
            Held::Any(heap) => heap.into_sorted_vec(),
            Held::Capped { all, .. } => all.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A score (higher is better) and an agent; "less" is better.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Item(u32, u8, usize);

    impl Ord for Item {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            other.0.cmp(&self.0).then_with(|| self.2.cmp(&other.2))
        }
    }
    impl PartialOrd for Item {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ranked for Item {
        type Agent = u8;
        fn agent(&self) -> u8 {
            self.1
        }
    }

    /// Sort everything, then keep the first `k` the cap allows.
    fn by_sorting(items: &[Item], k: usize, per_agent: Option<usize>) -> Vec<Item> {
        let mut all = items.to_vec();
        all.sort();
        let mut cap = AgentCap::new(per_agent);
        all.into_iter().filter(|i| cap.admit(i.1)).take(k).collect()
    }

    proptest! {
        #[test]
        fn the_capped_top_k_is_the_capped_sort(
            raw in proptest::collection::vec((0u32..50, 0u8..6), 0..200),
            k in 1usize..30,
            cap in proptest::option::of(1usize..8),
        ) {
            let items: Vec<Item> = raw.iter().enumerate().map(|(i, &(s, a))| Item(s, a, i)).collect();
            let mut top = CappedTop::new(k, cap);
            for item in &items {
                top.offer(item.clone());
            }
            let want = by_sorting(&items, k, cap);
            prop_assert_eq!(top.kth().cloned(), (want.len() == k).then(|| want[k - 1].clone()));
            prop_assert_eq!(top.into_sorted(), want);
        }
    }

    fn hit(agent: &str, score: f32) -> Hit {
        let address = crate::packet::Address::from_hex("1dd96c30c27fe860").unwrap();
        Hit {
            packet: Arc::new(Packet::builder(agent, "d", address).build().unwrap()),
            score,
        }
    }

    #[test]
    fn an_over_read_asks_again_while_the_cap_leaves_the_answer_short() {
        // The engine's best: 100 of one agent, then 10 agents of one packet each.
        let mut all: Vec<Hit> = (0..100)
            .map(|i| hit("flooder", 2.0 - i as f32 / 100.0))
            .collect();
        all.extend((0..10).map(|i| hit(&format!("peer-{i}"), 0.5 - i as f32 / 100.0)));
        let asked = std::cell::RefCell::new(Vec::new());
        let read = |n: usize| {
            asked.borrow_mut().push(n);
            let page: Vec<Hit> = all.iter().take(n).cloned().collect();
            let more = n < all.len();
            async move { Ok((page, more)) }
        };
        use futures::executor::block_on as block;
        let got = block(over_read(8, Some(2), read)).unwrap();
        assert_eq!(*asked.borrow(), [32, 128], "4x the limit, then 4x more");
        let agents: Vec<&str> = got.iter().map(|h| h.packet.agent()).collect();
        assert_eq!(
            agents,
            [
                "flooder", "flooder", "peer-0", "peer-1", "peer-2", "peer-3", "peer-4", "peer-5"
            ]
        );
        // Uncapped (or a cap of the limit): one read of the limit.
        asked.borrow_mut().clear();
        assert_eq!(block(over_read(8, Some(8), read)).unwrap().len(), 8);
        assert_eq!(*asked.borrow(), [8]);
        // An engine with no more stops the reads, however short the answer.
        asked.borrow_mut().clear();
        let few = |n: usize| {
            asked.borrow_mut().push(n);
            let page: Vec<Hit> = all.iter().take(n.min(40)).cloned().collect();
            async move { Ok((page, false)) }
        };
        assert_eq!(block(over_read(8, Some(2), few)).unwrap().len(), 2);
        assert_eq!(*asked.borrow(), [32]);
    }

    #[test]
    fn a_flooding_agent_keeps_only_its_share() {
        let mut top = CappedTop::new(4, Some(1));
        for i in 0..100 {
            top.offer(Item(1000 - i, 0, i as usize));
        }
        top.offer(Item(1, 1, 500));
        top.offer(Item(2, 2, 501));
        let got: Vec<u8> = top.into_sorted().iter().map(|i| i.1).collect();
        assert_eq!(got, vec![0, 2, 1], "one of the flooder's, then the others");
    }
}

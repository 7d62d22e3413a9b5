//! The in-memory index of the packets by address: for each address, its packets' `seq`s in the
//! order exact queries read them (newest first), with what that order and the expiry check need.
//! Like the vectors, it is a cache of the packets table, rebuilt when the store opens.
//!
//! It replaces SQLite's index on the address. Addresses are hashes, so each deposit of a batch
//! lands on a different page of such an index: at a million packets a batch of 1,000 rewrote
//! about as many index pages (4 MB into the write-ahead log, then again at the checkpoint), and
//! its commit took 21 ms instead of 1.3 ms without the index. Here a deposit appends to a vector.

use std::collections::{HashMap, HashSet};

use super::interner::Interner;
use crate::packet::{Address, Millis, Packet};

/// One packet, in its address's order: `(created, id)` ascending, so newest last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) created: Millis,
    pub(super) id: [u8; 16],
    pub(super) seq: i64,
    /// `Millis::MAX` for "never".
    pub(super) expires: Millis,
    /// The packet's domain, interned.
    domain: u32,
    /// The packet's agent, interned: a query capped per agent passes over an agent's packets
    /// once it has its share, before reading them.
    pub(super) agent: u32,
}

// The agent sits in what was the padding after the domain: an entry is still 48 bytes.
const _: () = assert!(std::mem::size_of::<Entry>() == 48);

impl Entry {
    /// Its place in its address's order, and where a read that ended at this packet resumes.
    pub(super) fn cursor(&self) -> Cursor {
        (self.created, self.id)
    }

    fn live(&self, now: Millis) -> bool {
        self.expires > now
    }
}

/// What a row of the packets table gives the index.
#[derive(Debug)]
pub(super) struct Row<'a> {
    pub(super) seq: i64,
    pub(super) address: Address,
    pub(super) id: [u8; 16],
    pub(super) domain: &'a str,
    pub(super) agent: &'a str,
    pub(super) created: Millis,
    pub(super) expires: Option<Millis>,
}

impl<'a> Row<'a> {
    pub(super) fn of(seq: i64, packet: &'a Packet) -> Self {
        Row {
            seq,
            address: *packet.address(),
            id: *packet.id().as_uuid().as_bytes(),
            domain: packet.domain(),
            agent: packet.agent(),
            created: packet.created(),
            expires: packet.expires_at(),
        }
    }
}

/// A position in an address's order, to resume reading after: the `(created, id)` of the last
/// packet read.
pub(super) type Cursor = (Millis, [u8; 16]);

/// Every packet of the table (expired ones too, until purged), by address.
#[derive(Debug, Default)]
pub(super) struct AddressIndex {
    addresses: HashMap<Address, Vec<Entry>, foldhash::fast::RandomState>,
    domains: Interner,
    agents: Interner,
}

/// An address's live packets: how many, the newest's `created`, and its domain.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Activity<'a> {
    pub(super) address: Address,
    pub(super) packets: u64,
    pub(super) last: Millis,
    pub(super) domain: &'a str,
}

impl AddressIndex {
    pub(super) fn insert(&mut self, row: &Row<'_>) {
        let entry = Entry {
            created: row.created,
            id: row.id,
            seq: row.seq,
            expires: row.expires.unwrap_or(Millis::MAX),
            domain: self.domains.intern(row.domain),
            agent: self.agents.intern(row.agent),
        };
        let entries = self.addresses.entry(row.address).or_default();
        // Deposits, and opening, are mostly the newest packet of their address: then this is a
        // push, decided on the last entry alone (a search would touch a cache line per step).
        if entries
            .last()
            .is_none_or(|last| last.cursor() < entry.cursor())
        {
            entries.push(entry);
        } else {
            let at = entries.partition_point(|e| e.cursor() < entry.cursor());
            entries.insert(at, entry);
        }
    }

    /// Removes the packets `seq`s at their addresses, in one pass over each address touched.
    pub(super) fn remove(&mut self, removed: impl IntoIterator<Item = (Address, i64)>) {
        let mut by_address: HashMap<Address, HashSet<i64>> = HashMap::new();
        for (address, seq) in removed {
            by_address.entry(address).or_default().insert(seq);
        }
        for (address, seqs) in by_address {
            if let Some(entries) = self.addresses.get_mut(&address) {
                entries.retain(|e| !seqs.contains(&e.seq));
                if entries.is_empty() {
                    self.addresses.remove(&address);
                }
            }
        }
    }

    /// Up to `n` live packets at `address` created at `since` or later, newest first, starting
    /// after `after` (from the newest when `None`), passing over those whose agent `full` says
    /// has its share.
    pub(super) fn newest(
        &self,
        address: &Address,
        since: Millis,
        now: Millis,
        after: Option<Cursor>,
        n: usize,
        full: impl Fn(u32) -> bool,
    ) -> Vec<Entry> {
        let Some(entries) = self.addresses.get(address) else {
            return Vec::new();
        };
        let end = after.map_or(entries.len(), |c| {
            entries.partition_point(|e| e.cursor() < c)
        });
        entries[..end]
            .iter()
            .rev()
            .take_while(|e| e.created >= since)
            .filter(|e| e.live(now) && !full(e.agent))
            .take(n)
            .copied()
            .collect()
    }

    /// Every packet at `address` (expired ones too), for forgetting by address.
    pub(super) fn seqs_at(&self, address: &Address) -> Vec<i64> {
        self.addresses
            .get(address)
            .map(|entries| entries.iter().map(|e| e.seq).collect())
            .unwrap_or_default()
    }

    /// Every address with live packets, with its activity, in no particular order.
    pub(super) fn activity(&self, now: Millis) -> Vec<Activity<'_>> {
        self.addresses
            .iter()
            .filter_map(|(address, entries)| {
                let mut live = entries.iter().filter(|e| e.live(now));
                let newest = live.next_back()?;
                Some(Activity {
                    address: *address,
                    packets: 1 + live.count() as u64,
                    last: newest.created,
                    domain: self.domains.name(newest.domain),
                })
            })
            .collect()
    }

    /// How many addresses hold a packet, expired or not (until purged), as the table does.
    pub(super) fn len(&self) -> usize {
        self.addresses.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        seq: i64,
        address: u8,
        created: Millis,
        id: u8,
        expires: Option<Millis>,
    ) -> Row<'static> {
        Row {
            seq,
            address: Address::from_bytes(&[address; 8]).unwrap(),
            id: [id; 16],
            domain: if address.is_multiple_of(2) {
                "even"
            } else {
                "odd"
            },
            agent: if id < 4 { "few" } else { "many" },
            created,
            expires,
        }
    }

    fn seqs(entries: &[Entry]) -> Vec<i64> {
        entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn reads_newest_first_by_created_then_id_and_resumes_after_a_cursor() {
        let mut index = AddressIndex::default();
        // Deposited out of order; two share a millisecond and are ordered by id.
        for r in [
            row(1, 1, 20, 1, None),
            row(2, 1, 10, 2, None),
            row(3, 1, 30, 3, None),
            row(4, 1, 20, 9, None),
            row(5, 2, 25, 5, None),
        ] {
            index.insert(&r);
        }
        let at = Address::from_bytes(&[1; 8]).unwrap();
        let all = index.newest(&at, 0, 0, None, 10, |_| false);
        assert_eq!(seqs(&all), [3, 4, 1, 2]);
        let first = index.newest(&at, 0, 0, None, 2, |_| false);
        assert_eq!(seqs(&first), [3, 4]);
        let rest = index.newest(&at, 0, 0, Some(first[1].cursor()), 10, |_| false);
        assert_eq!(seqs(&rest), [1, 2]);
        assert_eq!(
            seqs(&index.newest(&at, 20, 0, None, 10, |_| false)),
            [3, 4, 1]
        );
        let few = all[0].agent;
        assert_eq!(
            seqs(&index.newest(&at, 0, 0, None, 10, |a| a == few)),
            [4],
            "an agent that has its share is passed over"
        );
        let nowhere = Address::from_bytes(&[7; 8]).unwrap();
        assert!(index.newest(&nowhere, 0, 0, None, 10, |_| false).is_empty());
    }

    #[test]
    fn expired_packets_are_passed_over_and_removed_ones_are_gone() {
        let mut index = AddressIndex::default();
        for r in [
            row(1, 1, 10, 1, Some(100)),
            row(2, 1, 20, 2, None),
            row(3, 1, 30, 3, Some(50)),
            row(4, 3, 40, 4, Some(50)),
        ] {
            index.insert(&r);
        }
        let at = Address::from_bytes(&[1; 8]).unwrap();
        assert_eq!(seqs(&index.newest(&at, 0, 60, None, 10, |_| false)), [2, 1]);
        assert_eq!(index.len(), 2);
        let mut activity = index.activity(60);
        assert_eq!(activity.len(), 1, "address 3's only packet has expired");
        let a = activity.pop().unwrap();
        assert_eq!((a.packets, a.last, a.domain), (2, 20, "odd"));
        index.remove([(at, 2), (at, 3), (Address::from_bytes(&[3; 8]).unwrap(), 4)]);
        assert_eq!(seqs(&index.newest(&at, 0, 0, None, 10, |_| false)), [1]);
        assert_eq!(index.seqs_at(&at), [1]);
        assert_eq!(index.len(), 1, "an address without packets is dropped");
    }
}

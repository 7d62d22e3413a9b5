//! Per-key quotas: how much each key (a peer address, a caller) holds of something at once, with
//! a handle that gives its part back when dropped. The node caps connections per peer and
//! request-body bytes per caller with it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// At most `most` units held at once per key.
#[derive(Debug)]
pub(crate) struct Quota<K> {
    most: usize,
    held: Mutex<HashMap<K, usize>>,
}

/// What one holder took of its key's quota; dropping it gives it back.
#[derive(Debug)]
pub(crate) struct Held<K: Hash + Eq + Copy> {
    quota: Arc<Quota<K>>,
    key: K,
    amount: usize,
}

impl<K: Hash + Eq + Copy> Quota<K> {
    /// At most `most` (at least 1) per key.
    pub(crate) fn new(most: usize) -> Arc<Self> {
        Arc::new(Quota {
            most: most.max(1),
            held: Mutex::new(HashMap::new()),
        })
    }

    /// The most one key may hold.
    pub(crate) fn most(&self) -> usize {
        self.most
    }

    /// `amount` more for `key`, or `None` when that would put it over its quota.
    pub(crate) fn take(self: &Arc<Self>, key: K, amount: usize) -> Option<Held<K>> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let now = held.entry(key).or_insert(0);
        if *now + amount > self.most {
            if *now == 0 {
                held.remove(&key);
            }
            return None;
        }
        *now += amount;
        Some(Held {
            quota: self.clone(),
            key,
            amount,
        })
    }

    /// What `key` holds now.
    #[cfg(test)]
    pub(crate) fn holding(&self, key: K) -> usize {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.get(&key).copied().unwrap_or(0)
    }
}

impl<K: Hash + Eq + Copy> Drop for Held<K> {
    fn drop(&mut self) {
        let mut held = self.quota.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(now) = held.get_mut(&self.key) {
            *now -= self.amount;
            if *now == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_holds_at_most_its_quota_and_what_is_dropped_is_given_back() {
        let quota = Quota::new(10);
        let first = quota.take('a', 6).unwrap();
        assert!(quota.take('a', 5).is_none(), "over the quota");
        let _second = quota.take('a', 4).unwrap();
        assert!(
            quota.take('b', 10).is_some(),
            "another key is not held back"
        );
        drop(first);
        assert_eq!(quota.holding('a'), 4);
        assert!(quota.take('a', 6).is_some());
        assert_eq!(quota.holding('c'), 0);
        assert!(quota.take('c', 11).is_none());
        assert!(
            quota.held.lock().unwrap().get(&'c').is_none(),
            "no empty entry left"
        );
    }
}

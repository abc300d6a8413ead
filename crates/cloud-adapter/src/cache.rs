//! Short-lived copies of the reads many reconciles repeat within seconds: a server (its
//! interfaces and security groups: every Service reconcile reads one for its placement, every
//! NodeSecurityGroup reconcile reads all selected ones) and a subnet (its CIDR and zone).
//!
//! An entry lives [`CloudConfig::read_cache_ttl`](crate::CloudConfig::read_cache_ttl). This
//! client's own writes keep it true: setting a server's security groups updates its copy
//! when the cloud accepted the list, and drops it when the outcome is unknown. A change made
//! out of band is seen once the copy expires, so the TTL is kept well below the drift-check
//! period (the app clamps it to half of it).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Entries above which an insert first drops the expired ones (servers and subnets of one
/// cluster stay far below it; this only bounds a long-lived process's garbage).
const PRUNE_ABOVE: usize = 4096;

/// A map whose entries expire `ttl` after they were stored; a zero `ttl` stores nothing.
#[derive(Debug)]
pub(crate) struct TtlMap<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlMap<K, V> {
    /// Empty, with entries living `ttl`.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The map (a panic while it was held left it consistent: every change is one call).
    fn lock(&self) -> MutexGuard<'_, HashMap<K, (Instant, V)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The live copy of `key`, if any.
    pub(crate) fn get<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let map = self.lock();
        map.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// Stores `value` as read now.
    pub(crate) fn put(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.lock();
        if map.len() >= PRUNE_ABOVE {
            map.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        map.insert(key, (Instant::now(), value));
    }

    /// Changes the live copy of `key` in place (keeping its age); no-op when there is none.
    pub(crate) fn update<Q: Eq + Hash + ?Sized>(&self, key: &Q, f: impl FnOnce(&mut V))
    where
        K: Borrow<Q>,
    {
        let mut map = self.lock();
        if let Some((at, v)) = map.get_mut(key)
            && at.elapsed() < self.ttl
        {
            f(v);
        }
    }

    /// Forgets `key`.
    pub(crate) fn remove<Q: Eq + Hash + ?Sized>(&self, key: &Q)
    where
        K: Borrow<Q>,
    {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_served_until_it_expires_and_a_zero_ttl_stores_nothing() {
        let live = TtlMap::new(Duration::from_secs(3600));
        live.put("a", 1);
        assert_eq!(live.get(&"a"), Some(1));
        live.update(&"a", |v| *v = 2);
        assert_eq!(live.get(&"a"), Some(2));
        live.remove(&"a");
        assert_eq!(live.get(&"a"), None);
        live.update(&"a", |v| *v = 3);
        assert_eq!(live.get(&"a"), None, "update never creates an entry");

        let off = TtlMap::new(Duration::ZERO);
        off.put("a", 1);
        assert_eq!(off.get(&"a"), None);

        let expired = TtlMap::new(Duration::from_nanos(1));
        expired.put("a", 1);
        std::thread::yield_now();
        let deadline = Instant::now() + Duration::from_secs(5);
        while expired.get(&"a").is_some() {
            assert!(Instant::now() < deadline, "a 1 ns entry never expired");
            std::thread::yield_now();
        }
        expired.update(&"a", |v| *v = 2);
        assert_eq!(expired.get(&"a"), None);
    }

    #[test]
    fn expired_entries_are_pruned_once_the_map_is_large() {
        let m = TtlMap::new(Duration::from_nanos(1));
        for i in 0..PRUNE_ABOVE + 10 {
            m.put(i, i);
        }
        assert!(m.lock().len() < PRUNE_ABOVE, "expired entries kept");
    }
}

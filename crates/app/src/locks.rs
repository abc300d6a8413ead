//! Deployments to one load balancer are serialised; different load balancers proceed
//! concurrently. Keys come from the domain's `serialization_key`.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// A lock per key; unused entries are dropped when their last guard goes.
#[derive(Debug, Default, Clone)]
pub struct KeyedLocks {
    inner: Arc<Mutex<HashMap<String, Arc<AsyncMutex<()>>>>>,
}

/// Holds the lock of one key.
#[derive(Debug)]
pub struct KeyGuard {
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
    locks: Arc<Mutex<HashMap<String, Arc<AsyncMutex<()>>>>>,
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        let mutex = self
            .guard
            .take()
            .map(|g| OwnedMutexGuard::mutex(&g).clone());
        // Release before looking at the reference count.
        let mut map = self.locks.lock();
        if let Some(m) = mutex {
            // map + this clone = 2: nobody else waits on it.
            if Arc::strong_count(&m) <= 2 {
                map.remove(&self.key);
            }
        }
    }
}

impl KeyedLocks {
    /// New, empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits for the lock of `key`.
    pub async fn lock(&self, key: &str) -> KeyGuard {
        let mutex = {
            let mut map = self.inner.lock();
            map.entry(key.to_owned())
                .or_insert_with(|| Arc::new(AsyncMutex::new(())))
                .clone()
        };
        let guard = mutex.lock_owned().await;
        KeyGuard {
            key: key.to_owned(),
            guard: Some(guard),
            locks: self.inner.clone(),
        }
    }

    /// Waits for the locks of all `keys`, taken in sorted order (no deadlock between two
    /// callers asking overlapping sets).
    pub async fn lock_all(&self, keys: &[String]) -> Vec<KeyGuard> {
        let mut keys: Vec<&String> = keys.iter().collect();
        keys.sort();
        keys.dedup();
        let mut guards = Vec::with_capacity(keys.len());
        for k in keys {
            guards.push(self.lock(k).await);
        }
        guards
    }

    /// Number of keys with a holder or a waiter.
    pub fn len(&self) -> usize {
        self.inner.lock().len()
    }

    /// No key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn same_load_balancer_is_serialised() {
        let locks = KeyedLocks::new();
        let g = locks.lock("lb-1").await;
        let l2 = locks.clone();
        let mut waiter = tokio::spawn(async move { l2.lock("lb-1").await });
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut waiter)
                .await
                .is_err(),
            "second deployment to lb-1 ran while the first held the lock"
        );
        drop(g);
        let g2 = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        drop(g2);
        assert!(locks.is_empty());
    }

    #[tokio::test]
    async fn overlapping_key_sets_wait_for_each_other() {
        let locks = KeyedLocks::new();
        let held = locks
            .lock_all(&["name:shared".to_owned(), "lb-1".to_owned()])
            .await;
        let l2 = locks.clone();
        let mut other =
            tokio::spawn(async move { l2.lock_all(&["name:shared".to_owned()]).await.len() });
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut other)
                .await
                .is_err()
        );
        drop(held);
        let n = tokio::time::timeout(Duration::from_secs(5), other)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn different_load_balancers_proceed_concurrently() {
        let locks = KeyedLocks::new();
        let _a = locks.lock("lb-1").await;
        let b = tokio::time::timeout(Duration::from_secs(5), locks.lock("lb-2")).await;
        assert!(b.is_ok());
        assert_eq!(locks.len(), 2);
    }
}

//! Counted shares: how many of something each key holds at once (a user's live connections, a user's
//! streams to one node), each given back when its guard drops.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Open counts per key.
pub struct Quota<K> {
    open: Mutex<HashMap<K, usize>>,
}

/// One unit of a key's share, held until dropped.
pub struct QuotaGuard<K: Eq + Hash> {
    quota: Arc<Quota<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone> Quota<K> {
    /// An empty quota.
    pub fn new() -> Arc<Quota<K>> {
        Arc::new(Quota {
            open: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, usize>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one unit of `key`'s share, unless it already holds `cap`.
    pub fn take(self: &Arc<Self>, key: K, cap: usize) -> Option<QuotaGuard<K>> {
        let mut open = self.lock();
        let n = open.entry(key.clone()).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(QuotaGuard {
            quota: self.clone(),
            key,
        })
    }

    /// Units `key` holds now.
    pub fn count(&self, key: &K) -> usize {
        self.lock().get(key).copied().unwrap_or(0)
    }
}

impl<K: Eq + Hash> Drop for QuotaGuard<K> {
    fn drop(&mut self) {
        let mut open = self.quota.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

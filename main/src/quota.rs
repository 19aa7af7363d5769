//! Counted shares: how many of something each key holds at once, each given back when its guard drops; and
//! the two shares main counts: a user's live connections ([`LiveConnections`]) and a user's file-transfer
//! streams to one node ([`StreamShares`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use crate::store::UserId;

/// Open counts per key.
pub struct Quota<K> {
    open: Mutex<HashMap<K, usize>>,
    /// Units held in all, for waiting until none is.
    total: tokio::sync::watch::Sender<usize>,
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
            total: tokio::sync::watch::Sender::new(0),
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
        self.total.send_modify(|t| *t += 1);
        Some(QuotaGuard {
            quota: self.clone(),
            key,
        })
    }

    /// Units `key` holds now.
    pub fn count(&self, key: &K) -> usize {
        self.lock().get(key).copied().unwrap_or(0)
    }

    /// Waits until no key holds any unit.
    pub async fn none_held(&self) {
        let mut total = self.total.subscribe();
        let _ = total.wait_for(|t| *t == 0).await;
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
            self.quota.total.send_modify(|t| *t = t.saturating_sub(1));
        }
    }
}

/// Live connections open per user.
pub struct LiveConnections {
    per_user: usize,
    open: Arc<Quota<UserId>>,
}

/// One open live connection, counted against its user until dropped.
pub type LiveGuard = QuotaGuard<UserId>;

impl LiveConnections {
    /// At most `per_user` live connections per user.
    pub fn new(per_user: usize) -> Arc<LiveConnections> {
        Arc::new(LiveConnections {
            per_user,
            open: Quota::new(),
        })
    }

    /// Counts a new live connection of `user`; past the cap, says what to do.
    pub fn open(&self, user: UserId) -> Result<LiveGuard, String> {
        self.open.take(user, self.per_user).ok_or_else(|| {
            format!(
                "you already hold {} live connections (WebSocket and event streams), the most one user may \
                 (server.live_connections_per_user); close other tabs or streams and try again",
                self.per_user
            )
        })
    }

    /// Live connections `user` holds now.
    pub fn count(&self, user: UserId) -> usize {
        self.open.count(&user)
    }

    /// Waits until every live connection has ended.
    pub async fn all_closed(&self) {
        self.open.none_held().await;
    }
}

/// How many streams each user has open to each node through the file API: one user's downloads and
/// uploads may take at most a quarter of a node's `tunnel.max_streams`, so the rest stay for others.
pub struct StreamShares {
    open: Arc<Quota<(String, UserId)>>,
}

/// One stream of a user's share; given back when dropped.
pub type SharePermit = QuotaGuard<(String, UserId)>;

impl Default for StreamShares {
    fn default() -> Self {
        StreamShares { open: Quota::new() }
    }
}

impl StreamShares {
    /// Takes one stream of `user`'s share of `node`, or says why not.
    pub fn take(
        &self,
        node: &str,
        user: UserId,
        max_streams: usize,
    ) -> Result<SharePermit, String> {
        let share = (max_streams / 4).max(1);
        self.open
            .take((node.to_string(), user), share)
            .ok_or_else(|| {
                format!(
                    "you already have {share} file transfers open on node {node} (a quarter of its \
                     tunnel.max_streams); wait for one to finish"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Proves the per-user cap refuses one connection too many and frees a slot when a connection ends.
    #[test]
    fn cap_per_user() {
        let conns = LiveConnections::new(2);
        let (alice, bob) = (UserId(uuid::Uuid::now_v7()), UserId(uuid::Uuid::now_v7()));
        let a1 = conns.open(alice).unwrap();
        let _a2 = conns.open(alice).unwrap();
        let refused = conns.open(alice).err().unwrap();
        assert!(refused.contains("live_connections_per_user"), "{refused}");
        let _b1 = conns.open(bob).unwrap();
        drop(a1);
        assert_eq!(conns.count(alice), 1);
        let _a3 = conns.open(alice).unwrap();
    }
}

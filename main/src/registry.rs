//! The node registry: which nodes are connected right now, and the handle to open streams to each.
//!
//! A reconnecting node replaces its stale entry (the old link is cancelled); an ending link only removes
//! its own entry, identified by a generation number, so a late cleanup cannot remove a newer link.
//!
//! Revocation wins every race: a link takes a [`Claim`] as soon as its node is authenticated, before
//! the handshake, and [`NodeRegistry::disconnect`] cancels claims as well as live links. A link checks the
//! node is still enrolled *after* claiming, and revocation removes the key *before* disconnecting, so
//! either the link sees the key gone or the revocation sees the claim.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use vibebridge_tunnel::mux::{MuxError, MuxHandle, TunnelStream};
use vibebridge_tunnel::protocol::{Hello, Open};

use crate::store::now_ms;

/// A connected node.
#[derive(Debug)]
pub struct NodeLink {
    /// Node id.
    pub node_id: String,
    /// Distinguishes successive links of one node.
    pub generation: u64,
    /// What the node said about itself.
    pub hello: Hello,
    /// Opens streams to the node.
    pub mux: MuxHandle,
    /// The node's address as main sees it.
    pub remote: Option<SocketAddr>,
    /// When the link came up, ms since epoch.
    pub connected_at: u64,
    last_heartbeat: AtomicU64,
    cancel: CancellationToken,
    heartbeats: broadcast::Sender<Heartbeat>,
}

/// A node's heartbeat: its id and when, ms since epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The node.
    pub node_id: String,
    /// When, ms since epoch.
    pub at: u64,
}

impl NodeLink {
    /// Last heartbeat, ms since epoch.
    pub fn last_heartbeat(&self) -> u64 {
        self.last_heartbeat.load(Ordering::Relaxed)
    }

    /// Records a heartbeat now and announces it.
    pub fn touch(&self) {
        let at = now_ms();
        self.last_heartbeat.store(at, Ordering::Relaxed);
        let _ = self.heartbeats.send(Heartbeat {
            node_id: self.node_id.clone(),
            at,
        });
    }

    /// Resolves when the link is told to end (revocation, replacement, shutdown).
    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }
}

/// A node came or went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// The node's link is up and its hello accepted.
    Online(String),
    /// The node's link ended.
    Offline(String),
}

/// Why a stream to a node could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No live link.
    #[error("node {0} is offline")]
    Offline(String),
    /// The link refused or timed out.
    #[error("node {node}: {source}")]
    Mux {
        /// Node id.
        node: String,
        /// Cause.
        source: MuxError,
    },
}

/// A link's place in the registry from authentication on: cancelled by [`NodeRegistry::disconnect`]
/// whether or not the link has registered yet. Dropping it withdraws an unregistered claim.
pub struct Claim {
    node_id: String,
    generation: u64,
    cancel: CancellationToken,
    inner: Arc<Mutex<Inner>>,
}

impl Claim {
    /// Resolves when the node is disconnected or revoked (or the registered link replaced).
    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        lock(&self.inner).pending.remove(&self.generation);
    }
}

/// The claim was cancelled before the link registered: the node was revoked or disconnected meanwhile.
#[derive(Debug, thiserror::Error)]
#[error("node {0} was revoked or disconnected while its link was being set up")]
pub struct Cancelled(pub String);

#[derive(Default)]
struct Inner {
    /// Registered links by node id.
    live: HashMap<String, Arc<NodeLink>>,
    /// Claims not registered yet, by generation: (node id, cancel).
    pending: HashMap<u64, (String, CancellationToken)>,
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

/// Shared registry. Cheap to clone.
#[derive(Clone)]
pub struct NodeRegistry {
    inner: Arc<Mutex<Inner>>,
    events: broadcast::Sender<NodeEvent>,
    /// Heartbeats apart from [`NodeEvent`]s, so their flow never makes a link watcher lag.
    heartbeats: broadcast::Sender<Heartbeat>,
    next_generation: Arc<AtomicU64>,
}

impl Default for NodeRegistry {
    fn default() -> Self {
        NodeRegistry {
            inner: Default::default(),
            events: broadcast::channel(1024).0,
            heartbeats: broadcast::channel(1024).0,
            next_generation: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl NodeRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Takes a claim for a link of `node_id` that has just authenticated. The caller must then check the
    /// node is still enrolled (see the module doc) before trusting the claim.
    pub fn claim(&self, node_id: &str) -> Claim {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let cancel = CancellationToken::new();
        self.lock()
            .pending
            .insert(generation, (node_id.to_string(), cancel.clone()));
        Claim {
            node_id: node_id.to_string(),
            generation,
            cancel,
            inner: self.inner.clone(),
        }
    }

    /// Registers a live link under its claim, replacing (and cancelling) any previous link of the same
    /// node. Refused when the claim was cancelled first.
    pub fn register(
        &self,
        claim: &Claim,
        hello: Hello,
        mux: MuxHandle,
        remote: Option<SocketAddr>,
    ) -> Result<Arc<NodeLink>, Cancelled> {
        let now = now_ms();
        let link = Arc::new(NodeLink {
            node_id: claim.node_id.clone(),
            generation: claim.generation,
            hello,
            mux,
            remote,
            connected_at: now,
            last_heartbeat: AtomicU64::new(now),
            cancel: claim.cancel.clone(),
            heartbeats: self.heartbeats.clone(),
        });
        let mut inner = self.lock();
        inner.pending.remove(&claim.generation);
        if claim.cancel.is_cancelled() {
            return Err(Cancelled(claim.node_id.clone()));
        }
        let old = inner.live.insert(link.node_id.clone(), link.clone());
        drop(inner);
        if let Some(old) = old {
            tracing::info!(node.id = %link.node_id, "node reconnected; replacing its stale link");
            old.cancel.cancel();
        }
        let _ = self.events.send(NodeEvent::Online(link.node_id.clone()));
        Ok(link)
    }

    /// Removes `link` if it is still the registered one. Returns true if it was.
    pub fn unregister(&self, link: &NodeLink) -> bool {
        let mut inner = self.lock();
        let current = inner.live.get(&link.node_id).map(|l| l.generation);
        if current == Some(link.generation) {
            inner.live.remove(&link.node_id);
            drop(inner);
            let _ = self.events.send(NodeEvent::Offline(link.node_id.clone()));
            true
        } else {
            false
        }
    }

    /// The live link of a node.
    pub fn get(&self, node_id: &str) -> Option<Arc<NodeLink>> {
        self.lock().live.get(node_id).cloned()
    }

    /// Number of connected nodes.
    pub fn online(&self) -> usize {
        self.lock().live.len()
    }

    /// Cuts a node's live link at once, and every link of it still being set up (revocation). Returns
    /// true if it was connected.
    pub fn disconnect(&self, node_id: &str) -> bool {
        let inner = self.lock();
        for (id, cancel) in inner.pending.values() {
            if id == node_id {
                cancel.cancel();
            }
        }
        match inner.live.get(node_id) {
            Some(link) => {
                link.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancels every link, registered or being set up (shutdown).
    pub fn disconnect_all(&self) {
        let inner = self.lock();
        for (_, cancel) in inner.pending.values() {
            cancel.cancel();
        }
        for link in inner.live.values() {
            link.cancel.cancel();
        }
    }

    /// Opens a stream of kind `open` to a node.
    pub async fn open(&self, node_id: &str, open: &Open) -> Result<TunnelStream, OpenError> {
        let link = self
            .get(node_id)
            .ok_or_else(|| OpenError::Offline(node_id.to_string()))?;
        link.mux.open(open).await.map_err(|source| OpenError::Mux {
            node: node_id.to_string(),
            source,
        })
    }

    /// Node online/offline notifications.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Every node's heartbeats from now on.
    pub fn heartbeats(&self) -> broadcast::Receiver<Heartbeat> {
        self.heartbeats.subscribe()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use vibebridge_tunnel::mux::{self, Mode};

    fn hello(id: &str) -> Hello {
        Hello {
            protocol_version: vibebridge_tunnel::protocol::PROTOCOL_VERSION,
            node_id: id.into(),
            name: id.into(),
            hostname: "h".into(),
            os: "linux".into(),
            labels: vec![],
            capabilities: vec![],
            providers: vec![],
            agent_version: "0".into(),
        }
    }

    fn mux() -> MuxHandle {
        let (a, _b) = tokio::io::duplex(1024);
        mux::spawn(a, Mode::Server, &Default::default()).0
    }

    /// Proves a disconnect cancels a link still in its handshake, so it can no longer register.
    #[tokio::test]
    async fn disconnect_cancels_a_claim_before_it_registers() {
        let registry = NodeRegistry::default();
        let claim = registry.claim("n1");
        let other = registry.claim("n2");
        assert!(!registry.disconnect("n1"), "n1 was not registered yet");
        assert!(claim.is_cancelled());
        assert!(!other.is_cancelled());
        assert!(registry.register(&claim, hello("n1"), mux(), None).is_err());
        assert!(registry.get("n1").is_none());
        let link = registry.register(&other, hello("n2"), mux(), None).unwrap();
        assert!(registry.disconnect("n2"));
        assert!(link.cancel.is_cancelled());
    }

    /// Proves dropping an unregistered claim withdraws it, so claims do not pile up.
    #[tokio::test]
    async fn dropped_claims_are_withdrawn() {
        let registry = NodeRegistry::default();
        drop(registry.claim("n1"));
        assert!(registry.lock().pending.is_empty());
    }
}

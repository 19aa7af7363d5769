//! The node registry: which nodes are connected right now, and the handle to open streams to each.
//!
//! A reconnecting node replaces its stale entry (the old link is cancelled); an ending link only removes
//! its own entry, identified by a generation number, so a late cleanup cannot remove a newer link.

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
}

impl NodeLink {
    /// Last heartbeat, ms since epoch.
    pub fn last_heartbeat(&self) -> u64 {
        self.last_heartbeat.load(Ordering::Relaxed)
    }

    /// Records a heartbeat now.
    pub fn touch(&self) {
        self.last_heartbeat.store(now_ms(), Ordering::Relaxed);
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

/// Shared registry. Cheap to clone.
#[derive(Clone)]
pub struct NodeRegistry {
    links: Arc<Mutex<HashMap<String, Arc<NodeLink>>>>,
    events: broadcast::Sender<NodeEvent>,
    next_generation: Arc<AtomicU64>,
}

impl Default for NodeRegistry {
    fn default() -> Self {
        NodeRegistry {
            links: Default::default(),
            events: broadcast::channel(1024).0,
            next_generation: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl NodeRegistry {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<NodeLink>>> {
        self.links.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a live link, replacing (and cancelling) any previous link of the same node.
    pub fn register(
        &self,
        hello: Hello,
        mux: MuxHandle,
        remote: Option<SocketAddr>,
    ) -> Arc<NodeLink> {
        let now = now_ms();
        let link = Arc::new(NodeLink {
            node_id: hello.node_id.clone(),
            generation: self.next_generation.fetch_add(1, Ordering::Relaxed),
            hello,
            mux,
            remote,
            connected_at: now,
            last_heartbeat: AtomicU64::new(now),
            cancel: CancellationToken::new(),
        });
        let old = self.map().insert(link.node_id.clone(), link.clone());
        if let Some(old) = old {
            tracing::info!(node.id = %link.node_id, "node reconnected; replacing its stale link");
            old.cancel.cancel();
        }
        let _ = self.events.send(NodeEvent::Online(link.node_id.clone()));
        link
    }

    /// Removes `link` if it is still the registered one. Returns true if it was.
    pub fn unregister(&self, link: &NodeLink) -> bool {
        let mut map = self.map();
        let current = map.get(&link.node_id).map(|l| l.generation);
        if current == Some(link.generation) {
            map.remove(&link.node_id);
            drop(map);
            let _ = self.events.send(NodeEvent::Offline(link.node_id.clone()));
            true
        } else {
            false
        }
    }

    /// The live link of a node.
    pub fn get(&self, node_id: &str) -> Option<Arc<NodeLink>> {
        self.map().get(node_id).cloned()
    }

    /// Number of connected nodes.
    pub fn online(&self) -> usize {
        self.map().len()
    }

    /// Cuts a node's live link at once (revocation). Returns true if it was connected.
    pub fn disconnect(&self, node_id: &str) -> bool {
        match self.get(node_id) {
            Some(link) => {
                link.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancels every link (shutdown).
    pub fn disconnect_all(&self) {
        for link in self.map().values() {
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
}

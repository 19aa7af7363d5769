//! The session hub: keeps main's copy of every live session's events in step with its node, and fans new
//! events out to browsers.
//!
//! For each session whose CLI may be producing events, one attach task holds a `session_attach` stream to the
//! node, starting after the last seq main has stored. When the node says the CLI ended (`End`), the task
//! stops; a new message re-attaches. When the link drops, the task stops too, and the node coming back online
//! re-attaches every session still live on it, so a tunnel cut or a main restart loses and doubles nothing.
//!
//! One attach stream's events are stored and published in [`attach`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tracing::Instrument;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vibebridge_tunnel::frame::read_frame;
use vibebridge_tunnel::mux::TunnelStream;
use vibebridge_tunnel::protocol::Open;
use vibebridge_tunnel::session::{LiveSessions, SessionCommand, SessionReply};

use crate::registry::{NodeEvent, NodeLink, NodeRegistry};
use crate::store::Store;

mod attach;
mod live;

pub use live::{LiveEvent, PAGE_BYTES};

/// How long main waits for a node's answer on a reconciling stream.
const NODE_ANSWER: std::time::Duration = std::time::Duration::from_secs(30);

struct Inner {
    store: Store,
    registry: NodeRegistry,
    /// Windows of recent events of followed sessions.
    live: Arc<live::Windows>,
    /// Sessions with an attach task; the flag asks the task to attach once more when it ends.
    attached: Mutex<HashMap<Uuid, bool>>,
    shutdown: CancellationToken,
    max_frame_bytes: usize,
}

/// Shared hub. Cheap to clone.
#[derive(Clone)]
pub struct SessionHub {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SessionHub {
    /// A hub over `store` and `registry`; call [`SessionHub::run`] to follow nodes coming online.
    pub fn new(
        store: Store,
        registry: NodeRegistry,
        max_frame_bytes: usize,
        shutdown: CancellationToken,
    ) -> SessionHub {
        SessionHub {
            inner: Arc::new(Inner {
                store,
                registry,
                live: Arc::default(),
                attached: Mutex::new(HashMap::new()),
                shutdown,
                max_frame_bytes,
            }),
        }
    }

    /// Re-attaches live sessions whenever their node comes online, until shutdown.
    pub async fn run(self) {
        let mut events = self.inner.registry.subscribe();
        loop {
            let event = tokio::select! {
                () = self.inner.shutdown.cancelled() => return,
                e = events.recv() => e,
            };
            match event {
                Ok(NodeEvent::Online(node)) => {
                    self.attach_node(&node);
                    self.reconcile(&node);
                }
                Ok(NodeEvent::Offline(_)) => {}
                // Missed some: re-check every online node.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let nodes: Vec<String> = match self.inner.store.agent_sessions() {
                        Ok(all) => all.into_iter().map(|s| s.node_id).collect(),
                        Err(_) => continue,
                    };
                    for node in nodes {
                        if self.inner.registry.get(&node).is_some() {
                            self.attach_node(&node);
                        }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    fn attach_node(&self, node: &str) {
        let sessions = match self.inner.store.agent_sessions() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("listing sessions to re-attach: {e}");
                return;
            }
        };
        for s in sessions {
            if s.node_id == node && s.status.is_live() {
                self.ensure_attached(s.id, &s.node_id);
            }
        }
    }

    /// Asks a node that came online which sessions it runs and how far each session's log goes: stops those
    /// main has no record of (a CLI nobody can see or stop must not keep running) and attaches those main
    /// holds fewer events of.
    fn reconcile(&self, node: &str) {
        let this = self.clone();
        let node = node.to_string();
        let span = tracing::info_span!("reconcile", node = %node);
        tokio::spawn(
            async move {
                let checked = tokio::select! {
                    () = this.inner.shutdown.cancelled() => return,
                    r = this.reconcile_once(&node) => r,
                };
                if let Err(e) = checked {
                    tracing::warn!(node, "checking the node's running sessions: {e}");
                }
            }
            .instrument(span),
        );
    }

    /// Opens a stream of kind `open` to `node`: the node's live link and the stream, or why not.
    async fn open(&self, node: &str, open: &Open) -> Result<(Arc<NodeLink>, TunnelStream), String> {
        let link = self
            .inner
            .registry
            .get(node)
            .ok_or_else(|| format!("node {node} is offline"))?;
        let stream = link.mux.open(open).await.map_err(|e| e.to_string())?;
        Ok((link, stream))
    }

    async fn reconcile_once(&self, node: &str) -> Result<(), String> {
        let max = self.inner.max_frame_bytes;
        let (_, mut stream) = self.open(node, &Open::SessionsLive).await?;
        let live: LiveSessions = tokio::time::timeout(NODE_ANSWER, read_frame(&mut stream, max))
            .await
            .map_err(|_| "no answer".to_string())?
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                "the node closed the stream (an agent older than this main?)".to_string()
            })?;
        // Sessions the node holds more events of than main: main crashed before writing out their tail, or
        // it ended while main was away. Attaching fetches the rest (a session not running ends at once).
        for head in &live.heads {
            let Ok(id) = Uuid::parse_str(&head.session_id) else {
                continue;
            };
            if let Ok(Some(rec)) = self.inner.store.agent_session(&id)
                && rec.node_id == node
                && head.last_seq > rec.last_seq
            {
                tracing::info!(session = %id, node, "the node has events after main's seq {}; attaching", rec.last_seq);
                self.ensure_attached(id, node);
            }
        }
        for sid in live.session_ids {
            let Ok(id) = Uuid::parse_str(&sid) else {
                continue;
            };
            match self.inner.store.agent_session(&id) {
                Ok(Some(rec))
                    if rec.node_id == node
                        && self.inner.store.session_node_current(&rec).unwrap_or(true) =>
                {
                    // Its CLI or its run's dev server runs: follow it (an idle session's dev server too).
                    self.ensure_attached(id, node);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(session = %id, "reading the session: {e}");
                    continue;
                }
            }
            tracing::warn!(session = %id, node, "the node runs a session main has no record of; stopping it");
            let stop = Open::SessionCommand {
                session_id: sid,
                command: SessionCommand::Stop,
            };
            let (_, mut stream) = self.open(node, &stop).await?;
            let reply =
                tokio::time::timeout(NODE_ANSWER, read_frame::<SessionReply, _>(&mut stream, max))
                    .await;
            if !matches!(reply, Ok(Ok(Some(SessionReply::Ok { .. })))) {
                tracing::warn!(session = %id, node, "the node did not confirm the stop: {reply:?}");
            }
        }
        Ok(())
    }

    /// Stops attach tasks and ends every subscriber stream (main is shutting down).
    pub fn stop(&self) {
        self.inner.shutdown.cancel();
    }

    /// Resolves when the hub stops.
    pub fn stopped(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.inner.shutdown.cancelled()
    }

    /// Stored events of a session after `after`, then live ones, in seq order with none missing or doubled;
    /// ends when the hub stops. What SSE, the WebSocket and the console's `sessions tail` follow. Holds at
    /// most one catch-up page ([`PAGE_BYTES`]) besides the event being yielded, however far behind it is.
    pub fn follow(
        &self,
        id: Uuid,
        after: u64,
    ) -> impl futures::Stream<Item = Arc<LiveEvent>> + Send + use<> {
        live::follow(self.clone(), id, after)
    }

    /// How many followers of session `id` are registered now (each `follow` stream being read counts once).
    pub fn followers(&self, id: Uuid) -> usize {
        self.inner.live.followers(id)
    }

    /// Makes sure an attach task follows the session (call after anything that may start its CLI).
    pub fn ensure_attached(&self, id: Uuid, node: &str) {
        {
            let mut attached = lock(&self.inner.attached);
            if let Some(again) = attached.get_mut(&id) {
                *again = true;
                return;
            }
            attached.insert(id, false);
        }
        let this = self.clone();
        let node = node.to_string();
        let span = tracing::info_span!("attach", session = %id, node = %node);
        tokio::spawn(async move {
            loop {
                let result = tokio::select! {
                    () = this.inner.shutdown.cancelled() => Err("main is shutting down".to_string()),
                    r = this.attach_once(id, &node) => r,
                };
                let again = {
                    let mut attached = lock(&this.inner.attached);
                    let again = attached.get(&id).copied().unwrap_or(false)
                        && !this.inner.shutdown.is_cancelled();
                    if again {
                        attached.insert(id, false);
                    } else {
                        attached.remove(&id);
                    }
                    again
                };
                match result {
                    Ok(()) => tracing::debug!(session = %id, "CLI ended; detached"),
                    Err(e) => tracing::info!(session = %id, node, "session detached: {e}"),
                }
                if !again {
                    return;
                }
            }
        }.instrument(span));
    }
}

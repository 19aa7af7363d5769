//! One session's event log: assigns sequence numbers, bounds each event to fit a tunnel frame, persists it
//! before anyone sees it, fans it out to attached streams, and keeps the session record (status, provider
//! id, pending approvals) in step.

use std::collections::BTreeSet;
use std::sync::Mutex;

use tokio::sync::{broadcast, watch};
use uuid::Uuid;
use vibebridge_tunnel::session::{EventBody, Resolution, SessionEvent, SessionStatus};

use super::store::{AgentStore, SessionMeta};

struct State {
    meta: SessionMeta,
    /// Approvals requested and not yet resolved.
    pending: BTreeSet<String>,
}

/// The log of one session. Shared by its driver and every attach stream.
pub struct SessionLog {
    id: Uuid,
    store: AgentStore,
    state: Mutex<State>,
    live: broadcast::Sender<SessionEvent>,
    alive: watch::Sender<bool>,
    /// `tunnel.max_frame_bytes`: every event is cut to fit one frame (see [`super::bound`]).
    max_frame: usize,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl SessionLog {
    /// A log for `meta`, whose pending approvals are found by replaying its stored events. Events are
    /// bounded to fit a `max_frame`-byte tunnel frame.
    pub fn load(
        store: AgentStore,
        meta: SessionMeta,
        max_frame: usize,
    ) -> anyhow::Result<SessionLog> {
        let mut pending = BTreeSet::new();
        let mut after = 0;
        loop {
            let page = store.events_after(&meta.id, after, 1024)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for ev in &page {
                track_pending(&mut pending, &ev.body);
            }
        }
        Ok(SessionLog {
            id: meta.id,
            store,
            state: Mutex::new(State { meta, pending }),
            live: broadcast::channel(4096).0,
            alive: watch::channel(false).0,
            max_frame,
        })
    }

    /// A Claude session's log in a throwaway store (tests).
    #[cfg(test)]
    pub fn scratch() -> SessionLog {
        let meta = SessionMeta {
            id: Uuid::now_v7(),
            provider: vibebridge_tunnel::session::Provider::Claude,
            path: "/".into(),
            model: None,
            permission_mode: None,
            provider_session_id: None,
            status: SessionStatus::Starting,
            last_seq: 0,
            executions: 0,
        };
        SessionLog::load(
            AgentStore::temporary(),
            meta,
            vibebridge_tunnel::frame::DEFAULT_MAX_FRAME,
        )
        .expect("an empty store loads")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// A copy of the session record.
    pub fn meta(&self) -> SessionMeta {
        self.lock().meta.clone()
    }

    /// Allocates the next execution number (names the raw JSONL file of a CLI process).
    pub fn next_execution(&self) -> u32 {
        self.update_meta(|m| m.executions += 1)
            .map(|m| m.executions)
            .unwrap_or(0)
    }

    /// Changes the record (not its event-derived fields) and persists it.
    pub fn update_meta(&self, f: impl FnOnce(&mut SessionMeta)) -> anyhow::Result<SessionMeta> {
        let mut st = self.lock();
        f(&mut st.meta);
        self.store.put_meta(&st.meta)?;
        Ok(st.meta.clone())
    }

    /// Appends an event: cut to fit a frame, next seq, stored, then published. A store failure is logged and
    /// the event is still published, so a full disk degrades durability rather than stopping a running agent.
    pub fn append(&self, mut body: EventBody) -> SessionEvent {
        let cut = super::bound::bound(&mut body, self.max_frame);
        if cut > 0 {
            tracing::debug!(session = %self.id, "cut {cut} bytes from an event to fit a tunnel frame");
        }
        let mut st = self.lock();
        let event = SessionEvent {
            seq: st.meta.last_seq + 1,
            at_ms: now_ms(),
            body,
        };
        st.meta.last_seq = event.seq;
        match &event.body {
            EventBody::Status { status, .. } => st.meta.status = *status,
            EventBody::ProviderSession {
                provider_session_id,
                ..
            } => st.meta.provider_session_id = Some(provider_session_id.clone()),
            _ => {}
        }
        track_pending(&mut st.pending, &event.body);
        if let Err(e) = self
            .store
            .put_event(&self.id, &event)
            .and_then(|()| self.store.put_meta(&st.meta))
        {
            tracing::error!(session = %self.id, "storing event {}: {e:#}", event.seq);
        }
        let _ = self.live.send(event.clone());
        event
    }

    /// Appends a status change unless the session is already in that status.
    pub fn status(&self, status: SessionStatus, message: Option<String>) {
        if self.lock().meta.status != status || message.is_some() {
            self.append(EventBody::Status { status, message });
        }
    }

    /// Resolves every pending approval as cancelled (the CLI that asked is gone).
    pub fn cancel_pending(&self, why: &str) {
        let pending: Vec<String> = self.lock().pending.iter().cloned().collect();
        for approval_id in pending {
            self.append(EventBody::ApprovalResolved {
                approval_id,
                resolution: Resolution::Cancelled,
                message: Some(why.to_string()),
            });
        }
    }

    /// Number of unresolved approvals.
    pub fn pending_count(&self) -> usize {
        self.lock().pending.len()
    }

    /// Live events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.live.subscribe()
    }

    /// Stored events after `after`.
    pub fn events_after(&self, after: u64, limit: usize) -> anyhow::Result<Vec<SessionEvent>> {
        self.store.events_after(&self.id, after, limit)
    }

    /// Whether a driver (a CLI process or its turn loop) is running for the session.
    pub fn alive(&self) -> watch::Receiver<bool> {
        self.alive.subscribe()
    }

    /// Marks the driver started or ended.
    pub fn set_alive(&self, alive: bool) {
        self.alive.send_replace(alive);
    }
}

fn track_pending(pending: &mut BTreeSet<String>, body: &EventBody) {
    match body {
        EventBody::ApprovalRequested { approval_id, .. }
        | EventBody::Question { approval_id, .. } => {
            pending.insert(approval_id.clone());
        }
        EventBody::ApprovalResolved { approval_id, .. } => {
            pending.remove(approval_id);
        }
        _ => {}
    }
}

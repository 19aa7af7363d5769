//! The node's session store (sled): session records and their append-only event logs.
//!
//! Trees: `sessions` (session id → [`SessionMeta`] JSON), `events` (16-byte session UUID ‖ big-endian seq →
//! [`SessionEvent`] JSON). Keys sort by session then seq, so a range scan is a session's history in order.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vibebridge_tunnel::session::{Provider, SessionEvent, SessionStatus};

/// What the node remembers about a session besides its events.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionMeta {
    /// Main's id for it.
    pub id: Uuid,
    /// Which CLI.
    pub provider: Provider,
    /// Canonical working directory.
    pub path: String,
    /// Requested model.
    pub model: Option<String>,
    /// Requested permission mode / approval policy.
    pub permission_mode: Option<String>,
    /// The CLI's own conversation id, once it said; used to resume.
    pub provider_session_id: Option<String>,
    /// Last status event.
    pub status: SessionStatus,
    /// Seq of the last event (0: none yet).
    pub last_seq: u64,
    /// Execution processes started so far (names the raw JSONL files).
    pub executions: u32,
}

/// Handle to the store. Cheap to clone.
#[derive(Clone)]
pub struct AgentStore {
    db: sled::Db,
    sessions: sled::Tree,
    events: sled::Tree,
}

fn event_key(id: &Uuid, seq: u64) -> [u8; 24] {
    vibebridge_tunnel::session::event_key(id.as_bytes(), seq)
}

impl AgentStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> anyhow::Result<AgentStore> {
        let db = sled::Config::new().path(path).open().with_context(|| {
            format!(
                "opening the session store {} (is another agent using this database.path?)",
                path.display()
            )
        })?;
        Ok(AgentStore {
            sessions: db.open_tree("sessions")?,
            events: db.open_tree("events")?,
            db,
        })
    }

    /// A throwaway in-memory store (tests).
    #[cfg(test)]
    pub fn temporary() -> AgentStore {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .expect("a temporary sled store opens");
        AgentStore {
            sessions: db.open_tree("sessions").expect("tree opens"),
            events: db.open_tree("events").expect("tree opens"),
            db,
        }
    }

    /// One session's record.
    pub fn meta(&self, id: &Uuid) -> anyhow::Result<Option<SessionMeta>> {
        match self.sessions.get(id.as_bytes())? {
            Some(v) => Ok(Some(
                serde_json::from_slice(&v).context("corrupt session record")?,
            )),
            None => Ok(None),
        }
    }

    /// Every session record.
    pub fn all_meta(&self) -> anyhow::Result<Vec<SessionMeta>> {
        let mut out = Vec::new();
        for item in self.sessions.iter() {
            let (_, v) = item?;
            match serde_json::from_slice(&v) {
                Ok(m) => out.push(m),
                Err(e) => tracing::error!("skipping a corrupt session record: {e}"),
            }
        }
        Ok(out)
    }

    /// Writes a session record.
    pub fn put_meta(&self, meta: &SessionMeta) -> anyhow::Result<()> {
        self.sessions
            .insert(meta.id.as_bytes(), serde_json::to_vec(meta)?)?;
        Ok(())
    }

    /// Appends one event (the caller owns seq assignment).
    pub fn put_event(&self, id: &Uuid, event: &SessionEvent) -> anyhow::Result<()> {
        self.events
            .insert(event_key(id, event.seq), serde_json::to_vec(event)?)?;
        Ok(())
    }

    /// Events with seq > `after`, oldest first, at most `limit`.
    pub fn events_after(
        &self,
        id: &Uuid,
        after: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<SessionEvent>> {
        let start = event_key(id, after.saturating_add(1));
        let end = event_key(id, u64::MAX);
        let mut out = Vec::new();
        for item in self.events.range(start..=end).take(limit) {
            let (_, v) = item?;
            out.push(serde_json::from_slice(&v).context("corrupt session event")?);
        }
        Ok(out)
    }

    /// Flushes to disk (shutdown).
    pub fn flush(&self) {
        if let Err(e) = self.db.flush() {
            tracing::error!("flushing the session store: {e}");
        }
    }
}

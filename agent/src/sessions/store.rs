//! The node's session store (sled): session records and their append-only event logs.
//!
//! Trees: `sessions` (session id → [`SessionMeta`] JSON), `events` (16-byte session UUID ‖ big-endian seq →
//! [`SessionEvent`] JSON). Keys sort by session then seq, so a range scan is a session's history in order.
//!
//! Writes land in sled's memory first. Every write takes a ticket; [`AgentStore::sync`] waits until the
//! store was flushed (fsync) past a ticket. Flushes are group commits: one caller flushes at a time, and
//! every write made before that flush started rides on it, so many waiters cost one fsync.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
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
    commit: Arc<GroupCommit>,
}

/// Tickets of writes and of what is known to be on disk.
struct GroupCommit {
    /// Ticket of the last finished write.
    written: AtomicU64,
    /// Highest ticket a finished flush covered.
    durable: watch::Sender<u64>,
    /// Whether a flush is under way (its caller is the leader; others wait for it).
    flushing: AtomicBool,
}

impl GroupCommit {
    fn new() -> Arc<GroupCommit> {
        Arc::new(GroupCommit {
            written: AtomicU64::new(0),
            durable: watch::channel(0).0,
            flushing: AtomicBool::new(false),
        })
    }
}

/// Ends a flush leadership, also when the leader's future is dropped mid-flush: the flag is cleared before
/// waiters are woken, so a woken waiter that still needs a flush can lead the next one.
struct Leading<'a>(&'a GroupCommit);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        self.0.flushing.store(false, Ordering::SeqCst);
        self.0.durable.send_modify(|_| {});
    }
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
            commit: GroupCommit::new(),
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
            commit: GroupCommit::new(),
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

    /// Writes a session record; returns its ticket for [`AgentStore::sync`].
    pub fn put_meta(&self, meta: &SessionMeta) -> anyhow::Result<u64> {
        self.sessions
            .insert(meta.id.as_bytes(), serde_json::to_vec(meta)?)?;
        Ok(self.wrote())
    }

    /// Appends one event (the caller owns seq assignment); returns its ticket for [`AgentStore::sync`].
    pub fn put_event(&self, id: &Uuid, event: &SessionEvent) -> anyhow::Result<u64> {
        self.events
            .insert(event_key(id, event.seq), serde_json::to_vec(event)?)?;
        Ok(self.wrote())
    }

    /// Removes a session's events with seqs in `range` (renumbering after the store fell behind main).
    pub fn remove_events(
        &self,
        id: &Uuid,
        range: std::ops::RangeInclusive<u64>,
    ) -> anyhow::Result<u64> {
        let (start, end) = (event_key(id, *range.start()), event_key(id, *range.end()));
        for item in self.events.range(start..=end) {
            let (k, _) = item?;
            self.events.remove(k)?;
        }
        Ok(self.wrote())
    }

    /// The highest ticket known to be on disk (tests).
    #[cfg(test)]
    pub fn commit_durable(&self) -> watch::Ref<'_, u64> {
        self.commit.durable.borrow()
    }

    /// Takes the ticket of a write that has just finished.
    fn wrote(&self) -> u64 {
        self.commit.written.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The ticket of the last finished write.
    pub fn last_ticket(&self) -> u64 {
        self.commit.written.load(Ordering::SeqCst)
    }

    /// Waits until every write up to `ticket` is on disk. One caller at a time flushes; the others wait for
    /// it and are done if it covered their ticket (group commit).
    pub async fn sync(&self, ticket: u64) -> anyhow::Result<()> {
        let commit = &self.commit;
        let mut durable = commit.durable.subscribe();
        loop {
            if *durable.borrow_and_update() >= ticket {
                return Ok(());
            }
            if commit
                .flushing
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                let leading = Leading(commit);
                // Every write whose ticket is at most this one finished before the flush starts.
                let covered = commit.written.load(Ordering::SeqCst);
                let db = self.db.clone();
                let flushed = tokio::task::spawn_blocking(move || db.flush())
                    .await
                    .context("the store flush task failed")?;
                if flushed.is_ok() {
                    commit.durable.send_if_modified(|d| {
                        let newer = covered > *d;
                        *d = (*d).max(covered);
                        newer
                    });
                }
                drop(leading);
                flushed.context("flushing the session store to disk")?;
                continue;
            }
            // Another caller is flushing; its end (or failure) wakes us.
            if durable.changed().await.is_err() {
                anyhow::bail!("the session store closed");
            }
        }
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

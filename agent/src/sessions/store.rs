//! The node's session store (sled): session records and their append-only event logs.
//!
//! Trees: `sessions` (session id → [`SessionMeta`] JSON), `events` (16-byte session UUID ‖ big-endian seq →
//! [`SessionEvent`] JSON). Keys sort by session then seq, so a range scan is a session's history in order.
//!
//! Writes land in sled's memory first. Every write takes a ticket; [`AgentStore::sync`] waits until the
//! store was flushed (fsync) past a ticket. Flushes are group commits: one caller flushes at a time, and
//! every write made before that flush started rides on it, so many waiters cost one fsync.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

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
    inner: Arc<Inner>,
}

struct Inner {
    /// Where the store lives (`None`: a temporary store, which is never reopened).
    path: Option<PathBuf>,
    /// The open database; `None` while a reopen after a write failure has not succeeded.
    trees: RwLock<Option<Trees>>,
    commit: GroupCommit,
    /// Writes not yet known to be on disk, oldest first. Writers hold this lock while they write, so the
    /// journal's order is the store's order.
    journal: Mutex<Journal>,
}

#[derive(Clone)]
struct Trees {
    db: sled::Db,
    sessions: sled::Tree,
    events: sled::Tree,
}

/// Writes since the last flush that reached the disk. sled fails every operation after one failed write (a
/// full disk, say) until it is opened again, and what it held only in memory is gone then; so each write is
/// also kept here until a flush covers it, and replayed into the reopened store. Nothing an agent produced
/// while the disk was full is lost, and nothing reaches main before it is on disk.
#[derive(Default)]
struct Journal {
    writes: VecDeque<(u64, Write)>,
    bytes: usize,
    /// Whether a write or flush failed since the store was last opened (the next sync reopens it).
    broken: bool,
}

enum Write {
    Put(Tree, Vec<u8>, Vec<u8>),
    Remove(Tree, Vec<u8>),
}

#[derive(Clone, Copy)]
enum Tree {
    Sessions,
    Events,
}

/// Most bytes of writes kept in memory while the disk refuses them; past it, writes fail (and main reports
/// the hole they leave) rather than the agent growing without bound.
const MAX_JOURNAL_BYTES: usize = 64 * 1024 * 1024;

impl Trees {
    fn open(db: sled::Db) -> anyhow::Result<Trees> {
        Ok(Trees {
            sessions: db.open_tree("sessions")?,
            events: db.open_tree("events")?,
            db,
        })
    }

    fn tree(&self, t: Tree) -> &sled::Tree {
        match t {
            Tree::Sessions => &self.sessions,
            Tree::Events => &self.events,
        }
    }

    fn apply(&self, w: &Write) -> sled::Result<()> {
        match w {
            Write::Put(t, k, v) => self.tree(*t).insert(k.as_slice(), v.as_slice()).map(drop),
            Write::Remove(t, k) => self.tree(*t).remove(k.as_slice()).map(drop),
        }
    }
}

impl Write {
    fn bytes(&self) -> usize {
        match self {
            Write::Put(_, k, v) => k.len() + v.len(),
            Write::Remove(_, k) => k.len(),
        }
    }
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
    fn new() -> GroupCommit {
        GroupCommit {
            written: AtomicU64::new(0),
            durable: watch::channel(0).0,
            flushing: AtomicBool::new(false),
        }
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_db(path: &Path) -> anyhow::Result<sled::Db> {
    sled::Config::new().path(path).open().with_context(|| {
        format!(
            "opening the session store {} (is another agent using this database.path?)",
            path.display()
        )
    })
}

impl AgentStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> anyhow::Result<AgentStore> {
        let trees = Trees::open(open_db(path)?)?;
        Ok(AgentStore::with(Some(path.to_path_buf()), trees))
    }

    fn with(path: Option<PathBuf>, trees: Trees) -> AgentStore {
        AgentStore {
            inner: Arc::new(Inner {
                path,
                trees: RwLock::new(Some(trees)),
                commit: GroupCommit::new(),
                journal: Mutex::default(),
            }),
        }
    }

    /// A throwaway in-memory store (tests).
    #[cfg(test)]
    pub fn temporary() -> AgentStore {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .expect("a temporary sled store opens");
        AgentStore::with(None, Trees::open(db).expect("trees open"))
    }

    /// Runs `f` on the open trees, or says why there are none. The read lock is held throughout: a reopen
    /// must be the only user of the old database's files, so no handle to it may outlive the lock.
    fn with_trees<T>(&self, f: impl FnOnce(&Trees) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let trees = self.inner.trees.read().unwrap_or_else(|e| e.into_inner());
        let trees = trees.as_ref().context(
            "the session store is closed after a write failed (is the disk full?); it reopens once a \
             write succeeds",
        )?;
        f(trees)
    }

    /// One session's record.
    pub fn meta(&self, id: &Uuid) -> anyhow::Result<Option<SessionMeta>> {
        self.with_trees(|t| match t.sessions.get(id.as_bytes())? {
            Some(v) => Ok(Some(
                serde_json::from_slice(&v).context("corrupt session record")?,
            )),
            None => Ok(None),
        })
    }

    /// Every session record.
    pub fn all_meta(&self) -> anyhow::Result<Vec<SessionMeta>> {
        self.with_trees(|t| {
            let mut out = Vec::new();
            for item in t.sessions.iter() {
                let (_, v) = item?;
                match serde_json::from_slice(&v) {
                    Ok(m) => out.push(m),
                    Err(e) => tracing::error!("skipping a corrupt session record: {e}"),
                }
            }
            Ok(out)
        })
    }

    /// Writes a session record; returns its ticket for [`AgentStore::sync`].
    pub fn put_meta(&self, meta: &SessionMeta) -> anyhow::Result<u64> {
        let value = serde_json::to_vec(meta)?;
        self.write(vec![Write::Put(
            Tree::Sessions,
            meta.id.as_bytes().to_vec(),
            value,
        )])
    }

    /// Appends one event (the caller owns seq assignment); returns its ticket for [`AgentStore::sync`].
    pub fn put_event(&self, id: &Uuid, event: &SessionEvent) -> anyhow::Result<u64> {
        let value = serde_json::to_vec(event)?;
        self.write(vec![Write::Put(
            Tree::Events,
            event_key(id, event.seq).to_vec(),
            value,
        )])
    }

    /// Removes a session's events with seqs in `range` (renumbering after the store fell behind main).
    pub fn remove_events(
        &self,
        id: &Uuid,
        range: std::ops::RangeInclusive<u64>,
    ) -> anyhow::Result<u64> {
        let (start, end) = (event_key(id, *range.start()), event_key(id, *range.end()));
        let writes = self.with_trees(|t| {
            let mut writes = Vec::new();
            for item in t.events.range(start..=end) {
                let (k, _) = item?;
                writes.push(Write::Remove(Tree::Events, k.to_vec()));
            }
            Ok(writes)
        })?;
        self.write(writes)
    }

    /// Applies `writes` and journals them until a flush covers them; returns the ticket of the last. A write
    /// sled refuses (a full disk) stays in the journal and is replayed when the store reopens: it is
    /// accepted, only not yet durable, and [`AgentStore::sync`] says when it is.
    fn write(&self, writes: Vec<Write>) -> anyhow::Result<u64> {
        let mut journal = lock(&self.inner.journal);
        let size: usize = writes.iter().map(Write::bytes).sum();
        if journal.bytes + size > MAX_JOURNAL_BYTES {
            anyhow::bail!(
                "the session store has held {} MiB of writes in memory since its disk last accepted one; \
                 refusing more until the disk has room",
                journal.bytes >> 20
            );
        }
        let trees = self.inner.trees.read().unwrap_or_else(|e| e.into_inner());
        let mut ticket = self.inner.commit.written.load(Ordering::SeqCst);
        for w in writes {
            if !journal.broken
                && let Some(t) = trees.as_ref()
                && let Err(e) = t.apply(&w)
            {
                tracing::error!(
                    "the session store refused a write, keeping it in memory until it can: {e}"
                );
                journal.broken = true;
            }
            ticket = self.inner.commit.written.fetch_add(1, Ordering::SeqCst) + 1;
            journal.bytes += w.bytes();
            journal.writes.push_back((ticket, w));
        }
        Ok(ticket)
    }

    /// The highest ticket known to be on disk (tests).
    #[cfg(test)]
    pub fn commit_durable(&self) -> watch::Ref<'_, u64> {
        self.inner.commit.durable.borrow()
    }

    /// The ticket of the last finished write.
    pub fn last_ticket(&self) -> u64 {
        self.inner.commit.written.load(Ordering::SeqCst)
    }

    /// Waits until every write up to `ticket` is on disk. One caller at a time flushes; the others wait for
    /// it and are done if it covered their ticket (group commit).
    pub async fn sync(&self, ticket: u64) -> anyhow::Result<()> {
        let commit = &self.inner.commit;
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
                let this = self.clone();
                let flushed = tokio::task::spawn_blocking(move || this.flush_journal())
                    .await
                    .context("the store flush task failed")?;
                if let Ok(covered) = flushed {
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

    /// Syncs every second while writes wait, until `shutdown`: the journal is emptied (and a store that
    /// failed is reopened) also while no attach stream is waiting on the disk, e.g. while main is away.
    pub async fn keep_synced(self, shutdown: tokio_util::sync::CancellationToken) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let ticket = self.last_ticket();
            if *self.inner.commit.durable.borrow() < ticket
                && let Err(e) = self.sync(ticket).await
            {
                tracing::debug!("background sync of the session store: {e:#}");
            }
        }
    }

    /// Flushes every journaled write to disk (reopening the store and replaying the journal first if a
    /// write failed), drops what the flush covered from the journal, and returns the ticket it covered.
    fn flush_journal(&self) -> anyhow::Result<u64> {
        let broken = lock(&self.inner.journal).broken;
        if !broken {
            // Every write whose ticket is at most this one finished before the flush starts.
            let covered = self.last_ticket();
            let flushed = self.with_trees(|t| Ok(t.db.flush()))?;
            let mut journal = lock(&self.inner.journal);
            match flushed {
                // A write failed while this flush ran: what it covered is unclear, so reopen.
                Ok(_) if journal.broken => {}
                Ok(_) => {
                    while journal.writes.front().is_some_and(|(t, _)| *t <= covered) {
                        if let Some((_, w)) = journal.writes.pop_front() {
                            journal.bytes -= w.bytes();
                        }
                    }
                    return Ok(covered);
                }
                Err(e) => {
                    tracing::error!(
                        "flushing the session store failed; it reopens at the next sync: {e}"
                    );
                    journal.broken = true;
                    return Err(e.into());
                }
            }
        }
        self.reopen()
    }

    /// Closes the store, opens it again (sled clears a failed write only so) and replays the journal into
    /// it: writes that reached the disk before the failure are written again with the same bytes. Holds the
    /// journal throughout, so no write interleaves.
    fn reopen(&self) -> anyhow::Result<u64> {
        let mut journal = lock(&self.inner.journal);
        let Some(path) = &self.inner.path else {
            anyhow::bail!("a temporary session store cannot be reopened");
        };
        let mut slot = self.inner.trees.write().unwrap_or_else(|e| e.into_inner());
        // The old database must be closed before its files can be opened again.
        drop(slot.take());
        let trees = Trees::open(open_db(path)?)?;
        for (_, w) in &journal.writes {
            trees.apply(w)?;
        }
        let covered = self.last_ticket();
        trees
            .db
            .flush()
            .context("flushing the reopened session store")?;
        *slot = Some(trees);
        journal.broken = false;
        journal.writes.clear();
        journal.bytes = 0;
        tracing::info!("the session store reopened and every write kept in memory is on disk");
        Ok(covered)
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
        self.with_trees(|t| {
            let mut out = Vec::new();
            for item in t.events.range(start..=end).take(limit) {
                let (_, v) = item?;
                out.push(serde_json::from_slice(&v).context("corrupt session event")?);
            }
            Ok(out)
        })
    }

    /// The seq of a session's last stored event (0: none). The events, not the record, are the truth: the
    /// record is written after its event, so a crash between the two leaves it one behind.
    pub fn last_event_seq(&self, id: &Uuid) -> anyhow::Result<u64> {
        let (start, end) = (event_key(id, 0), event_key(id, u64::MAX));
        self.with_trees(|t| match t.events.range(start..=end).next_back() {
            Some(item) => {
                let (k, _) = item?;
                vibebridge_tunnel::session::event_key_seq(&k).context("corrupt event key")
            }
            None => Ok(0),
        })
    }

    /// Flushes to disk (shutdown).
    pub fn flush(&self) {
        if let Err(e) = self.flush_journal() {
            tracing::error!("flushing the session store: {e:#}");
        }
    }
}

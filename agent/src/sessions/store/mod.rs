//! The node's session store: one append-only log file per session, `<database.path>/store/<session id>.log`.
//!
//! A log is a run of records, each `[payload length: u32 LE][CRC-32 of the payload: u32 LE][payload]`, the
//! payload a JSON `Record`: the session's record (`meta`, written when the session is created and when a
//! field that does not follow from its events changes), its events (`event`), and `remove` (events dropped
//! when the node renumbers after falling behind main). Replaying a log in order gives the session's record
//! and its events; status, provider id and last seq follow from the events ([`SessionMeta::observe`]), so an
//! event costs one record. Each log's event index (seq → offset) is kept in memory; event bodies are read
//! from the file.
//!
//! **Durability.** A write goes to the file at once (the page cache) and is also kept in memory until an
//! fsync covers it. Every write takes a ticket; [`AgentStore::sync`] waits until the store was flushed past a
//! ticket. Flushes are group commits: one caller flushes at a time, and every write made before it started
//! rides on it, so many waiters cost one fsync per log.
//!
//! **A full disk.** A write or fsync the disk refuses (ENOSPC) cuts the file back to what the last fsync
//! covered and keeps the records in memory, up to [`MAX_UNSYNCED_BYTES`]; every sync (and a background sync
//! each second) writes them again, so they reach the disk once it has room. Nothing an agent produced while
//! the disk was full is lost, and nothing is reported durable (so nothing reaches main) before it is on disk.
//!
//! **A crash.** Bytes after the last complete, checksummed record (a torn write) are cut when the log is
//! opened; they were never reported durable. Should the cut be larger than a torn record (a damaged file),
//! the cut bytes are first saved beside the log as `<id>.log.cut-<offset>` for a person to look at.
//!
//! Stores written by earlier agents (sled, `<database.path>/sessions.db`) are copied into this layout when
//! the agent first opens them (`migrate_sled`); the old database is then renamed `sessions.db.migrated`.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;
use vibebridge_tunnel::session::{EventBody, Provider, SessionEvent, SessionStatus};

mod log_file;
mod migrate;
mod run_state;

pub use run_state::RunState;
#[cfg(test)]
mod tests;

use log_file::{
    Log, Pending, Record, Span, create_private_dir, frame, open_log_file, sync_dir, unframe,
};
use migrate::migrate_sled;

/// What the node remembers about a session besides its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Follow-ups accepted behind a running turn and not yet started, oldest first.
    #[serde(default)]
    pub queued: Vec<String>,
    /// The task run this session is, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Box<RunState>>,
}

impl SessionMeta {
    /// A new Claude session's record in `/` (tests).
    #[cfg(test)]
    pub fn new_claude(id: Uuid) -> SessionMeta {
        SessionMeta {
            id,
            provider: Provider::Claude,
            path: "/".into(),
            model: None,
            permission_mode: None,
            provider_session_id: None,
            status: SessionStatus::Starting,
            last_seq: 0,
            executions: 0,
            queued: Vec::new(),
            run: None,
        }
    }

    /// Takes in what `event` says about the session: its seq, and a status or provider id it carries.
    pub fn observe(&mut self, event: &SessionEvent) {
        self.last_seq = event.seq;
        match &event.body {
            EventBody::Status { status, .. } => self.status = *status,
            EventBody::ProviderSession {
                provider_session_id,
                ..
            } => self.provider_session_id = Some(provider_session_id.clone()),
            _ => {}
        }
    }
}

/// Most bytes of records kept in memory while the disk refuses them; past it, writes fail (and main reports
/// the hole they leave) rather than the agent growing without bound.
pub const MAX_UNSYNCED_BYTES: usize = 64 * 1024 * 1024;

/// Name of the store's directory under `database.path`.
const STORE_DIR: &str = "store";

/// Name of the sled database earlier agents kept under `database.path`.
const LEGACY_SLED: &str = "sessions.db";

/// Handle to the store. Cheap to clone.
#[derive(Clone)]
pub struct AgentStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// The directory of log files.
    dir: PathBuf,
    /// A throwaway store (tests): its directory is removed with it.
    temporary: bool,
    logs: Mutex<Logs>,
    commit: GroupCommit,
    /// Held by whoever flushes, so a shutdown flush and a sync's never interleave.
    flushing: Mutex<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Every session's log. Writers hold this lock while they write, so tickets follow the order of writes.
#[derive(Default)]
struct Logs {
    by_id: HashMap<Uuid, Log>,
    /// The logs holding records no fsync has covered yet (a non-empty tail): what a flush visits, so its
    /// cost follows the sessions writing, not every session the node ever had.
    pending: HashSet<Uuid>,
    /// Bytes of records that no fsync has covered yet, over every log.
    unsynced: usize,
    /// Whether a log file was created since the directory was last fsynced.
    new_files: bool,
}

/// Tickets of writes and of what is known to be on disk.
struct GroupCommit {
    /// Ticket of the last write.
    written: AtomicU64,
    /// Highest ticket such that every write up to it is on disk.
    durable: watch::Sender<u64>,
    /// Whether a flush is under way (its caller is the leader; others wait for it).
    leading: AtomicBool,
}

/// Ends a flush leadership, also when the leader's future is dropped mid-flush: the flag is cleared before
/// waiters are woken, so a woken waiter that still needs a flush can lead the next one.
struct Leading<'a>(&'a GroupCommit);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        self.0.leading.store(false, Ordering::SeqCst);
        self.0.durable.send_modify(|_| {});
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AgentStore {
    /// Opens (or creates) the store of the node whose state is in `database_path`, first copying in a store
    /// an earlier agent kept in sled there.
    pub fn open(database_path: &Path) -> anyhow::Result<AgentStore> {
        let dir = database_path.join(STORE_DIR);
        let legacy = database_path.join(LEGACY_SLED);
        if legacy.exists() {
            if !dir.exists() {
                migrate_sled(&legacy, &dir)?;
            }
            let done = database_path.join(format!("{LEGACY_SLED}.migrated"));
            std::fs::rename(&legacy, &done)
                .with_context(|| format!("renaming {} after migrating it", legacy.display()))?;
            tracing::info!(
                "the session store moved from sled to {}; {} is the old copy and may be deleted",
                dir.display(),
                done.display()
            );
        }
        AgentStore::open_dir(dir, false)
    }

    fn open_dir(dir: PathBuf, temporary: bool) -> anyhow::Result<AgentStore> {
        create_private_dir(&dir)?;
        let mut logs = Logs::default();
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| Uuid::parse_str(n).ok())
            else {
                continue;
            };
            let log = Log::open(&path)?;
            if log.meta.is_none() {
                tracing::error!(
                    "{}: no session record in it; leaving it out (it is kept as it is)",
                    path.display()
                );
                continue;
            }
            logs.by_id.insert(id, log);
        }
        Ok(AgentStore {
            inner: Arc::new(Inner {
                dir,
                temporary,
                logs: Mutex::new(logs),
                commit: GroupCommit {
                    written: AtomicU64::new(0),
                    durable: watch::channel(0).0,
                    leading: AtomicBool::new(false),
                },
                flushing: Mutex::new(()),
            }),
        })
    }

    /// A throwaway store in a fresh temporary directory, removed when the last handle goes (tests).
    #[cfg(test)]
    pub fn temporary() -> AgentStore {
        let dir = std::env::temp_dir().join(format!("vb-agent-store-{}", Uuid::now_v7()));
        AgentStore::open_dir(dir, true).expect("a temporary store opens")
    }

    fn log_path(&self, id: &Uuid) -> PathBuf {
        self.inner.dir.join(format!("{id}.log"))
    }

    /// One session's record.
    pub fn meta(&self, id: &Uuid) -> anyhow::Result<Option<SessionMeta>> {
        Ok(lock(&self.inner.logs)
            .by_id
            .get(id)
            .and_then(|l| l.meta.clone()))
    }

    /// Every session record.
    pub fn all_meta(&self) -> anyhow::Result<Vec<SessionMeta>> {
        Ok(lock(&self.inner.logs)
            .by_id
            .values()
            .filter_map(|l| l.meta.clone())
            .collect())
    }

    /// Writes a session record (creating the session's log); returns its ticket for [`AgentStore::sync`].
    pub fn put_meta(&self, meta: &SessionMeta) -> anyhow::Result<u64> {
        self.write(&meta.id, Record::Meta(meta.clone()))
    }

    /// Appends one event (the caller owns seq assignment); returns its ticket for [`AgentStore::sync`].
    pub fn put_event(&self, id: &Uuid, event: &SessionEvent) -> anyhow::Result<u64> {
        self.write(id, Record::Event(event.clone()))
    }

    /// Removes a session's events with seqs in `range` (renumbering after the store fell behind main).
    pub fn remove_events(
        &self,
        id: &Uuid,
        range: std::ops::RangeInclusive<u64>,
    ) -> anyhow::Result<u64> {
        let (from, to) = range.into_inner();
        self.write(id, Record::Remove { from, to })
    }

    /// Appends `record` to the session's log (a record of a session without one creates it) and keeps it
    /// in memory until an fsync covers it; returns its ticket. A write the disk refuses is accepted all the
    /// same, only not yet durable: [`AgentStore::sync`] says when it is.
    fn write(&self, id: &Uuid, record: Record) -> anyhow::Result<u64> {
        let bytes = frame(&record)?;
        let mut logs = lock(&self.inner.logs);
        if logs.unsynced + bytes.len() > MAX_UNSYNCED_BYTES {
            anyhow::bail!(
                "the session store has held {} MiB in memory since its disk last accepted a write; refusing \
                 more until the disk has room",
                logs.unsynced >> 20
            );
        }
        if !logs.by_id.contains_key(id) {
            anyhow::ensure!(
                matches!(record, Record::Meta(_)),
                "no session {id} in the store"
            );
            let path = self.log_path(id);
            let file =
                open_log_file(&path).with_context(|| format!("creating {}", path.display()))?;
            logs.by_id.insert(*id, Log::new(file));
            logs.new_files = true;
        }
        let Some(log) = logs.by_id.get_mut(id) else {
            anyhow::bail!("no session {id} in the store");
        };
        let offset = log.end();
        if log.written
            && let Err(e) = log.file.write_all_at(&bytes, offset)
        {
            tracing::error!(
                session = %id,
                "the disk refused a session store write; keeping it in memory until it has room: {e}"
            );
            log.cut_back();
        }
        let span = Span {
            offset,
            len: bytes.len() as u64,
        };
        log.apply(&record, span);
        let ticket = self.inner.commit.written.fetch_add(1, Ordering::SeqCst) + 1;
        log.tail_len += span.len;
        log.tail.push_back(Pending {
            ticket,
            offset,
            bytes,
        });
        logs.unsynced += span.len as usize;
        logs.pending.insert(*id);
        Ok(ticket)
    }

    /// The highest ticket known to be on disk (tests).
    #[cfg(test)]
    pub fn commit_durable(&self) -> watch::Ref<'_, u64> {
        self.inner.commit.durable.borrow()
    }

    /// The ticket of the last write.
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
                .leading
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                let leading = Leading(commit);
                let this = self.clone();
                let flushed = tokio::task::spawn_blocking(move || this.flush_logs())
                    .await
                    .context("the store flush task failed")?;
                drop(leading);
                flushed.context("writing the session store to disk")?;
                continue;
            }
            // Another caller is flushing; its end (or failure) wakes us.
            if durable.changed().await.is_err() {
                anyhow::bail!("the session store closed");
            }
        }
    }

    /// Syncs every second while writes wait, until `shutdown`: records the disk refused are written again
    /// also while no attach stream is waiting on the disk, e.g. while main is away.
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

    /// Writes again what the disk refused, fsyncs every log with records in memory (the files outside the
    /// lock, so writers go on meanwhile) and publishes the highest ticket up to which everything is on disk.
    /// Fails if any log could not be made durable; what could is published all the same.
    fn flush_logs(&self) -> anyhow::Result<()> {
        let _one = lock(&self.inner.flushing);
        let mut failed: Option<anyhow::Error> = None;
        let (covered, jobs, new_files) = {
            let mut logs = lock(&self.inner.logs);
            // Every write whose ticket is at most this one finished: tickets are taken under this lock.
            let covered = self.last_ticket();
            let mut jobs = Vec::new();
            let pending: Vec<Uuid> = logs.pending.iter().copied().collect();
            for id in pending {
                let Some(log) = logs.by_id.get_mut(&id) else {
                    continue;
                };
                if !log.written
                    && let Err(e) = log.rewrite()
                {
                    log.cut_back();
                    failed.get_or_insert(anyhow::anyhow!(e).context(format!(
                        "writing session {id}'s records again (is the disk full?)"
                    )));
                    continue;
                }
                jobs.push((id, log.file.clone(), log.end()));
            }
            (covered, jobs, std::mem::take(&mut logs.new_files))
        };
        // A new log's records are on disk only once its directory entry is.
        if new_files && let Err(e) = sync_dir(&self.inner.dir) {
            lock(&self.inner.logs).new_files = true;
            return Err(anyhow::anyhow!(e).context("syncing the session store's directory"));
        }
        let synced: Vec<(Uuid, u64, std::io::Result<()>)> = jobs
            .into_iter()
            .map(|(id, file, len)| (id, len, file.sync_data()))
            .collect();
        let mut logs = lock(&self.inner.logs);
        for (id, len, result) in synced {
            let Some(log) = logs.by_id.get_mut(&id) else {
                continue;
            };
            match result {
                // A write that failed since cut the file back: what this fsync covered is gone again.
                Ok(()) if !log.written => {}
                Ok(()) => {
                    let freed = log.synced_to(len);
                    let synced = log.tail.is_empty();
                    logs.unsynced -= freed;
                    if synced {
                        logs.pending.remove(&id);
                    }
                }
                Err(e) => {
                    tracing::error!(session = %id, "fsync of a session log failed; writing it again: {e}");
                    log.cut_back();
                    failed.get_or_insert(
                        anyhow::anyhow!(e).context(format!("syncing session {id}'s log")),
                    );
                }
            }
        }
        // Everything up to `covered` is on disk but for the records still in memory.
        let oldest_unsynced = logs
            .pending
            .iter()
            .filter_map(|id| logs.by_id.get(id)?.tail.front())
            .map(|p| p.ticket)
            .min();
        let durable = oldest_unsynced.map_or(covered, |t| covered.min(t - 1));
        drop(logs);
        self.inner.commit.durable.send_if_modified(|d| {
            let newer = durable > *d;
            *d = (*d).max(durable);
            newer
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Events with seq > `after`, oldest first, at most `limit`.
    pub fn events_after(
        &self,
        id: &Uuid,
        after: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<SessionEvent>> {
        enum Where {
            File(Span),
            Memory(Vec<u8>),
        }
        let (file, places) = {
            let logs = lock(&self.inner.logs);
            let Some(log) = logs.by_id.get(id) else {
                return Ok(Vec::new());
            };
            let places: Vec<Where> = log
                .events
                .range(after.saturating_add(1)..)
                .take(limit)
                .map(|(_, span)| match log.unsynced(*span) {
                    Some(payload) => Where::Memory(payload.to_vec()),
                    None => Where::File(*span),
                })
                .collect();
            (log.file.clone(), places)
        };
        // Synced bytes are never rewritten, so they are read without the lock.
        let mut out = Vec::with_capacity(places.len());
        let mut buf = Vec::new();
        for place in places {
            let payload = match place {
                Where::Memory(payload) => {
                    buf = payload;
                    &buf[..]
                }
                Where::File(span) => {
                    buf.resize(span.len as usize, 0);
                    file.read_exact_at(&mut buf, span.offset)
                        .context("reading a session log")?;
                    unframe(&buf).with_context(|| {
                        format!(
                            "session {id}'s log is damaged at byte {} (checksum mismatch)",
                            span.offset
                        )
                    })?
                }
            };
            match serde_json::from_slice(payload).context("a corrupt session event")? {
                Record::Event(event) => out.push(event),
                _ => anyhow::bail!("session {id}'s event index points at a record of another kind"),
            }
        }
        Ok(out)
    }

    /// The seq of a session's last stored event (0: none). The events, not the record, are the truth: a
    /// record written before a crash may be behind them.
    pub fn last_event_seq(&self, id: &Uuid) -> anyhow::Result<u64> {
        Ok(lock(&self.inner.logs)
            .by_id
            .get(id)
            .and_then(|l| l.events.last_key_value())
            .map_or(0, |(seq, _)| *seq))
    }

    /// Writes everything to disk (shutdown); says so if the disk refuses.
    pub fn flush(&self) {
        if let Err(e) = self.flush_logs() {
            tracing::error!("flushing the session store: {e:#}");
        }
    }
}

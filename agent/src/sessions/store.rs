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

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;
use vibebridge_tunnel::session::{EventBody, Provider, SessionEvent, SessionStatus};

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

/// One record of a session's log.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Record {
    /// The session's record, replacing any earlier one.
    Meta(SessionMeta),
    /// One event.
    Event(SessionEvent),
    /// Events with seqs in `from..=to` are gone.
    Remove {
        /// First seq removed.
        from: u64,
        /// Last seq removed.
        to: u64,
    },
}

/// Bytes before a record's payload: its length and its CRC-32.
const HEADER: usize = 8;

/// Largest payload a record may claim; a longer length is damage, not a record. Events are cut to fit a
/// tunnel frame long before this.
const MAX_RECORD: usize = 256 * 1024 * 1024;

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

/// One session's log file and what is known about it.
struct Log {
    file: Arc<File>,
    meta: Option<SessionMeta>,
    /// Where each event's record starts, by seq.
    events: BTreeMap<u64, Span>,
    /// File length the last fsync covered: the records before it are on disk and never written again.
    synced_len: u64,
    /// Records after `synced_len`, oldest first.
    tail: VecDeque<Pending>,
    /// Sum of the tail's record lengths.
    tail_len: u64,
    /// Whether the file holds the whole tail; false after a write failed, until a flush writes it again.
    written: bool,
}

/// Where a record lies in its file.
#[derive(Clone, Copy)]
struct Span {
    offset: u64,
    len: u64,
}

/// A record no fsync has covered yet.
struct Pending {
    ticket: u64,
    offset: u64,
    bytes: Vec<u8>,
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

/// A record as it lies in a file: header, then payload.
fn frame(record: &Record) -> anyhow::Result<Vec<u8>> {
    let payload = serde_json::to_vec(record)?;
    anyhow::ensure!(
        payload.len() <= MAX_RECORD,
        "a session record of {} bytes is larger than the store takes",
        payload.len()
    );
    let mut bytes = Vec::with_capacity(HEADER + payload.len());
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    bytes.extend_from_slice(&payload);
    Ok(bytes)
}

/// The payload of the whole record at the start of `bytes`, or `None` if there is none (short, too long,
/// or its checksum does not match).
fn unframe(bytes: &[u8]) -> Option<&[u8]> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes.get(4..HEADER)?.try_into().ok()?);
    // Nothing writes an empty payload: a zero length is a hole of zeros, not a record.
    if len == 0 || len > MAX_RECORD {
        return None;
    }
    let payload = bytes.get(HEADER..HEADER + len)?;
    (crc32fast::hash(payload) == crc).then_some(payload)
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the session store directory {}", dir.display()))
}

fn open_log_file(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Log {
    /// A new, empty log in `file`.
    fn new(file: File) -> Log {
        Log {
            file: Arc::new(file),
            meta: None,
            events: BTreeMap::new(),
            synced_len: 0,
            tail: VecDeque::new(),
            tail_len: 0,
            written: true,
        }
    }

    /// Opens the log at `path`: replays it, and cuts a torn tail (saving the cut bytes aside when they are
    /// more than a torn record could be).
    fn open(path: &Path) -> anyhow::Result<Log> {
        let file = open_log_file(path).with_context(|| format!("opening {}", path.display()))?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut &file, &mut bytes)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut log = Log::new(file);
        let mut pos = 0usize;
        while let Some(payload) = unframe(&bytes[pos..]) {
            let span = Span {
                offset: pos as u64,
                len: (HEADER + payload.len()) as u64,
            };
            match serde_json::from_slice::<Record>(payload) {
                Ok(record) => log.apply(&record, span),
                // A record this agent cannot read (written by a newer one?) stays in the file.
                Err(e) => tracing::error!(
                    "{}: skipping an unreadable record at byte {pos}: {e}",
                    path.display()
                ),
            }
            pos += span.len as usize;
        }
        if pos < bytes.len() {
            let cut = &bytes[pos..];
            // A torn write leaves at most one partial record; anything more is damage worth keeping.
            let torn =
                unframe_len(cut).is_none_or(|len| len > cut.len() && len <= HEADER + MAX_RECORD);
            if !torn {
                let aside = path.with_extension(format!("log.cut-{pos}"));
                match std::fs::write(&aside, cut) {
                    Ok(()) => tracing::error!(
                        "{}: damaged after byte {pos}; the {} bytes from there are saved in {} and cut from the log",
                        path.display(),
                        cut.len(),
                        aside.display()
                    ),
                    Err(e) => tracing::error!(
                        "{}: damaged after byte {pos}; saving the {} bytes from there failed ({e}), cutting them",
                        path.display(),
                        cut.len()
                    ),
                }
            } else {
                tracing::warn!(
                    "{}: cutting a torn record of {} bytes at its end (written as the agent stopped, never reported stored)",
                    path.display(),
                    cut.len()
                );
            }
            log.file
                .set_len(pos as u64)
                .and_then(|()| log.file.sync_all())
                .with_context(|| format!("cutting the torn end of {}", path.display()))?;
        }
        log.synced_len = pos as u64;
        Ok(log)
    }

    /// Takes in a record that lies at `span`.
    fn apply(&mut self, record: &Record, span: Span) {
        match record {
            Record::Meta(meta) => self.meta = Some(meta.clone()),
            Record::Event(event) => {
                self.events.insert(event.seq, span);
                if let Some(meta) = &mut self.meta {
                    meta.observe(event);
                }
            }
            Record::Remove { from, to } => {
                let gone: Vec<u64> = self.events.range(from..=to).map(|(s, _)| *s).collect();
                for seq in gone {
                    self.events.remove(&seq);
                }
            }
        }
    }

    /// Where the next record goes.
    fn end(&self) -> u64 {
        self.synced_len + self.tail_len
    }

    /// Forgets the file's bytes after the last fsync (a write or fsync failed, so they may be anything);
    /// the records stay in the tail and are written again.
    fn cut_back(&mut self) {
        self.written = false;
        if let Err(e) = self.file.set_len(self.synced_len) {
            tracing::debug!("cutting a session log back to its synced length: {e}");
        }
    }

    /// Writes the whole tail again after a failure; on success the file holds it.
    fn rewrite(&mut self) -> std::io::Result<()> {
        self.file.set_len(self.synced_len)?;
        for p in &self.tail {
            self.file.write_all_at(&p.bytes, p.offset)?;
        }
        self.written = true;
        Ok(())
    }

    /// Notes that an fsync covered the file up to `len`: the tail's records before it are on disk. Returns
    /// the bytes that left memory.
    fn synced_to(&mut self, len: u64) -> usize {
        let mut freed = 0;
        while let Some(p) = self.tail.front() {
            if p.offset + p.bytes.len() as u64 > len {
                break;
            }
            freed += p.bytes.len();
            self.tail_len -= p.bytes.len() as u64;
            self.tail.pop_front();
        }
        self.synced_len = self.synced_len.max(len);
        freed
    }

    /// The payload of the record at `span` if it is still only in memory.
    fn unsynced(&self, span: Span) -> Option<&[u8]> {
        if span.offset < self.synced_len {
            return None;
        }
        let i = self
            .tail
            .binary_search_by_key(&span.offset, |p| p.offset)
            .ok()?;
        self.tail[i].bytes.get(HEADER..)
    }
}

/// The length a record header at the start of `bytes` claims for its whole record (`None`: the header
/// itself is cut short).
fn unframe_len(bytes: &[u8]) -> Option<usize> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    Some(HEADER + len)
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

/// Copies the sled store an earlier agent kept at `legacy` into a log directory at `dir`: each session's
/// events, then its record (so the record is exactly the old one). Written into a sibling directory and
/// renamed into place once every file is on disk, so a crash mid-way leaves the old store as the only one.
fn migrate_sled(legacy: &Path, dir: &Path) -> anyhow::Result<()> {
    let staging = dir.with_extension("migrating");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| {
            format!("removing an unfinished migration at {}", staging.display())
        })?;
    }
    create_private_dir(&staging)?;
    let db = sled::Config::new().path(legacy).open().with_context(|| {
        format!(
            "opening the old session store {} to migrate it (is another agent using this database.path?)",
            legacy.display()
        )
    })?;
    let sessions = db.open_tree("sessions")?;
    let events = db.open_tree("events")?;
    let mut migrated = 0usize;
    for item in sessions.iter() {
        let (_, value) = item?;
        let meta: SessionMeta = serde_json::from_slice(&value).with_context(|| {
            format!(
                "a session record in {} does not parse; the old store is left as it is",
                legacy.display()
            )
        })?;
        let path = staging.join(format!("{}.log", meta.id));
        let file = open_log_file(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = std::io::BufWriter::new(&file);
        let id = meta.id.as_bytes();
        let (start, end) = (
            vibebridge_tunnel::session::event_key(id, 0),
            vibebridge_tunnel::session::event_key(id, u64::MAX),
        );
        for item in events.range(start..=end) {
            let (_, value) = item?;
            let event: SessionEvent = serde_json::from_slice(&value)
                .with_context(|| format!("an event of session {} does not parse", meta.id))?;
            std::io::Write::write_all(&mut out, &frame(&Record::Event(event))?)?;
        }
        std::io::Write::write_all(&mut out, &frame(&Record::Meta(meta))?)?;
        std::io::Write::flush(&mut out)?;
        drop(out);
        file.sync_all()?;
        migrated += 1;
    }
    drop((sessions, events, db));
    sync_dir(&staging)?;
    std::fs::rename(&staging, dir)
        .with_context(|| format!("moving the migrated store into {}", dir.display()))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    tracing::info!(
        "migrated {migrated} sessions from {} to {}",
        legacy.display(),
        dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use vibebridge_tunnel::session::EventBody;

    use super::*;

    fn meta(id: Uuid) -> SessionMeta {
        SessionMeta::new_claude(id)
    }

    fn event(seq: u64, text: &str) -> SessionEvent {
        SessionEvent {
            seq,
            at_ms: seq,
            body: EventBody::AssistantMessage {
                message_id: "m".into(),
                text: text.into(),
            },
        }
    }

    /// A state directory removed at the end of the test.
    struct Dir(PathBuf);

    impl Dir {
        fn new() -> Dir {
            let dir = std::env::temp_dir().join(format!("vb-store-test-{}", Uuid::now_v7()));
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }

        fn log(&self, id: &Uuid) -> PathBuf {
            self.0.join(STORE_DIR).join(format!("{id}.log"))
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn texts(store: &AgentStore, id: &Uuid) -> Vec<String> {
        store
            .events_after(id, 0, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|e| match e.body {
                EventBody::AssistantMessage { text, .. } => format!("{}:{text}", e.seq),
                other => format!("{}:{other:?}", e.seq),
            })
            .collect()
    }

    /// A session with `n` events, synced, in a store at `dir`.
    async fn session(dir: &Dir, n: u64) -> (AgentStore, Uuid) {
        let store = AgentStore::open(&dir.0).unwrap();
        let id = Uuid::now_v7();
        store.put_meta(&meta(id)).unwrap();
        for seq in 1..=n {
            store
                .put_event(&id, &event(seq, &format!("e{seq}")))
                .unwrap();
        }
        store.sync(store.last_ticket()).await.unwrap();
        (store, id)
    }

    /// Proves a reopened store has every record, event and removal in order, and derives the record from the events.
    #[tokio::test]
    async fn reopened_store_has_what_was_written() {
        let dir = Dir::new();
        let (store, id) = session(&dir, 4).await;
        store
            .put_event(
                &id,
                &SessionEvent {
                    seq: 5,
                    at_ms: 5,
                    body: EventBody::Status {
                        status: SessionStatus::Idle,
                        message: None,
                    },
                },
            )
            .unwrap();
        store.remove_events(&id, 2..=3).unwrap();
        store.sync(store.last_ticket()).await.unwrap();
        drop(store);
        let store = AgentStore::open(&dir.0).unwrap();
        let m = store.meta(&id).unwrap().unwrap();
        assert_eq!((m.status, m.last_seq), (SessionStatus::Idle, 5));
        assert_eq!(texts(&store, &id)[..2], ["1:e1", "4:e4"]);
        assert_eq!(store.last_event_seq(&id).unwrap(), 5);
        assert_eq!(store.events_after(&id, 1, 1).unwrap()[0].seq, 4);
        assert_eq!(store.all_meta().unwrap(), vec![m]);
    }

    /// Proves a record torn by a crash mid-write is cut on open, and a write after it lands where it belongs.
    #[tokio::test]
    async fn torn_tail_is_cut_on_open() {
        let dir = Dir::new();
        let (store, id) = session(&dir, 3).await;
        drop(store);
        let path = dir.log(&id);
        let whole = std::fs::read(&path).unwrap();
        let torn = frame(&Record::Event(event(4, "torn"))).unwrap();
        let mut bytes = whole.clone();
        bytes.extend_from_slice(&torn[..torn.len() / 2]);
        std::fs::write(&path, &bytes).unwrap();
        let store = AgentStore::open(&dir.0).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), whole);
        store.put_event(&id, &event(4, "again")).unwrap();
        store.sync(store.last_ticket()).await.unwrap();
        drop(store);
        let store = AgentStore::open(&dir.0).unwrap();
        assert_eq!(texts(&store, &id), ["1:e1", "2:e2", "3:e3", "4:again"]);
        let aside = std::fs::read_dir(dir.0.join(STORE_DIR)).unwrap().count();
        assert_eq!(aside, 1, "a torn record is not saved aside");
    }

    /// Proves a record damaged before the end keeps what precedes it and saves the rest beside the log.
    #[tokio::test]
    async fn damaged_log_saves_the_cut_bytes() {
        let dir = Dir::new();
        let (store, id) = session(&dir, 3).await;
        drop(store);
        let path = dir.log(&id);
        let mut bytes = std::fs::read(&path).unwrap();
        let first = frame(&Record::Meta(meta(id))).unwrap().len()
            + frame(&Record::Event(event(1, "e1"))).unwrap().len();
        bytes[first + HEADER + 3] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let store = AgentStore::open(&dir.0).unwrap();
        assert_eq!(texts(&store, &id), ["1:e1"]);
        let aside = path.with_extension(format!("log.cut-{first}"));
        assert_eq!(std::fs::read(aside).unwrap(), bytes[first..]);
    }

    /// Proves writes the disk refuses wait in memory, are not reported durable, and land in order once it accepts.
    #[tokio::test]
    async fn refused_writes_wait_in_memory_until_the_disk_takes_them() {
        let dir = Dir::new();
        let (store, id) = session(&dir, 2).await;
        let path = dir.log(&id);
        let writable = {
            let mut logs = lock(&store.inner.logs);
            let log = logs.by_id.get_mut(&id).unwrap();
            // A handle that refuses every write and every cut, as a full disk does.
            std::mem::replace(&mut log.file, Arc::new(File::open(&path).unwrap()))
        };
        let durable = *store.commit_durable();
        let ticket = store.put_event(&id, &event(3, "e3")).unwrap();
        store.put_event(&id, &event(4, "e4")).unwrap();
        assert!(store.sync(ticket).await.is_err());
        assert_eq!(
            *store.commit_durable(),
            durable,
            "nothing refused is durable"
        );
        assert_eq!(texts(&store, &id), ["1:e1", "2:e2", "3:e3", "4:e4"]);
        lock(&store.inner.logs).by_id.get_mut(&id).unwrap().file = writable;
        store.put_event(&id, &event(5, "e5")).unwrap();
        store.sync(store.last_ticket()).await.unwrap();
        assert_eq!(lock(&store.inner.logs).unsynced, 0);
        assert!(lock(&store.inner.logs).pending.is_empty());
        drop(store);
        let store = AgentStore::open(&dir.0).unwrap();
        assert_eq!(texts(&store, &id), ["1:e1", "2:e2", "3:e3", "4:e4", "5:e5"]);
    }

    /// Proves a sled store of an earlier agent is copied in whole (records exactly as they were) and renamed.
    #[tokio::test]
    async fn sled_store_is_migrated() {
        let dir = Dir::new();
        let id = Uuid::now_v7();
        let mut old = meta(id);
        // A record that does not follow from its events (as a crash between writes left them) stays as it was.
        old.last_seq = 7;
        old.executions = 2;
        {
            let db = sled::Config::new()
                .path(dir.0.join(LEGACY_SLED))
                .open()
                .unwrap();
            let sessions = db.open_tree("sessions").unwrap();
            let events = db.open_tree("events").unwrap();
            sessions
                .insert(id.as_bytes(), serde_json::to_vec(&old).unwrap())
                .unwrap();
            for seq in 1..=3 {
                let key = vibebridge_tunnel::session::event_key(id.as_bytes(), seq);
                events
                    .insert(key, serde_json::to_vec(&event(seq, "old")).unwrap())
                    .unwrap();
            }
            db.flush().unwrap();
        }
        let store = AgentStore::open(&dir.0).unwrap();
        assert_eq!(store.meta(&id).unwrap(), Some(old.clone()));
        assert_eq!(texts(&store, &id), ["1:old", "2:old", "3:old"]);
        assert!(!dir.0.join(LEGACY_SLED).exists());
        assert!(dir.0.join("sessions.db.migrated").exists());
        drop(store);
        let store = AgentStore::open(&dir.0).unwrap();
        assert_eq!(store.meta(&id).unwrap(), Some(old));
    }
}

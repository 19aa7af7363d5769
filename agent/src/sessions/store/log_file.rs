//! One session's log file: the record format (length, CRC-32, JSON), replaying a file into a [`Log`] (and
//! cutting a torn tail), and the records written since the last fsync, kept in memory until one covers
//! them. [`super::AgentStore`] holds one [`Log`] per session and decides when to write and fsync.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use vibebridge_tunnel::session::SessionEvent;

use super::SessionMeta;

/// One record of a session's log.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Record {
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
pub(super) const HEADER: usize = 8;

/// Largest payload a record may claim; a longer length is damage, not a record. Events are cut to fit a
/// tunnel frame long before this.
pub(super) const MAX_RECORD: usize = 256 * 1024 * 1024;

/// One session's log file and what is known about it.
pub(super) struct Log {
    pub(super) file: Arc<File>,
    pub(super) meta: Option<SessionMeta>,
    /// Where each event's record starts, by seq.
    pub(super) events: BTreeMap<u64, Span>,
    /// File length the last fsync covered: the records before it are on disk and never written again.
    pub(super) synced_len: u64,
    /// Records after `synced_len`, oldest first.
    pub(super) tail: VecDeque<Pending>,
    /// Sum of the tail's record lengths.
    pub(super) tail_len: u64,
    /// Whether the file holds the whole tail; false after a write failed, until a flush writes it again.
    pub(super) written: bool,
}

/// Where a record lies in its file.
#[derive(Clone, Copy)]
pub(super) struct Span {
    pub(super) offset: u64,
    pub(super) len: u64,
}

/// A record no fsync has covered yet.
pub(super) struct Pending {
    pub(super) ticket: u64,
    pub(super) offset: u64,
    pub(super) bytes: Vec<u8>,
}

/// A record as it lies in a file: header, then payload.
pub(super) fn frame(record: &Record) -> anyhow::Result<Vec<u8>> {
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
pub(super) fn unframe(bytes: &[u8]) -> Option<&[u8]> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes.get(4..HEADER)?.try_into().ok()?);
    // Nothing writes an empty payload: a zero length is a hole of zeros, not a record.
    if len == 0 || len > MAX_RECORD {
        return None;
    }
    let payload = bytes.get(HEADER..HEADER + len)?;
    (crc32fast::hash(payload) == crc).then_some(payload)
}

pub(super) fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the session store directory {}", dir.display()))
}

pub(super) fn open_log_file(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Log {
    /// A new, empty log in `file`.
    pub(super) fn new(file: File) -> Log {
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
    pub(super) fn open(path: &Path) -> anyhow::Result<Log> {
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
    pub(super) fn apply(&mut self, record: &Record, span: Span) {
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
    pub(super) fn end(&self) -> u64 {
        self.synced_len + self.tail_len
    }

    /// Forgets the file's bytes after the last fsync (a write or fsync failed, so they may be anything);
    /// the records stay in the tail and are written again.
    pub(super) fn cut_back(&mut self) {
        self.written = false;
        if let Err(e) = self.file.set_len(self.synced_len) {
            tracing::debug!("cutting a session log back to its synced length: {e}");
        }
    }

    /// Writes the whole tail again after a failure; on success the file holds it.
    pub(super) fn rewrite(&mut self) -> std::io::Result<()> {
        self.file.set_len(self.synced_len)?;
        for p in &self.tail {
            self.file.write_all_at(&p.bytes, p.offset)?;
        }
        self.written = true;
        Ok(())
    }

    /// Notes that an fsync covered the file up to `len`: the tail's records before it are on disk. Returns
    /// the bytes that left memory.
    pub(super) fn synced_to(&mut self, len: u64) -> usize {
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
    pub(super) fn unsynced(&self, span: Span) -> Option<&[u8]> {
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
pub(super) fn unframe_len(bytes: &[u8]) -> Option<usize> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    Some(HEADER + len)
}

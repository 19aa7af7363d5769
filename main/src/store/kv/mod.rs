//! The narrow key-value layer every typed store method is written over, and its two backends: embedded sled
//! (the zero-set-up default) and PostgreSQL (one database several mains share).
//!
//! A backend knows five things: [`get`](Backend::get) one key, an ordered [`range`](Backend::range) of a tree
//! (a page at a time, either direction), a conditional [`commit`](Backend::commit) of puts and deletes that
//! lands only when every [`Guard`] holds ("this key is still absent", "this value is unchanged"), a
//! [`swap`](Backend::swap) of one key returning what it held, and an [`id`](Backend::next_id) sequence. Trees
//! are named key spaces; keys order bytewise in both backends, so every index keeps its order.
//!
//! Store methods never build batches by hand. They read and write [`Tree`]s as they always did; a method whose
//! writes must stand or fall together runs them in a unit of work ([`Kv::atomic`], see [`unit`]), which turns
//! its point reads into guards and its writes into one conditional commit, and runs it again when another main
//! changed something it read. That is how an invariant a process-wide lock used to keep (one creator, unique
//! names, a token spent once, contiguous event seqs) becomes a condition the database enforces.

mod iter;
pub mod postgres;
mod sled_kv;
pub mod unit;

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use iter::Iter;
pub use postgres::{PgOptions, TlsMode};

/// A key or value as stored.
pub type Bytes = Vec<u8>;

/// What a backend can fail with.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The embedded database failed.
    #[error("{0}")]
    Sled(#[from] sled::Error),
    /// PostgreSQL failed or could not be reached.
    #[error("postgres: {0}")]
    Postgres(String),
    /// A guard did not hold: another writer changed what this commit was based on. Units retry on it.
    #[error("a concurrent write changed what this write read; try again")]
    Conflict,
    /// This main lost the lead: another main took over, and this one's writes no longer land.
    #[error("this main lost the lead to another main sharing the database; it no longer writes")]
    Fenced,
}

/// A condition a [`Batch`] needs: the key holds exactly `expect` (`None`: the key is absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// Tree name.
    pub tree: &'static str,
    /// Key.
    pub key: Bytes,
    /// The value the key must hold, or `None` for "absent".
    pub expect: Option<Bytes>,
}

/// One put (`Some`) or delete (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// Tree name.
    pub tree: &'static str,
    /// Key.
    pub key: Bytes,
    /// New value, or `None` to delete.
    pub value: Option<Bytes>,
}

/// A conditional write: nothing lands when a guard fails ([`KvError::Conflict`]). On PostgreSQL it is one
/// transaction; on sled the writes are applied in order under the commit lock, and a crash keeps a prefix of
/// them (sled keeps its writes in order), so writers put a record after what it counts.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    /// Conditions checked in the same transaction as the writes.
    pub guards: Vec<Guard>,
    /// Puts and deletes, at most one per key.
    pub writes: Vec<Write>,
}

/// Bounds of a range read.
#[derive(Debug, Clone)]
pub struct Span {
    /// Lower bound.
    pub lo: Bound<Bytes>,
    /// Upper bound.
    pub hi: Bound<Bytes>,
}

impl Span {
    /// Everything.
    pub fn all() -> Span {
        Span {
            lo: Bound::Unbounded,
            hi: Bound::Unbounded,
        }
    }

    /// Every key starting with `prefix`.
    pub fn prefix(prefix: &[u8]) -> Span {
        Span {
            lo: Bound::Included(prefix.to_vec()),
            hi: prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded),
        }
    }

    /// Whether `key` is inside.
    pub fn contains(&self, key: &[u8]) -> bool {
        let above = match &self.lo {
            Bound::Included(lo) => key >= lo.as_slice(),
            Bound::Excluded(lo) => key > lo.as_slice(),
            Bound::Unbounded => true,
        };
        let below = match &self.hi {
            Bound::Included(hi) => key <= hi.as_slice(),
            Bound::Excluded(hi) => key < hi.as_slice(),
            Bound::Unbounded => true,
        };
        above && below
    }
}

/// The first key after every key starting with `prefix` (`None` when the prefix is all 0xff).
fn prefix_end(prefix: &[u8]) -> Option<Bytes> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The database behind a store.
pub enum Backend {
    /// Embedded sled at a path (one main).
    Sled(sled_kv::SledKv),
    /// PostgreSQL (several mains).
    Postgres(postgres::PgKv),
}

impl Backend {
    /// Opens (or creates) a sled database at `path`.
    pub fn sled(path: &std::path::Path) -> anyhow::Result<Backend> {
        Ok(Backend::Sled(sled_kv::SledKv::open(path)?))
    }

    /// Connects to PostgreSQL and brings its schema up to date.
    pub fn postgres(opts: &PgOptions) -> anyhow::Result<Backend> {
        Ok(Backend::Postgres(postgres::PgKv::connect(opts)?))
    }

    /// One key's value.
    pub fn get(&self, tree: &'static str, key: &[u8]) -> Result<Option<Bytes>, KvError> {
        match self {
            Backend::Sled(db) => db.get(tree, key),
            Backend::Postgres(pg) => pg.get(tree, key),
        }
    }

    /// Many keys' values in one read (one round trip on PostgreSQL), in the order asked.
    pub fn get_many(
        &self,
        tree: &'static str,
        keys: &[Bytes],
    ) -> Result<Vec<Option<Bytes>>, KvError> {
        match self {
            Backend::Sled(db) => keys.iter().map(|k| db.get(tree, k)).collect(),
            Backend::Postgres(pg) => pg.get_many(tree, keys),
        }
    }

    /// The entries under each of `prefixes`, at most `limit` each, in one read (one round trip on PostgreSQL).
    pub fn scan_prefixes(
        &self,
        tree: &'static str,
        prefixes: &[Bytes],
        limit: usize,
    ) -> Result<Vec<Vec<(Bytes, Bytes)>>, KvError> {
        match self {
            Backend::Sled(db) => prefixes
                .iter()
                .map(|p| db.range(tree, &Span::prefix(p), false, limit))
                .collect(),
            Backend::Postgres(pg) => pg.scan_prefixes(tree, prefixes, limit),
        }
    }

    /// Up to `limit` entries of `span` in key order (`reverse`: from the top).
    pub fn range(
        &self,
        tree: &'static str,
        span: &Span,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, KvError> {
        match self {
            Backend::Sled(db) => db.range(tree, span, reverse, limit),
            Backend::Postgres(pg) => pg.range(tree, span, reverse, limit),
        }
    }

    /// Applies `batch` when all its guards hold (see [`Batch`] for what each backend keeps after a crash);
    /// [`KvError::Conflict`] otherwise.
    pub fn commit(&self, batch: &Batch) -> Result<(), KvError> {
        match self {
            Backend::Sled(db) => db.commit(batch),
            Backend::Postgres(pg) => pg.commit(batch),
        }
    }

    /// Puts (or deletes, `None`) one key without a guard, returning what it held.
    pub fn swap(
        &self,
        tree: &'static str,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<Option<Bytes>, KvError> {
        match self {
            Backend::Sled(db) => db.swap(tree, key, value),
            Backend::Postgres(pg) => pg.swap(tree, key, value),
        }
    }

    /// A new id, larger than every id this database gave before.
    pub fn next_id(&self) -> Result<u64, KvError> {
        match self {
            Backend::Sled(db) => db.next_id(),
            Backend::Postgres(pg) => pg.next_id(),
        }
    }

    /// Makes every write so far durable (sled's fsync; PostgreSQL's commits already are).
    pub fn flush(&self) -> Result<(), KvError> {
        match self {
            Backend::Sled(db) => db.flush(),
            Backend::Postgres(_) => Ok(()),
        }
    }

    /// What the store runs on, for logs and `/health` (a PostgreSQL URL without its password).
    pub fn describe(&self) -> String {
        match self {
            Backend::Sled(db) => format!("sled:{}", db.path().display()),
            Backend::Postgres(pg) => pg.describe(),
        }
    }
}

/// A backend shared by a store's clones, with the lock that orders this process's units of work.
pub struct Kv {
    backend: Backend,
    /// Which `Kv` a thread's unit of work belongs to (two stores may be open in one process).
    id: u64,
    /// One unit at a time in this process, so units here never conflict with each other; guards catch the
    /// writers of other processes.
    lock: std::sync::Mutex<()>,
}

impl Kv {
    /// Wraps a backend.
    pub fn new(backend: Backend) -> Arc<Kv> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Arc::new(Kv {
            backend,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            lock: Default::default(),
        })
    }

    /// The backend itself.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// A named tree.
    pub fn tree(self: &Arc<Kv>, name: &'static str) -> Tree {
        Tree {
            name,
            kv: self.clone(),
        }
    }

    /// A new id from the backend's sequence.
    pub fn next_id(&self) -> Result<u64, KvError> {
        self.backend.next_id()
    }

    /// Makes writes durable now, or, inside a unit of work, right after it commits.
    pub fn durable(&self) -> Result<(), KvError> {
        if unit::mark_flush(self.id) {
            return Ok(());
        }
        flush_off_worker(&self.backend)
    }
}

/// Flushes without stalling the async runtime: on a multi-thread runtime the flush runs in `block_in_place`,
/// so the worker's other tasks move to another thread while the disk answers.
fn flush_off_worker(backend: &Backend) -> Result<(), KvError> {
    if matches!(backend, Backend::Postgres(_)) {
        return Ok(());
    }
    unit::off_worker(|| backend.flush())
}

/// A named key space of a [`Kv`], read and written like a sled tree. Inside a unit of work on this thread its
/// reads see the unit's own writes and its writes wait for the unit's commit.
#[derive(Clone)]
pub struct Tree {
    name: &'static str,
    kv: Arc<Kv>,
}

impl Tree {
    /// The tree's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// A key's value.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>, KvError> {
        let key = key.as_ref();
        if let Some(seen) = unit::read(self.kv.id, self.name, key) {
            return Ok(seen);
        }
        let value = self.kv.backend.get(self.name, key)?;
        unit::record_read(self.kv.id, self.name, key, &value);
        Ok(value)
    }

    /// Many keys' values in one read, in the order asked (inside a unit, each is guarded like [`Tree::get`]).
    pub fn get_many(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>, KvError> {
        if unit::active(self.kv.id) {
            return keys.iter().map(|k| self.get(k)).collect();
        }
        self.kv.backend.get_many(self.name, keys)
    }

    /// The entries under each of `prefixes` (at most `limit` each), in key order, in one read. Outside a unit
    /// only; inside one, each prefix is scanned on its own so the unit's writes are seen.
    pub fn scan_prefixes(
        &self,
        prefixes: &[Bytes],
        limit: usize,
    ) -> Result<Vec<Vec<(Bytes, Bytes)>>, KvError> {
        if unit::active(self.kv.id) {
            return prefixes
                .iter()
                .map(|p| self.scan_prefix(p).take(limit).collect())
                .collect();
        }
        self.kv.backend.scan_prefixes(self.name, prefixes, limit)
    }

    /// Whether a key is present.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool, KvError> {
        Ok(self.get(key)?.is_some())
    }

    /// Sets a key. Inside a unit the write waits for its commit and is not guarded (guard what you read).
    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), KvError> {
        let (key, value) = (key.as_ref(), value.as_ref());
        if unit::write(self.kv.id, self.name, key, Some(value)) {
            return Ok(());
        }
        self.kv.backend.swap(self.name, key, Some(value)).map(drop)
    }

    /// Sets a key and returns what it held (inside a unit, that read is guarded).
    pub fn replace(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<Option<Bytes>, KvError> {
        let (key, value) = (key.as_ref(), value.as_ref());
        if unit::active(self.kv.id) {
            let old = self.get(key)?;
            unit::write(self.kv.id, self.name, key, Some(value));
            return Ok(old);
        }
        self.kv.backend.swap(self.name, key, Some(value))
    }

    /// Deletes a key and returns what it held (inside a unit, that read is guarded).
    pub fn remove(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>, KvError> {
        let key = key.as_ref();
        if unit::active(self.kv.id) {
            let old = self.get(key)?;
            unit::write(self.kv.id, self.name, key, None);
            return Ok(old);
        }
        self.kv.backend.swap(self.name, key, None)
    }

    /// Sets (`Some`) or deletes (`None`) a key only when it holds `old` now; `false` when it did not.
    pub fn compare_and_swap(
        &self,
        key: impl AsRef<[u8]>,
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, KvError> {
        let key = key.as_ref();
        if unit::active(self.kv.id) {
            if self.get(key)?.as_deref() != old {
                return Ok(false);
            }
            unit::write(self.kv.id, self.name, key, new);
            return Ok(true);
        }
        let batch = Batch {
            guards: vec![Guard {
                tree: self.name,
                key: key.to_vec(),
                expect: old.map(<[u8]>::to_vec),
            }],
            writes: vec![Write {
                tree: self.name,
                key: key.to_vec(),
                value: new.map(<[u8]>::to_vec),
            }],
        };
        match self.kv.backend.commit(&batch) {
            Ok(()) => Ok(true),
            Err(KvError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Up to `limit` entries from `start` (inclusive) while their keys start with `prefix`, in one read.
    pub fn page_from(
        &self,
        start: &[u8],
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, KvError> {
        let span = Span {
            lo: Bound::Included(start.to_vec()),
            hi: Span::prefix(prefix).hi,
        };
        Iter::new(self.kv.clone(), self.name, span)
            .first_page(limit)
            .take(limit)
            .collect()
    }

    /// Entries within `range`, in key order (`.rev()` for the other way).
    pub fn range<K: AsRef<[u8]>>(&self, range: impl std::ops::RangeBounds<K>) -> Iter {
        let own = |b: Bound<&K>| match b {
            Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
            Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let span = Span {
            lo: own(range.start_bound()),
            hi: own(range.end_bound()),
        };
        Iter::new(self.kv.clone(), self.name, span)
    }

    /// Entries whose key starts with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        Iter::new(self.kv.clone(), self.name, Span::prefix(prefix.as_ref()))
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> Iter {
        Iter::new(self.kv.clone(), self.name, Span::all())
    }

    /// Whether the tree holds nothing.
    pub fn is_empty(&self) -> Result<bool, KvError> {
        Ok(self.first()?.is_none())
    }

    /// The entry with the smallest key (one entry read, not a page).
    pub fn first(&self) -> Result<Option<(Bytes, Bytes)>, KvError> {
        self.iter().first_page(1).next().transpose()
    }

    /// The entry with the largest key (one entry read, not a page).
    pub fn last(&self) -> Result<Option<(Bytes, Bytes)>, KvError> {
        self.iter().rev().first_page(1).next().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves prefix spans end right after the prefix's last key, carrying over 0xff bytes.
    #[test]
    fn prefix_spans() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        let s = Span::prefix(b"ab");
        assert!(
            s.contains(b"ab")
                && s.contains(b"ab\xff\xff")
                && !s.contains(b"ac")
                && !s.contains(b"aa")
        );
    }
}

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
mod mirror;
pub mod postgres;
mod sled_kv;
mod tree;
pub mod unit;

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use iter::Iter;
pub use postgres::{PgOptions, TlsMode};
pub use tree::Tree;

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

    /// Whether no key can lie within it (its start past its end; sled and `BTreeMap::range` panic on such a
    /// range).
    pub fn is_empty(&self) -> bool {
        use Bound::{Excluded, Included};
        match (&self.lo, &self.hi) {
            (Included(lo), Included(hi)) => lo > hi,
            (Included(lo), Excluded(hi))
            | (Excluded(lo), Included(hi))
            | (Excluded(lo), Excluded(hi)) => lo >= hi,
            _ => false,
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
    Postgres(Box<postgres::PgKv>),
}

impl Backend {
    /// Opens (or creates) a sled database at `path`.
    pub fn sled(path: &std::path::Path) -> anyhow::Result<Backend> {
        Ok(Backend::Sled(sled_kv::SledKv::open(path)?))
    }

    /// Connects to PostgreSQL and brings its schema up to date.
    pub fn postgres(opts: &PgOptions) -> anyhow::Result<Backend> {
        Ok(Backend::Postgres(Box::new(postgres::PgKv::connect(opts)?)))
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

/// A backend shared by a store's clones, with the lock that orders this process's units of work, and (on
/// PostgreSQL, while this main leads) the trees it holds in memory ([`mirror`]).
pub struct Kv {
    backend: Backend,
    /// Which `Kv` a thread's unit of work belongs to (two stores may be open in one process).
    id: u64,
    /// One unit at a time in this process, so units here never conflict with each other; guards catch the
    /// writers of other processes.
    lock: std::sync::Mutex<()>,
    /// Held around a write and its landing in memory, so memory takes writes in the database's order.
    write_order: std::sync::Mutex<()>,
    /// The lead's memory (off unless this main leads on PostgreSQL).
    mirror: Arc<mirror::Mirror>,
    /// Trees never held in memory (they grow without bound).
    unheld: &'static [&'static str],
}

impl Kv {
    /// Wraps a backend; every tree may be held in memory once this main leads.
    pub fn new(backend: Backend) -> Arc<Kv> {
        Kv::holding_all_but(backend, &[])
    }

    /// Wraps a backend whose trees `unheld` are never held in memory (see [`Kv::lead`]).
    pub fn holding_all_but(backend: Backend, unheld: &'static [&'static str]) -> Arc<Kv> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Arc::new(Kv {
            backend,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            lock: Default::default(),
            write_order: Default::default(),
            mirror: Default::default(),
            unheld,
        })
    }

    /// The backend itself.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// A named tree.
    pub fn tree(self: &Arc<Kv>, name: &'static str) -> Tree {
        Tree::new(name, self.clone())
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

    /// This main leads under `epoch` (PostgreSQL; nothing on sled): every write carries it as a fence from
    /// now on, and the trees it reads are held in memory while it hears other processes' writes (see
    /// [`mirror`]). When it cannot listen for them, it reads the database as before.
    pub fn lead(&self, epoch: u64) {
        let Backend::Postgres(pg) = &self.backend else {
            return;
        };
        pg.set_epoch(Some(epoch));
        if self.mirror.is_on() {
            return;
        }
        let mirror = Arc::downgrade(&self.mirror);
        let heard = pg.listen_for_writes(move |still_listening| {
            if let Some(mirror) = mirror.upgrade() {
                if still_listening {
                    mirror.forget();
                } else {
                    tracing::warn!(
                        "stopped hearing other writers of the database; reading it directly"
                    );
                    mirror.disable();
                }
            }
        });
        match heard {
            Ok(()) => self.mirror.enable(),
            Err(e) => tracing::warn!(
                "cannot hear other writers of the database ({e}); reading it directly"
            ),
        }
    }

    /// This main stops leading: memory is dropped and not used again (a new lead opens a new `Kv`).
    pub fn step_down(&self) {
        self.mirror.disable();
    }

    /// Whether `tree` is read from memory now (for tests and benchmarks).
    pub fn holds(&self, tree: &'static str) -> bool {
        self.mirror.read(tree, |_| ()).is_some()
    }

    /// `f` over `tree`'s entries in memory, loading the tree first when it should be held but is not;
    /// `None`: read the database.
    fn held<T>(
        &self,
        tree: &'static str,
        f: impl Fn(&std::collections::BTreeMap<Bytes, Bytes>) -> T,
    ) -> Result<Option<T>, KvError> {
        if !matches!(self.backend, Backend::Postgres(_)) || self.unheld.contains(&tree) {
            return Ok(None);
        }
        if let Some(out) = self.mirror.read(tree, &f) {
            return Ok(Some(out));
        }
        let Some(ticket) = self.mirror.want(tree) else {
            return Ok(None);
        };
        let (mut entries, mut bytes) = (std::collections::BTreeMap::new(), 0usize);
        let mut span = Span::all();
        loop {
            let page = self.backend.range(tree, &span, false, mirror::LOAD_PAGE)?;
            let full = page.len() == mirror::LOAD_PAGE;
            if let Some((last, _)) = page.last() {
                span.lo = Bound::Excluded(last.clone());
            }
            bytes += page.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
            if bytes > mirror::TREE_BUDGET {
                self.mirror.fill(tree, ticket, None);
                return Ok(None);
            }
            entries.extend(page);
            if !full {
                break;
            }
        }
        self.mirror.fill(tree, ticket, Some(entries));
        Ok(self.mirror.read(tree, &f))
    }

    fn get(&self, tree: &'static str, key: &[u8]) -> Result<Option<Bytes>, KvError> {
        match self.held(tree, |m| m.get(key).cloned())? {
            Some(value) => Ok(value),
            None => self.backend.get(tree, key),
        }
    }

    fn get_many(&self, tree: &'static str, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>, KvError> {
        match self.held(tree, |m| keys.iter().map(|k| m.get(k).cloned()).collect())? {
            Some(values) => Ok(values),
            None => self.backend.get_many(tree, keys),
        }
    }

    fn scan_prefixes(
        &self,
        tree: &'static str,
        prefixes: &[Bytes],
        limit: usize,
    ) -> Result<Vec<Vec<(Bytes, Bytes)>>, KvError> {
        let scan = |m: &std::collections::BTreeMap<Bytes, Bytes>| {
            let scan = |p: &Bytes| mirror::range(m, &Span::prefix(p), false, limit);
            prefixes.iter().map(scan).collect()
        };
        match self.held(tree, scan)? {
            Some(found) => Ok(found),
            None => self.backend.scan_prefixes(tree, prefixes, limit),
        }
    }

    fn range(
        &self,
        tree: &'static str,
        span: &Span,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, KvError> {
        match self.held(tree, |m| mirror::range(m, span, reverse, limit))? {
            Some(found) => Ok(found),
            None => self.backend.range(tree, span, reverse, limit),
        }
    }

    /// Commits `batch`, then lands its writes in memory (in the database's order).
    fn commit(&self, batch: &Batch) -> Result<(), KvError> {
        let _order = self.order_writes();
        let result = self.backend.commit(batch);
        self.landed(&result, &batch.guards, &batch.writes);
        result
    }

    /// Swaps one key, then lands the write in memory.
    fn swap(
        &self,
        tree: &'static str,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<Option<Bytes>, KvError> {
        let _order = self.order_writes();
        let result = self.backend.swap(tree, key, value);
        let write = Write {
            tree,
            key: key.to_vec(),
            value: value.map(<[u8]>::to_vec),
        };
        self.landed(&result, &[], std::slice::from_ref(&write));
        result
    }

    /// On PostgreSQL, the turn of one write and its landing in memory (sled's writes need no turn).
    fn order_writes(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        matches!(self.backend, Backend::Postgres(_))
            .then(|| self.write_order.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// What a write's outcome means for memory: landed writes are applied; a refused guard means another
    /// process changed a guarded tree (it is forgotten, so the unit's next try reads it fresh); a fenced write
    /// means the lead is gone. Any other failure leaves the outcome unknown: a commit that timed out may still
    /// land later, fenced and so unannounced, so memory is not used again.
    fn landed<T>(&self, result: &Result<T, KvError>, guards: &[Guard], writes: &[Write]) {
        // sled never holds memory of its own.
        if !matches!(self.backend, Backend::Postgres(_)) {
            return;
        }
        match result {
            Ok(_) => self.mirror.apply(writes),
            Err(KvError::Conflict) => self.mirror.forget_trees(guards.iter().map(|g| g.tree)),
            Err(KvError::Fenced) => self.mirror.disable(),
            Err(e) => {
                if self.mirror.is_on() {
                    tracing::warn!(
                        "a write's outcome is unknown ({e}); reading the database directly from now on"
                    );
                }
                self.mirror.disable();
            }
        }
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

//! Units of work: the store methods whose writes stand or fall together.
//!
//! [`Kv::atomic`](super::Kv::atomic) runs a closure on this thread with a unit open. While it runs, every
//! point read of a [`Tree`](super::Tree) of that `Kv` is remembered (the value it saw becomes a guard: "still
//! absent", "still this value"), every write is held back in the unit (later reads and ranges see it), and
//! every announcement (`after_commit`) waits. When the closure returns — `Ok` or `Err`, since a method may
//! keep what it wrote before it refused, as writes straight to sled always did — the writes go to the backend
//! as one guarded batch. If another writer changed something the closure read, nothing lands and the closure
//! runs again from the start, seeing the new values; so closures may run more than once and must not have
//! effects outside the store other than through `after_commit`.
//!
//! The unit lives in a thread-local because store methods are synchronous and never await: a unit begins and
//! ends within one call on one thread. Units of one process also take the `Kv`'s lock, so they never conflict
//! with each other; the guards are for other processes (other mains on the same PostgreSQL). Range reads are
//! not guarded: an invariant that depends on "nothing here yet" keeps a point key for it.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::{Batch, Bytes, Guard, Kv, KvError, Write};

/// How often a unit is tried before it gives up with [`KvError::Conflict`].
const ATTEMPTS: usize = 32;

type Key = (&'static str, Bytes);

#[derive(Default)]
struct Unit {
    kv: u64,
    reads: BTreeMap<Key, Option<Bytes>>,
    /// Each written key's last value, with the turn of its last write (the order writes reach sled in).
    writes: BTreeMap<Key, (u64, Option<Bytes>)>,
    turn: u64,
    after: Vec<Box<dyn FnOnce()>>,
    flush: bool,
}

thread_local! {
    static UNIT: RefCell<Option<Unit>> = const { RefCell::new(None) };
}

/// Closes this thread's unit when dropped, so a closure that panics leaves no half-open unit behind.
struct Open;

impl Drop for Open {
    fn drop(&mut self) {
        UNIT.with(|cell| cell.borrow_mut().take());
    }
}

fn with_unit<T>(kv: u64, f: impl FnOnce(&mut Unit) -> T) -> Option<T> {
    UNIT.with(|cell| {
        let mut slot = cell.borrow_mut();
        match slot.as_mut() {
            Some(unit) if unit.kv == kv => Some(f(unit)),
            _ => None,
        }
    })
}

/// Whether a unit of `kv` is open on this thread.
pub fn active(kv: u64) -> bool {
    with_unit(kv, |_| ()).is_some()
}

/// What the open unit knows of a key: its own write, or the value it read before. `None`: ask the backend.
pub(super) fn read(kv: u64, tree: &'static str, key: &[u8]) -> Option<Option<Bytes>> {
    with_unit(kv, |u| {
        let k = (tree, key.to_vec());
        u.writes
            .get(&k)
            .map(|(_, v)| v)
            .or_else(|| u.reads.get(&k))
            .cloned()
    })
    .flatten()
}

/// Remembers a value read from the backend as a guard of the open unit (if one is open).
pub(super) fn record_read(kv: u64, tree: &'static str, key: &[u8], value: &Option<Bytes>) {
    with_unit(kv, |u| {
        u.reads
            .entry((tree, key.to_vec()))
            .or_insert_with(|| value.clone());
    });
}

/// Holds a write in the open unit; `false` when none is open (the caller writes through).
pub(super) fn write(kv: u64, tree: &'static str, key: &[u8], value: Option<&[u8]>) -> bool {
    with_unit(kv, |u| {
        u.turn += 1;
        u.writes
            .insert((tree, key.to_vec()), (u.turn, value.map(<[u8]>::to_vec)));
    })
    .is_some()
}

/// The open unit's writes to `tree`, for ranges to merge in.
pub(super) fn writes_in(kv: u64, tree: &'static str) -> Vec<(Bytes, Option<Bytes>)> {
    with_unit(kv, |u| {
        u.writes
            .range((tree, Vec::new())..)
            .take_while(|((t, _), _)| *t == tree)
            .map(|((_, k), (_, v))| (k.clone(), v.clone()))
            .collect()
    })
    .unwrap_or_default()
}

/// Asks the open unit to flush after its commit; `false` when none is open.
pub(super) fn mark_flush(kv: u64) -> bool {
    with_unit(kv, |u| u.flush = true).is_some()
}

/// Runs blocking work (a disk flush, a wait for the database) without stalling an async runtime: inside
/// `block_in_place` on a multi-thread runtime's worker, directly anywhere else.
pub fn off_worker<T>(f: impl FnOnce() -> T) -> T {
    let on_worker = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if on_worker {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// Runs `f`, which blocks on a runtime of its own (a database connection's), from any thread: in
/// `block_in_place` on a multi-thread runtime's worker (which also leaves that runtime's context), on a
/// scoped thread inside a current-thread runtime (whose context cannot be left), directly elsewhere.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|s| {
            s.spawn(f)
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
        Err(_) => f(),
    }
}

/// Waits a random while, growing with the attempt (up to about 64 ms), before a unit runs again: another
/// main committing back to back would otherwise win every race against it.
fn backoff(attempt: usize) {
    let ceiling_us = 500u64 << attempt.min(7);
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    let wait = std::time::Duration::from_micros(u64::from_le_bytes(bytes) % ceiling_us);
    off_worker(|| std::thread::sleep(wait));
}

impl Kv {
    /// Runs `f` as one unit of work (see the module doc): its writes land together, guarded by what it read,
    /// and it runs again when another writer got there first. Nested calls join the open unit. `lift` turns
    /// the backend's failure into the caller's error type.
    pub fn atomic<T, E>(
        &self,
        mut f: impl FnMut() -> Result<T, E>,
        lift: impl Fn(KvError) -> E,
    ) -> Result<T, E> {
        if active(self.id) {
            return f();
        }
        // A poisoned lock only means another unit panicked; its writes were never committed.
        let _turn = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(attempt);
            }
            UNIT.with(|cell| {
                *cell.borrow_mut() = Some(Unit {
                    kv: self.id,
                    ..Unit::default()
                })
            });
            let open = Open;
            let result = f();
            let unit = UNIT
                .with(|cell| cell.borrow_mut().take())
                .unwrap_or_default();
            drop(open);
            match self.commit_unit(unit) {
                Ok(()) => return result,
                Err(KvError::Conflict) => continue,
                Err(e) => return Err(lift(e)),
            }
        }
        Err(lift(KvError::Conflict))
    }

    fn commit_unit(&self, unit: Unit) -> Result<(), KvError> {
        if !unit.writes.is_empty() {
            let batch = Batch {
                guards: unit
                    .reads
                    .into_iter()
                    .map(|((tree, key), expect)| Guard { tree, key, expect })
                    .collect(),
                // In the order they were made: sled applies them one by one, and a crash keeps a prefix
                // of them, as it did when the store wrote straight to sled (a session's events before the
                // record that counts them).
                writes: {
                    let mut writes: Vec<_> = unit.writes.into_iter().collect();
                    writes.sort_by_key(|(_, (turn, _))| *turn);
                    writes
                        .into_iter()
                        .map(|((tree, key), (_, value))| Write { tree, key, value })
                        .collect()
                },
            };
            self.commit(&batch)?;
        }
        if unit.flush {
            super::flush_off_worker(&self.backend)?;
        }
        for announce in unit.after {
            announce();
        }
        Ok(())
    }

    /// Runs `f` once the open unit of work commits (at once when none is open); dropped when the unit is
    /// tried again. For announcements that must not tell of writes that did not land.
    pub fn after_commit(&self, f: impl FnOnce() + 'static) {
        let mut f = Some(f);
        with_unit(self.id, |u| {
            if let Some(f) = f.take() {
                u.after.push(Box::new(f));
            }
        });
        if let Some(f) = f {
            f();
        }
    }
}

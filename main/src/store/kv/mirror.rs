//! The lead's memory: while a main holds the lead on PostgreSQL it keeps a copy of the small, hot trees
//! (users, workspaces, tasks, runs, session records…) in memory and reads them from there, as sled reads from
//! its page cache. PostgreSQL stays the truth: every write still goes there first and lands in memory only
//! once the database has it.
//!
//! Why that is safe in step 1 (one active main): the active main is the only main that writes, and its
//! writes carry the lead's fence ([`super::postgres::EPOCH_KEY`]); so what it holds can only go stale
//! through a write of some other process: an admin command run against the database, a main starting up,
//! `store copy`. Those writes carry no fence, and every unfenced write says so on the `vb_kv` notification
//! channel (migration 3). The active main listens there from before it fills anything, and forgets
//! everything it holds when it hears one; when the listening connection ends it stops using memory at all.
//! Between such a write and its notification (a few milliseconds) a read may see the value before it; a
//! unit of work never acts on it, because its guards are checked by the database: the commit is refused,
//! everything is forgotten, and the unit runs again on fresh values.
//!
//! A tree is read into memory whole on first use (a page of [`LOAD_PAGE`] entries at a time), unless it
//! holds more than [`TREE_BUDGET`] bytes; then it is read from the database as before. Trees that grow
//! without bound (session events, the audit log) are never held; the store names them.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use super::{Bytes, Span, Write};

/// How many entries one read of a tree being loaded asks for.
pub(super) const LOAD_PAGE: usize = 4096;
/// A tree larger than this (keys and values) stays in the database.
pub(super) const TREE_BUDGET: usize = 64 << 20;

/// The trees held in memory, and whether memory may be used at all.
#[derive(Default)]
pub(super) struct Mirror {
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    /// Memory is used only while the notification channel is heard.
    on: bool,
    /// Turned off for good (the lead ended, the channel went deaf, or a write's outcome is unknown): a late
    /// `enable` does not turn it on again.
    done: bool,
    /// Bumped each time everything is forgotten, so a load begun before is thrown away.
    era: u64,
    trees: HashMap<&'static str, Slot>,
}

#[derive(Default)]
struct Slot {
    /// Bumped by every write to the tree, so a load that overlapped one is thrown away.
    generation: u64,
    held: Held,
}

#[derive(Default)]
enum Held {
    /// Not read yet (or forgotten).
    #[default]
    Cold,
    Warm(BTreeMap<Bytes, Bytes>),
    /// Larger than [`TREE_BUDGET`] when last loaded: read from the database.
    TooBig,
}

/// When a load began: its entries are kept only if nothing wrote to the tree, or forgot it, since.
pub(super) struct Ticket {
    era: u64,
    generation: u64,
}

impl Mirror {
    fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A poisoned lock means a reader panicked mid-read; the maps themselves are whole.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts using memory (the caller listens for other writers from now on), unless it was turned off for
    /// good before (the listening connection may end before the caller gets here).
    pub fn enable(&self) {
        let mut state = self.state_mut();
        state.on = !state.done;
    }

    /// Stops using memory for good and drops what it held (the lead is gone, other writers can no longer be
    /// heard, or memory can no longer be trusted).
    pub fn disable(&self) {
        let mut state = self.state_mut();
        state.on = false;
        state.done = true;
        forget(&mut state);
    }

    /// Drops everything held; trees are read again on next use (another process wrote, or a commit's outcome
    /// is unknown).
    pub fn forget(&self) {
        forget(&mut self.state_mut());
    }

    /// Drops what is held of `trees` (a guard on them was refused: another process changed them).
    pub fn forget_trees(&self, trees: impl IntoIterator<Item = &'static str>) {
        let mut state = self.state_mut();
        for tree in trees {
            let slot = state.trees.entry(tree).or_default();
            slot.generation += 1;
            slot.held = Held::Cold;
        }
    }

    /// Whether memory is in use.
    pub fn is_on(&self) -> bool {
        self.state().on
    }

    /// `f` over the tree's entries when it is held; `None` when it is not (read the database).
    pub fn read<T>(
        &self,
        tree: &'static str,
        f: impl FnOnce(&BTreeMap<Bytes, Bytes>) -> T,
    ) -> Option<T> {
        let state = self.state();
        match state.trees.get(tree).map(|slot| &slot.held) {
            Some(Held::Warm(map)) if state.on => Some(f(map)),
            _ => None,
        }
    }

    /// A ticket to load `tree` when memory is in use and the tree is neither held nor known to be too big.
    pub fn want(&self, tree: &'static str) -> Option<Ticket> {
        let state = self.state();
        if !state.on {
            return None;
        }
        let slot = state.trees.get(tree);
        match slot.map(|s| &s.held) {
            None | Some(Held::Cold) => Some(Ticket {
                era: state.era,
                generation: slot.map_or(0, |s| s.generation),
            }),
            Some(_) => None,
        }
    }

    /// Holds `entries`, read from the database after `ticket` was taken, unless a write or a forget came in
    /// between (then the tree stays cold and is loaded again on next use). `None`: it was too big.
    pub fn fill(
        &self,
        tree: &'static str,
        ticket: Ticket,
        entries: Option<BTreeMap<Bytes, Bytes>>,
    ) {
        let mut state = self.state_mut();
        if !state.on || state.era != ticket.era {
            return;
        }
        let slot = state.trees.entry(tree).or_default();
        if slot.generation != ticket.generation || !matches!(slot.held, Held::Cold) {
            return;
        }
        slot.held = entries.map_or(Held::TooBig, Held::Warm);
    }

    /// Applies writes the database has just committed (called in commit order).
    pub fn apply(&self, writes: &[Write]) {
        let mut state = self.state_mut();
        if !state.on {
            return;
        }
        for w in writes {
            let slot = state.trees.entry(w.tree).or_default();
            slot.generation += 1;
            if let Held::Warm(map) = &mut slot.held {
                match &w.value {
                    Some(v) => map.insert(w.key.clone(), v.clone()),
                    None => map.remove(&w.key),
                };
            }
        }
    }
}

fn forget(state: &mut State) {
    state.era += 1;
    for slot in state.trees.values_mut() {
        slot.generation += 1;
        slot.held = Held::Cold;
    }
}

/// Up to `limit` entries of `span` in `map`, in key order (`reverse`: from the top).
pub(super) fn range(
    map: &BTreeMap<Bytes, Bytes>,
    span: &Span,
    reverse: bool,
    limit: usize,
) -> Vec<(Bytes, Bytes)> {
    // BTreeMap::range panics on an empty or inverted range; such a span holds nothing.
    if span.is_empty() || limit == 0 {
        return Vec::new();
    }
    let entries = map.range::<Bytes, _>((span.lo.as_ref(), span.hi.as_ref()));
    let clone = |(k, v): (&Bytes, &Bytes)| (k.clone(), v.clone());
    if reverse {
        entries.rev().take(limit).map(clone).collect()
    } else {
        entries.take(limit).map(clone).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(tree: &'static str, key: &[u8], value: Option<&[u8]>) -> Write {
        Write {
            tree,
            key: key.to_vec(),
            value: value.map(<[u8]>::to_vec),
        }
    }

    /// Proves a load that overlapped a write or a forget is thrown away, and a held tree follows writes.
    #[test]
    fn loads_overlapping_writes_are_dropped() {
        let m = Mirror::default();
        assert!(m.want("t").is_none(), "memory is off until enabled");
        m.enable();
        let stale = m.want("t").unwrap();
        m.apply(&[w("t", b"a", Some(b"1"))]);
        m.fill("t", stale, Some(BTreeMap::new()));
        assert!(
            m.read("t", |_| ()).is_none(),
            "a load older than a write is dropped"
        );
        let ticket = m.want("t").unwrap();
        m.forget();
        m.fill("t", ticket, Some(BTreeMap::new()));
        assert!(
            m.read("t", |_| ()).is_none(),
            "a load older than a forget is dropped"
        );
        let ticket = m.want("t").unwrap();
        m.fill(
            "t",
            ticket,
            Some(BTreeMap::from([(b"a".to_vec(), b"1".to_vec())])),
        );
        m.apply(&[w("t", b"b", Some(b"2")), w("t", b"a", None)]);
        let held = m.read("t", |map| map.clone()).unwrap();
        assert_eq!(held, BTreeMap::from([(b"b".to_vec(), b"2".to_vec())]));
        m.forget_trees(["t"]);
        assert!(
            m.read("t", |_| ()).is_none(),
            "a forgotten tree is read again"
        );
        m.disable();
        m.enable();
        assert!(
            m.read("t", |_| ()).is_none() && m.want("t").is_none(),
            "memory turned off stays off"
        );
    }

    /// Proves memory ranges honour every bound kind, direction and limit, and empty or inverted spans.
    #[test]
    fn ranges_follow_bounds() {
        let map: BTreeMap<Bytes, Bytes> = (1u8..=5).map(|i| (vec![i], vec![i])).collect();
        let keys = |lo, hi, reverse, limit| -> Vec<u8> {
            range(&map, &Span { lo, hi }, reverse, limit)
                .into_iter()
                .map(|(k, _)| k[0])
                .collect()
        };
        use std::ops::Bound::*;
        assert_eq!(keys(Included(vec![2]), Excluded(vec![4]), false, 9), [2, 3]);
        assert_eq!(keys(Excluded(vec![2]), Included(vec![4]), true, 9), [4, 3]);
        assert_eq!(keys(Unbounded, Unbounded, true, 2), [5, 4]);
        assert!(keys(Included(vec![4]), Excluded(vec![4]), false, 9).is_empty());
        assert!(keys(Included(vec![4]), Included(vec![2]), false, 9).is_empty());
        assert!(keys(Excluded(vec![3]), Included(vec![3]), false, 9).is_empty());
        assert_eq!(keys(Included(vec![3]), Included(vec![3]), false, 9), [3]);
    }
}

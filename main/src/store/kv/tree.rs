//! [`Tree`]: a named key space of a [`Kv`], read and written as store methods always read and wrote sled
//! trees; inside a unit of work its reads see the unit's writes and its writes wait for the commit.

use std::ops::Bound;
use std::sync::Arc;

use super::{Batch, Bytes, Guard, Iter, Kv, KvError, Span, Write, unit};

/// A named key space of a [`Kv`], read and written like a sled tree. Inside a unit of work on this thread its
/// reads see the unit's own writes and its writes wait for the unit's commit.
#[derive(Clone)]
pub struct Tree {
    name: &'static str,
    kv: Arc<Kv>,
}

impl Tree {
    pub(super) fn new(name: &'static str, kv: Arc<Kv>) -> Tree {
        Tree { name, kv }
    }

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
        let value = self.kv.get(self.name, key)?;
        unit::record_read(self.kv.id, self.name, key, &value);
        Ok(value)
    }

    /// Many keys' values in one read, in the order asked (inside a unit, each is guarded like [`Tree::get`]).
    pub fn get_many(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>, KvError> {
        if unit::active(self.kv.id) {
            return keys.iter().map(|k| self.get(k)).collect();
        }
        self.kv.get_many(self.name, keys)
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
        self.kv.scan_prefixes(self.name, prefixes, limit)
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
        self.kv.swap(self.name, key, Some(value)).map(drop)
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
        self.kv.swap(self.name, key, Some(value))
    }

    /// Deletes a key and returns what it held (inside a unit, that read is guarded).
    pub fn remove(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>, KvError> {
        let key = key.as_ref();
        if unit::active(self.kv.id) {
            let old = self.get(key)?;
            unit::write(self.kv.id, self.name, key, None);
            return Ok(old);
        }
        self.kv.swap(self.name, key, None)
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
        match self.kv.commit(&batch) {
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

//! The embedded backend: one sled database, one sled tree per tree name, exactly the layout main has always
//! written (an existing database opens as it is). Only one process can open it (sled locks the directory), so
//! a commit's guards are checked and its writes applied under one process-wide lock.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use anyhow::Context;

use super::{Batch, Bytes, KvError, Span};

/// A sled database as a [`super::Backend`].
pub struct SledKv {
    db: sled::Db,
    path: PathBuf,
    trees: RwLock<HashMap<&'static str, sled::Tree>>,
    commit_lock: Mutex<()>,
}

impl SledKv {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> anyhow::Result<SledKv> {
        let db = sled::Config::new().path(path).open().with_context(|| {
            format!(
                "opening database {} (is another main using it?)",
                path.display()
            )
        })?;
        Ok(SledKv {
            db,
            path: path.to_path_buf(),
            trees: RwLock::default(),
            commit_lock: Mutex::default(),
        })
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every tree name this database holds (for `store copy`), sled's own default tree left out.
    pub fn tree_names(&self) -> Vec<String> {
        self.db
            .tree_names()
            .into_iter()
            .filter_map(|n| String::from_utf8(n.to_vec()).ok())
            .filter(|n| n != "__sled__default")
            .collect()
    }

    fn tree(&self, name: &'static str) -> Result<sled::Tree, KvError> {
        if let Some(t) = self
            .trees
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(t.clone());
        }
        let t = self.db.open_tree(name)?;
        self.trees
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, t.clone());
        Ok(t)
    }

    pub(super) fn get(&self, tree: &'static str, key: &[u8]) -> Result<Option<Bytes>, KvError> {
        Ok(self.tree(tree)?.get(key)?.map(|v| v.to_vec()))
    }

    pub(super) fn range(
        &self,
        tree: &'static str,
        span: &Span,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, KvError> {
        if span.is_empty() {
            return Ok(Vec::new());
        }
        let t = self.tree(tree)?;
        let iter = t.range::<Bytes, _>((span.lo.clone(), span.hi.clone()));
        let take = |it: &mut dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>| {
            it.take(limit)
                .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(if reverse {
            take(&mut iter.rev())?
        } else {
            take(&mut { iter })?
        })
    }

    pub(super) fn commit(&self, batch: &Batch) -> Result<(), KvError> {
        let _one = self.commit_lock.lock().unwrap_or_else(|e| e.into_inner());
        for g in &batch.guards {
            if self.get(g.tree, &g.key)? != g.expect {
                return Err(KvError::Conflict);
            }
        }
        // One by one, in the order the unit made them: after a crash sled keeps a prefix of its writes, so
        // a record written after what it counts never claims what did not reach the disk.
        for w in &batch.writes {
            let t = self.tree(w.tree)?;
            match &w.value {
                Some(v) => t.insert(w.key.as_slice(), v.as_slice())?,
                None => t.remove(w.key.as_slice())?,
            };
        }
        Ok(())
    }

    pub(super) fn swap(
        &self,
        tree: &'static str,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<Option<Bytes>, KvError> {
        let t = self.tree(tree)?;
        let old = match value {
            Some(v) => t.insert(key, v)?,
            None => t.remove(key)?,
        };
        Ok(old.map(|v| v.to_vec()))
    }

    pub(super) fn next_id(&self) -> Result<u64, KvError> {
        Ok(self.db.generate_id()?)
    }

    pub(super) fn flush(&self) -> Result<(), KvError> {
        self.db.flush()?;
        Ok(())
    }
}

//! How a task's indexes are kept (see [`super::tasks`] for the trees): their keys, the counters beside them,
//! writing and removing a task with every index entry, and the position a placed task gets from its
//! neighbours. All of it runs under the store's lock, held by the caller.

use super::kv::{KvError, Tree};
use super::rank::{MAX_KEY_LEN, between, spaced};
use super::task::{Place, Task, TaskId};
use super::workspaces::{TaskStatus, WorkspaceId};
use super::{Store, StoreError, encode};

impl Store {
    /// Adds `delta` to the counter at `key` of `tree` (under the lock the caller holds).
    pub(super) fn bump(&self, tree: &Tree, key: &[u8], delta: i64) -> Result<(), StoreError> {
        let n = read_counter(tree, key)? as i64 + delta;
        if n <= 0 {
            tree.remove(key)?;
        } else {
            tree.insert(key, (n as u64).to_be_bytes())?;
        }
        Ok(())
    }

    pub(super) fn count(
        &self,
        ws: WorkspaceId,
        status: TaskStatus,
        delta: i64,
    ) -> Result<(), StoreError> {
        self.bump(&self.column_counts, &column_prefix(ws, status), delta)
    }

    /// The position key for a task placed at `place` in a column (`moving` is skipped as a neighbour). When
    /// keys at that spot have grown past [`MAX_KEY_LEN`] (many inserts at one place), the column is first
    /// re-spaced with short keys.
    pub(super) fn position_for(
        &self,
        ws: WorkspaceId,
        status: TaskStatus,
        place: &Place,
        moving: Option<TaskId>,
    ) -> Result<String, StoreError> {
        let key = self.key_between_neighbours(ws, status, place, moving)?;
        if key.len() <= MAX_KEY_LEN {
            return Ok(key);
        }
        self.respace(ws, status, moving)?;
        self.key_between_neighbours(ws, status, place, moving)
    }

    /// Gives every task of a column but `moving` a fresh, short, evenly spaced key, in the same order.
    fn respace(
        &self,
        ws: WorkspaceId,
        status: TaskStatus,
        moving: Option<TaskId>,
    ) -> Result<(), StoreError> {
        let column: Vec<Task> = self
            .column(ws, status, None, usize::MAX)?
            .into_iter()
            .filter(|t| Some(t.id) != moving)
            .collect();
        for (old, key) in column.iter().zip(spaced(column.len())) {
            let mut new = old.clone();
            new.position = key;
            self.write_task(Some(old), &new)?;
            self.changed(super::Change::Task {
                task: std::sync::Arc::new(new),
                removed: false,
            });
        }
        Ok(())
    }

    /// The first key of the column above `pos` (past any run of keys equal to it), skipping `moving`.
    fn first_key_above(
        &self,
        ws: WorkspaceId,
        status: TaskStatus,
        pos: &str,
        moving: Option<TaskId>,
    ) -> Result<Option<String>, StoreError> {
        let prefix = column_prefix(ws, status);
        let mut start = prefix.clone();
        start.extend_from_slice(pos.as_bytes());
        // Keys equal to `pos` continue with the 0 separator; every greater key sorts at or after 1.
        start.push(1);
        for k in self.task_order.range(start..).keys() {
            let k = k?;
            if !k.starts_with(&prefix) {
                break;
            }
            if tail_id(&k) != moving {
                return Ok(Some(position_of(&k, prefix.len())));
            }
        }
        Ok(None)
    }

    fn key_between_neighbours(
        &self,
        ws: WorkspaceId,
        status: TaskStatus,
        place: &Place,
        moving: Option<TaskId>,
    ) -> Result<String, StoreError> {
        let prefix = column_prefix(ws, status);
        let neighbour = |id: TaskId| -> Result<Option<String>, StoreError> {
            Ok(self
                .task(id)?
                .filter(|t| t.workspace_id == ws && t.status == status && !t.archived)
                .filter(|t| Some(t.id) != moving)
                .map(|t| t.position))
        };
        // The first key in the column after (or before) `pos`, skipping the moving task.
        let next_after = |pos: &str, id: TaskId| -> Result<Option<String>, StoreError> {
            let mut start = order_key(ws, status, pos, id);
            start.push(0);
            for k in self.task_order.range(start..).keys() {
                let k = k?;
                if !k.starts_with(&prefix) {
                    break;
                }
                if tail_id(&k) != moving {
                    return Ok(Some(position_of(&k, prefix.len())));
                }
            }
            Ok(None)
        };
        let prev_before = |pos: &str, id: TaskId| -> Result<Option<String>, StoreError> {
            let end = order_key(ws, status, pos, id);
            for k in self.task_order.range(prefix.clone()..end).keys().rev() {
                let k = k?;
                if tail_id(&k) != moving {
                    return Ok(Some(position_of(&k, prefix.len())));
                }
            }
            Ok(None)
        };
        let edge = |first: bool| -> Result<Option<String>, StoreError> {
            let iter: Box<dyn Iterator<Item = _>> = if first {
                Box::new(self.task_order.scan_prefix(&prefix).keys())
            } else {
                Box::new(self.task_order.scan_prefix(&prefix).keys().rev())
            };
            for k in iter {
                let k = k?;
                if tail_id(&k) != moving {
                    return Ok(Some(position_of(&k, prefix.len())));
                }
            }
            Ok(None)
        };
        let (lower, upper) = match place {
            Place::Top => (None, edge(true)?),
            Place::Bottom => (edge(false)?, None),
            Place::Near { after, before } => {
                let after = match after {
                    Some(id) => neighbour(*id)?.map(|p| (p, *id)),
                    None => None,
                };
                let before = match before {
                    Some(id) => neighbour(*id)?.map(|p| (p, *id)),
                    None => None,
                };
                match (after, before) {
                    (Some((p, id)), _) => {
                        let upper = next_after(&p, id)?;
                        (Some(p), upper)
                    }
                    (None, Some((p, id))) => (prev_before(&p, id)?, Some(p)),
                    (None, None) => (edge(false)?, None),
                }
            }
        };
        let upper = match (&lower, upper) {
            // Neighbours sharing a key (a restored or imported task): go past the run of equal keys.
            (Some(l), Some(u)) if *l >= u => self.first_key_above(ws, status, l, moving)?,
            (_, upper) => upper,
        };
        between(lower.as_deref(), upper.as_deref())
            .map_err(|e| StoreError::Invalid(format!("position: {e}")))
    }

    /// Writes `new` and its index entries, replacing `old`'s (under the lock the caller holds).
    pub(super) fn write_task(&self, old: Option<&Task>, new: &Task) -> Result<(), StoreError> {
        if let Some(old) = old {
            let key = order_key(old.workspace_id, old.status, &old.position, old.id);
            if self.task_order.remove(key)?.is_some() {
                self.count(old.workspace_id, old.status, -1)?;
            }
            self.task_archive
                .remove(archive_key(old.workspace_id, old.id))?;
            if let Some(parent) = old.parent
                && self
                    .task_children
                    .remove(pair_key(parent, old.id))?
                    .is_some()
            {
                self.bump(&self.child_counts, parent.bytes(), -1)?;
            }
        }
        if new.archived {
            self.task_archive
                .insert(archive_key(new.workspace_id, new.id), [])?;
        } else {
            self.task_order.insert(
                order_key(new.workspace_id, new.status, &new.position, new.id),
                [],
            )?;
            self.count(new.workspace_id, new.status, 1)?;
        }
        if let Some(parent) = new.parent
            && self
                .task_children
                .replace(pair_key(parent, new.id), [])?
                .is_none()
        {
            self.bump(&self.child_counts, parent.bytes(), 1)?;
        }
        self.task_numbers.insert(
            number_key(new.workspace_id, new.number),
            new.id.bytes().as_slice(),
        )?;
        self.tasks.insert(new.id.bytes(), encode(new))?;
        Ok(())
    }

    /// Removes a task, its indexes, comments and activity (under the lock the caller holds).
    pub(super) fn remove_task_records(&self, id: TaskId) -> Result<(), StoreError> {
        let Some(task) = self.task(id)? else {
            return Ok(());
        };
        let key = order_key(task.workspace_id, task.status, &task.position, id);
        if self.task_order.remove(key)?.is_some() {
            self.count(task.workspace_id, task.status, -1)?;
        }
        self.task_archive
            .remove(archive_key(task.workspace_id, id))?;
        self.task_numbers
            .remove(number_key(task.workspace_id, task.number))?;
        if let Some(parent) = task.parent
            && self.task_children.remove(pair_key(parent, id))?.is_some()
        {
            self.bump(&self.child_counts, parent.bytes(), -1)?;
        }
        self.child_counts.remove(id.bytes())?;
        for tree in [
            &self.task_children,
            &self.task_comments,
            &self.task_activity,
            &self.task_attachments,
            &self.task_files,
        ] {
            for key in tree.scan_prefix(id.bytes()).keys() {
                tree.remove(key?)?;
            }
        }
        self.tasks.remove(id.bytes())?;
        Ok(())
    }
}

pub(super) fn column_prefix(ws: WorkspaceId, status: TaskStatus) -> Vec<u8> {
    let mut k = ws.bytes().to_vec();
    k.push(status.byte());
    k
}

pub(super) fn order_key(
    ws: WorkspaceId,
    status: TaskStatus,
    position: &str,
    id: TaskId,
) -> Vec<u8> {
    let mut k = column_prefix(ws, status);
    k.extend_from_slice(position.as_bytes());
    k.push(0);
    k.extend_from_slice(id.bytes());
    k
}

pub(super) fn position_of(order_key: &[u8], prefix_len: usize) -> String {
    // A key too short to hold a position (never written by this store) reads as an empty one.
    let body = order_key
        .get(prefix_len..order_key.len().saturating_sub(17))
        .unwrap_or_default();
    String::from_utf8_lossy(body).into_owned()
}

pub(super) fn archive_key(ws: WorkspaceId, id: TaskId) -> Vec<u8> {
    let mut k = ws.bytes().to_vec();
    k.extend_from_slice(id.bytes());
    k
}

pub(super) fn pair_key(parent: TaskId, child: TaskId) -> Vec<u8> {
    let mut k = parent.bytes().to_vec();
    k.extend_from_slice(child.bytes());
    k
}

pub(super) fn number_key(ws: WorkspaceId, number: u64) -> Vec<u8> {
    let mut k = ws.bytes().to_vec();
    k.extend_from_slice(&number.to_be_bytes());
    k
}

/// A big-endian counter (0 when absent or malformed).
pub(super) fn read_counter(tree: &Tree, key: &[u8]) -> Result<usize, KvError> {
    Ok(tree
        .get(key)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map_or(0, |b| {
            usize::try_from(u64::from_be_bytes(b)).unwrap_or(usize::MAX)
        }))
}

/// The task id in the last 16 bytes of an index key.
pub(super) fn tail_id(key: &[u8]) -> Option<TaskId> {
    let tail = key.get(key.len().checked_sub(16)?..)?;
    uuid::Uuid::from_slice(tail).ok().map(TaskId)
}

//! Tasks and the board's order. `tasks` holds id → [`Task`]. Three indexes make the board and keys cheap:
//! `task_order` (workspace ‖ status byte ‖ position key ‖ 0 ‖ task id → ∅) lists a column in order, a page
//! at a time; `task_archive` (workspace ‖ task id → ∅) holds archived tasks, off the board;
//! `task_numbers` (workspace ‖ big-endian number → task id) resolves `WEB-42`; `task_children` (parent ‖
//! child → ∅) counts subtasks; `column_counts` (workspace ‖ status byte → big-endian count) sizes columns and `child_counts` (parent →
//! count) counts subtasks, each in one read.
//!
//! Position keys come from `ops::rank`: main computes a moved task's key from its new neighbours' keys under
//! the store's lock, so two people moving at once both land where they asked, in some order, and no other
//! task is renumbered.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::projects::ProjectId;
use super::workspaces::{TaskStatus, WorkspaceId, uuid_id};
use super::{Change, Store, StoreError, UserId, decode, encode, now_ms};

uuid_id!(
    /// A task id (UUIDv7).
    TaskId
);

/// How urgent a task is.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Not set.
    #[default]
    None,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Urgent.
    Urgent,
}

/// A stored task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Task {
    /// Id.
    pub id: TaskId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its project, if any.
    #[ts(optional)]
    pub project_id: Option<ProjectId>,
    /// The number in its key (`WEB-42` → 42).
    pub number: u64,
    /// Title.
    pub title: String,
    /// Description, Markdown.
    pub description: String,
    /// Status category.
    pub status: TaskStatus,
    /// Priority.
    pub priority: Priority,
    /// Assigned users.
    #[ts(type = "string[]")]
    pub assignees: Vec<UserId>,
    /// Labels.
    pub labels: Vec<String>,
    /// The parent task, for a subtask.
    #[ts(optional)]
    pub parent: Option<TaskId>,
    /// Due date, `YYYY-MM-DD`.
    #[ts(optional)]
    pub due: Option<String>,
    /// Position key within its status column (ordered as bytes).
    pub position: String,
    /// Who created it (`None` for imported tasks whose creator had no account).
    #[ts(optional, type = "string")]
    pub created_by: Option<UserId>,
    /// When, ms since epoch.
    pub created_at: u64,
    /// Last change, ms since epoch.
    pub updated_at: u64,
    /// Off the board (kept, searchable, restorable).
    pub archived: bool,
    /// When set, only these members (and the workspace's admins) see the task.
    #[ts(optional, type = "string[]")]
    pub restricted_to: Option<Vec<UserId>>,
    /// Bumped by every change; an edit naming an older version is refused.
    pub version: u64,
}

impl Task {
    /// Whether `user` (with admin rights in the workspace or not) may see the task.
    pub fn visible_to(&self, user: UserId, ws_admin: bool) -> bool {
        ws_admin
            || self
                .restricted_to
                .as_ref()
                .is_none_or(|allowed| allowed.contains(&user) || self.created_by == Some(user))
    }
}

/// Where a new or moved task goes in its column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// First.
    Top,
    /// Last.
    Bottom,
    /// Right after `after` (when it is still in the column), else right before `before`, else last.
    Near {
        /// The task it should follow.
        after: Option<TaskId>,
        /// The task it should precede.
        before: Option<TaskId>,
    },
}

/// One end of a column page: the position and id of the last task seen.
pub type Cursor = (String, TaskId);

impl Store {
    /// A task by id.
    pub fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        self.tasks
            .get(id.bytes())?
            .map(|v| decode("tasks", &v))
            .transpose()
    }

    /// Task `number` of a workspace.
    pub fn task_by_number(&self, ws: WorkspaceId, number: u64) -> Result<Option<Task>, StoreError> {
        match self.task_numbers.get(number_key(ws, number))? {
            Some(id) => match uuid::Uuid::from_slice(&id) {
                Ok(id) => self.task(TaskId(id)),
                Err(_) => Ok(None),
            },
            None => Ok(None),
        }
    }

    /// Creates a task from `draft` (its number, position, version and times are set here) at `place`.
    pub fn create_task(&self, mut draft: Task, place: Place) -> Result<Task, StoreError> {
        let _guard = self.lock();
        let mut ws = self
            .workspace(draft.workspace_id)?
            .ok_or_else(|| StoreError::NotFound(format!("workspace {}", draft.workspace_id)))?;
        draft.number = self.take_task_number(&mut ws)?;
        draft.position = self.position_for(draft.workspace_id, draft.status, &place, None)?;
        let now = now_ms();
        draft.created_at = now;
        draft.updated_at = now;
        draft.version = 1;
        self.write_task(None, &draft)?;
        self.durable()?;
        self.announce_task(&draft, false);
        Ok(draft)
    }

    /// Stores tasks as they are (an import: numbers, positions and times kept), without a flush per task;
    /// one flush at the end. The caller has made numbers unique and advanced the workspace's counter.
    pub fn insert_tasks(&self, tasks: &[Task]) -> Result<(), StoreError> {
        let _guard = self.lock();
        for task in tasks {
            if self
                .task_numbers
                .contains_key(number_key(task.workspace_id, task.number))?
            {
                return Err(StoreError::Conflict(format!(
                    "task number {} in workspace {}",
                    task.number, task.workspace_id
                )));
            }
            self.write_task(None, task)?;
        }
        self.durable()?;
        for task in tasks {
            self.announce_task(task, false);
        }
        Ok(())
    }

    /// Changes a task under the store's lock. `expected` is the version the editor saw: when the task has
    /// moved on, `change` is not called and the current task is returned as [`StoreError::Stale`]. `change`
    /// may refuse. Returns the task before and after.
    pub fn update_task<E: From<StoreError>>(
        &self,
        id: TaskId,
        expected: Option<u64>,
        change: impl FnOnce(&mut Task) -> Result<(), E>,
    ) -> Result<(Task, Task), E> {
        let _guard = self.lock();
        let old = self
            .task(id)?
            .ok_or_else(|| StoreError::NotFound(format!("task {id}")))?;
        if let Some(v) = expected
            && v != old.version
        {
            return Err(StoreError::Stale(Box::new(old)).into());
        }
        let mut new = old.clone();
        change(&mut new)?;
        new.id = old.id;
        new.workspace_id = old.workspace_id;
        new.number = old.number;
        if new.status != old.status && new.position == old.position {
            // A status change without a place goes to the top of its new column.
            new.position = self.position_for(new.workspace_id, new.status, &Place::Top, None)?;
        }
        new.version = old.version + 1;
        new.updated_at = now_ms();
        self.write_task(Some(&old), &new)?;
        self.durable().map_err(StoreError::from)?;
        self.announce_task(&new, false);
        if old.parent != new.parent {
            // The former parent's subtask count changed too.
            self.announce_parent(old.parent);
        }
        Ok((old, new))
    }

    /// Moves a task to `status` at `place`. Never stale: a move states where, not what it saw.
    pub fn move_task(
        &self,
        id: TaskId,
        status: TaskStatus,
        place: &Place,
    ) -> Result<(Task, Task), StoreError> {
        let _guard = self.lock();
        let old = self
            .task(id)?
            .ok_or_else(|| StoreError::NotFound(format!("task {id}")))?;
        let mut new = old.clone();
        new.status = status;
        new.position = self.position_for(old.workspace_id, status, place, Some(id))?;
        new.version = old.version + 1;
        new.updated_at = now_ms();
        self.write_task(Some(&old), &new)?;
        self.durable()?;
        self.announce_task(&new, false);
        Ok((old, new))
    }

    /// Deletes a task with its comments and activity; its subtasks lose their parent.
    pub fn delete_task(&self, id: TaskId) -> Result<Task, StoreError> {
        let _guard = self.lock();
        let task = self
            .task(id)?
            .ok_or_else(|| StoreError::NotFound(format!("task {id}")))?;
        let children: Vec<TaskId> = self
            .task_children
            .scan_prefix(id.bytes())
            .keys()
            .filter_map(|k| k.ok().and_then(|k| tail_id(&k)))
            .collect();
        for child in children {
            if let Some(old) = self.task(child)? {
                let mut new = old.clone();
                new.parent = None;
                new.version += 1;
                self.write_task(Some(&old), &new)?;
                self.announce_task(&new, false);
            }
        }
        self.remove_task_records(id)?;
        self.durable()?;
        self.announce_task(&task, true);
        Ok(task)
    }

    /// One page of a status column, in order, after `cursor`.
    pub fn column(
        &self,
        ws: WorkspaceId,
        status: TaskStatus,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<Task>, StoreError> {
        let prefix = column_prefix(ws, status);
        let start = match cursor {
            // Just past the cursor's own key.
            Some((pos, id)) => {
                let mut k = order_key(ws, status, pos, *id);
                k.push(0);
                k
            }
            None => prefix.clone(),
        };
        let mut out = Vec::with_capacity(limit.min(1024));
        for key in self.task_order.range(start..).keys() {
            let key = key?;
            if !key.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            if let Some(task) = tail_id(&key).map(|id| self.task(id)).transpose()?.flatten() {
                out.push(task);
            }
        }
        Ok(out)
    }

    /// How many tasks a status column holds (not archived): a counter kept with the order index, so a
    /// board of any size answers it in one read.
    pub fn column_len(&self, ws: WorkspaceId, status: TaskStatus) -> usize {
        read_counter(&self.column_counts, &column_prefix(ws, status))
    }

    /// Adds `delta` to the counter at `key` of `tree` (under the lock the caller holds).
    fn bump(&self, tree: &sled::Tree, key: &[u8], delta: i64) -> Result<(), StoreError> {
        let n = read_counter(tree, key) as i64 + delta;
        if n <= 0 {
            tree.remove(key)?;
        } else {
            tree.insert(key, &(n as u64).to_be_bytes())?;
        }
        Ok(())
    }

    fn count(&self, ws: WorkspaceId, status: TaskStatus, delta: i64) -> Result<(), StoreError> {
        self.bump(&self.column_counts, &column_prefix(ws, status), delta)
    }

    /// A workspace's archived tasks.
    pub fn archived_tasks(&self, ws: WorkspaceId) -> Result<Vec<Task>, StoreError> {
        let mut out = Vec::new();
        for key in self.task_archive.scan_prefix(ws.bytes()).keys() {
            if let Some(task) = tail_id(&key?)
                .map(|id| self.task(id))
                .transpose()?
                .flatten()
            {
                out.push(task);
            }
        }
        Ok(out)
    }

    /// Ids of every task of a workspace, on the board (in board order) and archived.
    pub fn task_ids_of(&self, ws: WorkspaceId) -> Result<Vec<TaskId>, StoreError> {
        let mut out = Vec::new();
        for key in self.task_order.scan_prefix(ws.bytes()).keys() {
            out.extend(tail_id(&key?));
        }
        for key in self.task_archive.scan_prefix(ws.bytes()).keys() {
            out.extend(tail_id(&key?));
        }
        Ok(out)
    }

    /// How many subtasks a task has (a counter kept with `task_children`: one read).
    pub fn subtask_count(&self, id: TaskId) -> usize {
        read_counter(&self.child_counts, id.bytes())
    }

    /// A task's subtasks.
    pub fn subtasks(&self, id: TaskId) -> Result<Vec<Task>, StoreError> {
        let mut out = Vec::new();
        for key in self.task_children.scan_prefix(id.bytes()).keys() {
            if let Some(task) = tail_id(&key?)
                .map(|id| self.task(id))
                .transpose()?
                .flatten()
            {
                out.push(task);
            }
        }
        Ok(out)
    }

    /// The position key for a task placed at `place` in a column (`moving` is skipped as a neighbour).
    fn position_for(
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
        super::rank::between(lower.as_deref(), upper.as_deref())
            .map_err(|e| StoreError::Invalid(format!("position: {e}")))
    }

    /// Writes `new` and its index entries, replacing `old`'s (under the lock the caller holds).
    fn write_task(&self, old: Option<&Task>, new: &Task) -> Result<(), StoreError> {
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
                .insert(archive_key(new.workspace_id, new.id), &[])?;
        } else {
            self.task_order.insert(
                order_key(new.workspace_id, new.status, &new.position, new.id),
                &[],
            )?;
            self.count(new.workspace_id, new.status, 1)?;
        }
        if let Some(parent) = new.parent
            && self
                .task_children
                .insert(pair_key(parent, new.id), &[])?
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
        ] {
            for key in tree.scan_prefix(id.bytes()).keys() {
                tree.remove(key?)?;
            }
        }
        self.tasks.remove(id.bytes())?;
        Ok(())
    }

    /// Announces a task's change, and its parent's (whose subtask count a new, deleted or re-parented
    /// subtask changes; an extra frame for an edit that did not is harmless).
    fn announce_task(&self, task: &Task, removed: bool) {
        self.changed(Change::Task {
            task: Arc::new(task.clone()),
            removed,
        });
        self.announce_parent(task.parent);
    }

    fn announce_parent(&self, parent: Option<TaskId>) {
        if let Some(parent) = parent.and_then(|p| self.task(p).ok().flatten()) {
            self.changed(Change::Task {
                task: Arc::new(parent),
                removed: false,
            });
        }
    }
}

fn column_prefix(ws: WorkspaceId, status: TaskStatus) -> Vec<u8> {
    let mut k = ws.bytes().to_vec();
    k.push(status.byte());
    k
}

fn order_key(ws: WorkspaceId, status: TaskStatus, position: &str, id: TaskId) -> Vec<u8> {
    let mut k = column_prefix(ws, status);
    k.extend_from_slice(position.as_bytes());
    k.push(0);
    k.extend_from_slice(id.bytes());
    k
}

fn position_of(order_key: &[u8], prefix_len: usize) -> String {
    let body = &order_key[prefix_len..order_key.len().saturating_sub(17)];
    String::from_utf8_lossy(body).into_owned()
}

fn archive_key(ws: WorkspaceId, id: TaskId) -> Vec<u8> {
    let mut k = ws.bytes().to_vec();
    k.extend_from_slice(id.bytes());
    k
}

fn pair_key(parent: TaskId, child: TaskId) -> Vec<u8> {
    let mut k = parent.bytes().to_vec();
    k.extend_from_slice(child.bytes());
    k
}

fn number_key(ws: WorkspaceId, number: u64) -> Vec<u8> {
    let mut k = ws.bytes().to_vec();
    k.extend_from_slice(&number.to_be_bytes());
    k
}

/// A big-endian counter (0 when absent or malformed).
fn read_counter(tree: &sled::Tree, key: &[u8]) -> usize {
    tree.get(key)
        .ok()
        .flatten()
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, |b| {
            usize::try_from(u64::from_be_bytes(b)).unwrap_or(usize::MAX)
        })
}

/// The task id in the last 16 bytes of an index key.
fn tail_id(key: &[u8]) -> Option<TaskId> {
    let tail = key.get(key.len().checked_sub(16)?..)?;
    uuid::Uuid::from_slice(tail).ok().map(TaskId)
}

#[cfg(test)]
#[path = "tasks_tests.rs"]
mod tests;

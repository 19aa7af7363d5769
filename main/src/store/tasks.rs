//! Tasks and the board's order. `tasks` holds id → [`Task`]. Indexes make the board and keys cheap:
//! `task_order` (workspace ‖ status byte ‖ position key ‖ 0 ‖ task id → ∅) lists a column in order, a page
//! at a time; `task_archive` (workspace ‖ task id → ∅) holds archived tasks, off the board; `task_numbers`
//! (workspace ‖ big-endian number → task id) resolves `WEB-42`; `task_children` (parent ‖ child → ∅) lists
//! subtasks; `column_counts` (workspace ‖ status byte → count) and `child_counts` (parent → count) size a
//! column and count subtasks in one read. [`super::task_index`] keeps them.
//!
//! Position keys come from [`super::rank`]: main computes a moved task's key from its new neighbours' keys
//! under the store's lock, so two people moving at once both land where they asked, in some order, and no
//! other task is renumbered.

use std::sync::Arc;

pub use super::task::{Cursor, Place, Priority, Task, TaskId};
use super::task_index::{column_prefix, number_key, order_key, read_counter, tail_id};
use super::workspaces::{TaskStatus, WorkspaceId};
use super::{Change, Store, StoreError, decode, now_ms};

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
        self.atomic(|| {
            let mut ws = self
                .workspace(draft.workspace_id)?
                .ok_or_else(|| StoreError::NotFound(format!("workspace {}", draft.workspace_id)))?;
            draft.number = self.take_task_number(&mut ws)?;
            // An import may have used numbers above the counter; never give one twice.
            while self
                .task_numbers
                .contains_key(number_key(draft.workspace_id, draft.number))?
            {
                draft.number = self.take_task_number(&mut ws)?;
            }
            draft.position = self.position_for(draft.workspace_id, draft.status, &place, None)?;
            let now = now_ms();
            draft.created_at = now;
            draft.updated_at = now;
            draft.version = 1;
            self.write_task(None, &draft)?;
            self.durable()?;
            self.announce_task(&draft, false);
            Ok(draft.clone())
        })
    }

    /// Stores tasks as they are (an import: numbers, positions and times kept), without a flush per task;
    /// one flush at the end. The caller has made numbers unique and advanced the workspace's counter.
    pub fn insert_tasks(&self, tasks: &[Task]) -> Result<(), StoreError> {
        self.atomic(|| {
            // Every number is checked before anything is written, so a clash writes nothing.
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
            }
            for task in tasks {
                self.write_task(None, task)?;
            }
            self.durable()?;
            for task in tasks {
                self.announce_task(task, false);
            }
            Ok(())
        })
    }

    /// Changes a task under the store's lock. `expected` is the version the editor saw: when the task has
    /// moved on, `change` is not called and the current task is returned as [`StoreError::Stale`]. `change`
    /// may refuse. Returns the task before and after.
    pub fn update_task<E: From<StoreError>>(
        &self,
        id: TaskId,
        expected: Option<u64>,
        mut change: impl FnMut(&mut Task) -> Result<(), E>,
    ) -> Result<(Task, Task), E> {
        self.atomic(|| {
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
            if old.archived && !new.archived {
                // A restored task goes to the top: its old key may have been given to another task since.
                new.position =
                    self.position_for(new.workspace_id, new.status, &Place::Top, Some(id))?;
            } else if new.status != old.status && new.position == old.position {
                // A status change without a place goes to the top of its new column.
                new.position =
                    self.position_for(new.workspace_id, new.status, &Place::Top, None)?;
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
        })
    }

    /// Moves a task to `status` at `place`. Never stale: a move states where, not what it saw.
    pub fn move_task(
        &self,
        id: TaskId,
        status: TaskStatus,
        place: &Place,
    ) -> Result<(Task, Task), StoreError> {
        self.atomic(|| {
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
        })
    }

    /// Deletes a task with its comments and activity; its subtasks lose their parent.
    pub fn delete_task(&self, id: TaskId) -> Result<Task, StoreError> {
        self.atomic(|| {
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
        })
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
        // The page's keys in one read, then its tasks in one read (two round trips on PostgreSQL).
        let ids: Vec<Vec<u8>> = self
            .task_order
            .page_from(&start, &prefix, limit)?
            .into_iter()
            .filter_map(|(k, _)| tail_id(&k).map(|id| id.bytes().to_vec()))
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for task in self.tasks.get_many(&ids)?.into_iter().flatten() {
            out.push(decode("tasks", &task)?);
        }
        Ok(out)
    }

    /// How many subtasks each task has, in one read.
    pub fn subtask_counts(&self, ids: &[TaskId]) -> Result<Vec<usize>, StoreError> {
        let keys: Vec<Vec<u8>> = ids.iter().map(|id| id.bytes().to_vec()).collect();
        Ok(self
            .child_counts
            .get_many(&keys)?
            .into_iter()
            .map(|v| {
                v.and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                    .map_or(0, |b| {
                        usize::try_from(u64::from_be_bytes(b)).unwrap_or(usize::MAX)
                    })
            })
            .collect())
    }

    /// How many tasks a status column holds (not archived): a counter kept with the order index, so a
    /// board of any size answers it in one read.
    pub fn column_len(&self, ws: WorkspaceId, status: TaskStatus) -> usize {
        read_counter(&self.column_counts, &column_prefix(ws, status)).unwrap_or(0)
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
        read_counter(&self.child_counts, id.bytes()).unwrap_or(0)
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

#[cfg(test)]
#[path = "tasks_tests.rs"]
mod tests;

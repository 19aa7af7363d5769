//! What is said and done about a task: comments (`task_comments`: task ‖ comment id → [`Comment`]) and the
//! activity log (`task_activity`: task ‖ big-endian seq → [`Activity`]), both in time order.

use serde::{Deserialize, Serialize};

use super::tasks::TaskId;
use super::workspaces::{TaskStatus, WorkspaceId, uuid_id};
use super::{Change, Store, StoreError, UserId, decode, encode, now_ms};

uuid_id!(
    /// A comment id (UUIDv7, so ids sort by time).
    CommentId
);

uuid_id!(
    /// An attachment id (UUIDv7).
    AttachmentId
);

/// A file attached to a task (its bytes are stored beside it, in `task_files`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Attachment {
    /// Id.
    pub id: AttachmentId,
    /// The task.
    pub task_id: TaskId,
    /// File name (no directories).
    pub filename: String,
    /// MIME type (`application/octet-stream` when unknown).
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// When, ms since epoch.
    pub created_at: u64,
}

/// A comment on a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Comment {
    /// Id.
    pub id: CommentId,
    /// The task.
    pub task_id: TaskId,
    /// Who wrote it (`None`: imported from someone without an account here).
    #[ts(optional, type = "string")]
    pub author: Option<UserId>,
    /// The author's name when they have no account here (imports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub author_name: Option<String>,
    /// Markdown.
    pub body: String,
    /// Members named with `@name` in the body.
    #[ts(type = "string[]")]
    pub mentions: Vec<UserId>,
    /// When, ms since epoch.
    pub created_at: u64,
    /// Last edit, ms since epoch.
    #[ts(optional)]
    pub edited_at: Option<u64>,
}

/// One entry of a task's activity log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Activity {
    /// Order within the task.
    pub seq: u64,
    /// The task.
    pub task_id: TaskId,
    /// When, ms since epoch.
    pub at: u64,
    /// Who (`None`: main itself, or an import).
    #[ts(optional, type = "string")]
    pub actor: Option<UserId>,
    /// What happened.
    pub kind: ActivityKind,
}

/// What an activity entry records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActivityKind {
    /// The task was created.
    Created,
    /// It changed status.
    Moved {
        /// From.
        from: TaskStatus,
        /// To.
        to: TaskStatus,
    },
    /// People were assigned or unassigned.
    Assigned {
        /// Newly assigned.
        #[ts(type = "string[]")]
        added: Vec<UserId>,
        /// No longer assigned.
        #[ts(type = "string[]")]
        removed: Vec<UserId>,
    },
    /// Fields were edited.
    Edited {
        /// Which (`title`, `description`, `priority`…).
        fields: Vec<String>,
    },
    /// A comment was added.
    Commented {
        /// The comment.
        comment_id: CommentId,
    },
    /// It was archived or restored.
    Archived {
        /// Archived (true) or restored.
        archived: bool,
    },
    /// A note from an import: what the source said that has no field here (an attempt, an unmatched
    /// person).
    Imported {
        /// What was imported from.
        source: String,
        /// What it said.
        note: String,
    },
}

impl Store {
    /// A task's comments, oldest first.
    pub fn comments(&self, task: TaskId) -> Result<Vec<Comment>, StoreError> {
        self.task_comments
            .scan_prefix(task.bytes())
            .values()
            .map(|v| decode("task_comments", &v?))
            .collect()
    }

    /// A comment.
    pub fn comment(&self, task: TaskId, id: CommentId) -> Result<Option<Comment>, StoreError> {
        self.task_comments
            .get(comment_key(task, id))?
            .map(|v| decode("task_comments", &v))
            .transpose()
    }

    /// Stores a comment (new or edited); `flush` makes it durable now (an import flushes once at the end).
    pub fn put_comment(
        &self,
        ws: WorkspaceId,
        comment: &Comment,
        flush: bool,
    ) -> Result<(), StoreError> {
        self.task_comments
            .insert(comment_key(comment.task_id, comment.id), encode(comment))?;
        if flush {
            self.durable()?;
            self.changed(Change::TaskNotes {
                workspace_id: ws,
                task_id: comment.task_id,
            });
        }
        Ok(())
    }

    /// Changes an existing comment under the store's lock; `change` may refuse. A comment deleted meanwhile
    /// is "not found", never written back.
    pub fn update_comment<E: From<StoreError>>(
        &self,
        ws: WorkspaceId,
        task: TaskId,
        id: CommentId,
        mut change: impl FnMut(&mut Comment) -> Result<(), E>,
    ) -> Result<Comment, E> {
        self.atomic(|| {
            let mut comment = self
                .comment(task, id)?
                .ok_or_else(|| StoreError::NotFound(format!("comment {id}")))?;
            change(&mut comment)?;
            self.task_comments
                .insert(comment_key(task, id), encode(&comment))
                .map_err(StoreError::from)?;
            self.durable().map_err(StoreError::from)?;
            self.changed(Change::TaskNotes {
                workspace_id: ws,
                task_id: task,
            });
            Ok(comment)
        })
    }

    /// Deletes a comment.
    pub fn delete_comment(
        &self,
        ws: WorkspaceId,
        task: TaskId,
        id: CommentId,
    ) -> Result<(), StoreError> {
        self.atomic(|| {
            self.task_comments
                .remove(comment_key(task, id))?
                .ok_or_else(|| StoreError::NotFound(format!("comment {id}")))?;
            self.durable()?;
            self.changed(Change::TaskNotes {
                workspace_id: ws,
                task_id: task,
            });
            Ok(())
        })
    }

    /// A task's activity, oldest first.
    pub fn activity(&self, task: TaskId) -> Result<Vec<Activity>, StoreError> {
        self.task_activity
            .scan_prefix(task.bytes())
            .values()
            .map(|v| decode("task_activity", &v?))
            .collect()
    }

    /// Appends activity entries to a task's log (`at`: their time, `None` for now); `flush` as in
    /// [`Store::put_comment`].
    pub fn append_activity(
        &self,
        ws: WorkspaceId,
        task: TaskId,
        actor: Option<UserId>,
        kinds: Vec<(Option<u64>, ActivityKind)>,
        flush: bool,
    ) -> Result<(), StoreError> {
        if kinds.is_empty() {
            return Ok(());
        }
        for (at, kind) in kinds {
            let seq = self.kv.next_id()?;
            let entry = Activity {
                seq,
                task_id: task,
                at: at.unwrap_or_else(now_ms),
                actor,
                kind,
            };
            let mut key = task.bytes().to_vec();
            key.extend_from_slice(&seq.to_be_bytes());
            self.task_activity.insert(key, encode(&entry))?;
        }
        if flush {
            self.durable()?;
            self.changed(Change::TaskNotes {
                workspace_id: ws,
                task_id: task,
            });
        }
        Ok(())
    }

    /// A task's attachments, oldest first.
    pub fn attachments(&self, task: TaskId) -> Result<Vec<Attachment>, StoreError> {
        self.task_attachments
            .scan_prefix(task.bytes())
            .values()
            .map(|v| decode("task_attachments", &v?))
            .collect()
    }

    /// An attachment's bytes.
    pub fn attachment_bytes(
        &self,
        task: TaskId,
        id: AttachmentId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut key = task.bytes().to_vec();
        key.extend_from_slice(id.bytes());
        Ok(self.task_files.get(key)?.map(|v| v.to_vec()))
    }

    /// Stores an attachment with its bytes (flushed with the import that brings it).
    pub fn put_attachment(&self, a: &Attachment, bytes: &[u8]) -> Result<(), StoreError> {
        let mut key = a.task_id.bytes().to_vec();
        key.extend_from_slice(a.id.bytes());
        self.task_files.insert(&key, bytes)?;
        self.task_attachments.insert(key, encode(a))?;
        Ok(())
    }
}

fn comment_key(task: TaskId, id: CommentId) -> Vec<u8> {
    let mut k = task.bytes().to_vec();
    k.extend_from_slice(id.bytes());
    k
}

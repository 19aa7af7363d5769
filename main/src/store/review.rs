//! Review comments on a run's changes: `run_comments` holds run id ‖ comment id → [`ReviewComment`]. A
//! comment quotes the line it is about, so it can be marked outdated when that line changes, and records
//! when it was sent to the run's agent.

use serde::{Deserialize, Serialize};

use super::workspaces::uuid_id;
use super::{Change, RunId, Store, StoreError, UserId, decode, encode};

uuid_id!(
    /// A review comment id (UUIDv7, so a run's comments sort by time).
    ReviewCommentId
);

/// Which side of a diff a comment's line number counts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum DiffSide {
    /// The run's version (added and context lines).
    #[default]
    New,
    /// The merge base's version (removed lines).
    Old,
}

/// A line comment on a run's diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ReviewComment {
    /// Id.
    pub id: ReviewCommentId,
    /// The run.
    pub run_id: RunId,
    /// Who wrote it.
    #[ts(type = "string")]
    pub author: UserId,
    /// The file, relative to the work tree.
    pub path: String,
    /// The line number on `side`.
    pub line: u32,
    /// Which side `line` counts on.
    pub side: DiffSide,
    /// The line's text when the comment was written.
    pub code: String,
    /// Markdown.
    pub body: String,
    /// The line no longer reads `code` in the run's latest diff.
    pub outdated: bool,
    /// When it was sent to the agent, ms since the epoch.
    #[ts(type = "number | null")]
    pub sent_at: Option<u64>,
    /// Written, ms since the epoch.
    #[ts(type = "number")]
    pub created_at: u64,
    /// Last edited, ms since the epoch.
    #[ts(type = "number | null")]
    pub edited_at: Option<u64>,
}

fn key(run: RunId, id: ReviewCommentId) -> [u8; 32] {
    let mut k = [0; 32];
    k[..16].copy_from_slice(run.bytes());
    k[16..].copy_from_slice(id.bytes());
    k
}

impl Store {
    /// A run's review comments, oldest first.
    pub fn review_comments(&self, run: RunId) -> Result<Vec<ReviewComment>, StoreError> {
        self.run_comments
            .scan_prefix(run.bytes())
            .values()
            .map(|v| decode("run_comments", &v?))
            .collect()
    }

    /// One review comment.
    pub fn review_comment(
        &self,
        run: RunId,
        id: ReviewCommentId,
    ) -> Result<Option<ReviewComment>, StoreError> {
        self.run_comments
            .get(key(run, id))?
            .map(|v| decode("run_comments", &v))
            .transpose()
    }

    /// Writes a review comment (new or changed) and tells the run's watchers.
    pub fn put_review_comment(
        &self,
        c: &ReviewComment,
        workspace: super::WorkspaceId,
        task: super::TaskId,
    ) -> Result<(), StoreError> {
        self.run_comments.insert(key(c.run_id, c.id), encode(c))?;
        self.durable()?;
        self.changed(Change::ReviewComments {
            workspace_id: workspace,
            task_id: task,
            run_id: c.run_id,
        });
        Ok(())
    }

    /// Changes the comments of `run` under the store's lock (sending them, marking them outdated); returns
    /// them as they are after. `change` returns whether anything changed.
    pub fn update_review_comments<E: From<StoreError>>(
        &self,
        run: RunId,
        workspace: super::WorkspaceId,
        task: super::TaskId,
        mut change: impl FnMut(&mut Vec<ReviewComment>) -> Result<bool, E>,
    ) -> Result<Vec<ReviewComment>, E> {
        self.atomic(|| {
            let mut all = self.review_comments(run)?;
            if change(&mut all)? {
                for c in &all {
                    self.run_comments
                        .insert(key(c.run_id, c.id), encode(c))
                        .map_err(StoreError::from)?;
                }
                self.durable().map_err(StoreError::from)?;
                self.changed(Change::ReviewComments {
                    workspace_id: workspace,
                    task_id: task,
                    run_id: run,
                });
            }
            Ok(all)
        })
    }

    /// Deletes a review comment.
    pub fn delete_review_comment(
        &self,
        c: &ReviewComment,
        workspace: super::WorkspaceId,
        task: super::TaskId,
    ) -> Result<(), StoreError> {
        self.run_comments.remove(key(c.run_id, c.id))?;
        self.durable()?;
        self.changed(Change::ReviewComments {
            workspace_id: workspace,
            task_id: task,
            run_id: c.run_id,
        });
        Ok(())
    }
}

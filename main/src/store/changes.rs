//! The live feed of what changed in the store, for the browser's topics (`api::topics`): a session's
//! record, an approval requested or resolved, a node's record, a user. Sent after the write, from a bounded
//! broadcast channel that never blocks a writer; a follower that falls behind learns it (`Lagged`) and
//! refetches instead of missing a change.

use std::sync::Arc;

use tokio::sync::broadcast;
use uuid::Uuid;
use vibebridge_tunnel::ids::ApprovalId;
use vibebridge_tunnel::session::Resolution;

use super::{NodeRecord, Store, Task, TaskId, UserId, Workspace, WorkspaceId};

/// Changes the feed keeps for followers that are behind.
pub const CHANGES_FEED: usize = 1024;

/// What changed.
#[derive(Debug, Clone)]
pub enum Change {
    /// A session was created or removed, or its status, usage or pending approvals changed.
    Session {
        /// The session.
        id: Uuid,
        /// Its owner.
        owner: UserId,
        /// Its node.
        node_id: String,
    },
    /// An approval or question was requested or resolved.
    Approval {
        /// The approval.
        approval_id: ApprovalId,
        /// Its session.
        session_id: Uuid,
        /// The session's owner.
        owner: UserId,
        /// The session's node.
        node_id: String,
        /// Requested (`None`) or how it was resolved.
        resolved: Option<Resolution>,
    },
    /// A node was enrolled, seen, flagged, given members or revoked: its record then.
    Node(Arc<NodeRecord>),
    /// A user was created, approved, given a role, disabled, or set a profile.
    User(UserId),
    /// A workspace was created, renamed, reconfigured, given or lost members, or deleted.
    Workspace(Arc<WorkspaceChange>),
    /// A project of the workspace was created, changed or deleted.
    Project {
        /// Its workspace.
        workspace_id: WorkspaceId,
    },
    /// A task was created, edited, moved or (`removed`) deleted: its record then.
    Task {
        /// The task.
        task: Arc<Task>,
        /// Deleted.
        removed: bool,
    },
    /// A run was created or changed: its record then.
    Run(Arc<super::Run>),
    /// A run's review comments changed.
    ReviewComments {
        /// Its workspace.
        workspace_id: WorkspaceId,
        /// Its task.
        task_id: TaskId,
        /// The run.
        run_id: super::RunId,
    },
    /// A pull request opened from a run was created or changed: its record then.
    PullRequest(Arc<super::PullRequest>),
    /// A person's GitHub connection was made, changed (refreshed, needs reconnecting) or removed, or
    /// their device flow moved on.
    Github(UserId),
    /// A webhook was created, changed or deleted, or one of its deliveries moved on.
    Webhook {
        /// Its workspace.
        workspace_id: WorkspaceId,
        /// The webhook.
        webhook_id: super::WebhookId,
    },
    /// A task's comments or activity changed.
    TaskNotes {
        /// Its workspace.
        workspace_id: WorkspaceId,
        /// The task.
        task_id: TaskId,
    },
}

/// A workspace as it is after a change (or was, when `removed`).
#[derive(Debug)]
pub struct WorkspaceChange {
    /// The record.
    pub ws: Workspace,
    /// Deleted.
    pub removed: bool,
}

/// The sending side of the feed, created with the store.
pub(super) fn feed() -> broadcast::Sender<Change> {
    broadcast::channel(CHANGES_FEED).0
}

impl Store {
    /// Every change from now on.
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Announces a change (nobody listening is fine), once the unit of work that made it commits.
    pub(super) fn changed(&self, change: Change) {
        let feed = self.changes.clone();
        self.kv.after_commit(move || {
            let _ = feed.send(change);
        });
    }
}

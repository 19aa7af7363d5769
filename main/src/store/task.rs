//! A task's record and its id, priority, and where a task is placed in a column; the operations on tasks are
//! in [`super::tasks`], their indexes in [`super::task_index`].

use serde::{Deserialize, Serialize};

use super::UserId;
use super::projects::ProjectId;
use super::workspaces::{TaskStatus, WorkspaceId, uuid_id};

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
    /// A task not stored yet: `title` in `status` of workspace `workspace_id`, nothing else set. Creating it
    /// gives it its number, position, times and version; an import sets what its file says.
    pub fn draft(workspace_id: WorkspaceId, title: impl Into<String>, status: TaskStatus) -> Task {
        Task {
            id: TaskId::new(),
            workspace_id,
            project_id: None,
            number: 0,
            title: title.into(),
            description: String::new(),
            status,
            priority: Priority::None,
            assignees: Vec::new(),
            labels: Vec::new(),
            parent: None,
            due: None,
            position: String::new(),
            created_by: None,
            created_at: 0,
            updated_at: 0,
            archived: false,
            restricted_to: None,
            version: 1,
        }
    }

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

//! The export document (`vibebridge.workspace`, version 1), documented in `docs/workspace-export.md`.

use serde::{Deserialize, Serialize};

use crate::store::{
    ActivityKind, Priority, ProjectScripts, PromptTemplate, TaskStatus, WorkspaceRole,
    WorkspaceSettings,
};

/// The `format` field of our export.
pub const EXPORT_FORMAT: &str = "vibebridge.workspace";
/// The version of the export this build writes (and the newest it reads).
pub const EXPORT_VERSION: u32 = 1;

/// A workspace's content as one document (`GET /workspaces/:id/export`). People are usernames, tasks are
/// their numbers, projects their index in `projects`, comments their index in `comments`: nothing that only
/// means something inside one instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct WorkspaceExport {
    /// Always `vibebridge.workspace`.
    pub format: String,
    /// The document's version.
    pub version: u32,
    /// The workspace's name.
    pub name: String,
    /// Its settings.
    pub settings: WorkspaceSettings,
    /// Members by username.
    pub members: Vec<ExportMember>,
    /// Projects.
    pub projects: Vec<ExportProject>,
    /// Prompt templates.
    pub templates: Vec<PromptTemplate>,
    /// Tasks, by number.
    pub tasks: Vec<ExportTask>,
}

/// A member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ExportMember {
    /// Username.
    pub username: String,
    /// Role.
    pub role: WorkspaceRole,
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ExportProject {
    /// Name.
    pub name: String,
    /// Node id.
    pub node_id: String,
    /// Repository path on the node.
    pub repo_path: String,
    /// Base branch.
    pub base_branch: String,
    /// Scripts.
    pub scripts: ProjectScripts,
    /// Globs copied into worktrees.
    pub copy_files: Vec<String>,
    /// Branch template.
    pub branch_template: String,
    /// Creator's username.
    #[ts(optional)]
    pub created_by: Option<String>,
    /// Created, ms since epoch.
    pub created_at: u64,
}

/// A task with its comments, activity and attachments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ExportTask {
    /// Its number (the key is the prefix and this).
    pub number: u64,
    /// Title.
    pub title: String,
    /// Markdown.
    pub description: String,
    /// Status.
    pub status: TaskStatus,
    /// Priority.
    pub priority: Priority,
    /// Assignees' usernames.
    pub assignees: Vec<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// The parent's number.
    #[ts(optional)]
    pub parent: Option<u64>,
    /// Due date.
    #[ts(optional)]
    pub due: Option<String>,
    /// Index in `projects`.
    #[ts(optional)]
    pub project: Option<usize>,
    /// Position key in its column.
    pub position: String,
    /// Creator's username.
    #[ts(optional)]
    pub created_by: Option<String>,
    /// Created, ms since epoch.
    pub created_at: u64,
    /// Last change, ms since epoch.
    pub updated_at: u64,
    /// Archived.
    pub archived: bool,
    /// Usernames who alone (with admins) see it.
    #[ts(optional)]
    pub restricted_to: Option<Vec<String>>,
    /// Comments, oldest first.
    pub comments: Vec<ExportComment>,
    /// Activity, oldest first.
    pub activity: Vec<ExportActivity>,
    /// Files, base64.
    pub attachments: Vec<ExportAttachment>,
}

/// A comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ExportComment {
    /// Author's username (or name, for an imported author without an account).
    #[ts(optional)]
    pub author: Option<String>,
    /// Markdown.
    pub body: String,
    /// Created, ms since epoch.
    pub created_at: u64,
    /// Edited, ms since epoch.
    #[ts(optional)]
    pub edited_at: Option<u64>,
}

/// An activity entry; people are usernames, a comment its index in the task's `comments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ExportActivity {
    /// When, ms since epoch.
    pub at: u64,
    /// Who.
    #[ts(optional)]
    pub actor: Option<String>,
    /// What, as the store has it, with user ids and comment ids replaced (see `people`, `comment`).
    pub kind: ActivityKind,
    /// Usernames of the user ids in `kind`, in the order they appear.
    #[serde(default)]
    pub people: Vec<String>,
    /// For a `commented` entry, the comment's index in the task's `comments`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub comment: Option<usize>,
}

/// A file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ExportAttachment {
    /// File name.
    pub filename: String,
    /// MIME type.
    pub content_type: String,
    /// The bytes, standard base64.
    pub base64: String,
    /// Added, ms since epoch.
    pub created_at: u64,
}

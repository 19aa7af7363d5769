//! Moving a workspace's content in and out: the export (one versioned JSON document, documented in
//! `docs/workspace-export.md`) and the import of our own export, a Vibe Kanban cloud export ZIP or a Vibe
//! Kanban local database. Every format becomes a [`Plan`], and one [`apply`] writes any plan: new ids, task
//! numbers after the workspace's own, parents resolved, people matched by name, one flush, one audit
//! entry, and a [`ImportReport`] of what was created, matched and skipped (nothing is dropped silently).

mod apply;
mod document;
mod export;
mod own;
pub mod vibe_kanban;

use serde::{Deserialize, Serialize};

use super::workspaces::Access;
use super::{Actor, OpError};
use crate::state::AppState;
use crate::store::{
    ActivityKind, Attachment, Comment, CommentId, Project, PromptTemplate, Task, User, UserId,
    WorkspaceRole, WorkspaceSettings,
};

pub use apply::{People, apply};
pub use document::*;
pub use export::export;
pub use own::plan_own;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ImportReport {
    /// `vibebridge`, `vibe_kanban_zip` or `vibe_kanban_db`.
    pub format: String,
    /// What was created.
    pub created: ImportCounts,
    /// Names in the file that matched members here.
    pub matched_people: Vec<String>,
    /// Names that matched no member (their tasks are unassigned, with a note in the activity).
    pub unmatched_people: Vec<String>,
    /// What was not brought in, or not as it was, and why.
    pub skipped: Vec<SkippedItem>,
}

/// How many of each were created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ImportCounts {
    /// Projects.
    pub projects: usize,
    /// Tasks.
    pub tasks: usize,
    /// Comments.
    pub comments: usize,
    /// Activity entries.
    pub activity: usize,
    /// Attachments.
    pub attachments: usize,
}

/// Something not imported as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct SkippedItem {
    /// What (`ISS-3 (Web)`, `project Web`, `person Bob`).
    pub item: String,
    /// Why, and what was done instead.
    pub reason: String,
}

/// Content to write into a workspace, from any format.
#[derive(Debug, Default)]
pub struct Plan {
    /// Projects, ready but for their id and workspace.
    pub projects: Vec<Project>,
    /// Templates (replacing same-named ones).
    pub templates: Vec<PromptTemplate>,
    /// Members to add (existing users by username, with their roles), for an admin's import.
    pub members: Vec<ExportMember>,
    /// Settings to take (all but the name and key prefix), for an admin's import.
    pub settings: Option<WorkspaceSettings>,
    /// Tasks in creation order.
    pub tasks: Vec<PlannedTask>,
    /// The report so far (format, people, skipped).
    pub report: ImportReport,
}

/// One task of a plan.
#[derive(Debug, Default)]
pub struct PlannedTask {
    /// The task; `id`, `workspace_id`, `number`, `parent`, `project_id` and (when empty) `position` are set
    /// by [`apply`].
    pub task: Option<Task>,
    /// Its number in the source (kept, after the workspace's own numbers), when the source has numbers.
    pub number: Option<u64>,
    /// Index of the parent in the plan's tasks.
    pub parent: Option<usize>,
    /// Index of the project in the plan's projects.
    pub project: Option<usize>,
    /// Comments (ids and task set by [`apply`]).
    pub comments: Vec<Comment>,
    /// Activity: when, who, what (`Commented` carries the index of the comment in `comments` as its
    /// id's low bits: see [`comment_ref`]).
    pub activity: Vec<(u64, Option<UserId>, ActivityKind)>,
    /// Files.
    pub attachments: Vec<(Attachment, Vec<u8>)>,
}

/// A placeholder comment id standing for the `index`-th comment of a planned task.
pub fn comment_ref(index: usize) -> CommentId {
    CommentId(uuid::Uuid::from_u128(index as u128))
}

/// The largest file an import takes.
pub const MAX_IMPORT_BYTES: usize = 512 * 1024 * 1024;

/// Imports a file into the workspace, telling its format by its first bytes: a ZIP is a Vibe Kanban cloud
/// export, a SQLite file a Vibe Kanban local database, anything else our own JSON export.
pub async fn import(
    state: &AppState,
    actor: &Actor,
    who: &User,
    access: &Access,
    bytes: bytes::Bytes,
) -> Result<ImportReport, OpError> {
    access.require(WorkspaceRole::Member, "import into it")?;
    // Parsing and writing thousands of records is blocking work: off the async workers.
    let (state, actor, who, access) = (state.clone(), actor.clone(), who.clone(), access.clone());
    tokio::task::spawn_blocking(move || {
        let bad = |e: crate::import::vibe_kanban::ImportError| OpError::BadRequest(format!("{e}"));
        let plan = if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            let export = crate::import::vibe_kanban::read_cloud_export(&bytes, Default::default())
                .map_err(bad)?;
            vibe_kanban::plan_cloud(&state, &access, export)
        } else if bytes.starts_with(b"SQLite format 3\0") {
            let export =
                crate::import::vibe_kanban_local::read_local_db(&bytes, Default::default())
                    .map_err(bad)?;
            vibe_kanban::plan_local(&access, export)
        } else {
            plan_own(&state, &access, &bytes)?
        };
        apply(&state, &actor, &who, &access, plan)
    })
    .await
    .map_err(|e| OpError::Internal(e.into()))?
}

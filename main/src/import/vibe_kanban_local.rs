//! Reading a Vibe Kanban local database (`db.v2.sqlite`, or `db.sqlite` in older installs, from
//! `~/.local/share/vibe-kanban`): its projects, tasks and task attempts, in any of the three schema generations
//! recorded, with their sources, in `docs/vibe-kanban-formats.md` (section 1).
//!
//! The upload arrives as bytes. SQLite reads files, so the bytes go to a private temporary file (mode 0600,
//! removed when reading ends, whatever the outcome) opened read-only and immutable: nothing is ever written to
//! it. The file is untrusted, so the connection runs in SQLite's defensive mode with an untrusted schema, reads
//! only real tables (a view named `tasks` is not one), and counts each table's rows against [`LocalLimits`]
//! before reading it.
//!
//! Like the cloud export reader this module only reads: the records it returns, or an [`ImportError`] naming
//! the file, the table and column (`tasks.status`) and the row's id, are mapped onto workspaces by the importer.

use std::collections::HashMap;
use std::path::Path;

use uuid::Uuid;

use super::vibe_kanban::ImportError;
use sqlite::{MAGIC, NOT_SQLITE, TempCopy, columns, for_each_row, require, whole};

mod sqlite;

/// Bounds on what one database may hold.
#[derive(Debug, Clone, Copy)]
pub struct LocalLimits {
    /// Bytes of the file.
    pub max_bytes: u64,
    /// Rows of any one table read (projects, tasks, attempts).
    pub max_rows: u64,
}

impl Default for LocalLimits {
    fn default() -> Self {
        LocalLimits {
            max_bytes: 1024 * 1024 * 1024,
            max_rows: 1_000_000,
        }
    }
}

/// A task's status: the five values of Vibe Kanban's `tasks.status` CHECK constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalStatus {
    /// `todo`.
    Todo,
    /// `inprogress`.
    InProgress,
    /// `inreview`.
    InReview,
    /// `done`.
    Done,
    /// `cancelled`.
    Cancelled,
}

impl LocalStatus {
    /// The status stored as `value`, if it is one of the five.
    pub fn parse(value: &str) -> Option<LocalStatus> {
        Some(match value {
            "todo" => LocalStatus::Todo,
            "inprogress" => LocalStatus::InProgress,
            "inreview" => LocalStatus::InReview,
            "done" => LocalStatus::Done,
            "cancelled" => LocalStatus::Cancelled,
            _ => return None,
        })
    }
}

/// One row of `projects`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalProject {
    /// `id`.
    pub id: Uuid,
    /// `name`.
    pub name: String,
    /// The repository: `projects.git_repo_path` in older databases; in newer ones the first of the project's
    /// `project_repos` (by insertion, i.e. the one the migration moved there), through `repos.path`.
    pub git_repo_path: Option<String>,
    /// `created_at`, RFC 3339 in UTC.
    pub created_at: Option<String>,
}

/// One row of `tasks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTask {
    /// `id`.
    pub id: Uuid,
    /// `project_id` (the database may name a project that no longer exists).
    pub project_id: Uuid,
    /// `title`.
    pub title: String,
    /// `description` (Markdown; empty when NULL).
    pub description: String,
    /// `status`.
    pub status: LocalStatus,
    /// The parent *task*: Vibe Kanban stores a parent attempt (`parent_workspace_id`, earlier
    /// `parent_task_attempt`); this is that attempt's task. `None` also when the attempt is gone or has no task.
    pub parent_task: Option<Uuid>,
    /// `created_at`, RFC 3339 in UTC.
    pub created_at: Option<String>,
    /// `updated_at`, RFC 3339 in UTC.
    pub updated_at: Option<String>,
}

/// One attempt at a task: a row of `workspaces` (newer) or `task_attempts` (older). Workspaces that belong to
/// no task (made by Vibe Kanban's later, cloud-backed UI) are not attempts and are not returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAttempt {
    /// `id`.
    pub id: Uuid,
    /// `task_id` (workspaces have no foreign key on it, so the task may no longer exist).
    pub task_id: Uuid,
    /// `branch` (`None` when empty).
    pub branch: Option<String>,
    /// The coding agent, e.g. `CLAUDE_CODE`: `task_attempts.executor`, or the executor of the workspace's first
    /// session.
    pub executor: Option<String>,
    /// `created_at`, RFC 3339 in UTC.
    pub created_at: Option<String>,
}

/// Everything read from one local database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalExport {
    /// `projects`.
    pub projects: Vec<LocalProject>,
    /// `tasks`.
    pub tasks: Vec<LocalTask>,
    /// Attempts, from `workspaces` or `task_attempts`.
    pub attempts: Vec<LocalAttempt>,
}

/// Reads a Vibe Kanban local database, given as the file's bytes, within `limits`. It blocks (a file is
/// written and SQLite reads it): call it from `spawn_blocking`.
pub fn read_local_db(bytes: &[u8], limits: LocalLimits) -> Result<LocalExport, ImportError> {
    read_in(bytes, limits, &std::env::temp_dir())
}

/// [`read_local_db`], with the temporary copy in `dir`.
fn read_in(bytes: &[u8], limits: LocalLimits, dir: &Path) -> Result<LocalExport, ImportError> {
    if bytes.len() as u64 > limits.max_bytes {
        return Err(whole(format!(
            "is larger than {} MiB, the most an import may be",
            limits.max_bytes >> 20
        )));
    }
    if !bytes.starts_with(MAGIC) {
        return Err(whole(NOT_SQLITE));
    }
    let copy = TempCopy::write(dir, bytes)?;
    let conn = sqlite::open(&copy.path)?;
    let out = read(&conn, limits);
    // Close before the guard removes the file.
    drop(conn);
    drop(copy);
    out
}

/// The tables read, and how a task's parent and an attempt's task are found in each generation.
fn read(conn: &rusqlite::Connection, limits: LocalLimits) -> Result<LocalExport, ImportError> {
    let projects = require(conn, "projects", &["id", "name"])?;
    let tasks = require(conn, "tasks", &TASK_COLUMNS)?;
    // The newest generation has `workspaces` (since 20251216142123), older ones `task_attempts`; tasks
    // have a parent column since 20250716170000.
    let attempts_table = if columns(conn, "workspaces")?.is_some() {
        "workspaces"
    } else {
        "task_attempts"
    };
    let parent = if tasks.iter().any(|c| c == "parent_workspace_id") {
        require(conn, "workspaces", &[])?;
        "parent_workspace_id"
    } else if tasks.iter().any(|c| c == "parent_task_attempt") {
        require(conn, "task_attempts", &[])?;
        "parent_task_attempt"
    } else {
        "NULL"
    };
    // Attempt id → its task, for the attempts and for parents.
    let mut attempt_tasks = HashMap::new();
    let attempts = read_attempts(conn, attempts_table, limits, &mut attempt_tasks)?;

    let repo = if projects.iter().any(|c| c == "git_repo_path") {
        "t.git_repo_path"
    } else if columns(conn, "project_repos")?.is_some() && columns(conn, "repos")?.is_some() {
        "(SELECT r.path FROM project_repos pr JOIN repos r ON r.id = pr.repo_id \
         WHERE pr.project_id = t.id ORDER BY pr.rowid LIMIT 1)"
    } else {
        "NULL"
    };
    let created = if projects.iter().any(|c| c == "created_at") {
        "t.created_at"
    } else {
        "NULL"
    };
    let select = [
        ("id", "t.id"),
        ("name", "t.name"),
        ("git_repo_path", repo),
        ("created_at", created),
    ];
    let mut out_projects = Vec::new();
    for_each_row(conn, "projects", &select, limits.max_rows, |r, id| {
        out_projects.push(LocalProject {
            id,
            name: r.required_text("name")?,
            git_repo_path: r.nonempty_text("git_repo_path")?,
            created_at: r.time("created_at")?,
        });
        Ok(())
    })?;

    let mut select: Vec<(&str, &str)> = TASK_COLUMNS.iter().map(|c| (*c, *c)).collect();
    select.push(("parent", parent));
    let mut out_tasks = Vec::new();
    for_each_row(conn, "tasks", &select, limits.max_rows, |r, id| {
        let status = r.required_text("status")?;
        let parent_attempt = r.uuid("parent")?;
        out_tasks.push(LocalTask {
            id,
            project_id: r.required_uuid("project_id")?,
            title: r.required_text("title")?,
            description: r.text("description")?.unwrap_or_default(),
            status: LocalStatus::parse(&status).ok_or_else(|| {
                r.error(
                    "status",
                    format!(
                        "unknown status {status:?}; Vibe Kanban's are todo, inprogress, inreview, \
                         done and cancelled"
                    ),
                )
            })?,
            parent_task: parent_attempt.and_then(|a| attempt_tasks.get(&a).copied().flatten()),
            created_at: r.time("created_at")?,
            updated_at: r.time("updated_at")?,
        });
        Ok(())
    })?;

    Ok(LocalExport {
        projects: out_projects,
        tasks: out_tasks,
        attempts,
    })
}

/// The columns of `tasks` every generation has.
const TASK_COLUMNS: [&str; 7] = [
    "id",
    "project_id",
    "title",
    "description",
    "status",
    "created_at",
    "updated_at",
];

/// The attempts in `table` (`workspaces` or `task_attempts`; none if it does not exist), recording each
/// attempt's task, if any, in `attempt_tasks`.
fn read_attempts(
    conn: &rusqlite::Connection,
    table: &'static str,
    limits: LocalLimits,
    attempt_tasks: &mut HashMap<Uuid, Option<Uuid>>,
) -> Result<Vec<LocalAttempt>, ImportError> {
    if columns(conn, table)?.is_none() {
        return Ok(Vec::new());
    }
    let have = require(conn, table, &["id", "task_id"])?;
    let has = |c: &str| have.iter().any(|h| h == c);
    let executor = if table == "workspaces" {
        let sessions = columns(conn, "sessions")?.unwrap_or_default();
        if ["executor", "workspace_id", "created_at"]
            .iter()
            .all(|c| sessions.iter().any(|s| s == c))
        {
            "(SELECT s.executor FROM sessions s WHERE s.workspace_id = t.id \
             ORDER BY s.created_at, s.rowid LIMIT 1)"
        } else {
            "NULL"
        }
    } else {
        // Renamed base_coding_agent (20250805112332), then profile, then executor again (20250902184501).
        ["executor", "profile", "base_coding_agent"]
            .into_iter()
            .find(|c| has(c))
            .unwrap_or("NULL")
    };
    let select = [
        ("id", "t.id"),
        ("task_id", "t.task_id"),
        ("branch", if has("branch") { "t.branch" } else { "NULL" }),
        ("executor", executor),
        (
            "created_at",
            if has("created_at") {
                "t.created_at"
            } else {
                "NULL"
            },
        ),
    ];
    let mut attempts = Vec::new();
    for_each_row(conn, table, &select, limits.max_rows, |r, id| {
        let task_id = r.uuid("task_id")?;
        attempt_tasks.insert(id, task_id);
        // A workspace of Vibe Kanban's later UI may belong to no task: it is not an attempt at one.
        if let Some(task_id) = task_id {
            attempts.push(LocalAttempt {
                id,
                task_id,
                branch: r.nonempty_text("branch")?,
                executor: r.nonempty_text("executor")?,
                created_at: r.time("created_at")?,
            });
        }
        Ok(())
    })?;
    Ok(attempts)
}

#[cfg(test)]
#[path = "vibe_kanban_local_tests.rs"]
mod tests;

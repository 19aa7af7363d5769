//! Tasks: reading one (its ACL decides who sees it), creating, editing (refused when stale), moving on the
//! board (never stale: a move says where), archiving, deleting; the board and the list view with filters.

use serde::{Deserialize, Deserializer, Serialize};

use super::task_fields::{check_description, check_labels};
pub use super::task_fields::{check_due, diff, members};
use super::workspaces::{Access, check_name};
use super::{Actor, OpError};
use crate::state::AppState;
use crate::store::{
    ActivityKind, AuditAction, Place, Priority, ProjectId, Task, TaskId, TaskStatus, User,
    WorkspaceRole,
};

/// Tasks per column of a board page, unless asked otherwise.
pub const DEFAULT_PAGE: usize = 50;
/// The most tasks one page may ask for.
pub const MAX_PAGE: usize = 500;

/// A task as the API shows it: the record, its key and how many subtasks it has.
#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct TaskView {
    /// The record.
    #[serde(flatten)]
    pub task: Task,
    /// `WEB-42`.
    pub key: String,
    /// Subtasks.
    pub subtasks: u32,
    /// Its latest runs (at most [`RUN_CHIPS`]), newest first: what the card shows of them.
    #[serde(default)]
    pub runs: Vec<RunChip>,
    /// The GitHub issue it was imported from.
    #[serde(default)]
    #[ts(optional)]
    pub issue: Option<crate::store::IssueLink>,
}

/// Runs a task view carries.
pub const RUN_CHIPS: usize = 5;

/// What a card shows of a run.
#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct RunChip {
    /// The run.
    pub id: crate::store::RunId,
    /// Which agent.
    pub provider: vibebridge_tunnel::session::Provider,
    /// Where it is.
    pub status: crate::store::RunStatus,
    /// Approvals and questions waiting for a person: the card says "needs attention".
    pub pending_approvals: u32,
    /// Its pull request on GitHub.
    #[serde(default)]
    #[ts(optional)]
    pub pull_request: Option<PrChip>,
}

/// What a card shows of a pull request.
#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct PrChip {
    /// Number.
    #[ts(type = "number")]
    pub number: u64,
    /// Page.
    pub url: String,
    /// Open, draft, merged, closed.
    pub state: crate::store::PrState,
    /// Checks of its head.
    pub checks: crate::store::ChecksState,
    /// Reviews.
    pub review: crate::store::ReviewDecision,
}

/// A view of `task` in `access`'s workspace.
pub fn view(state: &AppState, access: &Access, task: Task) -> TaskView {
    views(state, access, vec![task])
        .pop()
        .unwrap_or_else(|| unreachable!("one view per task"))
}

/// [`view`] for many tasks at once: their runs, pull requests, issues and subtask counts are read in a few
/// batched reads whatever the number of tasks (a board page is a handful of round trips on PostgreSQL).
/// Chips that cannot be read are left out rather than failing the page.
pub fn views(state: &AppState, access: &Access, tasks: Vec<Task>) -> Vec<TaskView> {
    let store = &state.store;
    let ids: Vec<TaskId> = tasks.iter().map(|t| t.id).collect();
    let runs: Vec<Vec<_>> = store
        .runs_of_tasks(&ids, usize::MAX)
        .unwrap_or_else(|_| vec![Vec::new(); ids.len()])
        .into_iter()
        .map(|runs| runs.into_iter().rev().take(RUN_CHIPS).collect())
        .collect();
    let run_ids: Vec<_> = runs.iter().flatten().map(|r| r.id).collect();
    let mut prs = store
        .pull_requests_of_runs(&run_ids)
        .unwrap_or_else(|_| vec![None; run_ids.len()])
        .into_iter();
    let issues = store
        .issues_of_tasks(&ids)
        .unwrap_or_else(|_| vec![None; ids.len()]);
    let subtasks = store
        .subtask_counts(&ids)
        .unwrap_or_else(|_| vec![0; ids.len()]);
    tasks
        .into_iter()
        .zip(runs)
        .zip(issues.into_iter().zip(subtasks))
        .map(|((task, runs), (issue, subtasks))| TaskView {
            issue,
            key: access.ws.task_key(task.number),
            subtasks: u32::try_from(subtasks).unwrap_or(u32::MAX),
            runs: runs
                .into_iter()
                .map(|r| RunChip {
                    id: r.id,
                    provider: r.provider,
                    status: r.status,
                    pending_approvals: r.pending_approvals,
                    pull_request: prs.next().flatten().map(|p| PrChip {
                        number: p.number,
                        url: p.url,
                        state: p.state,
                        checks: p.checks.state,
                        review: p.review,
                    }),
                })
                .collect(),
            task,
        })
        .collect()
}

/// Task `id` (a UUID, or a key such as `WEB-42`) of the workspace, if `who` may see it.
pub fn get(state: &AppState, who: &User, access: &Access, id: &str) -> Result<Task, OpError> {
    let task = match TaskId::parse(id) {
        Some(id) => state.store.task(id)?,
        None => match number_in_key(id, &access.ws.settings.key_prefix) {
            Some(n) => state.store.task_by_number(access.ws.id, n)?,
            None => None,
        },
    };
    task.filter(|t| t.workspace_id == access.ws.id && t.visible_to(who.id, access.is_admin()))
        .ok_or_else(|| OpError::NotFound(format!("no task {id:?}")))
}

/// Task `id` (a UUID, or a key such as `WEB-42`) anywhere, with its workspace as `who` may act in it;
/// "not found" when they may not see it.
pub fn find(state: &AppState, who: &User, id: &str) -> Result<(Access, Task), OpError> {
    let not_found = || OpError::NotFound(format!("no task {id:?}"));
    let ws_id = match TaskId::parse(id) {
        Some(tid) => state
            .store
            .task(tid)?
            .ok_or_else(not_found)?
            .workspace_id
            .to_string(),
        None => id.rsplit_once('-').ok_or_else(not_found)?.0.to_string(),
    };
    let access = super::workspaces::access(state, who, &ws_id).map_err(|_| not_found())?;
    let task = get(state, who, &access, id)?;
    Ok((access, task))
}

/// The number in `WEB-42` when the prefix is `prefix` (case-insensitive).
pub fn number_in_key(key: &str, prefix: &str) -> Option<u64> {
    let (p, n) = key.rsplit_once('-')?;
    p.eq_ignore_ascii_case(prefix).then(|| n.parse().ok())?
}

/// A new task.
#[derive(Debug, Default, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// Title (1–500 characters).
    pub title: String,
    /// Markdown.
    #[serde(default)]
    #[ts(optional)]
    pub description: Option<String>,
    /// Status (default `todo`).
    #[ts(optional)]
    pub status: Option<TaskStatus>,
    /// Priority (default `none`).
    #[ts(optional)]
    pub priority: Option<Priority>,
    /// Usernames of members to assign.
    #[ts(optional)]
    pub assignees: Option<Vec<String>>,
    /// Labels.
    #[ts(optional)]
    pub labels: Option<Vec<String>>,
    /// The parent task (id or key).
    #[ts(optional)]
    pub parent: Option<String>,
    /// Due date, `YYYY-MM-DD`.
    #[ts(optional)]
    pub due: Option<String>,
    /// The project.
    #[ts(optional)]
    pub project_id: Option<ProjectId>,
    /// Usernames of the only members (besides admins) who see it.
    #[ts(optional)]
    pub restricted_to: Option<Vec<String>>,
    /// `top` (default) or `bottom` of its column.
    #[ts(optional)]
    pub place: Option<Edge>,
}

/// An end of a column.
#[derive(Debug, Clone, Copy, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Edge {
    /// First.
    Top,
    /// Last.
    Bottom,
}

/// Changes to a task; absent fields stay, `null` clears an optional one.
#[derive(Debug, Default, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    /// The version the editor saw; a newer task refuses the edit (409 with the current task).
    pub version: u64,
    /// Title.
    #[ts(optional)]
    pub title: Option<String>,
    /// Markdown.
    #[ts(optional)]
    pub description: Option<String>,
    /// Status (to the top of its column).
    #[ts(optional)]
    pub status: Option<TaskStatus>,
    /// Priority.
    #[ts(optional)]
    pub priority: Option<Priority>,
    /// Usernames (replaces the list).
    #[ts(optional)]
    pub assignees: Option<Vec<String>>,
    /// Labels (replaces the list).
    #[ts(optional)]
    pub labels: Option<Vec<String>>,
    /// Parent (id or key), `null` for none.
    #[serde(default, deserialize_with = "some")]
    #[ts(optional, type = "string | null")]
    pub parent: Option<Option<String>>,
    /// Due date, `null` for none.
    #[serde(default, deserialize_with = "some")]
    #[ts(optional, type = "string | null")]
    pub due: Option<Option<String>>,
    /// Project, `null` for none.
    #[serde(default, deserialize_with = "some")]
    #[ts(optional, type = "string | null")]
    pub project_id: Option<Option<ProjectId>>,
    /// Archived or not.
    #[ts(optional)]
    pub archived: Option<bool>,
    /// Usernames who alone (with admins) see it; `null` for everyone in the workspace.
    #[serde(default, deserialize_with = "some")]
    #[ts(optional, type = "string[] | null")]
    pub restricted_to: Option<Option<Vec<String>>>,
}

/// Present (even as `null`) → `Some`.
fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Where a task moves.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct MoveTask {
    /// The column.
    pub status: TaskStatus,
    /// The task it should follow (absent: first, unless `before` is given).
    #[ts(optional)]
    pub after: Option<TaskId>,
    /// The task it should precede.
    #[ts(optional)]
    pub before: Option<TaskId>,
}

/// Creates a task (member).
pub fn create(
    state: &AppState,
    who: &User,
    access: &Access,
    new: NewTask,
) -> Result<TaskView, OpError> {
    access.require(WorkspaceRole::Member, "create tasks")?;
    let title = check_name("title", &new.title, 500)?;
    let mut draft = Task {
        description: check_description(new.description.unwrap_or_default())?,
        priority: new.priority.unwrap_or_default(),
        assignees: members(state, access, new.assignees.unwrap_or_default())?,
        labels: check_labels(new.labels.unwrap_or_default())?,
        due: new.due.map(check_due).transpose()?,
        created_by: Some(who.id),
        restricted_to: new
            .restricted_to
            .map(|names| members(state, access, names))
            .transpose()?,
        ..Task::draft(access.ws.id, title, new.status.unwrap_or(TaskStatus::Todo))
    };
    if let Some(p) = new.parent {
        draft.parent = Some(get(state, who, access, &p)?.id);
    }
    if let Some(p) = new.project_id {
        draft.project_id = Some(super::projects::get(state, access, p)?.id);
    }
    let place = match new.place {
        Some(Edge::Bottom) => Place::Bottom,
        _ => Place::Top,
    };
    let task = state.store.create_task(draft, place)?;
    state.store.append_activity(
        access.ws.id,
        task.id,
        Some(who.id),
        vec![(None, ActivityKind::Created)],
        true,
    )?;
    Ok(view(state, access, task))
}

/// Edits a task (member): refused with the current task when `patch.version` is stale.
pub fn update(
    state: &AppState,
    actor: &Actor,
    who: &User,
    access: &Access,
    task: &Task,
    patch: TaskPatch,
) -> Result<TaskView, OpError> {
    access.require(WorkspaceRole::Member, "edit tasks")?;
    let title = patch
        .title
        .map(|t| check_name("title", &t, 500))
        .transpose()?;
    let description = patch.description.map(check_description).transpose()?;
    let assignees = patch
        .assignees
        .map(|a| members(state, access, a))
        .transpose()?;
    let labels = patch.labels.map(check_labels).transpose()?;
    let due = patch
        .due
        .map(|d| d.map(check_due).transpose())
        .transpose()?;
    let parent = match patch.parent {
        Some(Some(p)) => {
            let parent = get(state, who, access, &p)?;
            if parent.id == task.id || is_descendant(state, parent.id, task.id)? {
                return Err(OpError::BadRequest(
                    "a task cannot be its own parent or the parent of an ancestor".into(),
                ));
            }
            Some(Some(parent.id))
        }
        Some(None) => Some(None),
        None => None,
    };
    let project = match patch.project_id {
        Some(Some(p)) => Some(Some(super::projects::get(state, access, p)?.id)),
        other => other.map(|_| None),
    };
    let restricted = patch
        .restricted_to
        .map(|r| r.map(|names| members(state, access, names)).transpose())
        .transpose()?;
    let (old, new) = state
        .store
        .update_task(task.id, Some(patch.version), |t| {
            if let Some(v) = title.clone() {
                t.title = v;
            }
            if let Some(v) = description.clone() {
                t.description = v;
            }
            if let Some(v) = patch.status {
                t.status = v;
            }
            if let Some(v) = patch.priority {
                t.priority = v;
            }
            if let Some(v) = assignees.clone() {
                t.assignees = v;
            }
            if let Some(v) = labels.clone() {
                t.labels = v;
            }
            if let Some(v) = due.clone() {
                t.due = v;
            }
            if let Some(v) = parent {
                // Checked again under the store's lock: two parent changes at once cannot make a cycle.
                if let Some(p) = v
                    && (p == t.id || is_descendant(state, p, t.id)?)
                {
                    return Err(OpError::BadRequest(
                        "a task cannot be its own parent or the parent of an ancestor".into(),
                    ));
                }
                t.parent = v;
            }
            if let Some(v) = project {
                t.project_id = v;
            }
            if let Some(v) = patch.archived {
                t.archived = v;
            }
            if let Some(v) = restricted.clone() {
                t.restricted_to = v;
            }
            Ok::<_, OpError>(())
        })
        .map_err(|e| stale_view(state, access, e))?;
    if old.restricted_to != new.restricted_to {
        state.store.audit(
            actor
                .audit(AuditAction::TaskAccessChanged)
                .target(access.ws.task_key(new.number))
                .detail(match &new.restricted_to {
                    Some(ids) => format!("limited to {} people", ids.len()),
                    None => "open to the workspace".into(),
                }),
        );
    }
    state
        .store
        .append_activity(access.ws.id, new.id, Some(who.id), diff(&old, &new), true)?;
    super::notify::events::task_moved(state, Some(who.id), &old, &new);
    Ok(view(state, access, new))
}

/// Moves a task to a column and place (member). Concurrent moves all land, in some order.
pub fn move_to(
    state: &AppState,
    who: &User,
    access: &Access,
    task: &Task,
    to: MoveTask,
) -> Result<TaskView, OpError> {
    access.require(WorkspaceRole::Member, "move tasks")?;
    if task.archived {
        return Err(OpError::Conflict(
            "the task is archived; restore it (archived: false) before moving it".into(),
        ));
    }
    let place = match (to.after, to.before) {
        (None, None) => Place::Top,
        (after, before) => Place::Near { after, before },
    };
    let (old, new) = state.store.move_task(task.id, to.status, &place)?;
    state
        .store
        .append_activity(access.ws.id, new.id, Some(who.id), diff(&old, &new), true)?;
    super::notify::events::task_moved(state, Some(who.id), &old, &new);
    Ok(view(state, access, new))
}

/// Deletes a task with its comments and activity (admin, or its creator).
pub fn delete(
    state: &AppState,
    actor: &Actor,
    who: &User,
    access: &Access,
    task: &Task,
) -> Result<(), OpError> {
    if !(access.is_admin()
        || (task.created_by == Some(who.id) && access.role >= WorkspaceRole::Member))
    {
        return Err(OpError::Forbidden(
            "only the task's creator or a workspace admin can delete it; archive it instead".into(),
        ));
    }
    let t = state.store.delete_task(task.id)?;
    state.store.audit(
        actor
            .audit(AuditAction::TaskDeleted)
            .target(access.ws.task_key(t.number))
            .detail(t.title),
    );
    Ok(())
}

/// A stale edit's error, carrying the current task as the API shows it.
fn stale_view(state: &AppState, access: &Access, e: OpError) -> OpError {
    match e {
        OpError::Stale { message, current } => {
            let current = serde_json::from_value::<Task>(*current)
                .map(|t| serde_json::to_value(view(state, access, t)).unwrap_or_default())
                .unwrap_or_default();
            OpError::Stale {
                message: format!("{message}; reload it and apply your change again"),
                current: Box::new(current),
            }
        }
        other => other,
    }
}

/// Whether `task` is below `ancestor` (following parents, bounded).
fn is_descendant(state: &AppState, task: TaskId, ancestor: TaskId) -> Result<bool, OpError> {
    let mut at = state.store.task(task)?;
    for _ in 0..1000 {
        match at.and_then(|t| t.parent) {
            Some(p) if p == ancestor => return Ok(true),
            Some(p) => at = state.store.task(p)?,
            None => return Ok(false),
        }
    }
    Ok(true)
}

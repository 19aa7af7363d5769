//! Task runs: a member starts an agent on a task in the task's project, on the project's node, on its own
//! branch in its own worktree. The run is a session (its turns, events, approvals and durability are the
//! session's) plus what main derives from that session's events: where it works, its execution processes,
//! usage, and the task's status following the work.
//!
//! - [`launch`]: admitting a run (node online, the workspace's concurrency, one in-place run per working
//!   copy) and asking the node to start it.
//! - [`track`]: folding a run's session events into the run, exactly once, and moving its task.
//! - [`queue`]: the background task that starts queued runs when they may start, and fails those that
//!   waited past `runs.queue_timeout`; it also runs the [`cleanup`] sweep.
//! - [`review`] and [`merge`]: a run's diff with line comments, rebase and merge.
//! - [`cleanup`]: a project's worktrees, removing a run's work tree, and the cleanup sweep.
//! - [`dev`]: starting and stopping a run's dev server.

pub mod cleanup;
pub mod dev;
pub mod launch;
pub mod merge;
pub mod queue;
pub mod review;
pub mod track;

use serde::{Deserialize, Serialize};
use vibebridge_tunnel::run::RunMode;
use vibebridge_tunnel::session::Provider;

use super::workspaces::Access;
use super::{Actor, OpError, projects, sessions, tasks};
use crate::state::AppState;
use crate::store::{
    AuditAction, ExecutionProcess, ProjectId, Run, RunId, RunStatus, Task, UsageTotals, User,
    WorkspaceRole, now_ms,
};

/// Body of `POST /api/v1/tasks/:id/runs`: how to run the task. Everything has a default.
#[derive(Debug, Default, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// The project (default: the task's).
    #[ts(optional, type = "string")]
    pub project_id: Option<ProjectId>,
    /// Which agent (default: the workspace's default, else `claude`).
    #[ts(optional)]
    pub provider: Option<Provider>,
    /// Model (default: the workspace's default).
    #[ts(optional)]
    pub model: Option<String>,
    /// Permission mode (default: the workspace's default).
    #[ts(optional)]
    pub permission_mode: Option<String>,
    /// The branch to start from and merge into (default: the project's).
    #[ts(optional)]
    pub base_branch: Option<String>,
    /// `worktree` (default), `in_place` or `existing`.
    #[ts(optional)]
    pub mode: Option<NewRunMode>,
    /// `worktree`: the branch's exact name instead of the project's template; `existing`: the branch to adopt.
    #[ts(optional)]
    pub branch: Option<String>,
    /// `existing`: a worktree of the repository to adopt.
    #[ts(optional)]
    pub path: Option<String>,
    /// `worktree`: carry the working copy's uncommitted work in as a baseline commit.
    #[ts(optional)]
    pub carry_uncommitted: Option<bool>,
    /// The first message (default: the task's title and description, after the workspace's prompt prefix).
    #[ts(optional)]
    pub prompt: Option<String>,
}

/// Where a new run works.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum NewRunMode {
    /// A new branch in a new worktree.
    #[default]
    Worktree,
    /// The project's working copy itself.
    InPlace,
    /// An existing branch or worktree.
    Existing,
}

/// A run with what the run page shows of it.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct RunDetail {
    /// The run.
    pub run: Run,
    /// The task's key.
    pub task_key: String,
    /// Its execution processes, in order.
    pub processes: Vec<ExecutionProcess>,
}

use super::run_access::readable;
pub use super::run_access::{can_see_session, can_steer_session};

/// The session of `run`, which `who` may steer (admin, its owner, or a member allowed on the node); a
/// conflict saying `none_yet` when the run has not started.
pub(crate) fn steerable_session(
    state: &AppState,
    who: &User,
    run: &Run,
    none_yet: &str,
) -> Result<crate::store::SessionRecord, OpError> {
    let session = run
        .session_id
        .and_then(|s| state.store.agent_session(&s).ok().flatten())
        .ok_or_else(|| OpError::Conflict(none_yet.into()))?;
    if !(who.role.is_admin()
        || session.owner == who.id
        || can_steer_session(state, who, session.id))
    {
        return Err(OpError::Forbidden(format!(
            "you may not use node {:?}; ask an admin to add you to it",
            run.node_id
        )));
    }
    Ok(session)
}

/// The project a run works in; a conflict once it was deleted.
pub fn project_of(state: &AppState, run: &Run) -> Result<crate::store::Project, OpError> {
    state
        .store
        .project(run.project_id)?
        .ok_or_else(|| OpError::Conflict("the run's project was deleted".into()))
}

/// A run the caller may read; "not found" otherwise.
pub fn visible(state: &AppState, who: &User, id: &str) -> Result<(Access, Task, Run), OpError> {
    let not_found = || OpError::NotFound(format!("no run {id:?}"));
    let run = RunId::parse(id)
        .map(|id| state.store.run(id))
        .transpose()?
        .flatten()
        .ok_or_else(not_found)?;
    let (access, task) = readable(state, who, &run).ok_or_else(not_found)?;
    Ok((access, task, run))
}

/// A run with its processes.
pub fn detail(state: &AppState, access: &Access, run: Run) -> Result<RunDetail, OpError> {
    let task = state.store.task(run.task_id)?;
    Ok(RunDetail {
        task_key: task
            .map(|t| access.ws.task_key(t.number))
            .unwrap_or_default(),
        processes: state.store.processes(run.id)?,
        run,
    })
}

/// The runs of a task the caller may read, oldest first.
pub fn list(state: &AppState, who: &User, task: &str) -> Result<Vec<Run>, OpError> {
    let (_, task) = tasks::find(state, who, task)?;
    Ok(state.store.runs_of_task(task.id)?)
}

/// Starts a run of a task (member, allowed on the project's node). It starts at once when it may, else it
/// waits as `queued` and the run queue starts it later.
pub async fn start(
    state: &AppState,
    actor: &Actor,
    who: &User,
    task: &str,
    req: NewRun,
) -> Result<Run, OpError> {
    let (access, task) = tasks::find(state, who, task)?;
    access.require(WorkspaceRole::Member, "run agents on tasks")?;
    if task.archived {
        return Err(OpError::Conflict(
            "the task is archived; restore it before running an agent on it".into(),
        ));
    }
    let project_id = req.project_id.or(task.project_id).ok_or_else(|| {
        OpError::BadRequest(
            "the task has no project; set its project (or name project_id) so the run knows which repository to work in".into(),
        )
    })?;
    let project = projects::get(state, &access, project_id)?;
    projects::require_node(state, who, &project)?;
    let defaults = &access.ws.settings.agent;
    let provider = match req.provider {
        Some(p) => p,
        None => match defaults.provider.as_deref() {
            Some("codex") => Provider::Codex,
            _ => Provider::Claude,
        },
    };
    let mode = match req.mode.unwrap_or_default() {
        NewRunMode::Worktree => RunMode::Worktree {
            branch_template: match req.branch {
                // An exact name: no placeholders to fill, and `-2`… if it is taken.
                Some(b) => launch::check_branch(&b)?.replace(['{', '}'], ""),
                None => project.branch_template.clone(),
            },
            carry: req.carry_uncommitted.unwrap_or(false),
        },
        NewRunMode::InPlace => RunMode::InPlace,
        NewRunMode::Existing => {
            if req.branch.is_some() == req.path.is_some() {
                return Err(OpError::BadRequest(
                    "an existing run names either branch (a branch to adopt) or path (a worktree to adopt)"
                        .into(),
                ));
            }
            RunMode::Existing {
                branch: req.branch.map(|b| launch::check_branch(&b)).transpose()?,
                path: req.path,
            }
        }
    };
    let base_branch = match req.base_branch {
        Some(b) => launch::check_branch(&b)?,
        None => project.base_branch.clone(),
    };
    let prompt = match req.prompt {
        Some(p) if !p.trim().is_empty() => p,
        _ => launch::task_prompt(&access, &task),
    };
    let prompt =
        super::templates::expand_templates(&prompt, &state.store.prompt_templates(access.ws.id)?);
    let now = now_ms();
    let run = Run {
        id: RunId::new(),
        workspace_id: access.ws.id,
        task_id: task.id,
        project_id: project.id,
        node_id: project.node_id.clone(),
        session_id: None,
        created_by: who.id,
        provider,
        model: req.model.or_else(|| defaults.model.clone()),
        permission_mode: req
            .permission_mode
            .or_else(|| defaults.permission_mode.clone()),
        mode,
        base_branch,
        start_point: None,
        prompt,
        prepared: None,
        status: RunStatus::Queued,
        status_message: None,
        pending_approvals: 0,
        turns: 0,
        last_commit: None,
        commit_error: None,
        usage: UsageTotals::default(),
        pushed: None,
        turn_usage: UsageTotals::default(),
        merged: None,
        worktree: Default::default(),
        dev_server: None,
        applied_seq: 0,
        created_at: now,
        started_at: None,
        updated_at: now,
    };
    state.store.insert_run(&run)?;
    state.store.audit(
        actor
            .audit(AuditAction::RunStarted)
            .target(access.ws.task_key(task.number))
            .detail(format!(
                "{} on {} ({})",
                run.provider,
                run.node_id,
                run.mode.name()
            )),
    );
    launch::try_start(state, run.id).await
}

/// Stops a run: a queued one never starts; a started one's agent is stopped (its work tree stays).
pub async fn stop(state: &AppState, actor: &Actor, who: &User, id: &str) -> Result<Run, OpError> {
    let (access, task, run) = visible(state, who, id)?;
    access.require(WorkspaceRole::Member, "stop runs")?;
    let by = format!("stopped by {}", who.username);
    let run = if run.status == RunStatus::Queued {
        state.store.update_run(run.id, |r| {
            if r.status == RunStatus::Queued {
                r.status = RunStatus::Stopped;
                r.status_message = Some(by.clone());
            }
            Ok::<_, OpError>(())
        })?
    } else {
        let session = steerable_session(state, who, &run, "the run has no session to stop yet")?;
        sessions::command(
            state,
            &session,
            vibebridge_tunnel::session::SessionCommand::Stop,
        )
        .await?;
        state.store.update_run(run.id, |r| {
            r.status_message = Some(by.clone());
            Ok::<_, OpError>(())
        })?
    };
    state.store.audit(
        actor
            .audit(AuditAction::RunStopped)
            .target(access.ws.task_key(task.number))
            .detail(run.id.to_string()),
    );
    Ok(run)
}

/// The seed's form of `POST /api/v1/sessions` for a task: `{task_id, executor, repo_id, branch?}` starts a
/// run of the task and answers with its session and branch.
#[derive(Debug, Deserialize, Serialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct TaskSession {
    /// The task (id or key).
    pub task_id: String,
    /// `claude` (or `claude-code`) or `codex`.
    pub executor: String,
    /// The project (the seed's repository; default: the task's).
    #[ts(optional)]
    pub repo_id: Option<String>,
    /// The new branch's exact name (default: the project's template).
    #[ts(optional)]
    pub branch: Option<String>,
    /// The first message (default: from the task).
    #[ts(optional)]
    pub prompt: Option<String>,
    /// Model.
    #[ts(optional)]
    pub model: Option<String>,
    /// Permission mode.
    #[ts(optional)]
    pub permission_mode: Option<String>,
}

/// Starts a run from the seed's session request; the run (queued when it must wait).
pub async fn start_task_session(
    state: &AppState,
    actor: &Actor,
    who: &User,
    req: TaskSession,
) -> Result<Run, OpError> {
    let provider = match req.executor.trim().to_ascii_lowercase().as_str() {
        "claude" | "claude-code" | "claude_code" => Provider::Claude,
        "codex" => Provider::Codex,
        other => {
            return Err(OpError::BadRequest(format!(
                "executor {other:?} is not an agent here; use \"claude\" or \"codex\""
            )));
        }
    };
    let project_id = match &req.repo_id {
        Some(id) => Some(ProjectId::parse(id).ok_or_else(|| {
            OpError::BadRequest(format!("repo_id {id:?} is not a project id (a UUID)"))
        })?),
        None => None,
    };
    let new = NewRun {
        project_id,
        provider: Some(provider),
        model: req.model,
        permission_mode: req.permission_mode,
        branch: req.branch,
        prompt: req.prompt,
        ..NewRun::default()
    };
    start(state, actor, who, &req.task_id, new).await
}

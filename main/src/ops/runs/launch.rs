//! Starting a run: whether it may start now, and asking the project's node to prepare its work tree and
//! start its agent. Claiming a run (queued → starting) happens under the store's lock, so the API and the
//! run queue never start one run twice.

use vibebridge_tunnel::run::RunSpec;

use super::super::{OpError, sessions};
use crate::ops::workspaces::Access;
use crate::state::AppState;
use crate::store::{Run, RunId, RunStatus, Task, now_ms};

/// A branch name the user typed, checked the way git would refuse it.
pub fn check_branch(b: &str) -> Result<String, OpError> {
    let b = b.trim();
    let bad = !crate::ops::projects::branch_name_ok(b) || b.ends_with(".lock");
    if bad {
        return Err(OpError::BadRequest(format!(
            "{b:?} is not a valid branch name (no spaces, no `..`, none of ~^:?*[\\ and not starting with - / .)"
        )));
    }
    Ok(b.to_string())
}

/// The first message of a run when none is given: the workspace's prompt prefix, the task's title, its
/// description.
pub fn task_prompt(access: &Access, task: &Task) -> String {
    let mut p = String::new();
    let prefix = access.ws.settings.prompt_prefix.trim();
    if !prefix.is_empty() {
        p.push_str(prefix);
        p.push_str("\n\n");
    }
    p.push_str(&format!(
        "{}: {}",
        access.ws.task_key(task.number),
        task.title
    ));
    if !task.description.trim().is_empty() {
        p.push_str("\n\n");
        p.push_str(task.description.trim());
    }
    p
}

/// Why a queued run may not start now, or `None` when it may.
fn blocked(state: &AppState, run: &Run) -> Result<Option<String>, OpError> {
    if state.registry.get(&run.node_id).is_none() {
        return Ok(Some(format!(
            "node {} is offline; the run starts when it reconnects",
            run.node_id
        )));
    }
    let ws = state
        .store
        .workspace(run.workspace_id)?
        .ok_or_else(|| OpError::NotFound("the run's workspace was deleted".into()))?;
    let limit = ws.settings.run_concurrency;
    let all = state.store.all_runs()?;
    let active = all
        .iter()
        .filter(|r| r.workspace_id == run.workspace_id && r.status.is_active() && r.id != run.id)
        .count();
    if limit > 0 && active >= limit as usize {
        return Ok(Some(format!(
            "the workspace runs {active} agents, its limit (settings: run concurrency {limit}); the run starts when one finishes"
        )));
    }
    if matches!(run.mode, vibebridge_tunnel::run::RunMode::InPlace)
        && let Some(other) = all.iter().find(|r| {
            r.id != run.id
                && r.project_id == run.project_id
                && matches!(r.mode, vibebridge_tunnel::run::RunMode::InPlace)
                && (r.status.is_active() || r.status == RunStatus::Idle)
        })
    {
        return Ok(Some(format!(
            "run {} works in the project's working copy; in-place runs take turns, this one starts when it ends",
            other.id
        )));
    }
    Ok(None)
}

/// Starts a queued run if it may start now; otherwise records why it waits. Returns the run as it is then.
pub async fn try_start(state: &AppState, id: RunId) -> Result<Run, OpError> {
    let Some(run) = state.store.run(id)? else {
        return Err(OpError::NotFound(format!("no run {id}")));
    };
    if run.status != RunStatus::Queued {
        return Ok(run);
    }
    let project = state.store.project(run.project_id)?;
    let task = state.store.task(run.task_id)?;
    let ws = state.store.workspace(run.workspace_id)?;
    let node = state.store.node(&run.node_id)?;
    let (Some(project), Some(task), Some(ws), Some(node)) = (project, task, ws, node) else {
        return fail(
            state,
            id,
            "its task, project, workspace or node was deleted".into(),
        );
    };
    // Claimed under the store's lock: whoever sees it queued and may start it first, starts it.
    let session_id = uuid::Uuid::now_v7();
    let why = blocked(state, &run)?;
    let run = state.store.update_run(id, |r| {
        if r.status != RunStatus::Queued {
            return Ok::<_, OpError>(());
        }
        if let Some(why) = &why {
            r.status_message = Some(why.clone());
            return Ok(());
        }
        r.status = RunStatus::Starting;
        r.status_message = None;
        r.session_id = Some(session_id);
        r.started_at = Some(now_ms());
        Ok(())
    })?;
    // Someone else claimed it, or it must wait.
    if run.session_id != Some(session_id) || run.status != RunStatus::Starting {
        return Ok(run);
    }
    // A project on GitHub starts new branches from GitHub's base as it is now.
    let start_point = if project.github_repo.is_some()
        && matches!(run.mode, vibebridge_tunnel::run::RunMode::Worktree { .. })
    {
        match crate::ops::github::base::fetch_base(state, &run, &project).await {
            Ok(point) => point,
            Err(e) => {
                return fail(
                    state,
                    id,
                    format!(
                        "fetching {} from GitHub before starting: {e}",
                        run.base_branch
                    ),
                );
            }
        }
    } else {
        None
    };
    let run = if start_point.is_some() {
        state.store.update_run(id, |r| {
            r.start_point = start_point.clone();
            Ok::<_, OpError>(())
        })?
    } else {
        run
    };
    let key = ws.task_key(task.number);
    let spec = RunSpec {
        run_id: run.id.to_string(),
        task_key: key.clone(),
        task_title: task.title.clone(),
        repo: project.repo_path.clone(),
        base_branch: run.base_branch.clone(),
        start_point: run.start_point.clone(),
        mode: run.mode.clone(),
        copy_files: project.copy_files.clone(),
        setup_script: project.scripts.setup.clone(),
        cleanup_script: project.scripts.cleanup.clone(),
        dev_script: project.scripts.dev.clone(),
        // In place, the working copy's branch is the user's own: what the agent leaves stays uncommitted there.
        commit_message: (!matches!(run.mode, vibebridge_tunnel::run::RunMode::InPlace)).then(
            || {
                ws.settings
                    .run_commit_message
                    .replace("{key}", &key)
                    .replace("{title}", &task.title)
            },
        ),
    };
    let launch = sessions::Launch {
        id: session_id,
        owner: run.created_by,
        node,
        path: project.repo_path.clone(),
        provider: run.provider,
        model: run.model.clone(),
        permission_mode: run.permission_mode.clone(),
        prompt: run.prompt.clone(),
        run: Some(Box::new(spec)),
        timeout: state.config.runs.start_timeout,
    };
    match sessions::launch_session(state, launch).await {
        Ok(launched) => {
            let prepared = match launched {
                sessions::Launched::Started(_, prepared) => prepared,
                sessions::Launched::Unknown(_) => None,
            };
            Ok(state.store.update_run(id, |r| {
                if let Some(p) = prepared.clone() {
                    r.prepared.get_or_insert(*p);
                }
                if r.status == RunStatus::Starting {
                    r.status = RunStatus::Running;
                }
                Ok::<_, OpError>(())
            })?)
        }
        // The node went away between the check and the start: wait for it again.
        Err(OpError::NodeOffline(message)) => Ok(state.store.update_run(id, |r| {
            r.status = RunStatus::Queued;
            r.session_id = None;
            r.status_message = Some(message.clone());
            Ok::<_, OpError>(())
        })?),
        Err(e) => fail(state, id, e.to_string()),
    }
}

/// Marks a run failed with `why`.
fn fail(state: &AppState, id: RunId, why: String) -> Result<Run, OpError> {
    let mut before = RunStatus::Failed;
    let run = state.store.update_run(id, |r| {
        before = r.status;
        r.status = RunStatus::Failed;
        r.status_message = Some(why.clone());
        Ok::<_, OpError>(())
    })?;
    crate::ops::notify::events::run_moved(state, before, &run);
    Ok(run)
}

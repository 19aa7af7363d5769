//! Work trees of runs: what a project's repository holds on its node (each worktree with the run it belongs
//! to, unknown ones offered for adoption, vanished ones marked missing), removing a run's work tree when a
//! person asks, and the cleanup sweep that removes merged or archived runs' work trees after
//! `runs.cleanup_after`, only on positive evidence that nothing is lost, and audits what it removed.

use serde::{Deserialize, Serialize};
use vibebridge_tunnel::git::{GitAnswer, GitRequest, Removal, WorktreeEntry};

use super::super::{Actor, OpError, projects, relay};
use super::visible;
use crate::ops::workspaces::Access;
use crate::state::AppState;
use crate::store::{
    AuditAction, Project, Run, RunId, RunStatus, User, WorkspaceRole, WorktreeState, now_ms,
};

/// A worktree of a project's repository, with the run it belongs to.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct ProjectWorktree {
    /// What the node says of it.
    #[serde(flatten)]
    pub entry: WorktreeEntry,
    /// The run working in it, if one is known.
    #[ts(optional, type = "string")]
    pub run_id: Option<RunId>,
}

/// Body of `POST /runs/:id/cleanup`.
#[derive(Debug, Default, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct CleanupRun {
    /// Remove it even with uncommitted changes or commits on no other branch (they stay on its branch;
    /// uncommitted changes are gone).
    #[ts(optional)]
    pub force: Option<bool>,
}

/// A project's worktrees on its node (member allowed on the node). Runs whose work tree is gone are marked
/// missing on the way; they can start again from their branch (`existing` mode).
pub async fn worktrees(
    state: &AppState,
    who: &User,
    access: &Access,
    project: &Project,
) -> Result<Vec<ProjectWorktree>, OpError> {
    access.require(WorkspaceRole::Member, "see a project's worktrees")?;
    projects::require_node(state, who, project)?;
    let req = GitRequest::Worktrees {
        repo: project.repo_path.clone(),
    };
    let entries = match relay::git(state, &project.node_id, req).await? {
        GitAnswer::Worktrees { worktrees } => worktrees,
        other => return Err(relay::unexpected(&other)),
    };
    let runs: Vec<Run> = state
        .store
        .all_runs()?
        .into_iter()
        .filter(|r| r.project_id == project.id)
        .collect();
    for r in &runs {
        let Some(p) = &r.prepared else { continue };
        let listed = entries.iter().find(|e| e.path == p.path);
        let gone = listed.is_none_or(|e| e.missing);
        // The project's own working copy (in-place runs) never goes missing this way.
        if gone && r.worktree == WorktreeState::Present && p.path != project.repo_path {
            state.store.update_run(r.id, |run| {
                run.worktree = WorktreeState::Missing;
                Ok::<_, OpError>(())
            })?;
        }
    }
    Ok(entries
        .into_iter()
        .map(|entry| ProjectWorktree {
            run_id: runs
                .iter()
                .filter(|r| r.prepared.as_ref().is_some_and(|p| p.path == entry.path))
                .max_by_key(|r| r.created_at)
                .map(|r| r.id),
            entry,
        })
        .collect())
}

/// Removes a run's work tree because a person asked (member allowed on the node). Without `force` it is
/// removed only when nothing would be lost; with it, its branch still keeps its commits.
pub async fn remove(
    state: &AppState,
    actor: &Actor,
    who: &User,
    id: &str,
    req: CleanupRun,
) -> Result<Removal, OpError> {
    let (access, task, run) = visible(state, who, id)?;
    access.require(WorkspaceRole::Member, "remove run work trees")?;
    if run.status.is_active() {
        return Err(OpError::Conflict(
            "the run's agent is working; stop it first".into(),
        ));
    }
    let project = super::project_of(state, &run)?;
    projects::require_node(state, who, &project)?;
    let force = req.force.unwrap_or(false);
    let removal = remove_on_node(state, &project, &run, force).await?;
    state.store.audit(
        actor
            .audit(AuditAction::RunCleanedUp)
            .target(access.ws.task_key(task.number))
            .detail(describe(&run, &removal, force)),
    );
    Ok(removal)
}

async fn remove_on_node(
    state: &AppState,
    project: &Project,
    run: &Run,
    force: bool,
) -> Result<Removal, OpError> {
    let path = match (&run.prepared, run.worktree) {
        (Some(p), WorktreeState::Present) if p.path != project.repo_path => p.path.clone(),
        (Some(p), _) if p.path == project.repo_path => {
            return Err(OpError::Conflict(
                "the run worked in the project's own working copy, which is never removed".into(),
            ));
        }
        _ => {
            return Err(OpError::Conflict(
                "the run has no work tree on the node to remove".into(),
            ));
        }
    };
    let req = GitRequest::RemoveWorktree {
        repo: project.repo_path.clone(),
        path,
        merged_into: run.merged.as_ref().map(|m| m.into.clone()),
        delete_branch: false,
        force,
    };
    let removal = match relay::git(state, &run.node_id, req).await? {
        GitAnswer::Removed(r) => r,
        other => return Err(relay::unexpected(&other)),
    };
    if removal.removed {
        state.store.update_run(run.id, |r| {
            r.worktree = WorktreeState::Removed;
            Ok::<_, OpError>(())
        })?;
    }
    Ok(removal)
}

fn describe(run: &Run, r: &Removal, force: bool) -> String {
    let path = run
        .prepared
        .as_ref()
        .map(|p| p.path.as_str())
        .unwrap_or("?");
    match (r.removed, &r.kept_because) {
        (true, _) if force => format!("removed {path} (forced; its branch keeps its commits)"),
        (true, _) => format!("removed {path}"),
        (false, Some(why)) => format!("kept {path}: {why}"),
        (false, None) => format!("kept {path}"),
    }
}

/// Removes the work trees of runs merged, or of archived tasks, more than `older_than` ago
/// (`runs.cleanup_after`), when nothing would be lost; what it removes is audited, what it keeps stays as it
/// is. Returns how many it removed.
pub async fn sweep(state: &AppState, older_than: std::time::Duration) -> usize {
    let after = u64::try_from(older_than.as_millis()).unwrap_or(u64::MAX);
    let now = now_ms();
    let runs = match state.store.all_runs() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("listing runs to clean up: {e}");
            return 0;
        }
    };
    let mut removed = 0;
    for run in runs {
        if run.worktree != WorktreeState::Present
            || run.status.is_active()
            || run.prepared.is_none()
        {
            continue;
        }
        let archived = matches!(state.store.task(run.task_id), Ok(Some(t)) if t.archived);
        let since = match (&run.merged, archived) {
            (Some(m), _) => m.at,
            (None, true) => run.updated_at,
            (None, false) => continue,
        };
        if now.saturating_sub(since) < after || run.status == RunStatus::Queued {
            continue;
        }
        let Ok(Some(project)) = state.store.project(run.project_id) else {
            continue;
        };
        if run
            .prepared
            .as_ref()
            .is_some_and(|p| p.path == project.repo_path)
        {
            continue;
        }
        match remove_on_node(state, &project, &run, false).await {
            Ok(r) => {
                if r.removed {
                    removed += 1;
                }
                let detail = describe(&run, &r, false);
                tracing::info!(run = %run.id, "cleanup: {detail}");
                if r.removed {
                    state.store.audit(
                        Actor::system()
                            .audit(AuditAction::RunCleanedUp)
                            .target(run.id.to_string())
                            .detail(detail),
                    );
                }
            }
            Err(e) => tracing::info!(run = %run.id, "cleanup skipped: {e}"),
        }
    }
    removed
}

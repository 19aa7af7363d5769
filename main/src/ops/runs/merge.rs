//! Delivering a run: rebasing its branch onto the base, then merging it into the base on its node (squash by
//! default, a merge commit, or a fast-forward) without touching a working copy that has the base checked
//! out and is dirty. After a merge the run is `merged`, its task `done`, and its work tree removed when that
//! loses nothing (clean, every commit on another branch); the branch is deleted only when asked and only
//! once its changes are in the base.

use serde::Deserialize;
use vibebridge_tunnel::git::{Author, GitAnswer, GitRequest, GitStatus, MergeStrategy};

use super::super::{Actor, OpError, relay};
use super::{track, visible};
use crate::state::AppState;
use crate::store::{
    AuditAction, MergeInfo, Run, RunStatus, TaskStatus, User, WorkspaceRole, WorktreeState, now_ms,
};

/// Body of `POST /runs/:id/merge`.
#[derive(Debug, Default, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct MergeRun {
    /// How (default: squash).
    #[ts(optional)]
    pub strategy: Option<MergeStrategy>,
    /// The commit message (default: `<task title> (<key>)`).
    #[ts(optional)]
    pub message: Option<String>,
    /// Delete the run's branch once its changes are in the base (default: keep it).
    #[ts(optional)]
    pub delete_branch: Option<bool>,
}

/// A run that may be rebased or merged now: started, not working, not merged, its work tree there.
fn deliverable(run: &Run) -> Result<(&str, &str), OpError> {
    if run.status.is_active() {
        return Err(OpError::Conflict(
            "the run's agent is working; wait for its turn to end (or stop it) first".into(),
        ));
    }
    if run.status == RunStatus::Merged {
        return Err(OpError::Conflict("the run is merged already".into()));
    }
    let prepared = run.prepared.as_ref().ok_or_else(|| {
        OpError::Conflict("the run never prepared a work tree; there is nothing to merge".into())
    })?;
    let branch = prepared.branch.as_deref().ok_or_else(|| {
        OpError::Conflict(
            "the run's work tree has a detached HEAD; there is no branch to merge".into(),
        )
    })?;
    if run.worktree != WorktreeState::Present {
        return Err(OpError::Conflict(
            "the run's work tree is gone; recreate it from its branch first".into(),
        ));
    }
    Ok((&prepared.path, branch))
}

/// Rebases the run's branch onto its base (member). A conflict changes nothing and names the files.
pub async fn rebase(
    state: &AppState,
    actor: &Actor,
    who: &User,
    id: &str,
) -> Result<GitStatus, OpError> {
    let (access, task, run) = visible(state, who, id)?;
    access.require(WorkspaceRole::Member, "rebase runs")?;
    let (path, _) = deliverable(&run)?;
    let path = path.to_string();
    // A project on GitHub rebases onto GitHub's base as it is now.
    let onto = match state.store.project(run.project_id)? {
        Some(project) if project.github_repo.is_some() => {
            crate::ops::github::base::fetch_base(state, &run, &project)
                .await?
                .unwrap_or_else(|| run.compare_base().to_string())
        }
        _ => run.compare_base().to_string(),
    };
    let req = GitRequest::Rebase {
        repo: path,
        onto: onto.clone(),
    };
    let status = match relay::git(state, &run.node_id, req).await? {
        GitAnswer::Status(s) => s,
        other => return Err(relay::unexpected(&other)),
    };
    state.store.audit(
        actor
            .audit(AuditAction::RunRebased)
            .target(access.ws.task_key(task.number))
            .detail(format!("onto {onto}")),
    );
    Ok(status)
}

/// Merges the run into its base on the node (member allowed on the node), then marks it merged, moves its
/// task to done and removes its work tree when that loses nothing.
pub async fn merge(
    state: &AppState,
    actor: &Actor,
    who: &User,
    id: &str,
    req: MergeRun,
) -> Result<Run, OpError> {
    let (access, task, run) = visible(state, who, id)?;
    access.require(WorkspaceRole::Member, "merge runs")?;
    let project = super::project_of(state, &run)?;
    super::super::projects::require_node(state, who, &project)?;
    let (path, branch) = deliverable(&run)?;
    let (path, branch) = (path.to_string(), branch.to_string());
    let key = access.ws.task_key(task.number);
    let strategy = req.strategy.unwrap_or_default();
    let message = match req.message.map(|m| m.trim().to_string()) {
        Some(m) if !m.is_empty() => m,
        _ => format!("{} ({key})", task.title),
    };
    let author = Author {
        name: who.name.clone().unwrap_or_else(|| who.username.clone()),
        email: who
            .email
            .clone()
            .unwrap_or_else(|| format!("{}@vibebridge.invalid", who.username)),
    };
    let merged = GitRequest::Merge {
        repo: project.repo_path.clone(),
        branch: branch.clone(),
        into: run.base_branch.clone(),
        strategy,
        message,
        author,
    };
    let commit = match relay::git(state, &run.node_id, merged).await? {
        GitAnswer::Merged { commit } => commit,
        other => return Err(relay::unexpected(&other)),
    };
    let info = MergeInfo {
        commit: commit.clone(),
        into: run.base_branch.clone(),
        strategy,
        by: who.id,
        at: now_ms(),
        pull_request: None,
    };
    let run = state.store.update_run(run.id, |r| {
        r.status = RunStatus::Merged;
        r.status_message = None;
        r.merged = Some(info.clone());
        Ok::<_, OpError>(())
    })?;
    state.store.audit(
        actor
            .audit(AuditAction::RunMerged)
            .target(key.clone())
            .detail(format!(
                "{branch} into {} as {} ({strategy:?})",
                run.base_branch,
                commit.get(..12).unwrap_or(&commit)
            )),
    );
    track::automate(state, &run, TaskStatus::Done)?;
    // The work tree goes only when nothing would be lost; a refusal is not the merge's failure.
    let remove = GitRequest::RemoveWorktree {
        repo: project.repo_path.clone(),
        path,
        merged_into: Some(run.base_branch.clone()),
        delete_branch: req.delete_branch.unwrap_or(false),
        force: false,
    };
    match relay::git(state, &run.node_id, remove).await {
        Ok(GitAnswer::Removed(r)) => {
            if let Some(why) = &r.kept_because {
                tracing::info!(run = %run.id, "kept the merged run's work tree or branch: {why}");
            }
            if r.removed {
                return state.store.update_run(run.id, |r| {
                    r.worktree = WorktreeState::Removed;
                    Ok::<_, OpError>(())
                });
            }
        }
        Ok(other) => {
            tracing::warn!(run = %run.id, "removing the work tree: {:?}", relay::unexpected(&other))
        }
        Err(e) => tracing::warn!(run = %run.id, "removing the merged run's work tree: {e}"),
    }
    Ok(run)
}

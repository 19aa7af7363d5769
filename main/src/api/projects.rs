//! `/api/v1/projects/:id`: read, change and delete a project, and list its repository's branches.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use vibebridge_tunnel::git::BranchList;

use super::extract::Writer;
use super::{ApiError, Body, Path};
use crate::auth::Approved;
use crate::ops::OpError;
use crate::ops::projects::{self, ProjectPatch};
use crate::ops::runs::cleanup::{self, ProjectWorktree};
use crate::ops::workspaces::{self, Access};
use crate::state::AppState;
use crate::store::{Project, ProjectId, User};

/// A project and whether the caller may run agents on its node.
#[derive(Serialize, ts_rs::TS)]
pub struct ProjectView {
    /// The project.
    #[serde(flatten)]
    pub project: Project,
    /// The caller may use its node (start runs, open its files).
    pub can_run: bool,
}

/// The project `id` and its workspace as `who` may act in it; "not found" otherwise.
fn find(state: &AppState, who: &User, id: &str) -> Result<(Access, Project), OpError> {
    let not_found = || OpError::NotFound(format!("no project {id:?}"));
    let project = ProjectId::parse(id)
        .map(|pid| state.store.project(pid))
        .transpose()?
        .flatten()
        .ok_or_else(not_found)?;
    let access = workspaces::access(state, who, &project.workspace_id.to_string())
        .map_err(|_| not_found())?;
    Ok((access, project))
}

/// `GET /projects/:id`.
pub async fn get(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<ProjectView>, ApiError> {
    let (_, project) = find(&state, &who.user, &id)?;
    let can_run = projects::can_run(&state, &who.user, &project);
    Ok(Json(ProjectView { project, can_run }))
}

/// `PATCH /projects/:id`.
pub async fn update(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(patch): Body<ProjectPatch>,
) -> Result<Json<ProjectView>, ApiError> {
    let (access, project) = find(&state, &w.who.user, &id)?;
    let project = projects::update(&state, &w.actor, &w.who.user, &access, &project, patch).await?;
    let can_run = projects::can_run(&state, &w.who.user, &project);
    Ok(Json(ProjectView { project, can_run }))
}

/// `{deleted: id}`.
#[derive(Serialize, ts_rs::TS)]
pub struct ProjectDeleted {
    /// The deleted project.
    pub deleted: ProjectId,
}

/// `DELETE /projects/:id`.
pub async fn delete(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
) -> Result<Json<ProjectDeleted>, ApiError> {
    let (access, project) = find(&state, &w.who.user, &id)?;
    projects::delete(&state, &w.actor, &w.who.user, &access, &project)?;
    Ok(Json(ProjectDeleted {
        deleted: project.id,
    }))
}

/// `GET /projects/:id/branches`: the repository's branches, from its node (node access needed).
pub async fn branches(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<BranchList>, ApiError> {
    let (_, project) = find(&state, &who.user, &id)?;
    if !projects::can_run(&state, &who.user, &project) {
        return Err(ApiError::Forbidden(format!(
            "you are not allowed on node {:?}, where this project's repository is",
            project.node_id
        )));
    }
    Ok(Json(projects::branches(&state, &project).await?))
}

/// `GET /projects/:id/worktrees`: the repository's worktrees on its node, each with the run it belongs to.
pub async fn worktrees(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<Vec<ProjectWorktree>>, ApiError> {
    let (access, project) = find(&state, &who.user, &id)?;
    Ok(Json(
        cleanup::worktrees(&state, &who.user, &access, &project).await?,
    ))
}

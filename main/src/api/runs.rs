//! Task runs: `POST/GET /api/v1/tasks/:id/runs` start and list a task's runs; `/api/v1/runs/:id` reads
//! one with its execution processes, `/api/v1/runs/:id/stop` stops it, `dev` starts or stops its dev server; `diff` and `comments` review it,
//! `comments/send` sends the review to its agent, `rebase` and `merge` deliver it. `/api/v1/usage` rolls up
//! what runs cost. The agent's turns are the run's
//! session (`/api/v1/sessions/:session_id`), which every member of the workspace who sees the task may read.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::extract::Writer;
use super::{ApiError, Body, Path};
use crate::auth::Approved;
use crate::ops::runs::cleanup::CleanupRun;
use crate::ops::runs::merge::{self, MergeRun};
use crate::ops::runs::review::{self, NewReviewComment, ReviewCommentPatch, ReviewSent, RunReview};
use crate::ops::runs::{self, NewRun, RunDetail};
use crate::ops::usage::{UsageQuery, UsageReport};
use crate::state::AppState;
use crate::store::{ReviewComment, Run};
use vibebridge_tunnel::git::GitStatus;

/// `POST /tasks/:id/runs`: 201 with the run (starting, or queued with the reason it waits).
pub async fn start(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(req): Body<NewRun>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    let run = runs::start(&state, &w.actor, &w.who.user, &id, req).await?;
    Ok((StatusCode::CREATED, Json(run)))
}

/// `GET /tasks/:id/runs`: the task's runs, oldest first.
pub async fn list(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<Vec<Run>>, ApiError> {
    Ok(Json(runs::list(&state, &who.user, &id)?))
}

/// `GET /runs/:id`: the run with its execution processes.
pub async fn get(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<RunDetail>, ApiError> {
    let (access, _, run) = runs::visible(&state, &who.user, &id)?;
    Ok(Json(runs::detail(&state, &access, run)?))
}

/// `POST /runs/:id/stop`.
pub async fn stop(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(runs::stop(&state, &w.actor, &w.who.user, &id).await?))
}

/// `POST /runs/:id/dev` `{start}`: starts or stops the run's dev server; the run.
pub async fn dev_server(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(body): Body<crate::ops::runs::dev::DevServerRequest>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(
        crate::ops::runs::dev::dev_server(&state, &w.actor, &w.who.user, &id, body).await?,
    ))
}

/// `?path=`: one file's diff.
#[derive(Debug, Default, serde::Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// Only this file.
    #[ts(optional)]
    pub path: Option<String>,
}

/// `GET /runs/:id/diff`: the run's changes against the merge base, with its review comments.
pub async fn diff(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    super::Query(q): super::Query<DiffQuery>,
) -> Result<Json<RunReview>, ApiError> {
    Ok(Json(review::diff(&state, &who.user, &id, q.path).await?))
}

/// `GET /runs/:id/comments`.
pub async fn comments(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<Vec<ReviewComment>>, ApiError> {
    Ok(Json(review::comments(&state, &who.user, &id)?))
}

/// `POST /runs/:id/comments`: 201 with the comment.
pub async fn add_comment(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(body): Body<NewReviewComment>,
) -> Result<(StatusCode, Json<ReviewComment>), ApiError> {
    let c = review::add_comment(&state, &w.who.user, &id, body)?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// `PATCH /runs/:id/comments/:comment_id`.
pub async fn edit_comment(
    State(state): State<AppState>,
    w: Writer,
    Path((id, comment)): Path<(String, String)>,
    Body(body): Body<ReviewCommentPatch>,
) -> Result<Json<ReviewComment>, ApiError> {
    Ok(Json(review::edit_comment(
        &state,
        &w.who.user,
        &id,
        &comment,
        body,
    )?))
}

/// `DELETE /runs/:id/comments/:comment_id`: 204.
pub async fn delete_comment(
    State(state): State<AppState>,
    w: Writer,
    Path((id, comment)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    review::delete_comment(&state, &w.who.user, &id, &comment)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /runs/:id/comments/send`: the comments not sent yet go to the agent as one follow-up.
pub async fn send_comments(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
) -> Result<Json<ReviewSent>, ApiError> {
    Ok(Json(review::send(&state, &w.actor, &w.who, &id).await?))
}

/// `POST /runs/:id/rebase`: the work tree's status after rebasing onto the base.
pub async fn rebase(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
) -> Result<Json<GitStatus>, ApiError> {
    Ok(Json(
        merge::rebase(&state, &w.actor, &w.who.user, &id).await?,
    ))
}

/// `POST /runs/:id/merge`: the run, merged.
pub async fn merge(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(body): Body<MergeRun>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(
        merge::merge(&state, &w.actor, &w.who.user, &id, body).await?,
    ))
}

/// `GET /usage?group_by=&from=&to=&workspace=`: tokens and cost of the runs the caller may see, grouped.
pub async fn usage(
    State(state): State<AppState>,
    Approved(who): Approved,
    super::Query(q): super::Query<UsageQuery>,
) -> Result<Json<UsageReport>, ApiError> {
    Ok(Json(crate::ops::usage::report(&state, &who.user, q)?))
}

/// `POST /runs/:id/cleanup` `{force?}`: removes the run's work tree (only when nothing would be lost, unless
/// forced); what the node did.
pub async fn cleanup(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(body): Body<CleanupRun>,
) -> Result<Json<vibebridge_tunnel::git::Removal>, ApiError> {
    Ok(Json(
        crate::ops::runs::cleanup::remove(&state, &w.actor, &w.who.user, &id, body).await?,
    ))
}

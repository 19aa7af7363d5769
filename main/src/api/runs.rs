//! Task runs: `POST/GET /api/v1/tasks/:id/runs` start and list a task's runs; `/api/v1/runs/:id` reads
//! one with its execution processes, `/api/v1/runs/:id/stop` stops it. The agent's turns are the run's
//! session (`/api/v1/sessions/:session_id`), which every member of the workspace who sees the task may read.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::extract::Writer;
use super::{ApiError, Body, Path};
use crate::auth::Approved;
use crate::ops::runs::{self, NewRun, RunDetail};
use crate::state::AppState;
use crate::store::Run;

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
    Ok(Json(runs::stop(&state, &w.actor, &w.who, &id).await?))
}

//! `/api/v1/tasks/:id` (a task id or key such as `WEB-42`): read, edit, move, delete a task; its subtasks,
//! comments and activity.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;

use super::extract::Writer;
use super::{ApiError, Body, Path};
use crate::auth::Approved;
use crate::ops::comments::{self, CommentBody};
use crate::ops::tasks::{self, MoveTask, TaskPatch, TaskView};
use crate::state::AppState;
use crate::store::{Activity, Attachment, AttachmentId, Comment, CommentId, TaskId};

/// `GET /tasks/:id`.
pub async fn get(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<TaskView>, ApiError> {
    let (access, task) = tasks::find(&state, &who.user, &id)?;
    Ok(Json(tasks::view(&state, &access, task)))
}

/// `PATCH /tasks/:id` with the version the editor saw: 409 `stale` with the current task when it moved on.
pub async fn update(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(patch): Body<TaskPatch>,
) -> Result<Json<TaskView>, ApiError> {
    let (access, task) = tasks::find(&state, &w.who.user, &id)?;
    Ok(Json(tasks::update(
        &state,
        &w.actor,
        &w.who.user,
        &access,
        &task,
        patch,
    )?))
}

/// `POST /tasks/:id/move` `{status, after?, before?}`.
pub async fn move_to(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(to): Body<MoveTask>,
) -> Result<Json<TaskView>, ApiError> {
    let (access, task) = tasks::find(&state, &w.who.user, &id)?;
    Ok(Json(tasks::move_to(
        &state,
        &w.who.user,
        &access,
        &task,
        to,
    )?))
}

/// `{deleted: id}`.
#[derive(Serialize, ts_rs::TS)]
pub struct TaskDeleted {
    /// The deleted task.
    pub deleted: TaskId,
}

/// `DELETE /tasks/:id`.
pub async fn delete(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
) -> Result<Json<TaskDeleted>, ApiError> {
    let (access, task) = tasks::find(&state, &w.who.user, &id)?;
    tasks::delete(&state, &w.actor, &w.who.user, &access, &task)?;
    Ok(Json(TaskDeleted { deleted: task.id }))
}

/// `GET /tasks/:id/subtasks`: those the caller may see.
pub async fn subtasks(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<Vec<TaskView>>, ApiError> {
    let (access, task) = tasks::find(&state, &who.user, &id)?;
    let subtasks = state
        .store
        .subtasks(task.id)?
        .into_iter()
        .filter(|t| t.visible_to(who.user.id, access.is_admin()))
        .map(|t| tasks::view(&state, &access, t))
        .collect();
    Ok(Json(subtasks))
}

/// `GET /tasks/:id/comments`.
pub async fn comments(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<Vec<Comment>>, ApiError> {
    let (_, task) = tasks::find(&state, &who.user, &id)?;
    Ok(Json(comments::list(&state, &task)?))
}

/// `POST /tasks/:id/comments` `{body}`.
pub async fn add_comment(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(body): Body<CommentBody>,
) -> Result<Json<Comment>, ApiError> {
    let (access, task) = tasks::find(&state, &w.who.user, &id)?;
    Ok(Json(comments::add(
        &state,
        &w.who.user,
        &access,
        &task,
        body,
    )?))
}

/// `PATCH /tasks/:id/comments/:comment_id` `{body}`: one's own.
pub async fn edit_comment(
    State(state): State<AppState>,
    w: Writer,
    Path((id, comment)): Path<(String, CommentId)>,
    Body(body): Body<CommentBody>,
) -> Result<Json<Comment>, ApiError> {
    let (access, task) = tasks::find(&state, &w.who.user, &id)?;
    Ok(Json(comments::edit(
        &state,
        &w.who.user,
        &access,
        &task,
        comment,
        body,
    )?))
}

/// `{deleted: id}`.
#[derive(Serialize, ts_rs::TS)]
pub struct CommentDeleted {
    /// The deleted comment.
    pub deleted: CommentId,
}

/// `DELETE /tasks/:id/comments/:comment_id`: one's own, or any as a workspace admin.
pub async fn delete_comment(
    State(state): State<AppState>,
    w: Writer,
    Path((id, comment)): Path<(String, CommentId)>,
) -> Result<Json<CommentDeleted>, ApiError> {
    let (access, task) = tasks::find(&state, &w.who.user, &id)?;
    comments::delete(&state, &w.who.user, &access, &task, comment)?;
    Ok(Json(CommentDeleted { deleted: comment }))
}

/// `GET /tasks/:id/activity`.
pub async fn activity(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<Vec<Activity>>, ApiError> {
    let (_, task) = tasks::find(&state, &who.user, &id)?;
    Ok(Json(comments::activity(&state, &task)?))
}

/// `GET /tasks/:id/attachments`.
pub async fn attachments(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<Vec<Attachment>>, ApiError> {
    let (_, task) = tasks::find(&state, &who.user, &id)?;
    Ok(Json(state.store.attachments(task.id)?))
}

/// `GET /tasks/:id/attachments/:attachment_id`: the file (always as a download, never rendered inline).
pub async fn attachment(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path((id, attachment)): Path<(String, AttachmentId)>,
) -> Result<impl IntoResponse, ApiError> {
    let (_, task) = tasks::find(&state, &who.user, &id)?;
    let not_found = || ApiError::NotFound(format!("no attachment {attachment}"));
    let meta = state
        .store
        .attachments(task.id)?
        .into_iter()
        .find(|a| a.id == attachment)
        .ok_or_else(not_found)?;
    let bytes = state
        .store
        .attachment_bytes(task.id, attachment)?
        .ok_or_else(not_found)?;
    let safe_name: String = meta
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe_name}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        bytes,
    ))
}

//! `/api/v1/workspaces`: workspaces, their members, settings and prompt templates, and the workspace's
//! board, task list, new tasks and projects. Handlers parse, call [`crate::ops`], and render.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use axum::http::header;
use axum::response::IntoResponse;

use super::extract::{Reader, Writer};
use super::{ApiError, Body, Path, Query};
use crate::auth::Approved;
use crate::ops::board::{Board, BoardQuery};
use crate::ops::projects::NewProject;
use crate::ops::tasks::{NewTask, TaskView};
use crate::ops::transfer::{self, ImportReport};
use crate::ops::workspaces::{self, Access, NewWorkspace, SettingsPatch};
use crate::ops::{board, projects, tasks, templates};
use crate::state::AppState;
use crate::store::{
    Priority, Project, ProjectId, PromptTemplate, TaskStatus, UserId, WorkspaceId, WorkspaceRole,
    WorkspaceSettings, rfc3339,
};

/// A member as the API shows them.
#[derive(Serialize, Deserialize, ts_rs::TS)]
pub struct MemberView {
    /// User id.
    #[ts(type = "string")]
    pub user_id: UserId,
    /// Username (what `@mentions` and filters use).
    pub username: String,
    /// Full name, when set.
    #[ts(optional)]
    pub name: Option<String>,
    /// Role here.
    pub role: WorkspaceRole,
    /// Joined, RFC 3339.
    pub added_at: String,
}

/// A workspace as the API shows it to one user.
#[derive(Serialize, Deserialize, ts_rs::TS)]
pub struct WorkspaceView {
    /// Id.
    pub id: WorkspaceId,
    /// Name.
    pub name: String,
    /// Settings.
    pub settings: WorkspaceSettings,
    /// The caller's effective role.
    pub role: WorkspaceRole,
    /// Members.
    pub members: Vec<MemberView>,
    /// Created, RFC 3339.
    pub created_at: String,
    /// Last changed, RFC 3339.
    pub updated_at: String,
}

/// The view of a workspace for the user of `access`.
pub fn view(state: &AppState, access: &Access) -> WorkspaceView {
    let ws = &access.ws;
    let members = ws
        .members
        .iter()
        .map(|m| {
            let user = state.store.user(m.user_id).ok().flatten();
            MemberView {
                user_id: m.user_id,
                username: user
                    .as_ref()
                    .map_or_else(|| m.user_id.to_string(), |u| u.username.clone()),
                name: user.and_then(|u| u.name),
                role: m.role,
                added_at: rfc3339(m.added_at),
            }
        })
        .collect();
    WorkspaceView {
        id: ws.id,
        name: ws.name.clone(),
        settings: ws.settings.clone(),
        role: access.role,
        members,
        created_at: rfc3339(ws.created_at),
        updated_at: rfc3339(ws.updated_at),
    }
}

/// `GET /workspaces`.
pub async fn list(
    State(state): State<AppState>,
    Approved(who): Approved,
) -> Result<Json<Vec<WorkspaceView>>, ApiError> {
    let all = workspaces::list(&state, &who.user)?;
    Ok(Json(all.iter().map(|a| view(&state, a)).collect()))
}

/// `POST /workspaces`.
pub async fn create(
    State(state): State<AppState>,
    w: Writer,
    Body(body): Body<NewWorkspace>,
) -> Result<Json<WorkspaceView>, ApiError> {
    let ws = workspaces::create(&state, &w.actor, &w.who.user, body)?;
    let access = workspaces::access(&state, &w.who.user, &ws.id.to_string())?;
    Ok(Json(view(&state, &access)))
}

/// `GET /workspaces/:id` (id or key prefix).
pub async fn get(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<WorkspaceView>, ApiError> {
    let access = workspaces::access(&state, &who.user, &id)?;
    Ok(Json(view(&state, &access)))
}

/// `PATCH /workspaces/:id`.
pub async fn update(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(patch): Body<SettingsPatch>,
) -> Result<Json<WorkspaceView>, ApiError> {
    let access = workspaces::access(&state, &w.who.user, &id)?;
    let ws = workspaces::update(&state, &w.actor, &access, patch)?;
    Ok(Json(view(&state, &Access { ws, ..access })))
}

/// `?confirm=<the workspace's name>`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// The workspace's exact name.
    pub confirm: String,
}

/// `{deleted: id}`.
#[derive(Serialize, ts_rs::TS)]
pub struct WorkspaceDeleted {
    /// The deleted workspace.
    pub deleted: WorkspaceId,
}

/// `DELETE /workspaces/:id?confirm=NAME`.
pub async fn delete(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<Json<WorkspaceDeleted>, ApiError> {
    let access = workspaces::access(&state, &w.who.user, &id)?;
    let ws = workspaces::delete(&state, &w.actor, &w.who.user, &access, &q.confirm)?;
    Ok(Json(WorkspaceDeleted { deleted: ws.id }))
}

/// `{username, role}`: invite a user, or change a member's role.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    /// The user's name.
    pub username: String,
    /// Their role (default `member`).
    #[ts(optional)]
    pub role: Option<WorkspaceRole>,
}

/// `POST /workspaces/:id/members`.
pub async fn set_member(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(body): Body<MemberBody>,
) -> Result<Json<WorkspaceView>, ApiError> {
    let access = workspaces::access(&state, &w.who.user, &id)?;
    let role = body.role.unwrap_or(WorkspaceRole::Member);
    let ws = workspaces::set_member(&state, &w.actor, &access, &body.username, role)?;
    Ok(Json(view(&state, &Access { ws, ..access })))
}

/// `DELETE /workspaces/:id/members/:username` (one's own name: leaving).
pub async fn remove_member(
    State(state): State<AppState>,
    w: Writer,
    Path((id, username)): Path<(String, String)>,
) -> Result<Json<WorkspaceView>, ApiError> {
    let access = workspaces::access(&state, &w.who.user, &id)?;
    let ws = workspaces::remove_member(&state, &w.actor, &w.who.user, &access, &username)?;
    Ok(Json(view(&state, &Access { ws, ..access })))
}

/// `GET /workspaces/:id/templates`.
pub async fn templates(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<Vec<PromptTemplate>>, ApiError> {
    let access = workspaces::access(&state, &who.user, &id)?;
    Ok(Json(templates::list(&state, &access)?))
}

/// `{body}`: a template's text.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// Markdown.
    pub body: String,
}

/// `PUT /workspaces/:id/templates/:name`.
pub async fn put_template(
    State(state): State<AppState>,
    w: Writer,
    Path((id, name)): Path<(String, String)>,
    Body(body): Body<TemplateBody>,
) -> Result<Json<Vec<PromptTemplate>>, ApiError> {
    let access = workspaces::access(&state, &w.who.user, &id)?;
    templates::set_template(&state, &w.actor, &access, &name, Some(body.body))?;
    Ok(Json(templates::list(&state, &access)?))
}

/// `DELETE /workspaces/:id/templates/:name`.
pub async fn delete_template(
    State(state): State<AppState>,
    w: Writer,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<Vec<PromptTemplate>>, ApiError> {
    let access = workspaces::access(&state, &w.who.user, &id)?;
    templates::set_template(&state, &w.actor, &access, &name, None)?;
    Ok(Json(templates::list(&state, &access)?))
}

/// `GET /workspaces/:id/board?q=&assignee=&label=&priority=&project=&status=&after=&limit=`.
pub async fn board(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Query(q): Query<BoardQuery>,
) -> Result<Json<Board>, ApiError> {
    let access = workspaces::access(&state, &who.user, &id)?;
    Ok(Json(board::board(&state, &who.user, &access, &q)?))
}

/// `?q=&assignee=&label=&priority=&project=&status=&limit=&archived=&offset=`: the list view. (The board's
/// filters again, not flattened: query strings carry numbers as text, which a flattened struct cannot
/// parse.)
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "TaskListQuery")]
pub struct ListQuery {
    /// Words that must all appear.
    #[ts(optional)]
    pub q: Option<String>,
    /// An assignee's username, or `none`.
    #[ts(optional)]
    pub assignee: Option<String>,
    /// A label.
    #[ts(optional)]
    pub label: Option<String>,
    /// A priority.
    #[ts(optional)]
    pub priority: Option<Priority>,
    /// A project.
    #[ts(optional)]
    pub project: Option<ProjectId>,
    /// One status.
    #[ts(optional)]
    pub status: Option<TaskStatus>,
    /// Tasks per page (default 50, at most 500).
    #[ts(optional)]
    pub limit: Option<usize>,
    /// Archived tasks instead of the board's.
    #[ts(optional)]
    pub archived: Option<bool>,
    /// Tasks to skip.
    #[ts(optional)]
    pub offset: Option<usize>,
}

/// `GET /workspaces/:id/tasks`: one page of the list view.
#[derive(Serialize, ts_rs::TS)]
pub struct TaskPage {
    /// The tasks.
    pub tasks: Vec<TaskView>,
    /// Matching tasks in all.
    pub total: usize,
}

/// `GET /workspaces/:id/tasks`.
pub async fn tasks(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<TaskPage>, ApiError> {
    let access = workspaces::access(&state, &who.user, &id)?;
    let archived = q.archived.unwrap_or(false);
    let offset = q.offset.unwrap_or(0);
    let filter = BoardQuery {
        q: q.q,
        assignee: q.assignee,
        label: q.label,
        priority: q.priority,
        project: q.project,
        status: q.status,
        after: None,
        limit: q.limit,
    };
    let (tasks, total) = board::list(&state, &who.user, &access, &filter, archived, offset)?;
    Ok(Json(TaskPage { tasks, total }))
}

/// `POST /workspaces/:id/tasks`.
pub async fn create_task(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(body): Body<NewTask>,
) -> Result<Json<TaskView>, ApiError> {
    let access = workspaces::access(&state, &w.who.user, &id)?;
    Ok(Json(tasks::create(&state, &w.who.user, &access, body)?))
}

/// `GET /workspaces/:id/projects`.
pub async fn projects(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<Vec<Project>>, ApiError> {
    let access = workspaces::access(&state, &who.user, &id)?;
    Ok(Json(state.store.projects_of(access.ws.id)?))
}

/// `POST /workspaces/:id/projects`.
pub async fn create_project(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(body): Body<NewProject>,
) -> Result<Json<Project>, ApiError> {
    let access = workspaces::access(&state, &w.who.user, &id)?;
    Ok(Json(
        projects::create(&state, &w.actor, &w.who.user, &access, body).await?,
    ))
}

/// `GET /workspaces/:id/export`: the workspace as one JSON document (a download).
pub async fn export(
    State(state): State<AppState>,
    r: Reader,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let access = workspaces::access(&state, &r.who.user, &id)?;
    let doc = transfer::export(&state, &r.actor, &r.who.user, &access)?;
    let name = format!(
        "attachment; filename=\"{}-export.json\"",
        access.ws.settings.key_prefix.to_lowercase()
    );
    Ok(([(header::CONTENT_DISPOSITION, name)], Json(doc)))
}

/// How long an import waits for a slot (`AppState::import_gate`) before it is answered 503 `server_busy`.
const IMPORT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// `POST /workspaces/:id/import`: the file as the raw body (at most 512 MiB); answers the report.
pub async fn import(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> Result<Json<ImportReport>, ApiError> {
    let access = workspaces::access(&state, &w.who.user, &id)?;
    // Each import may hold its whole file in memory: a few at a time, the others told to retry.
    let _slot = tokio::time::timeout(IMPORT_WAIT, state.import_gate.clone().acquire_owned())
        .await
        .map_err(|_| ApiError::Busy("other imports are being read; try again in a moment".into()))?
        .map_err(|_| ApiError::Busy("main is shutting down".into()))?;
    let bytes = axum::body::to_bytes(request.into_body(), transfer::MAX_IMPORT_BYTES)
        .await
        .map_err(|_| {
            ApiError::PayloadTooLarge(format!(
                "an import is at most {} MiB; split the file or remove attachments",
                transfer::MAX_IMPORT_BYTES >> 20
            ))
        })?;
    if bytes.is_empty() {
        return Err(ApiError::BadRequest(
            "send the file as the request body (our export JSON, a Vibe Kanban export ZIP or db.sqlite)"
                .into(),
        ));
    }
    Ok(Json(
        transfer::import(&state, &w.actor, &w.who.user, &access, bytes).await?,
    ))
}

//! `/api/v1/sessions`: start agent sessions on nodes, send follow-ups and stop (their events are read in
//! [`super::session_events`], approvals answered in [`super::approvals`]).
//!
//! Who may see and steer a session, and what starting one does, is in [`crate::ops::sessions`].

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vibebridge_tunnel::session::{Provider, SessionStatus};

use super::bodies::{MessageAccepted, StopRequested};
use super::{ApiError, Body};
use crate::api::{Path, Query};
use crate::auth::Approved;
use crate::ops::Actor;
use crate::ops::sessions::{self, NewSession, Start};
use crate::state::AppState;
use crate::store::{SessionRecord, UsageTotals, now_ms, rfc3339};

/// A session as the API shows it.
#[derive(Serialize, ts_rs::TS)]
pub struct SessionView {
    id: Uuid,
    node_id: String,
    node_online: bool,
    path: String,
    provider: Provider,
    model: Option<String>,
    permission_mode: Option<String>,
    title: String,
    status: SessionStatus,
    status_message: Option<String>,
    provider_session_id: Option<String>,
    reported_model: Option<String>,
    usage: UsageTotals,
    last_seq: u64,
    pending_approvals: usize,
    owner: String,
    created_at: String,
    updated_at: String,
}

fn view(state: &AppState, s: SessionRecord) -> SessionView {
    let pending = state
        .store
        .pending_approvals()
        .map(|all| all.iter().filter(|a| a.session_id == s.id).count())
        .unwrap_or(0);
    let owner = state
        .store
        .user(s.owner)
        .ok()
        .flatten()
        .map(|u| u.username)
        .unwrap_or_else(|| s.owner.to_string());
    SessionView {
        id: s.id,
        node_online: state.registry.get(&s.node_id).is_some(),
        node_id: s.node_id,
        path: s.path,
        provider: s.provider,
        model: s.model,
        permission_mode: s.permission_mode,
        title: s.title,
        status: s.status,
        status_message: s.status_message,
        provider_session_id: s.provider_session_id,
        reported_model: s.reported_model,
        usage: s.usage,
        last_seq: s.last_seq,
        pending_approvals: pending,
        owner,
        created_at: rfc3339(s.created_at),
        updated_at: rfc3339(s.updated_at),
    }
}

/// `POST /api/v1/sessions`: starts a session on a node: 201, or 202 with status `unknown` when the node's
/// answer was lost after it got the request (the session is kept and reconciled when main re-attaches).
/// The seed's `{task_id, executor, repo_id, branch?}` starts a run of the task instead and answers
/// [`TaskSessionStarted`]: 201, or 202 while the run waits (its node offline…) with no session yet.
pub async fn create(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Approved(who): Approved,
    Body(req): Body<SessionRequest>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let actor = Actor::of(&who, Some(peer));
    let req = match req {
        SessionRequest::Plain(req) => req,
        SessionRequest::Task(req) => {
            // A change to the work model like any other: it counts against `server.writes_per_minute`.
            state
                .write_limiter
                .hit(&who.user.id.to_string())
                .map_err(ApiError::TooManyRequests)?;
            let run = crate::ops::runs::start_task_session(&state, &actor, &who.user, req).await?;
            let session = run
                .session_id
                .and_then(|id| state.store.agent_session(&id).ok().flatten())
                .map(|s| view(&state, s));
            let status = if session.is_some() {
                StatusCode::CREATED
            } else {
                StatusCode::ACCEPTED
            };
            let body = TaskSessionStarted {
                branch: run.prepared.as_ref().and_then(|p| p.branch.clone()),
                session,
                run,
            };
            return Ok((status, Json(body)).into_response());
        }
    };
    let (status, rec) = match sessions::start(&state, &actor, &who, req).await? {
        Start::Started(rec) => (StatusCode::CREATED, rec),
        Start::Unknown(rec) => (StatusCode::ACCEPTED, rec),
    };
    Ok((status, Json(view(&state, rec))).into_response())
}

/// Body of `POST /api/v1/sessions`: a session on a node, or (the seed's form, told by its `task_id`) a run of
/// a task.
#[derive(Serialize, ts_rs::TS)]
#[serde(untagged)]
pub enum SessionRequest {
    /// A run of a task.
    Task(crate::ops::runs::TaskSession),
    /// A session in a directory of a node.
    Plain(NewSession),
}

impl<'de> Deserialize<'de> for SessionRequest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // Told apart by `task_id`, so each form's own errors name the field that is wrong.
        let v = serde_json::Value::deserialize(d)?;
        if v.get("task_id").is_some() {
            serde_json::from_value(v)
                .map(SessionRequest::Task)
                .map_err(D::Error::custom)
        } else {
            serde_json::from_value(v)
                .map(SessionRequest::Plain)
                .map_err(D::Error::custom)
        }
    }
}

/// The answer to the seed's session request: the run's session (once it started) and branch.
#[derive(Serialize, ts_rs::TS)]
pub struct TaskSessionStarted {
    /// The session of the run's agent; absent while the run waits to start.
    #[ts(optional)]
    pub session: Option<SessionView>,
    /// The run's branch, once its work tree is prepared.
    #[ts(optional)]
    pub branch: Option<String>,
    /// The run.
    pub run: crate::store::Run,
}

/// Filters of `GET /api/v1/sessions`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "SessionListQuery")]
pub struct ListQuery {
    #[ts(optional)]
    node: Option<String>,
    #[ts(optional)]
    provider: Option<Provider>,
    #[ts(optional)]
    status: Option<SessionStatus>,
}

/// `GET /api/v1/sessions`: the caller's sessions (admins: all), newest first.
pub async fn list(
    State(state): State<AppState>,
    Approved(who): Approved,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let mut out = Vec::new();
    for s in state.store.agent_sessions()? {
        if q.node.as_ref().is_none_or(|n| &s.node_id == n)
            && q.provider.is_none_or(|p| s.provider == p)
            && q.status.is_none_or(|st| s.status == st)
            && sessions::can_see(&state, &who, &s)?
        {
            out.push(view(&state, s));
        }
    }
    Ok(Json(out))
}

/// `GET /api/v1/sessions/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let s = sessions::visible(&state, &who, &id)?;
    Ok(Json(view(&state, s)))
}

/// Body of `POST …/messages`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "NewMessage")]
pub struct MessageBody {
    text: String,
}

/// `POST /api/v1/sessions/{id}/messages`: a follow-up; queued while a turn runs; resumes a session whose CLI
/// has ended.
pub async fn message(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Body(body): Body<MessageBody>,
) -> Result<(StatusCode, Json<MessageAccepted>), ApiError> {
    let s = sessions::usable(&state, &who, &id)?;
    let queued = sessions::message(&state, &s, body.text).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageAccepted {
            accepted: true,
            queued,
        }),
    ))
}

/// `POST /api/v1/sessions/{id}/stop`: interrupts the turn and ends the CLI.
pub async fn stop(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<StopRequested>), ApiError> {
    let s = sessions::usable(&state, &who, &id)?;
    sessions::stop(&state, &Actor::of(&who, Some(peer)), &s).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(StopRequested {
            stopping: true,
            requested_at: rfc3339(now_ms()),
        }),
    ))
}

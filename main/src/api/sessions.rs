//! `/api/v1/sessions`: start agent sessions on nodes, send follow-ups and stop (their events are read in
//! [`super::session_events`], approvals answered in [`super::approvals`]).
//!
//! A user sees only their own sessions; admins see all. Starting one also needs access to the node.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vibebridge_tunnel::protocol::Open;
use vibebridge_tunnel::session::{
    Provider, SessionCommand, SessionReply, SessionStatus, StartSession,
};

use super::nodes::{self, visible_node};
use super::relay;
use super::{ApiError, Body};
use crate::AppState;
use crate::api::{Path, Query};
use crate::auth::{Approved, AuthUser};
use crate::store::{AuditEvent, SessionRecord, UsageTotals, now_ms, rfc3339};

/// How long main waits for a node to answer a session request.
const NODE_REPLY_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Whether `who` may see session `s`: admins all; others their own sessions on nodes they may still use.
/// Someone removed from a node loses its sessions with it (and a node id enrolled again for someone else
/// does not bring them back). A revoked node's sessions stay readable by their owner, as history.
pub(crate) fn can_see(
    state: &AppState,
    who: &AuthUser,
    s: &SessionRecord,
) -> Result<bool, ApiError> {
    if who.user.role.is_admin() {
        return Ok(true);
    }
    if s.owner != who.user.id {
        return Ok(false);
    }
    Ok(state
        .store
        .node(&s.node_id)?
        .is_none_or(|node| nodes::can_see(who, &node)))
}

/// A session the caller may see; "not found" otherwise, so others' ids do not leak.
pub(crate) fn visible_session(
    state: &AppState,
    who: &AuthUser,
    id: &str,
) -> Result<SessionRecord, ApiError> {
    let not_found = || ApiError::NotFound(format!("no session {id:?}"));
    let uuid = Uuid::parse_str(id).map_err(|_| not_found())?;
    match state.store.agent_session(&uuid)? {
        Some(s) if can_see(state, who, &s)? => Ok(s),
        _ => Err(not_found()),
    }
}

/// A session the caller may send commands to (follow-ups, stop, approvals): visible, and its node still
/// enrolled and usable by the caller.
pub(crate) fn usable_session(
    state: &AppState,
    who: &AuthUser,
    id: &str,
) -> Result<SessionRecord, ApiError> {
    let s = visible_session(state, who, id)?;
    match state.store.node(&s.node_id)? {
        Some(node)
            if s.node_fingerprint
                .as_ref()
                .is_some_and(|f| *f != node.fingerprint) =>
        {
            Err(ApiError::Forbidden(format!(
                "node {:?} was re-enrolled (with a new key) since this session started there; its \
                 history stays readable, but it cannot be continued: start a new session",
                s.node_id
            )))
        }
        Some(node) if nodes::can_see(who, &node) => Ok(s),
        _ => Err(ApiError::Forbidden(format!(
            "node {:?} of this session was revoked; its history stays readable, but it cannot be \
             continued: start a new session on an enrolled node",
            s.node_id
        ))),
    }
}

/// Opens a request stream to a node and reads its one reply; `Ok(queued)` on success.
async fn node_request(state: &AppState, node: &str, open: &Open) -> Result<bool, ApiError> {
    let what = "start its agent (or wait for it to reconnect) and try again";
    let mut stream = relay::open(state, node, open, what).await?;
    match relay::answer(state, node, &mut stream, NODE_REPLY_TIMEOUT).await? {
        SessionReply::Ok { queued } => Ok(queued),
        SessionReply::Err { code, message } => Err(ApiError::NodeRefused { code, message }),
    }
}

/// Body of `POST /api/v1/sessions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    node_id: String,
    path: String,
    provider: Provider,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    permission_mode: Option<String>,
    prompt: String,
}

fn check_option(name: &str, value: &Option<String>) -> Result<(), ApiError> {
    if let Some(v) = value
        && (v.is_empty()
            || v.len() > 200
            || v.starts_with('-')
            || v.chars().any(|c| c.is_control() || c.is_whitespace()))
    {
        return Err(ApiError::BadRequest(format!(
            "{name} {v:?} is not valid: one word without spaces, not starting with '-'"
        )));
    }
    Ok(())
}

/// `POST /api/v1/sessions`: starts a session on a node: 201, or 202 with status `unknown` when the node's
/// answer was lost after it got the request (the session is kept and reconciled when main re-attaches).
pub async fn create(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Approved(who): Approved,
    Body(req): Body<CreateSession>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let node = visible_node(&state, &who, &req.node_id)?;
    if req.prompt.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "prompt is empty; say what the agent should do".into(),
        ));
    }
    check_option("model", &req.model)?;
    check_option("permission_mode", &req.permission_mode)?;
    if state.registry.get(&node.id).is_none() {
        return Err(ApiError::NodeOffline(format!(
            "node {} is offline; start its agent (or wait for it to reconnect) and try again",
            node.id
        )));
    }
    let now = now_ms();
    let rec = SessionRecord {
        id: Uuid::now_v7(),
        owner: who.user.id,
        node_id: node.id.clone(),
        node_fingerprint: Some(node.fingerprint.clone()),
        path: req.path.clone(),
        provider: req.provider,
        model: req.model.clone(),
        permission_mode: req.permission_mode.clone(),
        title: req.prompt.chars().take(120).collect(),
        status: SessionStatus::Starting,
        status_message: None,
        provider_session_id: None,
        reported_model: None,
        usage: UsageTotals::default(),
        last_seq: 0,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_agent_session(&rec)?;
    let open = Open::SessionStart(StartSession {
        session_id: rec.id.to_string(),
        path: req.path,
        provider: req.provider,
        model: req.model,
        permission_mode: req.permission_mode,
        prompt: req.prompt,
    });
    let (rec, status) = match start_on_node(&state, &node.id, &open).await {
        Started::Yes => (rec, StatusCode::CREATED),
        Started::No(e) => {
            state.store.remove_agent_session(&rec.id)?;
            return Err(e);
        }
        Started::Unknown(e) => {
            // The node may run the CLI: keep the session, visible and stoppable; re-attaching tells.
            tracing::warn!(session = %rec.id, node = node.id, "lost the node's answer to a start: {e}");
            let message = format!(
                "main lost the node's answer to starting this session ({e}); the session shows its real \
                 state once the node answers"
            );
            let rec = state
                .store
                .set_session_status(&rec.id, SessionStatus::Unknown, Some(message))?
                .ok_or_else(|| ApiError::NotFound(format!("session {}", rec.id)))?;
            (rec, StatusCode::ACCEPTED)
        }
    };
    state.sessions.ensure_attached(rec.id, &node.id);
    state.store.audit(
        AuditEvent::new(format!("user:{}", who.user.username), "session.created")
            .target(rec.id.to_string())
            .source(Some(peer))
            .detail(format!("{} on {} in {}", rec.provider, node.id, rec.path)),
    );
    Ok((status, Json(view(&state, rec))))
}

/// Whether the node started a session.
enum Started {
    /// It did.
    Yes,
    /// It did not: the request never reached it, or it refused.
    No(ApiError),
    /// The request reached it and its answer was lost: it may run the CLI.
    Unknown(ApiError),
}

async fn start_on_node(state: &AppState, node: &str, open: &Open) -> Started {
    let what = "start its agent (or wait for it to reconnect) and try again";
    let mut stream = match relay::open(state, node, open, what).await {
        Ok(stream) => stream,
        Err(e) => return Started::No(e),
    };
    match relay::answer(state, node, &mut stream, NODE_REPLY_TIMEOUT).await {
        Ok(SessionReply::Ok { .. }) => Started::Yes,
        Ok(SessionReply::Err { code, message }) => {
            Started::No(ApiError::NodeRefused { code, message })
        }
        Err(e) => Started::Unknown(e),
    }
}

/// Filters of `GET /api/v1/sessions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    node: Option<String>,
    provider: Option<Provider>,
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
            && can_see(&state, &who, &s)?
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
    let s = visible_session(&state, &who, &id)?;
    Ok(Json(view(&state, s)))
}

/// Body of `POST …/messages`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    text: String,
}

/// Sends a command to the session's node and makes sure main follows what it starts.
pub(crate) async fn command(
    state: &AppState,
    s: &SessionRecord,
    command: SessionCommand,
) -> Result<bool, ApiError> {
    let open = Open::SessionCommand {
        session_id: s.id.to_string(),
        command,
    };
    let queued = node_request(state, &s.node_id, &open).await?;
    state.sessions.ensure_attached(s.id, &s.node_id);
    Ok(queued)
}

/// `POST /api/v1/sessions/{id}/messages`: a follow-up; queued while a turn runs; resumes a session whose CLI
/// has ended.
pub async fn message(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Body(body): Body<MessageBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let s = usable_session(&state, &who, &id)?;
    if body.text.trim().is_empty() {
        return Err(ApiError::BadRequest("the message is empty".into()));
    }
    let queued = command(&state, &s, SessionCommand::Message { text: body.text }).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "accepted": true, "queued": queued })),
    ))
}

/// `POST /api/v1/sessions/{id}/stop`: interrupts the turn and ends the CLI.
pub async fn stop(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let s = usable_session(&state, &who, &id)?;
    command(&state, &s, SessionCommand::Stop).await?;
    state.store.audit(
        AuditEvent::new(format!("user:{}", who.user.username), "session.stopped")
            .target(s.id.to_string())
            .source(Some(peer)),
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "stopping": true, "requested_at": rfc3339(now_ms()) })),
    ))
}

//! `/api/v1/sessions`: start agent sessions on nodes, read and follow their events (history page and SSE),
//! send follow-ups and stop (approvals are answered in [`super::approvals`]).
//!
//! A user sees only their own sessions; admins see all. Starting one also needs access to the node.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio_util::task::AbortOnDropHandle;
use uuid::Uuid;
use vibebridge_tunnel::protocol::Open;
use vibebridge_tunnel::session::{
    Provider, SessionCommand, SessionReply, SessionStatus, StartSession,
};

use super::nodes::{self, visible_node};
use super::{ApiError, Body};
use super::{live, relay};
use crate::AppState;
use crate::api::{Path, Query};
use crate::auth::{self, Approved, AuthUser};
use crate::sessions::LiveEvent;
use crate::store::{AuditEvent, SessionRecord, UsageTotals, now_ms, rfc3339};

/// How long main waits for a node to answer a session request.
const NODE_REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Most events in a history page.
const MAX_PAGE: usize = 1000;
/// Most bytes of stored events in a history page (at least one event, whatever its size).
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

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

/// `?after=SEQ&limit=N`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

/// `GET /api/v1/sessions/{id}/events?after=SEQ`: a page of stored events.
pub async fn events(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = visible_session(&state, &who, &id)?;
    let limit = q.limit.unwrap_or(500).clamp(1, MAX_PAGE);
    let events = state
        .store
        .session_events_page(&s.id, q.after, limit, MAX_PAGE_BYTES)?;
    let next = events.last().map(|e| e.seq).unwrap_or(q.after);
    Ok(Json(serde_json::json!({
        "events": events,
        "next_after": next,
        "last_seq": s.last_seq,
        "more": next < s.last_seq,
    })))
}

/// `GET /api/v1/sessions/{id}/stream?after=SEQ` (or `Last-Event-ID`): stored events after the seq, then
/// live ones, as server-sent events named `status`, `log`, `tool_call`, `tool_result`, `error` or
/// `complete`, each with `id: seq`. Counts as one of the user's live connections; a reader that takes nothing
/// for `server.slow_consumer_timeout` gets a last `error` event with code `slow_consumer` and the stream ends.
pub async fn stream(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let s = visible_session(&state, &who, &id)?;
    let guard = state.live.open(who.user.id)?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(q.after);
    let (tx, rx) = live::outbox::<Arc<LiveEvent>>();
    let timeout = state.config.server.slow_consumer_timeout;
    let pump = AbortOnDropHandle::new(tokio::spawn(pump(state, who, s.id, after, tx)));
    let sse = futures::stream::unfold(
        (rx, Some(pump), guard),
        move |(mut rx, pump, guard)| async move {
            if let Some((ev, room)) = rx.recv().await {
                let event = Event::default()
                    .id(ev.seq.to_string())
                    .event(ev.name)
                    .data(ev.json());
                drop(room);
                return Some((Ok(event), (rx, pump, guard)));
            }
            // The pump ended; say why if the reader was too slow.
            let Ok(PumpEnd::Slow) = pump?.await else {
                return None;
            };
            let data = serde_json::json!({
                "type": "error",
                "code": "slow_consumer",
                "message": format!(
                    "nothing was read for {}s; reconnect with Last-Event-ID to resume",
                    timeout.as_secs()
                ),
            });
            let event = Event::default().event("error").data(data.to_string());
            Some((Ok(event), (rx, None, guard)))
        },
    );
    Ok(Sse::new(sse).keep_alive(KeepAlive::default()))
}

/// Why an SSE pump ended.
enum PumpEnd {
    /// The stream ended (main stopping, the reader gone, access lost).
    Done,
    /// The reader took nothing for `server.slow_consumer_timeout`.
    Slow,
}

/// Moves a session's events into an SSE outbox, reading the next one only once the outbox has room.
async fn pump(
    state: AppState,
    who: AuthUser,
    id: Uuid,
    after: u64,
    tx: live::OutboxSender<Arc<LiveEvent>>,
) -> PumpEnd {
    let timeout = state.config.server.slow_consumer_timeout;
    let events = state.sessions.follow(id, after);
    futures::pin_mut!(events);
    let session_id = id.to_string();
    let lost = auth::access_lost(state.clone(), &who, |st, w| {
        visible_session(st, w, &session_id).is_ok()
    });
    tokio::pin!(lost);
    loop {
        // Racing the whole wait (room, then the next event) with the access check: an idle session's
        // stream still ends when access is lost.
        let next = tokio::select! {
            next = async {
                match tokio::time::timeout(timeout, tx.ready()).await {
                    Ok(Ok(())) => Ok(futures::StreamExt::next(&mut events).await),
                    Ok(Err(_)) => Err(PumpEnd::Done),
                    Err(_) => Err(PumpEnd::Slow),
                }
            } => next,
            () = &mut lost => return PumpEnd::Done,
        };
        let ev = match next {
            Ok(Some(ev)) => ev,
            Ok(None) => return PumpEnd::Done,
            Err(end) => return end,
        };
        let size = ev.size();
        match tokio::time::timeout(timeout, tx.send(ev, size)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return PumpEnd::Done,
            Err(_) => return PumpEnd::Slow,
        }
    }
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

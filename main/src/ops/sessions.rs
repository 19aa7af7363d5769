//! Agent sessions: who may see and steer one, starting one on a node, and sending it commands.
//!
//! A user sees only their own sessions; admins see all. Starting one also needs access to the node.

use std::time::Duration;

use serde::Deserialize;
use uuid::Uuid;
use vibebridge_tunnel::protocol::Open;
use vibebridge_tunnel::run::{RunPrepared, RunSpec};
use vibebridge_tunnel::session::{
    Provider, SessionCommand, SessionOk, SessionReply, SessionStatus, StartSession,
};

use super::{Actor, OpError, nodes, relay};
use crate::auth::AuthUser;
use crate::state::AppState;
use crate::store::{AuditAction, NodeRecord, SessionRecord, UsageTotals, UserId, now_ms};

/// How long main waits for a node to answer a session request.
const NODE_REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// What completes "node X is offline; …" for session requests.
const OFFLINE_HINT: &str = "start its agent (or wait for it to reconnect) and try again";

/// Whether `who` may see session `s`: admins all; others their own sessions on nodes they may still use.
/// Someone removed from a node loses its sessions with it (and a node id enrolled again for someone else
/// does not bring them back). A revoked node's sessions stay readable by their owner, as history.
pub fn can_see(state: &AppState, who: &AuthUser, s: &SessionRecord) -> Result<bool, OpError> {
    if who.user.role.is_admin() {
        return Ok(true);
    }
    if s.owner != who.user.id {
        // A run's session is the team's: members of its workspace who may see its task see it.
        return Ok(super::run_access::can_see_session(state, &who.user, s.id));
    }
    Ok(state
        .store
        .node(&s.node_id)?
        .is_none_or(|node| nodes::can_see(who, &node)))
}

/// A session the caller may see; "not found" otherwise, so others' ids do not leak.
pub fn visible(state: &AppState, who: &AuthUser, id: &str) -> Result<SessionRecord, OpError> {
    let not_found = || OpError::NotFound(format!("no session {id:?}"));
    let uuid = Uuid::parse_str(id).map_err(|_| not_found())?;
    match state.store.agent_session(&uuid)? {
        Some(s) if can_see(state, who, &s)? => Ok(s),
        _ => Err(not_found()),
    }
}

/// A session the caller may send commands to (follow-ups, stop, approvals): visible, and its node still
/// enrolled and usable by the caller.
pub fn usable(state: &AppState, who: &AuthUser, id: &str) -> Result<SessionRecord, OpError> {
    let s = visible(state, who, id)?;
    match state.store.node(&s.node_id)? {
        Some(node)
            if s.node_fingerprint
                .as_ref()
                .is_some_and(|f| *f != node.fingerprint) =>
        {
            Err(OpError::Forbidden(format!(
                "node {:?} was re-enrolled (with a new key) since this session started there; its \
                 history stays readable, but it cannot be continued: start a new session",
                s.node_id
            )))
        }
        // Someone else's session is steerable only as a run of a workspace where they are a member.
        Some(_)
            if s.owner != who.user.id
                && !who.user.role.is_admin()
                && !super::run_access::can_steer_session(state, &who.user, s.id) =>
        {
            Err(OpError::Forbidden(
                "only members of the run's workspace who may use its node can steer this session"
                    .into(),
            ))
        }
        Some(node) if nodes::can_see(who, &node) => Ok(s),
        _ => Err(OpError::Forbidden(format!(
            "node {:?} of this session was revoked; its history stays readable, but it cannot be \
             continued: start a new session on an enrolled node",
            s.node_id
        ))),
    }
}

/// Body of `POST /api/v1/sessions`: what to start, where.
#[derive(Deserialize, serde::Serialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    node_id: String,
    path: String,
    provider: Provider,
    #[serde(default)]
    #[ts(optional)]
    model: Option<String>,
    #[serde(default)]
    #[ts(optional)]
    permission_mode: Option<String>,
    prompt: String,
}

fn check_option(name: &str, value: &Option<String>) -> Result<(), OpError> {
    if let Some(v) = value
        && (v.is_empty()
            || v.len() > 200
            || v.starts_with('-')
            || v.chars().any(|c| c.is_control() || c.is_whitespace()))
    {
        return Err(OpError::BadRequest(format!(
            "{name} {v:?} is not valid: one word without spaces, not starting with '-'"
        )));
    }
    Ok(())
}

/// How a start ended for the caller.
pub enum Start {
    /// The node started the session.
    Started(SessionRecord),
    /// The node got the request and its answer was lost: the session is kept in status `unknown` (visible,
    /// stoppable) and shows its real state once main re-attaches.
    Unknown(SessionRecord),
}

/// Starts a session for `who` on a node they may use, and follows it.
pub async fn start(
    state: &AppState,
    actor: &Actor,
    who: &AuthUser,
    req: NewSession,
) -> Result<Start, OpError> {
    let node = nodes::visible(state, who, &req.node_id)?;
    let launch = Launch {
        id: Uuid::now_v7(),
        owner: who.user.id,
        node,
        path: req.path,
        provider: req.provider,
        model: req.model,
        permission_mode: req.permission_mode,
        prompt: req.prompt,
        run: None,
        timeout: NODE_REPLY_TIMEOUT,
    };
    let start = match launch_session(state, launch).await? {
        Launched::Started(rec, _) => Start::Started(rec),
        Launched::Unknown(rec) => Start::Unknown(rec),
    };
    let rec = match &start {
        Start::Started(rec) | Start::Unknown(rec) => rec,
    };
    state.store.audit(
        actor
            .audit(AuditAction::SessionCreated)
            .target(rec.id.to_string())
            .detail(format!(
                "{} on {} in {}",
                rec.provider, rec.node_id, rec.path
            )),
    );
    Ok(start)
}

/// A session to start on a node, already checked against who may use the node.
pub(crate) struct Launch {
    /// Its id (a run records it before the node is asked, so its first events find the run).
    pub id: Uuid,
    /// Whose it is.
    pub owner: UserId,
    /// Where.
    pub node: NodeRecord,
    /// Working directory (for a run: the project's working copy).
    pub path: String,
    /// Which CLI.
    pub provider: Provider,
    /// Model.
    pub model: Option<String>,
    /// Permission mode.
    pub permission_mode: Option<String>,
    /// First message.
    pub prompt: String,
    /// The run it is, if any.
    pub run: Option<Box<RunSpec>>,
    /// How long to wait for the node's answer.
    pub timeout: Duration,
}

/// How a launch ended.
pub(crate) enum Launched {
    /// Started; for a run, where it works.
    Started(SessionRecord, Option<Box<RunPrepared>>),
    /// The answer was lost; the session is kept as `unknown` and main follows it.
    Unknown(SessionRecord),
}

/// Records the session, asks its node to start it and follows it. Nothing is kept when the node refused
/// or never got the request.
pub(crate) async fn launch_session(state: &AppState, l: Launch) -> Result<Launched, OpError> {
    if l.prompt.trim().is_empty() {
        return Err(OpError::BadRequest(
            "prompt is empty; say what the agent should do".into(),
        ));
    }
    check_option("model", &l.model)?;
    check_option("permission_mode", &l.permission_mode)?;
    if state.registry.get(&l.node.id).is_none() {
        return Err(OpError::NodeOffline(format!(
            "node {} is offline; {OFFLINE_HINT}",
            l.node.id
        )));
    }
    let now = now_ms();
    let rec = SessionRecord {
        id: l.id,
        owner: l.owner,
        node_id: l.node.id.clone(),
        node_fingerprint: Some(l.node.fingerprint.clone()),
        path: l.path.clone(),
        provider: l.provider,
        model: l.model.clone(),
        permission_mode: l.permission_mode.clone(),
        title: l.prompt.chars().take(120).collect(),
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
        session_id: rec.id.into(),
        path: l.path,
        provider: l.provider,
        model: l.model,
        permission_mode: l.permission_mode,
        prompt: l.prompt,
        run: l.run,
    });
    let launched = match start_on_node(state, &l.node.id, &open, l.timeout).await {
        Started::Yes(ok) => Launched::Started(rec, ok.run),
        Started::No(e) => {
            state.store.remove_agent_session(&rec.id)?;
            return Err(e);
        }
        Started::Unknown(e) => {
            // The node may run the CLI: keep the session, visible and stoppable; re-attaching tells.
            tracing::warn!(session = %rec.id, node = l.node.id, "lost the node's answer to a start: {e}");
            let message = format!(
                "main lost the node's answer to starting this session ({e}); the session shows its real \
                 state once the node answers"
            );
            let rec = state
                .store
                .set_session_status(&rec.id, SessionStatus::Unknown, Some(message))?
                .ok_or_else(|| OpError::NotFound(format!("session {}", rec.id)))?;
            Launched::Unknown(rec)
        }
    };
    let id = match &launched {
        Launched::Started(rec, _) | Launched::Unknown(rec) => rec.id,
    };
    state.hub.ensure_attached(id, &l.node.id);
    Ok(launched)
}

/// Whether the node started a session.
enum Started {
    /// It did.
    Yes(SessionOk),
    /// It did not: the request never reached it, or it refused.
    No(OpError),
    /// The request reached it and its answer was lost: it may run the CLI.
    Unknown(OpError),
}

async fn start_on_node(state: &AppState, node: &str, open: &Open, timeout: Duration) -> Started {
    let mut stream = match relay::open(state, node, open, OFFLINE_HINT).await {
        Ok(stream) => stream,
        Err(e) => return Started::No(e),
    };
    match relay::answer(state, node, &mut stream, timeout).await {
        Ok(SessionReply::Ok(ok)) => Started::Yes(ok),
        Ok(SessionReply::Err { code, message }) => {
            Started::No(OpError::NodeRefused { code, message })
        }
        Err(e) => Started::Unknown(e),
    }
}

/// Sends a command to the session's node and makes sure main follows what it starts; `Ok(queued)`: a
/// message waits behind the running turn.
pub async fn command(
    state: &AppState,
    s: &SessionRecord,
    command: SessionCommand,
) -> Result<bool, OpError> {
    let open = Open::SessionCommand {
        session_id: s.id.into(),
        command,
    };
    let mut stream = relay::open(state, &s.node_id, &open, OFFLINE_HINT).await?;
    let queued = match relay::answer(state, &s.node_id, &mut stream, NODE_REPLY_TIMEOUT).await? {
        SessionReply::Ok(ok) => ok.queued,
        SessionReply::Err { code, message } => {
            return Err(OpError::NodeRefused { code, message });
        }
    };
    state.hub.ensure_attached(s.id, &s.node_id);
    Ok(queued)
}

/// Sends a follow-up; `Ok(queued)` when it waits behind the running turn. Resumes a session whose CLI ended.
pub async fn message(state: &AppState, s: &SessionRecord, text: String) -> Result<bool, OpError> {
    if text.trim().is_empty() {
        return Err(OpError::BadRequest("the message is empty".into()));
    }
    command(state, s, SessionCommand::Message { text }).await
}

/// Interrupts the session's turn and ends its CLI.
pub async fn stop(state: &AppState, actor: &Actor, s: &SessionRecord) -> Result<(), OpError> {
    command(state, s, SessionCommand::Stop).await?;
    state.store.audit(
        actor
            .audit(AuditAction::SessionStopped)
            .target(s.id.to_string()),
    );
    Ok(())
}

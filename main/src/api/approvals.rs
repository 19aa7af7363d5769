//! `/api/v1/approvals` and `POST /api/v1/sessions/{id}/approvals/{approval_id}`: the pending approvals and
//! questions of the caller's sessions across nodes, and answering one (also used by the admin console).

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use serde::{Deserialize, Serialize};
use vibebridge_tunnel::session::{Decision, Provider, SessionCommand};

use super::sessions::{can_see, command, usable_session};
use super::{ApiError, Body};
use crate::AppState;
use crate::api::Path;
use crate::auth::Approved;
use crate::store::{AuditEvent, PendingApproval, SessionRecord, rfc3339};

/// Body of `POST …/approvals/{approval_id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideBody {
    decision: Decision,
    #[serde(default)]
    message: Option<String>,
}

/// `POST /api/v1/sessions/{id}/approvals/{approval_id}`: allow or deny a tool call, or answer a question.
pub async fn decide(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Approved(who): Approved,
    Path((id, approval_id)): Path<(String, String)>,
    Body(body): Body<DecideBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = usable_session(&state, &who, &id)?;
    let pending = state
        .store
        .pending_approval(&approval_id)?
        .filter(|a| a.session_id == s.id)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no pending approval {approval_id:?} in this session (already answered, or its turn ended)"
            ))
        })?;
    decide_approval(
        &state,
        &who.user.username,
        Some(peer),
        &s,
        &pending,
        body.decision,
        body.message,
    )
    .await?;
    Ok(Json(
        serde_json::json!({ "approval_id": pending.approval_id, "decided": true }),
    ))
}

/// Answers a pending approval of session `s` on its node, and audits it under `actor`.
pub(crate) async fn decide_approval(
    state: &AppState,
    actor: &str,
    peer: Option<SocketAddr>,
    s: &SessionRecord,
    pending: &PendingApproval,
    decision: Decision,
    message: Option<String>,
) -> Result<(), ApiError> {
    command(
        state,
        s,
        SessionCommand::Decide {
            approval_id: pending.approval_id.clone(),
            decision,
            message,
        },
    )
    .await?;
    state.store.audit(
        AuditEvent::new(format!("user:{actor}"), "session.approval")
            .target(s.id.to_string())
            .source(peer)
            .detail(format!(
                "{} {}",
                match decision {
                    Decision::Allow => "allowed",
                    Decision::Deny => "denied",
                },
                pending.approval_id
            )),
    );
    Ok(())
}

/// An approval as the inbox shows it.
#[derive(Serialize, ts_rs::TS)]
pub struct ApprovalView {
    #[serde(flatten)]
    pending: PendingApproval,
    session_title: String,
    provider: Option<Provider>,
    node_online: bool,
    requested: String,
}

/// `GET /api/v1/approvals`: every pending approval or question in the caller's sessions (admins: all),
/// across nodes, oldest first.
pub async fn approvals(
    State(state): State<AppState>,
    Approved(who): Approved,
) -> Result<Json<Vec<ApprovalView>>, ApiError> {
    let mut out = Vec::new();
    for pending in state.store.pending_approvals()? {
        if !(who.user.role.is_admin() || pending.owner == who.user.id) {
            continue;
        }
        let session = state.store.agent_session(&pending.session_id)?;
        if let Some(s) = &session
            && !can_see(&state, &who, s)?
        {
            continue;
        }
        out.push(ApprovalView {
            session_title: session
                .as_ref()
                .map(|s| s.title.clone())
                .unwrap_or_default(),
            provider: session.as_ref().map(|s| s.provider),
            node_online: state.registry.get(&pending.node_id).is_some(),
            requested: rfc3339(pending.requested_at),
            pending,
        });
    }
    Ok(Json(out))
}

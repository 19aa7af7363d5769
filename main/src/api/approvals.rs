//! `/api/v1/approvals` and `POST /api/v1/sessions/{id}/approvals/{approval_id}`: the pending approvals and
//! questions of the caller's sessions across nodes, and answering one (also used by the admin console).

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use serde::{Deserialize, Serialize};
use vibebridge_tunnel::session::{Decision, Provider};

use super::bodies::Decided;
use super::{ApiError, Body};
use crate::api::Path;
use crate::auth::Approved;
use crate::ops::{Actor, approvals, sessions};
use crate::state::AppState;
use crate::store::{PendingApproval, rfc3339};

/// Body of `POST …/approvals/{approval_id}`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "ApprovalDecision")]
pub struct DecideBody {
    decision: Decision,
    #[serde(default)]
    #[ts(optional)]
    message: Option<String>,
    /// The push subscription answering (a notification's Allow or Deny): the audit names the device.
    #[serde(default)]
    #[ts(optional)]
    device: Option<String>,
}

/// `POST /api/v1/sessions/{id}/approvals/{approval_id}`: allow or deny a tool call, or answer a question.
pub async fn decide(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Approved(who): Approved,
    Path((id, approval_id)): Path<(String, String)>,
    Body(body): Body<DecideBody>,
) -> Result<Json<Decided>, ApiError> {
    let s = sessions::usable(&state, &who, &id)?;
    let pending = approvals::pending_in(&state, &s, &approval_id)?;
    // A device that is gone (subscribed again, expired, removed) does not stop the answer; the audit then
    // names none.
    let device = body
        .device
        .and_then(|d| crate::ops::notify::subscriptions::mine(&state, &who, &d).ok());
    let actor = Actor::of(&who, Some(peer));
    approvals::decide(
        &state,
        &actor,
        &s,
        &pending,
        body.decision,
        body.message,
        device.as_ref(),
    )
    .await?;
    Ok(Json(Decided {
        approval_id: pending.approval_id,
        decided: true,
    }))
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
    let out = approvals::visible(&state, &who)?
        .into_iter()
        .map(|(pending, session)| ApprovalView {
            session_title: session
                .as_ref()
                .map(|s| s.title.clone())
                .unwrap_or_default(),
            provider: session.as_ref().map(|s| s.provider),
            node_online: state.registry.get(&pending.node_id).is_some(),
            requested: rfc3339(pending.requested_at),
            pending,
        })
        .collect();
    Ok(Json(out))
}

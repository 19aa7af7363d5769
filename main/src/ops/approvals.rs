//! Approvals and questions: the pending ones a user may answer, and answering one on its node.

use vibebridge_tunnel::session::{Decision, SessionCommand};

use super::{Actor, OpError, sessions};
use crate::auth::AuthUser;
use crate::state::AppState;
use crate::store::{AuditAction, PendingApproval, PushSubscription, SessionRecord};

/// Pending approval `approval_id` of session `s`; "not found" once answered or its turn ended.
pub fn pending_in(
    state: &AppState,
    s: &SessionRecord,
    approval_id: &str,
) -> Result<PendingApproval, OpError> {
    state
        .store
        .pending_approval(approval_id)?
        .filter(|a| a.session_id == s.id)
        .ok_or_else(|| {
            OpError::NotFound(format!(
                "no pending approval {approval_id:?} in this session (already answered, or its turn ended)"
            ))
        })
}

/// Every pending approval or question `who` may answer (admins: all): their own sessions', and those of runs
/// in workspaces where they may steer them. Oldest first, each with its session when main still has it.
pub fn visible(
    state: &AppState,
    who: &AuthUser,
) -> Result<Vec<(PendingApproval, Option<SessionRecord>)>, OpError> {
    let mut out = Vec::new();
    for pending in state.store.pending_approvals()? {
        if !(who.user.role.is_admin()
            || pending.owner == who.user.id
            || super::run_access::can_steer_session(state, &who.user, pending.session_id))
        {
            continue;
        }
        let session = state.store.agent_session(&pending.session_id)?;
        if let Some(s) = &session
            && !sessions::can_see(state, who, s)?
        {
            continue;
        }
        out.push((pending, session));
    }
    Ok(out)
}

/// Answers a pending approval of session `s` on its node (allow or deny a tool call; a question is
/// answered with `Allow` and the answer as `message`), and audits it, naming the push `device` when the answer
/// came from a notification.
pub async fn decide(
    state: &AppState,
    actor: &Actor,
    s: &SessionRecord,
    pending: &PendingApproval,
    decision: Decision,
    message: Option<String>,
    device: Option<&PushSubscription>,
) -> Result<(), OpError> {
    sessions::command(
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
        actor
            .audit(AuditAction::SessionApproval)
            .target(s.id.to_string())
            .detail(format!(
                "{} {}{}",
                match decision {
                    Decision::Allow => "allowed",
                    Decision::Deny => "denied",
                },
                pending.approval_id,
                device
                    .map(|d| format!(" from device {:?} ({}) by notification", d.name, d.id))
                    .unwrap_or_default()
            )),
    );
    Ok(())
}

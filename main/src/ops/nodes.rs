//! Nodes: who may see, use and manage one; revoking it; its members; register tokens that enrol new ones.

use std::time::Duration;

use super::{Actor, OpError};
use crate::auth::AuthUser;
use crate::state::AppState;
use crate::store::{AuditAction, NodeRecord, NodeToken, Role, User, UserId, rfc3339};

/// Whether `who` may see and use `node`: its owner, a member, or an admin.
pub fn can_see(who: &AuthUser, node: &NodeRecord) -> bool {
    user_can_see(&who.user, node)
}

/// [`can_see`] for a user rather than a login.
pub fn user_can_see(user: &User, node: &NodeRecord) -> bool {
    user.role.is_admin() || node.is_allowed(user.id, user.role == Role::Creator)
}

/// Whether `who` may revoke `node` or change its members: its owner or an admin.
pub fn can_manage(who: &AuthUser, node: &NodeRecord) -> bool {
    who.user.role.is_admin() || node.is_owner(who.user.id, who.user.role == Role::Creator)
}

/// A node the caller may see; "not found" otherwise, so ids of others' nodes do not leak.
pub fn visible(state: &AppState, who: &AuthUser, id: &str) -> Result<NodeRecord, OpError> {
    state
        .store
        .node(id)?
        .filter(|n| can_see(who, n))
        .ok_or_else(|| OpError::NotFound(format!("no node {id:?}")))
}

/// A node the caller may manage: visible, and theirs (or they are an admin); `what` ends "only the node's
/// owner or an admin can …".
pub fn managed(
    state: &AppState,
    who: &AuthUser,
    id: &str,
    what: &str,
) -> Result<NodeRecord, OpError> {
    let node = visible(state, who, id)?;
    if !can_manage(who, &node) {
        return Err(OpError::Forbidden(format!(
            "only the node's owner or an admin can {what}"
        )));
    }
    Ok(node)
}

/// Revokes a node: forgets its key and cuts its live link at once. Returns whether it was online. The
/// caller has checked `actor` may.
pub fn revoke(state: &AppState, actor: &Actor, node: &NodeRecord) -> Result<bool, OpError> {
    state.store.remove_node(&node.id)?;
    let was_online = state.registry.disconnect(&node.id);
    state.store.audit(
        actor
            .audit(AuditAction::NodeRevoked)
            .target(node.id.clone())
            .detail(format!("fingerprint {}", node.fingerprint)),
    );
    Ok(was_online)
}

/// Adds (`member`) or removes user `username` as a member of node `id`, which `who` must manage.
pub fn set_member(
    state: &AppState,
    actor: &Actor,
    who: &AuthUser,
    id: &str,
    username: &str,
    member: bool,
) -> Result<NodeRecord, OpError> {
    managed(state, who, id, "change its members")?;
    let user = super::users::find(state, username)?;
    let node = state.store.set_node_member(id, user.id, member)?;
    let action = if member {
        AuditAction::NodeMemberAdded
    } else {
        AuditAction::NodeMemberRemoved
    };
    state
        .store
        .audit(actor.audit(action).target(id).detail(user.username));
    Ok(node)
}

/// Creates a one-time register token valid for `ttl` (default `auth.node_token_ttl`, at most 30 days); the
/// node it enrols belongs to `owner` (`None`: the creator). Returns the token, shown only now, and its
/// record.
pub fn create_token(
    state: &AppState,
    actor: &Actor,
    owner: Option<UserId>,
    ttl: Option<Duration>,
) -> Result<(String, NodeToken), OpError> {
    let ttl = ttl.unwrap_or(state.config.auth.node_token_ttl);
    if ttl.is_zero() || ttl > Duration::from_secs(30 * 24 * 3600) {
        return Err(OpError::BadRequest(
            "ttl must be between 1s and 30 days, e.g. \"1h\"".into(),
        ));
    }
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let (token, record) = state.store.create_node_token(owner, ttl_ms)?;
    state.store.audit(
        actor
            .audit(AuditAction::NodeTokenCreated)
            .target(record.id.clone())
            .detail(format!("expires {}", rfc3339(record.expires_at))),
    );
    Ok((token, record))
}

//! Users: find one, approve a sign-up, change a role, disable an account.

use super::{Actor, OpError};
use crate::state::AppState;
use crate::store::{AuditAction, Role, User, UserId};

/// Finds a user by id or by username.
pub fn find(state: &AppState, key: &str) -> Result<User, OpError> {
    let by_id = uuid::Uuid::parse_str(key)
        .ok()
        .map(|id| state.store.user(UserId(id)))
        .transpose()?
        .flatten();
    match by_id {
        Some(u) => Ok(u),
        None => state
            .store
            .user_by_name(key)?
            .ok_or_else(|| OpError::NotFound(format!("no user {key:?}"))),
    }
}

/// Approves a pending user (`key`: id or username). The caller has checked `actor` is an admin.
pub fn approve(state: &AppState, actor: &Actor, key: &str) -> Result<User, OpError> {
    let user = find(state, key)?;
    if user.role != Role::Pending {
        return Err(OpError::Conflict(format!(
            "{} is already approved (role {})",
            user.username,
            user.role.as_str()
        )));
    }
    change_role(state, actor, user, Role::User, AuditAction::UserApproved)
}

/// Gives a user (`key`: id or username) the role named `role` (`admin`, `user` or `pending`). The caller has
/// checked `actor` is an admin.
pub fn set_role(state: &AppState, actor: &Actor, key: &str, role: &str) -> Result<User, OpError> {
    let role = match Role::parse(role) {
        Some(Role::Creator) => {
            return Err(OpError::BadRequest(
                "there is exactly one creator; the role cannot be granted".into(),
            ));
        }
        Some(r) => r,
        None => {
            return Err(OpError::BadRequest(format!(
                "unknown role {role:?}; use admin, user or pending"
            )));
        }
    };
    let user = find(state, key)?;
    if user.role == Role::Creator {
        return Err(OpError::Forbidden(
            "the creator's role cannot be changed".into(),
        ));
    }
    change_role(state, actor, user, role, AuditAction::UserRoleChanged)
}

/// Disables a user (`key`: id or username): no more logins, tokens or console. The creator cannot be.
pub fn disable(state: &AppState, actor: &Actor, key: &str) -> Result<User, OpError> {
    let user = find(state, key)?;
    if user.role == Role::Creator {
        return Err(OpError::Forbidden("the creator cannot be disabled".into()));
    }
    let updated = state.store.set_disabled(user.id, true)?;
    state
        .store
        .audit(actor.audit(AuditAction::UserDisabled).target(user.username));
    Ok(updated)
}

fn change_role(
    state: &AppState,
    actor: &Actor,
    user: User,
    role: Role,
    action: AuditAction,
) -> Result<User, OpError> {
    let updated = state.store.set_role(user.id, role)?;
    state.store.audit(
        actor
            .audit(action)
            .target(user.username.clone())
            .detail(format!("{} → {}", user.role.as_str(), role.as_str())),
    );
    Ok(updated)
}

//! `/api/v1/users`: admins list users, approve sign-ups and set roles.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use serde::Deserialize;

use super::auth::UserView;
use super::{ApiError, Body};
use crate::AppState;
use crate::api::Path;
use crate::auth::Admin;
use crate::store::{AuditEvent, Role, User, UserId};

/// Finds a user by id or by username.
pub fn find_user(state: &AppState, key: &str) -> Result<User, ApiError> {
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
            .ok_or_else(|| ApiError::NotFound(format!("no user {key:?}"))),
    }
}

/// `GET /api/v1/users`.
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(
        state.store.users()?.iter().map(UserView::from).collect(),
    ))
}

/// `POST /api/v1/users/:user/approve`: pending → user.
pub async fn approve(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Admin(admin): Admin,
    Path(key): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let user = approve_user(&state, &admin.user.username, Some(peer), &key)?;
    Ok(Json(UserView::from(&user)))
}

/// Approves a pending user (`key`: id or username); `actor` is the admin's name, for the audit log.
pub(crate) fn approve_user(
    state: &AppState,
    actor: &str,
    peer: Option<SocketAddr>,
    key: &str,
) -> Result<User, ApiError> {
    let user = find_user(state, key)?;
    if user.role != Role::Pending {
        return Err(ApiError::Conflict(format!(
            "{} is already approved (role {})",
            user.username,
            user.role.as_str()
        )));
    }
    change_role(state, peer, actor, user, Role::User, "user.approved")
}

/// `{"role": "admin"|"user"|"pending"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    role: String,
}

/// `POST /api/v1/users/:user/role`.
pub async fn set_role(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Admin(admin): Admin,
    Path(key): Path<String>,
    Body(body): Body<RoleBody>,
) -> Result<Json<UserView>, ApiError> {
    let user = set_user_role(&state, &admin.user.username, Some(peer), &key, &body.role)?;
    Ok(Json(UserView::from(&user)))
}

/// Gives a user (`key`: id or username) the role named `role` (`admin`, `user` or `pending`).
pub(crate) fn set_user_role(
    state: &AppState,
    actor: &str,
    peer: Option<SocketAddr>,
    key: &str,
    role: &str,
) -> Result<User, ApiError> {
    let role = match Role::parse(role) {
        Some(Role::Creator) => {
            return Err(ApiError::BadRequest(
                "there is exactly one creator; the role cannot be granted".into(),
            ));
        }
        Some(r) => r,
        None => {
            return Err(ApiError::BadRequest(format!(
                "unknown role {role:?}; use admin, user or pending"
            )));
        }
    };
    let user = find_user(state, key)?;
    if user.role == Role::Creator {
        return Err(ApiError::Forbidden(
            "the creator's role cannot be changed".into(),
        ));
    }
    change_role(state, peer, actor, user, role, "user.role_changed")
}

/// Disables a user (`key`: id or username): no more logins, tokens or console. The creator cannot be.
pub(crate) fn disable_user(
    state: &AppState,
    actor: &str,
    peer: Option<SocketAddr>,
    key: &str,
) -> Result<User, ApiError> {
    let user = find_user(state, key)?;
    if user.role == Role::Creator {
        return Err(ApiError::Forbidden("the creator cannot be disabled".into()));
    }
    let updated = state.store.set_disabled(user.id, true)?;
    state.store.audit(
        AuditEvent::new(format!("user:{actor}"), "user.disabled")
            .target(user.username.clone())
            .source(peer),
    );
    Ok(updated)
}

fn change_role(
    state: &AppState,
    peer: Option<SocketAddr>,
    actor: &str,
    user: User,
    role: Role,
    action: &str,
) -> Result<User, ApiError> {
    let updated = state.store.set_role(user.id, role)?;
    state.store.audit(
        AuditEvent::new(format!("user:{actor}"), action)
            .target(user.username.clone())
            .source(peer)
            .detail(format!("{} → {}", user.role.as_str(), role.as_str())),
    );
    Ok(updated)
}

//! `/api/v1/users`: admins list users, approve sign-ups and set roles.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use serde::Deserialize;

use super::auth::UserView;
use super::{ApiError, Body};
use crate::api::Path;
use crate::auth::Admin;
use crate::ops::{Actor, users};
use crate::state::AppState;

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
    let user = users::approve(&state, &Actor::of(&admin, Some(peer)), &key)?;
    Ok(Json(UserView::from(&user)))
}

/// `{"role": "admin"|"user"|"pending"}`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "RoleChange")]
pub struct RoleBody {
    #[ts(type = "Role")]
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
    let user = users::set_role(&state, &Actor::of(&admin, Some(peer)), &key, &body.role)?;
    Ok(Json(UserView::from(&user)))
}

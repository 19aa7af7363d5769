//! Who calls: the extractors handlers name in their signatures to say who may call them ([`AuthUser`] any
//! login, [`Approved`] an approved account, [`Admin`] an admin), the caller's address ([`ClientAddr`]), and
//! where tokens travel in a request (the Bearer header or the cookies).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{HeaderMap, header, request::Parts};

use super::ApiError;
use crate::auth::client_ip::ClientAddr;
use crate::auth::jwt::TokenKind;
use crate::auth::{self, Admin, Approved, AuthError, AuthUser};
use crate::state::AppState;
use crate::store::Role;

/// Cookie holding the access token.
pub const ACCESS_COOKIE: &str = "vb_access";
/// Cookie holding the refresh token (sent only to `/api/v1/auth`).
pub const REFRESH_COOKIE: &str = "vb_refresh";

/// Reads a cookie from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The Bearer token, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Expired => ApiError::Unauthorized(e.to_string()),
            AuthError::Disabled => ApiError::Forbidden(e.to_string()),
            AuthError::Store(e) => e.into(),
        }
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "no peer address: serve the router with connect info"
                ))
            })?;
        let forwarded_for = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(ClientAddr {
            ip: state.trusted_proxies.client_ip(peer.ip(), forwarded_for),
            peer,
        })
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers)
            .or_else(|| cookie(&parts.headers, ACCESS_COOKIE))
            .ok_or_else(|| {
                ApiError::Unauthorized("not logged in; POST /api/v1/auth/login first".into())
            })?;
        Ok(auth::authenticate(
            &state.store,
            &state.jwt,
            token,
            TokenKind::Access,
        )?)
    }
}

impl FromRequestParts<AppState> for Approved {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.user.role == Role::Pending {
            return Err(ApiError::Forbidden(
                "your account is waiting for an admin's approval".into(),
            ));
        }
        Ok(Approved(user))
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if !user.user.role.is_admin() {
            return Err(ApiError::Forbidden("this needs the admin role".into()));
        }
        Ok(Admin(user))
    }
}

/// An approved user making a change to the work model (workspaces, projects, tasks, comments), with the
/// address it came from; each counts against `server.writes_per_minute` for that user (429 beyond).
pub struct Writer {
    /// Who.
    pub who: AuthUser,
    /// The audit actor: the user, from the client's address.
    pub actor: crate::ops::Actor,
}

impl FromRequestParts<AppState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Approved(who) = Approved::from_request_parts(parts, state).await?;
        let addr = ClientAddr::from_request_parts(parts, state).await?;
        state
            .write_limiter
            .hit(&who.user.id.to_string())
            .map_err(ApiError::TooManyRequests)?;
        let actor = crate::ops::Actor::of(&who, Some(addr.peer));
        Ok(Writer { who, actor })
    }
}

/// An approved user reading the work model, with the audit actor (for reads that are audited: exports).
pub struct Reader {
    /// Who.
    pub who: AuthUser,
    /// The audit actor.
    pub actor: crate::ops::Actor,
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Approved(who) = Approved::from_request_parts(parts, state).await?;
        let addr = ClientAddr::from_request_parts(parts, state).await?;
        let actor = crate::ops::Actor::of(&who, Some(addr.peer));
        Ok(Reader { who, actor })
    }
}

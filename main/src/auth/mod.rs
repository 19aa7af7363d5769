//! Authentication: password hashes, JWTs in cookies or Bearer headers, login sessions, rate limits, and the
//! request extractors handlers use to say who may call them.

pub mod client_ip;
pub mod jwt;
pub mod password;
pub mod ratelimit;

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, header, request::Parts};

use crate::AppState;
use crate::api::ApiError;
use crate::store::{Role, User};
use jwt::TokenKind;

/// Cookie holding the access token.
pub const ACCESS_COOKIE: &str = "vb_access";
/// Cookie holding the refresh token (sent only to `/api/v1/auth`).
pub const REFRESH_COOKIE: &str = "vb_refresh";

/// Any logged-in user, including one still pending approval.
#[derive(Clone)]
pub struct AuthUser {
    /// The user as stored now (role changes apply at once).
    pub user: User,
    /// The login session the token belongs to.
    pub sid: String,
}

/// A logged-in user whose account is approved (role user or above).
pub struct Approved(pub AuthUser);

/// A logged-in admin (or the creator).
pub struct Admin(pub AuthUser);

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

/// Resolves a token of `kind` to a live session and its user.
pub fn authenticate(state: &AppState, token: &str, kind: TokenKind) -> Result<AuthUser, ApiError> {
    authenticate_claims(state, token, kind).map(|(who, _)| who)
}

/// [`authenticate`], also giving the token's claims (a refresh needs its generation).
pub fn authenticate_claims(
    state: &AppState,
    token: &str,
    kind: TokenKind,
) -> Result<(AuthUser, jwt::Claims), ApiError> {
    let expired = || ApiError::Unauthorized("session expired or invalid; log in again".into());
    let claims = state.jwt.verify(token, kind).ok_or_else(expired)?;
    let session = state.store.auth_session(&claims.sid)?.ok_or_else(expired)?;
    if session.user.to_string() != claims.sub {
        return Err(expired());
    }
    let user = state.store.user(session.user)?.ok_or_else(expired)?;
    if user.disabled {
        return Err(ApiError::Forbidden(
            "this account is disabled; ask an admin".into(),
        ));
    }
    let who = AuthUser {
        user,
        sid: claims.sid.clone(),
    };
    Ok((who, claims))
}

/// How often a long-lived connection re-checks the access it was opened with ([`access_lost`]).
pub const RECHECK_EVERY: Duration = Duration::from_secs(2);

impl AuthUser {
    /// The same login read again from the store: `None` once it was logged out or expired, or its user
    /// was disabled, deleted or set back to pending.
    pub fn reread(&self, state: &AppState) -> Option<AuthUser> {
        let session = state.store.auth_session(&self.sid).ok()??;
        let user = state.store.user(session.user).ok()??;
        (!user.disabled && user.role != Role::Pending).then(|| AuthUser {
            user,
            sid: self.sid.clone(),
        })
    }
}

/// Resolves once `who` has lost their login (logged out, disabled, set back to pending) or what `still`
/// checks (a node's membership, a session's visibility). Event streams, WebSockets and terminals end on
/// it: the checks made when they opened are not repeated by anything else.
pub async fn access_lost<F>(state: AppState, who: &AuthUser, still: F)
where
    F: Fn(&AppState, &AuthUser) -> bool,
{
    let mut tick = tokio::time::interval(RECHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        match who.reread(&state) {
            Some(now) if still(&state, &now) => {}
            _ => return,
        }
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
        authenticate(state, token, TokenKind::Access)
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

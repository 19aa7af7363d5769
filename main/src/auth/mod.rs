//! Authentication: password hashes, JWTs, login sessions, rate limits, client addresses, and who a token
//! belongs to. Nothing here knows HTTP: the API's extractors (`api::extract`) read tokens from requests
//! and call [`authenticate`].

pub mod client_ip;
pub mod jwt;
pub mod password;
pub mod ratelimit;

use std::time::Duration;

use crate::store::{Role, Store, StoreError, User};
use jwt::Jwt;
use jwt::TokenKind;

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

/// Why a token does not stand for a usable login.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Invalid, expired, logged out, or its user is gone.
    #[error("session expired or invalid; log in again")]
    Expired,
    /// Its user is disabled.
    #[error("this account is disabled; ask an admin")]
    Disabled,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves a token of `kind` to a live session and its user.
pub fn authenticate(
    store: &Store,
    jwt: &Jwt,
    token: &str,
    kind: TokenKind,
) -> Result<AuthUser, AuthError> {
    authenticate_claims(store, jwt, token, kind).map(|(who, _)| who)
}

/// [`authenticate`], also giving the token's claims (a refresh needs its generation).
pub fn authenticate_claims(
    store: &Store,
    jwt: &Jwt,
    token: &str,
    kind: TokenKind,
) -> Result<(AuthUser, jwt::Claims), AuthError> {
    let claims = jwt.verify(token, kind).ok_or(AuthError::Expired)?;
    let session = store.auth_session(&claims.sid)?.ok_or(AuthError::Expired)?;
    if session.user.to_string() != claims.sub {
        return Err(AuthError::Expired);
    }
    let user = store.user(session.user)?.ok_or(AuthError::Expired)?;
    if user.disabled {
        return Err(AuthError::Disabled);
    }
    let who = AuthUser {
        user,
        sid: claims.sid.clone(),
    };
    Ok((who, claims))
}

/// How often a long-lived connection (WebSocket, event stream, terminal, console) re-checks the access it was
/// opened with.
pub const RECHECK_EVERY: Duration = Duration::from_secs(2);

impl AuthUser {
    /// The same login read again from the store: `None` once it was logged out or expired, or its user
    /// was disabled, deleted or set back to pending.
    pub fn reread(&self, store: &Store) -> Option<AuthUser> {
        let session = store.auth_session(&self.sid).ok()??;
        let user = store.user(session.user).ok()??;
        (!user.disabled && user.role != Role::Pending).then(|| AuthUser {
            user,
            sid: self.sid.clone(),
        })
    }
}

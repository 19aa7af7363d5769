//! `/api/v1/auth/*`: register, login, logout, refresh, me.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::bodies::{AuthStatus, LoggedOut, LoginsEnded, PasswordChanged};
use super::extract::{self, ACCESS_COOKIE, REFRESH_COOKIE};
use super::{ApiError, Body, OptionalBody};
use crate::auth::client_ip::ClientAddr;
use crate::auth::jwt::TokenKind;
use crate::auth::{self, Approved, AuthUser, password};
use crate::ops::Actor;
use crate::state::AppState;
use crate::store::{AuditAction, Role, Rotation, User, rfc3339, tokens_match};

/// `{"username","password"}`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    username: String,
    password: String,
    /// Only for the first account when it is not created from main's own machine.
    #[serde(default)]
    #[ts(optional)]
    setup_code: Option<String>,
}

/// A user as the API shows it (never the hash).
#[derive(Serialize, ts_rs::TS)]
pub struct UserView {
    id: String,
    username: String,
    role: Role,
    disabled: bool,
    /// Full name commits are authored with (`None` until the user sets a profile).
    name: Option<String>,
    /// Email commits are authored with.
    email: Option<String>,
    created_at: String,
}

/// `POST /auth/login`, `/auth/register`, `/auth/refresh`: the user and an access token (also set as a
/// cookie, with the refresh token).
#[derive(Serialize, ts_rs::TS)]
pub struct LoggedIn {
    /// Who is logged in.
    pub user: UserView,
    /// Bearer token for API clients that do not keep cookies.
    pub access_token: String,
    /// Seconds until `access_token` expires.
    #[ts(type = "number")]
    pub expires_in: u64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.to_string(),
            username: u.username.clone(),
            role: u.role,
            disabled: u.disabled,
            name: u.name.clone(),
            email: u.email.clone(),
            created_at: rfc3339(u.created_at),
        }
    }
}

#[derive(Serialize)]
struct LoginResponse {
    user: UserView,
    access_token: String,
    expires_in: u64,
}

/// Longest username accepted.
const MAX_USERNAME: usize = 32;

fn check_username(name: &str) -> Result<(), ApiError> {
    let ok = (3..=MAX_USERNAME).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "username must be 3-32 characters of a-z, 0-9, '.', '_' or '-'".into(),
        ))
    }
}

fn check_password(pw: &str) -> Result<(), ApiError> {
    if (8..=1024).contains(&pw.len()) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "password must be 8 to 1024 characters".into(),
        ))
    }
}

/// Runs a password hash through main's global bound ([`password::HashGate`]).
async fn gated<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    state.password_gate.run(work).await.map_err(|e| match e {
        password::GateError::Busy => ApiError::Busy(
            "main is checking too many passwords at once; try again in a second".into(),
        ),
        password::GateError::Failed(e) => ApiError::Internal(e.into()),
    })
}

/// `POST /api/v1/auth/register`: the first user becomes creator; later users wait as pending.
pub async fn register(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    Body(c): Body<Credentials>,
) -> Result<Response, ApiError> {
    state
        .login_limiter
        .hit(&client.limiter_key())
        .map_err(ApiError::TooManyRequests)?;
    check_username(&c.username)?;
    check_password(&c.password)?;
    // Behind a proxy every visitor may look local, so with trusted proxies the code is always asked for.
    let local =
        from_this_machine(client.peer, &headers) && state.config.server.trusted_proxies.is_empty();
    if !state.store.has_users()? && !local {
        let given = c.setup_code.as_deref().unwrap_or_default();
        if !tokens_match(&state.setup_code, given) {
            state.store.audit(
                Actor::anonymous(client.ip, Some(client))
                    .audit(AuditAction::AuthSetupRefused)
                    .target(c.username.clone()),
            );
            return Err(ApiError::Forbidden(
                "the first account of a new VibeBridge must be created from the machine main runs on, or \
                 with the setup code main printed when it started (setup_code)"
                    .into(),
            ));
        }
    }
    let pw = c.password.clone();
    let hash = gated(&state, move || password::hash(&pw)).await??;
    let user = state.store.create_user(&c.username, hash)?;
    state.store.audit(
        Actor::user(user.username.clone(), Some(client))
            .audit(AuditAction::AuthRegistered)
            .target(user.username.clone())
            .detail(format!("role {}", user.role.as_str())),
    );
    start_session(&state, &user)
}

/// `POST /api/v1/auth/login`.
pub async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    Body(c): Body<Credentials>,
) -> Result<Response, ApiError> {
    let limiter = &state.login_limiter;
    limiter
        .hit(&client.limiter_key())
        .map_err(ApiError::TooManyRequests)?;
    if c.username.len() > MAX_USERNAME {
        // No such user can exist; refused before it becomes a limiter key or an audit entry.
        return Err(ApiError::Unauthorized("wrong username or password".into()));
    }
    // Only failed attempts count against a username: a user's own successful logins never lock them out.
    let user_key = format!("user:{}", c.username);
    if limiter.exhausted(&user_key) {
        return Err(ApiError::TooManyRequests(limiter.window_secs()));
    }
    let user = state.store.user_by_name(&c.username)?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| password::dummy_hash().to_string());
    let pw = c.password.clone();
    let ok = gated(&state, move || password::verify(&pw, &hash)).await?;
    let Some(user) = user.filter(|_| ok) else {
        let _ = limiter.hit(&user_key);
        state.store.audit(
            Actor::user(c.username.clone(), Some(client))
                .audit(AuditAction::AuthLoginFailed)
                .target(c.username.clone()),
        );
        return Err(ApiError::Unauthorized("wrong username or password".into()));
    };
    if user.disabled {
        return Err(ApiError::Forbidden(
            "this account is disabled; ask an admin".into(),
        ));
    }
    state.store.audit(
        Actor::user(user.username.clone(), Some(client))
            .audit(AuditAction::AuthLogin)
            .target(user.username.clone()),
    );
    start_session(&state, &user)
}

fn start_session(state: &AppState, user: &User) -> Result<Response, ApiError> {
    let cfg = &state.config.auth;
    let ttl_ms = u64::try_from(cfg.refresh_ttl.as_millis()).unwrap_or(u64::MAX);
    let sid = state.store.create_auth_session(user.id, ttl_ms)?;
    let uid = user.id.to_string();
    let access = state
        .jwt
        .issue(&uid, &sid, TokenKind::Access, cfg.access_ttl)?;
    let refresh = state
        .jwt
        .issue(&uid, &sid, TokenKind::Refresh, cfg.refresh_ttl)?;
    // The refresh token travels only in its HttpOnly cookie (path /api/v1/auth), never in a body.
    let mut response = Json(LoginResponse {
        user: user.into(),
        access_token: access.clone(),
        expires_in: cfg.access_ttl.as_secs(),
    })
    .into_response();
    set_cookie(
        &mut response,
        state,
        ACCESS_COOKIE,
        &access,
        "/",
        cfg.access_ttl.as_secs(),
    );
    set_cookie(
        &mut response,
        state,
        REFRESH_COOKIE,
        &refresh,
        "/api/v1/auth",
        cfg.refresh_ttl.as_secs(),
    );
    Ok(response)
}

fn set_cookie(
    response: &mut Response,
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
) {
    set_cookie_with(response, state, name, value, path, max_age, "Strict");
}

/// Appends an HttpOnly cookie (`Secure` when `auth.secure_cookies`) with `same_site` (`Strict`, or `Lax`
/// for a cookie that must come back on a cross-site redirect); `max_age` 0 removes it.
pub(super) fn set_cookie_with(
    response: &mut Response,
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
    same_site: &str,
) {
    let secure = if state.config.auth.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// `{"refresh_token"}` for clients that do not keep cookies.
#[derive(Deserialize, Default, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    #[ts(optional)]
    refresh_token: Option<String>,
}

fn refresh_token_from(headers: &HeaderMap, body: RefreshBody) -> Option<String> {
    body.refresh_token
        .or_else(|| extract::cookie(headers, REFRESH_COOKIE).map(str::to_string))
}

/// `POST /api/v1/auth/refresh`: a new access token for a live refresh token (cookie or body).
pub async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalBody(body): OptionalBody<RefreshBody>,
) -> Result<Response, ApiError> {
    let token = refresh_token_from(&headers, body)
        .ok_or_else(|| ApiError::Unauthorized("no refresh token; log in again".into()))?;
    let (who, claims) =
        auth::authenticate_claims(&state.store, &state.jwt, &token, TokenKind::Refresh)?;
    let presented = claims.generation;
    // Each refresh token works once; a second use means a copy exists, so the login ends for everyone.
    let generation = match state.store.rotate_refresh(&who.sid, presented)? {
        Rotation::Rotated(g) => g,
        Rotation::Reused => {
            state.store.audit(
                Actor::user(who.user.username.clone(), None::<String>)
                    .audit(AuditAction::AuthRefreshReused)
                    .target(who.user.username.clone())
                    .detail("a refresh token was used twice; the login was ended"),
            );
            return Err(ApiError::Unauthorized(
                "this refresh token was already used, so the login it belongs to was ended for safety; log in again"
                    .into(),
            ));
        }
        Rotation::Gone => {
            return Err(ApiError::Unauthorized(
                "session expired or invalid; log in again".into(),
            ));
        }
    };
    let cfg = &state.config.auth;
    let uid = who.user.id.to_string();
    let access = state
        .jwt
        .issue(&uid, &who.sid, TokenKind::Access, cfg.access_ttl)?;
    let refresh = state.jwt.issue_generation(
        &uid,
        &who.sid,
        TokenKind::Refresh,
        cfg.refresh_ttl,
        generation,
    )?;
    let mut response = Json(LoggedIn {
        user: UserView::from(&who.user),
        access_token: access.clone(),
        expires_in: cfg.access_ttl.as_secs(),
    })
    .into_response();
    set_cookie(
        &mut response,
        &state,
        ACCESS_COOKIE,
        &access,
        "/",
        cfg.access_ttl.as_secs(),
    );
    set_cookie(
        &mut response,
        &state,
        REFRESH_COOKIE,
        &refresh,
        "/api/v1/auth",
        cfg.refresh_ttl.as_secs(),
    );
    Ok(response)
}

/// `POST /api/v1/auth/logout`: ends the login session behind the access token and clears the cookies.
pub async fn logout(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    who: AuthUser,
) -> Result<Response, ApiError> {
    state.store.revoke_auth_session(&who.sid)?;
    state
        .store
        .audit(Actor::user(who.user.username.clone(), Some(peer)).audit(AuditAction::AuthLogout));
    let mut response = Json(LoggedOut { ok: true }).into_response();
    set_cookie(&mut response, &state, ACCESS_COOKIE, "", "/", 0);
    set_cookie(&mut response, &state, REFRESH_COOKIE, "", "/api/v1/auth", 0);
    Ok(response)
}

/// `POST /api/v1/auth/logout-all`: ends every login of the caller, this one included, and every live
/// connection they hold (within [`auth::RECHECK_EVERY`]).
pub async fn logout_all(
    State(state): State<AppState>,
    client: ClientAddr,
    who: AuthUser,
) -> Result<Response, ApiError> {
    let ended = state.store.revoke_user_sessions(who.user.id, None)?;
    // Devices go with the logins: a lost phone stops getting notifications too.
    let mut devices = 0;
    for sub in state.store.push_subscriptions_of(who.user.id)? {
        devices += usize::from(state.store.delete_push_subscription(sub.id)?.is_some());
    }
    state.store.audit(
        Actor::user(who.user.username.clone(), Some(client))
            .audit(AuditAction::AuthLogoutAll)
            .target(who.user.username.clone())
            .detail(format!(
                "{ended} logins ended, {devices} push devices removed"
            )),
    );
    let mut response = Json(LoginsEnded { ended }).into_response();
    set_cookie(&mut response, &state, ACCESS_COOKIE, "", "/", 0);
    set_cookie(&mut response, &state, REFRESH_COOKIE, "", "/api/v1/auth", 0);
    Ok(response)
}

/// `{"current_password","new_password"}`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /api/v1/auth/password`: changes the caller's password after checking the current one, and ends
/// every other login of theirs (a leaked password or token stops working with it).
pub async fn change_password(
    State(state): State<AppState>,
    client: ClientAddr,
    who: AuthUser,
    Body(b): Body<PasswordChange>,
) -> Result<Json<PasswordChanged>, ApiError> {
    let user_key = format!("user:{}", who.user.username);
    if state.login_limiter.exhausted(&user_key) {
        return Err(ApiError::TooManyRequests(state.login_limiter.window_secs()));
    }
    check_password(&b.new_password)?;
    let (current, hash) = (b.current_password, who.user.password_hash.clone());
    if !gated(&state, move || password::verify(&current, &hash)).await? {
        let _ = state.login_limiter.hit(&user_key);
        state.store.audit(
            Actor::user(who.user.username.clone(), Some(client))
                .audit(AuditAction::AuthPasswordChangeFailed)
                .target(who.user.username.clone()),
        );
        return Err(ApiError::Forbidden("the current password is wrong".into()));
    }
    let new = b.new_password;
    let hash = gated(&state, move || password::hash(&new)).await??;
    state.store.set_password_hash(who.user.id, hash)?;
    let ended = state
        .store
        .revoke_user_sessions(who.user.id, Some(&who.sid))?;
    state.store.audit(
        Actor::user(who.user.username.clone(), Some(client))
            .audit(AuditAction::AuthPasswordChanged)
            .target(who.user.username.clone())
            .detail(format!("{ended} other logins ended")),
    );
    Ok(Json(PasswordChanged {
        ended_other_logins: ended,
    }))
}

/// `GET /api/v1/auth/me`.
pub async fn me(who: AuthUser) -> Json<UserView> {
    Json(UserView::from(&who.user))
}

/// `{"name","email"}`: who the user's commits are by.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    name: String,
    email: String,
}

/// `PUT /api/v1/auth/me/profile`: sets the name and email the git panel commits with.
pub async fn set_profile(
    State(state): State<AppState>,
    Approved(who): Approved,
    Body(p): Body<Profile>,
) -> Result<Json<UserView>, ApiError> {
    let name = p.name.trim().to_string();
    let email = p.email.trim().to_string();
    let printable = |s: &str| !s.chars().any(|c| c.is_control() || "<>".contains(c));
    if name.is_empty() || name.len() > 100 || !printable(&name) {
        return Err(ApiError::BadRequest(
            "name must be 1-100 printable characters without < or >".into(),
        ));
    }
    let email_ok = email.len() <= 254
        && printable(&email)
        && !email.contains(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty());
    if !email_ok {
        return Err(ApiError::BadRequest(
            "email must look like name@example.com (no spaces, < or >)".into(),
        ));
    }
    let user = state.store.set_profile(who.user.id, name, email)?;
    Ok(Json(UserView::from(&user)))
}

/// `GET /api/v1/auth/status`: whether anyone has registered yet (the UI shows creator sign-up if not).
pub async fn status(State(state): State<AppState>) -> Result<Json<AuthStatus>, ApiError> {
    Ok(Json(AuthStatus {
        has_users: state.store.has_users()?,
    }))
}

/// A request from main's own machine: a loopback peer that no proxy forwarded (behind a local
/// reverse proxy every request is loopback, and says whom it was forwarded for).
fn from_this_machine(peer: SocketAddr, headers: &HeaderMap) -> bool {
    peer.ip().is_loopback()
        && !headers.contains_key("forwarded")
        && !headers.contains_key("x-forwarded-for")
        && !headers.contains_key("x-real-ip")
}

//! Connecting a person's GitHub account: the OAuth web flow (a `state` bound to the person who started
//! it, PKCE S256, ten minutes, usable once), the device flow for mains GitHub cannot call back
//! ([`super::device`]), or a pasted personal access token checked against the API before it is stored. Tokens are sealed before they reach
//! the store. Disconnecting revokes an OAuth grant on GitHub and deletes the connection.

use serde::{Deserialize, Serialize};
use vibebridge_tunnel::config::Secret;
use vibebridge_tunnel::keys::random_hex;

use super::super::{Actor, OpError};
use super::{mark_reconnect, not_connected};
use crate::github::model::GhUser;
use crate::github::oauth::{TokenSet, pkce};
use crate::github::{DeviceFlow, GhError, OAuth};
use crate::state::AppState;
use crate::store::{
    AuditAction, ConnectionHealth, ConnectionKind, GithubConnection, OAuthState, User, UserId,
    now_ms, token_hash,
};

/// A person's connection as the API shows it: never a token.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct GithubAccount {
    /// GitHub login.
    pub login: String,
    /// GitHub's user id.
    #[ts(type = "number")]
    pub github_user_id: u64,
    /// How it was made.
    pub kind: ConnectionKind,
    /// Granted scopes (none listed for fine-grained tokens).
    pub scopes: Vec<String>,
    /// Working, or why it must be reconnected.
    pub health: ConnectionHealth,
    /// When the access token expires (ms); it is refreshed before then when GitHub gave a refresh token.
    #[ts(optional, type = "number")]
    pub expires_at: Option<u64>,
    /// GitHub's rate limit is spent until then (ms).
    #[ts(optional, type = "number")]
    pub rate_limited_until: Option<u64>,
    /// Connected at (ms).
    #[ts(type = "number")]
    pub connected_at: u64,
}

/// `GET /github/connection`.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct GithubStatus {
    /// The connected account, if any.
    #[ts(optional)]
    pub account: Option<GithubAccount>,
    /// A device flow in progress (or just failed).
    #[ts(optional)]
    pub device: Option<DeviceFlow>,
    /// "Connect GitHub" (web flow) is available: the OAuth app and its secret are configured.
    pub web_flow: bool,
    /// The device flow is available: the OAuth app is configured.
    pub device_flow: bool,
    /// GitHub's web site (for links: token settings, the repository pages).
    pub web_url: String,
}

/// `POST /github/connect`'s answer.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct ConnectStart {
    /// Where to send the browser.
    pub redirect_url: String,
}

/// `POST /github/token`.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct PastedToken {
    /// A fine-grained (or classic) personal access token.
    pub token: String,
}

/// `DELETE /github/connection`'s answer.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct Disconnected {
    /// The grant was revoked on GitHub (OAuth connections); a pasted token must be revoked by hand.
    pub revoked: bool,
    /// What to do, if anything.
    #[ts(optional)]
    pub note: Option<String>,
}

fn account(c: &GithubConnection) -> GithubAccount {
    GithubAccount {
        login: c.login.clone(),
        github_user_id: c.github_user_id,
        kind: c.kind,
        scopes: c.scopes.clone(),
        health: c.health.clone(),
        expires_at: c.expires_at,
        rate_limited_until: c.rate_limited_until.filter(|&t| t > now_ms()),
        connected_at: c.created_at,
    }
}

/// The person's connection and what connecting can use here.
pub fn status(state: &AppState, who: &User) -> Result<GithubStatus, OpError> {
    let oauth = state.github.oauth.as_ref();
    Ok(GithubStatus {
        account: state.store.github_connection(who.id)?.as_ref().map(account),
        device: state.github.device(who.id),
        web_flow: oauth.is_some_and(OAuth::has_secret),
        device_flow: oauth.is_some(),
        web_url: state.github.config.web_url.clone(),
    })
}

pub(super) fn oauth(state: &AppState) -> Result<&OAuth, OpError> {
    state.github.oauth.as_ref().ok_or_else(|| {
        OpError::Conflict(
            "this main has no GitHub OAuth app (github.client_id in its config); paste a personal access \
             token instead"
                .into(),
        )
    })
}

/// Starts the web flow: the URL to send the browser to. `origin` is the browser's (`Origin` header),
/// for the callback URL when `github.callback_url` is not set; `browser_nonce` goes into a cookie of that
/// browser, and only a callback carrying it finishes the flow (so a link to someone else's flow cannot
/// connect the victim's GitHub account to the link's author).
pub fn start_web(
    state: &AppState,
    who: &User,
    origin: Option<&str>,
    browser_nonce: &str,
) -> Result<ConnectStart, OpError> {
    let oauth = oauth(state)?;
    if !oauth.has_secret() {
        return Err(OpError::Conflict(
            "the web flow needs github.client_secret, which is not configured; use the device flow or paste a \
             token"
                .into(),
        ));
    }
    let redirect_uri = match (&state.github.config.callback_url, origin) {
        (Some(url), _) => url.clone(),
        (None, Some(origin)) => format!("{}/api/v1/github/callback", origin.trim_end_matches('/')),
        (None, None) => {
            return Err(OpError::BadRequest(
                "the request has no Origin header to build the callback URL from; set github.callback_url"
                    .into(),
            ));
        }
    };
    let state_token = random_hex(16);
    let (verifier, chal) = pkce();
    let sealed = state
        .github
        .sealer
        .seal(&format!("github.pkce:{state_token}"), &verifier)?;
    state.store.put_oauth_state(
        &state_token,
        &OAuthState {
            user_id: who.id,
            verifier: sealed,
            redirect_uri: redirect_uri.clone(),
            browser: token_hash(browser_nonce),
            created_at: now_ms(),
        },
    )?;
    Ok(ConnectStart {
        redirect_url: oauth.authorize_url(
            &redirect_uri,
            &state.github.config.scopes,
            &state_token,
            &chal,
        ),
    })
}

/// The web flow's callback: checks `state` (once, in time), that it came back to the browser that started
/// it (`browser_nonce`, from its cookie) and — when the login cookie came along too — the same person,
/// exchanges the code with the PKCE verifier and stores the connection.
pub async fn finish_web(
    state: &AppState,
    actor: &Actor,
    who: Option<&User>,
    browser_nonce: Option<&str>,
    state_token: &str,
    code: &str,
) -> Result<GithubAccount, OpError> {
    let pending = state.store.take_oauth_state(state_token)?.ok_or_else(|| {
        OpError::BadRequest(
            "this GitHub authorisation is unknown, used already or older than ten minutes; start \"Connect \
             GitHub\" again"
                .into(),
        )
    })?;
    // Hashes compared, as for every token: the time taken says nothing about the nonce.
    let same_browser = browser_nonce.is_some_and(|n| token_hash(n) == pending.browser);
    if !same_browser {
        return Err(OpError::Forbidden(
            "this GitHub authorisation was started in another browser; start \"Connect GitHub\" again from \
             this one"
                .into(),
        ));
    }
    if let Some(who) = who
        && who.id != pending.user_id
    {
        return Err(OpError::Forbidden(
            "this GitHub authorisation was started by another login of this main; start it again from your own"
                .into(),
        ));
    }
    let verifier = state
        .github
        .sealer
        .open(&format!("github.pkce:{state_token}"), &pending.verifier)
        .map_err(|e| {
            OpError::BadRequest(format!(
                "the authorisation's state does not open ({e}); start again"
            ))
        })?;
    let tokens = oauth(state)?
        .exchange_code(code, &verifier, &pending.redirect_uri)
        .await
        .map_err(|e| {
            OpError::BadRequest(format!("{} ; start \"Connect GitHub\" again", e.message))
        })?;
    save(state, actor, pending.user_id, ConnectionKind::Oauth, tokens).await
}

/// Checks a token against `GET /user` and stores the connection, replacing any earlier one.
pub(super) async fn save(
    state: &AppState,
    actor: &Actor,
    user: UserId,
    kind: ConnectionKind,
    tokens: TokenSet,
) -> Result<GithubAccount, OpError> {
    let (me, headers) = state
        .github
        .api
        .get_with_headers::<GhUser>(&tokens.access_token, "/user")
        .await
        .map_err(|e| match e {
            GhError::BadCredentials => OpError::BadRequest(
                "GitHub refused this token: check it is copied whole, not expired, and not revoked"
                    .into(),
            ),
            other => super::failed(state, user, other),
        })?;
    let scopes: Vec<String> = headers
        .get("x-oauth-scopes")
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_else(|| {
            tokens
                .scope
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        });
    let now = now_ms();
    let sealer = &state.github.sealer;
    let conn = GithubConnection {
        user_id: user,
        github_user_id: me.id,
        login: me.login.clone(),
        kind,
        access_token: sealer.seal(
            &GithubConnection::access_context(user),
            tokens.access_token.expose(),
        )?,
        refresh_token: tokens
            .refresh_token
            .as_ref()
            .map(|t| sealer.seal(&GithubConnection::refresh_context(user), t.expose()))
            .transpose()?,
        expires_at: tokens.expires_in.map(|s| now + s.saturating_mul(1000)),
        refresh_expires_at: tokens
            .refresh_token_expires_in
            .map(|s| now + s.saturating_mul(1000)),
        scopes,
        health: ConnectionHealth::Ok,
        rate_limited_until: None,
        created_at: now,
        updated_at: now,
    };
    state.store.put_github_connection(&conn)?;
    state.github.cache_repos(user, None);
    state.store.audit(
        actor
            .audit(AuditAction::GithubConnected)
            .target(format!("github:{}", me.login))
            .detail(format!("{kind:?} connection as {} ({})", me.login, me.id).to_lowercase()),
    );
    Ok(account(&conn))
}

/// Connects with a pasted personal access token, once GitHub has accepted it.
pub async fn connect_token(
    state: &AppState,
    actor: &Actor,
    who: &User,
    body: PastedToken,
) -> Result<GithubAccount, OpError> {
    let token = body.token.trim();
    if token.is_empty() || token.len() > 255 || token.chars().any(|c| !c.is_ascii_graphic()) {
        return Err(OpError::BadRequest(
            "that is not a GitHub token (one word of letters, digits and _, like github_pat_…); copy it again"
                .into(),
        ));
    }
    let tokens = TokenSet {
        access_token: Secret::new(token),
        refresh_token: None,
        expires_in: None,
        refresh_token_expires_in: None,
        scope: String::new(),
    };
    save(state, actor, who.id, ConnectionKind::Token, tokens).await
}

/// A fresh token from the refresh token; without one (or when GitHub refuses it) the connection needs
/// reconnecting. One refresh at a time, since GitHub spends a refresh token on use.
pub async fn refresh(state: &AppState, user: UserId) -> Result<GithubConnection, OpError> {
    let _one = state.github.refresh_lock.lock().await;
    let conn = state
        .store
        .github_connection(user)?
        .ok_or_else(not_connected)?;
    let now = now_ms();
    if conn
        .expires_at
        .is_none_or(|at| at > now + super::REFRESH_AHEAD_MS)
    {
        return Ok(conn); // refreshed meanwhile
    }
    let give_up = |reason: &str| {
        mark_reconnect(state, user, reason);
        super::reconnect_error(reason)
    };
    let (Some(sealed), Some(oauth)) = (&conn.refresh_token, state.github.oauth.as_ref()) else {
        return Err(give_up("your GitHub token expired"));
    };
    if conn.refresh_expires_at.is_some_and(|at| at <= now) {
        return Err(give_up("your GitHub token and its refresh token expired"));
    }
    let refresh_token = state
        .github
        .sealer
        .open(&GithubConnection::refresh_context(user), sealed)
        .map(Secret::new)
        .map_err(|e| give_up(&format!("your stored refresh token cannot be opened ({e})")))?;
    let tokens = match oauth.refresh(&refresh_token).await {
        Ok(t) => t,
        // Only GitHub refusing this refresh token means reconnecting; anything else may pass.
        Err(e)
            if !matches!(
                e.code.as_str(),
                "bad_refresh_token" | "invalid_grant" | "unauthorized_client" | "expired_token"
            ) =>
        {
            return Err(super::error(
                vibebridge_tunnel::reply::ErrorCode::GithubFailed,
                e.message,
            ));
        }
        Err(e) => {
            return Err(give_up(&format!(
                "GitHub did not refresh your token ({})",
                e.message
            )));
        }
    };
    let sealer = &state.github.sealer;
    let access = sealer.seal(
        &GithubConnection::access_context(user),
        tokens.access_token.expose(),
    )?;
    let refresh = tokens
        .refresh_token
        .as_ref()
        .map(|t| sealer.seal(&GithubConnection::refresh_context(user), t.expose()))
        .transpose()?;
    let now = now_ms();
    let (grant, since) = (conn.github_user_id, conn.created_at);
    state
        .store
        .update_github_connection(user, |c| {
            if (c.github_user_id, c.created_at) != (grant, since) {
                return; // reconnected meanwhile: the new connection stays
            }
            c.access_token = access.clone();
            if refresh.is_some() {
                c.refresh_token = refresh.clone();
                c.refresh_expires_at = tokens
                    .refresh_token_expires_in
                    .map(|s| now + s.saturating_mul(1000));
            }
            c.expires_at = tokens.expires_in.map(|s| now + s.saturating_mul(1000));
            c.health = ConnectionHealth::Ok;
        })?
        .ok_or_else(not_connected)
}

/// Deletes the person's connection, revoking an OAuth grant on GitHub first (best effort: the
/// connection goes either way).
pub async fn disconnect(
    state: &AppState,
    actor: &Actor,
    who: &User,
) -> Result<Disconnected, OpError> {
    let conn = state
        .store
        .github_connection(who.id)?
        .ok_or_else(not_connected)?;
    let mut revoked = false;
    let mut note = None;
    match (conn.kind, state.github.oauth.as_ref()) {
        (ConnectionKind::Oauth | ConnectionKind::Device, Some(oauth)) if oauth.has_secret() => {
            let opened = state.github.sealer.open(
                &GithubConnection::access_context(who.id),
                &conn.access_token,
            );
            match opened {
                Ok(token) => match oauth
                    .revoke(&state.github.config.api_url, &Secret::new(token))
                    .await
                {
                    Ok(()) => revoked = true,
                    Err(e) => {
                        note = Some(format!(
                            "{}; revoke it on GitHub under Settings → Applications",
                            e.message
                        ))
                    }
                },
                Err(_) => {
                    note = Some("revoke the grant on GitHub under Settings → Applications".into())
                }
            }
        }
        (ConnectionKind::Token, _) => {
            note = Some(format!(
                "main forgot the token; delete it on GitHub too ({}/settings/tokens)",
                state.github.config.web_url
            ));
        }
        _ => note = Some("revoke the grant on GitHub under Settings → Applications".into()),
    }
    state.store.delete_github_connection(who.id)?;
    state.github.cache_repos(who.id, None);
    state.store.audit(
        actor
            .audit(AuditAction::GithubDisconnected)
            .target(format!("github:{}", conn.login))
            .detail(if revoked {
                "grant revoked on GitHub"
            } else {
                "deleted; not revoked on GitHub"
            }),
    );
    Ok(Disconnected { revoked, note })
}

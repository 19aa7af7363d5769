//! GitHub for workspaces: people connect their account ([`connect`]), workspaces connect repositories and
//! turn them into projects on a node or import their issues as tasks ([`repos`]), runs push their branch
//! and open pull requests ([`pulls`]) that main then follows by polling with conditional requests and by
//! webhook ([`follow`], [`webhook`]) until they are merged, sending review comments and failed checks back
//! to the run's agent when asked (or by itself, with auto-fix: [`review`]). [`base`] fetches a run's base.
//!
//! Every GitHub call is made with one person's token, opened from the store only for that call: here, in
//! [`authed`], which also refreshes an expiring token, and in [`failed`], which turns GitHub's refusals
//! into what the person sees (reconnect, rate limited until…) and remembers them on the connection.

pub mod base;
pub mod connect;
pub mod device;
pub mod follow;
pub mod pulls;
pub mod repos;
pub mod review;
pub mod verdict;
pub mod webhook;

use vibebridge_tunnel::config::Secret;
use vibebridge_tunnel::git::GitCredential;
use vibebridge_tunnel::reply::ErrorCode;

use super::OpError;
use crate::github::GhError;
use crate::state::AppState;
use crate::store::{ConnectionHealth, GithubConnection, UserId, now_ms, rfc3339};

/// A connection with its token open, for one call.
pub struct Authed {
    /// The connection.
    pub conn: GithubConnection,
    /// Its access token.
    pub token: Secret,
}

impl Authed {
    /// The token as a git credential for one clone, fetch or push on a node.
    pub fn git_credential(&self) -> GitCredential {
        GitCredential {
            username: "x-access-token".into(),
            password: self.token.clone(),
        }
    }
}

/// Refresh a token this long before it expires.
const REFRESH_AHEAD_MS: u64 = 5 * 60 * 1000;

fn error(code: ErrorCode, message: impl Into<String>) -> OpError {
    OpError::Github {
        code,
        message: message.into(),
        retry_after: None,
    }
}

/// `github_not_connected`.
pub fn not_connected() -> OpError {
    error(
        ErrorCode::GithubNotConnected,
        "you have not connected a GitHub account; connect one in Settings → GitHub",
    )
}

fn reconnect_error(reason: &str) -> OpError {
    error(
        ErrorCode::GithubReconnect,
        format!("{reason}: reconnect GitHub in Settings → GitHub"),
    )
}

fn rate_limited(until_ms: u64) -> OpError {
    let now = now_ms();
    OpError::Github {
        code: ErrorCode::GithubRateLimited,
        message: format!(
            "GitHub's rate limit for your account is spent until {}; main waits until then",
            rfc3339(until_ms)
        ),
        retry_after: Some(until_ms.saturating_sub(now).div_ceil(1000).max(1)),
    }
}

/// Marks `user`'s connection as needing to be reconnected, with why.
pub fn mark_reconnect(state: &AppState, user: UserId, reason: &str) {
    if let Err(e) = state.store.update_github_connection(user, |c| {
        c.health = ConnectionHealth::Reconnect {
            reason: reason.to_string(),
        };
    }) {
        tracing::warn!("marking a GitHub connection for reconnecting: {e}");
    }
}

/// `user`'s connection with its token open, refreshed first when it is about to expire. Counts one call
/// against `github.calls_per_minute`.
pub async fn authed(state: &AppState, user: UserId) -> Result<Authed, OpError> {
    if let Err(secs) = state.github.count_call(user) {
        return Err(OpError::Github {
            code: ErrorCode::TooManyRequests,
            message: format!(
                "too many GitHub calls through main this minute (github.calls_per_minute); try again in {secs} s"
            ),
            retry_after: Some(secs),
        });
    }
    let mut conn = state
        .store
        .github_connection(user)?
        .ok_or_else(not_connected)?;
    if let ConnectionHealth::Reconnect { reason } = &conn.health {
        return Err(reconnect_error(reason));
    }
    let now = now_ms();
    if let Some(until) = conn.rate_limited_until
        && until > now
    {
        return Err(rate_limited(until));
    }
    if conn
        .expires_at
        .is_some_and(|at| at <= now + REFRESH_AHEAD_MS)
    {
        conn = connect::refresh(state, user).await?;
    }
    let token = match state
        .github
        .sealer
        .open(&GithubConnection::access_context(user), &conn.access_token)
    {
        Ok(t) => Secret::new(t),
        Err(e) => {
            let reason = format!("your stored GitHub token cannot be opened ({e})");
            mark_reconnect(state, user, &reason);
            return Err(reconnect_error(&reason));
        }
    };
    Ok(Authed { conn, token })
}

/// What a GitHub failure means for `user`: a refused token marks the connection for reconnecting, a
/// spent rate limit is remembered until its reset (so main stops asking), anything else is passed on in
/// GitHub's words.
pub fn failed(state: &AppState, user: UserId, e: GhError) -> OpError {
    match e {
        GhError::BadCredentials => {
            let reason = "GitHub no longer accepts your token (revoked or expired)";
            mark_reconnect(state, user, reason);
            reconnect_error(reason)
        }
        GhError::RateLimited { until_ms } => {
            if let Err(e) = state.store.update_github_connection(user, |c| {
                c.rate_limited_until = Some(until_ms);
            }) {
                tracing::warn!("recording a GitHub rate limit: {e}");
            }
            rate_limited(until_ms)
        }
        GhError::NotFound(m) => OpError::NotFound(m),
        GhError::Validation(m) | GhError::Forbidden(m) | GhError::Failed(m) => {
            error(ErrorCode::GithubFailed, m)
        }
    }
}

/// A node's refusal of a git operation against GitHub, with what to do when it was the credential.
pub fn git_failed(e: OpError) -> OpError {
    match e {
        OpError::NodeRefused {
            code: ErrorCode::Unauthorized,
            message,
        } => error(
            ErrorCode::GithubFailed,
            format!(
                "{message} (the token needs access to the repository's contents: reconnect GitHub with the \
                 repo scope, or give the fine-grained token Contents: read and write)"
            ),
        ),
        other => other,
    }
}

/// The repository an `https://` URL or `git@host:owner/name` remote points at, as lower-case
/// `host/owner/name` (no `.git`, no credentials), for matching an existing clone to a repository.
pub fn remote_key(url: &str) -> Option<String> {
    let url = url.trim();
    let (host, path) = if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix("ssh://"))
        .or_else(|| url.strip_prefix("git://"))
    {
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit('@').next()?;
        let host = host.split(':').next()?;
        (host.to_string(), path.to_string())
    } else {
        // scp-like: git@github.com:owner/name.git
        let (left, path) = url.split_once(':')?;
        let host = left.rsplit('@').next()?;
        (host.to_string(), path.to_string())
    };
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let mut parts = path.rsplitn(3, '/');
    let name = parts.next().filter(|s| !s.is_empty())?;
    let owner = parts.next().filter(|s| !s.is_empty())?;
    Some(format!("{host}/{owner}/{name}").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::remote_key;

    /// Proves clones made over HTTPS, SSH or scp-like syntax, with or without `.git` and credentials,
    /// match the same repository, and other repositories do not.
    #[test]
    fn remotes_match() {
        let want = Some("github.com/acme/web".to_string());
        for url in [
            "https://github.com/acme/web.git",
            "https://github.com/Acme/Web",
            "https://user:tok@github.com/acme/web.git",
            "git@github.com:acme/web.git",
            "ssh://git@github.com/acme/web.git",
            "ssh://git@github.com:22/acme/web",
        ] {
            assert_eq!(remote_key(url), want, "{url}");
        }
        assert_ne!(remote_key("https://github.com/acme/api.git"), want);
        assert_ne!(remote_key("https://gitlab.com/acme/web.git"), want);
        assert_eq!(
            remote_key("http://127.0.0.1:9/ghe/acme/web.git"),
            Some("127.0.0.1/acme/web".into())
        );
        assert_eq!(remote_key("not a url"), None);
    }
}

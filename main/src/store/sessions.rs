//! Login sessions: each JWT names one, so logout and role changes take effect before the token expires.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, UserId, decode, encode, now_ms};

/// A login session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthSession {
    /// The user it belongs to.
    pub user: UserId,
    /// Creation time, ms since epoch.
    pub created_at: u64,
    /// When the refresh token expires, ms since epoch.
    pub expires_at: u64,
}

impl Store {
    /// Starts a session lasting `ttl_ms`; returns its id.
    pub fn create_auth_session(&self, user: UserId, ttl_ms: u64) -> Result<String, StoreError> {
        let sid = vibebridge_tunnel::keys::random_hex(16);
        let now = now_ms();
        let s = AuthSession {
            user,
            created_at: now,
            expires_at: now.saturating_add(ttl_ms),
        };
        self.auth_sessions.insert(sid.as_bytes(), encode(&s))?;
        Ok(sid)
    }

    /// A live (not revoked, not expired) session.
    pub fn auth_session(&self, sid: &str) -> Result<Option<AuthSession>, StoreError> {
        let Some(v) = self.auth_sessions.get(sid.as_bytes())? else {
            return Ok(None);
        };
        let s: AuthSession = decode("auth_sessions", &v)?;
        Ok((s.expires_at > now_ms()).then_some(s))
    }

    /// Ends a session (logout).
    pub fn revoke_auth_session(&self, sid: &str) -> Result<(), StoreError> {
        self.auth_sessions.remove(sid.as_bytes())?;
        Ok(())
    }
}

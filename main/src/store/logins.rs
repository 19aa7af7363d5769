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
    /// The generation of the one refresh token that may be used next; each use moves it on.
    #[serde(default)]
    pub refresh_generation: u64,
    /// When the generation last moved on, ms since epoch.
    #[serde(default)]
    pub rotated_at: u64,
}

/// How long the refresh token just replaced still works: two tabs of one browser share the cookie
/// and may both refresh at once; that is not a stolen copy.
pub const REFRESH_GRACE_MS: u64 = 10_000;

/// What presenting a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// It was the current one: the next one has this generation.
    Rotated(u64),
    /// It was already used: somebody else has a copy, so the whole login was ended.
    Reused,
    /// The login no longer exists.
    Gone,
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
            refresh_generation: 0,
            rotated_at: 0,
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
        // Under the lock a refresh rotates under, so a rotation racing this cannot put it back.
        self.atomic(|| {
            self.auth_sessions.remove(sid.as_bytes())?;
            Ok(())
        })
    }

    /// Spends the refresh token of generation `presented`: the current one moves the session to the
    /// next generation; the one just replaced, within [`REFRESH_GRACE_MS`], gets the current generation
    /// again; an older one (a copy used twice) ends the whole session.
    pub fn rotate_refresh(&self, sid: &str, presented: u64) -> Result<Rotation, StoreError> {
        self.atomic(|| {
            let Some(mut s) = self.auth_session(sid)? else {
                return Ok(Rotation::Gone);
            };
            let just_replaced = presented.saturating_add(1) == s.refresh_generation
                && now_ms().saturating_sub(s.rotated_at) < REFRESH_GRACE_MS;
            if just_replaced {
                return Ok(Rotation::Rotated(s.refresh_generation));
            }
            if s.refresh_generation != presented {
                self.auth_sessions.remove(sid.as_bytes())?;
                return Ok(Rotation::Reused);
            }
            s.refresh_generation += 1;
            s.rotated_at = now_ms();
            self.auth_sessions.insert(sid.as_bytes(), encode(&s))?;
            Ok(Rotation::Rotated(s.refresh_generation))
        })
    }

    /// Ends every session of `user` but `keep` (log out everywhere; a password change). Returns how many.
    pub fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<&str>,
    ) -> Result<usize, StoreError> {
        self.atomic(|| {
            let mut ended = 0;
            for entry in self.auth_sessions.iter() {
                let (sid, v) = entry?;
                let s: AuthSession = decode("auth_sessions", &v)?;
                if s.user == user && keep.is_none_or(|k| k.as_bytes() != &sid[..]) {
                    self.auth_sessions.remove(&sid)?;
                    ended += 1;
                }
            }
            Ok(ended)
        })
    }
}

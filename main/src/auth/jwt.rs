//! JWTs (HS256): short-lived access tokens and longer refresh tokens, both naming a login session.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Access or refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Authorises API calls.
    Access,
    /// Only buys a new access token.
    Refresh,
    /// A challenge to sign with an SSH key, proving its owner holds the private half.
    KeyProof,
}

/// The token payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Login session id; revoked on logout.
    pub sid: String,
    /// Access or refresh.
    pub kind: TokenKind,
    /// Issued at, seconds since epoch.
    pub iat: u64,
    /// Expiry, seconds since epoch.
    pub exp: u64,
    /// Refresh tokens: the generation of their login session they were issued at (0 for access tokens).
    #[serde(default)]
    pub generation: u64,
}

/// Signs and checks tokens with one secret.
pub struct Jwt {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Jwt {
    /// Keys from the configured or generated secret.
    pub fn new(secret: &str) -> Jwt {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Jwt {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// Issues a token of `kind` for `user` in session `sid`, valid for `ttl`.
    pub fn issue(
        &self,
        user: &str,
        sid: &str,
        kind: TokenKind,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        self.issue_generation(user, sid, kind, ttl, 0)
    }

    /// Issues a token carrying a refresh `generation` (see [`Claims::generation`]).
    pub fn issue_generation(
        &self,
        user: &str,
        sid: &str,
        kind: TokenKind,
        ttl: Duration,
        generation: u64,
    ) -> anyhow::Result<String> {
        let iat = crate::store::now_ms() / 1000;
        let claims = Claims {
            sub: user.to_string(),
            sid: sid.to_string(),
            kind,
            iat,
            exp: iat + ttl.as_secs().max(1),
            generation,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Verifies signature, expiry and kind.
    pub fn verify(&self, token: &str, kind: TokenKind) -> Option<Claims> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        (data.claims.kind == kind).then_some(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves tokens verify only with the right secret and kind.
    #[test]
    fn issue_and_verify() {
        let jwt = Jwt::new("0123456789abcdef0123456789abcdef");
        let t = jwt
            .issue("u1", "s1", TokenKind::Access, Duration::from_secs(60))
            .unwrap();
        let c = jwt.verify(&t, TokenKind::Access).unwrap();
        assert_eq!((c.sub.as_str(), c.sid.as_str()), ("u1", "s1"));
        assert!(jwt.verify(&t, TokenKind::Refresh).is_none());
        assert!(
            Jwt::new("another-secret-another-secret-xx")
                .verify(&t, TokenKind::Access)
                .is_none()
        );
        assert!(jwt.verify("garbage", TokenKind::Access).is_none());
    }
}

//! One-time node register tokens with an expiry. Only a SHA-256 of each token is stored.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, UserId, decode, encode, now_ms};

/// A one-time register token as stored (the token itself is shown once, at creation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeToken {
    /// Short public id, for listing and audit.
    pub id: String,
    /// Who created it; the node it enrols is theirs (`None`: the creator, e.g. `vibebridge up`).
    pub created_by: Option<UserId>,
    /// Creation time, ms since epoch.
    pub created_at: u64,
    /// Expiry, ms since epoch.
    pub expires_at: u64,
}

/// SHA-256 of a token, hex: the key tokens are stored and compared under.
pub fn token_hash(token: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    hex::encode(d.as_ref())
}

/// Compares two tokens through their hashes, so the comparison time says nothing about the contents.
pub fn tokens_match(expected: &str, given: &str) -> bool {
    token_hash(expected) == token_hash(given)
}

impl Store {
    /// Creates a token valid for `ttl_ms`. Returns the plaintext token (never stored) and its record.
    pub fn create_node_token(
        &self,
        created_by: Option<UserId>,
        ttl_ms: u64,
    ) -> Result<(String, NodeToken), StoreError> {
        let token = format!("vbn_{}", vibebridge_tunnel::keys::random_hex(24));
        let now = now_ms();
        let record = NodeToken {
            id: token_hash(&token)[..12].to_string(),
            created_by,
            created_at: now,
            expires_at: now.saturating_add(ttl_ms),
        };
        self.node_tokens
            .insert(token_hash(&token), encode(&record))?;
        self.db.flush()?;
        Ok((token, record))
    }

    /// Uses up a token: returns its record if it existed and had not expired. Expired tokens are deleted too.
    pub fn consume_node_token(&self, token: &str) -> Result<Option<NodeToken>, StoreError> {
        let Some(bytes) = self.node_tokens.remove(token_hash(token))? else {
            return Ok(None);
        };
        self.db.flush()?;
        let record: NodeToken = decode("node_tokens", &bytes)?;
        Ok((record.expires_at > now_ms()).then_some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a token works exactly once and an expired one never does.
    #[test]
    fn one_time_and_expiry() {
        let (store, dir) = crate::store::temp();
        let user = Some(UserId::new());
        let (token, rec) = store.create_node_token(user, 60_000).unwrap();
        assert!(token.starts_with("vbn_"));
        assert_eq!(
            store.consume_node_token(&token).unwrap().unwrap().id,
            rec.id
        );
        assert!(store.consume_node_token(&token).unwrap().is_none());
        let (expired, _) = store.create_node_token(user, 0).unwrap();
        assert!(store.consume_node_token(&expired).unwrap().is_none());
        assert!(store.consume_node_token("vbn_wrong").unwrap().is_none());
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

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
    /// Enrolments it still allows.
    #[serde(default = "one")]
    pub uses_left: u32,
}

fn one() -> u32 {
    1
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
        self.create_node_token_uses(created_by, ttl_ms, 1)
    }

    /// Creates a token valid for `ttl_ms` and `uses` enrolments.
    pub fn create_node_token_uses(
        &self,
        created_by: Option<UserId>,
        ttl_ms: u64,
        uses: u32,
    ) -> Result<(String, NodeToken), StoreError> {
        let token = format!("vbn_{}", vibebridge_tunnel::keys::random_hex(24));
        let now = now_ms();
        let record = NodeToken {
            id: token_hash(&token)[..12].to_string(),
            created_by,
            created_at: now,
            expires_at: now.saturating_add(ttl_ms),
            uses_left: uses.max(1),
        };
        self.node_tokens
            .insert(token_hash(&token), encode(&record))?;
        self.durable()?;
        Ok((token, record))
    }

    /// Uses a token once: returns its record if it existed and had not expired. A token is deleted with its
    /// last use, and when found expired.
    pub fn consume_node_token(&self, token: &str) -> Result<Option<NodeToken>, StoreError> {
        self.atomic(|| {
            let key = token_hash(token);
            let Some(bytes) = self.node_tokens.get(&key)? else {
                return Ok(None);
            };
            let mut record: NodeToken = decode("node_tokens", &bytes)?;
            if record.uses_left <= 1 || record.expires_at <= now_ms() {
                self.node_tokens.remove(&key)?;
            } else {
                record.uses_left -= 1;
                self.node_tokens.insert(&key, encode(&record))?;
            }
            self.durable()?;
            Ok((record.expires_at > now_ms()).then_some(record))
        })
    }

    /// Every live token (expired ones are dropped on the way), newest first.
    pub fn node_tokens(&self) -> Result<Vec<NodeToken>, StoreError> {
        let now = now_ms();
        let mut out = Vec::new();
        for item in self.node_tokens.iter() {
            let (k, v) = item?;
            let t: NodeToken = decode("node_tokens", &v)?;
            if t.expires_at <= now {
                self.node_tokens.remove(k)?;
            } else {
                out.push(t);
            }
        }
        out.sort_by_key(|t| std::cmp::Reverse(t.created_at));
        Ok(out)
    }

    /// Revokes a token by its public id; `None` if there is none.
    pub fn revoke_node_token(&self, id: &str) -> Result<Option<NodeToken>, StoreError> {
        self.atomic(|| {
            for item in self.node_tokens.iter() {
                let (k, v) = item?;
                let t: NodeToken = decode("node_tokens", &v)?;
                if t.id == id {
                    self.node_tokens.remove(k)?;
                    self.durable()?;
                    return Ok(Some(t));
                }
            }
            Ok(None)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves a token works exactly once and an expired one never does.
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

//! Users' SSH public keys, for the admin console (`ssh main -p 2222`). A key is matched by its SHA-256
//! fingerprint after russh has verified the signature. A key is either a node's or a user's, never both.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, UserId, decode, encode, now_ms};

/// A registered user key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SshKey {
    /// Short id for listing and deleting (the first 12 hex digits of the fingerprint's hash).
    pub id: String,
    /// Whose key.
    pub user: UserId,
    /// `SHA256:…`.
    pub fingerprint: String,
    /// The key as an OpenSSH line (`ssh-ed25519 AAAA…`), without its comment.
    pub public_key: String,
    /// The comment the line carried (usually `user@host`).
    pub comment: String,
    /// When it was added, ms since epoch.
    pub added_at: u64,
}

impl Store {
    /// Registers `key` for `user`. Refused if any user or node already uses the key.
    pub fn add_ssh_key(
        &self,
        user: UserId,
        public_key: String,
        fingerprint: String,
        comment: String,
    ) -> Result<SshKey, StoreError> {
        self.atomic(|| {
            if self.ssh_keys.contains_key(fingerprint.as_bytes())? {
                return Err(StoreError::Conflict(format!("SSH key {fingerprint}")));
            }
            if self.node_keys.contains_key(fingerprint.as_bytes())? {
                return Err(StoreError::Conflict(format!(
                    "SSH key {fingerprint} (it is a node's key; a key is either a node's or a person's)"
                )));
            }
            let key = SshKey {
                id: super::tokens::token_hash(&fingerprint)[..12].to_string(),
                user,
                fingerprint: fingerprint.clone(),
                public_key: public_key.clone(),
                comment: comment.clone(),
                added_at: now_ms(),
            };
            self.ssh_keys.insert(fingerprint.as_bytes(), encode(&key))?;
            self.durable()?;
            Ok(key)
        })
    }

    /// The user key with this fingerprint.
    pub fn ssh_key(&self, fingerprint: &str) -> Result<Option<SshKey>, StoreError> {
        self.ssh_keys
            .get(fingerprint.as_bytes())?
            .map(|v| decode("ssh_keys", &v))
            .transpose()
    }

    /// A user's keys, oldest first.
    pub fn ssh_keys_of(&self, user: UserId) -> Result<Vec<SshKey>, StoreError> {
        let mut keys = Vec::new();
        for item in self.ssh_keys.iter() {
            let key: SshKey = decode("ssh_keys", &item?.1)?;
            if key.user == user {
                keys.push(key);
            }
        }
        keys.sort_by_key(|k| k.added_at);
        Ok(keys)
    }

    /// Removes one of `user`'s keys by id; `None` if they have no such key.
    pub fn remove_ssh_key(&self, user: UserId, id: &str) -> Result<Option<SshKey>, StoreError> {
        self.atomic(|| {
            let Some(key) = self.ssh_keys_of(user)?.into_iter().find(|k| k.id == id) else {
                return Ok(None);
            };
            self.ssh_keys.remove(key.fingerprint.as_bytes())?;
            self.durable()?;
            Ok(Some(key))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves a key belongs to one user only, lists per user, and deletes by id.
    #[test]
    fn keys_are_unique_and_per_user() {
        let (store, dir) = crate::store::temp();
        let (a, b) = (UserId::new(), UserId::new());
        let k = store
            .add_ssh_key(
                a,
                "ssh-ed25519 AAAA".into(),
                "SHA256:x".into(),
                "a@h".into(),
            )
            .unwrap();
        assert!(matches!(
            store.add_ssh_key(
                b,
                "ssh-ed25519 AAAA".into(),
                "SHA256:x".into(),
                String::new()
            ),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.ssh_keys_of(a).unwrap().len(), 1);
        assert!(store.ssh_keys_of(b).unwrap().is_empty());
        assert!(store.remove_ssh_key(b, &k.id).unwrap().is_none());
        assert!(store.remove_ssh_key(a, &k.id).unwrap().is_some());
        assert!(store.ssh_key("SHA256:x").unwrap().is_none());
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

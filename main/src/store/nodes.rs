//! Enrolled nodes: id → public key, owner and members, last hello. The key index makes SSH auth one lookup.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use vibebridge_tunnel::protocol::Hello;
use vibebridge_tunnel::session::Resolution;

use super::{Change, Store, StoreError, UserId, decode, encode, now_ms};

/// A node main knows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Node id (also its SSH username).
    pub id: String,
    /// The node's key, OpenSSH one-line form.
    pub public_key: String,
    /// `SHA256:…` fingerprint of `public_key`.
    pub fingerprint: String,
    /// The user whose token enrolled it; `None` means the creator (config tokens, `vibebridge up`).
    pub owner: Option<UserId>,
    /// Other users allowed to see and use it.
    pub members: Vec<UserId>,
    /// Enrolment time, ms since epoch.
    pub enrolled_at: u64,
    /// Address the enrolment came from.
    pub enrolled_from: Option<String>,
    /// Last time the node was connected, ms since epoch.
    pub last_seen: Option<u64>,
    /// The node's most recent hello, so offline nodes still show labels and providers.
    pub last_hello: Option<Hello>,
    /// Something its owner and admins must look at (a cloned key); cleared by revoking the node.
    #[serde(default)]
    pub flag: Option<NodeFlag>,
}

/// A warning on a node that needs a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFlag {
    /// What kind of problem.
    pub kind: NodeFlagKind,
    /// What happened and what to do.
    pub message: String,
    /// When, ms since epoch.
    pub at: u64,
}

/// The kinds of [`NodeFlag`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum NodeFlagKind {
    /// Two live links presented the node's key at once.
    ClonedKey,
}

impl NodeRecord {
    /// Owner or member (`creator` is the owner of nodes with no explicit owner).
    pub fn is_allowed(&self, user: UserId, is_creator: bool) -> bool {
        self.is_owner(user, is_creator) || self.members.contains(&user)
    }

    /// The owner.
    pub fn is_owner(&self, user: UserId, is_creator: bool) -> bool {
        match self.owner {
            Some(owner) => owner == user,
            None => is_creator,
        }
    }
}

impl Store {
    /// The node whose key has this fingerprint.
    pub fn node_by_fingerprint(&self, fingerprint: &str) -> Result<Option<NodeRecord>, StoreError> {
        match self.node_keys.get(fingerprint)? {
            Some(id) => self.node(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// A node by id.
    pub fn node(&self, id: &str) -> Result<Option<NodeRecord>, StoreError> {
        self.nodes.get(id)?.map(|v| decode("nodes", &v)).transpose()
    }

    /// Every node.
    pub fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
        self.nodes
            .iter()
            .values()
            .map(|v| decode("nodes", &v?))
            .collect()
    }

    /// Binds `id` to a key. Refused when the id is bound to another key or the key to another id: a
    /// revoke must come first, so a leaked token cannot take over an existing node.
    pub fn enroll_node(
        &self,
        id: &str,
        public_key: String,
        fingerprint: String,
        owner: Option<UserId>,
        from: Option<String>,
    ) -> Result<NodeRecord, StoreError> {
        self.atomic(|| {
            if self.nodes.contains_key(id)? {
                return Err(StoreError::Conflict(format!("node {id}")));
            }
            if self.node_keys.contains_key(&fingerprint)? {
                return Err(StoreError::Conflict(format!("node key {fingerprint}")));
            }
            if self.ssh_keys.contains_key(fingerprint.as_bytes())? {
                return Err(StoreError::Conflict(format!(
                    "key {fingerprint} as a node key (it is a person's console key)"
                )));
            }
            let record = NodeRecord {
                id: id.to_string(),
                public_key: public_key.clone(),
                fingerprint: fingerprint.clone(),
                owner,
                members: Vec::new(),
                enrolled_at: now_ms(),
                enrolled_from: from.clone(),
                last_seen: None,
                last_hello: None,
                flag: None,
            };
            self.nodes.insert(id, encode(&record))?;
            self.node_keys.insert(&record.fingerprint, id)?;
            self.durable()?;
            self.changed(Change::Node(Arc::new(record.clone())));
            Ok(record)
        })
    }

    /// Records a connection: its hello and when.
    pub fn node_seen(&self, id: &str, hello: Option<&Hello>) -> Result<(), StoreError> {
        self.update_node(id, |n| {
            n.last_seen = Some(now_ms());
            if let Some(h) = hello {
                n.last_hello = Some(h.clone());
            }
        })
        .map(|_| ())
    }

    /// Sets (or replaces) a node's flag.
    pub fn flag_node(&self, id: &str, flag: NodeFlag) -> Result<(), StoreError> {
        self.update_node(id, |n| n.flag = Some(flag.clone()))?;
        self.durable()?;
        Ok(())
    }

    /// Adds or removes a member.
    pub fn set_node_member(
        &self,
        id: &str,
        user: UserId,
        member: bool,
    ) -> Result<NodeRecord, StoreError> {
        self.update_node(id, |n| {
            n.members.retain(|m| *m != user);
            if member && n.owner != Some(user) {
                n.members.push(user);
            }
        })
    }

    fn update_node(
        &self,
        id: &str,
        mut f: impl FnMut(&mut NodeRecord),
    ) -> Result<NodeRecord, StoreError> {
        self.atomic(|| {
            let mut node = self
                .node(id)?
                .ok_or_else(|| StoreError::NotFound(format!("node {id}")))?;
            f(&mut node);
            self.nodes.insert(id, encode(&node))?;
            self.changed(Change::Node(Arc::new(node.clone())));
            Ok(node)
        })
    }

    /// Forgets a node and its key (revocation), and the pending approvals of its sessions, which nobody can
    /// answer any more (they would stay in the inbox for ever). Returns the removed record.
    pub fn remove_node(&self, id: &str) -> Result<Option<NodeRecord>, StoreError> {
        self.atomic(|| {
            let Some(node) = self.node(id)? else {
                return Ok(None);
            };
            self.node_keys.remove(&node.fingerprint)?;
            self.nodes.remove(id)?;
            let mut gone = Vec::new();
            for item in self.approvals.iter() {
                let (key, v) = item?;
                let pending: super::PendingApproval = decode("approvals", &v)?;
                if pending.node_id == id {
                    self.approvals.remove(key)?;
                    gone.push(pending);
                }
            }
            self.durable()?;
            for pending in gone {
                self.changed(Change::Approval {
                    approval_id: pending.approval_id,
                    session_id: pending.session_id,
                    owner: pending.owner,
                    node_id: pending.node_id,
                    resolved: Some(Resolution::Cancelled),
                });
            }
            self.changed(Change::Node(Arc::new(node.clone())));
            Ok(Some(node))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves enrolment binds id ↔ key both ways, refuses takeovers, and removal frees both.
    #[test]
    fn enroll_lookup_remove() {
        let (store, dir) = crate::store::temp();
        let owner = UserId::new();
        store
            .enroll_node(
                "n1",
                "ssh-ed25519 AAA".into(),
                "SHA256:a".into(),
                Some(owner),
                None,
            )
            .unwrap();
        assert_eq!(
            store.node_by_fingerprint("SHA256:a").unwrap().unwrap().id,
            "n1"
        );
        assert!(
            store
                .enroll_node("n1", "k".into(), "SHA256:b".into(), Some(owner), None)
                .is_err()
        );
        assert!(
            store
                .enroll_node("n2", "k".into(), "SHA256:a".into(), Some(owner), None)
                .is_err()
        );
        let other = UserId::new();
        let n = store.set_node_member("n1", other, true).unwrap();
        assert!(n.is_allowed(other, false) && n.is_allowed(owner, false));
        assert!(
            !store
                .set_node_member("n1", other, false)
                .unwrap()
                .is_allowed(other, false)
        );
        store.remove_node("n1").unwrap().unwrap();
        assert!(store.node_by_fingerprint("SHA256:a").unwrap().is_none());
        store
            .enroll_node("n1", "k".into(), "SHA256:b".into(), Some(owner), None)
            .unwrap();
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

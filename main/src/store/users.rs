//! User accounts: the first becomes `creator`, later sign-ups wait as `pending` until approved.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, decode, encode, now_ms};

/// A user id (UUIDv7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub uuid::Uuid);

impl UserId {
    /// A fresh, time-ordered id.
    pub fn new() -> Self {
        UserId(uuid::Uuid::now_v7())
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a user may do. Ordered: `Creator > Admin > User > Pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Signed up, waiting for an admin's approval; can only see who they are.
    Pending,
    /// Uses the nodes they own or are a member of.
    User,
    /// Sees every node, approves users, reads the audit log.
    Admin,
    /// The first user; an admin whose role cannot be changed.
    Creator,
}

impl Role {
    /// Admin rights (admin or creator).
    pub fn is_admin(self) -> bool {
        self >= Role::Admin
    }

    /// Parses `creator|admin|user|pending`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "creator" => Some(Role::Creator),
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            "pending" => Some(Role::Pending),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Creator => "creator",
            Role::Admin => "admin",
            Role::User => "user",
            Role::Pending => "pending",
        }
    }
}

/// A stored user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Unique login name.
    pub username: String,
    /// Argon2 PHC string; never leaves the store layer in API responses.
    pub password_hash: String,
    /// Current role.
    pub role: Role,
    /// Creation time, ms since epoch.
    pub created_at: u64,
    /// Disabled by an admin: cannot log in, use tokens or the console.
    #[serde(default)]
    pub disabled: bool,
    /// Full name for commits made through the git panel.
    #[serde(default)]
    pub name: Option<String>,
    /// Email for commits made through the git panel.
    #[serde(default)]
    pub email: Option<String>,
}

/// `meta` key naming the creator: written with the first user, guarded by every registration.
const CREATOR_KEY: &str = "creator";

impl Store {
    /// Creates a user. The very first user becomes `creator`, everyone after that `pending`.
    pub fn create_user(&self, username: &str, password_hash: String) -> Result<User, StoreError> {
        self.atomic(|| {
            if self.usernames.contains_key(username)? {
                return Err(StoreError::Conflict(format!("user {username}")));
            }
            // The first user becomes the creator once: two registrations at the same moment (on two mains)
            // both read this key absent, and only one of their writes lands; the other runs again.
            let first = self.meta.get(CREATOR_KEY)?.is_none() && self.users.is_empty()?;
            let role = if first { Role::Creator } else { Role::Pending };
            let user = User {
                id: UserId::new(),
                username: username.to_string(),
                password_hash: password_hash.clone(),
                role,
                created_at: now_ms(),
                disabled: false,
                name: None,
                email: None,
            };
            if first {
                self.meta.insert(CREATOR_KEY, user.id.0.as_bytes())?;
            }
            self.users.insert(user.id.0.as_bytes(), encode(&user))?;
            self.usernames.insert(username, user.id.0.as_bytes())?;
            self.durable()?;
            self.changed(super::Change::User(user.id));
            Ok(user)
        })
    }

    /// True when no user exists yet (the UI then offers creator registration).
    pub fn has_users(&self) -> Result<bool, StoreError> {
        Ok(!self.users.is_empty()?)
    }

    /// A user by id.
    pub fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.users
            .get(id.0.as_bytes())?
            .map(|v| decode("users", &v))
            .transpose()
    }

    /// A user by login name.
    pub fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        match self.usernames.get(username)? {
            Some(id) => {
                let id = uuid::Uuid::from_slice(&id)
                    .map_err(|_| StoreError::NotFound(username.into()))?;
                self.user(UserId(id))
            }
            None => Ok(None),
        }
    }

    /// The creator, if registered.
    pub fn creator(&self) -> Result<Option<User>, StoreError> {
        Ok(self.users()?.into_iter().find(|u| u.role == Role::Creator))
    }

    /// Every user, oldest first.
    pub fn users(&self) -> Result<Vec<User>, StoreError> {
        self.users
            .iter()
            .values()
            .map(|v| decode("users", &v?))
            .collect()
    }

    /// Disables or re-enables a user.
    pub fn set_disabled(&self, id: UserId, disabled: bool) -> Result<User, StoreError> {
        self.update_user(id, |u| u.disabled = disabled)
    }

    /// Replaces a user's password hash.
    pub fn set_password_hash(&self, id: UserId, hash: String) -> Result<User, StoreError> {
        self.update_user(id, |u| u.password_hash = hash.clone())
    }

    /// Changes a user's role.
    pub fn set_role(&self, id: UserId, role: Role) -> Result<User, StoreError> {
        self.update_user(id, |u| u.role = role)
    }

    /// Sets the name and email a user's commits are authored with.
    pub fn set_profile(&self, id: UserId, name: String, email: String) -> Result<User, StoreError> {
        self.update_user(id, |u| {
            u.name = Some(name.clone());
            u.email = Some(email.clone());
        })
    }

    fn update_user(
        &self,
        id: UserId,
        mut change: impl FnMut(&mut User),
    ) -> Result<User, StoreError> {
        self.atomic(|| {
            let mut user = self
                .user(id)?
                .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
            change(&mut user);
            self.users.insert(id.0.as_bytes(), encode(&user))?;
            self.durable()?;
            self.changed(super::Change::User(id));
            Ok(user)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the first user is creator, later ones pending, and names are unique.
    #[test]
    fn first_user_is_creator() {
        let (store, dir) = crate::store::temp();
        assert!(!store.has_users().unwrap());
        let a = store.create_user("alice", "h".into()).unwrap();
        let b = store.create_user("bob", "h".into()).unwrap();
        assert_eq!(a.role, Role::Creator);
        assert_eq!(b.role, Role::Pending);
        assert!(matches!(
            store.create_user("bob", "h".into()),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.user_by_name("bob").unwrap().unwrap().id, b.id);
        assert_eq!(store.set_role(b.id, Role::User).unwrap().role, Role::User);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

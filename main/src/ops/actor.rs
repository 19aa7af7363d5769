//! Who does an operation, and from where: what the audit log records as its actor and source.

use std::fmt;

use crate::auth::AuthUser;
use crate::store::{AuditAction, AuditEvent};

/// The principal behind an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A logged-in user (browser or API client), by username.
    User(String),
    /// An admin at the SSH console, by name (their key was checked at login).
    Console(String),
    /// A node, by id.
    Node(String),
    /// Main itself (start-up, background work).
    System,
    /// Someone not logged in, by IP address (a refused first sign-up).
    Anonymous(String),
    /// An SSH login that was refused before it became a principal, by the user name it gave.
    SshLogin(String),
}

/// A principal and the address the operation came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Who.
    pub principal: Principal,
    /// From where (`ip:port`, or what the trusted proxy named), when known.
    pub source: Option<String>,
}

impl Actor {
    /// A logged-in user.
    pub fn user(name: impl Into<String>, source: Option<impl ToString>) -> Actor {
        Actor::with(Principal::User(name.into()), source)
    }

    /// The user of a login, from `source`.
    pub fn of(who: &AuthUser, source: Option<impl ToString>) -> Actor {
        Actor::user(who.user.username.clone(), source)
    }

    /// An admin at the console.
    pub fn console(name: impl Into<String>, source: Option<impl ToString>) -> Actor {
        Actor::with(Principal::Console(name.into()), source)
    }

    /// A node.
    pub fn node(id: impl Into<String>, source: Option<impl ToString>) -> Actor {
        Actor::with(Principal::Node(id.into()), source)
    }

    /// Main itself.
    pub fn system() -> Actor {
        Actor {
            principal: Principal::System,
            source: None,
        }
    }

    /// Someone not logged in, known by `ip`.
    pub fn anonymous(ip: impl ToString, source: Option<impl ToString>) -> Actor {
        Actor::with(Principal::Anonymous(ip.to_string()), source)
    }

    /// A refused SSH login that gave `user`.
    pub fn ssh_login(user: impl Into<String>, source: Option<impl ToString>) -> Actor {
        Actor::with(Principal::SshLogin(user.into()), source)
    }

    fn with(principal: Principal, source: Option<impl ToString>) -> Actor {
        Actor {
            principal,
            source: source.map(|s| s.to_string()),
        }
    }

    /// An audit entry of this actor doing `action`, from its source; add target and detail to it.
    pub fn audit(&self, action: AuditAction) -> AuditEvent {
        AuditEvent::new(self.to_string(), action).source(self.source.as_ref())
    }
}

/// The audit log's spelling: `user:alice`, `admin:alice`, `node:n1`, `system`, `anon:10.0.0.5`, `ssh:bob`.
impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.principal {
            Principal::User(name) => write!(f, "user:{name}"),
            Principal::Console(name) => write!(f, "admin:{name}"),
            Principal::Node(id) => write!(f, "node:{id}"),
            Principal::System => f.write_str("system"),
            Principal::Anonymous(ip) => write!(f, "anon:{ip}"),
            Principal::SshLogin(user) => write!(f, "ssh:{user}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves each principal is spelled as the audit log always has, and its source is carried.
    #[test]
    fn actors_are_spelled_as_the_audit_log_has_them() {
        let peer = Some("127.0.0.1:5");
        assert_eq!(Actor::user("alice", peer).to_string(), "user:alice");
        assert_eq!(Actor::console("alice", peer).to_string(), "admin:alice");
        assert_eq!(Actor::node("n1", peer).to_string(), "node:n1");
        assert_eq!(Actor::system().to_string(), "system");
        assert_eq!(
            Actor::anonymous("10.0.0.5", peer).to_string(),
            "anon:10.0.0.5"
        );
        assert_eq!(Actor::ssh_login("bob", peer).to_string(), "ssh:bob");
        let e = Actor::user("alice", peer).audit(AuditAction::UserDisabled);
        assert_eq!(
            (e.actor.as_str(), e.action.as_str(), e.source.as_deref()),
            ("user:alice", "user.disabled", Some("127.0.0.1:5"))
        );
    }
}

//! The small response bodies of the API: each answer that is not a view of a record (those live beside
//! their handlers: `UserView`, `NodeView`, `SessionView`…) is a named type here, exported to TypeScript,
//! so neither side writes a body by hand.

use serde::Serialize;
use ts_rs::TS;
use vibebridge_tunnel::ids::ApprovalId;
use vibebridge_tunnel::reply::ErrorCode;
use vibebridge_tunnel::session::SessionEvent;

/// Every error answer: `{"error": {"code", "message"}}`.
#[derive(Serialize, TS)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The code and message of an [`ErrorBody`].
#[derive(Serialize, TS)]
pub struct ErrorDetail {
    /// Stable machine-readable reason (main's, or the node's passed through).
    pub code: ErrorCode,
    /// What is wrong and what to do.
    pub message: String,
    /// With `stale`: the record as it is now.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub current: Option<serde_json::Value>,
}

/// `GET /health`.
#[derive(Serialize, TS)]
pub struct Health {
    /// Always `ok` when main answers.
    pub status: &'static str,
    /// Main's version.
    pub version: &'static str,
    /// Nodes with a live link now.
    pub nodes_online: usize,
    /// `active` (serving) or `standby` (another main sharing the database serves): what a load balancer
    /// routes by.
    pub role: &'static str,
    /// This main's name (host name and process id).
    pub main: String,
    /// `sled` or `postgres`.
    pub database: &'static str,
    /// Milliseconds since the database last answered this main (0 on sled).
    pub lag_ms: u64,
    /// The lead's epoch while this main is active on PostgreSQL (it grows with every takeover; 0 on sled and
    /// on a standby).
    pub epoch: u64,
}

impl Health {
    /// What `/health` says for a main of this standing with `nodes_online` links.
    pub fn of(standing: &crate::leader::Standing, nodes_online: usize) -> Health {
        Health {
            status: "ok",
            version: env!("CARGO_PKG_VERSION"),
            nodes_online,
            role: standing.role().as_str(),
            main: standing.main_id.clone(),
            database: if standing.database.starts_with("sled:") {
                "sled"
            } else {
                "postgres"
            },
            lag_ms: standing.lag_ms(),
            epoch: match standing.role() {
                crate::leader::Role::Active => standing.epoch(),
                crate::leader::Role::Standby => 0,
            },
        }
    }
}

/// `GET /auth/status`.
#[derive(Serialize, TS)]
pub struct AuthStatus {
    /// Whether any account exists (if not, the UI offers the creator's sign-up).
    pub has_users: bool,
}

/// `POST /auth/logout`.
#[derive(Serialize, TS)]
pub struct LoggedOut {
    /// Always true.
    pub ok: bool,
}

/// `POST /auth/logout-all`.
#[derive(Serialize, TS)]
pub struct LoginsEnded {
    /// Logins (this one included) that ended.
    pub ended: usize,
}

/// `POST /auth/password`.
#[derive(Serialize, TS)]
pub struct PasswordChanged {
    /// Other logins of the user that ended with the change.
    pub ended_other_logins: usize,
}

/// `DELETE /auth/me/keys/{id}`.
#[derive(Serialize, TS)]
pub struct KeyRemoved {
    /// The key's id.
    pub removed: String,
}

/// `DELETE /nodes/{id}`.
#[derive(Serialize, TS)]
pub struct NodeRevoked {
    /// The node's id.
    pub revoked: String,
    /// Whether it had a live link, now cut.
    pub was_online: bool,
}

/// `GET /sessions/{id}/events`: one page of a session's history.
#[derive(Serialize, TS)]
pub struct EventsPage {
    /// Events after the page's `after`, oldest first.
    pub events: Vec<SessionEvent>,
    /// The `after` of the next page.
    #[ts(type = "number")]
    pub next_after: u64,
    /// The session's last seq now.
    #[ts(type = "number")]
    pub last_seq: u64,
    /// Whether more events follow this page.
    pub more: bool,
}

/// `POST /sessions/{id}/messages` (202).
#[derive(Serialize, TS)]
pub struct MessageAccepted {
    /// Always true: the node took it.
    pub accepted: bool,
    /// It waits behind the running turn.
    pub queued: bool,
}

/// `POST /sessions/{id}/stop` (202).
#[derive(Serialize, TS)]
pub struct StopRequested {
    /// Always true: the node is stopping the session.
    pub stopping: bool,
    /// When main asked (RFC 3339).
    pub requested_at: String,
}

/// `POST /sessions/{id}/approvals/{approval_id}`.
#[derive(Serialize, TS)]
pub struct Decided {
    /// The approval.
    pub approval_id: ApprovalId,
    /// Always true: the node has the decision.
    pub decided: bool,
}

/// `POST /nodes/{id}/fs/delete`.
#[derive(Serialize, TS)]
pub struct Deleted {
    /// The path that was deleted.
    pub deleted: String,
}

/// `POST /nodes/{id}/git/commit`.
#[derive(Serialize, TS)]
pub struct Committed {
    /// The new commit's id.
    pub id: String,
}

/// The `error` event that ends a session's event stream (`GET /sessions/{id}/stream`).
#[derive(Serialize, TS)]
pub struct StreamError {
    /// Always `error`.
    #[serde(rename = "type")]
    #[ts(rename = "type")]
    pub kind: &'static str,
    /// Why the stream ended (`slow_consumer`).
    pub code: ErrorCode,
    /// What to do.
    pub message: String,
}

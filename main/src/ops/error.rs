//! `OpError`: how a domain operation fails, whoever asked. The HTTP API turns it into a status and a JSON
//! error (`ApiError: From<OpError>`), the console into a failed reply.

use vibebridge_tunnel::reply::ErrorCode;

use crate::store::StoreError;

/// A failed operation, with a message that says what to do.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// No such thing, or not one the actor may see (so ids of others' things do not leak).
    #[error("{0}")]
    NotFound(String),
    /// The actor may see it but not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// An edit named a version of the record that is no longer current.
    #[error("{message}")]
    Stale {
        /// What happened and what to do.
        message: String,
        /// The current record, as the API shows it.
        current: Box<serde_json::Value>,
    },
    /// The request itself is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// The request cannot be carried to the node: over one tunnel frame.
    #[error("{0}")]
    TooLarge(String),
    /// A bound of main's was reached (e.g. a user's share of a node's streams); try again shortly.
    #[error("{0}")]
    Busy(String),
    /// The node is not connected, or did not answer.
    #[error("{0}")]
    NodeOffline(String),
    /// The node refused; its stable code is passed through.
    #[error("{message}")]
    NodeRefused {
        /// The node's code (`path_outside_roots`, `provider_unavailable`…).
        code: ErrorCode,
        /// The node's explanation.
        message: String,
    },
    /// GitHub refused or failed (`github_*` codes).
    #[error("{message}")]
    Github {
        /// `github_not_connected`, `github_reconnect`, `github_rate_limited`, `github_failed`.
        code: ErrorCode,
        /// What happened and what to do.
        message: String,
        /// For a rate limit: seconds until GitHub takes calls again.
        retry_after: Option<u64>,
    },
    /// A fault of main's: logged in full, shown without detail.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => OpError::Conflict(format!("{what} already exists")),
            StoreError::NotFound(what) => OpError::NotFound(what),
            StoreError::Invalid(what) => OpError::BadRequest(what),
            StoreError::Stale(task) => OpError::Stale {
                message: StoreError::Stale(task.clone()).to_string(),
                current: Box::new(serde_json::to_value(&*task).unwrap_or_default()),
            },
            other => OpError::Internal(other.into()),
        }
    }
}

//! `ApiError`: every handler's error type. Logs the cause, answers `{"error":{"code","message"}}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use vibebridge_tunnel::reply::ErrorCode;

use crate::ops::OpError;
use crate::store::StoreError;

/// An API failure with a stable `code` string and a message saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: not logged in or the token is invalid.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: logged in but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 400: the request itself is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// 400 `profile_required`: the action needs the user's name and email (a commit's author).
    #[error("{0}")]
    ProfileRequired(String),
    /// 405: the path exists, the method does not.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: conflicts with existing state.
    #[error("{0}")]
    Conflict(String),
    /// 409 `stale`: an edit named an old version; `current` is the record now.
    #[error("{message}")]
    Stale {
        /// What happened and what to do.
        message: String,
        /// The current record.
        current: Box<serde_json::Value>,
    },
    /// 411: a streamed upload without `Content-Length`.
    #[error("{0}")]
    LengthRequired(String),
    /// 503: the node is not connected.
    #[error("{0}")]
    NodeOffline(String),
    /// The client stopped sending (408).
    #[error("{0}")]
    RequestTimeout(String),
    /// 413 `too_large`: the request cannot be carried to the node (over the tunnel's frame limit).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The node refused a session request; its code is passed through.
    #[error("{message}")]
    NodeRefused {
        /// The node's stable code (`path_outside_roots`, `provider_unavailable`…).
        code: ErrorCode,
        /// The node's explanation.
        message: String,
    },
    /// 503 `server_busy`: main is at a global bound (concurrent password hashes); retry in a second.
    #[error("{0}")]
    Busy(String),
    /// 429, with seconds to wait.
    #[error("too many attempts; try again in {0} s")]
    TooManyRequests(u64),
    /// 429 `too_many_connections`: the user holds as many live connections (WebSocket, SSE) as allowed.
    #[error("{0}")]
    TooManyConnections(String),
    /// A GitHub failure: 409 `github_not_connected` / `github_reconnect`, 429 `github_rate_limited` (with
    /// `Retry-After`), 502 `github_failed`.
    #[error("{message}")]
    Github {
        /// Its code.
        code: ErrorCode,
        /// What happened and what to do.
        message: String,
        /// Seconds until a rate limit resets.
        retry_after: Option<u64>,
    },
    /// 500: logged in full, answered without detail.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// The stable code of the error, as its JSON body carries it (a node's own, passed through).
    pub fn code(&self) -> ErrorCode {
        self.parts().1
    }

    fn parts(&self) -> (StatusCode, ErrorCode) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
            ApiError::ProfileRequired(_) => (StatusCode::BAD_REQUEST, ErrorCode::ProfileRequired),
            ApiError::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed)
            }
            ApiError::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            ApiError::Stale { .. } => (StatusCode::CONFLICT, ErrorCode::Stale),
            ApiError::LengthRequired(_) => (StatusCode::LENGTH_REQUIRED, ErrorCode::LengthRequired),
            ApiError::NodeOffline(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::NodeOffline),
            ApiError::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, ErrorCode::RequestTimeout),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge),
            ApiError::NodeRefused { code, .. } => (node_status(*code), *code),
            ApiError::TooManyRequests(_) => {
                (StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyRequests)
            }
            ApiError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::ServerBusy),
            ApiError::TooManyConnections(_) => {
                (StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyConnections)
            }
            ApiError::Github { code, .. } => (
                match code {
                    ErrorCode::GithubRateLimited => StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::GithubFailed => StatusCode::BAD_GATEWAY,
                    _ => StatusCode::CONFLICT,
                },
                *code,
            ),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }
}

/// The HTTP status of a node's refusal.
fn node_status(code: ErrorCode) -> StatusCode {
    use ErrorCode as E;
    match code {
        E::NotFound | E::PathNotFound | E::UnknownRef => StatusCode::NOT_FOUND,
        E::PathOutsideRoots
        | E::ReadOnly
        | E::HiddenDenied
        | E::ProtectedState
        | E::HardLinked
        | E::CapabilityDisabled
        | E::PermissionDenied
        | E::Forbidden => StatusCode::FORBIDDEN,
        E::TooManySessions
        | E::TooManyTerminals
        | E::AlreadyExists
        | E::NotEmpty
        | E::GitConflict
        | E::Conflict
        | E::NothingToCommit => StatusCode::CONFLICT,
        E::QueueFull => StatusCode::TOO_MANY_REQUESTS,
        E::ChangedOnNode => StatusCode::PRECONDITION_FAILED,
        E::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        E::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
        E::Internal => StatusCode::BAD_GATEWAY,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::NotFound(m) => ApiError::NotFound(m),
            OpError::Forbidden(m) => ApiError::Forbidden(m),
            OpError::Conflict(m) => ApiError::Conflict(m),
            OpError::Stale { message, current } => ApiError::Stale { message, current },
            OpError::BadRequest(m) => ApiError::BadRequest(m),
            OpError::TooLarge(m) => ApiError::PayloadTooLarge(m),
            OpError::Busy(m) => ApiError::Busy(m),
            OpError::NodeOffline(m) => ApiError::NodeOffline(m),
            OpError::NodeRefused { code, message } => ApiError::NodeRefused { code, message },
            OpError::Github {
                code,
                message,
                retry_after,
            } => ApiError::Github {
                code,
                message,
                retry_after,
            },
            OpError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        OpError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        if let ApiError::Internal(e) = &self {
            tracing::error!("internal error: {e:#}");
        }
        let body = super::bodies::ErrorBody {
            error: super::bodies::ErrorDetail {
                code,
                message: self.to_string(),
                current: match &self {
                    ApiError::Stale { current, .. } => Some((**current).clone()),
                    _ => None,
                },
            },
        };
        let mut response = (status, Json(body)).into_response();
        let retry_after = match self {
            ApiError::TooManyRequests(secs) => Some(secs),
            ApiError::Busy(_) => Some(1),
            ApiError::Github { retry_after, .. } => retry_after,
            _ => None,
        };
        if let Some(secs) = retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

//! Relaying one request to a node over its own tunnel stream: open the stream, read the node's answer frame
//! within a deadline, and turn every way that can fail into an [`OpError`] that says what to do.

use std::time::Duration;
use vibebridge_tunnel::reply::ErrorCode;

use serde::de::DeserializeOwned;
use vibebridge_tunnel::frame::{FrameError, MAX_ANSWER_BYTES, read_answer};
use vibebridge_tunnel::git::{GitAnswer, GitReply, GitRequest};
use vibebridge_tunnel::mux::{MuxError, TunnelStream};
use vibebridge_tunnel::protocol::Open;

use super::{Actor, OpError};
use crate::registry::OpenError;
use crate::state::AppState;
use crate::store::AuditAction;

/// Opens a stream to `node`; `what` completes "node X is offline; …" (what becomes possible again). A request
/// whose header does not fit one tunnel frame is 413 `too_large`, not the node's fault.
pub async fn open(
    state: &AppState,
    node: &str,
    open: &Open,
    what: &str,
) -> Result<TunnelStream, OpError> {
    state.registry.open(node, open).await.map_err(|e| match e {
        OpenError::Offline(_) => OpError::NodeOffline(format!("node {node} is offline; {what}")),
        // The request itself does not fit one frame: the node is fine, the request is not.
        OpenError::Mux {
            source: MuxError::Frame(FrameError::TooLarge { size, max }),
            ..
        } => OpError::TooLarge(format!(
            "the request is {size} bytes, over the {max}-byte limit of one tunnel frame \
             (tunnel.max_frame_bytes); send less (e.g. a shorter prompt or message)"
        )),
        other => OpError::NodeOffline(other.to_string()),
    })
}

/// Reads the node's next answer frame, waiting at most `limit`.
pub async fn answer<T: DeserializeOwned>(
    state: &AppState,
    node: &str,
    stream: &mut TunnelStream,
    limit: Duration,
) -> Result<T, OpError> {
    let max = state.config.tunnel.max_frame_bytes;
    tokio::time::timeout(limit, read_answer::<T, _>(stream, max, MAX_ANSWER_BYTES))
        .await
        .map_err(|_| {
            OpError::NodeOffline(format!(
                "node {node} did not answer within {} s",
                limit.as_secs()
            ))
        })?
        .map_err(|e| match e {
            FrameError::TooLarge { size, max } => OpError::NodeRefused {
                code: ErrorCode::TooLarge,
                message: format!(
                    "node {node}'s answer is {size} bytes, over the {max}-byte limit; ask for less \
                     (a narrower path, a smaller page)"
                ),
            },
            e => OpError::NodeOffline(format!("node {node}: {e}")),
        })?
        .ok_or_else(|| {
            OpError::NodeOffline(format!(
                "node {node} closed the stream without answering (an agent older than this main?)"
            ))
        })
}

/// How long main waits for a git answer (status of a huge repository takes a while).
const GIT_ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// How long main waits for a clone, fetch or push: a little longer than the node lets one run (30 min), so
/// main never gives up on one that then finishes (a push main did not record would break the next one's
/// lease).
const GIT_NETWORK_TIMEOUT: Duration = Duration::from_secs(31 * 60);

/// Runs one git request on `node` (the caller has checked the actor may use it).
pub async fn git(state: &AppState, node: &str, req: GitRequest) -> Result<GitAnswer, OpError> {
    if req.repo().len() > vibebridge_tunnel::fs::MAX_PATH_BYTES {
        return Err(OpError::BadRequest("repo is longer than 4096 bytes".into()));
    }
    let what = "its repositories can be reached once its agent reconnects";
    let network = matches!(
        req,
        GitRequest::Clone { .. } | GitRequest::Fetch { .. } | GitRequest::Push { .. }
    );
    let limit = if network {
        GIT_NETWORK_TIMEOUT
    } else {
        GIT_ANSWER_TIMEOUT
    };
    let mut stream = open(state, node, &Open::Git(req), what).await?;
    match answer(state, node, &mut stream, limit).await? {
        GitReply::Ok(answer) => Ok(answer),
        GitReply::Err { code, message } => Err(OpError::NodeRefused { code, message }),
    }
}

/// The node answered a git request with the wrong kind of answer.
pub fn unexpected(answer: &GitAnswer) -> OpError {
    OpError::Internal(anyhow::anyhow!(
        "the node answered out of protocol: {answer:?}"
    ))
}

/// Audits a change `actor` made on `node` through a relayed request.
pub fn audit(state: &AppState, actor: &Actor, action: AuditAction, node: &str, detail: String) {
    state
        .store
        .audit(actor.audit(action).target(node).detail(detail));
}

//! Relaying one API request to a node over its own tunnel stream: open the stream, read the node's answer
//! frame within a deadline, and turn every way that can fail into an [`ApiError`] that says what to do.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use vibebridge_tunnel::frame::{FrameError, MAX_ANSWER_BYTES, read_answer};
use vibebridge_tunnel::mux::{MuxError, TunnelStream};
use vibebridge_tunnel::protocol::Open;

use super::ApiError;
use super::quota::{Quota, QuotaGuard};
use crate::AppState;
use crate::auth::AuthUser;
use crate::registry::OpenError;
use crate::store::{AuditEvent, UserId};

/// How many streams each user has open to each node through the file API: one user's downloads and
/// uploads may take at most a quarter of a node's `tunnel.max_streams`, so the rest stay for others.
pub struct StreamShares {
    open: Arc<Quota<(String, UserId)>>,
}

/// One stream of a user's share; given back when dropped.
pub type SharePermit = QuotaGuard<(String, UserId)>;

impl Default for StreamShares {
    fn default() -> Self {
        StreamShares { open: Quota::new() }
    }
}

impl StreamShares {
    /// Takes one stream of `user`'s share of `node`, or says why not.
    pub fn take(
        &self,
        node: &str,
        user: UserId,
        max_streams: usize,
    ) -> Result<SharePermit, ApiError> {
        let share = (max_streams / 4).max(1);
        self.open
            .take((node.to_string(), user), share)
            .ok_or_else(|| {
                ApiError::Busy(format!(
                    "you already have {share} file transfers open on node {node} (a quarter of its \
                 tunnel.max_streams); wait for one to finish"
                ))
            })
    }
}

/// Opens a stream to `node`; `what` completes "node X is offline; …" (what becomes possible again). A request
/// whose header does not fit one tunnel frame is 413 `too_large`, not the node's fault.
pub async fn open(
    state: &AppState,
    node: &str,
    open: &Open,
    what: &str,
) -> Result<TunnelStream, ApiError> {
    state.registry.open(node, open).await.map_err(|e| match e {
        OpenError::Offline(_) => ApiError::NodeOffline(format!("node {node} is offline; {what}")),
        // The request itself does not fit one frame: the node is fine, the request is not.
        OpenError::Mux {
            source: MuxError::Frame(FrameError::TooLarge { size, max }),
            ..
        } => ApiError::PayloadTooLarge(format!(
            "the request is {size} bytes, over the {max}-byte limit of one tunnel frame \
             (tunnel.max_frame_bytes); send less (e.g. a shorter prompt or message)"
        )),
        other => ApiError::NodeOffline(other.to_string()),
    })
}

/// Reads the node's next answer frame, waiting at most `limit`.
pub async fn answer<T: DeserializeOwned>(
    state: &AppState,
    node: &str,
    stream: &mut TunnelStream,
    limit: Duration,
) -> Result<T, ApiError> {
    let max = state.config.tunnel.max_frame_bytes;
    tokio::time::timeout(limit, read_answer::<T, _>(stream, max, MAX_ANSWER_BYTES))
        .await
        .map_err(|_| {
            ApiError::NodeOffline(format!(
                "node {node} did not answer within {} s",
                limit.as_secs()
            ))
        })?
        .map_err(|e| match e {
            FrameError::TooLarge { size, max } => ApiError::NodeRefused {
                code: vibebridge_tunnel::fs::ERR_TOO_LARGE.into(),
                message: format!(
                    "node {node}'s answer is {size} bytes, over the {max}-byte limit; ask for less \
                     (a narrower path, a smaller page)"
                ),
            },
            e => ApiError::NodeOffline(format!("node {node}: {e}")),
        })?
        .ok_or_else(|| {
            ApiError::NodeOffline(format!(
                "node {node} closed the stream without answering (an agent older than this main?)"
            ))
        })
}

/// Audits a change a user made on a node.
pub fn audit(
    state: &AppState,
    who: &AuthUser,
    peer: SocketAddr,
    action: &str,
    node: &str,
    detail: String,
) {
    state.store.audit(
        AuditEvent::new(format!("user:{}", who.user.username), action)
            .target(node.to_string())
            .source(Some(peer))
            .detail(detail),
    );
}

//! The live topics of the browser's WebSocket (`{"type":"watch","topics":[…]}`): what changed among the
//! approvals and questions, the nodes, the session list and the users, pushed as an id and the kind of
//! change. The browser refetches (or patches) what it shows, so it never polls while the socket is up.
//!
//! Each change goes only to those who may see its subject: a session's and an approval's to its owner and
//! admins (and only while the owner may still use its node), a node's to its owner, members and admins, a
//! user's to admins and that user. A follower that falls behind the store's feed is told `resync` (refetch
//! everything watched) rather than missing a change.

use std::collections::BTreeSet;

use axum::extract::ws::Message;
use tokio::sync::{broadcast, watch};

use super::frames::{NodeChange, ServerFrame, Topic, json_frame, send};
use super::live::OutboxSender;
use crate::auth::AuthUser;
use crate::ops;
use crate::registry::{Heartbeat, NodeEvent};
use crate::state::AppState;
use crate::store::{Change, rfc3339};

/// Forwards the changes of the topics in `watched` that `who` may see to the connection, until the
/// connection ends.
pub async fn forward(
    state: AppState,
    who: AuthUser,
    mut watched: watch::Receiver<BTreeSet<Topic>>,
    out: OutboxSender<Message>,
) {
    let mut changes = state.store.changes();
    let mut nodes = state.registry.subscribe();
    let mut heartbeats = state.registry.heartbeats();
    loop {
        let frame = tokio::select! {
            changed = watched.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
            change = changes.recv() => match change {
                Ok(change) => store_frame(&state, &who, change),
                Err(broadcast::error::RecvError::Lagged(_)) => Some((None, ServerFrame::Resync)),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            event = nodes.recv() => match event {
                Ok(NodeEvent::Online(id)) => node_frame(&state, &who, id, NodeChange::Online, None),
                Ok(NodeEvent::Offline(id)) => node_frame(&state, &who, id, NodeChange::Offline, None),
                Err(broadcast::error::RecvError::Lagged(_)) => Some((Some(Topic::Nodes), ServerFrame::Resync)),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            beat = heartbeats.recv() => match beat {
                Ok(Heartbeat { node_id, at }) => {
                    node_frame(&state, &who, node_id, NodeChange::Heartbeat, Some(at))
                }
                // The next heartbeat says the same.
                Err(broadcast::error::RecvError::Lagged(_)) => None,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        let Some((topic, frame)) = frame else {
            continue;
        };
        let wanted = {
            let watched = watched.borrow();
            match topic {
                Some(t) => watched.contains(&t),
                // A resync of the store's feed concerns every watched topic.
                None => !watched.is_empty(),
            }
        };
        if wanted && !send(&out, json_frame(frame)).await {
            return;
        }
    }
}

/// The frame for a store change, if `who` may see its subject.
fn store_frame(
    state: &AppState,
    who: &AuthUser,
    change: Change,
) -> Option<(Option<Topic>, ServerFrame)> {
    match change {
        Change::Session { id, owner, node_id } => may_see_session(state, who, owner, &node_id)
            .then(|| {
                let frame = ServerFrame::Session {
                    session_id: id.to_string(),
                };
                (Some(Topic::Sessions), frame)
            }),
        Change::Approval {
            approval_id,
            session_id,
            owner,
            node_id,
            resolved,
        } => may_see_session(state, who, owner, &node_id).then(|| {
            let frame = ServerFrame::Approval {
                change: resolved.into(),
                approval_id,
                session_id: session_id.into(),
            };
            (Some(Topic::Approvals), frame)
        }),
        Change::Node(node) => ops::nodes::can_see(who, &node).then(|| {
            let frame = ServerFrame::Node {
                change: NodeChange::Updated,
                node_id: node.id.clone(),
                at: None,
            };
            (Some(Topic::Nodes), frame)
        }),
        Change::User(id) => (who.user.role.is_admin() || who.user.id == id).then(|| {
            let frame = ServerFrame::User {
                user_id: id.to_string(),
            };
            (Some(Topic::Users), frame)
        }),
    }
}

/// Whether `who` sees the sessions (and approvals) of `owner` on `node_id`: admins all; others their own,
/// while they may use the node (or it was revoked: history stays theirs).
fn may_see_session(
    state: &AppState,
    who: &AuthUser,
    owner: crate::store::UserId,
    node_id: &str,
) -> bool {
    if who.user.role.is_admin() {
        return true;
    }
    owner == who.user.id
        && state
            .store
            .node(node_id)
            .ok()
            .flatten()
            .is_none_or(|node| ops::nodes::can_see(who, &node))
}

/// The frame for a link event of `node_id`, if `who` may see the node.
fn node_frame(
    state: &AppState,
    who: &AuthUser,
    node_id: String,
    change: NodeChange,
    at: Option<u64>,
) -> Option<(Option<Topic>, ServerFrame)> {
    let node = state.store.node(&node_id).ok()??;
    ops::nodes::can_see(who, &node).then(|| {
        let frame = ServerFrame::Node {
            change,
            node_id,
            at: at.map(rfc3339),
        };
        (Some(Topic::Nodes), frame)
    })
}

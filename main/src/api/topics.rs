//! The live topics of the browser's WebSocket (`{"type":"watch","topics":[…]}`): what changed among the
//! approvals and questions, the nodes, the session list and the users, pushed as an id and the kind of
//! change. The browser refetches (or patches) what it shows, so it never polls while the socket is up.
//!
//! Each change goes only to those who may see its subject: a session's and an approval's to its owner and
//! admins (and only while the owner may still use its node), a node's to its owner, members and admins, a
//! user's to admins and that user. A follower that falls behind the store's feed is told `resync` (refetch
//! everything watched) rather than missing a change.

use axum::extract::ws::Message;
use tokio::sync::{broadcast, watch};

use super::frames::{NodeChange, ServerFrame, Topic, Watched, json_frame, send};
use super::live::OutboxSender;
use crate::auth::AuthUser;
use crate::ops;
use crate::registry::{Heartbeat, NodeEvent};
use crate::state::AppState;
use crate::store::{Change, WorkspaceId, rfc3339};

/// Forwards the changes of the topics in `watched` that `who` may see to the connection, until the
/// connection ends.
pub async fn forward(
    state: AppState,
    who: AuthUser,
    mut watched: watch::Receiver<Watched>,
    out: OutboxSender<Message>,
) {
    let mut changes = state.store.changes();
    let mut nodes = state.registry.subscribe();
    let mut heartbeats = state.registry.heartbeats();
    loop {
        let routed = tokio::select! {
            changed = watched.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
            change = changes.recv() => match change {
                Ok(change) => {
                    if !watched.borrow().wants(route_of(&change)) {
                        continue;
                    }
                    store_frame(&state, &who, change).map(|f| (Route::All, f))
                }
                Err(broadcast::error::RecvError::Lagged(_)) => Some((Route::All, ServerFrame::Resync)),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            event = nodes.recv() => match event {
                Ok(NodeEvent::Online(id)) => node_frame(&state, &who, id, NodeChange::Online, None),
                Ok(NodeEvent::Offline(id)) => node_frame(&state, &who, id, NodeChange::Offline, None),
                Err(broadcast::error::RecvError::Lagged(_)) => Some((Route::Topic(Topic::Nodes), ServerFrame::Resync)),
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
        let Some((route, frame)) = routed else {
            continue;
        };
        if watched.borrow().wants(route) && !send(&out, json_frame(frame)).await {
            return;
        }
    }
}

/// Who a change is for, by what they watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Those watching the topic.
    Topic(Topic),
    /// Those watching the `workspaces` topic, or this workspace's board.
    Workspace(WorkspaceId),
    /// Those watching this workspace's board.
    Board(WorkspaceId),
    /// Everyone watching anything (a resync).
    All,
}

impl Watched {
    /// Whether a change routed `route` concerns this connection.
    pub fn wants(&self, route: Route) -> bool {
        match route {
            Route::Topic(t) => self.topics.contains(&t),
            Route::Workspace(id) => {
                self.topics.contains(&Topic::Workspaces) || self.workspace == Some(id)
            }
            Route::Board(id) => self.workspace == Some(id),
            Route::All => !self.topics.is_empty() || self.workspace.is_some(),
        }
    }
}

/// The route of a store change.
fn route_of(change: &Change) -> Route {
    match change {
        Change::Session { .. } => Route::Topic(Topic::Sessions),
        Change::Approval { .. } => Route::Topic(Topic::Approvals),
        Change::Node(_) => Route::Topic(Topic::Nodes),
        Change::User(_) => Route::Topic(Topic::Users),
        Change::Workspace(ws) => Route::Workspace(ws.ws.id),
        Change::Project { workspace_id } | Change::TaskNotes { workspace_id, .. } => {
            Route::Board(*workspace_id)
        }
        Change::Task { task, .. } => Route::Board(task.workspace_id),
        Change::Run(run) => Route::Board(run.workspace_id),
        Change::PullRequest(pr) => Route::Board(pr.workspace_id),
        Change::Github(_) => Route::Topic(Topic::Github),
        Change::ReviewComments { workspace_id, .. } => Route::Board(*workspace_id),
        Change::Webhook { workspace_id, .. } => Route::Board(*workspace_id),
    }
}

/// The frame for a store change, if `who` may see its subject.
fn store_frame(state: &AppState, who: &AuthUser, change: Change) -> Option<ServerFrame> {
    match change {
        Change::Session { id, owner, node_id } => may_see_session(state, who, id, owner, &node_id)
            .then(|| ServerFrame::Session {
                session_id: id.to_string(),
            }),
        Change::Approval {
            approval_id,
            session_id,
            owner,
            node_id,
            resolved,
        } => may_see_session(state, who, session_id, owner, &node_id).then(|| {
            ServerFrame::Approval {
                change: resolved.into(),
                approval_id,
                session_id: session_id.into(),
            }
        }),
        Change::Node(node) => ops::nodes::can_see(who, &node).then(|| ServerFrame::Node {
            change: NodeChange::Updated,
            node_id: node.id.clone(),
            at: None,
        }),
        Change::User(id) => {
            (who.user.role.is_admin() || who.user.id == id).then(|| ServerFrame::User {
                user_id: id.to_string(),
            })
        }
        Change::Workspace(ws) => {
            // Members of the workspace as it is now; a deleted one, its members then.
            let readable = ops::workspaces::role_of(&current(state, who)?, &ws.ws).is_some();
            readable.then_some(ServerFrame::Workspace {
                workspace_id: ws.ws.id,
                removed: ws.removed,
            })
        }
        Change::Project { workspace_id } => {
            ops::workspaces::access(state, &current(state, who)?, &workspace_id.to_string())
                .ok()
                .map(|_| ServerFrame::Projects { workspace_id })
        }
        Change::TaskNotes {
            workspace_id,
            task_id,
        } => {
            let user = current(state, who)?;
            let access = ops::workspaces::access(state, &user, &workspace_id.to_string()).ok()?;
            let task = state.store.task(task_id).ok()??;
            task.visible_to(who.user.id, access.is_admin())
                .then_some(ServerFrame::TaskNotes {
                    workspace_id,
                    task_id,
                })
        }
        Change::ReviewComments {
            workspace_id,
            task_id,
            run_id,
        } => {
            let user = current(state, who)?;
            let access = ops::workspaces::access(state, &user, &workspace_id.to_string()).ok()?;
            let task = state.store.task(task_id).ok()??;
            task.visible_to(who.user.id, access.is_admin())
                .then_some(ServerFrame::ReviewComments {
                    workspace_id,
                    task_id,
                    run_id,
                })
        }
        Change::Github(user) => (user == who.user.id).then_some(ServerFrame::Github),
        Change::Webhook {
            workspace_id,
            webhook_id,
        } => {
            let user = current(state, who)?;
            let access = ops::workspaces::access(state, &user, &workspace_id.to_string()).ok()?;
            access.is_admin().then(|| ServerFrame::Webhook {
                workspace_id,
                webhook_id,
                webhook: state
                    .store
                    .webhook(webhook_id)
                    .ok()
                    .flatten()
                    .and_then(|h| ops::notify::webhooks::view(state, &h).ok())
                    .map(Box::new),
            })
        }
        Change::PullRequest(pr) => {
            let user = current(state, who)?;
            let access =
                ops::workspaces::access(state, &user, &pr.workspace_id.to_string()).ok()?;
            let task = state.store.task(pr.task_id).ok()??;
            task.visible_to(who.user.id, access.is_admin())
                .then(|| ServerFrame::PullRequest {
                    workspace_id: pr.workspace_id,
                    task_id: pr.task_id,
                    pull_request: Box::new((*pr).clone()),
                })
        }
        Change::Run(run) => {
            let user = current(state, who)?;
            let access =
                ops::workspaces::access(state, &user, &run.workspace_id.to_string()).ok()?;
            let task = state.store.task(run.task_id).ok()??;
            task.visible_to(who.user.id, access.is_admin())
                .then(|| ServerFrame::Run {
                    workspace_id: run.workspace_id,
                    task_id: run.task_id,
                    run: Box::new((*run).clone()),
                })
        }
        Change::Task { task, removed } => {
            let user = current(state, who)?;
            let access =
                ops::workspaces::access(state, &user, &task.workspace_id.to_string()).ok()?;
            let shown = (!removed && task.visible_to(who.user.id, access.is_admin()))
                .then(|| Box::new(ops::tasks::view(state, &access, (*task).clone())));
            Some(ServerFrame::Task {
                workspace_id: task.workspace_id,
                task_id: task.id,
                task: shown,
            })
        }
    }
}

/// The connection's user as stored now (a role changed since it connected counts at once); `None` when the
/// account is gone or disabled.
fn current(state: &AppState, who: &AuthUser) -> Option<crate::store::User> {
    state
        .store
        .user(who.user.id)
        .ok()
        .flatten()
        .filter(|u| !u.disabled)
}

/// Whether `who` sees the sessions (and approvals) of `owner` on `node_id`: admins all; others their own,
/// while they may use the node (or it was revoked: history stays theirs).
fn may_see_session(
    state: &AppState,
    who: &AuthUser,
    session: uuid::Uuid,
    owner: crate::store::UserId,
    node_id: &str,
) -> bool {
    if who.user.role.is_admin() {
        return true;
    }
    let own = owner == who.user.id
        && state
            .store
            .node(node_id)
            .ok()
            .flatten()
            .is_none_or(|node| ops::nodes::can_see(who, &node));
    own || ops::runs::can_see_session(state, &who.user, session)
}

/// The frame for a link event of `node_id`, if `who` may see the node.
fn node_frame(
    state: &AppState,
    who: &AuthUser,
    node_id: String,
    change: NodeChange,
    at: Option<u64>,
) -> Option<(Route, ServerFrame)> {
    let node = state.store.node(&node_id).ok()??;
    ops::nodes::can_see(who, &node).then(|| {
        let frame = ServerFrame::Node {
            change,
            node_id,
            at: at.map(rfc3339),
        };
        (Route::Topic(Topic::Nodes), frame)
    })
}

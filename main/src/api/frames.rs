//! The live channel's wire types (`GET /api/v1/ws`): what a browser sends ([`ClientFrame`]), what main sends
//! ([`ServerFrame`]), the topics a browser may watch, and queueing one frame for a connection's writer.
//! [`super::ws`] serves the connection; [`super::topics`] produces the topic frames.

use std::collections::BTreeSet;

use axum::extract::ws::Message;
use serde::{Deserialize, Serialize};
use vibebridge_tunnel::ids::{ApprovalId, SessionId};
use vibebridge_tunnel::reply::ErrorCode;
use vibebridge_tunnel::session::{Resolution, SessionEvent};

use super::live::OutboxSender;
use crate::ops::tasks::TaskView;
use crate::store::{TaskId, WorkspaceId};

/// What a browser may watch.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// Approvals and questions waiting for an answer (the inbox).
    Approvals,
    /// Nodes: online, offline, heartbeats, their records.
    Nodes,
    /// The session list: sessions created, removed, or changing status, usage or pending approvals.
    Sessions,
    /// Users: sign-ups, approvals, roles (admins see all; others only themselves).
    Users,
    /// The workspaces one may read: created, renamed, reconfigured, members changed, deleted.
    Workspaces,
    /// One's own GitHub connection: connected, refreshed, needing to be reconnected, removed, or a device
    /// flow moving on.
    Github,
}

/// What one connection watches: topics, and the workspace whose board it shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watched {
    /// The topics.
    pub topics: BTreeSet<Topic>,
    /// The workspace whose tasks, projects and comments are pushed.
    pub workspace: Option<WorkspaceId>,
}

/// What happened to an approval or question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalChange {
    /// It was asked.
    Created,
    /// Someone allowed, denied or answered it.
    Answered,
    /// Nobody answered within the node's `approval_timeout`.
    TimedOut,
    /// Its turn, CLI or node ended first.
    Cancelled,
}

/// What happened to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum NodeChange {
    /// Its link came up.
    Online,
    /// Its link ended.
    Offline,
    /// It sent a heartbeat (`at`).
    Heartbeat,
    /// Its record changed: enrolled, seen, flagged, members, revoked.
    Updated,
}

impl From<Option<Resolution>> for ApprovalChange {
    fn from(r: Option<Resolution>) -> Self {
        match r {
            None => ApprovalChange::Created,
            Some(Resolution::Allowed | Resolution::Denied) => ApprovalChange::Answered,
            Some(Resolution::TimedOut) => ApprovalChange::TimedOut,
            Some(Resolution::Cancelled) => ApprovalChange::Cancelled,
        }
    }
}

/// Browser → main.
#[derive(Deserialize, ts_rs::TS)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Stored events after `after_seq`, then live ones.
    Subscribe {
        /// The session.
        session_id: String,
        /// The last seq the browser has (0: from the start).
        #[serde(default)]
        after_seq: u64,
    },
    /// Stop following a session.
    Unsubscribe {
        /// The session.
        session_id: String,
    },
    /// The live topics to receive, replacing the previous list.
    Watch {
        /// The topics (`[]`: none).
        topics: Vec<Topic>,
        /// The workspace (id or key prefix) whose tasks, projects and comments to receive (absent: none).
        #[serde(default)]
        #[ts(optional)]
        workspace: Option<String>,
    },
    /// What this tab shows: the push device it belongs to and the session on screen while the tab is visible.
    /// That device is not pushed that session's notices.
    Presence {
        /// The push subscription id this browser got when it subscribed (absent: none).
        #[serde(default)]
        #[ts(optional)]
        device: Option<String>,
        /// The session on screen (absent: none).
        #[serde(default)]
        #[ts(optional)]
        session_id: Option<String>,
        /// Whether the tab is visible.
        visible: bool,
    },
    /// Answered with `pong`.
    Ping,
}

/// Main → browser.
#[derive(Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// A subscription started; events follow.
    Subscribed {
        /// The session.
        session_id: String,
        /// Events after this seq follow.
        after_seq: u64,
    },
    /// The next event of a session (built once per event by [`crate::hub::LiveEvent`]).
    Event {
        /// The session.
        session_id: String,
        /// The event.
        event: SessionEvent,
    },
    /// A subscription ended.
    Unsubscribed {
        /// The session.
        session_id: String,
    },
    /// The live topics now watched.
    Watching {
        /// The topics.
        topics: Vec<Topic>,
        /// The workspace whose board changes follow.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        workspace_id: Option<WorkspaceId>,
    },
    /// Topic `approvals`: an approval or question was asked or resolved.
    Approval {
        /// What happened.
        change: ApprovalChange,
        /// The approval.
        approval_id: ApprovalId,
        /// Its session.
        session_id: SessionId,
    },
    /// Topic `nodes`: a node came, went, sent a heartbeat or changed.
    Node {
        /// What happened.
        change: NodeChange,
        /// The node.
        node_id: String,
        /// When, for a heartbeat (RFC 3339).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        at: Option<String>,
    },
    /// Topic `sessions`: a session was created or removed, or its status, usage or approvals changed.
    Session {
        /// The session.
        session_id: String,
    },
    /// Topic `users`: a user signed up or was approved, given a role, disabled or changed their profile.
    User {
        /// The user.
        user_id: String,
    },
    /// Topic `workspaces` (and the watched workspace): a workspace was created, changed or deleted.
    Workspace {
        /// The workspace.
        workspace_id: WorkspaceId,
        /// It was deleted (or the receiver no longer belongs to it).
        removed: bool,
    },
    /// The watched workspace: a task was created, edited, moved or deleted.
    Task {
        /// The workspace.
        workspace_id: WorkspaceId,
        /// The task.
        task_id: TaskId,
        /// The task now; absent when it was deleted or is no longer visible to the receiver.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        task: Option<Box<TaskView>>,
    },
    /// The watched workspace: a task's comments or activity changed.
    TaskNotes {
        /// The workspace.
        workspace_id: WorkspaceId,
        /// The task.
        task_id: TaskId,
    },
    /// The watched workspace: a run of a task was created or changed.
    Run {
        /// The workspace.
        workspace_id: WorkspaceId,
        /// The task.
        task_id: TaskId,
        /// The run now.
        run: Box<crate::store::Run>,
    },
    /// The watched workspace: a run's review comments changed.
    ReviewComments {
        /// The workspace.
        workspace_id: WorkspaceId,
        /// The task.
        task_id: TaskId,
        /// The run.
        run_id: crate::store::RunId,
    },
    /// The watched workspace: a pull request opened from a run was created or changed.
    PullRequest {
        /// The workspace.
        workspace_id: WorkspaceId,
        /// The task.
        task_id: TaskId,
        /// The pull request now.
        pull_request: Box<crate::store::PullRequest>,
    },
    /// One's GitHub connection changed: refetch `GET /github/connection`.
    Github,
    /// The watched workspace (its admins): a webhook was made, changed or deleted (`webhook` absent), or one
    /// of its deliveries moved on.
    Webhook {
        /// The workspace.
        workspace_id: WorkspaceId,
        /// The webhook.
        webhook_id: crate::store::WebhookId,
        /// The webhook now; absent once deleted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        webhook: Option<Box<crate::ops::notify::webhooks::WebhookView>>,
    },
    /// The watched workspace: its projects changed.
    Projects {
        /// The workspace.
        workspace_id: WorkspaceId,
    },
    /// Changes were missed (the connection fell behind): refetch every watched topic.
    Resync,
    /// The answer to a ping.
    Pong,
    /// A bad frame or a refused subscription; the connection stays open.
    Error {
        /// The session it is about, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        session_id: Option<String>,
        /// Stable code: `bad_frame`, `not_found`, `too_many_subscriptions`, `logged_out`, `access_lost`.
        code: ErrorCode,
        /// What went wrong and what to send instead.
        message: String,
    },
}

/// A frame as the text message that carries it.
pub fn json_frame(frame: ServerFrame) -> Message {
    Message::Text(serde_json::to_string(&frame).unwrap_or_default().into())
}

/// An `error` frame.
pub fn error(session_id: Option<String>, code: ErrorCode, message: String) -> Message {
    json_frame(ServerFrame::Error {
        session_id,
        code,
        message,
    })
}

/// Queues a frame for the browser; false once the connection is gone.
pub async fn send(out: &OutboxSender<Message>, msg: Message) -> bool {
    let size = match &msg {
        Message::Text(t) => t.len(),
        _ => 0,
    };
    out.send(msg, size).await.is_ok()
}

//! The notices: built from what happened, with who is told and what their notification says.

use serde_json::json;
use uuid::Uuid;

use super::emit;
use crate::notify::{ApprovalRef, Notice};
use crate::ops::run_access;
use crate::state::AppState;
use crate::store::{
    ApprovalKind, Comment, NoticeKind, Run, RunStatus, Task, TaskStatus, UserId, now_ms,
};
use vibebridge_tunnel::session::EventBody;

/// Shortens `s` to `max` characters with an ellipsis.
fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Adds `who` once.
fn add(to: &mut Vec<UserId>, who: impl IntoIterator<Item = UserId>) {
    for w in who {
        if !to.contains(&w) {
            to.push(w);
        }
    }
}

/// The task's key and its board link (`/w/WEB?task=WEB-3`).
fn task_place(state: &AppState, task: &Task) -> (String, String) {
    match state.store.workspace(task.workspace_id) {
        Ok(Some(ws)) => {
            let key = ws.task_key(task.number);
            let url = format!("/w/{}?task={key}", ws.settings.key_prefix);
            (key, url)
        }
        _ => (format!("#{}", task.number), "/w".to_string()),
    }
}

/// An approval or question was asked: its session's owner is told, and for a run the people of its task who
/// may steer it. A tool call's notification carries Allow and Deny.
pub fn approval_requested(state: &AppState, approval_id: &str) {
    let Ok(Some(pending)) = state.store.pending_approval(approval_id) else {
        return;
    };
    let session = state
        .store
        .agent_session(&pending.session_id)
        .ok()
        .flatten();
    let title_of_session = session
        .as_ref()
        .map(|s| s.title.clone())
        .unwrap_or_default();
    let mut recipients = vec![pending.owner];
    let mut workspaces = Vec::new();
    let mut about = None;
    let mut data = json!({ "session_id": pending.session_id, "approval_id": approval_id, "node_id": pending.node_id });
    if let Ok(Some(run)) = state.store.run_of_session(pending.session_id) {
        workspaces.push(run.workspace_id);
        data["run_id"] = json!(run.id);
        data["task_id"] = json!(run.task_id);
        if let Ok(Some(task)) = state.store.task(run.task_id) {
            about = Some((task.id, task.restricted_to.is_some()));
            let steer = |u: &UserId| {
                state.store.user(*u).ok().flatten().is_some_and(|user| {
                    run_access::can_steer_session(state, &user, pending.session_id)
                })
            };
            add(
                &mut recipients,
                task.assignees.iter().copied().filter(steer),
            );
            add(
                &mut recipients,
                std::iter::once(run.created_by).filter(steer),
            );
        }
    }
    let (kind, title, detail) = match (&pending.kind, &pending.event.body) {
        (ApprovalKind::Approval, EventBody::ApprovalRequested { title, tool, .. }) => (
            NoticeKind::Approval,
            format!(
                "Approve: {}",
                clip(if title.is_empty() { tool } else { title }, 80)
            ),
            title_of_session.clone(),
        ),
        (_, EventBody::Question { questions, .. }) => (
            NoticeKind::Question,
            "An agent asks a question".to_string(),
            clip(&first_question(questions), 200),
        ),
        _ => (
            NoticeKind::Approval,
            "An agent waits for approval".into(),
            title_of_session.clone(),
        ),
    };
    let approval = (kind == NoticeKind::Approval).then(|| ApprovalRef {
        session_id: pending.session_id,
        approval_id: approval_id.to_string(),
    });
    emit(
        state,
        Notice {
            key: format!("approval:{approval_id}"),
            kind,
            workspaces,
            recipients,
            title,
            body: if detail.is_empty() {
                clip(&title_of_session, 200)
            } else {
                detail
            },
            url: format!("/sessions/{}", pending.session_id),
            tag: session_tag(pending.session_id),
            session_id: Some(pending.session_id),
            task: about.map(|(id, _)| id),
            restricted: about.is_some_and(|(_, r)| r),
            approval,
            data,
            at: now_ms(),
        },
    );
}

/// The first question's text of a `Question` event (Claude's `AskUserQuestion` input, or plain text).
fn first_question(questions: &serde_json::Value) -> String {
    let q = questions
        .get("questions")
        .and_then(|q| q.get(0))
        .or_else(|| questions.get(0))
        .unwrap_or(questions);
    q.get("question")
        .and_then(|v| v.as_str())
        .or_else(|| q.as_str())
        .unwrap_or("open the session to answer")
        .to_string()
}

/// The tag that makes a session's notices replace each other on a device.
pub fn session_tag(session: Uuid) -> String {
    format!("session:{session}")
}

/// A run moved from `before` to `after`: a finished turn (idle) or a failure is told to who started it and
/// to its task's assignees.
pub fn run_moved(state: &AppState, before: RunStatus, after: &Run) {
    let kind = match after.status {
        RunStatus::Idle if before != RunStatus::Idle => NoticeKind::RunFinished,
        RunStatus::Failed if before != RunStatus::Failed => NoticeKind::RunFailed,
        _ => return,
    };
    let Ok(Some(task)) = state.store.task(after.task_id) else {
        return;
    };
    let (key, url) = task_place(state, &task);
    let mut recipients = vec![after.created_by];
    add(&mut recipients, task.assignees.iter().copied());
    let (title, body) = match kind {
        NoticeKind::RunFailed => (
            format!("{key}: run failed"),
            after
                .status_message
                .clone()
                .unwrap_or_else(|| clip(&task.title, 200)),
        ),
        _ => (
            format!("{key}: the agent finished its turn"),
            clip(&task.title, 200),
        ),
    };
    emit(
        state,
        Notice {
            key: format!("run:{}:{}:{}", after.id, after.status.name(), after.turns),
            kind,
            workspaces: vec![after.workspace_id],
            recipients,
            title,
            body: clip(&body, 300),
            url,
            tag: after
                .session_id
                .map(session_tag)
                .unwrap_or_else(|| format!("run:{}", after.id)),
            session_id: after.session_id,
            task: Some(task.id),
            restricted: task.restricted_to.is_some(),
            approval: None,
            data: json!({ "run_id": after.id, "task_id": task.id, "task": key, "status": after.status.name() }),
            at: now_ms(),
        },
    );
}

/// A task moved from `old` to `new` by `actor` (`None`: automation): a move into review is told to its
/// assignees and creator, except whoever moved it.
pub fn task_moved(state: &AppState, actor: Option<UserId>, old: &Task, new: &Task) {
    if new.status != TaskStatus::InReview || old.status == TaskStatus::InReview {
        return;
    }
    let (key, url) = task_place(state, new);
    let mut recipients = Vec::new();
    add(&mut recipients, new.assignees.iter().copied());
    add(&mut recipients, new.created_by);
    recipients.retain(|u| Some(*u) != actor);
    emit(
        state,
        Notice {
            key: format!("task:{}:review:{}", new.id, new.version),
            kind: NoticeKind::TaskInReview,
            workspaces: vec![new.workspace_id],
            recipients,
            title: format!("{key} is ready for review"),
            body: clip(&new.title, 200),
            url,
            tag: format!("task:{}", new.id),
            session_id: None,
            task: Some(new.id),
            restricted: new.restricted_to.is_some(),
            approval: None,
            data: json!({ "task_id": new.id, "task": key, "from": old.status.as_str() }),
            at: now_ms(),
        },
    );
}

/// `comment` on `task` by `author` mentions people; those not in `before` (the mentions before an edit) are
/// told.
pub fn mentioned(
    state: &AppState,
    author: UserId,
    task: &Task,
    comment: &Comment,
    before: &[UserId],
) {
    let mut recipients: Vec<UserId> = comment
        .mentions
        .iter()
        .copied()
        .filter(|u| *u != author && !before.contains(u))
        .collect();
    recipients.dedup();
    if recipients.is_empty() {
        return;
    }
    let (key, url) = task_place(state, task);
    let name = state
        .store
        .user(author)
        .ok()
        .flatten()
        .map(|u| u.username)
        .unwrap_or_else(|| "someone".into());
    emit(
        state,
        Notice {
            key: format!(
                "mention:{}:{}",
                comment.id,
                comment.edited_at.unwrap_or(comment.created_at)
            ),
            kind: NoticeKind::Mention,
            workspaces: vec![task.workspace_id],
            recipients,
            title: format!("{name} mentioned you on {key}"),
            body: clip(&comment.body, 300),
            url,
            tag: format!("comment:{}", comment.id),
            session_id: None,
            task: Some(task.id),
            restricted: task.restricted_to.is_some(),
            approval: None,
            data: json!({ "task_id": task.id, "task": key, "comment_id": comment.id, "author": name }),
            at: now_ms(),
        },
    );
}

/// Node `node_id` went offline at `since` (ms) and is still: its owner is told (the instance's admins for
/// a node enrolled without one), and the webhooks of the workspaces with projects on it.
pub fn node_offline(state: &AppState, node_id: &str, since: u64) {
    let Ok(Some(node)) = state.store.node(node_id) else {
        return;
    };
    let name = node
        .last_hello
        .as_ref()
        .map(|h| h.hostname.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| node.id.clone());
    let workspaces = state
        .store
        .workspaces_with_projects_on(node_id)
        .unwrap_or_default();
    emit(
        state,
        Notice {
            key: format!("node:{node_id}:offline:{since}"),
            kind: NoticeKind::NodeOffline,
            workspaces,
            recipients: match node.owner {
                Some(owner) => vec![owner],
                None => state
                    .store
                    .users()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|u| u.role.is_admin() && !u.disabled)
                    .map(|u| u.id)
                    .collect(),
            },
            title: format!("Node {name} is offline"),
            body: format!(
                "Its link ended at {}; sessions there continue and reattach when it is back.",
                crate::store::rfc3339(since)
            ),
            url: "/nodes".into(),
            tag: format!("node:{node_id}"),
            session_id: None,
            task: None,
            restricted: false,
            approval: None,
            data: json!({ "node_id": node_id }),
            at: now_ms(),
        },
    );
}

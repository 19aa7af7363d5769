//! Comments on a task (members write; authors edit and delete their own, admins delete any) and the task's
//! activity log. `@name` of a member in a comment is a mention: its user id is kept with the comment (the
//! notifications issue tells them).

use serde::Deserialize;

use super::workspaces::Access;
use super::{OpError, tasks};
use crate::state::AppState;
use crate::store::{
    Activity, ActivityKind, Comment, CommentId, Task, User, UserId, WorkspaceRole, now_ms,
};

/// The largest comment.
pub const MAX_COMMENT_BYTES: usize = 50_000;

/// `{body}`: a new or edited comment.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    /// Markdown.
    pub body: String,
}

/// A task's comments.
pub fn list(state: &AppState, task: &Task) -> Result<Vec<Comment>, OpError> {
    Ok(state.store.comments(task.id)?)
}

/// A task's activity.
pub fn activity(state: &AppState, task: &Task) -> Result<Vec<Activity>, OpError> {
    Ok(state.store.activity(task.id)?)
}

/// Adds a comment (member).
pub fn add(
    state: &AppState,
    who: &User,
    access: &Access,
    task: &Task,
    body: CommentBody,
) -> Result<Comment, OpError> {
    access.require(WorkspaceRole::Member, "comment")?;
    let body = check(body.body)?;
    let comment = Comment {
        id: CommentId::new(),
        task_id: task.id,
        author: Some(who.id),
        author_name: None,
        mentions: mentions(state, access, &body),
        body,
        created_at: now_ms(),
        edited_at: None,
    };
    state.store.put_comment(access.ws.id, &comment, true)?;
    state.store.append_activity(
        access.ws.id,
        task.id,
        Some(who.id),
        vec![(
            None,
            ActivityKind::Commented {
                comment_id: comment.id,
            },
        )],
        true,
    )?;
    super::notify::events::mentioned(state, who.id, task, &comment, &[]);
    Ok(comment)
}

/// Edits one's own comment.
pub fn edit(
    state: &AppState,
    who: &User,
    access: &Access,
    task: &Task,
    id: CommentId,
    body: CommentBody,
) -> Result<Comment, OpError> {
    access.require(WorkspaceRole::Member, "edit comments")?;
    let body = check(body.body)?;
    let mentions = mentions(state, access, &body);
    let mut before = Vec::new();
    let edited = state
        .store
        .update_comment(access.ws.id, task.id, id, |comment| {
            if comment.author != Some(who.id) {
                return Err(OpError::Forbidden(
                    "only its author can edit a comment".into(),
                ));
            }
            comment.body = body.clone();
            before = std::mem::replace(&mut comment.mentions, mentions.clone());
            comment.edited_at = Some(now_ms());
            Ok(())
        })?;
    super::notify::events::mentioned(state, who.id, task, &edited, &before);
    Ok(edited)
}

/// Deletes a comment (its author, or a workspace admin).
pub fn delete(
    state: &AppState,
    who: &User,
    access: &Access,
    task: &Task,
    id: CommentId,
) -> Result<(), OpError> {
    let comment = find(state, task, id)?;
    let own = comment.author == Some(who.id) && access.role >= WorkspaceRole::Member;
    if !own && !access.is_admin() {
        return Err(OpError::Forbidden(
            "only its author or a workspace admin can delete a comment".into(),
        ));
    }
    state.store.delete_comment(access.ws.id, task.id, id)?;
    Ok(())
}

fn find(state: &AppState, task: &Task, id: CommentId) -> Result<Comment, OpError> {
    state
        .store
        .comment(task.id, id)?
        .ok_or_else(|| OpError::NotFound(format!("no comment {id}")))
}

fn check(body: String) -> Result<String, OpError> {
    if body.trim().is_empty() {
        return Err(OpError::BadRequest("a comment needs some text".into()));
    }
    if body.len() > MAX_COMMENT_BYTES {
        return Err(OpError::BadRequest(format!(
            "a comment is at most {MAX_COMMENT_BYTES} bytes"
        )));
    }
    Ok(body)
}

/// The members named `@username` in `body`.
pub fn mentions(state: &AppState, access: &Access, body: &str) -> Vec<UserId> {
    let mut out = Vec::new();
    for name in mentioned_names(body) {
        if let Ok(ids) = tasks::members(state, access, vec![name])
            && let Some(id) = ids.first()
            && !out.contains(id)
        {
            out.push(*id);
        }
    }
    out
}

/// The words written `@name` (not inside an e-mail address).
pub fn mentioned_names(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in body.char_indices() {
        if c == '@' && !prev.is_some_and(|p| p.is_alphanumeric() || p == '.' || p == '_') {
            let rest = &body[i + 1..];
            let len = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '.'))
                .unwrap_or(rest.len());
            let name = rest[..len].trim_end_matches('.');
            if !name.is_empty() && !out.iter().any(|n: &String| n == name) {
                out.push(name.to_string());
            }
        }
        prev = Some(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves `@name` is found at word starts and after punctuation, never inside an e-mail address.
    #[test]
    fn mentions_are_words_starting_with_at() {
        assert_eq!(
            mentioned_names("@alice please ask @bob.smith. Mail carol@example.com (@dave)"),
            vec!["alice", "bob.smith", "dave"]
        );
    }
}

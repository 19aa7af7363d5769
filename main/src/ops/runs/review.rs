//! Reviewing a run: its changes against the merge base (asked of the node each time, so the diff is what
//! is in the work tree now), line comments kept on main and marked outdated when their line changes, and
//! sending the comments not yet sent to the run's agent as one follow-up.

use serde::{Deserialize, Serialize};
use vibebridge_tunnel::git::{FileDiff, GitAnswer, GitRequest, RunDiff};

use super::super::{Actor, OpError, relay, sessions};
use super::visible;
use crate::auth::AuthUser;
use crate::state::AppState;
use crate::store::{
    AuditAction, DiffSide, ReviewComment, ReviewCommentId, Run, User, WorkspaceRole, now_ms,
};

/// A run's changes with the comments on them.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct RunReview {
    /// The diff against the merge base.
    pub diff: RunDiff,
    /// Every comment of the run, oldest first (`outdated` as of this diff).
    pub comments: Vec<ReviewComment>,
}

/// Body of `POST /runs/:id/comments`.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct NewReviewComment {
    /// The file, relative to the work tree.
    pub path: String,
    /// The line number on `side`.
    pub line: u32,
    /// Which side (default: the run's).
    #[ts(optional)]
    pub side: Option<DiffSide>,
    /// The line's text as the reviewer saw it.
    pub code: String,
    /// Markdown.
    pub body: String,
}

/// Body of `PATCH /runs/:id/comments/:comment_id`.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct ReviewCommentPatch {
    /// The new text.
    pub body: String,
}

/// What sending comments did.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct ReviewSent {
    /// Comments sent.
    pub sent: u32,
    /// The follow-up waits behind the agent's running turn.
    pub queued: bool,
}

const MAX_BODY: usize = 20_000;
const MAX_CODE: usize = 2_000;

/// The run's work tree on its node, or why there is none to look at.
fn work_tree(run: &Run) -> Result<&str, OpError> {
    match (&run.prepared, run.worktree) {
        (Some(p), crate::store::WorktreeState::Present) => Ok(&p.path),
        (Some(_), _) => Err(OpError::Conflict(
            "the run's work tree is no longer on the node; its branch keeps its commits".into(),
        )),
        (None, _) => Err(OpError::Conflict(
            "the run has not prepared its work tree yet".into(),
        )),
    }
}

/// The run's changes and comments; comments whose line changed are marked outdated (and stay so).
pub async fn diff(
    state: &AppState,
    who: &User,
    id: &str,
    path: Option<String>,
) -> Result<RunReview, OpError> {
    let (access, task, run) = visible(state, who, id)?;
    let req = GitRequest::RunDiff {
        repo: work_tree(&run)?.to_string(),
        base: run.compare_base().to_string(),
        path: path.clone(),
    };
    let diff = match relay::git(state, &run.node_id, req).await? {
        GitAnswer::RunDiff(d) => d,
        other => return Err(relay::unexpected(&other)),
    };
    let comments = state
        .store
        .update_review_comments(run.id, access.ws.id, task.id, |all| {
            let mut changed = false;
            for c in all.iter_mut().filter(|c| !c.outdated) {
                if path.as_ref().is_some_and(|p| *p != c.path) {
                    continue;
                }
                if is_outdated(&diff.files, c) {
                    c.outdated = true;
                    changed = true;
                }
            }
            Ok::<_, OpError>(changed)
        })?;
    Ok(RunReview { diff, comments })
}

/// Whether the comment's line no longer reads as it did: its file left the diff, or the line on its side
/// now holds other text. A line outside every hunk (or a file whose patch was left out) cannot be judged
/// and is not marked.
fn is_outdated(files: &[FileDiff], c: &ReviewComment) -> bool {
    let Some(file) = files.iter().find(|f| f.path == c.path) else {
        return true;
    };
    if file.patch.is_empty() {
        return false;
    }
    match line_text(&file.patch, c.side, c.line) {
        Some(text) => text != c.code,
        None => false,
    }
}

/// The text of line `line` on `side` in a unified patch, when a hunk shows it.
pub fn line_text(patch: &str, side: DiffSide, line: u32) -> Option<&str> {
    let (mut old, mut new) = (0u32, 0u32);
    for l in patch.lines() {
        if let Some(header) = l.strip_prefix("@@ ") {
            let mut parts = header.split_whitespace();
            let start = |p: Option<&str>, sign: char| {
                p.and_then(|p| p.strip_prefix(sign))
                    .and_then(|p| p.split(',').next())
                    .and_then(|n| n.parse::<u32>().ok())
            };
            old = start(parts.next(), '-')?;
            new = start(parts.next(), '+')?;
            continue;
        }
        let (kind, text) = match l.chars().next() {
            Some(c @ (' ' | '+' | '-')) => (c, &l[1..]),
            _ => continue,
        };
        let here = match (kind, side) {
            (' ', DiffSide::New) | ('+', DiffSide::New) => Some(new),
            (' ', DiffSide::Old) | ('-', DiffSide::Old) => Some(old),
            _ => None,
        };
        if here == Some(line) {
            return Some(text);
        }
        match kind {
            ' ' => {
                old += 1;
                new += 1;
            }
            '+' => new += 1,
            _ => old += 1,
        }
    }
    None
}

/// The run's comments, oldest first.
pub fn comments(state: &AppState, who: &User, id: &str) -> Result<Vec<ReviewComment>, OpError> {
    let (_, _, run) = visible(state, who, id)?;
    Ok(state.store.review_comments(run.id)?)
}

/// Adds a line comment (member).
pub fn add_comment(
    state: &AppState,
    who: &User,
    id: &str,
    new: NewReviewComment,
) -> Result<ReviewComment, OpError> {
    let (access, task, run) = visible(state, who, id)?;
    access.require(WorkspaceRole::Member, "comment on runs")?;
    let body = new.body.trim().to_string();
    if body.is_empty() || body.len() > MAX_BODY {
        return Err(OpError::BadRequest(format!(
            "a comment needs text, at most {MAX_BODY} bytes"
        )));
    }
    let path = new.path.trim().trim_start_matches("./").to_string();
    if path.is_empty()
        || path.starts_with('/')
        || path.split('/').any(|c| c == "..")
        || path.len() > 4096
        || path.chars().any(char::is_control)
    {
        return Err(OpError::BadRequest(format!(
            "path {:?} must be a file of the run's work tree, relative to it (as the diff names it)",
            new.path
        )));
    }
    if new.line == 0 || new.code.len() > MAX_CODE {
        return Err(OpError::BadRequest(format!(
            "line numbers start at 1 and the quoted code is at most {MAX_CODE} bytes"
        )));
    }
    let c = ReviewComment {
        id: ReviewCommentId::new(),
        run_id: run.id,
        author: who.id,
        path,
        line: new.line,
        side: new.side.unwrap_or_default(),
        code: new.code,
        body,
        outdated: false,
        sent_at: None,
        created_at: now_ms(),
        edited_at: None,
    };
    state.store.put_review_comment(&c, access.ws.id, task.id)?;
    Ok(c)
}

/// A comment of the run, and whether `who` may change it (its author, or a workspace admin).
fn own_comment(
    state: &AppState,
    who: &User,
    id: &str,
    comment: &str,
) -> Result<
    (
        crate::ops::workspaces::Access,
        crate::store::Task,
        ReviewComment,
    ),
    OpError,
> {
    let (access, task, run) = visible(state, who, id)?;
    let c = ReviewCommentId::parse(comment)
        .map(|cid| state.store.review_comment(run.id, cid))
        .transpose()?
        .flatten()
        .ok_or_else(|| OpError::NotFound(format!("no comment {comment:?} on this run")))?;
    access.require(WorkspaceRole::Member, "change review comments")?;
    if c.author != who.id && !access.is_admin() {
        return Err(OpError::Forbidden(
            "only its author or a workspace admin can change a comment".into(),
        ));
    }
    Ok((access, task, c))
}

/// Edits a comment's text; a sent comment cannot change (the agent has it).
pub fn edit_comment(
    state: &AppState,
    who: &User,
    id: &str,
    comment: &str,
    patch: ReviewCommentPatch,
) -> Result<ReviewComment, OpError> {
    let (access, task, mut c) = own_comment(state, who, id, comment)?;
    if c.sent_at.is_some() {
        return Err(OpError::Conflict(
            "the comment was sent to the agent already; write a new one".into(),
        ));
    }
    let body = patch.body.trim().to_string();
    if body.is_empty() || body.len() > MAX_BODY {
        return Err(OpError::BadRequest(format!(
            "a comment needs text, at most {MAX_BODY} bytes"
        )));
    }
    c.body = body;
    c.edited_at = Some(now_ms());
    state.store.put_review_comment(&c, access.ws.id, task.id)?;
    Ok(c)
}

/// Deletes a comment.
pub fn delete_comment(
    state: &AppState,
    who: &User,
    id: &str,
    comment: &str,
) -> Result<(), OpError> {
    let (access, task, c) = own_comment(state, who, id, comment)?;
    Ok(state
        .store
        .delete_review_comment(&c, access.ws.id, task.id)?)
}

/// Sends every comment not yet sent to the run's agent as one follow-up quoting file, line, code and
/// comment (member who may steer the run's session).
pub async fn send(
    state: &AppState,
    actor: &Actor,
    who: &AuthUser,
    id: &str,
) -> Result<ReviewSent, OpError> {
    let (access, task, run) = visible(state, &who.user, id)?;
    access.require(WorkspaceRole::Member, "send review comments")?;
    let session_id = run.session_id.ok_or_else(|| {
        OpError::Conflict("the run has not started; there is no agent to send to".into())
    })?;
    let session = sessions::usable(state, who, &session_id.to_string())?;
    let pending: Vec<ReviewComment> = state
        .store
        .review_comments(run.id)?
        .into_iter()
        .filter(|c| c.sent_at.is_none())
        .collect();
    if pending.is_empty() {
        return Err(OpError::Conflict(
            "every comment of this run was sent already; write one first".into(),
        ));
    }
    let text = follow_up(&pending);
    let queued = sessions::message(state, &session, text).await?;
    let sent_ids: Vec<ReviewCommentId> = pending.iter().map(|c| c.id).collect();
    let at = now_ms();
    state
        .store
        .update_review_comments(run.id, access.ws.id, task.id, |all| {
            for c in all.iter_mut().filter(|c| sent_ids.contains(&c.id)) {
                c.sent_at = Some(at);
            }
            Ok::<_, OpError>(true)
        })?;
    state.store.audit(
        actor
            .audit(AuditAction::RunReviewSent)
            .target(access.ws.task_key(task.number))
            .detail(format!("{} comments to run {}", pending.len(), run.id)),
    );
    Ok(ReviewSent {
        sent: u32::try_from(pending.len()).unwrap_or(u32::MAX),
        queued,
    })
}

/// The follow-up for review comments: each quotes its file, line and code, then the comment.
pub fn follow_up(comments: &[ReviewComment]) -> String {
    let mut out = String::from("Review comments on your changes:\n");
    for (i, c) in comments.iter().enumerate() {
        let side = match c.side {
            DiffSide::New => "",
            DiffSide::Old => " (removed line)",
        };
        out.push_str(&format!(
            "\n{}. {} line {}{side}:\n```\n{}\n```\n{}\n",
            i + 1,
            c.path,
            c.line,
            c.code,
            c.body
        ));
    }
    out.push_str("\nAddress each comment in the code, then say briefly what you changed.");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves line numbers are counted per side through context, added and removed lines.
    #[test]
    fn line_text_counts_each_side() {
        let patch = "@@ -3,3 +3,4 @@\n a\n-b\n+B\n+C\n c\n@@ -20 +21 @@\n-x\n+y\n";
        assert_eq!(line_text(patch, DiffSide::New, 3), Some("a"));
        assert_eq!(line_text(patch, DiffSide::New, 4), Some("B"));
        assert_eq!(line_text(patch, DiffSide::New, 5), Some("C"));
        assert_eq!(line_text(patch, DiffSide::New, 6), Some("c"));
        assert_eq!(line_text(patch, DiffSide::Old, 4), Some("b"));
        assert_eq!(line_text(patch, DiffSide::Old, 5), Some("c"));
        assert_eq!(line_text(patch, DiffSide::New, 21), Some("y"));
        assert_eq!(line_text(patch, DiffSide::Old, 20), Some("x"));
        assert_eq!(line_text(patch, DiffSide::New, 10), None);
    }
}

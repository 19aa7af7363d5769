//! Sending a pull request's review back to the run's agent: what is new since the last round (reviews with
//! text, line comments with their file and line, the head's failed checks with their output) as one
//! follow-up, by hand ("Address review", [`address`]) or by auto-fix ([`super::follow`]), which stops at
//! `github.autofix_rounds` rounds per pull request.

use serde::Serialize;

use super::super::{Actor, OpError, sessions};
use super::{authed, failed};
use crate::github::model::{GhReview, GhReviewComment};
use crate::state::AppState;
use crate::store::{
    AuditAction, ChecksState, FailedCheck, PrTags, PullRequest, SessionRecord, UserId,
    WorkspaceRole,
};

/// Pages of 100 reviews or comments read for one round, at most.
const MAX_PAGES: u32 = 10;

/// Whether a review has something to address: changes requested, or a comment with text.
pub fn actionable(r: &GhReview) -> bool {
    r.state == "CHANGES_REQUESTED"
        || (r.state == "COMMENTED" && r.body.as_deref().is_some_and(|b| !b.trim().is_empty()))
}

/// Whether the pull request has something not yet sent to the agent.
pub fn has_new_review(pr: &PullRequest, tags: &PrTags) -> bool {
    let checks = pr.checks.state == ChecksState::Failure
        && pr.sent_checks_sha.as_deref() != Some(pr.head_sha.as_str());
    let review = tags.newest_review > pr.sent_review;
    let comments = tags.newest_comment > pr.sent_comment;
    checks || review || comments
}

/// Sends what is new in the pull request's review (reviews with text, line comments, failed checks of
/// the head commit) to the run's session as one follow-up, with `user`'s token for reading them.
pub async fn send_review(
    state: &AppState,
    actor: &Actor,
    user: UserId,
    pr: &PullRequest,
    session: &SessionRecord,
) -> Result<ReviewAddressed, OpError> {
    let auth = authed(state, user).await?;
    let base = format!("/repos/{}/pulls/{}", pr.repo_full_name, pr.number);
    let api = &state.github.api;
    // Reviews come oldest first, comments newest first: read pages until the ones sent before.
    let mut reviews: Vec<GhReview> = Vec::new();
    for page in 1..=MAX_PAGES {
        let got = api
            .page::<GhReview>(
                &auth.token,
                &format!("{base}/reviews?per_page=100&page={page}"),
            )
            .await
            .map_err(|e| failed(state, user, e))?;
        reviews.extend(got.items);
        if !got.has_next {
            break;
        }
    }
    let mut comments: Vec<GhReviewComment> = Vec::new();
    for page in 1..=MAX_PAGES {
        let got = api
            .page::<GhReviewComment>(
                &auth.token,
                &format!("{base}/comments?per_page=100&sort=created&direction=desc&page={page}"),
            )
            .await
            .map_err(|e| failed(state, user, e))?;
        let reached_sent = got.items.iter().any(|c| c.id <= pr.sent_comment);
        comments.extend(got.items);
        if !got.has_next || reached_sent {
            break;
        }
    }
    comments.sort_by_key(|c| c.id);
    let new_reviews: Vec<&GhReview> = reviews
        .iter()
        .filter(|r| r.id > pr.sent_review && actionable(r))
        .collect();
    let new_comments: Vec<&GhReviewComment> =
        comments.iter().filter(|c| c.id > pr.sent_comment).collect();
    let checks: Vec<&FailedCheck> = if pr.sent_checks_sha.as_deref() != Some(pr.head_sha.as_str()) {
        pr.checks.failing.iter().collect()
    } else {
        Vec::new()
    };
    if new_reviews.is_empty() && new_comments.is_empty() && checks.is_empty() {
        return Err(OpError::Conflict(
            "nothing new to address: no review or failed check since the last round".into(),
        ));
    }
    let text = follow_up(pr, &new_reviews, &new_comments, &checks);
    let queued = sessions::message(state, session, text).await?;
    let sent_review = reviews
        .iter()
        .map(|r| r.id)
        .max()
        .unwrap_or(0)
        .max(pr.sent_review);
    let sent_comment = comments
        .iter()
        .map(|c| c.id)
        .max()
        .unwrap_or(0)
        .max(pr.sent_comment);
    let head = pr.head_sha.clone();
    let checks_sent = !checks.is_empty();
    let counts = (
        u32::try_from(new_reviews.len() + new_comments.len()).unwrap_or(u32::MAX),
        u32::try_from(checks.len()).unwrap_or(u32::MAX),
    );
    let updated = state.store.update_pull_request(pr.id, |p| {
        p.sent_review = sent_review;
        p.sent_comment = sent_comment;
        if checks_sent {
            p.sent_checks_sha = Some(head.clone());
        }
        p.rounds += 1;
    })?;
    state.store.audit(
        actor
            .audit(AuditAction::PullRequestReviewSent)
            .target(format!("{}#{}", pr.repo_full_name, pr.number))
            .detail(format!(
                "round {}: {} review comments, {} failed checks to run {}",
                updated.rounds, counts.0, counts.1, pr.run_id
            )),
    );
    Ok(ReviewAddressed {
        comments: counts.0,
        checks: counts.1,
        queued,
        pull_request: updated,
    })
}

/// The follow-up text: the reviews, each line comment with its file and line, each failed check with its
/// output.
pub fn follow_up(
    pr: &PullRequest,
    reviews: &[&GhReview],
    comments: &[&GhReviewComment],
    checks: &[&FailedCheck],
) -> String {
    let login = |u: &Option<crate::github::model::GhOwner>| {
        u.as_ref()
            .map_or("someone".to_string(), |u| format!("@{}", u.login))
    };
    let mut out = format!("Review of pull request #{} ({}):\n", pr.number, pr.url);
    for r in reviews {
        let verb = if r.state == "CHANGES_REQUESTED" {
            "requested changes"
        } else {
            "commented"
        };
        out.push_str(&format!("\n{} {verb}:\n", login(&r.user)));
        for line in r.body.as_deref().unwrap_or("").trim().lines() {
            out.push_str(&format!("> {line}\n"));
        }
    }
    if !comments.is_empty() {
        out.push_str("\nComments on the code:\n");
        for (i, c) in comments.iter().enumerate() {
            let line = c
                .line
                .or(c.original_line)
                .map_or_else(String::new, |l| format!(":{l}"));
            out.push_str(&format!(
                "{}. {}{line} ({}):\n",
                i + 1,
                c.path,
                login(&c.user)
            ));
            for l in c.body.trim().lines() {
                out.push_str(&format!("   {l}\n"));
            }
        }
    }
    if !checks.is_empty() {
        let short = pr.head_sha.get(..10).unwrap_or(&pr.head_sha);
        out.push_str(&format!("\nFailed checks on {short}:\n"));
        for c in checks {
            out.push_str(&format!("- {} ({})", c.name, c.conclusion));
            if !c.summary.is_empty() {
                out.push_str(&format!(": {}", c.summary));
            }
            out.push('\n');
        }
    }
    out.push_str("\nAddress each point in the code, then end your turn.\n");
    out
}

/// What "Address review" sent.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct ReviewAddressed {
    /// Review comments and reviews sent.
    pub comments: u32,
    /// Failed checks sent.
    pub checks: u32,
    /// The follow-up waits behind the agent's running turn.
    pub queued: bool,
    /// The pull request now.
    pub pull_request: PullRequest,
}

/// "Address review": the pull request's review comments and reviews not sent yet, and its failed checks,
/// to the run's agent as one follow-up (member who may steer the run's session).
pub async fn address(
    state: &AppState,
    actor: &Actor,
    who: &crate::auth::AuthUser,
    id: &str,
) -> Result<ReviewAddressed, OpError> {
    let (access, pr) = super::pulls::visible_pr(state, &who.user, id)?;
    access.require(WorkspaceRole::Member, "send reviews to agents")?;
    let run = state
        .store
        .run(pr.run_id)?
        .ok_or_else(|| OpError::NotFound("the pull request's run was deleted".into()))?;
    let session_id = run
        .session_id
        .ok_or_else(|| OpError::Conflict("the run has no agent session to send to".into()))?;
    let session = sessions::usable(state, who, &session_id.to_string())?;
    // Not while a check of it may be sending the same review by auto-fix.
    let lock = state.github.follow_lock(pr.id);
    let _one = lock.lock().await;
    let pr = state.store.pull_request(pr.id)?.unwrap_or(pr);
    send_review(state, actor, who.user.id, &pr, &session).await
}

//! Following pull requests: a poller checks every open one each `github.poll_interval` with conditional
//! requests (an unchanged pull request, check list, review list or comment list is a 304 that costs
//! nothing against GitHub's rate limit), and a verified webhook delivery makes it check the pull requests
//! it names at once. What it finds lands on the record (state, checks, review decision) and on the board
//! live; a merged pull request marks its run merged and its task done.
//!
//! Review comments and failed checks go back to the run's agent as one follow-up: by hand ("Address
//! review"), or by auto-fix, at most `github.autofix_rounds` rounds per pull request. Under auto-fix the
//! agent's new commits are pushed when its turn ends, which starts the next round of checks.
//!
//! A refused token or a spent rate limit pauses following that person's pull requests with a note the
//! board shows; nothing is retried before GitHub's reset time.

use serde::Serialize;
use vibebridge_tunnel::git::MergeStrategy;

use super::super::{Actor, OpError, sessions};
use super::pulls::ReviewAddressed;
use super::{authed, failed};
use crate::github::model::{GhCheckRuns, GhPull, GhReview, GhReviewComment};
use crate::github::{Fetched, GhError};
use crate::state::AppState;
use crate::store::{
    AuditAction, ChecksState, ChecksSummary, FailedCheck, MergeInfo, PrState, PrTags, PullRequest,
    PullRequestId, ReviewDecision, RunStatus, SessionRecord, TaskStatus, UserId, now_ms,
};

/// Follows open pull requests until main stops: all of them every `github.poll_interval` or when poked
/// (a push), and one at once when its run's agent ends a turn (auto-fix pushes the fix then).
pub async fn run(state: AppState) {
    use tokio::sync::broadcast::error::RecvError;
    let mut tick = tokio::time::interval(state.github.config.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut changes = state.store.changes();
    loop {
        let only = tokio::select! {
            () = state.hub.stopped() => return,
            _ = tick.tick() => None,
            () = state.github.poke.notified() => None,
            c = changes.recv() => match c {
                Ok(crate::store::Change::Run(run)) if !run.status.is_active() => {
                    match state.store.pull_request_of_run(run.id) {
                        Ok(Some(pr)) if pr.autofix && matches!(pr.state, PrState::Open | PrState::Draft) => Some(pr.id),
                        _ => continue,
                    }
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => None,
                Err(RecvError::Closed) => return,
            },
        };
        let ids = match only {
            Some(id) => vec![id],
            None => match state.store.open_pull_requests() {
                Ok(prs) => prs.into_iter().map(|p| p.id).collect(),
                Err(e) => {
                    tracing::warn!("listing open pull requests: {e}");
                    continue;
                }
            },
        };
        for id in ids {
            tokio::select! {
                () = state.hub.stopped() => return,
                r = refresh(&state, id) => if let Err(e) = r {
                    tracing::debug!(pr = %id, "following pull request: {e}");
                }
            }
        }
    }
}

fn note(state: &AppState, id: PullRequestId, why: Option<String>) -> Result<(), OpError> {
    state.store.update_pull_request(id, |p| {
        p.note = why;
        p.polled_at = Some(now_ms());
    })?;
    Ok(())
}

/// Reads one GitHub listing conditionally; `None` when unchanged since `tag`.
async fn conditional<T: serde::de::DeserializeOwned>(
    state: &AppState,
    token: &vibebridge_tunnel::config::Secret,
    path: &str,
    tag: Option<&str>,
) -> Result<Option<(T, Option<String>)>, GhError> {
    Ok(match state.github.api.get::<T>(token, path, tag).await? {
        Fetched::Fresh { value, etag } => Some((value, etag)),
        Fetched::NotModified => None,
    })
}

/// Checks one pull request on GitHub now, with its opener's token (one check of it at a time).
pub async fn refresh(state: &AppState, id: PullRequestId) -> Result<(), OpError> {
    let lock = state.github.follow_lock(id);
    let _one = lock.lock().await;
    let Some(pr) = state.store.pull_request(id)? else {
        return Ok(());
    };
    if !matches!(pr.state, PrState::Open | PrState::Draft) {
        return Ok(());
    }
    let auth = match authed(state, pr.created_by).await {
        Ok(a) => a,
        Err(e) => {
            return note(state, id, Some(format!("not followed: {e}")));
        }
    };
    let base = format!("/repos/{}/pulls/{}", pr.repo_full_name, pr.number);
    let gh = |e: GhError| failed(state, pr.created_by, e);
    let mut tags = state.store.pull_request_tags(id)?;
    let result: Result<_, OpError> = async {
        let pull = conditional::<GhPull>(state, &auth.token, &base, tags.pull.as_deref())
            .await
            .map_err(gh)?;
        let head = pull
            .as_ref()
            .map_or(pr.head_sha.clone(), |(p, _)| p.head.sha.clone());
        let checks_tag = (tags.checks_sha.as_deref() == Some(head.as_str()))
            .then_some(tags.checks.as_deref())
            .flatten();
        let checks = conditional::<GhCheckRuns>(
            state,
            &auth.token,
            &format!(
                "/repos/{}/commits/{head}/check-runs?per_page=100",
                pr.repo_full_name
            ),
            checks_tag,
        )
        .await
        .map_err(gh)?;
        let reviews = conditional::<Vec<GhReview>>(
            state,
            &auth.token,
            &format!("{base}/reviews?per_page=100"),
            tags.reviews.as_deref(),
        )
        .await
        .map_err(gh)?;
        let comments = conditional::<Vec<GhReviewComment>>(
            state,
            &auth.token,
            &format!("{base}/comments?per_page=100"),
            tags.comments.as_deref(),
        )
        .await
        .map_err(gh)?;
        Ok((pull, head, checks, reviews, comments))
    }
    .await;
    let (pull, head, checks, reviews, comments) = match result {
        Ok(r) => r,
        Err(e) => return note(state, id, Some(format!("not followed: {e}"))),
    };
    if let Some((_, tag)) = &pull {
        tags.pull = tag.clone();
    }
    if let Some((_, tag)) = &checks {
        tags.checks = tag.clone();
        tags.checks_sha = Some(head.clone());
    }
    if let Some((list, tag)) = &reviews {
        tags.reviews = tag.clone();
        tags.newest_review = list
            .iter()
            .filter(|r| actionable(r))
            .map(|r| r.id)
            .max()
            .unwrap_or(0);
    }
    if let Some((list, tag)) = &comments {
        tags.comments = tag.clone();
        tags.newest_comment = list.iter().map(|c| c.id).max().unwrap_or(0);
    }
    state.store.set_pull_request_tags(id, &tags)?;
    let mut merged_commit = None;
    let updated = state.store.update_pull_request(id, |p| {
        p.note = None;
        p.polled_at = Some(now_ms());
        if let Some((pull, _)) = &pull {
            p.title = pull.title.clone();
            p.head_sha = pull.head.sha.clone();
            p.state = if pull.merged == Some(true) || pull.merged_at.is_some() {
                merged_commit = Some(
                    pull.merge_commit_sha
                        .clone()
                        .unwrap_or_else(|| pull.head.sha.clone()),
                );
                p.merged_at = Some(now_ms());
                PrState::Merged
            } else if pull.state == "closed" {
                PrState::Closed
            } else if pull.draft {
                PrState::Draft
            } else {
                PrState::Open
            };
        }
        if let Some((runs, _)) = &checks {
            p.checks = summarize_checks(runs);
        }
        if let Some((list, _)) = &reviews {
            p.review = decision(list);
        }
        if let Some((list, _)) = &comments {
            p.review_comments = u32::try_from(list.len()).unwrap_or(u32::MAX);
        }
    })?;
    if let Some(commit) = merged_commit {
        merged(state, &updated, commit)?;
        return Ok(());
    }
    if updated.autofix {
        autofix(state, &updated, &tags).await;
    }
    Ok(())
}

/// The head commit's checks, summed up; failed ones with their output's title and summary.
pub fn summarize_checks(runs: &GhCheckRuns) -> ChecksSummary {
    let mut s = ChecksSummary::default();
    for run in &runs.check_runs {
        if run.status != "completed" {
            s.pending += 1;
            continue;
        }
        match run.conclusion.as_deref() {
            Some("success" | "neutral" | "skipped") => s.passed += 1,
            Some(conclusion) => {
                s.failed += 1;
                let output = run.output.clone().unwrap_or_default();
                let summary = [output.title, output.summary]
                    .into_iter()
                    .flatten()
                    .filter(|t| !t.trim().is_empty())
                    .collect::<Vec<_>>()
                    .join(": ");
                s.failing.push(FailedCheck {
                    name: run.name.clone(),
                    conclusion: conclusion.to_string(),
                    summary: summary.chars().take(2000).collect(),
                    url: run.html_url.clone(),
                });
            }
            None => s.pending += 1,
        }
    }
    s.state = if s.failed > 0 {
        ChecksState::Failure
    } else if s.pending > 0 {
        ChecksState::Pending
    } else if s.passed > 0 {
        ChecksState::Success
    } else {
        ChecksState::None
    };
    s
}

fn actionable(r: &GhReview) -> bool {
    r.state == "CHANGES_REQUESTED"
        || (r.state == "COMMENTED" && r.body.as_deref().is_some_and(|b| !b.trim().is_empty()))
}

/// The review decision: each reviewer's latest approving or change-requesting review counts; a request
/// for changes outweighs approvals.
pub fn decision(reviews: &[GhReview]) -> ReviewDecision {
    let mut latest: std::collections::BTreeMap<String, &str> = Default::default();
    let mut commented = false;
    for r in reviews {
        let who = r
            .user
            .as_ref()
            .map_or_else(String::new, |u| u.login.clone());
        match r.state.as_str() {
            "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED" => {
                latest.insert(who, r.state.as_str());
            }
            "COMMENTED" => commented = true,
            _ => {}
        }
    }
    if latest.values().any(|s| *s == "CHANGES_REQUESTED") {
        ReviewDecision::ChangesRequested
    } else if latest.values().any(|s| *s == "APPROVED") {
        ReviewDecision::Approved
    } else if commented {
        ReviewDecision::Commented
    } else {
        ReviewDecision::None
    }
}

/// A pull request merged on GitHub: its run is merged (through it) and its task done.
fn merged(state: &AppState, pr: &PullRequest, commit: String) -> Result<(), OpError> {
    let info = MergeInfo {
        commit: commit.clone(),
        into: pr.base_branch.clone(),
        strategy: MergeStrategy::MergeCommit,
        by: pr.created_by,
        at: now_ms(),
        pull_request: Some(pr.number),
    };
    let run = state.store.update_run(pr.run_id, |r| {
        if r.merged.is_none() {
            r.merged = Some(info);
        }
        if !r.status.is_active() {
            r.status = RunStatus::Merged;
            r.status_message = None;
        }
        Ok::<_, OpError>(())
    })?;
    let key = state
        .store
        .workspace(pr.workspace_id)?
        .zip(state.store.task(pr.task_id)?)
        .map(|(ws, t)| ws.task_key(t.number))
        .unwrap_or_else(|| pr.task_id.to_string());
    state.store.audit(
        Actor::system()
            .audit(AuditAction::PullRequestMerged)
            .target(key)
            .detail(format!(
                "{}#{} merged on GitHub as {}",
                pr.repo_full_name,
                pr.number,
                commit.get(..12).unwrap_or(&commit)
            )),
    );
    super::super::runs::track::automate(state, &run, TaskStatus::Done)
}

/// Auto-fix: push what the agent committed since the last push, then send new review comments or
/// failed checks as the next round, while rounds remain and the agent is not working.
async fn autofix(state: &AppState, pr: &PullRequest, tags: &PrTags) {
    let Ok(Some(run)) = state.store.run(pr.run_id) else {
        return;
    };
    if run.status.is_active() || run.pending_approvals > 0 {
        return;
    }
    let Ok(Some(opener)) = state.store.user(pr.created_by) else {
        return;
    };
    let actor = Actor::system();
    if pr.rounds > 0
        && let (Some(last), Some(pushed)) = (&run.last_commit, &run.pushed)
        && *last != pushed.commit
    {
        if let Err(e) = super::pulls::push(state, &actor, &opener, &run.id.to_string()).await {
            let _ = note(state, pr.id, Some(format!("auto-fix could not push: {e}")));
        }
        return; // the new head's checks come next
    }
    if pr.rounds >= state.github.config.autofix_rounds || !has_new_review(pr, tags) {
        return;
    }
    let Some(session) = run
        .session_id
        .and_then(|id| state.store.agent_session(&id).ok().flatten())
    else {
        return;
    };
    if let Err(e) = send_review(state, &actor, pr.created_by, pr, &session).await {
        let _ = note(
            state,
            pr.id,
            Some(format!("auto-fix could not send the review: {e}")),
        );
    }
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
    let reviews: Vec<GhReview> = api
        .get_fresh(&auth.token, &format!("{base}/reviews?per_page=100"))
        .await
        .map_err(|e| failed(state, user, e))?;
    let comments: Vec<GhReviewComment> = api
        .get_fresh(&auth.token, &format!("{base}/comments?per_page=100"))
        .await
        .map_err(|e| failed(state, user, e))?;
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
            p.sent_checks_sha = Some(head);
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

/// What a webhook delivery did.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct WebhookOutcome {
    /// A delivery id seen before (a replay or a redelivery): nothing done.
    pub duplicate: bool,
    /// Pull requests checked because of it.
    pub pull_requests: u32,
}

/// A webhook delivery: verified against `github.webhook_secret` (HMAC-SHA256 of the exact body), taken
/// once per delivery id, then the pull requests of the repository it names are checked now. The payload
/// only says *which* pull requests to look at; what they are is read from GitHub.
pub fn webhook(
    state: &AppState,
    actor: &Actor,
    event: Option<&str>,
    delivery: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<WebhookOutcome, OpError> {
    let Some(secret) = state.github.webhook_secret() else {
        return Err(OpError::Forbidden(
            "this main takes no GitHub webhooks: set github.webhook_secret in its config".into(),
        ));
    };
    if !signature.is_some_and(|s| crate::github::webhook_verify(secret, body, s)) {
        state.store.audit(
            actor
                .audit(AuditAction::GithubWebhookRefused)
                .detail(format!(
                    "bad or missing X-Hub-Signature-256 ({} bytes)",
                    body.len()
                )),
        );
        return Err(OpError::Forbidden(
            "the delivery's X-Hub-Signature-256 does not match github.webhook_secret".into(),
        ));
    }
    let delivery = delivery
        .filter(|d| !d.is_empty() && d.len() <= 100)
        .ok_or_else(|| OpError::BadRequest("X-GitHub-Delivery is missing".into()))?;
    if !state.store.note_delivery(delivery)? {
        return Ok(WebhookOutcome {
            duplicate: true,
            pull_requests: 0,
        });
    }
    let payload: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| OpError::BadRequest(format!("the delivery is not JSON: {e}")))?;
    if event == Some("ping") {
        return Ok(WebhookOutcome {
            duplicate: false,
            pull_requests: 0,
        });
    }
    let Some(repo_id) = payload.pointer("/repository/id").and_then(|v| v.as_u64()) else {
        return Ok(WebhookOutcome {
            duplicate: false,
            pull_requests: 0,
        });
    };
    let mut count = 0u32;
    for pr in state.store.open_pull_requests()? {
        let same_repo = state
            .store
            .connected_repo(pr.repo_id)?
            .is_some_and(|r| r.github_id == repo_id);
        if same_repo {
            count += 1;
            let state = state.clone();
            tokio::spawn(async move {
                if let Err(e) = refresh(&state, pr.id).await {
                    tracing::debug!(pr = %pr.id, "checking a pull request after a webhook: {e}");
                }
            });
        }
    }
    Ok(WebhookOutcome {
        duplicate: false,
        pull_requests: count,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::github::model::{GhCheckOutput, GhCheckRun, GhOwner};

    fn review(id: u64, who: &str, state: &str) -> GhReview {
        GhReview {
            id,
            user: Some(GhOwner { login: who.into() }),
            state: state.into(),
            body: Some("b".into()),
        }
    }

    /// Proves the review decision follows each reviewer's latest verdict and a change request wins.
    #[test]
    fn decisions() {
        assert_eq!(decision(&[]), ReviewDecision::None);
        assert_eq!(
            decision(&[review(1, "a", "COMMENTED")]),
            ReviewDecision::Commented
        );
        assert_eq!(
            decision(&[
                review(1, "a", "CHANGES_REQUESTED"),
                review(2, "a", "APPROVED")
            ]),
            ReviewDecision::Approved
        );
        assert_eq!(
            decision(&[
                review(1, "a", "APPROVED"),
                review(2, "b", "CHANGES_REQUESTED")
            ]),
            ReviewDecision::ChangesRequested
        );
        assert_eq!(
            decision(&[
                review(1, "a", "CHANGES_REQUESTED"),
                review(2, "a", "DISMISSED")
            ]),
            ReviewDecision::None
        );
    }

    /// Proves checks are summed: any failure fails, running ones keep it pending, neutral passes.
    #[test]
    fn checks() {
        let run = |name: &str, status: &str, conclusion: Option<&str>| GhCheckRun {
            name: name.into(),
            status: status.into(),
            conclusion: conclusion.map(str::to_string),
            html_url: None,
            output: Some(GhCheckOutput {
                title: Some("1 test failed".into()),
                summary: Some("test_add: expected 4".into()),
            }),
        };
        let s = summarize_checks(&GhCheckRuns {
            check_runs: vec![
                run("lint", "completed", Some("success")),
                run("docs", "completed", Some("neutral")),
                run("test", "completed", Some("failure")),
                run("e2e", "in_progress", None),
            ],
        });
        assert_eq!(
            (s.state, s.passed, s.failed, s.pending),
            (ChecksState::Failure, 2, 1, 1)
        );
        assert_eq!(s.failing[0].summary, "1 test failed: test_add: expected 4");
        let pending = summarize_checks(&GhCheckRuns {
            check_runs: vec![run("e2e", "queued", None)],
        });
        assert_eq!(pending.state, ChecksState::Pending);
        assert_eq!(
            summarize_checks(&GhCheckRuns { check_runs: vec![] }).state,
            ChecksState::None
        );
    }
}

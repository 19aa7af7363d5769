//! Following pull requests: a poller checks every open one each `github.poll_interval` with conditional
//! requests (an unchanged pull request, check list, review list or comment list is a 304 that costs
//! nothing against GitHub's rate limit), and a verified webhook delivery makes it check the pull requests
//! it names at once. What it finds lands on the record (state, checks, review decision) and on the board
//! live; a merged pull request marks its run merged and its task done.
//!
//! Under auto-fix ([`super::review`] sends the rounds) the agent's new commits are pushed when its turn ends,
//! which starts the next round of checks. Webhook deliveries are [`super::webhook`].
//!
//! A refused token or a spent rate limit pauses following that person's pull requests with a note the
//! board shows; nothing is retried before GitHub's reset time.

use vibebridge_tunnel::git::MergeStrategy;

use super::super::{Actor, OpError};
use super::verdict::{decision, summarize_checks};
use super::{authed, failed};
use crate::github::model::{GhCheckRuns, GhCombinedStatus, GhPull, GhReview, GhReviewComment};
use crate::github::{Fetched, GhError};
use crate::state::AppState;
use crate::store::{
    AuditAction, MergeInfo, PrState, PrTags, PullRequest, PullRequestId, RunStatus, TaskStatus,
    now_ms,
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
        p.note = why.clone();
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
        let same_head = tags.checks_sha.as_deref() == Some(head.as_str());
        let checks_path = format!(
            "/repos/{}/commits/{head}/check-runs?per_page=100",
            pr.repo_full_name
        );
        let status_path = format!(
            "/repos/{}/commits/{head}/status?per_page=100",
            pr.repo_full_name
        );
        let checks = conditional::<GhCheckRuns>(
            state,
            &auth.token,
            &checks_path,
            tags.checks.as_deref().filter(|_| same_head),
        )
        .await
        .map_err(gh)?;
        let status = conditional::<GhCombinedStatus>(
            state,
            &auth.token,
            &status_path,
            tags.status.as_deref().filter(|_| same_head),
        )
        .await
        .map_err(gh)?;
        // The summary needs both: when one changed, the other is read in full too.
        let checks = match (checks, status) {
            (None, None) => None,
            (c, s) => {
                let c = match c {
                    Some(c) => c,
                    None => conditional(state, &auth.token, &checks_path, None)
                        .await
                        .map_err(gh)?
                        .unwrap_or_default(),
                };
                let s = match s {
                    Some(s) => s,
                    None => conditional(state, &auth.token, &status_path, None)
                        .await
                        .map_err(gh)?
                        .unwrap_or_default(),
                };
                Some((c, s))
            }
        };
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
            // Newest first: the first page always holds the newest comment.
            &format!("{base}/comments?per_page=100&sort=created&direction=desc"),
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
    if let Some(((_, checks_tag), (_, status_tag))) = &checks {
        tags.checks = checks_tag.clone();
        tags.status = status_tag.clone();
        tags.checks_sha = Some(head.clone());
    }
    if let Some((list, tag)) = &reviews {
        tags.reviews = tag.clone();
        tags.newest_review = list
            .iter()
            .filter(|r| super::review::actionable(r))
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
        if let Some(((runs, _), (statuses, _))) = &checks {
            p.checks = summarize_checks(runs, statuses);
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
            r.merged = Some(info.clone());
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
    if pr.rounds >= state.github.config.autofix_rounds || !super::review::has_new_review(pr, tags) {
        return;
    }
    let Some(session) = run
        .session_id
        .and_then(|id| state.store.agent_session(&id).ok().flatten())
    else {
        return;
    };
    if let Err(e) = super::review::send_review(state, &actor, pr.created_by, pr, &session).await {
        let _ = note(
            state,
            pr.id,
            Some(format!("auto-fix could not send the review: {e}")),
        );
    }
}

//! Runs on GitHub projects: "Push" pushes the run's branch with the pushing person's token, "Create pull request" opens one from
//! it (title and body from the task and the run's last answer; `Fixes #N` for an imported issue), and
//! following the pull request afterwards (and "Address review") is [`super::follow`].

use reqwest::Method;
use serde::Deserialize;
use vibebridge_tunnel::git::{GitAnswer, GitRequest};
use vibebridge_tunnel::session::EventBody;

use super::super::runs::visible;
use super::super::{Actor, OpError, relay};
use super::base::repo_of;
use super::{authed, failed, git_failed};
use crate::github::model::GhPull;
use crate::state::AppState;
use crate::store::{
    AuditAction, ConnectedRepo, PullRequest, PullRequestId, PushInfo, Run, TaskId, User,
    WorkspaceRole, now_ms,
};

/// `POST /runs/:id/pull-request`.
#[derive(Debug, Default, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct NewPullRequest {
    /// Title (default: the task's title).
    #[ts(optional)]
    pub title: Option<String>,
    /// Body (default: the task's description, the run's last answer, `Fixes #N`).
    #[ts(optional)]
    pub body: Option<String>,
    /// Open it as a draft.
    #[ts(optional)]
    pub draft: Option<bool>,
    /// Send review comments and failed checks to the agent by itself (at most `github.autofix_rounds`).
    #[ts(optional)]
    pub autofix: Option<bool>,
}

/// `PATCH /pull-requests/:id`.
#[derive(Debug, Default, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct PullRequestPatch {
    /// Auto-fix on or off.
    #[ts(optional)]
    pub autofix: Option<bool>,
}

/// A run whose branch may go to GitHub now.
fn pushable(run: &Run) -> Result<(String, String), OpError> {
    if run.status.is_active() {
        return Err(OpError::Conflict(
            "the run's agent is working; wait for its turn to end (or stop it) first".into(),
        ));
    }
    let prepared = run.prepared.as_ref().ok_or_else(|| {
        OpError::Conflict("the run never prepared a work tree; there is nothing to push".into())
    })?;
    let branch = prepared.branch.clone().ok_or_else(|| {
        OpError::Conflict(
            "the run's work tree has a detached HEAD; there is no branch to push".into(),
        )
    })?;
    Ok((prepared.path.clone(), branch))
}

/// Refuses to push a run straight onto the base or the repository's default branch (an in-place run, or
/// one adopted on `main`): its work reaches those only through a reviewed pull request.
fn not_the_base(run: &Run, repo: &ConnectedRepo, branch: &str) -> Result<(), OpError> {
    if branch == run.base_branch || branch == repo.default_branch {
        return Err(OpError::Conflict(format!(
            "the run works on {branch:?}, the base branch itself; Push and pull requests need a branch of \
             its own (start the run in a worktree)"
        )));
    }
    Ok(())
}

/// Pushes the run's branch to GitHub with `who`'s token (member who may use the node). A branch this run
/// pushed before is replaced only if GitHub still has what it pushed (a rebased branch), never someone
/// else's commits.
pub async fn push(state: &AppState, actor: &Actor, who: &User, id: &str) -> Result<Run, OpError> {
    let (access, task, run) = visible(state, who, id)?;
    access.require(WorkspaceRole::Member, "push runs")?;
    let project = super::super::runs::project_of(state, &run)?;
    super::super::projects::require_node(state, who, &project)?;
    let repo = repo_of(state, &project)?;
    let (path, branch) = pushable(&run)?;
    not_the_base(&run, &repo, &branch)?;
    let auth = authed(state, who.id).await?;
    let req = GitRequest::Push {
        repo: path,
        url: repo.clone_url.clone(),
        branch: branch.clone(),
        remote_branch: branch.clone(),
        expect: run.pushed.as_ref().map(|p| p.commit.clone()),
        credential: Some(auth.git_credential()),
    };
    let commit = match relay::git(state, &run.node_id, req)
        .await
        .map_err(git_failed)?
    {
        GitAnswer::Pushed { commit } => commit,
        other => return Err(relay::unexpected(&other)),
    };
    state.store.audit(
        actor
            .audit(AuditAction::GithubTokenUsed)
            .target(access.ws.task_key(task.number))
            .detail(format!(
                "push {branch} to {} at {} as {}",
                repo.full_name,
                commit.get(..12).unwrap_or(&commit),
                auth.conn.login
            )),
    );
    let info = PushInfo {
        commit,
        remote_branch: branch,
        by: who.id,
        at: now_ms(),
    };
    let run = state.store.update_run(run.id, |r| {
        r.pushed = Some(info.clone());
        Ok::<_, OpError>(())
    })?;
    if state.store.pull_request_of_run(run.id)?.is_some() {
        // A new head: its checks start again.
        state.github.poke.notify_one();
    }
    Ok(run)
}

/// The run's last answer: the final result text of its last turn, else its last assistant message.
fn last_answer(state: &AppState, run: &Run) -> Option<String> {
    let session = run.session_id?;
    let record = state.store.agent_session(&session).ok()??;
    let events = state
        .store
        .session_events_page(&session, record.last_seq.saturating_sub(400), 400, 4 << 20)
        .ok()?;
    events.iter().rev().find_map(|e| match &e.body {
        EventBody::TurnCompleted {
            result: Some(text), ..
        }
        | EventBody::AssistantMessage { text, .. }
            if !text.trim().is_empty() =>
        {
            Some(text.trim().to_string())
        }
        _ => None,
    })
}

/// The default body: the task's description, what the agent said it did, and the issue it fixes.
fn default_body(
    state: &AppState,
    key: &str,
    task_id: TaskId,
    description: &str,
    run: &Run,
    repo: &ConnectedRepo,
) -> String {
    let mut body = String::new();
    if !description.trim().is_empty() {
        body.push_str(description.trim());
        body.push_str("\n\n");
    }
    if let Some(answer) = last_answer(state, run) {
        let answer: String = answer.chars().take(4000).collect();
        body.push_str("### What the agent did\n\n");
        body.push_str(&answer);
        body.push_str("\n\n");
    }
    if let Ok(Some(issue)) = state.store.issue_of_task(task_id)
        && issue.repo_id == repo.id
    {
        body.push_str(&format!("Fixes #{}\n\n", issue.number));
    }
    body.push_str(&format!("---\nOpened from VibeBridge task {key}."));
    body
}

/// Opens a pull request from the run's branch into the project's base (pushing it first when GitHub does
/// not have its last commit), and records it against the task and run.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    who: &User,
    id: &str,
    req: NewPullRequest,
) -> Result<PullRequest, OpError> {
    let (access, task, run) = visible(state, who, id)?;
    access.require(WorkspaceRole::Member, "open pull requests")?;
    if let Some(pr) = state.store.pull_request_of_run(run.id)? {
        return Err(OpError::Conflict(format!(
            "this run has pull request #{} already: {}",
            pr.number, pr.url
        )));
    }
    let project = super::super::runs::project_of(state, &run)?;
    let repo = repo_of(state, &project)?;
    let current = run.prepared.as_ref().and(run.last_commit.as_ref());
    let needs_push = match (&run.pushed, current) {
        (None, _) => true,
        (Some(p), Some(last)) => p.commit != *last,
        (Some(_), None) => false,
    };
    let run = if needs_push {
        push(state, actor, who, id).await?
    } else {
        run
    };
    let pushed = run.pushed.clone().ok_or_else(|| {
        OpError::Conflict("the run's branch is not on GitHub; push it first".into())
    })?;
    let key = access.ws.task_key(task.number);
    let title = match req.title.map(|t| t.trim().to_string()) {
        Some(t) if !t.is_empty() => t,
        _ => task.title.clone(),
    };
    if title.chars().count() > 256 {
        return Err(OpError::BadRequest(
            "the title is over 256 characters; shorten it".into(),
        ));
    }
    let body = match req.body {
        Some(b) if !b.trim().is_empty() => b,
        _ => default_body(state, &key, task.id, &task.description, &run, &repo),
    };
    if body.len() > 65_536 {
        return Err(OpError::BadRequest(
            "the body is over 64 KiB (GitHub's limit); shorten it".into(),
        ));
    }
    let auth = authed(state, who.id).await?;
    let path = format!("/repos/{}/{}/pulls", repo.owner, repo.name);
    let pull: GhPull = state
        .github
        .api
        .send(
            &auth.token,
            Method::POST,
            &path,
            &serde_json::json!({
                "title": title,
                "head": pushed.remote_branch,
                "base": run.base_branch,
                "body": body,
                "draft": req.draft.unwrap_or(false),
            }),
        )
        .await
        .map_err(|e| failed(state, who.id, e))?;
    let now = now_ms();
    let pr = PullRequest {
        id: PullRequestId::new(),
        workspace_id: access.ws.id,
        task_id: task.id,
        run_id: run.id,
        repo_id: repo.id,
        repo_full_name: repo.full_name.clone(),
        number: pull.number,
        url: pull.html_url.clone(),
        title: pull.title.clone(),
        head_branch: pull.head.branch.clone(),
        base_branch: pull.base.branch.clone(),
        head_sha: pull.head.sha.clone(),
        state: if pull.draft {
            crate::store::PrState::Draft
        } else {
            crate::store::PrState::Open
        },
        checks: Default::default(),
        review: Default::default(),
        review_comments: 0,
        autofix: req.autofix.unwrap_or(false),
        rounds: 0,
        sent_comment: 0,
        sent_review: 0,
        sent_checks_sha: None,
        created_by: who.id,
        note: None,
        polled_at: None,
        merged_at: None,
        created_at: now,
        updated_at: now,
    };
    state.store.create_pull_request(&pr)?;
    state.store.audit(
        actor
            .audit(AuditAction::PullRequestCreated)
            .target(key)
            .detail(format!("{}#{} {}", repo.full_name, pr.number, pr.url)),
    );
    state.github.poke.notify_one();
    Ok(pr)
}

/// A pull request `who` may see, with its run.
pub fn visible_pr(
    state: &AppState,
    who: &User,
    id: &str,
) -> Result<(super::super::workspaces::Access, PullRequest), OpError> {
    let nf = || OpError::NotFound(format!("no pull request {id}"));
    let pid = PullRequestId::parse(id).ok_or_else(nf)?;
    let pr = state.store.pull_request(pid)?.ok_or_else(nf)?;
    let (access, _, _) = visible(state, who, &pr.run_id.to_string()).map_err(|_| nf())?;
    Ok((access, pr))
}

/// Turns auto-fix on or off (member).
pub fn update(
    state: &AppState,
    who: &User,
    id: &str,
    patch: PullRequestPatch,
) -> Result<PullRequest, OpError> {
    let (access, pr) = visible_pr(state, who, id)?;
    access.require(WorkspaceRole::Member, "change pull requests")?;
    let pr = state.store.update_pull_request(pr.id, |p| {
        if let Some(on) = patch.autofix {
            p.autofix = on;
        }
    })?;
    if pr.autofix {
        state.github.poke.notify_one();
    }
    Ok(pr)
}

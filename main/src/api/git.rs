//! `/api/v1/nodes/:id/git/…`: git on a node — status, diff, log, branches, stage, commit, discard.
//! Each request is relayed over one `git` tunnel stream; the node runs it off its async runtime and
//! answers one frame. `repo` is any directory inside the work tree, an absolute path on the node.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use serde::Deserialize;
use vibebridge_tunnel::git::{
    Author, BranchList, GitAnswer, GitDiff, GitLog, GitRequest, GitStatus, MAX_LOG_PAGE,
};

use super::bodies::Committed;
use super::{ApiError, Body};
use crate::api::{Path, Query};
use crate::auth::{Approved, AuthUser};
use crate::ops::{Actor, nodes, relay};
use crate::state::AppState;
use crate::store::AuditAction;

/// `?repo=`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "GitRepoQuery")]
pub struct RepoQuery {
    repo: String,
}

/// `?repo=&staged=&path=&rev=`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "GitDiffQuery")]
pub struct DiffQuery {
    repo: String,
    #[serde(default)]
    staged: bool,
    #[serde(default)]
    #[ts(optional)]
    path: Option<String>,
    #[serde(default)]
    #[ts(optional)]
    rev: Option<String>,
}

/// `?repo=&rev=&skip=&limit=`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "GitLogQuery")]
pub struct LogQuery {
    repo: String,
    #[serde(default)]
    #[ts(optional)]
    rev: Option<String>,
    #[serde(default)]
    skip: u32,
    #[serde(default)]
    #[ts(optional)]
    limit: Option<u32>,
}

/// `POST …/git/branches`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "GitNewBranch")]
pub struct NewBranch {
    repo: String,
    name: String,
    #[serde(default)]
    #[ts(optional)]
    start: Option<String>,
    #[serde(default)]
    checkout: bool,
}

/// `POST …/git/checkout`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "GitCheckout")]
pub struct CheckoutBody {
    repo: String,
    branch: String,
}

/// `POST …/git/stage`, `unstage`, `discard`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "GitPaths")]
pub struct PathsBody {
    repo: String,
    paths: Vec<String>,
}

/// `POST …/git/commit`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "GitCommit")]
pub struct CommitBody {
    repo: String,
    message: String,
}

/// `GET …/git/status?repo=`.
pub async fn status(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Query(q): Query<RepoQuery>,
) -> Result<Json<GitStatus>, ApiError> {
    status_of(ask(&state, &who, &id, GitRequest::Status { repo: q.repo }).await?)
}

/// `GET …/git/diff?repo=&staged=&path=&rev=`: work tree against index, index against HEAD with `staged`,
/// or what commit `rev` changed against its first parent.
pub async fn diff(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Result<Json<GitDiff>, ApiError> {
    let req = GitRequest::Diff {
        repo: q.repo,
        staged: q.staged,
        path: q.path.filter(|p| !p.is_empty()),
        rev: q.rev.filter(|r| !r.is_empty()),
    };
    match ask(&state, &who, &id, req).await? {
        GitAnswer::Diff(d) => Ok(Json(d)),
        other => Err(unexpected(&other)),
    }
}

/// `GET …/git/log?repo=&rev=&skip=&limit=`: a page of history (default 50 commits).
pub async fn log(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Json<GitLog>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit as usize > MAX_LOG_PAGE {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LOG_PAGE}"
        )));
    }
    let req = GitRequest::Log {
        repo: q.repo,
        rev: q.rev.filter(|r| !r.is_empty()),
        skip: q.skip,
        limit,
    };
    match ask(&state, &who, &id, req).await? {
        GitAnswer::Log(l) => Ok(Json(l)),
        other => Err(unexpected(&other)),
    }
}

/// `GET …/git/branches?repo=`.
pub async fn branches(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Query(q): Query<RepoQuery>,
) -> Result<Json<BranchList>, ApiError> {
    match ask(&state, &who, &id, GitRequest::Branches { repo: q.repo }).await? {
        GitAnswer::Branches(b) => Ok(Json(b)),
        other => Err(unexpected(&other)),
    }
}

/// `POST …/git/branches` `{repo, name, start?, checkout?}`.
pub async fn create_branch(
    State(state): State<AppState>,
    Approved(who): Approved,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Body(b): Body<NewBranch>,
) -> Result<Json<GitStatus>, ApiError> {
    let detail = format!("{}: branch {}", b.repo, b.name);
    let req = GitRequest::CreateBranch {
        repo: b.repo,
        name: b.name,
        start: b.start.filter(|s| !s.is_empty()),
        checkout: b.checkout,
    };
    let answer = ask(&state, &who, &id, req).await?;
    relay::audit(
        &state,
        &Actor::of(&who, Some(peer)),
        AuditAction::GitBranchCreated,
        &id,
        detail,
    );
    status_of(answer)
}

/// `POST …/git/checkout` `{repo, branch}`.
pub async fn checkout(
    State(state): State<AppState>,
    Approved(who): Approved,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Body(b): Body<CheckoutBody>,
) -> Result<Json<GitStatus>, ApiError> {
    let detail = format!("{}: {}", b.repo, b.branch);
    let req = GitRequest::Checkout {
        repo: b.repo,
        branch: b.branch,
    };
    let answer = ask(&state, &who, &id, req).await?;
    relay::audit(
        &state,
        &Actor::of(&who, Some(peer)),
        AuditAction::GitCheckedOut,
        &id,
        detail,
    );
    status_of(answer)
}

/// `POST …/git/stage` `{repo, paths}`.
pub async fn stage(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Body(b): Body<PathsBody>,
) -> Result<Json<GitStatus>, ApiError> {
    let req = GitRequest::Stage {
        repo: b.repo,
        paths: checked_paths(b.paths)?,
    };
    status_of(ask(&state, &who, &id, req).await?)
}

/// `POST …/git/unstage` `{repo, paths}`.
pub async fn unstage(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Body(b): Body<PathsBody>,
) -> Result<Json<GitStatus>, ApiError> {
    let req = GitRequest::Unstage {
        repo: b.repo,
        paths: checked_paths(b.paths)?,
    };
    status_of(ask(&state, &who, &id, req).await?)
}

/// `POST …/git/discard` `{repo, paths}`: throws away unstaged changes (and named untracked files).
pub async fn discard(
    State(state): State<AppState>,
    Approved(who): Approved,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Body(b): Body<PathsBody>,
) -> Result<Json<GitStatus>, ApiError> {
    let detail = format!("{}: {}", b.repo, b.paths.join(", "));
    let req = GitRequest::Discard {
        repo: b.repo,
        paths: checked_paths(b.paths)?,
    };
    let answer = ask(&state, &who, &id, req).await?;
    relay::audit(
        &state,
        &Actor::of(&who, Some(peer)),
        AuditAction::GitDiscarded,
        &id,
        detail,
    );
    status_of(answer)
}

/// `POST …/git/commit` `{repo, message}`: commits the index, authored by the caller's profile.
pub async fn commit(
    State(state): State<AppState>,
    Approved(who): Approved,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Body(b): Body<CommitBody>,
) -> Result<Json<Committed>, ApiError> {
    let (Some(name), Some(email)) = (who.user.name.clone(), who.user.email.clone()) else {
        return Err(ApiError::ProfileRequired(
            "set your name and email first (PUT /api/v1/auth/me/profile, or the profile form in the git panel); commits are authored with them".into(),
        ));
    };
    if b.message.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "the commit message is empty; say what the change does".into(),
        ));
    }
    let repo = b.repo.clone();
    let req = GitRequest::Commit {
        repo: b.repo,
        message: b.message,
        author: Author { name, email },
    };
    match ask(&state, &who, &id, req).await? {
        GitAnswer::Committed { id: commit } => {
            relay::audit(
                &state,
                &Actor::of(&who, Some(peer)),
                AuditAction::GitCommitted,
                &id,
                format!("{repo}: {commit}"),
            );
            Ok(Json(Committed { id: commit }))
        }
        other => Err(unexpected(&other)),
    }
}

/// Bounds a list of paths before it goes to the node.
fn checked_paths(paths: Vec<String>) -> Result<Vec<String>, ApiError> {
    if paths.is_empty() || paths.len() > 10_000 {
        return Err(ApiError::BadRequest(
            "paths must list 1 to 10000 work-tree-relative paths".into(),
        ));
    }
    Ok(paths)
}

/// Sends one request to a node the caller may use and reads its answer.
async fn ask(
    state: &AppState,
    who: &AuthUser,
    id: &str,
    req: GitRequest,
) -> Result<GitAnswer, ApiError> {
    let node = nodes::visible(state, who, id)?;
    Ok(relay::git(state, &node.id, req).await?)
}

fn status_of(answer: GitAnswer) -> Result<Json<GitStatus>, ApiError> {
    match answer {
        GitAnswer::Status(s) => Ok(Json(s)),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(answer: &GitAnswer) -> ApiError {
    relay::unexpected(answer).into()
}

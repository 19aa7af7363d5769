//! The GitHub repository behind a project, and fetching a run's base from it: a run on a GitHub project
//! starts from GitHub's base as it is when the run starts (and rebases onto it as it is then), not from
//! whatever the node's clone last saw.

use vibebridge_tunnel::git::{GitAnswer, GitRequest};

use super::super::{OpError, relay};
use super::{authed, git_failed};
use crate::state::AppState;
use crate::store::{ConnectedRepo, Project, Run};

/// The project's connected repository, or why the run cannot go to GitHub.
pub fn repo_of(state: &AppState, project: &Project) -> Result<ConnectedRepo, OpError> {
    let id = project.github_repo.ok_or_else(|| {
        OpError::Conflict(format!(
            "project {:?} is not linked to a GitHub repository; create it from a connected repository",
            project.name
        ))
    })?;
    state.store.connected_repo(id)?.ok_or_else(|| {
        OpError::Conflict(
            "the project's GitHub repository was disconnected from the workspace; connect it again"
                .into(),
        )
    })
}

/// Fetches the run's base branch from GitHub into `origin/<base>` on the node, with the token of whoever
/// started the run when they have connected GitHub (a public repository needs none). The start point.
pub async fn fetch_base(
    state: &AppState,
    run: &Run,
    project: &Project,
) -> Result<Option<String>, OpError> {
    let repo = repo_of(state, project)?;
    let credential = match authed(state, run.created_by).await {
        Ok(a) => Some(a.git_credential()),
        Err(OpError::Github {
            code: vibebridge_tunnel::reply::ErrorCode::GithubNotConnected,
            ..
        }) if !repo.private => None,
        Err(e) => return Err(e),
    };
    let remote_ref = format!("refs/remotes/origin/{}", run.base_branch);
    let req = GitRequest::Fetch {
        repo: project.repo_path.clone(),
        url: repo.clone_url.clone(),
        refspecs: vec![format!("+refs/heads/{}:{remote_ref}", run.base_branch)],
        credential,
    };
    match relay::git(state, &run.node_id, req)
        .await
        .map_err(git_failed)?
    {
        GitAnswer::Fetched { .. } => Ok(Some(format!("origin/{}", run.base_branch))),
        other => Err(relay::unexpected(&other)),
    }
}

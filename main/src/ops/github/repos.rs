//! Repositories: the person's GitHub repositories (theirs and their organisations', searched and paged
//! from a list cached for a minute), connecting one to a workspace (workspace admins), making a project
//! of it on a node (a fresh clone into a directory inside the node's roots, or an existing clone whose
//! `origin` is that repository) and importing its open issues as tasks, linked both ways.

use serde::{Deserialize, Serialize};
use vibebridge_tunnel::git::{GitAnswer, GitRequest};

use super::super::projects::NewProject;
use super::super::tasks::NewTask;
use super::super::workspaces::{Access, access};
use super::super::{Actor, OpError, relay};
use super::{authed, failed, git_failed, remote_key};
use crate::github::model::{GhIssue, GhRepo};
use crate::state::AppState;
use crate::store::{
    AuditAction, ConnectedRepo, ConnectedRepoId, IssueLink, Project, ProjectId, User,
    WorkspaceRole, now_ms,
};

/// Pages of 100 read for one person's repository list, at most (10,000 repositories).
const MAX_REPO_PAGES: u32 = 100;
/// Issues imported at once, at most.
const MAX_ISSUES: usize = 1000;
/// Pages of 100 issues and pull requests (GitHub lists both) read for one import, at most.
const MAX_ISSUE_PAGES: u32 = 20;

/// A repository as the picker shows it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct GithubRepo {
    /// GitHub's id (what `POST /github/repos/:id/connect` takes).
    #[ts(type = "number")]
    pub id: u64,
    /// Owner login.
    pub owner: String,
    /// Name.
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    /// Private.
    pub private: bool,
    /// Default branch.
    pub default_branch: String,
    /// Description.
    #[ts(optional)]
    pub description: Option<String>,
    /// Page.
    pub html_url: String,
    /// Last update.
    #[ts(optional)]
    pub updated_at: Option<String>,
}

impl From<&GhRepo> for GithubRepo {
    fn from(r: &GhRepo) -> Self {
        GithubRepo {
            id: r.id,
            owner: r.owner.login.clone(),
            name: r.name.clone(),
            full_name: r.full_name.clone(),
            private: r.private,
            default_branch: r.default_branch.clone(),
            description: r.description.clone(),
            html_url: r.html_url.clone(),
            updated_at: r.updated_at.clone(),
        }
    }
}

/// `GET /github/repos?q=&page=&per_page=`.
#[derive(Debug, Default, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct RepoQuery {
    /// Words that must all appear in `owner/name` or the description.
    #[ts(optional)]
    pub q: Option<String>,
    /// 1-based page (default 1).
    #[ts(optional)]
    pub page: Option<u32>,
    /// Page size, 1–100 (default 30).
    #[ts(optional)]
    pub per_page: Option<u32>,
}

/// One page of repositories.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct RepoPage {
    /// The repositories, most recently updated first.
    pub repos: Vec<GithubRepo>,
    /// This page.
    pub page: u32,
    /// Matching repositories in all.
    pub total: u32,
    /// Another page follows.
    pub has_more: bool,
}

/// `POST /github/repos/:id/connect`.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct ConnectRepo {
    /// The workspace.
    pub workspace_id: String,
}

/// `POST /github/connected/:id/project`: where the repository goes.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct RepoProject {
    /// The node.
    pub node_id: String,
    /// A new directory inside the node's roots to clone into, or (with `link`) an existing clone.
    pub path: String,
    /// Use an existing clone at `path` (its `origin` must be this repository) instead of cloning.
    #[serde(default)]
    #[ts(optional)]
    pub link: Option<bool>,
    /// Display name (default: the repository's name).
    #[ts(optional)]
    pub name: Option<String>,
    /// Base branch (default: the repository's default branch).
    #[ts(optional)]
    pub base_branch: Option<String>,
}

/// `POST /github/connected/:id/import-issues`.
#[derive(Debug, Default, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct ImportIssues {
    /// The project the new tasks belong to.
    #[ts(optional)]
    pub project_id: Option<ProjectId>,
}

/// What an issue import did.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct IssuesImported {
    /// Keys of the tasks created.
    pub created: Vec<String>,
    /// Issues already imported before.
    pub already: u32,
    /// Open issues read.
    pub open: u32,
}

/// The person's repositories matching `query`, a page of them.
pub async fn list(state: &AppState, who: &User, query: RepoQuery) -> Result<RepoPage, OpError> {
    let all = match state.github.cached_repos(who.id) {
        Some(r) => r,
        None => {
            let auth = authed(state, who.id).await?;
            let mut repos = Vec::new();
            for page in 1..=MAX_REPO_PAGES {
                let path = format!(
                    "/user/repos?per_page=100&page={page}&sort=updated&affiliation=owner,collaborator,organization_member"
                );
                let got = state
                    .github
                    .api
                    .page::<GhRepo>(&auth.token, &path)
                    .await
                    .map_err(|e| failed(state, who.id, e))?;
                repos.extend(got.items);
                if !got.has_next {
                    break;
                }
            }
            let repos = std::sync::Arc::new(repos);
            state.github.cache_repos(who.id, Some(repos.clone()));
            repos
        }
    };
    let words: Vec<String> = query
        .q
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let matching: Vec<&GhRepo> = all
        .iter()
        .filter(|r| {
            let text = format!(
                "{} {}",
                r.full_name.to_lowercase(),
                r.description.as_deref().unwrap_or("").to_lowercase()
            );
            words.iter().all(|w| text.contains(w.as_str()))
        })
        .collect();
    let per_page = query.per_page.unwrap_or(30).clamp(1, 100) as usize;
    let page = query.page.unwrap_or(1).max(1);
    let start = (page as usize - 1).saturating_mul(per_page);
    Ok(RepoPage {
        repos: matching
            .iter()
            .skip(start)
            .take(per_page)
            .map(|r| GithubRepo::from(*r))
            .collect(),
        page,
        total: u32::try_from(matching.len()).unwrap_or(u32::MAX),
        has_more: start.saturating_add(per_page) < matching.len(),
    })
}

/// Connects GitHub repository `github_id` (which the person's token can see) to a workspace (admin).
pub async fn connect(
    state: &AppState,
    actor: &Actor,
    who: &User,
    github_id: &str,
    body: ConnectRepo,
) -> Result<ConnectedRepo, OpError> {
    let access = access(state, who, &body.workspace_id)?;
    access.require(WorkspaceRole::Admin, "connect GitHub repositories")?;
    let id: u64 = github_id
        .parse()
        .map_err(|_| OpError::BadRequest(format!("{github_id:?} is not a GitHub repository id")))?;
    let auth = authed(state, who.id).await?;
    let repo: GhRepo = state
        .github
        .api
        .get_fresh(&auth.token, &format!("/repositories/{id}"))
        .await
        .map_err(|e| failed(state, who.id, e))?;
    let connected = ConnectedRepo {
        id: ConnectedRepoId::new(),
        workspace_id: access.ws.id,
        github_id: repo.id,
        owner: repo.owner.login.clone(),
        name: repo.name.clone(),
        full_name: repo.full_name.clone(),
        default_branch: repo.default_branch.clone(),
        private: repo.private,
        html_url: repo.html_url.clone(),
        clone_url: repo.clone_url.clone(),
        connected_by: who.id,
        created_at: now_ms(),
    };
    state.store.connect_repo(&connected)?;
    state.store.audit(
        actor
            .audit(AuditAction::GithubRepoConnected)
            .target(connected.full_name.clone())
            .detail(format!("to workspace {}", access.ws.name)),
    );
    Ok(connected)
}

/// The workspace's connected repositories (any member).
pub fn connected(
    state: &AppState,
    who: &User,
    workspace: &str,
) -> Result<Vec<ConnectedRepo>, OpError> {
    let access = access(state, who, workspace)?;
    Ok(state.store.connected_repos(access.ws.id)?)
}

/// A connected repository of a workspace `who` may read, with their access.
fn visible(state: &AppState, who: &User, id: &str) -> Result<(Access, ConnectedRepo), OpError> {
    let nf = || OpError::NotFound(format!("no connected repository {id}"));
    let repo = ConnectedRepoId::parse(id)
        .map(|i| state.store.connected_repo(i))
        .transpose()?
        .flatten()
        .ok_or_else(nf)?;
    let access = access(state, who, &repo.workspace_id.to_string()).map_err(|_| nf())?;
    Ok((access, repo))
}

/// Disconnects a repository from its workspace (admin); its projects stay, no longer linked to GitHub.
pub fn disconnect(state: &AppState, actor: &Actor, who: &User, id: &str) -> Result<(), OpError> {
    let (access, repo) = visible(state, who, id)?;
    access.require(WorkspaceRole::Admin, "disconnect GitHub repositories")?;
    for project in state.store.projects_of(access.ws.id)? {
        if project.github_repo == Some(repo.id) {
            state.store.update_project(project.id, |p| {
                p.github_repo = None;
                Ok::<_, OpError>(())
            })?;
        }
    }
    state.store.remove_connected_repo(repo.id)?;
    state.store.audit(
        actor
            .audit(AuditAction::GithubRepoDisconnected)
            .target(repo.full_name.clone())
            .detail(format!("from workspace {}", access.ws.name)),
    );
    Ok(())
}

/// Makes a project of a connected repository on a node: clones it into `path` with the person's token
/// (for that one clone; nothing of it stays on the node), or links the existing clone at `path` when its
/// `origin` is the repository. Member allowed on the node.
pub async fn project(
    state: &AppState,
    actor: &Actor,
    who: &User,
    id: &str,
    body: RepoProject,
) -> Result<Project, OpError> {
    let (access, repo) = visible(state, who, id)?;
    access.require(WorkspaceRole::Member, "create projects")?;
    let node = state
        .store
        .node(&body.node_id)?
        .filter(|n| super::super::nodes::user_can_see(who, n))
        .ok_or_else(|| {
            OpError::Forbidden(format!(
                "you are not allowed on node {:?}: ask its owner to add you, or choose another node",
                body.node_id
            ))
        })?;
    if body.link.unwrap_or(false) {
        let remotes = match relay::git(
            state,
            &node.id,
            GitRequest::Remotes {
                repo: body.path.clone(),
            },
        )
        .await?
        {
            GitAnswer::Remotes { remotes } => remotes,
            other => return Err(relay::unexpected(&other)),
        };
        let want = remote_key(&repo.clone_url);
        let origin = remotes.iter().find(|r| r.name == "origin");
        if origin.map(|o| remote_key(&o.url)) != Some(want) {
            return Err(OpError::Conflict(format!(
                "the clone at {} has origin {} — not {}; link a clone of that repository, or clone it afresh",
                body.path,
                origin.map_or("(none)", |o| o.url.as_str()),
                repo.clone_url
            )));
        }
    } else {
        let auth = authed(state, who.id).await;
        let credential = match auth {
            Ok(a) => Some(a.git_credential()),
            Err(e) if repo.private => return Err(e),
            Err(_) => None,
        };
        let req = GitRequest::Clone {
            dest: body.path.clone(),
            url: repo.clone_url.clone(),
            branch: None,
            credential,
        };
        match relay::git(state, &node.id, req).await.map_err(git_failed)? {
            GitAnswer::Status(_) => {}
            other => return Err(relay::unexpected(&other)),
        }
        state.store.audit(
            actor
                .audit(AuditAction::GithubTokenUsed)
                .target(repo.full_name.clone())
                .detail(format!("clone onto {}:{}", node.id, body.path)),
        );
    }
    let new = NewProject {
        name: Some(body.name.unwrap_or_else(|| repo.name.clone())),
        node_id: node.id.clone(),
        repo_path: body.path,
        base_branch: Some(
            body.base_branch
                .unwrap_or_else(|| repo.default_branch.clone()),
        ),
        scripts: None,
        copy_files: None,
        branch_template: None,
        github_repo: Some(repo.id),
    };
    super::super::projects::create(state, actor, who, &access, new).await
}

/// Imports the repository's open issues as tasks (member): each new task says where it came from, and
/// is linked to its issue so a pull request from it says `Fixes #N`. Issues imported before are skipped.
pub async fn import_issues(
    state: &AppState,
    actor: &Actor,
    who: &User,
    id: &str,
    body: ImportIssues,
) -> Result<IssuesImported, OpError> {
    let (access, repo) = visible(state, who, id)?;
    access.require(WorkspaceRole::Member, "import issues")?;
    if let Some(p) = body.project_id {
        super::super::projects::get(state, &access, p)?;
    }
    let _one = state.github.import_lock.lock().await;
    let auth = authed(state, who.id).await?;
    let mut issues = Vec::new();
    for page in 1..=MAX_ISSUE_PAGES {
        let path = format!(
            "/repos/{}/{}/issues?state=open&per_page=100&page={page}&sort=created&direction=asc",
            repo.owner, repo.name
        );
        let got = state
            .github
            .api
            .page::<GhIssue>(&auth.token, &path)
            .await
            .map_err(|e| failed(state, who.id, e))?;
        issues.extend(got.items.into_iter().filter(|i| i.pull_request.is_none()));
        if !got.has_next || issues.len() >= MAX_ISSUES {
            break;
        }
    }
    issues.truncate(MAX_ISSUES);
    let mut created = Vec::new();
    let mut already = 0u32;
    for issue in &issues {
        if state.store.task_of_issue(repo.id, issue.number)?.is_some() {
            already += 1;
            continue;
        }
        let mut title: String = issue.title.trim().chars().take(500).collect();
        if title.is_empty() {
            title = format!("Issue #{}", issue.number);
        }
        let body_text = issue.body.clone().unwrap_or_default();
        let description = format!(
            "{}\n\n---\nImported from {}#{}: {}",
            body_text.trim(),
            repo.full_name,
            issue.number,
            issue.html_url
        );
        let description: String = description.chars().take(60_000).collect();
        let labels: Vec<String> = issue
            .labels
            .iter()
            .map(|l| l.name.chars().take(50).collect::<String>())
            .filter(|l: &String| !l.trim().is_empty())
            .take(20)
            .collect();
        let view = super::super::tasks::create(
            state,
            who,
            &access,
            NewTask {
                title,
                description: Some(description),
                labels: Some(labels),
                project_id: body.project_id,
                ..NewTask::default()
            },
        )?;
        let linked = state.store.link_issue(&IssueLink {
            task_id: view.task.id,
            repo_id: repo.id,
            repo_full_name: repo.full_name.clone(),
            number: issue.number,
            url: issue.html_url.clone(),
        })?;
        if linked {
            created.push(view.key);
        }
    }
    state.store.audit(
        actor
            .audit(AuditAction::GithubIssuesImported)
            .target(repo.full_name.clone())
            .detail(format!(
                "{} tasks created, {already} imported before, into workspace {}",
                created.len(),
                access.ws.name
            )),
    );
    Ok(IssuesImported {
        created,
        already,
        open: u32::try_from(issues.len()).unwrap_or(u32::MAX),
    })
}

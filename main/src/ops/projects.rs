//! Projects: a git repository on a node that a workspace plans work in. Creating one asks the node: the path
//! must be a git work tree with at least one commit, and the base branch one of its branches. Only a user
//! allowed on the node may put a project there; other members read it but cannot run on it.

use serde::Deserialize;
use vibebridge_tunnel::git::{BranchList, GitAnswer, GitRequest, GitStatus};

use super::workspaces::{Access, check_name};
use super::{Actor, OpError, nodes, relay};
use crate::state::AppState;
use crate::store::{AuditAction, Project, ProjectId, ProjectScripts, User, WorkspaceRole, now_ms};

/// The branch template when none is given.
pub const DEFAULT_BRANCH_TEMPLATE: &str = "vb/{key}-{slug}";

/// A new project.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    /// Display name (default: the repository directory's name).
    #[ts(optional)]
    pub name: Option<String>,
    /// The node.
    pub node_id: String,
    /// A directory in the repository's work tree on that node (absolute).
    pub repo_path: String,
    /// The branch runs start from (default: the repository's current branch).
    #[ts(optional)]
    pub base_branch: Option<String>,
    /// Scripts.
    #[serde(default)]
    #[ts(optional)]
    pub scripts: Option<ProjectScripts>,
    /// Globs of untracked files copied into each run's worktree.
    #[serde(default)]
    #[ts(optional)]
    pub copy_files: Option<Vec<String>>,
    /// A run's branch name (default `vb/{key}-{slug}`).
    #[ts(optional)]
    pub branch_template: Option<String>,
    /// The workspace's connected GitHub repository this is a clone of.
    #[ts(optional)]
    pub github_repo: Option<crate::store::ConnectedRepoId>,
}

/// Changes to a project; absent fields stay.
#[derive(Debug, Default, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct ProjectPatch {
    /// Display name.
    #[ts(optional)]
    pub name: Option<String>,
    /// Base branch (checked on the node).
    #[ts(optional)]
    pub base_branch: Option<String>,
    /// Scripts.
    #[ts(optional)]
    pub scripts: Option<ProjectScripts>,
    /// Globs.
    #[ts(optional)]
    pub copy_files: Option<Vec<String>>,
    /// Branch template.
    #[ts(optional)]
    pub branch_template: Option<String>,
}

/// Whether `who` may run agents on `project`'s node.
pub fn can_run(state: &AppState, who: &User, project: &Project) -> bool {
    matches!(state.store.node(&project.node_id), Ok(Some(node)) if nodes::user_can_see(who, &node))
}

/// Refuses `who` unless they may run agents on `project`'s node (what runs, their merges and work trees need).
pub fn require_node(state: &AppState, who: &User, project: &Project) -> Result<(), OpError> {
    if can_run(state, who, project) {
        return Ok(());
    }
    Err(OpError::Forbidden(format!(
        "you may not use node {:?} of project {:?}; ask an admin to add you to the node",
        project.node_id, project.name
    )))
}

/// Creates a project after checking the repository on its node (member, and allowed on the node).
pub async fn create(
    state: &AppState,
    actor: &Actor,
    who: &User,
    access: &Access,
    new: NewProject,
) -> Result<Project, OpError> {
    access.require(WorkspaceRole::Member, "create projects")?;
    let node = state
        .store
        .node(&new.node_id)?
        .filter(|n| nodes::user_can_see(who, n))
        .ok_or_else(|| {
            OpError::Forbidden(format!(
                "you are not allowed on node {:?}: ask its owner to add you, or choose another node",
                new.node_id
            ))
        })?;
    let (status, branches) = inspect(state, &node.id, &new.repo_path).await?;
    let base_branch = match new.base_branch.filter(|b| !b.trim().is_empty()) {
        Some(b) => check_branch(&branches, b.trim())?,
        None => status.branch.clone().ok_or_else(|| {
            OpError::BadRequest(
                "the repository's HEAD is detached; name the base branch (base_branch)".into(),
            )
        })?,
    };
    let default_name = status
        .workdir
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("project")
        .to_string();
    let name = check_name("name", new.name.as_deref().unwrap_or(&default_name), 100)?;
    let template = check_template(new.branch_template.as_deref())?;
    let copy_files = check_globs(new.copy_files.unwrap_or_default())?;
    if let Some(s) = &new.scripts {
        check_scripts(s)?;
    }
    if let Some(repo) = new.github_repo
        && state
            .store
            .connected_repo(repo)?
            .is_none_or(|r| r.workspace_id != access.ws.id)
    {
        return Err(OpError::NotFound(format!(
            "no connected repository {repo} in this workspace; connect it first"
        )));
    }
    let now = now_ms();
    let project = Project {
        id: ProjectId::new(),
        workspace_id: access.ws.id,
        name,
        node_id: node.id.clone(),
        repo_path: status.workdir,
        base_branch,
        scripts: new.scripts.unwrap_or_default(),
        copy_files,
        branch_template: template,
        github_repo: new.github_repo,
        created_by: who.id,
        created_at: now,
        updated_at: now,
    };
    state.store.create_project(&project)?;
    state.store.audit(
        actor
            .audit(AuditAction::ProjectCreated)
            .target(project.id.to_string())
            .detail(format!(
                "{} in workspace {}: {}:{}",
                project.name, access.ws.name, project.node_id, project.repo_path
            )),
    );
    Ok(project)
}

/// A project of the workspace.
pub fn get(state: &AppState, access: &Access, id: ProjectId) -> Result<Project, OpError> {
    state
        .store
        .project(id)?
        .filter(|p| p.workspace_id == access.ws.id)
        .ok_or_else(|| OpError::NotFound(format!("no project {id}")))
}

/// Changes a project (admin, or its creator while still a member); a new base branch is checked on the node.
pub async fn update(
    state: &AppState,
    actor: &Actor,
    who: &User,
    access: &Access,
    project: &Project,
    patch: ProjectPatch,
) -> Result<Project, OpError> {
    may_manage(who, access, project, "change this project")?;
    // What runs on the node (scripts, copied files, branches) is changed only by someone allowed there, as
    // creating the project was.
    let touches_node = patch.base_branch.is_some()
        || patch.scripts.is_some()
        || patch.copy_files.is_some()
        || patch.branch_template.is_some();
    if touches_node && !can_run(state, who, project) {
        return Err(OpError::Forbidden(format!(
            "you are not allowed on node {:?}: only its users change what this project runs there",
            project.node_id
        )));
    }
    if let Some(s) = &patch.scripts {
        check_scripts(s)?;
    }
    let name = patch
        .name
        .map(|n| check_name("name", &n, 100))
        .transpose()?;
    let base = match patch.base_branch {
        Some(b) => {
            let (_, branches) = inspect(state, &project.node_id, &project.repo_path).await?;
            Some(check_branch(&branches, b.trim())?)
        }
        None => None,
    };
    let template = patch
        .branch_template
        .map(|t| check_template(Some(&t)))
        .transpose()?;
    let globs = patch.copy_files.map(check_globs).transpose()?;
    let project = state.store.update_project(project.id, |p| {
        if let Some(n) = name.clone() {
            p.name = n;
        }
        if let Some(b) = base.clone() {
            p.base_branch = b;
        }
        if let Some(s) = patch.scripts.clone() {
            p.scripts = s;
        }
        if let Some(g) = globs.clone() {
            p.copy_files = g;
        }
        if let Some(t) = template.clone() {
            p.branch_template = t;
        }
        Ok::<_, OpError>(())
    })?;
    state.store.audit(
        actor
            .audit(AuditAction::ProjectUpdated)
            .target(project.id.to_string())
            .detail(project.name.clone()),
    );
    Ok(project)
}

/// Deletes a project (admin, or its creator); its tasks stay, without a project.
pub fn delete(
    state: &AppState,
    actor: &Actor,
    who: &User,
    access: &Access,
    project: &Project,
) -> Result<(), OpError> {
    may_manage(who, access, project, "delete this project")?;
    let p = state.store.delete_project(project.id)?;
    state.store.audit(
        actor
            .audit(AuditAction::ProjectDeleted)
            .target(p.id.to_string())
            .detail(format!("{} ({}:{})", p.name, p.node_id, p.repo_path)),
    );
    Ok(())
}

/// The branches of a project's repository, from its node.
pub async fn branches(state: &AppState, project: &Project) -> Result<BranchList, OpError> {
    match relay::git(
        state,
        &project.node_id,
        GitRequest::Branches {
            repo: project.repo_path.clone(),
        },
    )
    .await?
    {
        GitAnswer::Branches(b) => Ok(b),
        other => Err(relay::unexpected(&other)),
    }
}

fn may_manage(who: &User, access: &Access, project: &Project, what: &str) -> Result<(), OpError> {
    if access.is_admin() || (project.created_by == who.id && access.role >= WorkspaceRole::Member) {
        return Ok(());
    }
    access.require(WorkspaceRole::Admin, what)
}

/// The repository's status (work tree, HEAD) and branches, refusing one without commits.
async fn inspect(
    state: &AppState,
    node: &str,
    repo: &str,
) -> Result<(GitStatus, BranchList), OpError> {
    if !repo.starts_with('/') {
        return Err(OpError::BadRequest(format!(
            "repo_path {repo:?} must be an absolute path on the node"
        )));
    }
    let status = match relay::git(state, node, GitRequest::Status { repo: repo.into() }).await? {
        GitAnswer::Status(s) => s,
        other => return Err(relay::unexpected(&other)),
    };
    if status.head.is_none() {
        return Err(OpError::BadRequest(format!(
            "{} has no commits yet; commit something first (runs branch from a commit)",
            status.workdir
        )));
    }
    let branches = match relay::git(state, node, GitRequest::Branches { repo: repo.into() }).await?
    {
        GitAnswer::Branches(b) => b,
        other => return Err(relay::unexpected(&other)),
    };
    Ok((status, branches))
}

fn check_branch(branches: &BranchList, name: &str) -> Result<String, OpError> {
    if branches
        .branches
        .iter()
        .any(|b| !b.remote && b.name == name)
    {
        return Ok(name.to_string());
    }
    let have: Vec<&str> = branches
        .branches
        .iter()
        .filter(|b| !b.remote)
        .map(|b| b.name.as_str())
        .take(10)
        .collect();
    Err(OpError::BadRequest(format!(
        "no local branch {name:?} in the repository; it has: {}",
        have.join(", ")
    )))
}

/// Scripts of at most 64 KiB each.
pub(crate) fn check_scripts(s: &ProjectScripts) -> Result<(), OpError> {
    for (name, text) in [
        ("setup", &s.setup),
        ("cleanup", &s.cleanup),
        ("dev", &s.dev),
    ] {
        if text.len() > 64 * 1024 {
            return Err(OpError::BadRequest(format!(
                "the {name} script is over 64 KiB; put long scripts in the repository and call them"
            )));
        }
    }
    Ok(())
}

pub(crate) fn check_template(t: Option<&str>) -> Result<String, OpError> {
    let t = t.map(str::trim).filter(|t| !t.is_empty());
    let t = t.unwrap_or(DEFAULT_BRANCH_TEMPLATE);
    let sample = t.replace("{key}", "WEB-1").replace("{slug}", "fix-login");
    if !branch_name_ok(&sample) || !t.contains("{key}") {
        return Err(OpError::BadRequest(format!(
            "branch_template {t:?} must contain {{key}} and make a valid git branch name, e.g. {DEFAULT_BRANCH_TEMPLATE}"
        )));
    }
    Ok(t.to_string())
}

/// Whether `b` could name a git branch: 1-200 bytes, no `..`, `//`, `@{`, spaces, control characters or any of
/// `~^:?*[\{}`, not starting with `-`, `/` or `.` and not ending with `/` or `.`.
pub(crate) fn branch_name_ok(b: &str) -> bool {
    !(b.is_empty()
        || b.len() > 200
        || b.starts_with(['-', '/', '.'])
        || b.ends_with(['/', '.'])
        || b.contains("..")
        || b.contains("//")
        || b.contains("@{")
        || b.chars()
            .any(|c| c.is_control() || " ~^:?*[\\{}".contains(c)))
}

pub(crate) fn check_globs(globs: Vec<String>) -> Result<Vec<String>, OpError> {
    if globs.len() > 100 {
        return Err(OpError::BadRequest(
            "copy_files takes at most 100 globs".into(),
        ));
    }
    for g in &globs {
        if g.is_empty() || g.len() > 500 || g.starts_with('/') || g.split('/').any(|c| c == "..") {
            return Err(OpError::BadRequest(format!(
                "copy_files glob {g:?} must be a relative pattern inside the repository (e.g. .env)"
            )));
        }
    }
    Ok(globs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves branch templates need `{key}` and must make valid git branch names.
    #[test]
    fn branch_templates_are_checked() {
        assert_eq!(check_template(None).unwrap(), DEFAULT_BRANCH_TEMPLATE);
        assert_eq!(check_template(Some("agent/{key}")).unwrap(), "agent/{key}");
        assert!(check_template(Some("agent/{slug}")).is_err());
        assert!(check_template(Some("a b/{key}")).is_err());
        assert!(check_template(Some("../{key}")).is_err());
    }
}

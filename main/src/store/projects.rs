//! Projects: a git repository on a node that a workspace plans work in. `projects` holds id → [`Project`];
//! a workspace has tens of projects, so listing one workspace's scans them all.

use serde::{Deserialize, Serialize};

use super::workspaces::{WorkspaceId, uuid_id};
use super::{Change, Store, StoreError, UserId, decode, encode, now_ms};

uuid_id!(
    /// A project id (UUIDv7).
    ProjectId
);

/// What a project's runs do around the agent (used by task runs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct ProjectScripts {
    /// Run in a new worktree before the agent starts (install dependencies…).
    pub setup: String,
    /// Run when a run ends.
    pub cleanup: String,
    /// Starts the project's dev server.
    pub dev: String,
}

/// A stored project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Project {
    /// Id.
    pub id: ProjectId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Display name.
    pub name: String,
    /// The node the repository is on.
    pub node_id: String,
    /// The repository's work tree on that node (absolute, inside the node's roots).
    pub repo_path: String,
    /// The branch runs start from and merge into.
    pub base_branch: String,
    /// Scripts.
    #[serde(default)]
    pub scripts: ProjectScripts,
    /// Globs of untracked files copied into each run's worktree (e.g. `.env`).
    #[serde(default)]
    pub copy_files: Vec<String>,
    /// A run's branch name; `{key}` and `{slug}` are replaced (default `vb/{key}-{slug}`).
    pub branch_template: String,
    /// The GitHub repository it is a clone of: runs fetch the base from it first, and push and open pull
    /// requests there.
    #[serde(default)]
    #[ts(optional)]
    pub github_repo: Option<super::ConnectedRepoId>,
    /// Who created it.
    #[ts(type = "string")]
    pub created_by: UserId,
    /// When, ms since epoch.
    pub created_at: u64,
    /// Last change, ms since epoch.
    pub updated_at: u64,
}

impl Store {
    /// Stores a new project.
    pub fn create_project(&self, project: &Project) -> Result<(), StoreError> {
        self.atomic(|| {
            if self.workspace(project.workspace_id)?.is_none() {
                return Err(StoreError::NotFound(format!(
                    "workspace {}",
                    project.workspace_id
                )));
            }
            self.projects.insert(project.id.bytes(), encode(project))?;
            self.durable()?;
            self.changed(Change::Project {
                workspace_id: project.workspace_id,
            });
            Ok(())
        })
    }

    /// A project by id.
    pub fn project(&self, id: ProjectId) -> Result<Option<Project>, StoreError> {
        self.projects
            .get(id.bytes())?
            .map(|v| decode("projects", &v))
            .transpose()
    }

    /// A workspace's projects, by name.
    pub fn projects_of(&self, ws: WorkspaceId) -> Result<Vec<Project>, StoreError> {
        let mut out = Vec::new();
        for v in self.projects.iter().values() {
            let p: Project = decode("projects", &v?)?;
            if p.workspace_id == ws {
                out.push(p);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The workspaces with a project on node `node_id`.
    pub fn workspaces_with_projects_on(
        &self,
        node_id: &str,
    ) -> Result<Vec<WorkspaceId>, StoreError> {
        let mut out = Vec::new();
        for v in self.projects.iter().values() {
            let p: Project = decode("projects", &v?)?;
            if p.node_id == node_id && !out.contains(&p.workspace_id) {
                out.push(p.workspace_id);
            }
        }
        Ok(out)
    }

    /// Changes a project under the store's lock; `change` may refuse.
    pub fn update_project<E: From<StoreError>>(
        &self,
        id: ProjectId,
        mut change: impl FnMut(&mut Project) -> Result<(), E>,
    ) -> Result<Project, E> {
        self.atomic(|| {
            let mut p = self
                .project(id)?
                .ok_or_else(|| StoreError::NotFound(format!("project {id}")))?;
            change(&mut p)?;
            p.updated_at = now_ms();
            self.projects
                .insert(id.bytes(), encode(&p))
                .map_err(StoreError::from)?;
            self.durable().map_err(StoreError::from)?;
            self.changed(Change::Project {
                workspace_id: p.workspace_id,
            });
            Ok(p)
        })
    }

    /// Deletes a project; its tasks stay, without a project.
    pub fn delete_project(&self, id: ProjectId) -> Result<Project, StoreError> {
        self.atomic(|| {
            let p = self
                .project(id)?
                .ok_or_else(|| StoreError::NotFound(format!("project {id}")))?;
            for task_id in self.task_ids_of(p.workspace_id)? {
                if let Some(mut task) = self.task(task_id)?
                    && task.project_id == Some(id)
                {
                    task.project_id = None;
                    self.tasks.insert(task_id.bytes(), encode(&task))?;
                }
            }
            self.projects.remove(id.bytes())?;
            self.durable()?;
            self.changed(Change::Project {
                workspace_id: p.workspace_id,
            });
            Ok(p)
        })
    }
}

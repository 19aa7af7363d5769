//! GitHub: people's connections (`gh_connections`: user id → [`GithubConnection`], tokens sealed), OAuth
//! web-flow states waiting for their callback (`gh_oauth_states`), repositories connected to workspaces
//! (`gh_repos` with the unique index `gh_repo_names`: workspace ‖ lower-case `owner/name` → id), issues
//! imported as tasks (`issue_links`: task → [`IssueLink`], `repo_issues`:
//! repository ‖ number → task) and webhook deliveries already handled (`gh_deliveries`: delivery id → when).
//!
//! Tokens are stored only sealed (`crate::secrets`); nothing here ever holds one in the clear.

use serde::{Deserialize, Serialize};

use super::workspaces::{WorkspaceId, uuid_id};
use super::{Change, Store, StoreError, TaskId, UserId, decode, encode, now_ms};

uuid_id!(
    /// A connected repository's id (UUIDv7).
    ConnectedRepoId
);
/// How a connection was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionKind {
    /// OAuth web flow.
    Oauth,
    /// OAuth device flow.
    Device,
    /// A pasted personal access token.
    Token,
}

/// Whether a connection's token still works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionHealth {
    /// Last seen working.
    Ok,
    /// GitHub refused it, or it expired without a way to refresh: the person must reconnect.
    Reconnect {
        /// Why.
        reason: String,
    },
}

/// A person's GitHub connection as stored: tokens sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubConnection {
    /// Whose.
    pub user_id: UserId,
    /// GitHub's numeric user id.
    pub github_user_id: u64,
    /// GitHub login.
    pub login: String,
    /// How it was made.
    pub kind: ConnectionKind,
    /// The access token, sealed (context [`GithubConnection::access_context`]).
    pub access_token: String,
    /// The refresh token, sealed, for expiring tokens.
    pub refresh_token: Option<String>,
    /// When the access token expires (ms), if it does.
    pub expires_at: Option<u64>,
    /// When the refresh token expires (ms).
    pub refresh_expires_at: Option<u64>,
    /// Granted scopes (empty for fine-grained tokens, which have none).
    pub scopes: Vec<String>,
    /// Working or not.
    pub health: ConnectionHealth,
    /// GitHub's rate limit for this token is spent until then (ms).
    pub rate_limited_until: Option<u64>,
    /// Connected at.
    pub created_at: u64,
    /// Last change.
    pub updated_at: u64,
}

impl GithubConnection {
    /// The sealing context of a user's access token.
    pub fn access_context(user: UserId) -> String {
        format!("github.access_token:{user}")
    }

    /// The sealing context of a user's refresh token.
    pub fn refresh_context(user: UserId) -> String {
        format!("github.refresh_token:{user}")
    }
}

/// A web flow waiting for its callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthState {
    /// Who started it.
    pub user_id: UserId,
    /// The PKCE verifier, sealed (context `github.pkce:<state>`).
    pub verifier: String,
    /// The redirect URI sent (the exchange must repeat it).
    pub redirect_uri: String,
    /// SHA-256 (hex) of the nonce in the starting browser's `vb_github_oauth` cookie: the callback must
    /// come back to that browser.
    pub browser: String,
    /// Started at (ms); states live ten minutes.
    pub created_at: u64,
}

/// How long a web flow may take.
pub const OAUTH_STATE_TTL_MS: u64 = 10 * 60 * 1000;

/// A repository connected to a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ConnectedRepo {
    /// Id.
    pub id: ConnectedRepoId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// GitHub's repository id.
    #[ts(type = "number")]
    pub github_id: u64,
    /// Owner login.
    pub owner: String,
    /// Name.
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    /// Default branch.
    pub default_branch: String,
    /// Private.
    pub private: bool,
    /// Web page.
    pub html_url: String,
    /// HTTPS clone URL.
    pub clone_url: String,
    /// Who connected it.
    #[ts(type = "string")]
    pub connected_by: UserId,
    /// When (ms).
    #[ts(type = "number")]
    pub created_at: u64,
}

/// A task imported from a GitHub issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct IssueLink {
    /// The task.
    pub task_id: TaskId,
    /// The repository.
    pub repo_id: ConnectedRepoId,
    /// `owner/name`.
    pub repo_full_name: String,
    /// Issue number.
    #[ts(type = "number")]
    pub number: u64,
    /// Issue page.
    pub url: String,
}

/// Webhook delivery ids are remembered this long (GitHub redelivers within days).
const DELIVERY_TTL_MS: u64 = 7 * 24 * 3600 * 1000;

fn repo_name_key(workspace: WorkspaceId, full_name: &str) -> Vec<u8> {
    let mut k = workspace.bytes().to_vec();
    k.extend_from_slice(full_name.to_ascii_lowercase().as_bytes());
    k
}

pub(super) fn number_key(repo: ConnectedRepoId, number: u64) -> Vec<u8> {
    let mut k = repo.bytes().to_vec();
    k.extend_from_slice(&number.to_be_bytes());
    k
}

pub(super) fn uuid_of(bytes: &[u8]) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::from_slice(bytes).map_err(|e| StoreError::Invalid(e.to_string()))
}

impl Store {
    /// Stores (creates or replaces) a person's connection.
    pub fn put_github_connection(&self, c: &GithubConnection) -> Result<(), StoreError> {
        self.atomic(|| self.write_github_connection(c))
    }

    fn write_github_connection(&self, c: &GithubConnection) -> Result<(), StoreError> {
        self.gh_connections
            .insert(c.user_id.0.as_bytes(), encode(c))?;
        self.durable()?;
        self.changed(Change::Github(c.user_id));
        Ok(())
    }

    /// Tells the person's live connections that their GitHub state changed (a device flow moved on).
    pub fn notify_github(&self, user: UserId) {
        self.changed(Change::Github(user));
    }

    /// A person's connection.
    pub fn github_connection(&self, user: UserId) -> Result<Option<GithubConnection>, StoreError> {
        self.gh_connections
            .get(user.0.as_bytes())?
            .map(|v| decode("gh_connections", &v))
            .transpose()
    }

    /// Changes a connection under the store's lock (a refresh racing a disconnect must not resurrect it).
    pub fn update_github_connection(
        &self,
        user: UserId,
        mut change: impl FnMut(&mut GithubConnection),
    ) -> Result<Option<GithubConnection>, StoreError> {
        self.atomic(|| {
            let Some(mut c) = self.github_connection(user)? else {
                return Ok(None);
            };
            let old = c.clone();
            change(&mut c);
            if c != old {
                c.updated_at = now_ms();
                self.write_github_connection(&c)?;
            }
            Ok(Some(c))
        })
    }

    /// Removes a person's connection; the removed record.
    pub fn delete_github_connection(
        &self,
        user: UserId,
    ) -> Result<Option<GithubConnection>, StoreError> {
        self.atomic(|| {
            let old = self
                .gh_connections
                .remove(user.0.as_bytes())?
                .map(|v| decode("gh_connections", &v))
                .transpose()?;
            self.durable()?;
            self.changed(Change::Github(user));
            Ok(old)
        })
    }

    /// Every connection (key rotation).
    pub fn github_connections(&self) -> Result<Vec<GithubConnection>, StoreError> {
        self.gh_connections
            .iter()
            .values()
            .map(|v| decode("gh_connections", &v?))
            .collect()
    }

    /// Remembers a web flow's state until its callback; drops expired ones.
    pub fn put_oauth_state(&self, state: &str, record: &OAuthState) -> Result<(), StoreError> {
        let now = now_ms();
        for item in self.gh_oauth_states.iter() {
            let (k, v) = item?;
            let old: OAuthState = decode("gh_oauth_states", &v)?;
            if now.saturating_sub(old.created_at) > OAUTH_STATE_TTL_MS {
                self.gh_oauth_states.remove(k)?;
            }
        }
        self.gh_oauth_states.insert(state, encode(record))?;
        self.durable()?;
        Ok(())
    }

    /// Forgets every web flow in progress (their verifiers were sealed with a key being retired).
    pub fn clear_oauth_states(&self) -> Result<(), StoreError> {
        for key in self.gh_oauth_states.iter().keys() {
            self.gh_oauth_states.remove(key?)?;
        }
        self.durable()?;
        Ok(())
    }

    /// Takes a web flow's state: it is gone afterwards, so a callback works once. Expired: `None`.
    pub fn take_oauth_state(&self, state: &str) -> Result<Option<OAuthState>, StoreError> {
        let Some(v) = self.gh_oauth_states.remove(state)? else {
            return Ok(None);
        };
        let record: OAuthState = decode("gh_oauth_states", &v)?;
        Ok((now_ms().saturating_sub(record.created_at) <= OAUTH_STATE_TTL_MS).then_some(record))
    }

    /// Connects a repository to its workspace; `Conflict` when the workspace has it already.
    pub fn connect_repo(&self, repo: &ConnectedRepo) -> Result<(), StoreError> {
        self.atomic(|| {
            let key = repo_name_key(repo.workspace_id, &repo.full_name);
            if self.gh_repo_names.get(&key)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "{} in this workspace",
                    repo.full_name
                )));
            }
            self.gh_repos.insert(repo.id.bytes(), encode(repo))?;
            self.gh_repo_names.insert(key, repo.id.bytes())?;
            self.durable()?;
            self.changed(Change::Project {
                workspace_id: repo.workspace_id,
            });
            Ok(())
        })
    }

    /// A connected repository.
    pub fn connected_repo(&self, id: ConnectedRepoId) -> Result<Option<ConnectedRepo>, StoreError> {
        self.gh_repos
            .get(id.bytes())?
            .map(|v| decode("gh_repos", &v))
            .transpose()
    }

    /// A workspace's connected repositories, by name.
    pub fn connected_repos(&self, ws: WorkspaceId) -> Result<Vec<ConnectedRepo>, StoreError> {
        let mut out = Vec::new();
        for id in self.gh_repo_names.scan_prefix(ws.bytes()).values() {
            if let Some(r) = self.connected_repo(ConnectedRepoId(uuid_of(&id?)?))? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Disconnects a repository from its workspace (its projects stay, unlinked from GitHub by the caller).
    pub fn remove_connected_repo(&self, id: ConnectedRepoId) -> Result<(), StoreError> {
        self.atomic(|| {
            if let Some(repo) = self.connected_repo(id)? {
                self.gh_repo_names
                    .remove(repo_name_key(repo.workspace_id, &repo.full_name))?;
                self.gh_repos.remove(id.bytes())?;
                self.durable()?;
                self.changed(Change::Project {
                    workspace_id: repo.workspace_id,
                });
            }
            Ok(())
        })
    }

    /// Links a task to the issue it was imported from; `false` when the issue is linked already.
    pub fn link_issue(&self, link: &IssueLink) -> Result<bool, StoreError> {
        self.atomic(|| {
            let key = number_key(link.repo_id, link.number);
            if self.repo_issues.get(&key)?.is_some() {
                return Ok(false);
            }
            self.repo_issues.insert(key, link.task_id.bytes())?;
            self.issue_links
                .insert(link.task_id.bytes(), encode(link))?;
            self.durable()?;
            Ok(true)
        })
    }

    /// The issue a task came from.
    pub fn issue_of_task(&self, task: TaskId) -> Result<Option<IssueLink>, StoreError> {
        self.issue_links
            .get(task.bytes())?
            .map(|v| decode("issue_links", &v))
            .transpose()
    }

    /// Each task's issue link, in one read.
    pub fn issues_of_tasks(&self, tasks: &[TaskId]) -> Result<Vec<Option<IssueLink>>, StoreError> {
        let keys: Vec<Vec<u8>> = tasks.iter().map(|t| t.bytes().to_vec()).collect();
        self.issue_links
            .get_many(&keys)?
            .into_iter()
            .map(|v| v.map(|v| decode("issue_links", &v)).transpose())
            .collect()
    }

    /// The task an issue became.
    pub fn task_of_issue(
        &self,
        repo: ConnectedRepoId,
        number: u64,
    ) -> Result<Option<TaskId>, StoreError> {
        match self.repo_issues.get(number_key(repo, number))? {
            Some(id) => Ok(Some(TaskId(uuid_of(&id)?))),
            None => Ok(None),
        }
    }

    /// Records a webhook delivery id; `false` when it was seen before (a replay). Forgets ids older than
    /// a week.
    pub fn note_delivery(&self, id: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        let fresh = self
            .gh_deliveries
            .compare_and_swap(id, None, Some(&now.to_be_bytes()[..]))?;
        if fresh {
            for item in self.gh_deliveries.iter() {
                let (k, v) = item?;
                let at = <[u8; 8]>::try_from(v.as_slice())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                if now.saturating_sub(at) > DELIVERY_TTL_MS {
                    self.gh_deliveries.remove(k)?;
                }
            }
            self.durable()?;
        }
        Ok(fresh)
    }
}

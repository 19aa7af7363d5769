//! GitHub: people's connections (`gh_connections`: user id → [`GithubConnection`], tokens sealed), OAuth
//! web-flow states waiting for their callback (`gh_oauth_states`), repositories connected to workspaces
//! (`gh_repos` with the unique index `gh_repo_names`: workspace ‖ lower-case `owner/name` → id), pull
//! requests opened from runs (`pull_requests`, indexed by run in `run_pulls` and by repository and number
//! in `pull_numbers`), issues imported as tasks (`issue_links`: task → [`IssueLink`], `repo_issues`:
//! repository ‖ number → task) and webhook deliveries already handled (`gh_deliveries`: delivery id → when).
//!
//! Tokens are stored only sealed (`crate::secrets`); nothing here ever holds one in the clear.

use serde::{Deserialize, Serialize};

use super::workspaces::{WorkspaceId, uuid_id};
use super::{Change, RunId, Store, StoreError, TaskId, UserId, decode, encode, now_ms};

uuid_id!(
    /// A connected repository's id (UUIDv7).
    ConnectedRepoId
);
uuid_id!(
    /// A pull request record's id (UUIDv7).
    PullRequestId
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

/// A pull request's state on GitHub.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum PrState {
    /// Open.
    #[default]
    Open,
    /// Open as a draft.
    Draft,
    /// Merged.
    Merged,
    /// Closed without merging.
    Closed,
}

/// The checks of the head commit, summed up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ChecksState {
    /// No checks.
    #[default]
    None,
    /// Some still running.
    Pending,
    /// All passed (or neutral, skipped).
    Success,
    /// At least one failed.
    Failure,
}

/// A check that did not pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct FailedCheck {
    /// Its name.
    pub name: String,
    /// `failure`, `timed_out`, `cancelled`, `action_required`.
    pub conclusion: String,
    /// Title and summary of its output, shortened.
    pub summary: String,
    /// Its page.
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The head commit's checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ChecksSummary {
    /// Overall.
    pub state: ChecksState,
    /// Passed.
    pub passed: u32,
    /// Failed.
    pub failed: u32,
    /// Still running.
    pub pending: u32,
    /// The failed ones.
    pub failing: Vec<FailedCheck>,
}

/// What reviewers decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    /// No review yet.
    #[default]
    None,
    /// Reviews with comments only.
    Commented,
    /// Changes requested (by anyone whose latest review says so).
    ChangesRequested,
    /// Approved, with no outstanding request for changes.
    Approved,
}

/// The conditional-request tags of a pull request's last poll.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrTags {
    /// `GET /pulls/:n`.
    pub pull: Option<String>,
    /// `GET /commits/:sha/check-runs`.
    pub checks: Option<String>,
    /// The sha the checks tag belongs to.
    pub checks_sha: Option<String>,
    /// `GET /commits/:sha/status` (commit statuses), for `checks_sha` too.
    #[serde(default)]
    pub status: Option<String>,
    /// `GET /pulls/:n/reviews`.
    pub reviews: Option<String>,
    /// `GET /pulls/:n/comments`.
    pub comments: Option<String>,
    /// The newest review with something to address (changes requested, or a comment with text).
    #[serde(default)]
    pub newest_review: u64,
    /// The newest line comment.
    #[serde(default)]
    pub newest_comment: u64,
}

/// A pull request opened from a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct PullRequest {
    /// Id.
    pub id: PullRequestId,
    /// Workspace.
    pub workspace_id: WorkspaceId,
    /// Task.
    pub task_id: TaskId,
    /// Run.
    pub run_id: RunId,
    /// Repository.
    pub repo_id: ConnectedRepoId,
    /// `owner/name`.
    pub repo_full_name: String,
    /// Number.
    #[ts(type = "number")]
    pub number: u64,
    /// Page.
    pub url: String,
    /// Title.
    pub title: String,
    /// Head branch.
    pub head_branch: String,
    /// Base branch.
    pub base_branch: String,
    /// Head commit.
    pub head_sha: String,
    /// State.
    pub state: PrState,
    /// Checks of the head commit.
    pub checks: ChecksSummary,
    /// Reviews.
    pub review: ReviewDecision,
    /// Line comments from reviewers.
    pub review_comments: u32,
    /// Review comments and failed checks go to the run's agent by themselves.
    pub autofix: bool,
    /// Rounds sent to the agent (by hand or by auto-fix).
    pub rounds: u32,
    /// The newest review comment id already sent to the agent.
    #[ts(type = "number")]
    pub sent_comment: u64,
    /// The newest review id already sent.
    #[ts(type = "number")]
    pub sent_review: u64,
    /// The head commit whose failed checks were sent.
    #[ts(optional)]
    pub sent_checks_sha: Option<String>,
    /// Who opened it (whose token follows it).
    #[ts(type = "string")]
    pub created_by: UserId,
    /// Why following it is paused (rate limit, reconnect), if it is.
    #[ts(optional)]
    pub note: Option<String>,
    /// Last checked (ms).
    #[ts(optional, type = "number")]
    pub polled_at: Option<u64>,
    /// When merged (ms).
    #[ts(optional, type = "number")]
    pub merged_at: Option<u64>,
    /// Created (ms).
    #[ts(type = "number")]
    pub created_at: u64,
    /// Last change (ms).
    #[ts(type = "number")]
    pub updated_at: u64,
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

fn number_key(repo: ConnectedRepoId, number: u64) -> Vec<u8> {
    let mut k = repo.bytes().to_vec();
    k.extend_from_slice(&number.to_be_bytes());
    k
}

fn uuid_of(bytes: &[u8]) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::from_slice(bytes).map_err(|e| StoreError::Invalid(e.to_string()))
}

impl Store {
    /// Stores (creates or replaces) a person's connection.
    pub fn put_github_connection(&self, c: &GithubConnection) -> Result<(), StoreError> {
        let _guard = self.lock();
        self.write_github_connection(c)
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
        change: impl FnOnce(&mut GithubConnection),
    ) -> Result<Option<GithubConnection>, StoreError> {
        let _guard = self.lock();
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
    }

    /// Removes a person's connection; the removed record.
    pub fn delete_github_connection(
        &self,
        user: UserId,
    ) -> Result<Option<GithubConnection>, StoreError> {
        let _guard = self.lock();
        let old = self
            .gh_connections
            .remove(user.0.as_bytes())?
            .map(|v| decode("gh_connections", &v))
            .transpose()?;
        self.durable()?;
        self.changed(Change::Github(user));
        Ok(old)
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
        self.gh_oauth_states.clear()?;
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
        let _guard = self.lock();
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
        let _guard = self.lock();
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
    }

    /// Stores a new pull request record; `Conflict` when its run has one already.
    pub fn create_pull_request(&self, pr: &PullRequest) -> Result<(), StoreError> {
        let _guard = self.lock();
        if self.run_pulls.get(pr.run_id.bytes())?.is_some() {
            return Err(StoreError::Conflict("a pull request for this run".into()));
        }
        self.pull_requests.insert(pr.id.bytes(), encode(pr))?;
        self.run_pulls.insert(pr.run_id.bytes(), pr.id.bytes())?;
        self.pull_numbers
            .insert(number_key(pr.repo_id, pr.number), pr.id.bytes())?;
        self.durable()?;
        self.changed(Change::PullRequest(std::sync::Arc::new(pr.clone())));
        Ok(())
    }

    /// A pull request record.
    pub fn pull_request(&self, id: PullRequestId) -> Result<Option<PullRequest>, StoreError> {
        self.pull_requests
            .get(id.bytes())?
            .map(|v| decode("pull_requests", &v))
            .transpose()
    }

    /// A run's pull request.
    pub fn pull_request_of_run(&self, run: RunId) -> Result<Option<PullRequest>, StoreError> {
        match self.run_pulls.get(run.bytes())? {
            Some(id) => self.pull_request(PullRequestId(uuid_of(&id)?)),
            None => Ok(None),
        }
    }

    /// The record of a repository's pull request number.
    pub fn pull_request_by_number(
        &self,
        repo: ConnectedRepoId,
        number: u64,
    ) -> Result<Option<PullRequest>, StoreError> {
        match self.pull_numbers.get(number_key(repo, number))? {
            Some(id) => self.pull_request(PullRequestId(uuid_of(&id)?)),
            None => Ok(None),
        }
    }

    /// Pull requests that are still open (the poller's list).
    pub fn open_pull_requests(&self) -> Result<Vec<PullRequest>, StoreError> {
        let mut out = Vec::new();
        for v in self.pull_requests.iter().values() {
            let pr: PullRequest = decode("pull_requests", &v?)?;
            if matches!(pr.state, PrState::Open | PrState::Draft) {
                out.push(pr);
            }
        }
        Ok(out)
    }

    /// Changes a pull request record under the store's lock; published when anything but its tags and
    /// poll time changed.
    pub fn update_pull_request(
        &self,
        id: PullRequestId,
        change: impl FnOnce(&mut PullRequest),
    ) -> Result<PullRequest, StoreError> {
        let _guard = self.lock();
        let old = self
            .pull_request(id)?
            .ok_or_else(|| StoreError::NotFound(format!("pull request {id}")))?;
        let mut pr = old.clone();
        change(&mut pr);
        if pr == old {
            return Ok(pr);
        }
        let quiet = |p: &PullRequest| PullRequest {
            polled_at: None,
            updated_at: 0,
            ..p.clone()
        };
        let news = quiet(&pr) != quiet(&old);
        if news {
            pr.updated_at = now_ms();
        }
        self.pull_requests.insert(pr.id.bytes(), encode(&pr))?;
        if news {
            self.durable()?;
            self.changed(Change::PullRequest(std::sync::Arc::new(pr.clone())));
        }
        Ok(pr)
    }

    /// A pull request's conditional-request tags (internal to following it; never in an API answer).
    pub fn pull_request_tags(&self, id: PullRequestId) -> Result<PrTags, StoreError> {
        Ok(self
            .pull_tags
            .get(id.bytes())?
            .map(|v| decode("pull_tags", &v))
            .transpose()?
            .unwrap_or_default())
    }

    /// Stores a pull request's tags (not flushed at once: losing them costs one unconditional poll).
    pub fn set_pull_request_tags(
        &self,
        id: PullRequestId,
        tags: &PrTags,
    ) -> Result<(), StoreError> {
        self.pull_tags.insert(id.bytes(), encode(tags))?;
        Ok(())
    }

    /// Links a task to the issue it was imported from; `false` when the issue is linked already.
    pub fn link_issue(&self, link: &IssueLink) -> Result<bool, StoreError> {
        let _guard = self.lock();
        let key = number_key(link.repo_id, link.number);
        if self.repo_issues.get(&key)?.is_some() {
            return Ok(false);
        }
        self.repo_issues.insert(key, link.task_id.bytes())?;
        self.issue_links
            .insert(link.task_id.bytes(), encode(link))?;
        self.durable()?;
        Ok(true)
    }

    /// The issue a task came from.
    pub fn issue_of_task(&self, task: TaskId) -> Result<Option<IssueLink>, StoreError> {
        self.issue_links
            .get(task.bytes())?
            .map(|v| decode("issue_links", &v))
            .transpose()
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
            .compare_and_swap(id, None as Option<&[u8]>, Some(&now.to_be_bytes()[..]))?
            .is_ok();
        if fresh {
            for item in self.gh_deliveries.iter() {
                let (k, v) = item?;
                let at = <[u8; 8]>::try_from(v.as_ref())
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

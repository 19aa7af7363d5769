//! Pull requests opened from runs: `pull_requests` (id → [`PullRequest`]), indexed by run in `run_pulls` and
//! by repository and number in `pull_numbers`, and each one's conditional-request tags in `pull_tags` (kept
//! apart, so a poll that changes nothing rewrites only them and no API answer ever carries them).

use serde::{Deserialize, Serialize};

use super::github::{ConnectedRepoId, number_key, uuid_of};
use super::workspaces::{WorkspaceId, uuid_id};
use super::{Change, RunId, Store, StoreError, TaskId, UserId, decode, encode, now_ms};

uuid_id!(
    /// A pull request record's id (UUIDv7).
    PullRequestId
);

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

impl Store {
    /// Stores a new pull request record; `Conflict` when its run has one already.
    pub fn create_pull_request(&self, pr: &PullRequest) -> Result<(), StoreError> {
        self.atomic(|| {
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
        })
    }

    /// A pull request record.
    pub fn pull_request(&self, id: PullRequestId) -> Result<Option<PullRequest>, StoreError> {
        self.pull_requests
            .get(id.bytes())?
            .map(|v| decode("pull_requests", &v))
            .transpose()
    }

    /// Each run's pull request, in two reads whatever the number of runs.
    pub fn pull_requests_of_runs(
        &self,
        runs: &[RunId],
    ) -> Result<Vec<Option<PullRequest>>, StoreError> {
        let keys: Vec<Vec<u8>> = runs.iter().map(|r| r.bytes().to_vec()).collect();
        let links = self.run_pulls.get_many(&keys)?;
        let ids: Vec<Vec<u8>> = links.iter().flatten().cloned().collect();
        let mut prs = self.pull_requests.get_many(&ids)?.into_iter();
        links
            .into_iter()
            .map(|link| match link {
                Some(_) => prs
                    .next()
                    .flatten()
                    .map(|v| decode("pull_requests", &v))
                    .transpose(),
                None => Ok(None),
            })
            .collect()
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
        mut change: impl FnMut(&mut PullRequest),
    ) -> Result<PullRequest, StoreError> {
        self.atomic(|| {
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
        })
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
}

//! The parts of GitHub's JSON main reads. Unknown fields are ignored (GitHub adds them freely); missing
//! optional ones default.

use serde::Deserialize;

/// `GET /user`.
#[derive(Debug, Clone, Deserialize)]
pub struct GhUser {
    /// Numeric id (stable across renames).
    pub id: u64,
    /// Login.
    pub login: String,
}

/// An account that owns repositories.
#[derive(Debug, Clone, Deserialize)]
pub struct GhOwner {
    /// Login.
    pub login: String,
}

/// A repository.
#[derive(Debug, Clone, Deserialize)]
pub struct GhRepo {
    /// Numeric id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    /// Owner.
    pub owner: GhOwner,
    /// Private or internal.
    #[serde(default)]
    pub private: bool,
    /// Default branch.
    #[serde(default = "main_branch")]
    pub default_branch: String,
    /// Web page.
    pub html_url: String,
    /// HTTPS clone URL.
    pub clone_url: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Last update (RFC 3339).
    #[serde(default)]
    pub updated_at: Option<String>,
}

fn main_branch() -> String {
    "main".into()
}

/// A branch or commit end of a pull request.
#[derive(Debug, Clone, Deserialize)]
pub struct GhRef {
    /// Branch name.
    #[serde(rename = "ref")]
    pub branch: String,
    /// Commit.
    pub sha: String,
}

/// A pull request.
#[derive(Debug, Clone, Deserialize)]
pub struct GhPull {
    /// Number.
    pub number: u64,
    /// Web page.
    pub html_url: String,
    /// `open` or `closed`.
    pub state: String,
    /// Draft.
    #[serde(default)]
    pub draft: bool,
    /// Merged (absent in listings).
    #[serde(default)]
    pub merged: Option<bool>,
    /// When merged.
    #[serde(default)]
    pub merged_at: Option<String>,
    /// The merge commit, once merged.
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    /// Title.
    pub title: String,
    /// Head.
    pub head: GhRef,
    /// Base.
    pub base: GhRef,
}

/// A submitted review.
#[derive(Debug, Clone, Deserialize)]
pub struct GhReview {
    /// Id.
    pub id: u64,
    /// Reviewer.
    pub user: Option<GhOwner>,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`, `PENDING`.
    pub state: String,
    /// Summary text.
    #[serde(default)]
    pub body: Option<String>,
}

/// A line comment of a review.
#[derive(Debug, Clone, Deserialize)]
pub struct GhReviewComment {
    /// Id.
    pub id: u64,
    /// Author.
    pub user: Option<GhOwner>,
    /// File.
    pub path: String,
    /// Line in the new version (absent when outdated).
    #[serde(default)]
    pub line: Option<u64>,
    /// Line when written.
    #[serde(default)]
    pub original_line: Option<u64>,
    /// Text.
    pub body: String,
    /// A reply to this comment.
    #[serde(default)]
    pub in_reply_to_id: Option<u64>,
}

/// `GET …/check-runs`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GhCheckRuns {
    /// The runs.
    #[serde(default)]
    pub check_runs: Vec<GhCheckRun>,
}

/// One check run.
#[derive(Debug, Clone, Deserialize)]
pub struct GhCheckRun {
    /// Name.
    pub name: String,
    /// `queued`, `in_progress`, `completed`…
    pub status: String,
    /// When completed: `success`, `failure`, `neutral`, `cancelled`, `skipped`, `timed_out`,
    /// `action_required`, `stale`.
    #[serde(default)]
    pub conclusion: Option<String>,
    /// Page.
    #[serde(default)]
    pub html_url: Option<String>,
    /// Output.
    #[serde(default)]
    pub output: Option<GhCheckOutput>,
}

/// A check run's output.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GhCheckOutput {
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Summary (Markdown).
    #[serde(default)]
    pub summary: Option<String>,
}

/// `GET …/commits/:sha/status`: the statuses API, which CI systems that predate checks report through.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GhCombinedStatus {
    /// The latest status of each context.
    #[serde(default)]
    pub statuses: Vec<GhStatus>,
}

/// One commit status.
#[derive(Debug, Clone, Deserialize)]
pub struct GhStatus {
    /// What reported it (`ci/jenkins`).
    pub context: String,
    /// `pending`, `success`, `failure`, `error`.
    pub state: String,
    /// Its short description.
    #[serde(default)]
    pub description: Option<String>,
    /// Its page.
    #[serde(default)]
    pub target_url: Option<String>,
}

/// A label.
#[derive(Debug, Clone, Deserialize)]
pub struct GhLabel {
    /// Name.
    pub name: String,
}

/// An issue (GitHub lists pull requests among issues, with `pull_request` set).
#[derive(Debug, Clone, Deserialize)]
pub struct GhIssue {
    /// Number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body (Markdown).
    #[serde(default)]
    pub body: Option<String>,
    /// Page.
    pub html_url: String,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<GhLabel>,
    /// Set on pull requests.
    #[serde(default)]
    pub pull_request: Option<serde_json::Value>,
}

//! Git on a node: the wire types of `git` streams.
//!
//! Main opens [`Open::Git`](crate::protocol::Open::Git) with one [`GitRequest`]; the node answers one
//! [`GitReply`] frame and closes the stream. `repo` is any absolute directory inside the repository's
//! work tree; the work tree itself must lie inside the node's `filesystem.roots`. File paths in
//! requests and answers are relative to the work tree, with `/` separators, as git prints them.

use serde::{Deserialize, Serialize};

use crate::reply::Reply;
use ts_rs::TS;

/// Most status entries one answer carries; the rest are left out and `truncated` is set.
pub const MAX_STATUS_ENTRIES: usize = 10_000;
/// Most commits one log page carries.
pub const MAX_LOG_PAGE: usize = 500;
/// Largest diff text one answer carries, in bytes; files past it are listed without their patch.
pub const MAX_DIFF_BYTES: usize = 4 * 1024 * 1024;

/// The state of a file on one side (index or work tree), like the letters of `git status --porcelain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// No change on this side.
    Unmodified,
    /// New in the index (staged side only).
    Added,
    /// Content or mode changed.
    Modified,
    /// Removed.
    Deleted,
    /// Moved from `orig_path` (staged side only).
    Renamed,
    /// File became symlink, or the reverse.
    TypeChanged,
    /// Not tracked (work-tree side only; the index side is `unmodified`).
    Untracked,
    /// Unmerged: both sides are `conflicted`.
    Conflicted,
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct StatusEntry {
    /// Path relative to the work tree.
    pub path: String,
    /// Previous path of a staged rename.
    pub orig_path: Option<String>,
    /// HEAD → index.
    pub staged: FileState,
    /// Index → work tree.
    pub unstaged: FileState,
}

/// `git status`, with the branch line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GitStatus {
    /// Absolute path of the work tree.
    pub workdir: String,
    /// Current branch's short name; `None` when HEAD is detached.
    pub branch: Option<String>,
    /// HEAD's commit id; `None` in a repository without commits.
    pub head: Option<String>,
    /// The branch's upstream, e.g. `origin/main`.
    pub upstream: Option<String>,
    /// Commits on the branch and not on its upstream.
    pub ahead: u32,
    /// Commits on the upstream and not on the branch.
    pub behind: u32,
    /// Changed, untracked and conflicted paths, sorted by path.
    pub entries: Vec<StatusEntry>,
    /// More than [`MAX_STATUS_ENTRIES`] existed.
    pub truncated: bool,
}

/// One file's changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct FileDiff {
    /// Path (the new one, for a rename).
    pub path: String,
    /// Previous path of a rename.
    pub orig_path: Option<String>,
    /// What happened to it.
    pub state: FileState,
    /// Binary content: no patch, no line counts.
    pub binary: bool,
    /// Lines added.
    pub additions: u32,
    /// Lines removed.
    pub deletions: u32,
    /// Unified diff (`@@` hunks with 3 lines of context, no `diff --git` header); empty for binary
    /// files and for files past [`MAX_DIFF_BYTES`].
    pub patch: String,
}

/// A diff of the work tree against the index (`git diff`) or of the index against HEAD
/// (`git diff --cached`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GitDiff {
    /// Files, sorted by path.
    pub files: Vec<FileDiff>,
    /// Patches were left out past [`MAX_DIFF_BYTES`].
    pub truncated: bool,
}

/// One commit in a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CommitInfo {
    /// Full id.
    pub id: String,
    /// Parent ids.
    pub parents: Vec<String>,
    /// Author name.
    pub author_name: String,
    /// Author email.
    pub author_email: String,
    /// Author time, seconds since the Unix epoch.
    #[ts(type = "number")]
    pub time: i64,
    /// First line of the message.
    pub summary: String,
    /// The whole message.
    pub message: String,
}

/// A page of history, newest first (`git log` order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GitLog {
    /// The commits of this page.
    pub commits: Vec<CommitInfo>,
    /// `skip` for the next page; `None` at the end of history.
    pub next_skip: Option<u32>,
}

/// One branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct BranchInfo {
    /// Short name: `main`, or `origin/main` for a remote-tracking branch.
    pub name: String,
    /// A remote-tracking branch.
    pub remote: bool,
    /// HEAD points at it.
    pub current: bool,
    /// The commit it points at.
    pub target: String,
    /// Its upstream (local branches only).
    pub upstream: Option<String>,
}

/// All branches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct BranchList {
    /// Local branches, then remote-tracking ones, each sorted by name.
    pub branches: Vec<BranchInfo>,
}

/// Who a commit is by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Author {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
}

/// Main → node, in the `Open` header of a `git` stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum GitRequest {
    /// [`GitStatus`].
    Status {
        /// A directory in the work tree.
        repo: String,
    },
    /// [`GitDiff`].
    Diff {
        /// A directory in the work tree.
        repo: String,
        /// Index against HEAD instead of work tree against index.
        staged: bool,
        /// Only this file.
        path: Option<String>,
        /// What this commit (a branch, tag or id) changed against its first parent, instead of either;
        /// not together with `staged`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rev: Option<String>,
    },
    /// [`GitLog`].
    Log {
        /// A directory in the work tree.
        repo: String,
        /// Start here (a branch, tag or id); default HEAD.
        rev: Option<String>,
        /// Commits to skip (paging).
        skip: u32,
        /// Page size, at most [`MAX_LOG_PAGE`].
        limit: u32,
    },
    /// [`BranchList`].
    Branches {
        /// A directory in the work tree.
        repo: String,
    },
    /// Create a branch at `start` (default HEAD), and check it out when asked. Answers [`GitStatus`].
    CreateBranch {
        /// A directory in the work tree.
        repo: String,
        /// New branch name.
        name: String,
        /// Where it starts.
        start: Option<String>,
        /// Switch to it.
        checkout: bool,
    },
    /// Switch to a local branch; refused when local changes would be overwritten. Answers [`GitStatus`].
    Checkout {
        /// A directory in the work tree.
        repo: String,
        /// Local branch name.
        branch: String,
    },
    /// `git add` these paths (deletions included). Answers [`GitStatus`].
    Stage {
        /// A directory in the work tree.
        repo: String,
        /// Work-tree-relative paths.
        paths: Vec<String>,
    },
    /// `git restore --staged` these paths. Answers [`GitStatus`].
    Unstage {
        /// A directory in the work tree.
        repo: String,
        /// Work-tree-relative paths.
        paths: Vec<String>,
    },
    /// Throw away unstaged changes to these paths (`git restore`); untracked files are deleted.
    /// Answers [`GitStatus`].
    Discard {
        /// A directory in the work tree.
        repo: String,
        /// Work-tree-relative paths.
        paths: Vec<String>,
    },
    /// Commit the index. Answers [`GitAnswer::Committed`].
    Commit {
        /// A directory in the work tree.
        repo: String,
        /// Commit message.
        message: String,
        /// Author and committer.
        author: Author,
    },
    /// A run's changes: its work tree (commits, uncommitted changes and untracked files that are not
    /// ignored) against the merge base of its HEAD and `base`. Answers [`GitAnswer::RunDiff`].
    RunDiff {
        /// The run's work tree.
        repo: String,
        /// The branch it merges into.
        base: String,
        /// Only this file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    /// Rebase the work tree's branch onto `onto`. Refused when the work tree has uncommitted changes; on a
    /// conflict the rebase is aborted, everything is as it was, and the error (`git_conflict`) names the
    /// conflicting files. Answers [`GitAnswer::Status`].
    Rebase {
        /// The run's work tree.
        repo: String,
        /// The branch to rebase onto.
        onto: String,
    },
    /// Merge `branch` into `into` in the repository of `repo`. Where `into` is checked out in a work tree,
    /// that work tree must be clean (refused with the reason otherwise) and is updated; elsewhere the merge
    /// is made without a work tree. A conflict changes nothing and names the files. Answers
    /// [`GitAnswer::Merged`].
    Merge {
        /// Any work tree of the repository (the project's working copy).
        repo: String,
        /// The branch to merge.
        branch: String,
        /// The branch to merge into.
        into: String,
        /// How.
        strategy: MergeStrategy,
        /// Message of the new commit (squash and merge commit).
        message: String,
        /// Author and committer of the new commit.
        author: Author,
    },
    /// The repository's worktrees with what cleanup needs to know of each. Answers
    /// [`GitAnswer::Worktrees`].
    Worktrees {
        /// Any work tree of the repository.
        repo: String,
    },
    /// Remove a worktree only when nothing would be lost: it is clean, and every commit of its branch is on
    /// another branch or a remote, or its changes are all in `merged_into` (merged, or squashed in). Answers
    /// [`GitAnswer::Removed`].
    RemoveWorktree {
        /// Any work tree of the repository.
        repo: String,
        /// The worktree to remove.
        path: String,
        /// The branch the worktree's branch was merged into: its changes being there count as evidence.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        merged_into: Option<String>,
        /// Delete the worktree's branch too, when its changes are all in `merged_into`.
        #[serde(default)]
        delete_branch: bool,
        /// A person asked: remove it even with uncommitted changes or unique commits. Its branch is kept
        /// (so its commits stay reachable); uncommitted changes are gone.
        #[serde(default)]
        force: bool,
    },
    /// Clone `url` into `dest`, a directory inside the roots that does not exist yet (or is empty). The
    /// clone's `origin` is `url` as given (never with a credential in it). Answers [`GitAnswer::Status`]
    /// of the new work tree.
    Clone {
        /// Where the work tree goes (absolute, inside the roots).
        dest: String,
        /// An `https://` URL of the repository.
        url: String,
        /// Check out this branch instead of the remote's default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
        /// Sign-in for this one clone; never written to disk.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credential: Option<GitCredential>,
    },
    /// Fetch from `url` into the given refs (`+refs/heads/main:refs/remotes/origin/main`). Answers
    /// [`GitAnswer::Fetched`].
    Fetch {
        /// Any work tree of the repository.
        repo: String,
        /// An `https://` URL of the repository.
        url: String,
        /// Refspecs; each must name a destination under `refs/remotes/`.
        refspecs: Vec<String>,
        /// Sign-in for this one fetch; never written to disk.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credential: Option<GitCredential>,
    },
    /// Push local branch `branch` to `url` as `remote_branch`. With `expect`, the remote branch must be at
    /// that commit (force with lease: a rebased run branch replaces what this run pushed before, never
    /// someone else's commits); without it the push must fast-forward. Answers [`GitAnswer::Pushed`].
    Push {
        /// Any work tree of the repository.
        repo: String,
        /// An `https://` URL of the repository.
        url: String,
        /// The local branch.
        branch: String,
        /// The branch on the remote.
        remote_branch: String,
        /// The remote branch's commit this push may replace.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect: Option<String>,
        /// Sign-in for this one push; never written to disk.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credential: Option<GitCredential>,
    },
    /// The repository's remotes. Answers [`GitAnswer::Remotes`].
    Remotes {
        /// Any work tree of the repository.
        repo: String,
    },
}

/// A user name and token for one git operation against an HTTPS remote. The node hands it to that one
/// `git` process through its environment (read by a credential helper given on the command line) and never
/// writes it to disk, `.git/config` or a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitCredential {
    /// User name (GitHub: `x-access-token`).
    pub username: String,
    /// The token.
    pub password: crate::config::Secret,
}

/// One fetched ref.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct FetchedRef {
    /// The local ref written (`refs/remotes/origin/main`).
    pub name: String,
    /// Its commit.
    pub commit: String,
}

/// One remote of a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RemoteEntry {
    /// Its name (`origin`).
    pub name: String,
    /// Its fetch URL, with any user information (`user:token@`) removed.
    pub url: String,
}

/// How a run's branch is merged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum MergeStrategy {
    /// One new commit on the base with the branch's changes (the default).
    #[default]
    Squash,
    /// A merge commit with both parents.
    MergeCommit,
    /// Move the base to the branch; refused unless the base is an ancestor of it.
    FastForward,
}

/// A run's changes against its merge base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RunDiff {
    /// The merge base of the run's HEAD and its base branch.
    pub merge_base: String,
    /// The run's HEAD.
    pub head: String,
    /// Commits on the run's branch that the base does not have.
    pub ahead: u32,
    /// Commits on the base that the run's branch does not have.
    pub behind: u32,
    /// Changed files (committed or not, untracked included), sorted by path.
    pub files: Vec<FileDiff>,
    /// Patches were left out past [`MAX_DIFF_BYTES`].
    pub truncated: bool,
}

/// A worktree of a repository, as cleanup and adoption see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct WorktreeEntry {
    /// Its directory.
    pub path: String,
    /// Its branch (`None`: detached HEAD).
    pub branch: Option<String>,
    /// Its HEAD commit.
    pub head: Option<String>,
    /// The repository's own working copy (never removed).
    pub main: bool,
    /// Git lists it but its directory is gone.
    pub missing: bool,
    /// Changed or untracked files in it.
    pub dirty_files: u32,
    /// Commits of its branch that no other branch or remote has.
    pub unique_commits: u32,
}

/// What a worktree removal did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Removal {
    /// The worktree was removed.
    pub removed: bool,
    /// Its branch was deleted.
    pub branch_deleted: bool,
    /// Why it (or its branch) was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub kept_because: Option<String>,
}

impl GitRequest {
    /// The directory the request is about.
    pub fn repo(&self) -> &str {
        match self {
            GitRequest::Status { repo }
            | GitRequest::Diff { repo, .. }
            | GitRequest::Log { repo, .. }
            | GitRequest::Branches { repo }
            | GitRequest::CreateBranch { repo, .. }
            | GitRequest::Checkout { repo, .. }
            | GitRequest::Stage { repo, .. }
            | GitRequest::Unstage { repo, .. }
            | GitRequest::Discard { repo, .. }
            | GitRequest::Commit { repo, .. }
            | GitRequest::RunDiff { repo, .. }
            | GitRequest::Rebase { repo, .. }
            | GitRequest::Merge { repo, .. }
            | GitRequest::Worktrees { repo }
            | GitRequest::RemoveWorktree { repo, .. }
            | GitRequest::Fetch { repo, .. }
            | GitRequest::Push { repo, .. }
            | GitRequest::Remotes { repo } => repo,
            GitRequest::Clone { dest, .. } => dest,
        }
    }

    /// Whether it changes the repository or work tree (refused on a read-only node).
    pub fn writes(&self) -> bool {
        !matches!(
            self,
            GitRequest::Status { .. }
                | GitRequest::Diff { .. }
                | GitRequest::Log { .. }
                | GitRequest::Branches { .. }
                | GitRequest::RunDiff { .. }
                | GitRequest::Worktrees { .. }
                | GitRequest::Remotes { .. }
        )
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum GitAnswer {
    /// For `status` and every change except `commit`.
    Status(GitStatus),
    /// For `diff`.
    Diff(GitDiff),
    /// For `log`.
    Log(GitLog),
    /// For `branches`.
    Branches(BranchList),
    /// For `commit`.
    Committed {
        /// The new commit's id.
        id: String,
    },
    /// For `run_diff`.
    RunDiff(RunDiff),
    /// For `merge`.
    Merged {
        /// The base's new commit.
        commit: String,
    },
    /// For `worktrees`.
    Worktrees {
        /// The repository's own working copy first.
        worktrees: Vec<WorktreeEntry>,
    },
    /// For `remove_worktree`.
    Removed(Removal),
    /// For `fetch`: the refs written, in the order of the refspecs.
    Fetched {
        /// Fetched refs.
        refs: Vec<FetchedRef>,
    },
    /// For `push`.
    Pushed {
        /// The commit the remote branch is now at.
        commit: String,
    },
    /// For `remotes`.
    Remotes {
        /// Remotes, sorted by name.
        remotes: Vec<RemoteEntry>,
    },
}

/// Node → main: the answer frame on a `git` stream.
pub type GitReply = Reply<GitAnswer>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Proves every answer survives the wire: the tag must not clash with a field of what it carries.
    #[test]
    fn answers_round_trip() {
        let status = GitStatus {
            workdir: "/r".into(),
            branch: Some("main".into()),
            head: None,
            upstream: None,
            ahead: 0,
            behind: 0,
            entries: vec![StatusEntry {
                path: "a".into(),
                orig_path: None,
                staged: FileState::Added,
                unstaged: FileState::Modified,
            }],
            truncated: false,
        };
        let diff = GitDiff {
            files: vec![FileDiff {
                path: "a".into(),
                orig_path: None,
                state: FileState::Modified,
                binary: false,
                additions: 1,
                deletions: 0,
                patch: "@@ -0,0 +1 @@\n+x\n".into(),
            }],
            truncated: false,
        };
        let log = GitLog {
            commits: vec![],
            next_skip: None,
        };
        let branches = BranchList {
            branches: vec![BranchInfo {
                name: "main".into(),
                remote: false,
                current: true,
                target: "0".into(),
                upstream: None,
            }],
        };
        for answer in [
            GitAnswer::Status(status),
            GitAnswer::Diff(diff),
            GitAnswer::Log(log),
            GitAnswer::Branches(branches),
            GitAnswer::Committed { id: "1".into() },
        ] {
            let reply = GitReply::Ok(answer);
            let back: GitReply =
                serde_json::from_str(&serde_json::to_string(&reply).unwrap()).unwrap();
            assert_eq!(back, reply);
        }
    }
}

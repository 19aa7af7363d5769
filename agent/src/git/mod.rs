//! Git on a node: answers one [`GitRequest`] of a `git` stream, with gitoxide (`gix`) for status, diffs, logs,
//! staging and commits, and the `git` CLI (bounded in time and output) for switching branches in a populated
//! work tree and for what task runs need: a run's diff against its merge base, rebase, merge, and worktree
//! administration, serialised per repository.
//!
//! Every request names a directory inside `filesystem.roots`; the repository is discovered from there
//! upward, and refused unless its whole work tree lies inside a root too, since operations touch the whole
//! work tree. File paths in requests are work-tree-relative and may never leave it or reach into `.git`.
//!
//! The node's policy holds here as in the file API: `filesystem.read_only` refuses every change, and under
//! `filesystem.hidden = "deny"` dot-files (any path with a component starting with `.`) are left out of
//! status and diffs, refused when named, never staged, unstaged or discarded as part of a directory, and
//! a commit whose staged changes include one is refused.
//!
//! Remotes: `clone` (into a new or empty directory inside the roots), `fetch` (only into `refs/remotes/`),
//! `push` (one local branch, fast-forward or replacing exactly the commit expected) and `remotes` (their
//! URLs, user information removed). Remote URLs are `https://` and carry no user information; a credential
//! goes to the one `git` process that uses it, in its environment, read by a credential helper given on the
//! command line: never on argv, on disk, in `.git/config`, in a log or in an error message.

mod admin;
mod branch;
pub(crate) mod cli;
mod commit;
mod diff;
mod discard;
mod log;
mod merge;
mod rebase;
mod remote;
mod remote_check;
mod run_diff;
mod run_diff_parse;
mod stage;
mod staged;
mod status;
#[cfg(test)]
mod tests;
pub mod turn_commit;
pub mod worktree;
mod worktree_carry;
mod worktrees;

use std::path::{Path, PathBuf};
use vibebridge_tunnel::reply::ErrorCode;

use vibebridge_tunnel::fs::MAX_PATH_BYTES;
use vibebridge_tunnel::git::{GitAnswer, GitReply, GitRequest};

use crate::config::{FilesystemConfig, HiddenPolicy};
use crate::roots;

/// Runs one git request. Blocking: the caller runs it on `spawn_blocking`.
pub fn handle(fs: &FilesystemConfig, req: GitRequest) -> GitReply {
    let repo = req.repo().to_string();
    match run(fs, req) {
        Ok(answer) => GitReply::Ok(answer),
        Err(e) => {
            if e.code == ErrorCode::Internal {
                tracing::warn!(repo, "git request failed: {}", e.message);
            }
            GitReply::Err {
                code: e.code,
                message: e.message,
            }
        }
    }
}

fn run(fs: &FilesystemConfig, req: GitRequest) -> Result<GitAnswer, GitError> {
    if req.writes() && fs.read_only {
        return Err(GitError::new(
            ErrorCode::ReadOnly,
            "this node is read-only (filesystem.read_only = true in its config): git changes are refused",
        ));
    }
    if remote::is_remote(&req) {
        return remote::answer(fs, req);
    }
    let repo = Repo::open(fs, req.repo())?;
    Ok(match req {
        GitRequest::Status { .. } => GitAnswer::Status(status::read(&repo)?),
        GitRequest::Diff {
            staged, path, rev, ..
        } => {
            let path = path.map(|p| repo.visible(rel_path(&p)?)).transpose()?;
            let what = match (rev.as_deref(), staged) {
                (Some(_), true) => {
                    return Err(GitError::bad_request(
                        "a diff is of a commit (rev) or of the staged changes, not both",
                    ));
                }
                (Some(rev), false) => diff::Compare::Commit(rev),
                (None, true) => diff::Compare::Staged,
                (None, false) => diff::Compare::Worktree,
            };
            GitAnswer::Diff(diff::read(&repo, what, path.as_deref())?)
        }
        GitRequest::Log {
            rev, skip, limit, ..
        } => GitAnswer::Log(log::page(&repo, rev.as_deref(), skip, limit)?),
        GitRequest::Branches { .. } => GitAnswer::Branches(log::branches(&repo)?),
        GitRequest::CreateBranch {
            name,
            start,
            checkout,
            ..
        } => {
            branch::create(&repo, &name, start.as_deref(), checkout)?;
            GitAnswer::Status(status::read(&repo.reopen()?)?)
        }
        GitRequest::Checkout { branch, .. } => {
            branch::checkout(&repo, &branch)?;
            GitAnswer::Status(status::read(&repo.reopen()?)?)
        }
        GitRequest::Stage { paths, .. } => {
            stage::stage(&repo, &repo.visible_all(rel_paths(&paths)?)?)?;
            GitAnswer::Status(status::read(&repo.reopen()?)?)
        }
        GitRequest::Unstage { paths, .. } => {
            stage::unstage(&repo, &repo.visible_all(rel_paths(&paths)?)?)?;
            GitAnswer::Status(status::read(&repo.reopen()?)?)
        }
        GitRequest::Discard { paths, .. } => {
            discard::discard(&repo, &repo.visible_all(rel_paths(&paths)?)?)?;
            GitAnswer::Status(status::read(&repo.reopen()?)?)
        }
        GitRequest::Commit {
            message, author, ..
        } => GitAnswer::Committed {
            id: commit::commit(&repo, &message, &author)?,
        },
        GitRequest::RunDiff { base, path, .. } => {
            let path = path.map(|p| repo.visible(rel_path(&p)?)).transpose()?;
            GitAnswer::RunDiff(run_diff::read(&repo, &base, path.as_deref())?)
        }
        GitRequest::Rebase { onto, .. } => {
            rebase::rebase(&repo, &onto)?;
            GitAnswer::Status(status::read(&repo.reopen()?)?)
        }
        GitRequest::Merge {
            branch,
            into,
            strategy,
            message,
            author,
            ..
        } => GitAnswer::Merged {
            commit: merge::merge(
                &repo,
                &merge::MergeRequest {
                    branch: &branch,
                    into: &into,
                    strategy,
                    message: &message,
                    author: &author,
                },
            )?,
        },
        GitRequest::Worktrees { .. } => GitAnswer::Worktrees {
            worktrees: worktrees::entries(&repo)?,
        },
        // Answered by `remote::answer` above.
        GitRequest::Clone { .. }
        | GitRequest::Fetch { .. }
        | GitRequest::Push { .. }
        | GitRequest::Remotes { .. } => {
            return Err(GitError::new(
                ErrorCode::Internal,
                "a remote request reached the local match",
            ));
        }
        GitRequest::RemoveWorktree {
            path,
            merged_into,
            delete_branch,
            force,
            ..
        } => GitAnswer::Removed(worktrees::remove(
            &repo,
            &path,
            worktrees::Evidence {
                merged_into: merged_into.as_deref(),
                delete_branch,
                force,
            },
        )?),
    })
}

/// Why a request was refused or failed: a stable code and a message saying what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitError {
    code: ErrorCode,
    message: String,
}

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl GitError {
    /// The stable code a refusal carries to main.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// What went wrong and what to do.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        GitError {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        GitError::new(ErrorCode::BadRequest, message)
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        GitError::new(ErrorCode::GitConflict, message)
    }

    /// An unexpected failure of git itself (corrupt objects, I/O), with the whole cause chain.
    pub(crate) fn internal(doing: &str, err: &(dyn std::error::Error + 'static)) -> Self {
        GitError::new(
            ErrorCode::Internal,
            format!("{doing} failed: {}", chain(err)),
        )
    }
}

/// `.or_git("reading the index")`: turns any error into an internal [`GitError`] naming the step.
pub(crate) trait OrGit<T> {
    fn or_git(self, doing: &str) -> Result<T, GitError>;
}

impl<T, E: std::error::Error + 'static> OrGit<T> for Result<T, E> {
    fn or_git(self, doing: &str) -> Result<T, GitError> {
        self.map_err(|e| GitError::internal(doing, &e))
    }
}

/// An error and its sources, outermost first, without repeating a source its parent already printed.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !s.is_empty() && !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

/// A repository whose work tree lies inside the node's roots.
pub(crate) struct Repo {
    pub(crate) repo: gix::Repository,
    /// The work tree, canonical.
    pub(crate) workdir: PathBuf,
    /// `filesystem.hidden = "deny"`: dot-files are neither shown nor touched.
    pub(crate) hide_dots: bool,
    /// Work-tree-relative paths of the state directories inside this work tree: never listed,
    /// diffed, staged or discarded.
    protected: Vec<String>,
}

impl Repo {
    fn open(fs: &FilesystemConfig, path: &str) -> Result<Repo, GitError> {
        let allowed = &fs.roots;
        let hide_dots = fs.hidden == HiddenPolicy::Deny;
        let dir = roots::resolve_dir(allowed, &fs.protected, path)
            .map_err(|e| GitError::new(e.code(), e.to_string()))?;
        if hide_dots && below_dot_name(allowed, &dir) {
            return Err(hidden(path));
        }
        let repo = gix::discover(&dir).map_err(|e| {
            if e.downcast_any_ref::<gix::discover::upwards::Error>().is_some() {
                GitError::new(
                    ErrorCode::NotARepository,
                    format!(
                        "{} is not inside a git work tree (no .git found there or above); run `git init` there first",
                        dir.display()
                    ),
                )
            } else {
                GitError::internal("opening the repository", &e)
            }
        })?;
        let workdir = repo.workdir().ok_or_else(|| {
            GitError::new(
                ErrorCode::NotARepository,
                format!(
                    "{} belongs to a bare repository, which has no work tree to show or change",
                    dir.display()
                ),
            )
        })?;
        let workdir = std::fs::canonicalize(workdir).or_git("resolving the work tree")?;
        if !roots::contains(&roots::canonical(allowed), &workdir) {
            return Err(GitError::new(
                ErrorCode::PathOutsideRoots,
                format!(
                    "the repository's work tree {} reaches outside the node's allowed roots (filesystem.roots); \
                     git operations touch the whole work tree, so add {} (or a parent) to filesystem.roots",
                    workdir.display(),
                    workdir.display()
                ),
            ));
        }
        if hide_dots && below_dot_name(allowed, &workdir) {
            return Err(hidden(&workdir.display().to_string()));
        }
        // A `.git` file (`gitdir: …`, as in linked work trees) or a symlinked `.git` can put the
        // repository itself elsewhere; every git operation reads and writes there.
        for (what, dir) in [
            ("its git directory", repo.git_dir()),
            ("its common git directory", repo.common_dir()),
        ] {
            let real = std::fs::canonicalize(dir).or_git("resolving the git directory")?;
            if !roots::contains(&roots::canonical(allowed), &real) {
                return Err(GitError::new(
                    ErrorCode::PathOutsideRoots,
                    format!(
                        "the repository at {} keeps {what} at {}, outside the node's allowed roots \
                         (filesystem.roots) (a `.git` file or link points there); add that directory \
                         to filesystem.roots to use git on it here",
                        workdir.display(),
                        real.display()
                    ),
                ));
            }
        }
        let protected = roots::canonical(&fs.protected)
            .iter()
            .filter_map(|p| p.strip_prefix(&workdir).ok())
            .filter_map(|rel| rel.to_str().map(str::to_string))
            .collect();
        Ok(Repo {
            repo,
            workdir,
            hide_dots,
            protected,
        })
    }

    /// Whether the work-tree-relative `path` is one this node never shows or touches: inside a state
    /// directory, or a dot-file under `filesystem.hidden = "deny"`.
    pub(crate) fn hides(&self, path: &[u8]) -> bool {
        self.is_protected(path)
            || (self.hide_dots && path.split(|b| *b == b'/').any(|c| c.starts_with(b".")))
    }

    /// `rel`, unless it is one this node never touches: inside a state directory (`protected_state`),
    /// or a dot-file under `filesystem.hidden = "deny"` (`hidden_denied`).
    fn visible(&self, rel: String) -> Result<String, GitError> {
        if let Some(state) = self.protected.iter().find(|p| covers(p, rel.as_bytes())) {
            return Err(GitError::new(
                ErrorCode::ProtectedState,
                format!(
                    "{rel:?} is inside {state}, a VibeBridge state directory (node key, databases, session \
                     logs); git operations never show, stage or discard it. Add it to .gitignore, or move the \
                     state out of the work tree (database.path)"
                ),
            ));
        }
        if self.hides(rel.as_bytes()) {
            return Err(hidden(&rel));
        }
        Ok(rel)
    }

    fn visible_all(&self, rels: Vec<String>) -> Result<Vec<String>, GitError> {
        rels.into_iter().map(|r| self.visible(r)).collect()
    }

    /// The same repository, freshly opened, so answers after a change see the new index and refs.
    fn reopen(&self) -> Result<Repo, GitError> {
        let repo = gix::discover(&self.workdir).or_git("reopening the repository")?;
        Ok(Repo {
            repo,
            workdir: self.workdir.clone(),
            hide_dots: self.hide_dots,
            protected: self.protected.clone(),
        })
    }

    /// Whether work-tree path `path` is a state directory or lies inside one.
    pub(crate) fn is_protected(&self, path: &[u8]) -> bool {
        let path = path.strip_suffix(b"/").unwrap_or(path);
        self.protected.iter().any(|p| covers(p, path))
    }
}

/// The refusal of a dot-file under `filesystem.hidden = "deny"`.
pub(crate) fn hidden(path: &str) -> GitError {
    GitError::new(
        ErrorCode::HiddenDenied,
        format!(
            "{path:?} is a dot-file, and this node refuses them (filesystem.hidden = \"deny\")"
        ),
    )
}

/// Whether the canonical `real` lies below a dot-name under the root that holds it.
fn below_dot_name(allowed: &[PathBuf], real: &Path) -> bool {
    roots::canonical(allowed)
        .iter()
        .filter_map(|r| real.strip_prefix(r).ok())
        .min_by_key(|rest| rest.components().count())
        .is_some_and(|rest| {
            rest.components()
                .any(|c| c.as_os_str().as_encoded_bytes().starts_with(b"."))
        })
}

/// Checks a work-tree-relative path from a request and returns it normalised (`a/b`, no trailing `/`).
/// Refused: empty, absolute, NUL, `.` or `..` components, and anything inside `.git`.
pub(crate) fn rel_path(path: &str) -> Result<String, GitError> {
    let bad = |why: &str| {
        GitError::bad_request(format!(
            "file path {path:?} {why}; give a path relative to the work tree, like src/main.rs"
        ))
    };
    if path.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(bad("is too long"));
    }
    if path.starts_with('/') {
        return Err(bad("is absolute"));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" => continue,
            "." | ".." => return Err(bad("contains a `.` or `..` component")),
            p if p.eq_ignore_ascii_case(".git") => {
                return Err(bad(
                    "points into .git, which git operations never touch directly",
                ));
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(bad("is empty"));
    }
    Ok(parts.join("/"))
}

fn rel_paths(paths: &[String]) -> Result<Vec<String>, GitError> {
    if paths.is_empty() {
        return Err(GitError::bad_request(
            "no paths given: name at least one file or directory of the work tree",
        ));
    }
    paths.iter().map(|p| rel_path(p)).collect()
}

/// A pathspec matching exactly `rel` (and everything under it), independent of the process's
/// working directory and free of glob magic.
pub(crate) fn pathspec(rel: &str) -> gix::bstr::BString {
    format!(":(top,literal){rel}").into()
}

/// Most request paths handed to gix as pathspecs: gix tries every pattern on every path, so past
/// this the whole work tree is compared once and the answer filtered with a [`Selection`].
const MAX_PATHSPECS: usize = 32;

/// Pathspecs for `paths`, or none (everything) when there are too many to match one by one.
pub(crate) fn pathspecs(paths: &[String]) -> Vec<gix::bstr::BString> {
    if paths.len() > MAX_PATHSPECS {
        Vec::new()
    } else {
        paths.iter().map(|p| pathspec(p)).collect()
    }
}

/// Whether `path` is `rel` or lies under it.
pub(crate) fn covers(rel: &str, path: &[u8]) -> bool {
    path.strip_prefix(rel.as_bytes())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
}

/// Request paths, to ask of many index paths whether one of them [`covers`] it, in time proportional
/// to the path's depth rather than the number of request paths.
pub(crate) struct Selection(std::collections::HashSet<Vec<u8>>);

impl Selection {
    pub(crate) fn new(paths: &[String]) -> Selection {
        Selection(paths.iter().map(|p| p.as_bytes().to_vec()).collect())
    }

    pub(crate) fn covers(&self, path: &[u8]) -> bool {
        self.0.contains(path)
            || path
                .iter()
                .enumerate()
                .any(|(i, b)| *b == b'/' && self.0.contains(&path[..i]))
    }
}

/// The file system path of work-tree file `rel`, refusing one reached through a symlinked directory:
/// following it could read or write outside the work tree.
pub(crate) fn worktree_file(workdir: &Path, rel: &[u8]) -> Result<PathBuf, GitError> {
    let rel = std::str::from_utf8(rel).map_err(|_| {
        GitError::bad_request(format!(
            "path {:?} is not UTF-8, which this node cannot handle; use the git CLI for it",
            String::from_utf8_lossy(rel)
        ))
    })?;
    let mut cur = workdir.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        cur.push(part);
        match std::fs::symlink_metadata(&cur) {
            Ok(md) if md.file_type().is_symlink() => {
                return Err(GitError::new(
                    ErrorCode::PathOutsideRoots,
                    format!(
                        "{rel} lies beyond the symlink {}; git never follows symlinked directories, \
                         so this node will not either",
                        cur.display()
                    ),
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => {
                return Err(GitError::internal(
                    &format!("inspecting {}", cur.display()),
                    &e,
                ));
            }
        }
    }
    Ok(workdir.join(rel))
}

//! Preparing a run's work tree before its first turn: a new branch in a new worktree, the project's own
//! working copy, or an adopted branch or worktree; then the `copy_files` and a port. A new branch starts at
//! the spec's `start_point` when it has one (else at its base branch), and the base commit is taken
//! against that same start.
//!
//! Worktrees of one repository live in a directory of their own under the node's `worktrees.root`
//! (`<repo-dir-name>-<8 hex of its path>`), so two repositories with equal branch names never collide. A
//! preparation that fails after creating a worktree removes what it created: a failed start leaves nothing
//! behind.

use std::path::{Path, PathBuf};

use vibebridge_tunnel::reply::ErrorCode;
use vibebridge_tunnel::run::{CARRY_MAX_BYTES, CARRY_MAX_FILES, RunMode, RunPrepared, RunSpec};

use super::copy::{CopyLimits, check_globs, copy_within};
use super::refs;
use crate::git::GitError;
use crate::git::worktree::{self, CarryLimits, NewWorktree};

/// Tries at picking a port the caller does not already use.
const PORT_TRIES: usize = 20;
/// Tries at naming a new branch when another run takes the name first.
const NAME_TRIES: usize = 3;

/// Prepares the work tree of the run `spec` on the project's working copy `repo` (resolved inside the roots
/// by the caller), with new worktrees under `worktrees_root`, and a port for which `taken_ports` says
/// false. Blocking: run it on `spawn_blocking`.
///
/// An `existing` mode's `path` may name any worktree of the repository: the caller resolves it inside the
/// roots like `repo`.
pub fn prepare(
    spec: &RunSpec,
    repo: &Path,
    worktrees_root: &Path,
    taken_ports: &dyn Fn(u16) -> bool,
) -> Result<RunPrepared, GitError> {
    prepare_with(
        spec,
        repo,
        worktrees_root,
        taken_ports,
        CopyLimits::default(),
    )
}

/// [`prepare`] with the copy's bounds given.
pub(crate) fn prepare_with(
    spec: &RunSpec,
    repo: &Path,
    worktrees_root: &Path,
    taken_ports: &dyn Fn(u16) -> bool,
    limits: CopyLimits,
) -> Result<RunPrepared, GitError> {
    let repo = refs::toplevel(repo)?;
    let worktrees_root = &std::path::absolute(worktrees_root)
        .map_err(|e| GitError::internal("resolving the worktrees root", &e))?;
    check_globs(&spec.copy_files)?;
    if let Some(start) = &spec.start_point {
        refs::check_name("start point", start)?;
    }
    let port = pick_port(taken_ports)?;
    let work = match &spec.mode {
        RunMode::Worktree {
            branch_template,
            carry,
        } => new_worktree(spec, &repo, worktrees_root, branch_template, *carry)?,
        RunMode::InPlace => Work {
            path: repo.clone(),
            branch: refs::current_branch(&repo),
            base_commit: refs::commit_of(&repo, start_point(spec))?,
            baseline: None,
            carried: 0,
            created: None,
        },
        RunMode::Existing { branch, path } => existing(
            spec,
            &repo,
            worktrees_root,
            branch.as_deref(),
            path.as_deref(),
        )?,
    };
    let mut copied = 0;
    if let Some(created_branch) = &work.created {
        match copy_within(&repo, &work.path, &spec.copy_files, limits) {
            Ok(n) => copied = n,
            Err(e) => {
                worktree::undo_new(&repo, &work.path, created_branch.as_deref());
                return Err(e);
            }
        }
    }
    Ok(RunPrepared {
        path: work.path.to_string_lossy().into_owned(),
        branch: work.branch,
        base_branch: spec.base_branch.clone(),
        base_commit: work.base_commit,
        baseline_commit: work.baseline,
        carried_files: work.carried,
        copied_files: copied,
        port,
    })
}

/// Where the run's work starts and what its diff is against: `start_point` when given (`origin/main`, just
/// fetched), else the base branch.
fn start_point(spec: &RunSpec) -> &str {
    spec.start_point.as_deref().unwrap_or(&spec.base_branch)
}

/// A prepared work tree, before copying.
struct Work {
    path: PathBuf,
    branch: Option<String>,
    base_commit: String,
    baseline: Option<String>,
    carried: u32,
    /// `Some` when this preparation made the worktree: the branch it made too (`None`: the branch existed).
    created: Option<Option<String>>,
}

/// The directory of `repo`'s worktrees under `root`: `<dir name>-<8 hex of its path>`.
pub fn repo_worktrees(root: &Path, repo: &Path) -> PathBuf {
    let name: String = repo
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_start_matches('.');
    let name = if name.is_empty() { "repo" } else { name };
    let hash = crc32fast::hash(repo.as_os_str().as_encoded_bytes());
    root.join(format!("{name}-{hash:08x}"))
}

/// `worktree` mode: a new branch from the template in a new worktree.
fn new_worktree(
    spec: &RunSpec,
    repo: &Path,
    worktrees_root: &Path,
    template: &str,
    carry: bool,
) -> Result<Work, GitError> {
    refs::check_name("base branch", &spec.base_branch)?;
    let root = repo_worktrees(worktrees_root, repo);
    let carry = carry.then_some(CarryLimits {
        max_files: CARRY_MAX_FILES,
        max_bytes: CARRY_MAX_BYTES,
    });
    let mut tries = 0;
    loop {
        tries += 1;
        let branches = refs::local_branches(repo)?;
        let branch = worktree::branch_name(template, &spec.task_key, &spec.task_title, |b| {
            branches.contains(b) || root.join(b.replace('/', "-")).exists()
        });
        refs::check_branch_name(repo, &branch)?;
        let made = worktree::create(&NewWorktree {
            repo,
            root: &root,
            branch: &branch,
            base: start_point(spec),
            carry,
        });
        match made {
            // Another run took the name between looking and creating: look again.
            Err(e) if e.code() == ErrorCode::AlreadyExists && tries < NAME_TRIES => continue,
            Err(e) => return Err(e),
            Ok(made) => {
                return Ok(Work {
                    path: made.path,
                    branch: Some(made.branch.clone()),
                    base_commit: made.base_commit,
                    baseline: made.baseline,
                    carried: u32::try_from(made.carried_files).unwrap_or(u32::MAX),
                    created: Some(Some(made.branch)),
                });
            }
        }
    }
}

/// `existing` mode: exactly one of an existing branch (checked out where it already is, or into a new
/// worktree) or an existing worktree of the repository.
fn existing(
    spec: &RunSpec,
    repo: &Path,
    worktrees_root: &Path,
    branch: Option<&str>,
    path: Option<&str>,
) -> Result<Work, GitError> {
    let base = refs::commit_of(repo, start_point(spec))?;
    let worktrees = worktree::list(repo)?;
    match (branch, path) {
        (Some(branch), None) => {
            let tip = refs::branch_commit(repo, branch)?;
            let base_commit = refs::merge_base(repo, &tip, &base)?;
            let root = repo_worktrees(worktrees_root, repo);
            let (path, created) = match worktrees
                .iter()
                .find(|w| w.branch.as_deref() == Some(branch))
            {
                // Its worktree vanished: forget it and check the branch out afresh (its commits are all there).
                Some(w) if w.missing => {
                    worktree::forget_missing(repo)?;
                    (worktree::add_existing(repo, &root, branch)?, Some(None))
                }
                Some(w) => (adoptable(repo, worktrees_root, branch, &w.path)?, None),
                None => (worktree::add_existing(repo, &root, branch)?, Some(None)),
            };
            Ok(Work {
                path,
                branch: Some(branch.to_string()),
                base_commit,
                baseline: None,
                carried: 0,
                created,
            })
        }
        (None, Some(path)) => {
            let not_one = || {
                GitError::bad_request(format!(
                    "{path} is not a worktree of the repository at {}; `git worktree list` there shows \
                     which are",
                    repo.display()
                ))
            };
            let want = std::fs::canonicalize(path).map_err(|_| not_one())?;
            let found = worktrees
                .iter()
                .find(|w| !w.missing && std::fs::canonicalize(&w.path).is_ok_and(|p| p == want))
                .ok_or_else(not_one)?;
            let head = match &found.branch {
                Some(b) => refs::branch_commit(repo, b)?,
                None => refs::commit_of(&want, "HEAD")?,
            };
            Ok(Work {
                base_commit: refs::merge_base(repo, &head, &base)?,
                path: want,
                branch: found.branch.clone(),
                baseline: None,
                carried: 0,
                created: None,
            })
        }
        _ => Err(GitError::bad_request(
            "mode `existing` takes exactly one of `branch` (a local branch to work on) or `path` (an \
             existing worktree of the repository)",
        )),
    }
}

/// The canonical `path` of the worktree that has `branch` checked out, if a run may work there: the
/// project's working copy itself, or a worktree under the node's worktrees root.
fn adoptable(
    repo: &Path,
    worktrees_root: &Path,
    branch: &str,
    path: &Path,
) -> Result<PathBuf, GitError> {
    let real = std::fs::canonicalize(path).map_err(|_| {
        GitError::conflict(format!(
            "branch {branch:?} is checked out in the worktree {}, which is gone; run `git worktree prune` \
             in {} and start the run again",
            path.display(),
            repo.display()
        ))
    })?;
    let root = std::fs::canonicalize(worktrees_root).unwrap_or_else(|_| worktrees_root.into());
    if real == repo || real.starts_with(&root) {
        return Ok(real);
    }
    Err(GitError::new(
        ErrorCode::PathOutsideRoots,
        format!(
            "branch {branch:?} is checked out in {}, which is neither the project's working copy nor under \
             the node's worktrees root {}; adopt that worktree by its path, or remove it \
             (`git worktree remove`) so the run can check the branch out itself",
            real.display(),
            root.display()
        ),
    ))
}

/// A free TCP port on this machine that `taken` does not claim.
fn pick_port(taken: &dyn Fn(u16) -> bool) -> Result<u16, GitError> {
    for _ in 0..PORT_TRIES {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| GitError::internal("finding a free port for VB_PORT", &e))?;
        let port = listener
            .local_addr()
            .map_err(|e| GitError::internal("finding a free port for VB_PORT", &e))?
            .port();
        if port != 0 && !taken(port) {
            return Ok(port);
        }
    }
    Err(GitError::new(
        ErrorCode::Internal,
        format!("found no free port for VB_PORT in {PORT_TRIES} tries; too many runs hold ports"),
    ))
}

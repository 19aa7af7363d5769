//! The `worktrees` and `remove_worktree` git requests: every worktree of a repository with what cleanup
//! needs to know of it (uncommitted files, commits no other branch has), and removal on positive evidence
//! only.
//!
//! A worktree is removed when it is clean and its branch's commits are either on another branch or a
//! remote, or (when the caller names the base it was merged into) already in that base, as after a squash
//! merge, whose commits are new ones. Its branch is deleted only when asked and its changes are in the base.

use std::path::Path;

use vibebridge_tunnel::git::{Removal, WorktreeEntry};
use vibebridge_tunnel::reply::ErrorCode;

use super::admin;
use super::worktree::{WorktreeInfo, list, repo_lock};
use super::{GitError, Repo};

/// Most worktrees inspected at once.
const PARALLEL: usize = 4;

/// Every worktree of the repository of `r`, its own working copy first.
pub(crate) fn entries(r: &Repo) -> Result<Vec<WorktreeEntry>, GitError> {
    let all = list(&r.workdir)?;
    let mut out = Vec::with_capacity(all.len());
    for chunk in all.chunks(PARALLEL) {
        let counted: Vec<Result<(u32, u32), GitError>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk.iter().map(|w| s.spawn(move || counts(w))).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(GitError::new(
                            ErrorCode::Internal,
                            "inspecting a worktree panicked",
                        ))
                    })
                })
                .collect()
        });
        for (w, counted) in chunk.iter().zip(counted) {
            let (dirty_files, unique_commits) = counted?;
            out.push(WorktreeEntry {
                path: w.path.display().to_string(),
                branch: w.branch.clone(),
                head: w.head.clone(),
                main: out.is_empty(),
                missing: w.missing,
                dirty_files,
                unique_commits,
            });
        }
    }
    Ok(out)
}

/// Uncommitted files and unique commits of one worktree; none for one whose directory is gone.
fn counts(w: &WorktreeInfo) -> Result<(u32, u32), GitError> {
    if w.missing {
        return Ok((0, 0));
    }
    let dirty = admin::dirty(&w.path)?.len();
    let unique = match &w.head {
        Some(_) => unique_commits(&w.path, w.branch.as_deref())?,
        None => 0,
    };
    Ok((u32::try_from(dirty).unwrap_or(u32::MAX), unique))
}

/// Commits of HEAD in the work tree at `dir` that no other branch (than `branch`) and no remote has.
fn unique_commits(dir: &Path, branch: Option<&str>) -> Result<u32, GitError> {
    // Patterns for `--branches` are written without `refs/heads/`.
    let exclude = branch.map(|b| format!("--exclude={b}"));
    let mut args = vec!["rev-list", "--count", "HEAD", "--not"];
    args.extend(exclude.as_deref());
    args.extend(["--branches", "--remotes"]);
    let n = admin::text(dir, &args, &[], "count unique commits")?;
    Ok(n.parse().unwrap_or(0))
}

/// Removes the worktree at `path` of the repository of `r` when nothing would be lost, and deletes its
/// branch when `merged_into` is given and the branch's changes are all in it.
/// What a removal may go on.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Evidence<'a> {
    /// The branch the worktree's branch was merged into.
    pub merged_into: Option<&'a str>,
    /// Delete the branch too when its changes are all in `merged_into`.
    pub delete_branch: bool,
    /// A person asked for it: remove even what would be lost in the work tree (never the branch).
    pub force: bool,
}

pub(crate) fn remove(r: &Repo, path: &str, evidence: Evidence<'_>) -> Result<Removal, GitError> {
    let Evidence {
        merged_into,
        delete_branch,
        force,
    } = evidence;
    let dir = r.workdir.as_path();
    let wanted = Path::new(path);
    if !wanted.is_absolute() {
        return Err(GitError::bad_request(format!(
            "worktree path {path:?} is not absolute; give the directory as the worktree list shows it"
        )));
    }
    let base = merged_into
        .map(|b| admin::commit_id(dir, "the base", b))
        .transpose()?;
    let lock = repo_lock(dir);
    let _serial = lock.lock().unwrap_or_else(|e| e.into_inner());
    let all = list(dir)?;
    let canonical = std::fs::canonicalize(wanted).unwrap_or_else(|_| wanted.to_path_buf());
    let same = |w: &WorktreeInfo| {
        w.path == wanted || std::fs::canonicalize(&w.path).is_ok_and(|p| p == canonical)
    };
    let Some(index) = all.iter().position(same) else {
        return Err(GitError::new(
            ErrorCode::PathNotFound,
            format!(
                "{path} is not a worktree of this repository (git worktree list does not show it)"
            ),
        ));
    };
    if index == 0 {
        return Err(GitError::bad_request(format!(
            "{path} is the repository's own working copy, which is never removed"
        )));
    }
    let w = &all[index];
    let path_arg = w.path.to_string_lossy().into_owned();
    if w.missing {
        // Its directory is gone: only git's record of it is left to drop; its branch stays.
        admin::text(
            dir,
            &["worktree", "remove", &path_arg],
            &[],
            "forget the missing worktree",
        )?;
        return Ok(removed(false, None));
    }
    if force {
        admin::text(
            dir,
            &["worktree", "remove", "--force", &path_arg],
            &[],
            "remove the worktree",
        )?;
        return Ok(removed(false, None));
    }
    let dirty = admin::dirty(&w.path)?;
    if !dirty.is_empty() {
        return Ok(kept(format!(
            "it has {} uncommitted or untracked changes ({})",
            dirty.len(),
            admin::name_files(&dirty)
        )));
    }
    let unique = unique_commits(&w.path, w.branch.as_deref())?;
    let head = admin::commit_id(&w.path, "HEAD", "HEAD")?;
    let in_base = match &base {
        Some(base) => changes_in(dir, &head, base)?,
        None => false,
    };
    if unique > 0 && !in_base {
        let whose = match &w.branch {
            Some(b) => format!("branch {b}"),
            None => "its detached HEAD".to_string(),
        };
        let base_note = match merged_into {
            Some(b) => format!(", and they are not merged into {b}"),
            None => String::new(),
        };
        return Ok(kept(format!(
            "{whose} has {unique} commits that no other branch has{base_note}"
        )));
    }
    admin::text(
        dir,
        &["worktree", "remove", &path_arg],
        &[],
        "remove the worktree",
    )?;
    let (Some(branch), Some(into), true) = (&w.branch, merged_into, delete_branch) else {
        return Ok(removed(false, None));
    };
    if !in_base {
        return Ok(removed(
            false,
            Some(format!(
                "branch {branch} was kept: its changes are not all in {into}"
            )),
        ));
    }
    // Checked just now: its changes are in the base, so `-D` (which also accepts a squashed branch) is safe.
    let out = admin::exec(dir, &["branch", "-D", branch], &[], "delete the branch")?;
    if !out.status.success() {
        return Ok(removed(
            false,
            Some(format!(
                "branch {branch} was kept: git would not delete it ({})",
                out.stderr.trim()
            )),
        ));
    }
    Ok(removed(true, None))
}

/// Whether every change of commit `head` is in `base` already: merged, or squashed in (merging it into
/// `base` would change nothing).
fn changes_in(dir: &Path, head: &str, base: &str) -> Result<bool, GitError> {
    if admin::is_ancestor(dir, head, base)? {
        return Ok(true);
    }
    let merged = admin::merge_tree(dir, base, head)?;
    Ok(merged.clean && merged.tree == admin::tree_of(dir, base)?)
}

fn removed(branch_deleted: bool, kept_because: Option<String>) -> Removal {
    Removal {
        removed: true,
        branch_deleted,
        kept_because,
    }
}

fn kept(why: String) -> Removal {
    Removal {
        removed: false,
        branch_deleted: false,
        kept_because: Some(why),
    }
}

//! The small git questions preparing a run asks of a repository (its top directory, its branches, what a
//! name points to), through the bounded `git` CLI of [`crate::git::worktree`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use vibebridge_tunnel::reply::ErrorCode;

use crate::git::GitError;
use crate::git::worktree::{run, run_text};

/// The canonical top directory of the work tree at `dir`; refused unless `dir` is that top directory.
pub(crate) fn toplevel(dir: &Path) -> Result<PathBuf, GitError> {
    let real = std::fs::canonicalize(dir).map_err(|e| {
        GitError::new(
            ErrorCode::PathNotFound,
            format!("the project's working copy {}: {e}", dir.display()),
        )
    })?;
    let not_repo = || {
        GitError::new(
            ErrorCode::NotARepository,
            format!(
                "{} is not a git work tree (no .git there, or a bare repository); run `git init` there or \
                 point the project at its working copy",
                real.display()
            ),
        )
    };
    let top = run_text(
        &real,
        &["rev-parse", "--show-toplevel"],
        "find the work tree",
    )
    .map_err(|_| not_repo())?;
    if top.is_empty() {
        return Err(not_repo());
    }
    let top = std::fs::canonicalize(&top).map_err(|_| not_repo())?;
    if top != real {
        return Err(GitError::new(
            ErrorCode::NotARepository,
            format!(
                "{} lies inside the work tree {}, but a project's working copy must be a work tree's top \
                 directory; point the project at {}",
                real.display(),
                top.display(),
                top.display()
            ),
        ));
    }
    Ok(real)
}

/// Refuses a branch or revision name git could take for an option.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), GitError> {
    if name.is_empty() || name.starts_with('-') || name.contains('\0') {
        return Err(GitError::bad_request(format!(
            "{what} {name:?} is not a usable branch name"
        )));
    }
    Ok(())
}

/// Refuses a name git would not accept for a new branch.
pub(crate) fn check_branch_name(repo: &Path, name: &str) -> Result<(), GitError> {
    check_name("branch", name)?;
    run(
        repo,
        &["check-ref-format", "--branch", name],
        "check the branch name",
    )
    .map_err(|_| {
        GitError::bad_request(format!(
            "{name:?} is not a valid git branch name; fix the project's branch template"
        ))
    })
}

/// The repository's local branches (short names).
pub(crate) fn local_branches(repo: &Path) -> Result<HashSet<String>, GitError> {
    let text = run_text(
        repo,
        &["for-each-ref", "--format=%(refname)", "refs/heads/"],
        "list the branches",
    )?;
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix("refs/heads/"))
        .map(str::to_string)
        .collect())
}

/// The branch checked out at `dir`; `None` when its HEAD is detached.
pub(crate) fn current_branch(dir: &Path) -> Option<String> {
    run_text(
        dir,
        &["symbolic-ref", "--quiet", "--short", "HEAD"],
        "read the current branch",
    )
    .ok()
    .filter(|b| !b.is_empty())
}

/// The commit `rev` names.
pub(crate) fn commit_of(repo: &Path, rev: &str) -> Result<String, GitError> {
    check_name("revision", rev)?;
    run_text(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
        "resolve a revision",
    )
    .ok()
    .filter(|c| !c.is_empty())
    .ok_or_else(|| {
        GitError::new(
            ErrorCode::UnknownRef,
            format!("no branch or commit {rev:?} in {}", repo.display()),
        )
    })
}

/// The commit of local branch `branch`.
pub(crate) fn branch_commit(repo: &Path, branch: &str) -> Result<String, GitError> {
    check_name("branch", branch)?;
    commit_of(repo, &format!("refs/heads/{branch}")).map_err(|_| {
        GitError::new(
            ErrorCode::UnknownRef,
            format!("there is no local branch {branch:?} in {}", repo.display()),
        )
    })
}

/// The best common ancestor of two commits (ids).
pub(crate) fn merge_base(repo: &Path, a: &str, b: &str) -> Result<String, GitError> {
    run_text(repo, &["merge-base", a, b], "find the merge base")
        .ok()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            GitError::new(
                ErrorCode::UnknownRef,
                format!(
                    "commits {a} and {b} share no history in {}, so the run has no base to compare with",
                    repo.display()
                ),
            )
        })
}

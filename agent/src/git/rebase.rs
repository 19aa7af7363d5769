//! Rebasing a run's branch onto its base: only from a clean work tree, never interactive, and all or
//! nothing: on a conflict the rebase is aborted, HEAD is checked to be back where it was, and the refusal
//! names the conflicting files so the user (or the agent) can resolve them and try again.

use std::path::Path;

use vibebridge_tunnel::reply::ErrorCode;

use super::admin;
use super::{GitError, Repo};

/// Rebases the branch checked out in `r` onto `onto`. Serialised with the repository's other git
/// administration.
pub(crate) fn rebase(r: &Repo, onto: &str) -> Result<(), GitError> {
    let dir = r.workdir.as_path();
    let onto_id = admin::commit_id(dir, "the branch to rebase onto", onto)?;
    let lock = super::worktree::repo_lock(dir);
    let _serial = lock.lock().unwrap_or_else(|e| e.into_inner());
    refuse_unclean(dir, "rebasing")?;
    let old = admin::commit_id(dir, "HEAD", "HEAD")?;
    let mut args: Vec<String> = admin::identity_args(dir);
    args.extend(
        [
            "rebase",
            "--no-autostash",
            "--no-verify",
            "--no-update-refs",
            &onto_id,
        ]
        .map(str::to_string),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env = [("GIT_EDITOR", "true"), ("GIT_SEQUENCE_EDITOR", "true")];
    let out = admin::exec(dir, &args, &env, &format!("rebase onto {onto}"))?;
    if out.status.success() {
        return Ok(());
    }
    if admin::in_progress(dir)?.is_none() {
        // Refused before it started (nothing changed), with git's reason.
        return Err(admin::failed(&format!("rebase onto {onto}"), &out));
    }
    let conflicts = conflicted_files(dir)?;
    let abort = admin::exec(dir, &["rebase", "--abort"], &env, "abort the rebase")?;
    let now = admin::commit_id(dir, "HEAD", "HEAD").ok();
    if !abort.status.success() || now.as_deref() != Some(old.as_str()) {
        return Err(GitError::new(
            ErrorCode::Internal,
            format!(
                "rebasing onto {onto} failed and could not be undone cleanly ({}); the branch was at {old}: \
                 look at {} with git (`git status`, `git rebase --abort`)",
                abort.stderr.trim(),
                dir.display()
            ),
        ));
    }
    if conflicts.is_empty() {
        return Err(GitError::new(
            ErrorCode::Internal,
            format!(
                "rebasing onto {onto} stopped ({}); it was aborted and nothing was changed",
                out.stderr.trim()
            ),
        ));
    }
    Err(GitError::conflict(format!(
        "rebasing onto {onto} conflicts in {}; nothing was changed: resolve them (or ask the agent to) \
         and rebase again",
        admin::name_files(&conflicts)
    )))
}

/// Refuses `doing` in the work tree at `dir` while it has uncommitted changes or an operation of git's
/// in progress.
pub(crate) fn refuse_unclean(dir: &Path, doing: &str) -> Result<(), GitError> {
    if let Some(op) = admin::in_progress(dir)? {
        return Err(GitError::new(
            ErrorCode::Conflict,
            format!(
                "a {op} is in progress in {}; finish or abort it there before {doing}",
                dir.display()
            ),
        ));
    }
    let dirty = admin::dirty(dir)?;
    if !dirty.is_empty() {
        return Err(GitError::new(
            ErrorCode::Conflict,
            format!(
                "{} has {} uncommitted changes ({}); commit or discard them first, then try {doing} again",
                dir.display(),
                dirty.len(),
                admin::name_files(&dirty)
            ),
        ));
    }
    Ok(())
}

/// Files with unresolved conflicts in the index.
fn conflicted_files(dir: &Path) -> Result<Vec<String>, GitError> {
    let out = admin::text(
        dir,
        &["diff", "--name-only", "--diff-filter=U", "-z"],
        &[],
        "list the conflicting files",
    )?;
    let mut files: Vec<String> = out
        .split('\0')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    files.dedup();
    Ok(files)
}

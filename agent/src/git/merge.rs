//! Merging a run's branch into its base on the node: squash (one new commit), merge commit, or
//! fast-forward, never touching a dirty working copy.
//!
//! The merge is always computed first without a work tree (`git merge-tree --write-tree`), so a conflict
//! or an empty squash is refused with nothing changed anywhere. The new commit is then made with
//! `git commit-tree` and the base moved to it: where the base is checked out in a (clean) work tree, by
//! `git merge --ff-only` there, which updates that work tree and its index along with the branch; where it
//! is checked out nowhere, by a compare-and-swap `git update-ref`, so a base that moved meanwhile is never
//! overwritten.

use std::path::{Path, PathBuf};

use vibebridge_tunnel::git::{Author, MergeStrategy};
use vibebridge_tunnel::reply::ErrorCode;

use super::admin;
use super::{GitError, Repo};

/// What to merge, from the request.
pub(crate) struct MergeRequest<'a> {
    /// The branch to merge.
    pub branch: &'a str,
    /// The branch to merge into.
    pub into: &'a str,
    /// How.
    pub strategy: MergeStrategy,
    /// Message of a new commit.
    pub message: &'a str,
    /// Author and committer of a new commit.
    pub author: &'a Author,
}

/// Merges as `req` says in the repository of `r`; returns the new tip of `into`. Serialised with the
/// repository's other git administration.
pub(crate) fn merge(r: &Repo, req: &MergeRequest<'_>) -> Result<String, GitError> {
    let dir = r.workdir.as_path();
    let (branch, into) = (req.branch, req.into);
    let message = req.message.trim();
    if message.is_empty() && req.strategy != MergeStrategy::FastForward {
        return Err(GitError::bad_request(
            "the merge commit's message is empty: say what the merge brings in",
        ));
    }
    for (what, value) in [("name", &req.author.name), ("email", &req.author.email)] {
        if value.trim().is_empty() || value.contains(['<', '>', '\n', '\0']) {
            return Err(GitError::bad_request(format!(
                "author {what} {value:?} is not usable: it must be non-empty, on one line, without `<` or `>`"
            )));
        }
    }
    let lock = super::worktree::repo_lock(dir);
    let _serial = lock.lock().unwrap_or_else(|e| e.into_inner());
    let theirs = admin::commit_id(dir, "the branch to merge", branch)?;
    let ours = admin::branch_tip(dir, "the branch to merge into", into)?;
    let checked_out = checked_out_at(dir, into)?;
    if let Some(w) = &checked_out {
        refuse_dirty(w, into)?;
    }
    if admin::is_ancestor(dir, &theirs, &ours)? {
        return Err(GitError::new(
            ErrorCode::NothingToCommit,
            format!("{branch} is already merged into {into}: there is nothing to merge"),
        ));
    }
    let new = match req.strategy {
        MergeStrategy::FastForward => {
            if !admin::is_ancestor(dir, &ours, &theirs)? {
                return Err(GitError::new(
                    ErrorCode::Conflict,
                    format!(
                        "cannot fast-forward: {into} has commits that {branch} does not; rebase first"
                    ),
                ));
            }
            theirs
        }
        MergeStrategy::Squash | MergeStrategy::MergeCommit => {
            let merged = admin::merge_tree(dir, &ours, &theirs)?;
            if !merged.clean {
                return Err(GitError::conflict(format!(
                    "merging {branch} into {into} conflicts in {}; nothing was changed: rebase {branch} onto \
                     {into} and resolve them (or ask the agent to), then merge again",
                    if merged.conflicts.is_empty() {
                        "some files".to_string()
                    } else {
                        admin::name_files(&merged.conflicts)
                    }
                )));
            }
            let squash = req.strategy == MergeStrategy::Squash;
            if squash && merged.tree == admin::tree_of(dir, &ours)? {
                return Err(GitError::new(
                    ErrorCode::NothingToCommit,
                    format!(
                        "{branch} changes nothing that {into} does not have already: a squash would be \
                         empty, so there is nothing to merge"
                    ),
                ));
            }
            let mut args = vec!["commit-tree", merged.tree.as_str(), "-p", ours.as_str()];
            if !squash {
                args.extend(["-p", theirs.as_str()]);
            }
            args.extend(["-m", message]);
            let (name, email) = (req.author.name.trim(), req.author.email.trim());
            let env = [
                ("GIT_AUTHOR_NAME", name),
                ("GIT_AUTHOR_EMAIL", email),
                ("GIT_COMMITTER_NAME", name),
                ("GIT_COMMITTER_EMAIL", email),
            ];
            admin::text(dir, &args, &env, "write the merge commit")?
        }
    };
    match checked_out {
        Some(w) => advance_checked_out(&w, into, &new)?,
        None => {
            let reflog = format!("merge {branch} ({:?}) by VibeBridge", req.strategy);
            let out = admin::exec(
                dir,
                &[
                    "update-ref",
                    "-m",
                    &reflog,
                    &format!("refs/heads/{into}"),
                    &new,
                    &ours,
                ],
                &[],
                "move the branch",
            )?;
            if !out.status.success() {
                return Err(GitError::new(
                    ErrorCode::Conflict,
                    format!(
                        "{into} moved while merging (another git process changed it); nothing was changed: \
                         merge again ({})",
                        out.stderr.trim()
                    ),
                ));
            }
        }
    }
    Ok(new)
}

/// The work tree where local branch `into` is checked out, if any (one git lists whose directory is gone
/// does not count).
fn checked_out_at(dir: &Path, into: &str) -> Result<Option<PathBuf>, GitError> {
    Ok(super::worktree::list(dir)?
        .into_iter()
        .find(|w| !w.missing && w.branch.as_deref() == Some(into))
        .map(|w| w.path))
}

/// Refuses to merge into `into` while its work tree `w` has uncommitted changes or an operation in
/// progress.
fn refuse_dirty(w: &Path, into: &str) -> Result<(), GitError> {
    if let Some(op) = admin::in_progress(w)? {
        return Err(GitError::new(
            ErrorCode::Conflict,
            format!(
                "{into} is checked out in {}, where a {op} is in progress; finish or abort it there, then \
                 merge again",
                w.display()
            ),
        ));
    }
    let dirty = admin::dirty(w)?;
    if !dirty.is_empty() {
        return Err(GitError::new(
            ErrorCode::Conflict,
            format!(
                "{into} is checked out in {}, which has {} uncommitted changes ({}); commit or stash them \
                 there, then merge again",
                w.display(),
                dirty.len(),
                admin::name_files(&dirty)
            ),
        ));
    }
    Ok(())
}

/// Moves `into`, checked out in the clean work tree `w`, forward to `new`, updating its files and index.
fn advance_checked_out(w: &Path, into: &str, new: &str) -> Result<(), GitError> {
    let out = admin::exec(
        w,
        &["merge", "--ff-only", "--no-verify", "--quiet", new],
        &[("GIT_EDITOR", "true")],
        "update the work tree",
    )?;
    if !out.status.success() {
        return Err(GitError::new(
            ErrorCode::Conflict,
            format!(
                "{into} is checked out in {}, and updating it failed, so nothing was changed: {}",
                w.display(),
                out.stderr.trim()
            ),
        ));
    }
    Ok(())
}

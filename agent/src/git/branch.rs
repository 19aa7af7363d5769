//! Creating a branch (a gix reference edit) and switching to one (the `git` CLI).
//!
//! gix 0.90 can check out a tree into an *empty* directory (`gix::clone`), but has no safe
//! "switch branch" for a populated work tree: nothing that updates only the files that differ, keeps
//! local changes that do not clash, and refuses when they would be overwritten. `git checkout` does
//! exactly that, so switching runs it.

use std::time::Duration;
use vibebridge_tunnel::reply::ErrorCode;

use gix::refs::transaction::PreviousValue;

use super::log::resolve_commit;
use super::{GitError, OrGit, Repo};

/// Creates branch `name` at `start` (default HEAD), and switches to it when `checkout`; a branch
/// whose checkout is refused is removed again, so a refused request changes nothing.
pub(crate) fn create(
    r: &Repo,
    name: &str,
    start: Option<&str>,
    checkout: bool,
) -> Result<(), GitError> {
    let full = branch_ref(name)?;
    let repo = &r.repo;
    if repo
        .try_find_reference(full.as_str())
        .or_git("looking up the branch")?
        .is_some()
    {
        return Err(GitError::conflict(format!(
            "a branch named {name:?} already exists; pick another name or check it out"
        )));
    }
    let (target, from) = match start {
        Some(rev) => (resolve_commit(repo, rev)?, rev.to_string()),
        None => match repo.head().or_git("reading HEAD")?.id() {
            Some(id) => (id.detach(), "HEAD".to_string()),
            None => {
                return Err(GitError::new(
                    ErrorCode::UnknownRef,
                    "HEAD has no commit yet, so a branch cannot start there: commit first or give a start",
                ));
            }
        },
    };
    let created = repo
        .reference(
            full.as_str(),
            target,
            PreviousValue::MustNotExist,
            format!("branch: Created from {from}"),
        )
        .or_git("creating the branch")?;
    if !checkout {
        return Ok(());
    }
    switch(r, name).inspect_err(|_| {
        if let Err(undo) = created.delete() {
            tracing::warn!(
                branch = name,
                "could not remove a branch after a refused checkout: {undo:#}"
            );
        }
    })
}

/// Switches the work tree to local branch `name`; refused when local changes would be overwritten.
pub(crate) fn checkout(r: &Repo, name: &str) -> Result<(), GitError> {
    let full = branch_ref(name)?;
    if r.repo
        .try_find_reference(full.as_str())
        .or_git("looking up the branch")?
        .is_none()
    {
        return Err(GitError::new(
            ErrorCode::UnknownRef,
            format!("there is no local branch named {name:?}; list branches to see which exist"),
        ));
    }
    switch(r, name)
}

/// `refs/heads/<name>`, or a clear refusal for a name git would not accept.
fn branch_ref(name: &str) -> Result<String, GitError> {
    let full = format!("refs/heads/{name}");
    // A leading `-` would read as an option to the git CLI; git refuses such branch names too.
    if name.starts_with('-') || gix::validate::reference::branch_name(full.as_str().into()).is_err()
    {
        return Err(GitError::bad_request(format!(
            "{name:?} is not a valid branch name (no spaces, `..`, `~^:?*[\\`, leading `-` or trailing `.lock`)"
        )));
    }
    Ok(full)
}

/// Longest a `git checkout` may run: hooks and filters (`post-checkout`, LFS smudge) run inside it and
/// may hang; the request, and the blocking thread serving it, must not.
pub(crate) const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `git checkout <name> --` in the work tree. The branch is known to exist, so a refusal is
/// about local changes (or a lock held by another git process).
fn switch(r: &Repo, name: &str) -> Result<(), GitError> {
    switch_within(r, name, CHECKOUT_TIMEOUT)
}

/// [`switch`], stopping git (and every hook it started) after `timeout`.
pub(crate) fn switch_within(r: &Repo, name: &str, timeout: Duration) -> Result<(), GitError> {
    let cmd = super::cli::git(&r.workdir, ["checkout", "--quiet", name, "--"]);
    let out = super::cli::bounded(cmd, timeout, 0)
        .map_err(|e| {
            GitError::internal(
                "running `git checkout` (switching branches needs the git CLI on the node's PATH)",
                &e,
            )
        })?
        .ok_or_else(|| {
            GitError::new(
                ErrorCode::Internal,
                format!(
                    "`git checkout {name}` did not finish within {} s and was stopped (a hook or \
                     filter hanging?); the work tree may be partly switched: check it with git status",
                    timeout.as_secs()
                ),
            )
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = out.stderr.trim().to_string();
    let clash = [
        "would be overwritten",
        "resolve your current index",
        "index.lock",
        "conflict",
    ]
    .iter()
    .any(|s| stderr.contains(s));
    if clash {
        return Err(GitError::conflict(format!(
            "cannot switch to {name:?}: {stderr} (commit, stash or discard those changes first)"
        )));
    }
    Err(GitError::new(
        ErrorCode::Internal,
        format!("`git checkout {name}` failed: {stderr}"),
    ))
}

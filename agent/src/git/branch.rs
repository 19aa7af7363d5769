//! Creating a branch (a gix reference edit) and switching to one (the `git` CLI).
//!
//! gix 0.90 can check out a tree into an *empty* directory (`gix::clone`), but has no safe
//! "switch branch" for a populated work tree: nothing that updates only the files that differ, keeps
//! local changes that do not clash, and refuses when they would be overwritten. `git checkout` does
//! exactly that, so switching runs it.

use std::process::{Command, Stdio};

use gix::refs::transaction::PreviousValue;
use vibebridge_tunnel::git::ERR_UNKNOWN_REF;

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
                    ERR_UNKNOWN_REF,
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
            ERR_UNKNOWN_REF,
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

/// Runs `git checkout <name> --` in the work tree. The branch is known to exist, so a refusal is
/// about local changes (or a lock held by another git process).
fn switch(r: &Repo, name: &str) -> Result<(), GitError> {
    let out = Command::new("git")
        .args(["checkout", "--quiet", name, "--"])
        .current_dir(&r.workdir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        // Only the work tree decides which repository git uses.
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_COMMON_DIR")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            GitError::internal(
                "running `git checkout` (switching branches needs the git CLI on the node's PATH)",
                &e,
            )
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
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
        vibebridge_tunnel::session::ERR_INTERNAL,
        format!("`git checkout {name}` failed: {stderr}"),
    ))
}

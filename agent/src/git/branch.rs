//! Creating a branch (a gix reference edit) and switching to one (the `git` CLI).
//!
//! gix 0.90 can check out a tree into an *empty* directory (`gix::clone`), but has no safe
//! "switch branch" for a populated work tree: nothing that updates only the files that differ, keeps
//! local changes that do not clash, and refuses when they would be overwritten. `git checkout` does
//! exactly that, so switching runs it.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
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

/// Most of git's error output kept for the answer.
const MAX_STDERR: u64 = 64 * 1024;

/// Runs `git checkout <name> --` in the work tree. The branch is known to exist, so a refusal is
/// about local changes (or a lock held by another git process).
fn switch(r: &Repo, name: &str) -> Result<(), GitError> {
    switch_within(r, name, CHECKOUT_TIMEOUT)
}

/// [`switch`], stopping git (and every hook it started) after `timeout`.
pub(crate) fn switch_within(r: &Repo, name: &str, timeout: Duration) -> Result<(), GitError> {
    let mut cmd = Command::new("git");
    cmd.args(["checkout", "--quiet", name, "--"])
        .current_dir(&r.workdir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        // Only the work tree decides which repository git uses.
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_COMMON_DIR");
    let out = bounded(cmd, timeout)
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

/// What a bounded command left: its exit status and the start of its error output.
struct Finished {
    status: ExitStatus,
    stderr: String,
}

/// Runs `cmd` in a process group of its own with no input; `None` when it ran past `timeout`, in which
/// case the whole group (git and its hooks) has been killed and git reaped.
fn bounded(mut cmd: Command, timeout: Duration) -> std::io::Result<Option<Finished>> {
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let (err_tx, err_rx) = std::sync::mpsc::channel();
    if let Some(mut pipe) = child.stderr.take() {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let _ = (&mut pipe).take(MAX_STDERR).read_to_end(&mut kept);
            // Drained, so git never blocks on a full pipe.
            let _ = std::io::copy(&mut pipe, &mut std::io::sink());
            let _ = err_tx.send(String::from_utf8_lossy(&kept).into_owned());
        });
    }
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let status = match done_rx.recv_timeout(timeout) {
        Ok(status) => status?,
        Err(_) => {
            if let Ok(pgid) = i32::try_from(pid) {
                let pgid = nix::unistd::Pid::from_raw(pgid);
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = done_rx.recv();
            return Ok(None);
        }
    };
    // A hook's background process may hold the pipe open; its output is not worth waiting for.
    let stderr = err_rx
        .recv_timeout(Duration::from_secs(1))
        .unwrap_or_default();
    Ok(Some(Finished { status, stderr }))
}

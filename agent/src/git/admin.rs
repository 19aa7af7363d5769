//! What rebase, merge and worktree administration share: git runs whose exit code is an answer (not just
//! success or failure), revisions from requests checked before git sees them, a work tree's uncommitted
//! changes, a committer identity when the repository has none, and `git merge-tree` results.

use std::path::Path;
use std::time::Duration;

use vibebridge_tunnel::reply::ErrorCode;

use super::GitError;
use super::cli::{Finished, bounded, git};

/// Longest one git command here may run (a rebase of many commits in a big repository takes a while).
pub(crate) const TIMEOUT: Duration = Duration::from_secs(300);

/// Most output kept from one command.
const MAX_OUT: u64 = 16 * 1024 * 1024;

/// Most file names a message lists.
const MAX_NAMED: usize = 10;

/// Who commits when the repository names nobody (`user.name` / `user.email` unset).
pub(crate) const FALLBACK_NAME: &str = "VibeBridge";
/// See [`FALLBACK_NAME`].
pub(crate) const FALLBACK_EMAIL: &str = "vibebridge@localhost";

/// Runs `git ARGS` in `cwd` with `env` added; whatever its exit status. Errors only when git could not
/// start or ran past [`TIMEOUT`].
pub(crate) fn exec(
    cwd: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    doing: &str,
) -> Result<Finished, GitError> {
    let mut cmd = git(cwd, args);
    cmd.envs(env.iter().copied());
    bounded(cmd, TIMEOUT, MAX_OUT)
        .map_err(|e| GitError::internal(&format!("running git to {doing} (is git on PATH?)"), &e))?
        .ok_or_else(|| {
            GitError::new(
                ErrorCode::Internal,
                format!(
                    "git did not {doing} within {} s and was stopped",
                    TIMEOUT.as_secs()
                ),
            )
        })
}

/// [`exec`] that must succeed; its output as trimmed text.
pub(crate) fn text(
    cwd: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    doing: &str,
) -> Result<String, GitError> {
    let out = exec(cwd, args, env, doing)?;
    if !out.status.success() {
        return Err(failed(doing, &out));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The internal error of a git run that failed.
pub(crate) fn failed(doing: &str, out: &Finished) -> GitError {
    GitError::new(
        ErrorCode::Internal,
        format!("could not {doing}: {}", out.stderr.trim()),
    )
}

/// Refuses a branch or revision name from a request that git could take for an option or that no ref
/// can have.
pub(crate) fn check_rev(what: &str, name: &str) -> Result<(), GitError> {
    if name.is_empty()
        || name.starts_with('-')
        || name.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(GitError::bad_request(format!(
            "{what} {name:?} is not a usable branch or commit name"
        )));
    }
    Ok(())
}

/// The commit `rev` names, or `unknown_ref`.
pub(crate) fn commit_id(cwd: &Path, what: &str, rev: &str) -> Result<String, GitError> {
    check_rev(what, rev)?;
    let spec = format!("{rev}^{{commit}}");
    let out = exec(
        cwd,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &spec,
        ],
        &[],
        &format!("find {what} {rev:?}"),
    )?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || id.is_empty() {
        return Err(GitError::new(
            ErrorCode::UnknownRef,
            format!("there is no branch or commit {rev:?} ({what}) in this repository"),
        ));
    }
    Ok(id)
}

/// The commit the local branch `name` points at, or `unknown_ref`.
pub(crate) fn branch_tip(cwd: &Path, what: &str, name: &str) -> Result<String, GitError> {
    check_rev(what, name)?;
    let out = exec(
        cwd,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{name}^{{commit}}"),
        ],
        &[],
        &format!("find branch {name:?}"),
    )?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || id.is_empty() {
        return Err(GitError::new(
            ErrorCode::UnknownRef,
            format!("there is no local branch {name:?} ({what}) in this repository"),
        ));
    }
    Ok(id)
}

/// Whether commit `a` is an ancestor of (or equal to) commit `b`.
pub(crate) fn is_ancestor(cwd: &Path, a: &str, b: &str) -> Result<bool, GitError> {
    let doing = "compare histories";
    let out = exec(cwd, &["merge-base", "--is-ancestor", a, b], &[], doing)?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(failed(doing, &out)),
    }
}

/// The paths with uncommitted changes in the work tree at `dir`: changed, staged, conflicted, and
/// untracked files that are not ignored.
pub(crate) fn dirty(dir: &Path) -> Result<Vec<String>, GitError> {
    let doing = "read the work tree's status";
    let out = exec(
        dir,
        &[
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--ignore-submodules=none",
        ],
        &[],
        doing,
    )?;
    if !out.status.success() {
        return Err(failed(doing, &out));
    }
    let mut paths = Vec::new();
    let mut records = out.stdout.split(|b| *b == 0).filter(|r| !r.is_empty());
    while let Some(record) = records.next() {
        // A rename or copy is followed by a record holding its source path.
        if matches!(record.first(), Some(b'R' | b'C')) {
            records.next();
        }
        if let Some(path) = record.get(3..) {
            paths.push(String::from_utf8_lossy(path).into_owned());
        }
    }
    Ok(paths)
}

/// The operation git has in progress in the work tree at `dir` (a stopped rebase, a merge…), if any.
pub(crate) fn in_progress(dir: &Path) -> Result<Option<&'static str>, GitError> {
    const MARKERS: [(&str, &str); 5] = [
        ("rebase-merge", "rebase"),
        ("rebase-apply", "rebase"),
        ("MERGE_HEAD", "merge"),
        ("CHERRY_PICK_HEAD", "cherry-pick"),
        ("REVERT_HEAD", "revert"),
    ];
    let mut args = vec!["rev-parse"];
    for (marker, _) in MARKERS {
        args.extend(["--git-path", marker]);
    }
    let paths = text(dir, &args, &[], "find git's state files")?;
    Ok(paths
        .lines()
        .zip(MARKERS)
        .find(|(path, _)| dir.join(path).exists())
        .map(|(_, (_, what))| what))
}

/// `-c user.name=… -c user.email=…` for what the repository at `dir` does not configure, so a commit
/// never fails for want of a committer.
pub(crate) fn identity_args(dir: &Path) -> Vec<String> {
    let mut args = Vec::new();
    for (key, fallback) in [("user.name", FALLBACK_NAME), ("user.email", FALLBACK_EMAIL)] {
        let set = exec(dir, &["config", "--get", key], &[], "read the identity")
            .is_ok_and(|out| out.status.success() && !out.stdout.trim_ascii().is_empty());
        if !set {
            args.push("-c".to_string());
            args.push(format!("{key}={fallback}"));
        }
    }
    args
}

/// `a.txt, b.txt`, at most [`MAX_NAMED`] names and how many more.
pub(crate) fn name_files(files: &[String]) -> String {
    let mut out = files
        .iter()
        .take(MAX_NAMED)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if files.len() > MAX_NAMED {
        out.push_str(&format!(" and {} more", files.len() - MAX_NAMED));
    }
    out
}

/// What `git merge-tree` made of merging two commits.
pub(crate) struct MergeTree {
    /// The merged tree (with conflict markers where `conflicts` is not empty).
    pub tree: String,
    /// Files that conflict.
    pub conflicts: Vec<String>,
    /// No conflict at all.
    pub clean: bool,
}

/// Merges `theirs` into `ours` without a work tree or index: nothing in the repository changes except new
/// objects.
pub(crate) fn merge_tree(dir: &Path, ours: &str, theirs: &str) -> Result<MergeTree, GitError> {
    let doing = "merge the trees";
    let out = exec(
        dir,
        &[
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            "-z",
            ours,
            theirs,
        ],
        &[],
        doing,
    )?;
    let code = out.status.code();
    if !matches!(code, Some(0 | 1)) {
        return Err(failed(doing, &out));
    }
    let mut fields = out
        .stdout
        .split(|b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).trim().to_string());
    let tree = fields.next().unwrap_or_default();
    let mut conflicts: Vec<String> = Vec::new();
    if code == Some(1) {
        for name in fields.take_while(|f| !f.is_empty()) {
            if !conflicts.contains(&name) {
                conflicts.push(name);
            }
        }
    }
    Ok(MergeTree {
        tree,
        conflicts,
        clean: code == Some(0),
    })
}

/// The tree of commit `rev`.
pub(crate) fn tree_of(dir: &Path, rev: &str) -> Result<String, GitError> {
    text(
        dir,
        &["rev-parse", "--verify", &format!("{rev}^{{tree}}")],
        &[],
        "read a commit's tree",
    )
}

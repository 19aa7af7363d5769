//! Worktrees for task runs: each run works on its own branch in its own `git worktree` beside the project's
//! working copy, which it never touches. Creating one can carry the working copy's uncommitted work in as a
//! baseline commit, so the run's diff is exactly the agent's work. Removing one happens only on positive
//! evidence that nothing would be lost: a clean work tree, and no commit that no other branch has.
//!
//! Git administration (adding, removing worktrees) is serialised per repository, across threads of this
//! agent; different repositories proceed in parallel. gix has no worktree creation yet, so the `git` CLI does
//! it (bounded in time, like every CLI call here).
//!
//! The tunnel's `worktrees` and `remove_worktree` git requests (`worktrees.rs`) build on it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use vibebridge_tunnel::reply::ErrorCode;

use super::GitError;

pub use super::worktree_carry::CarryLimits;

/// A worktree to create.
#[derive(Debug, Clone)]
pub struct NewWorktree<'a> {
    /// The project's working copy (its work tree's top directory).
    pub repo: &'a Path,
    /// Where run worktrees live (the node's `worktrees.root`).
    pub root: &'a Path,
    /// The new branch.
    pub branch: &'a str,
    /// The branch (or commit) it starts from.
    pub base: &'a str,
    /// Carry the working copy's uncommitted work in as a baseline commit.
    pub carry: Option<CarryLimits>,
}

/// A created worktree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// Its directory.
    pub path: PathBuf,
    /// Its branch.
    pub branch: String,
    /// The commit it started from.
    pub base_commit: String,
    /// The baseline commit of carried work, if there was any.
    pub baseline: Option<String>,
    /// Files carried in.
    pub carried_files: usize,
}

/// What [`remove_if_safe`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// The worktree was removed (its branch is kept).
    Removed,
    /// Kept, and why.
    Kept(String),
}

/// A worktree git knows of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorktreeInfo {
    /// Its directory.
    pub path: PathBuf,
    /// Its branch (`None` when HEAD is detached).
    pub branch: Option<String>,
    /// Its HEAD commit.
    pub head: Option<String>,
    /// Git says its directory is gone.
    pub missing: bool,
}

/// The branch name for a run: `template` with `{key}` and `{slug}` (from `title`) filled in, made unique
/// with `-2`, `-3`… when `taken` says a name is in use.
pub fn branch_name(template: &str, key: &str, title: &str, taken: impl Fn(&str) -> bool) -> String {
    let base = template
        .replace("{key}", key)
        .replace("{slug}", &slug(title));
    let base = base.trim_end_matches(['-', '/']).to_string();
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|name| !taken(name))
        .unwrap_or(base)
}

/// Lower-case ASCII words of `title` joined by `-`, at most 40 characters (`Fix the login!` → `fix-the-login`).
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for word in title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_ascii_lowercase();
        if out.len() + word.len() + 1 > 40 {
            break;
        }
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&word);
    }
    if out.is_empty() { "task".into() } else { out }
}

/// The lock serialising git administration (worktrees, rebase, merge) on the repository that `repo` (any of
/// its work trees) belongs to: keyed by the canonical path of the repository's own working copy, so every
/// worktree of one repository shares it.
pub(crate) fn repo_lock(repo: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let key = main_workdir(repo)
        .or_else(|_| std::fs::canonicalize(repo))
        .unwrap_or_else(|_| repo.to_path_buf());
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    locks.entry(key).or_default().clone()
}

/// The canonical path of the repository's own working copy (the first worktree git lists), from any of
/// its work trees.
pub(crate) fn main_workdir(repo: &Path) -> std::io::Result<PathBuf> {
    let main = list(repo)
        .ok()
        .and_then(|all| all.into_iter().next())
        .ok_or_else(|| std::io::Error::other("git lists no worktree"))?;
    std::fs::canonicalize(main.path)
}

/// Runs git in `cwd` (as [`super::admin::exec`] runs it); an error saying what failed unless it succeeds.
pub(crate) fn run(cwd: &Path, args: &[&str], doing: &str) -> Result<(), GitError> {
    let out = super::admin::exec(cwd, args, &[], doing)?;
    if !out.status.success() {
        return Err(super::admin::failed(doing, &out));
    }
    Ok(())
}

/// [`super::admin::text`]: git that must succeed, its output as trimmed text.
pub(crate) fn run_text(cwd: &Path, args: &[&str], doing: &str) -> Result<String, GitError> {
    super::admin::text(cwd, args, &[], doing)
}

/// Creates the worktree (and its branch), carrying uncommitted work in when asked. Refused, with nothing
/// changed, when the branch or the directory exists, or the work to carry is over its limits.
pub fn create(new: &NewWorktree<'_>) -> Result<Created, GitError> {
    let lock = repo_lock(new.repo);
    let _serial = lock.lock().unwrap_or_else(|e| e.into_inner());
    let base_commit = run_text(
        new.repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{}^{{commit}}", new.base),
        ],
        &format!("find the base {:?}", new.base),
    )
    .map_err(|_| {
        GitError::new(
            ErrorCode::UnknownRef,
            format!("no branch or commit {:?}", new.base),
        )
    })?;
    let branch_ref = format!("refs/heads/{}", new.branch);
    if run(
        new.repo,
        &["show-ref", "--verify", "--quiet", &branch_ref],
        "",
    )
    .is_ok()
    {
        return Err(GitError::new(
            ErrorCode::AlreadyExists,
            format!("branch {:?} exists already; pick another name", new.branch),
        ));
    }
    let path = new.root.join(new.branch.replace('/', "-"));
    if path.exists() {
        return Err(GitError::new(
            ErrorCode::AlreadyExists,
            format!("{} exists already; it is never overwritten", path.display()),
        ));
    }
    let carried = match new.carry {
        Some(limits) => Some(super::worktree_carry::gather(
            new.repo,
            &base_commit,
            limits,
        )?),
        None => None,
    };
    std::fs::create_dir_all(new.root)
        .map_err(|e| GitError::internal(&format!("creating {}", new.root.display()), &e))?;
    let path_arg = path.to_string_lossy().into_owned();
    run(
        new.repo,
        &[
            "worktree",
            "add",
            "--quiet",
            "-b",
            new.branch,
            &path_arg,
            &base_commit,
        ],
        "add the worktree",
    )?;
    let mut created = Created {
        path: path.clone(),
        branch: new.branch.to_string(),
        base_commit,
        baseline: None,
        carried_files: 0,
    };
    if let Some(work) = carried.filter(|w| !w.is_empty()) {
        match super::worktree_carry::apply(new.repo, &path, &work) {
            Ok(commit) => {
                created.baseline = Some(commit);
                created.carried_files = work.files();
            }
            Err(e) => {
                // Undo: the worktree and branch are ours and hold nothing of anyone's yet.
                let _ = run(new.repo, &["worktree", "remove", "--force", &path_arg], "");
                let _ = run(new.repo, &["branch", "-D", new.branch], "");
                return Err(e);
            }
        }
    }
    Ok(created)
}

/// The worktrees of the repository at `repo` (its own working copy first).
pub fn list(repo: &Path) -> Result<Vec<WorktreeInfo>, GitError> {
    let text = run_text(repo, &["worktree", "list", "--porcelain"], "list worktrees")?;
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut info = WorktreeInfo {
            path: PathBuf::new(),
            branch: None,
            head: None,
            missing: false,
        };
        for line in block.lines() {
            if let Some(p) = line.strip_prefix("worktree ") {
                info.path = PathBuf::from(p);
            } else if let Some(h) = line.strip_prefix("HEAD ") {
                info.head = Some(h.to_string());
            } else if let Some(b) = line.strip_prefix("branch ") {
                info.branch = Some(b.trim_start_matches("refs/heads/").to_string());
            } else if line.starts_with("prunable") {
                info.missing = true;
            }
        }
        if !info.path.as_os_str().is_empty() {
            info.missing |= !info.path.exists();
            out.push(info);
        }
    }
    Ok(out)
}

/// Removes the worktree at `path` only when nothing would be lost: its work tree is clean (no change, no
/// untracked file) and every commit of its branch is on another branch or a remote. Otherwise keeps it
/// and says why. The branch itself is never deleted here.
pub fn remove_if_safe(repo: &Path, path: &Path) -> Result<Removal, GitError> {
    let lock = repo_lock(repo);
    let _serial = lock.lock().unwrap_or_else(|e| e.into_inner());
    if !path.exists() {
        return Ok(Removal::Kept(format!("{} is not there", path.display())));
    }
    let status = run_text(
        path,
        &[
            "status",
            "--porcelain=v1",
            "--untracked-files=all",
            "--ignore-submodules=none",
        ],
        "read the worktree's status",
    )?;
    if !status.is_empty() {
        let n = status.lines().count();
        return Ok(Removal::Kept(format!(
            "it has {n} uncommitted or untracked changes"
        )));
    }
    let branch = run_text(
        path,
        &["symbolic-ref", "--quiet", "--short", "HEAD"],
        "read its branch",
    )
    .map_err(|_| GitError::bad_request("its HEAD is detached; it is kept"))?;
    let unique = run_text(
        path,
        &[
            "rev-list",
            "--count",
            "HEAD",
            "--not",
            // Patterns for `--branches` are written without `refs/heads/`.
            &format!("--exclude={branch}"),
            "--branches",
            "--remotes",
        ],
        "count its unique commits",
    )?;
    if unique != "0" {
        return Ok(Removal::Kept(format!(
            "branch {branch} has {unique} commits that no other branch has"
        )));
    }
    let path_arg = path.to_string_lossy().into_owned();
    run(
        repo,
        &["worktree", "remove", &path_arg],
        "remove the worktree",
    )?;
    Ok(Removal::Removed)
}

/// Forgets the worktrees whose directories are gone (`git worktree prune`): only git's records of them go; their
/// branches and commits stay. Lets a vanished run's branch be checked out again.
pub fn forget_missing(repo: &Path) -> Result<(), GitError> {
    let lock = repo_lock(repo);
    let _serial = lock.lock().unwrap_or_else(|e| e.into_inner());
    run(
        repo,
        &["worktree", "prune"],
        "forget worktrees whose directory is gone",
    )
    .map(drop)
}

/// Checks the existing local `branch` out into a new worktree under `root` (named like [`create`] names
/// them, with `-2`, `-3`… added while the directory exists). Serialised with the repository's other git
/// administration. Refused when the branch does not exist; git refuses a branch checked out elsewhere.
pub fn add_existing(repo: &Path, root: &Path, branch: &str) -> Result<PathBuf, GitError> {
    let lock = repo_lock(repo);
    let _serial = lock.lock().unwrap_or_else(|e| e.into_inner());
    let branch_ref = format!("refs/heads/{branch}");
    if run(repo, &["show-ref", "--verify", "--quiet", &branch_ref], "").is_err() {
        return Err(GitError::new(
            ErrorCode::UnknownRef,
            format!("there is no local branch {branch:?} in {}", repo.display()),
        ));
    }
    let name = branch.replace('/', "-");
    let path = (1..)
        .map(|n| match n {
            1 => root.join(&name),
            n => root.join(format!("{name}-{n}")),
        })
        .find(|p| !p.exists())
        .unwrap_or_else(|| root.join(&name));
    std::fs::create_dir_all(root)
        .map_err(|e| GitError::internal(&format!("creating {}", root.display()), &e))?;
    let path_arg = path.to_string_lossy().into_owned();
    run(
        repo,
        &["worktree", "add", "--quiet", &path_arg, branch],
        &format!("check branch {branch:?} out into a new worktree"),
    )?;
    Ok(path)
}

/// Undoes what this agent has just created and nobody has worked in yet: removes the worktree at `path`
/// (forcibly) and, when given, deletes `branch`. Best effort, serialised like the rest; for rolling back a
/// preparation that failed half-way.
pub fn undo_new(repo: &Path, path: &Path, branch: Option<&str>) {
    let lock = repo_lock(repo);
    let _serial = lock.lock().unwrap_or_else(|e| e.into_inner());
    let path_arg = path.to_string_lossy().into_owned();
    if let Err(e) = run(
        repo,
        &["worktree", "remove", "--force", &path_arg],
        "remove the new worktree",
    ) {
        tracing::warn!("rolling back {}: {e}", path.display());
    }
    if let Some(branch) = branch
        && let Err(e) = run(repo, &["branch", "-D", branch], "delete the new branch")
    {
        tracing::warn!("rolling back branch {branch}: {e}");
    }
}

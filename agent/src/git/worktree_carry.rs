//! Carrying a working copy's uncommitted work into a new worktree as one baseline commit: its tracked
//! changes (a binary patch against HEAD, applied to the index) and its untracked files that are not ignored
//! (copied; symlinks as symlinks). Everything is measured against the limits before anything is created,
//! and the working copy is only read.

use std::path::{Path, PathBuf};

use vibebridge_tunnel::reply::ErrorCode;

use super::GitError;

/// Bounds on the uncommitted work carried into a new worktree.
#[derive(Debug, Clone, Copy)]
pub struct CarryLimits {
    /// Changed and untracked files, at most.
    pub max_files: usize,
    /// Bytes of the patch and the untracked files together, at most.
    pub max_bytes: u64,
}

impl Default for CarryLimits {
    fn default() -> Self {
        CarryLimits {
            max_files: 2_000,
            max_bytes: 200 * 1024 * 1024,
        }
    }
}

/// Who the baseline commit is by.
const AUTHOR: [&str; 4] = [
    "-c",
    "user.name=VibeBridge",
    "-c",
    "user.email=vibebridge@localhost",
];

/// The work to carry.
#[derive(Debug, Default)]
pub(crate) struct Carried {
    /// `git diff HEAD --binary` of the working copy.
    patch: Vec<u8>,
    /// Files the patch changes.
    changed: usize,
    /// Untracked, not ignored files, relative to the work tree.
    untracked: Vec<PathBuf>,
}

impl Carried {
    pub(crate) fn is_empty(&self) -> bool {
        self.patch.is_empty() && self.untracked.is_empty()
    }

    /// Files carried: changed plus untracked.
    pub(crate) fn files(&self) -> usize {
        self.changed + self.untracked.len()
    }
}

fn run(cwd: &Path, args: &[&str], doing: &str, max: u64) -> Result<Vec<u8>, GitError> {
    let out = super::cli::bounded(
        super::cli::git(cwd, args),
        std::time::Duration::from_secs(300),
        max,
    )
    .map_err(|e| GitError::internal(&format!("running git to {doing}"), &e))?
    .ok_or_else(|| GitError::new(ErrorCode::Internal, format!("git did not {doing} in time")))?;
    if !out.status.success() {
        return Err(GitError::new(
            ErrorCode::Internal,
            format!("could not {doing}: {}", out.stderr.trim()),
        ));
    }
    Ok(out.stdout)
}

fn too_much(what: String) -> GitError {
    GitError::new(
        ErrorCode::TooLarge,
        format!(
            "{what}; commit or clean up first, or start the run without carrying uncommitted work"
        ),
    )
}

/// Reads the work to carry from the working copy at `repo`, which must be at `base_commit`.
pub(crate) fn gather(
    repo: &Path,
    base_commit: &str,
    limits: CarryLimits,
) -> Result<Carried, GitError> {
    let head = String::from_utf8_lossy(&run(repo, &["rev-parse", "HEAD"], "read HEAD", 1024)?)
        .trim()
        .to_string();
    if head != base_commit {
        return Err(GitError::bad_request(format!(
            "the working copy is at {}, not at the base ({}): its changes start from another commit. \
             Check out the base branch there, or start without carrying uncommitted work",
            &head[..head.len().min(12)],
            &base_commit[..base_commit.len().min(12)]
        )));
    }
    let names = run(
        repo,
        &["diff", "HEAD", "--name-only", "-z"],
        "list changed files",
        64 << 20,
    )?;
    let changed = names.split(|b| *b == 0).filter(|n| !n.is_empty()).count();
    let listed = run(
        repo,
        &["ls-files", "--others", "--exclude-standard", "-z"],
        "list untracked files",
        64 << 20,
    )?;
    let untracked: Vec<PathBuf> = listed
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| PathBuf::from(String::from_utf8_lossy(n).into_owned()))
        .collect();
    if changed + untracked.len() > limits.max_files {
        return Err(too_much(format!(
            "{} changed and untracked files are over the {} a run carries in",
            changed + untracked.len(),
            limits.max_files
        )));
    }
    let mut bytes = 0u64;
    for rel in &untracked {
        bytes += std::fs::symlink_metadata(repo.join(rel)).map_or(0, |m| m.len());
    }
    let patch = run(
        repo,
        &["diff", "HEAD", "--binary"],
        "read the changes",
        limits.max_bytes + 1,
    )?;
    bytes += patch.len() as u64;
    if bytes > limits.max_bytes {
        return Err(too_much(format!(
            "the uncommitted work is over the {} MiB a run carries in",
            limits.max_bytes >> 20
        )));
    }
    Ok(Carried {
        patch,
        changed,
        untracked,
    })
}

/// Applies `work` (read from `repo`) in the new worktree at `path` and commits it; the commit's id.
pub(crate) fn apply(repo: &Path, path: &Path, work: &Carried) -> Result<String, GitError> {
    if !work.patch.is_empty() {
        let patch = path.join(".git-vb-carry.patch");
        write_private(&patch, &work.patch)?;
        let patch_arg = patch.to_string_lossy().into_owned();
        let applied = run(
            path,
            &[
                "apply",
                "--index",
                "--binary",
                "--whitespace=nowarn",
                &patch_arg,
            ],
            "apply the carried changes",
            0,
        );
        let _ = std::fs::remove_file(&patch);
        applied?;
    }
    for rel in &work.untracked {
        copy_entry(&repo.join(rel), &path.join(rel))?;
    }
    run(
        path,
        &["add", "--all", "--", "."],
        "stage the carried files",
        0,
    )?;
    let mut args: Vec<&str> = AUTHOR.to_vec();
    args.extend([
        "commit",
        "--quiet",
        "--no-verify",
        "--allow-empty",
        "-m",
        "Baseline: uncommitted work carried in from the project's working copy",
    ]);
    run(path, &args, "commit the baseline", 0)?;
    let id = run(path, &["rev-parse", "HEAD"], "read the baseline", 1024)?;
    Ok(String::from_utf8_lossy(&id).trim().to_string())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), GitError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| GitError::internal(&format!("writing {}", path.display()), &e))
}

/// Copies one untracked file (a symlink as a symlink), creating its directories.
fn copy_entry(from: &Path, to: &Path) -> Result<(), GitError> {
    let fail = |e: std::io::Error| GitError::internal(&format!("copying {}", from.display()), &e);
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let meta = std::fs::symlink_metadata(from).map_err(fail)?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from).map_err(fail)?;
        std::os::unix::fs::symlink(target, to).map_err(fail)?;
    } else if meta.is_file() {
        std::fs::copy(from, to).map_err(fail)?;
    }
    Ok(())
}

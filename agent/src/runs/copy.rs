//! `copy_files`: files a new worktree needs but git does not carry, like a git-ignored `.env`, copied in
//! from the project's working copy.
//!
//! The globs are git's (`*` stays within a directory, `**/` spans any number of them), relative to the
//! working copy. The walk never enters `.git` or a nested work tree (a directory with a `.git` of its own:
//! another worktree, a submodule), never follows a symlink (symlinked files are skipped, as is
//! everything below a symlinked directory), copies regular files only, never overwrites a file of the
//! destination and never writes outside it. Everything is matched first and checked against the bounds, so a
//! copy over them changes nothing.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use gix::glob::wildmatch::Mode;
use vibebridge_tunnel::reply::ErrorCode;

use crate::git::GitError;

/// Most files one run copies in.
pub const COPY_MAX_FILES: usize = 10_000;
/// Most bytes one run copies in.
pub const COPY_MAX_BYTES: u64 = 200 * 1024 * 1024;

/// Bounds on one copy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CopyLimits {
    /// Files, at most.
    pub max_files: usize,
    /// Bytes, at most.
    pub max_bytes: u64,
}

impl Default for CopyLimits {
    fn default() -> Self {
        CopyLimits {
            max_files: COPY_MAX_FILES,
            max_bytes: COPY_MAX_BYTES,
        }
    }
}

/// Copies the files of the working copy `repo` that match `globs` to the same relative paths under `dest`,
/// never overwriting; returns how many were copied. Ignored files are included (that is the point), `.git`
/// and symlinks are not. Refused with nothing copied when a glob could reach outside (`..`, absolute) or
/// the matches exceed 10,000 files or 200 MiB.
pub fn copy_files(repo: &Path, dest: &Path, globs: &[String]) -> Result<u32, GitError> {
    copy_within(repo, dest, globs, CopyLimits::default())
}

/// [`copy_files`] with its bounds given.
pub(crate) fn copy_within(
    repo: &Path,
    dest: &Path,
    globs: &[String],
    limits: CopyLimits,
) -> Result<u32, GitError> {
    check_globs(globs)?;
    if globs.is_empty() {
        return Ok(0);
    }
    let dest_real = std::fs::canonicalize(dest).ok();
    let mut walk = Walk {
        globs,
        skip_dir: dest_real,
        found: Vec::new(),
        bytes: 0,
        limits,
    };
    walk.dir(repo, "")?;
    let mut copied = 0u32;
    for (rel, _) in &walk.found {
        if copy_one(repo, dest, rel)? {
            copied = copied.saturating_add(1);
        }
    }
    Ok(copied)
}

/// Refuses globs that could name a path outside the work tree or inside `.git`.
pub(crate) fn check_globs(globs: &[String]) -> Result<(), GitError> {
    for glob in globs {
        let bad = |why: &str| {
            GitError::bad_request(format!(
                "copy_files glob {glob:?} {why}; give a pattern relative to the working copy, like \
                 .env or config/*.local.json"
            ))
        };
        if glob.trim().is_empty() {
            return Err(bad("is empty"));
        }
        if glob.contains('\0') {
            return Err(bad("contains a NUL byte"));
        }
        if glob.starts_with('/') || glob.starts_with('\\') {
            return Err(bad("is absolute"));
        }
        for part in glob.split('/') {
            if part == ".." || part == "." {
                return Err(bad("contains a `.` or `..` component"));
            }
            if part.eq_ignore_ascii_case(".git") {
                return Err(bad("points into .git"));
            }
        }
    }
    Ok(())
}

/// One walk of the working copy, collecting the matching files.
struct Walk<'a> {
    globs: &'a [String],
    /// The destination, when it lies inside the working copy (never copied from).
    skip_dir: Option<PathBuf>,
    /// Relative paths (`a/b`) and sizes of the matches.
    found: Vec<(String, u64)>,
    bytes: u64,
    limits: CopyLimits,
}

impl Walk<'_> {
    /// Collects the matches in directory `dir` (relative path `rel`, `""` for the top) and below.
    fn dir(&mut self, dir: &Path, rel: &str) -> Result<(), GitError> {
        if self
            .skip_dir
            .as_deref()
            .is_some_and(|skip| std::fs::canonicalize(dir).is_ok_and(|d| d == skip))
        {
            return Ok(());
        }
        let entries = std::fs::read_dir(dir)
            .map_err(|e| GitError::internal(&format!("listing {}", dir.display()), &e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| GitError::internal(&format!("listing {}", dir.display()), &e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                tracing::debug!("copy_files skips non-UTF-8 name {:?}", entry.path());
                continue;
            };
            if name == ".git" {
                continue;
            }
            let child = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            // The entry itself, never what a symlink points to.
            let kind = entry.file_type().map_err(|e| {
                GitError::internal(&format!("inspecting {}", entry.path().display()), &e)
            })?;
            if kind.is_dir() {
                // A nested work tree (another worktree, a submodule, a vendored repository) is another
                // repository's business.
                let nested = std::fs::symlink_metadata(entry.path().join(".git")).is_ok();
                if !nested && self.may_match_below(&child) {
                    self.dir(&entry.path(), &child)?;
                }
            } else if kind.is_file() && self.matches(&child) {
                let len = entry
                    .metadata()
                    .map_err(|e| {
                        GitError::internal(&format!("inspecting {}", entry.path().display()), &e)
                    })?
                    .len();
                self.add(child, len)?;
            } else if kind.is_symlink() && self.matches(&child) {
                tracing::debug!("copy_files skips the symlink {child}");
            }
        }
        Ok(())
    }

    fn add(&mut self, rel: String, len: u64) -> Result<(), GitError> {
        self.bytes = self.bytes.saturating_add(len);
        if self.found.len() >= self.limits.max_files || self.bytes > self.limits.max_bytes {
            return Err(GitError::new(
                ErrorCode::TooLarge,
                format!(
                    "copy_files matches more than {} files or {} MiB (at {rel}); nothing was copied. \
                     Narrow the globs to the few files a worktree needs",
                    self.limits.max_files,
                    self.limits.max_bytes / (1024 * 1024)
                ),
            ));
        }
        self.found.push((rel, len));
        Ok(())
    }

    fn matches(&self, rel: &str) -> bool {
        self.globs.iter().any(|g| {
            gix::glob::wildmatch(g.as_str().into(), rel.into(), Mode::NO_MATCH_SLASH_LITERAL)
        })
    }

    /// Whether a glob could match something below directory `rel`: its leading components match the
    /// directory's, or a `**` comes first.
    fn may_match_below(&self, rel: &str) -> bool {
        let dir: Vec<&str> = rel.split('/').collect();
        self.globs.iter().any(|g| {
            let parts: Vec<&str> = g.split('/').collect();
            for (i, d) in dir.iter().enumerate() {
                let Some(p) = parts.get(i) else { return false };
                if p.contains("**") {
                    return true;
                }
                // The last part names the file itself: nothing below this directory can match it.
                if i + 1 >= parts.len() {
                    return false;
                }
                if !gix::glob::wildmatch((*p).into(), (*d).into(), Mode::NO_MATCH_SLASH_LITERAL) {
                    return false;
                }
            }
            true
        })
    }
}

/// Copies `rel` from `repo` to `dest`; `false` when the destination already has the path (or a symlink on
/// the way there), which is left alone.
fn copy_one(repo: &Path, dest: &Path, rel: &str) -> Result<bool, GitError> {
    let rel_path = Path::new(rel);
    let Some(parent) = rel_path.parent() else {
        return Ok(false);
    };
    let mut dir = dest.to_path_buf();
    for part in parent.components() {
        let Component::Normal(part) = part else {
            return Ok(false);
        };
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(md) if md.is_dir() => {}
            // A symlink (possibly leading out) or a file where a directory should be: leave it.
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&dir)
                    .map_err(|e| GitError::internal(&format!("creating {}", dir.display()), &e))?;
            }
            Err(e) => {
                return Err(GitError::internal(
                    &format!("inspecting {}", dir.display()),
                    &e,
                ));
            }
        }
    }
    let Some(name) = rel_path.file_name() else {
        return Ok(false);
    };
    copy_file(&repo.join(rel_path), &dir.join(name), name)
}

/// Copies one regular file, creating the target (never replacing one) with the source's permissions.
fn copy_file(from: &Path, to: &Path, name: &OsStr) -> Result<bool, GitError> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let src_md = std::fs::symlink_metadata(from)
        .map_err(|e| GitError::internal(&format!("inspecting {}", from.display()), &e))?;
    if !src_md.is_file() {
        return Ok(false);
    }
    let mut src = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(from)
        .map_err(|e| GitError::internal(&format!("opening {}", from.display()), &e))?;
    let mut out = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(src_md.mode() & 0o777)
        .open(to)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            tracing::debug!("copy_files keeps the existing {:?}", name);
            return Ok(false);
        }
        Err(e) => {
            return Err(GitError::internal(
                &format!("creating {}", to.display()),
                &e,
            ));
        }
    };
    std::io::copy(&mut src, &mut out)
        .map_err(|e| GitError::internal(&format!("copying to {}", to.display()), &e))?;
    Ok(true)
}

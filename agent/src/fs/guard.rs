//! The file API's guardrails (`filesystem.*`): which paths a request may touch, and why not.
//!
//! Every path is absolute and resolves, symlinks included, inside one of the roots. Two ways to resolve:
//! - [`Guard::existing`] follows every symlink (reading, listing, writing over a file): a link out of the
//!   roots is refused.
//! - [`Guard::entry`] resolves only the parent and keeps the last name (create, rename, delete): the
//!   entry itself is what is acted on, so deleting a link removes the link, never its target.
//!
//! What was resolved is then opened with [`Guard::open`], beneath a handle on its root and refusing any
//! symlink on the way (see [`super::beneath`]): a link swapped in after the check is never followed.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use vibebridge_tunnel::reply::ErrorCode;

use rustix::fs::{Mode, OFlags};

use vibebridge_tunnel::fs::MAX_PATH_BYTES;

use crate::config::{FilesystemConfig, HiddenPolicy};
use crate::roots::{self, PathError};

use super::beneath;

/// Longest single file name, in bytes (Linux `NAME_MAX`).
const MAX_NAME_BYTES: usize = 255;

/// A refused or failed file operation: a stable code and a message naming the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub code: ErrorCode,
    /// What is wrong and what to do.
    pub message: String,
}

impl Refusal {
    /// A refusal with this code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }

    /// An I/O failure on `path`, with the code its kind deserves.
    pub fn io(what: &str, path: &Path, e: &std::io::Error) -> Self {
        let code = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorCode::PathNotFound,
            std::io::ErrorKind::AlreadyExists => ErrorCode::AlreadyExists,
            std::io::ErrorKind::DirectoryNotEmpty => ErrorCode::NotEmpty,
            std::io::ErrorKind::NotADirectory | std::io::ErrorKind::IsADirectory => {
                ErrorCode::WrongKind
            }
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                ErrorCode::PermissionDenied
            }
            _ => ErrorCode::Internal,
        };
        Refusal::new(code, format!("cannot {what} {}: {e}", path.display()))
    }
}

impl From<PathError> for Refusal {
    fn from(e: PathError) -> Self {
        Refusal::new(e.code(), e.to_string())
    }
}

/// The roots and rules of one node, resolved once per request.
pub struct Guard<'a> {
    cfg: &'a FilesystemConfig,
    /// The roots, canonical; roots that do not exist are left out.
    roots: Vec<PathBuf>,
    /// The state directories no request may touch, canonical.
    protected: Vec<PathBuf>,
}

impl<'a> Guard<'a> {
    /// The guard for this config.
    pub fn new(cfg: &'a FilesystemConfig) -> Self {
        Guard {
            cfg,
            roots: roots::canonical(&cfg.roots),
            protected: roots::canonical(&cfg.protected),
        }
    }

    /// Whether the listing entry `path` (a canonical directory joined with a name) is, or leads into,
    /// a state directory: left out of listings. Only a symlink needs resolving to tell.
    pub fn is_protected(&self, path: &Path, symlink: bool) -> bool {
        let resolved;
        let real = if symlink {
            resolved = std::fs::canonicalize(path);
            resolved.as_deref().unwrap_or(path)
        } else {
            path
        };
        self.protected.iter().any(|p| real.starts_with(p))
    }

    /// Refuses deleting or moving `real` (canonical, or an entry under a canonical parent) when a
    /// state directory lies inside it: that would take the node's key and databases with it.
    pub fn not_holding_state(&self, asked: &str, real: &Path) -> Result<(), Refusal> {
        match roots::holds_protected(&self.protected, real) {
            Some(state) => Err(roots::protected_refusal(asked, state).into()),
            None => Ok(()),
        }
    }

    /// The canonical roots.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Whether `real` (canonical) lies inside a root.
    pub fn inside(&self, real: &Path) -> bool {
        roots::contains(&self.roots, real)
    }

    /// Refuses every change on a read-only node.
    pub fn writable(&self) -> Result<(), Refusal> {
        if self.cfg.read_only {
            return Err(Refusal::new(
                ErrorCode::ReadOnly,
                "this node's files are read-only (filesystem.read_only = true in its config)",
            ));
        }
        Ok(())
    }

    /// The largest file the API reads or writes in one go.
    pub fn max_bytes(&self) -> u64 {
        self.cfg.max_file_bytes
    }

    /// Whether dot-files appear in listings.
    pub fn lists_hidden(&self) -> bool {
        self.cfg.hidden == HiddenPolicy::Show
    }

    /// Resolves an existing path, following every symlink, to its canonical form inside a root.
    pub fn existing(&self, path: &str) -> Result<PathBuf, Refusal> {
        let p = self.syntax(path)?;
        let real = std::fs::canonicalize(p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Refusal::new(
                ErrorCode::PathNotFound,
                format!("{path:?} does not exist on the node"),
            ),
            _ => Refusal::io("resolve", p, &e),
        })?;
        self.check_inside(path, &real)?;
        Ok(real)
    }

    /// Resolves a path whose last name may not exist yet: the parent is resolved (and must be a
    /// directory inside a root); the name is kept as given. Returns the parent and the full path.
    pub fn entry(&self, path: &str) -> Result<(PathBuf, PathBuf), Refusal> {
        let p = self.syntax(path)?;
        let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                format!("{path:?} names no file (it ends in `..` or is `/`)"),
            ));
        };
        let real_parent = self.existing(&parent.to_string_lossy())?;
        if !real_parent.is_dir() {
            return Err(Refusal::new(
                ErrorCode::WrongKind,
                format!("{} is not a directory", parent.display()),
            ));
        }
        let full = real_parent.join(name);
        roots::outside_protected(&self.protected, path, &full)?;
        self.check_hidden(path, &full)?;
        Ok((real_parent, full))
    }

    /// Opens `real` (canonical, as [`Guard::existing`] or [`Guard::entry`] resolved it) beneath a handle on
    /// its root. A symlink found on the way is a change since the check: refused, never followed.
    pub fn open(&self, real: &Path, flags: OFlags, mode: Mode) -> Result<OwnedFd, Refusal> {
        let within = self
            .roots
            .iter()
            .filter_map(|r| real.strip_prefix(r).ok().map(|rest| (r, rest)))
            .min_by_key(|(_, rest)| rest.components().count());
        let Some((root, rel)) = within else {
            let shown = real.display().to_string();
            return Err(roots::outside(&shown, real, &self.cfg.roots).into());
        };
        let flags_root = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let root_fd = rustix::fs::open(root, flags_root, Mode::empty())
            .map_err(|e| Refusal::io("open", root, &e.into()))?;
        beneath::open(&root_fd, rel, flags, mode).map_err(|e| {
            if beneath::swapped(&e) {
                Refusal::new(
                    ErrorCode::PathOutsideRoots,
                    format!(
                        "{} changed while the node was opening it (a symlink now stands on the way); \
                         refused rather than followed out of the roots (filesystem.roots), try again",
                        real.display()
                    ),
                )
            } else {
                Refusal::io("open", real, &e)
            }
        })
    }

    /// Opens the directory `real` (canonical) beneath its root, as [`Guard::open`] does.
    pub fn open_dir(&self, real: &Path) -> Result<OwnedFd, Refusal> {
        self.open(real, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
    }

    /// Refuses a resolved path outside the roots, inside a state directory or, under
    /// `hidden = "deny"`, below a dot-name.
    fn check_inside(&self, asked: &str, real: &Path) -> Result<(), Refusal> {
        if !self.inside(real) {
            return Err(roots::outside(asked, real, &self.cfg.roots).into());
        }
        roots::outside_protected(&self.protected, asked, real)?;
        self.check_hidden(asked, real)
    }

    fn check_hidden(&self, asked: &str, real: &Path) -> Result<(), Refusal> {
        if self.cfg.hidden != HiddenPolicy::Deny {
            return Ok(());
        }
        let below_root = self
            .roots
            .iter()
            .filter_map(|r| real.strip_prefix(r).ok())
            .min_by_key(|rest| rest.components().count());
        let hidden = below_root
            .into_iter()
            .flat_map(Path::components)
            .any(|c| c.as_os_str().as_encoded_bytes().starts_with(b"."));
        if hidden
            || Path::new(asked)
                .components()
                .any(|c| is_dot_name(c.as_os_str()))
        {
            return Err(Refusal::new(
                ErrorCode::HiddenDenied,
                format!(
                    "{asked:?} is a dot-file, and this node refuses them (filesystem.hidden = \"deny\")"
                ),
            ));
        }
        Ok(())
    }

    /// Checks the shape of a path before touching the disk.
    fn syntax<'p>(&self, path: &'p str) -> Result<&'p Path, Refusal> {
        let bad = |why: String| Err(Refusal::new(ErrorCode::BadRequest, why));
        if path.contains('\0') {
            return bad("the path contains a NUL byte".into());
        }
        if path.len() > MAX_PATH_BYTES {
            return bad(format!(
                "the path is {} bytes long; the limit is {MAX_PATH_BYTES}",
                path.len()
            ));
        }
        let p = Path::new(path);
        if !p.is_absolute() {
            return bad(format!(
                "{path:?} must be absolute (a path on the node, e.g. /home/me/project/file.rs)"
            ));
        }
        if let Some(long) = p
            .components()
            .find(|c| c.as_os_str().len() > MAX_NAME_BYTES)
        {
            return bad(format!(
                "the name {:?}… is {} bytes long; the limit is {MAX_NAME_BYTES}",
                String::from_utf8_lossy(&long.as_os_str().as_encoded_bytes()[..32]),
                long.as_os_str().len()
            ));
        }
        if self.roots.is_empty() {
            return Err(Refusal::new(
                ErrorCode::PathOutsideRoots,
                "this node allows no directories: set filesystem.roots in its config (or start it with --root DIR)",
            ));
        }
        Ok(p)
    }
}

/// A name starting with `.`, other than `.` and `..` themselves.
fn is_dot_name(name: &OsStr) -> bool {
    let b = name.as_encoded_bytes();
    b.starts_with(b".") && b != b"." && b != b".."
}

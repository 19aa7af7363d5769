//! Opening what the guard resolved through a handle on its root, so the checked path is the used path.
//!
//! The guard resolves a request's path once (symlinks followed, the result checked against the roots)
//! to a canonical path: no symlinks, no `..`. Opening that path again by name would follow whatever
//! stands there by then, so a symlink swapped in after the check would lead outside the roots. Instead
//! everything is opened relative to a descriptor of the root with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`: a canonical path has no symlinks, so one found on
//! the way is a change since the check and the open fails (`ELOOP`/`EXDEV`) instead of following it.
//! Kernels without `openat2` (before 5.6, or sandboxes answering `ENOSYS`) get the same guarantee by
//! walking one component at a time with `O_NOFOLLOW`, each step relative to the directory handle the
//! previous step opened, so no name is ever looked up twice.

use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Opens `rel` (relative and canonical) beneath the directory `dir`, refusing any symlink on the way,
/// the last component included. `rel` empty opens `dir` itself again with `flags`.
pub fn open(dir: impl AsFd, rel: &Path, flags: OFlags, mode: Mode) -> std::io::Result<OwnedFd> {
    let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let target = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    match rustix::fs::openat2(dir.as_fd(), target, flags, mode, resolve) {
        Err(Errno::NOSYS) => walk(dir, rel, flags, mode),
        other => Ok(other?),
    }
}

/// The fallback of [`open`]: one component at a time, never following a symlink, never going up.
pub fn walk(dir: impl AsFd, rel: &Path, flags: OFlags, mode: Mode) -> std::io::Result<OwnedFd> {
    let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let mut names = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(name) => names.push(name),
            Component::CurDir => {}
            // A canonical relative path has neither; refuse like `RESOLVE_BENEATH` does.
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(Errno::XDEV.into());
            }
        }
    }
    let Some((last, dirs)) = names.split_last() else {
        return Ok(rustix::fs::openat(dir, ".", flags, mode)?);
    };
    let mut held: Option<OwnedFd> = None;
    for name in dirs {
        let base = held.as_ref().map_or(dir.as_fd(), |fd| fd.as_fd());
        let next = rustix::fs::openat(
            base,
            *name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        match FileType::from_raw_mode(rustix::fs::fstat(&next)?.st_mode) {
            FileType::Directory => held = Some(next),
            FileType::Symlink => return Err(Errno::LOOP.into()),
            _ => return Err(Errno::NOTDIR.into()),
        }
    }
    let base = held.as_ref().map_or(dir.as_fd(), |fd| fd.as_fd());
    Ok(rustix::fs::openat(base, *last, flags, mode)?)
}

/// Whether an error of [`open`] means a symlink (or a `..` out) was found where the guard had resolved
/// none: the tree changed between the check and the open.
pub fn swapped(e: &std::io::Error) -> bool {
    matches!(Errno::from_io_error(e), Some(Errno::LOOP | Errno::XDEV))
}

/// The metadata of the entry `name` in `dir` itself (a symlink is described, not followed), or `None`
/// when there is none.
pub fn meta_at(dir: impl AsFd, name: &OsStr) -> std::io::Result<Option<Metadata>> {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => File::from(fd).metadata().map(Some),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The names in the directory `dir` (without `.` and `..`), with their types where the file system
/// reports them.
pub fn names(dir: impl AsFd) -> std::io::Result<Vec<(OsString, FileType)>> {
    let mut out = Vec::new();
    for item in Dir::read_from(dir)? {
        let item = item?;
        let name = item.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let name = OsStr::from_bytes(name).to_os_string();
        out.push((name, item.file_type()));
    }
    Ok(out)
}

/// Removes the directory `name` in `parent` with everything in it, descending through directory handles
/// only, so a directory swapped for a symlink meanwhile is unlinked, never followed.
pub fn remove_tree(parent: impl AsFd, name: &OsStr) -> std::io::Result<()> {
    let dir = rustix::fs::openat(
        parent.as_fd(),
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for (child, kind) in names(&dir)? {
        let is_dir = match kind {
            FileType::Directory => true,
            FileType::Unknown => meta_at(&dir, &child)?.is_some_and(|m| m.is_dir()),
            _ => false,
        };
        if is_dir {
            remove_tree(&dir, &child)?;
        } else {
            rustix::fs::unlinkat(&dir, &child, AtFlags::empty())?;
        }
    }
    Ok(rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)?)
}

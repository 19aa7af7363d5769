//! The file operations that answer with one frame: list, stat, create, rename, delete. Blocking: run them
//! on `spawn_blocking`.

use std::ffi::OsStr;
use std::fs::{FileType, Metadata};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use vibebridge_tunnel::reply::ErrorCode;

use rustix::fs::{AtFlags, FileType as RawType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use vibebridge_tunnel::fs::{DirListing, Entry, EntryKind, MAX_ENTRIES};

use super::beneath;
use super::guard::{Guard, Refusal};

/// The roots, or the entries of the directory at `path`.
pub fn list(guard: &Guard<'_>, path: Option<&str>, dirs_only: bool) -> Result<DirListing, Refusal> {
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        return Ok(list_roots(guard));
    };
    let dir = guard.existing(path)?;
    if !dir.is_dir() {
        return Err(Refusal::new(
            ErrorCode::WrongKind,
            format!("{path:?} is a file, not a directory; read it instead"),
        ));
    }
    // Read through a handle opened beneath the root: a directory swapped for a symlink is not listed.
    let handle = guard.open_dir(&dir)?;
    let read = beneath::names(&handle).map_err(|e| Refusal::io("list", &dir, &e))?;
    // Names and types first (no stat), so a huge directory costs one stat per entry returned.
    let mut names: Vec<(bool, String, PathBuf)> = Vec::new();
    for (raw, file_type) in read {
        let name = raw.to_string_lossy().into_owned();
        if name.starts_with('.') && !guard.lists_hidden() {
            continue;
        }
        let path = dir.join(&raw);
        // A file system that does not say the type (Unknown) may be hiding a symlink: resolve it too.
        let maybe_link = matches!(file_type, RawType::Symlink | RawType::Unknown);
        if guard.is_protected(&path, maybe_link) {
            continue;
        }
        let is_dir = match file_type {
            RawType::Directory => true,
            RawType::Symlink => followed(guard, &path).is_some_and(|m| m.is_dir()),
            RawType::Unknown => beneath::meta_at(&handle, &raw)
                .ok()
                .flatten()
                .is_some_and(|m| m.is_dir()),
            _ => false,
        };
        if dirs_only && !is_dir {
            continue;
        }
        names.push((!is_dir, name, path));
    }
    names.sort_by(|a, b| (a.0, a.1.to_lowercase(), &a.1).cmp(&(b.0, b.1.to_lowercase(), &b.1)));
    let truncated = names.len() > MAX_ENTRIES;
    names.truncate(MAX_ENTRIES);
    let entries = names
        .into_iter()
        .filter_map(|(_, _, p)| {
            let own = beneath::meta_at(&handle, p.file_name()?).ok()??;
            Some(entry_of(guard, &p, own))
        })
        .collect();
    let parent = dir
        .parent()
        .filter(|p| guard.inside(p))
        .map(|p| p.display().to_string());
    Ok(DirListing {
        path: Some(dir.display().to_string()),
        parent,
        entries,
        truncated,
    })
}

fn list_roots(guard: &Guard<'_>) -> DirListing {
    let entries = guard
        .roots()
        .iter()
        .filter_map(|r| entry(guard, r).ok())
        .filter(|e| e.kind == EntryKind::Dir)
        .map(|e| Entry {
            name: e.path.clone(),
            ..e
        })
        .collect();
    DirListing {
        path: None,
        parent: None,
        entries,
        truncated: false,
    }
}

/// The metadata of an existing path, following symlinks that stay inside the roots.
pub fn stat(guard: &Guard<'_>, path: &str) -> Result<Entry, Refusal> {
    let (_, full) = guard.entry(path).or_else(|e| {
        // A root itself has no parent inside the roots; it is still a valid thing to stat.
        let real = guard.existing(path).map_err(|_| e)?;
        Ok::<_, Refusal>((real.clone(), real))
    })?;
    entry(guard, &full)
}

/// Describes the entry at `path` (not resolved: a symlink is described as what it points to when
/// that is inside the roots, as an unfollowed link otherwise).
pub fn entry(guard: &Guard<'_>, path: &Path) -> Result<Entry, Refusal> {
    let own = std::fs::symlink_metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Refusal::new(
            ErrorCode::PathNotFound,
            format!("{} does not exist on the node", path.display()),
        ),
        _ => Refusal::io("stat", path, &e),
    })?;
    Ok(entry_of(guard, path, own))
}

/// Describes the entry at `path` whose own (unfollowed) metadata is `own`.
fn entry_of(guard: &Guard<'_>, path: &Path, own: Metadata) -> Entry {
    let link = own.file_type().is_symlink();
    match link.then(|| followed(guard, path)) {
        None => describe(path, &own, kind_of(own.file_type()), false),
        Some(Some(target)) => describe(path, &target, kind_of(target.file_type()), true),
        Some(None) => describe(path, &own, EntryKind::Symlink, true),
    }
}

/// The entry for `path` with metadata `meta` (its own, or its link target's).
pub fn describe(path: &Path, meta: &Metadata, kind: EntryKind, link: bool) -> Entry {
    Entry {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string()),
        path: path.display().to_string(),
        kind,
        link,
        size: meta.len(),
        modified_ms: meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_millis()).ok()),
        mode: meta.permissions().mode() & 0o7777,
        etag: etag(meta),
    }
}

/// Changes whenever the content may have: size, modification time to the nanosecond, and inode
/// (an atomic replace gives a new one).
pub fn etag(meta: &Metadata) -> String {
    format!(
        "{:x}-{:x}.{:x}-{:x}",
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ino()
    )
}

/// The target's metadata when a symlink resolves inside the roots.
fn followed(guard: &Guard<'_>, link: &Path) -> Option<Metadata> {
    let real = std::fs::canonicalize(link).ok()?;
    guard.inside(&real).then(|| std::fs::metadata(&real).ok())?
}

fn kind_of(t: FileType) -> EntryKind {
    if t.is_file() {
        EntryKind::File
    } else if t.is_dir() {
        EntryKind::Dir
    } else if t.is_symlink() {
        EntryKind::Symlink
    } else {
        EntryKind::Other
    }
}

/// The parent directory of an entry [`Guard::entry`] resolved, opened beneath its root, and the name.
fn parent_handle<'p>(guard: &Guard<'_>, full: &'p Path) -> Result<(OwnedFd, &'p OsStr), Refusal> {
    let (Some(parent), Some(name)) = (full.parent(), full.file_name()) else {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("{} names no entry", full.display()),
        ));
    };
    Ok((guard.open_dir(parent)?, name))
}

/// Creates an empty file or a directory; refuses when something is already there.
pub fn create(guard: &Guard<'_>, path: &str, dir: bool) -> Result<Entry, Refusal> {
    guard.writable()?;
    let (_, full) = guard.entry(path)?;
    let (parent, name) = parent_handle(guard, &full)?;
    let made = if dir {
        rustix::fs::mkdirat(&parent, name, Mode::from_bits_truncate(0o777))
    } else {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        rustix::fs::openat(&parent, name, flags, Mode::from_bits_truncate(0o666)).map(drop)
    };
    made.map_err(|e| match e {
        Errno::EXIST => Refusal::new(
            ErrorCode::AlreadyExists,
            format!("{} already exists; pick another name", full.display()),
        ),
        e => Refusal::io("create", &full, &e.into()),
    })?;
    entry(guard, &full)
}

/// Moves `from` to `to`, both inside the roots; the entry itself moves (a symlink stays a symlink).
/// Without `overwrite` the kernel refuses an existing target (`RENAME_NOREPLACE`), so nothing created
/// meanwhile is ever replaced.
pub fn rename(guard: &Guard<'_>, from: &str, to: &str, overwrite: bool) -> Result<Entry, Refusal> {
    guard.writable()?;
    let (_, src) = guard.entry(from)?;
    let (_, dst) = guard.entry(to)?;
    guard.not_holding_state(from, &src)?;
    let (src_dir, src_name) = parent_handle(guard, &src)?;
    let (dst_dir, dst_name) = parent_handle(guard, &dst)?;
    let src_meta = beneath::meta_at(&src_dir, src_name)
        .map_err(|e| Refusal::io("move", &src, &e))?
        .ok_or_else(|| {
            Refusal::new(
                ErrorCode::PathNotFound,
                format!("{} does not exist on the node", src.display()),
            )
        })?;
    if src_meta.is_dir() && dst.starts_with(&src) {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("cannot move {} into itself", src.display()),
        ));
    }
    let exists = || {
        Refusal::new(
            ErrorCode::AlreadyExists,
            format!(
                "{} already exists; set overwrite to replace it",
                dst.display()
            ),
        )
    };
    let existing = beneath::meta_at(&dst_dir, dst_name).ok().flatten();
    if let Some(existing) = existing.as_ref().filter(|_| overwrite)
        && existing.is_dir() != src_meta.is_dir()
    {
        return Err(Refusal::new(
            ErrorCode::WrongKind,
            format!(
                "cannot replace {} with a different kind of entry",
                dst.display()
            ),
        ));
    }
    let moved = if overwrite {
        rustix::fs::renameat(&src_dir, src_name, &dst_dir, dst_name)
    } else {
        // The kernel checks the name is free in the same step as the move: no window for a file
        // created meanwhile to be replaced.
        match rustix::fs::renameat_with(
            &src_dir,
            src_name,
            &dst_dir,
            dst_name,
            RenameFlags::NOREPLACE,
        ) {
            // A file system without RENAME_NOREPLACE: the look just taken is the best left.
            Err(Errno::INVAL) if existing.is_some() => Err(Errno::EXIST),
            Err(Errno::INVAL) => rustix::fs::renameat(&src_dir, src_name, &dst_dir, dst_name),
            other => other,
        }
    };
    moved.map_err(|e| match e {
        Errno::EXIST => exists(),
        e => Refusal::io("move", &src, &e.into()),
    })?;
    entry(guard, &dst)
}

/// Removes a file, a symlink (never its target) or a directory (non-empty only with `recursive`).
pub fn delete(guard: &Guard<'_>, path: &str, recursive: bool) -> Result<(), Refusal> {
    guard.writable()?;
    let (_, full) = guard.entry(path)?;
    guard.not_holding_state(path, &full)?;
    let (parent, name) = parent_handle(guard, &full)?;
    let meta = beneath::meta_at(&parent, name)
        .map_err(|e| Refusal::io("delete", &full, &e))?
        .ok_or_else(|| {
            Refusal::new(
                ErrorCode::PathNotFound,
                format!("{} does not exist on the node", full.display()),
            )
        })?;
    let removed = if meta.is_dir() && recursive {
        beneath::remove_tree(&parent, name)
    } else if meta.is_dir() {
        rustix::fs::unlinkat(&parent, name, AtFlags::REMOVEDIR).map_err(Into::into)
    } else {
        rustix::fs::unlinkat(&parent, name, AtFlags::empty()).map_err(Into::into)
    };
    removed.map_err(|e| match e.kind() {
        std::io::ErrorKind::DirectoryNotEmpty => Refusal::new(
            ErrorCode::NotEmpty,
            format!(
                "{} is not empty; set recursive to delete it with everything in it",
                full.display()
            ),
        ),
        _ => Refusal::io("delete", &full, &e),
    })
}

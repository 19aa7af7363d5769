//! The file operations that answer with one frame: list, stat, create, rename, delete. Blocking: run them
//! on `spawn_blocking`.

use std::fs::{FileType, Metadata};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use vibebridge_tunnel::fs::{
    DirListing, ERR_EXISTS, ERR_NOT_EMPTY, ERR_WRONG_KIND, Entry, EntryKind, MAX_ENTRIES,
};
use vibebridge_tunnel::session::ERR_PATH_NOT_FOUND;

use super::guard::{Guard, Refusal};

/// The roots, or the entries of the directory at `path`.
pub fn list(guard: &Guard<'_>, path: Option<&str>, dirs_only: bool) -> Result<DirListing, Refusal> {
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        return Ok(list_roots(guard));
    };
    let dir = guard.existing(path)?;
    if !dir.is_dir() {
        return Err(Refusal::new(
            ERR_WRONG_KIND,
            format!("{path:?} is a file, not a directory; read it instead"),
        ));
    }
    let read = std::fs::read_dir(&dir).map_err(|e| Refusal::io("list", &dir, &e))?;
    // Names and types first (no stat), so a huge directory costs one stat per entry returned.
    let mut names: Vec<(bool, String, PathBuf)> = Vec::new();
    for item in read.flatten() {
        let name = item.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && !guard.lists_hidden() {
            continue;
        }
        if guard.is_protected(&item.path()) {
            continue;
        }
        let Ok(file_type) = item.file_type() else {
            continue;
        };
        let is_dir = file_type.is_dir()
            || (file_type.is_symlink()
                && followed(guard, &item.path()).is_some_and(|m| m.is_dir()));
        if dirs_only && !is_dir {
            continue;
        }
        names.push((!is_dir, name, item.path()));
    }
    names.sort_by(|a, b| (a.0, a.1.to_lowercase(), &a.1).cmp(&(b.0, b.1.to_lowercase(), &b.1)));
    let truncated = names.len() > MAX_ENTRIES;
    names.truncate(MAX_ENTRIES);
    let entries = names
        .into_iter()
        .filter_map(|(_, _, p)| entry(guard, &p).ok())
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
            ERR_PATH_NOT_FOUND,
            format!("{} does not exist on the node", path.display()),
        ),
        _ => Refusal::io("stat", path, &e),
    })?;
    let link = own.file_type().is_symlink();
    let (meta, kind) = match link.then(|| followed(guard, path)) {
        None => (own.clone(), kind_of(own.file_type())),
        Some(Some(target)) => {
            let kind = kind_of(target.file_type());
            (target, kind)
        }
        Some(None) => (own.clone(), EntryKind::Symlink),
    };
    Ok(Entry {
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
        etag: etag(&meta),
    })
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

/// Creates an empty file or a directory; refuses when something is already there.
pub fn create(guard: &Guard<'_>, path: &str, dir: bool) -> Result<Entry, Refusal> {
    guard.writable()?;
    let (_, full) = guard.entry(path)?;
    let made = if dir {
        std::fs::create_dir(&full)
    } else {
        std::fs::File::create_new(&full).map(drop)
    };
    made.map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Refusal::new(
            ERR_EXISTS,
            format!("{} already exists; pick another name", full.display()),
        ),
        _ => Refusal::io("create", &full, &e),
    })?;
    entry(guard, &full)
}

/// Moves `from` to `to`, both inside the roots; the entry itself moves (a symlink stays a symlink).
pub fn rename(guard: &Guard<'_>, from: &str, to: &str, overwrite: bool) -> Result<Entry, Refusal> {
    guard.writable()?;
    let (_, src) = guard.entry(from)?;
    let (_, dst) = guard.entry(to)?;
    guard.not_holding_state(from, &src)?;
    let src_meta = std::fs::symlink_metadata(&src).map_err(|e| Refusal::io("move", &src, &e))?;
    if src_meta.is_dir() && dst.starts_with(&src) {
        return Err(Refusal::new(
            vibebridge_tunnel::session::ERR_BAD_REQUEST,
            format!("cannot move {} into itself", src.display()),
        ));
    }
    if let Ok(existing) = std::fs::symlink_metadata(&dst) {
        if !overwrite {
            return Err(Refusal::new(
                ERR_EXISTS,
                format!(
                    "{} already exists; set overwrite to replace it",
                    dst.display()
                ),
            ));
        }
        if existing.is_dir() != src_meta.is_dir() {
            return Err(Refusal::new(
                ERR_WRONG_KIND,
                format!(
                    "cannot replace {} with a different kind of entry",
                    dst.display()
                ),
            ));
        }
    }
    std::fs::rename(&src, &dst).map_err(|e| Refusal::io("move", &src, &e))?;
    entry(guard, &dst)
}

/// Removes a file, a symlink (never its target) or a directory (non-empty only with `recursive`).
pub fn delete(guard: &Guard<'_>, path: &str, recursive: bool) -> Result<(), Refusal> {
    guard.writable()?;
    let (_, full) = guard.entry(path)?;
    guard.not_holding_state(path, &full)?;
    let meta = std::fs::symlink_metadata(&full).map_err(|e| Refusal::io("delete", &full, &e))?;
    let removed = if meta.is_dir() && recursive {
        std::fs::remove_dir_all(&full)
    } else if meta.is_dir() {
        std::fs::remove_dir(&full)
    } else {
        std::fs::remove_file(&full)
    };
    removed.map_err(|e| match e.kind() {
        std::io::ErrorKind::DirectoryNotEmpty => Refusal::new(
            ERR_NOT_EMPTY,
            format!(
                "{} is not empty; set recursive to delete it with everything in it",
                full.display()
            ),
        ),
        _ => Refusal::io("delete", &full, &e),
    })
}

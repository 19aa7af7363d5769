//! Throwing away unstaged changes (`git restore <paths>`): changed and deleted files get the index's
//! content and mode back, and named untracked files are deleted. Nothing outside the work tree is
//! touched, and no symlinked directory is followed.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use gix::bstr::{BStr, BString, ByteSlice};
use gix::index::entry::{Mode, Stage};
use gix::status::index_worktree::Item as WorktreeItem;
use gix::status::plumbing::index_as_worktree::{Change, EntryStatus};

use super::stage::require_known;
use super::{GitError, OrGit, Repo, Selection, pathspecs, worktree_file};

/// Restores `paths` (files or directories) to their index state; untracked files under them go.
pub(crate) fn discard(r: &Repo, paths: &[String]) -> Result<(), GitError> {
    let repo = &r.repo;
    let index = repo.index_or_empty().or_git("reading the index")?;
    require_known(r, &index, None, paths)?;
    let selected = Selection::new(paths);
    if let Some(e) = index
        .entries()
        .iter()
        .find(|e| e.stage() != Stage::Unconflicted && selected.covers(e.path(&index)))
    {
        return Err(GitError::conflict(format!(
            "{} has unresolved merge conflicts; edit and stage it, or finish the merge with git first",
            e.path(&index)
        )));
    }

    let iter = repo
        .status(gix::progress::Discard)
        .or_git("preparing to discard")?
        .untracked_files(gix::status::UntrackedFiles::Files)
        .index_worktree_submodules(None)
        .into_index_worktree_iter(pathspecs(paths))
        .or_git("starting to discard")?;
    let mut restore = Vec::new();
    let mut delete = Vec::new();
    for item in iter {
        let item = item.or_git("comparing the work tree with the index")?;
        if !selected.covers(item.rela_path()) || r.hides(item.rela_path()) {
            continue;
        }
        match item {
            WorktreeItem::Modification {
                entry,
                rela_path,
                status:
                    EntryStatus::Change(
                        Change::Removed | Change::Modification { .. } | Change::Type { .. },
                    ),
                ..
            } => restore.push((rela_path, entry.id, entry.mode)),
            WorktreeItem::DirectoryContents { entry, .. }
                if entry.status == gix::dir::entry::Status::Untracked
                    && matches!(
                        entry.disk_kind,
                        Some(gix::dir::entry::Kind::File | gix::dir::entry::Kind::Symlink)
                    ) =>
            {
                delete.push(entry.rela_path);
            }
            _ => {}
        }
    }

    let (mut pipeline, _) = repo.filter_pipeline(None).or_git("preparing filters")?;
    for (path, id, mode) in restore {
        write_entry(r, &mut pipeline, path.as_ref(), id, mode)?;
    }
    for path in delete {
        let full = worktree_file(&r.workdir, &path)?;
        std::fs::remove_file(&full).or_git(&format!("deleting {}", full.display()))?;
        prune_dirs(&r.workdir, &path, &selected);
    }
    Ok(())
}

/// Writes the index version of `path` into the work tree, replacing whatever is there (a symlink is
/// replaced, never followed).
fn write_entry(
    r: &Repo,
    pipeline: &mut gix::filter::Pipeline<'_>,
    path: &BStr,
    id: gix::ObjectId,
    mode: Mode,
) -> Result<(), GitError> {
    if mode == Mode::COMMIT || mode == Mode::DIR {
        // Submodules are repositories of their own; discarding in them is their business.
        return Ok(());
    }
    let full = worktree_file(&r.workdir, path)?;
    let shown = full.display().to_string();
    if full.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        return Err(GitError::conflict(format!(
            "{shown} is now a directory; move it away before discarding its changes"
        )));
    }
    let dir = full.parent().unwrap_or(&r.workdir);
    std::fs::create_dir_all(dir).or_git(&format!("creating {}", dir.display()))?;
    let blob = r
        .repo
        .find_object(id)
        .or_git(&format!("reading the index version of {path}"))?
        .detach();
    if mode == Mode::SYMLINK {
        let target = gix::path::from_bstr(blob.data.as_bstr())
            .or_git(&format!("reading the link target of {path}"))?
            .into_owned();
        let tmp = temp_path(&full);
        std::os::unix::fs::symlink(&target, &tmp).or_git(&format!("restoring {shown}"))?;
        return std::fs::rename(&tmp, &full)
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })
            .or_git(&format!("restoring {shown}"));
    }
    let mut content = pipeline
        .convert_to_worktree(&blob.data, path, Default::default())
        .or_git(&format!("applying filters to {path}"))?;
    let perm = if mode == Mode::FILE_EXECUTABLE {
        0o777
    } else {
        0o666
    };
    // Written beside the file and renamed over it, so a failure never leaves half a file.
    let tmp = temp_path(&full);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(perm)
            .open(&tmp)?;
        std::io::copy(&mut content, &mut f)?;
        f.flush()?;
        std::fs::rename(&tmp, &full)
    })();
    written
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .or_git(&format!("restoring {shown}"))
}

/// A name beside `full` no one else uses.
fn temp_path(full: &Path) -> std::path::PathBuf {
    let name = full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nonce: u64 = rand_nonce();
    full.with_file_name(format!(
        ".{name}.vibebridge-{}-{nonce:x}",
        std::process::id()
    ))
}

fn rand_nonce() -> u64 {
    let mut b = [0u8; 8];
    // Uniqueness only; on failure the process id and time still make clashes unlikely.
    if getrandom::fill(&mut b).is_err() {
        return std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
    }
    u64::from_le_bytes(b)
}

/// Removes directories left empty by deleting `deleted`, up to (and including) the named path they
/// were found under, never above it.
fn prune_dirs(workdir: &Path, deleted: &BString, selected: &Selection) {
    let mut rel: &[u8] = deleted;
    while let Some(slash) = rel.rfind_byte(b'/') {
        rel = &rel[..slash];
        if !selected.covers(rel) {
            break;
        }
        let Ok(dir) = std::str::from_utf8(rel) else {
            break;
        };
        if std::fs::remove_dir(workdir.join(dir)).is_err() {
            break;
        }
    }
}

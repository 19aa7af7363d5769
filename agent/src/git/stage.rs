//! Staging and unstaging: `git add <paths>` and `git restore --staged <paths>`, as edits of the index
//! under git's own `index.lock`.

use std::collections::{BTreeSet, HashSet};
use vibebridge_tunnel::reply::ErrorCode;

use gix::bstr::{BStr, BString, ByteSlice};
use gix::index::entry::{Flags, Mode, Stage, Stat};
use gix::object::tree::EntryKind;
use gix::status::index_worktree::Item as WorktreeItem;
use gix::status::plumbing::index_as_worktree::{Change, EntryStatus};

use super::{GitError, OrGit, Repo, Selection, pathspecs, staged, worktree_file};

/// The index, locked against other git processes until written or dropped.
pub(crate) struct LockedIndex {
    lock: gix::lock::File,
    pub(crate) file: gix::index::File,
}

impl LockedIndex {
    /// Takes `index.lock`, then reads the index, so nothing changes it between reading and writing.
    pub(crate) fn open(repo: &gix::Repository) -> Result<LockedIndex, GitError> {
        let path = repo.index_path();
        let lock = gix::lock::File::acquire_to_update_resource(
            &path,
            gix::lock::acquire::Fail::Immediately,
            None,
            0,
        )
        .map_err(|_| {
            GitError::conflict(
                "another git process is changing this repository (.git/index.lock exists); \
                 wait for it to finish, or delete .git/index.lock if no git command is running",
            )
        })?;
        let file = if path.exists() {
            repo.open_index().or_git("reading the index")?
        } else {
            gix::index::File::from_state(gix::index::State::new(repo.object_hash()), path)
        };
        Ok(LockedIndex { lock, file })
    }

    /// Writes the edited index and releases the lock. Every path added, changed or removed must be
    /// in `changed`: its directories lose their cached trees, or git would commit stale content.
    pub(crate) fn write<'a>(
        self,
        changed: impl IntoIterator<Item = &'a BStr>,
    ) -> Result<(), GitError> {
        let LockedIndex { lock, mut file } = self;
        if let Some(tree) = file.tree_mut() {
            for path in changed {
                staged::invalidate(tree, path);
            }
        }
        let mut out = std::io::BufWriter::new(lock);
        file.write_to(&mut out, gix::index::write::Options::default())
            .or_git("writing the index")?;
        let lock = out
            .into_inner()
            .map_err(|e| GitError::internal("writing the index", e.error()))?;
        lock.commit().or_git("replacing the index")?;
        Ok(())
    }
}

/// `git add` for each path: new and changed files are written to the object database and entered
/// with their stat data and mode; deleted files leave the index; conflicts count as resolved.
pub(crate) fn stage(r: &Repo, paths: &[String]) -> Result<(), GitError> {
    let repo = &r.repo;
    let mut index = LockedIndex::open(repo)?;
    require_known(r, &index.file, None, paths)?;
    let (mut add, mut remove) = worktree_changes(r, &index.file, paths)?;
    add.retain(|p| !r.hides(p));
    remove.retain(|p| !r.hides(p));
    refuse_ignored(&index.file, paths, &add, &remove)?;

    let (mut pipeline, _) = repo.filter_pipeline(None).or_git("preparing filters")?;
    let file_mode = repo
        .config_snapshot()
        .boolean("core.fileMode")
        .unwrap_or(true);
    let mut upserts = Vec::with_capacity(add.len());
    for path in add {
        let full = worktree_file(&r.workdir, &path)?;
        // The stat is taken before the content is hashed: a change in between shows as modified later.
        let md = match gix::index::fs::Metadata::from_path_no_follow(&full) {
            Ok(md) => md,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                remove.insert(path);
                continue;
            }
            Err(e) => {
                return Err(GitError::internal(
                    &format!("reading {}", full.display()),
                    &e,
                ));
            }
        };
        let stat = Stat::from_fs(&md).or_git("reading file times")?;
        let Some((id, kind, _)) = pipeline
            .worktree_file_to_object(path.as_ref(), &index.file)
            .or_git(&format!("adding {} to the object database", full.display()))?
        else {
            remove.insert(path);
            continue;
        };
        let previous = index
            .file
            .entry_by_path_and_stage(path.as_ref(), Stage::Unconflicted)
            .map(|e| e.mode);
        upserts.push((path, id, mode(kind, previous, file_mode), stat));
    }

    let touched: HashSet<BString> = upserts.iter().map(|u| u.0.clone()).collect();
    let changed: Vec<BString> = touched.iter().chain(&remove).cloned().collect();
    index.file.remove_entries(|_, path, e| {
        remove.contains(path) || (touched.contains(path) && e.stage() != Stage::Unconflicted)
    });
    let mut new = Vec::new();
    for (path, id, mode, stat) in upserts {
        match index
            .file
            .entry_mut_by_path_and_stage(path.as_ref(), Stage::Unconflicted)
        {
            Some(e) => {
                e.id = id;
                e.mode = mode;
                e.stat = stat;
                e.flags.remove(Flags::INTENT_TO_ADD);
                if !e.flags.contains(Flags::SKIP_WORKTREE) {
                    e.flags.remove(Flags::EXTENDED);
                }
            }
            None => new.push((path, id, mode, stat)),
        }
    }
    if !new.is_empty() {
        for (path, id, mode, stat) in new {
            index
                .file
                .dangerously_push_entry(stat, id, Flags::empty(), mode, path.as_ref());
        }
        index.file.sort_entries();
    }
    index.write(changed.iter().map(|p| p.as_bstr()))
}

/// Paths that changed between index and work tree under `paths`: to add, and to remove.
fn worktree_changes(
    r: &Repo,
    index: &gix::index::File,
    paths: &[String],
) -> Result<(BTreeSet<BString>, BTreeSet<BString>), GitError> {
    let repo = &r.repo;
    let selected = Selection::new(paths);
    let iter = repo
        .status(gix::progress::Discard)
        .or_git("preparing to stage")?
        .index(gix::worktree::IndexPersistedOrInMemory::InMemory(
            index.clone(),
        ))
        .untracked_files(gix::status::UntrackedFiles::Files)
        .index_worktree_submodules(None)
        .into_index_worktree_iter(pathspecs(paths))
        .or_git("starting to stage")?;
    let mut add = BTreeSet::new();
    let mut remove = BTreeSet::new();
    for item in iter {
        let item = item.or_git("comparing the work tree with the index")?;
        if !selected.covers(item.rela_path()) || r.hides(item.rela_path()) {
            continue;
        }
        match item {
            WorktreeItem::Modification {
                rela_path, status, ..
            } => match status {
                EntryStatus::Change(Change::Removed) => {
                    remove.insert(rela_path);
                }
                EntryStatus::Conflict { .. }
                | EntryStatus::IntentToAdd
                | EntryStatus::Change(Change::Modification { .. } | Change::Type { .. }) => {
                    add.insert(rela_path);
                }
                EntryStatus::Change(Change::SubmoduleModification(_))
                | EntryStatus::NeedsUpdate(_) => {}
            },
            WorktreeItem::DirectoryContents { entry, .. } => {
                let file = matches!(
                    entry.disk_kind,
                    Some(gix::dir::entry::Kind::File | gix::dir::entry::Kind::Symlink)
                );
                // Nested repositories are left alone: adding one needs a submodule, not a file.
                if entry.status == gix::dir::entry::Status::Untracked && file {
                    add.insert(entry.rela_path);
                }
            }
            WorktreeItem::Rewrite { .. } => {}
        }
    }
    Ok((add, remove))
}

/// Refuses a named path that exists but gave nothing to stage and is not tracked: it is ignored, an
/// empty directory or a repository of its own, and silently doing nothing would mislead.
fn refuse_ignored(
    index: &gix::index::State,
    paths: &[String],
    add: &BTreeSet<BString>,
    remove: &BTreeSet<BString>,
) -> Result<(), GitError> {
    let has_under = |set: &BTreeSet<BString>, p: &str| {
        let dir = BString::from(format!("{p}/"));
        set.contains(p.as_bytes().as_bstr())
            || set
                .range(dir.clone()..)
                .next()
                .is_some_and(|x| x.starts_with(&dir))
    };
    for p in paths {
        let tracked = index.entry_by_path(p.as_bytes().as_bstr()).is_some()
            || index.path_is_directory(p.as_bytes().as_bstr());
        if !tracked && !has_under(add, p) && !has_under(remove, p) {
            return Err(GitError::bad_request(format!(
                "nothing to stage at {p}: it is ignored (.gitignore), an empty directory, or a \
                 repository of its own; use the git CLI for those"
            )));
        }
    }
    Ok(())
}

/// The index mode for a file of `kind`; with `core.fileMode = false` the executable bit stays as it was.
fn mode(kind: EntryKind, previous: Option<Mode>, file_mode: bool) -> Mode {
    match kind {
        EntryKind::Link => Mode::SYMLINK,
        EntryKind::Commit => Mode::COMMIT,
        EntryKind::Tree => Mode::DIR,
        EntryKind::Blob | EntryKind::BlobExecutable if !file_mode => match previous {
            Some(Mode::FILE_EXECUTABLE) => Mode::FILE_EXECUTABLE,
            _ => Mode::FILE,
        },
        EntryKind::Blob => Mode::FILE,
        EntryKind::BlobExecutable => Mode::FILE_EXECUTABLE,
    }
}

/// `git restore --staged` for each path: index entries go back to HEAD's version, or leave the index
/// when HEAD does not have them.
pub(crate) fn unstage(r: &Repo, paths: &[String]) -> Result<(), GitError> {
    let repo = &r.repo;
    let mut index = LockedIndex::open(repo)?;
    let head_tree = repo.head_tree_id_or_empty().or_git("reading HEAD's tree")?;
    let head = repo
        .index_from_tree(&head_tree)
        .or_git("reading HEAD's tree")?;
    require_known(r, &index.file, Some(&*head), paths)?;

    let selected = Selection::new(paths);
    let mut changed = Vec::new();
    index.file.remove_entries(|_, path, _| {
        let hit = selected.covers(path) && !r.hides(path);
        if hit {
            changed.push(path.to_owned());
        }
        hit
    });
    for e in head.entries() {
        let path = e.path(&head);
        if selected.covers(path) && !r.hides(path) {
            changed.push(path.to_owned());
            // No stat: the next status hashes the file once to learn whether it differs.
            index
                .file
                .dangerously_push_entry(Stat::default(), e.id, Flags::empty(), e.mode, path);
        }
    }
    index.file.sort_entries();
    index.write(changed.iter().map(|p| p.as_bstr()))
}

/// Refuses a path that is neither in the work tree nor in the index (nor in HEAD, when given), as
/// git does, so a typo is not silently ignored.
pub(crate) fn require_known(
    r: &Repo,
    index: &gix::index::State,
    head: Option<&gix::index::State>,
    paths: &[String],
) -> Result<(), GitError> {
    for p in paths {
        let in_tree = |s: &gix::index::State| {
            s.entry_by_path(p.as_bytes().as_bstr()).is_some()
                || s.path_is_directory(p.as_bytes().as_bstr())
        };
        let on_disk = std::fs::symlink_metadata(r.workdir.join(p)).is_ok();
        if !on_disk && !in_tree(index) && !head.is_some_and(in_tree) {
            return Err(GitError::new(
                ErrorCode::PathNotFound,
                format!("{p} is neither in the work tree nor known to git; check the path"),
            ));
        }
    }
    Ok(())
}

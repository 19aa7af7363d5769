//! `git status`: the branch line (name, HEAD, upstream, ahead/behind) and every changed, untracked and
//! conflicted path, from the HEAD→index comparison and gix's parallel index→work-tree one, run at once.

use std::collections::{BTreeMap, BTreeSet};
use vibebridge_tunnel::reply::ErrorCode;

use gix::bstr::ByteSlice;
use gix::diff::index::ChangeRef;
use gix::status::index_worktree::Item as WorktreeItem;
use gix::status::plumbing::index_as_worktree::{Change, EntryStatus};
use vibebridge_tunnel::git::{FileState, GitStatus, MAX_STATUS_ENTRIES, StatusEntry};

use super::{GitError, OrGit, Repo, staged};

/// The status of the whole work tree.
pub(crate) fn read(r: &Repo) -> Result<GitStatus, GitError> {
    let repo = &r.repo;
    let head = repo.head().or_git("reading HEAD")?;
    let branch_ref = head.referent_name().map(|n| n.to_owned());
    let head_id = head.id().map(|id| id.detach());
    let branch = branch_ref.as_ref().map(|n| n.shorten().to_string());
    let (upstream, ahead, behind) = match (&branch_ref, head_id) {
        (Some(name), Some(id)) => upstream_counts(repo, name.as_ref(), id)?,
        (Some(name), None) => (upstream_name(repo, name.as_ref()), 0, 0),
        _ => (None, 0, 0),
    };

    let index = repo.index_or_empty().or_git("reading the index")?;
    let head_tree = repo
        .head_tree_id_or_empty()
        .or_git("reading HEAD's tree")?
        .detach();
    // HEAD→index on a thread of its own while gix checks the work tree on the others.
    let (staged, worktree) = std::thread::scope(|s| {
        let (staged_repo, staged_index) = (repo.clone(), index.clone());
        let staged = s.spawn(move || {
            let mut out = Vec::new();
            staged::changes(&staged_repo, &staged_index, head_tree, |c| {
                out.push(staged_change(&c));
            })
            .map(|()| out)
        });
        let worktree = worktree_changes(repo, index.clone());
        let staged = staged.join().unwrap_or_else(|_| {
            Err(GitError::new(
                ErrorCode::Internal,
                "comparing the index with HEAD failed unexpectedly",
            ))
        });
        (staged, worktree)
    });
    let mut entries = BTreeMap::<String, StatusEntry>::new();
    let mut conflicted = BTreeSet::<String>::new();
    for (path, state) in worktree? {
        match state {
            FileState::Conflicted => {
                conflicted.insert(path);
            }
            state => entry(&mut entries, path).unstaged = state,
        }
    }
    for (path, orig, state) in staged? {
        let e = entry(&mut entries, path);
        e.staged = state;
        e.orig_path = orig;
    }
    for path in conflicted {
        let e = entry(&mut entries, path);
        e.staged = FileState::Conflicted;
        e.unstaged = FileState::Conflicted;
        e.orig_path = None;
    }
    entries.retain(|path, e| {
        !r.hides(path.as_bytes()) && !e.orig_path.as_ref().is_some_and(|o| r.hides(o.as_bytes()))
    });
    let truncated = entries.len() > MAX_STATUS_ENTRIES;
    Ok(GitStatus {
        workdir: r.workdir.display().to_string(),
        branch,
        head: head_id.map(|id| id.to_string()),
        upstream,
        ahead,
        behind,
        entries: entries.into_values().take(MAX_STATUS_ENTRIES).collect(),
        truncated,
    })
}

fn entry(entries: &mut BTreeMap<String, StatusEntry>, path: String) -> &mut StatusEntry {
    entries.entry(path.clone()).or_insert(StatusEntry {
        path,
        orig_path: None,
        staged: FileState::Unmodified,
        unstaged: FileState::Unmodified,
    })
}

/// Index→work-tree changes of every path, untracked ones included, as `(path, state)`.
fn worktree_changes(
    repo: &gix::Repository,
    index: gix::worktree::Index,
) -> Result<Vec<(String, FileState)>, GitError> {
    let iter = repo
        .status(gix::progress::Discard)
        .or_git("preparing the status")?
        .index(gix::worktree::IndexPersistedOrInMemory::Persisted(index))
        .into_index_worktree_iter(None)
        .or_git("starting the status")?;
    let mut out = Vec::new();
    for item in iter {
        out.extend(worktree_change(&item.or_git("computing the status")?));
    }
    Ok(out)
}

/// Path, previous path (renames) and state of one HEAD→index change.
pub(crate) fn staged_change(change: &ChangeRef<'_, '_>) -> (String, Option<String>, FileState) {
    let text = |p: &gix::bstr::BStr| p.to_str_lossy().into_owned();
    match change {
        ChangeRef::Addition { location, .. } => (text(location), None, FileState::Added),
        ChangeRef::Deletion { location, .. } => (text(location), None, FileState::Deleted),
        ChangeRef::Modification {
            location,
            previous_entry_mode,
            entry_mode,
            ..
        } => {
            let state = if kind_changed(*previous_entry_mode, *entry_mode) {
                FileState::TypeChanged
            } else {
                FileState::Modified
            };
            (text(location), None, state)
        }
        ChangeRef::Rewrite {
            source_location,
            location,
            copy,
            ..
        } => {
            if *copy {
                (text(location), None, FileState::Added)
            } else {
                (
                    text(location),
                    Some(text(source_location)),
                    FileState::Renamed,
                )
            }
        }
    }
}

/// Path and state of one index→work-tree change; `None` for entries that did not change.
fn worktree_change(item: &WorktreeItem) -> Option<(String, FileState)> {
    match item {
        WorktreeItem::Modification {
            rela_path, status, ..
        } => {
            let state = match status {
                EntryStatus::Conflict { .. } => FileState::Conflicted,
                EntryStatus::Change(Change::Removed) => FileState::Deleted,
                EntryStatus::Change(Change::Type { .. }) => FileState::TypeChanged,
                EntryStatus::Change(Change::Modification { .. })
                | EntryStatus::Change(Change::SubmoduleModification(_)) => FileState::Modified,
                // `git add -N`: git shows it as added on the work-tree side.
                EntryStatus::IntentToAdd => FileState::Added,
                EntryStatus::NeedsUpdate(_) => return None,
            };
            Some((rela_path.to_str_lossy().into_owned(), state))
        }
        WorktreeItem::DirectoryContents { entry, .. } => {
            if entry.status != gix::dir::entry::Status::Untracked {
                return None;
            }
            let mut path = entry.rela_path.to_str_lossy().into_owned();
            // Like git, a collapsed untracked directory is shown with a trailing slash.
            if matches!(
                entry.disk_kind,
                Some(gix::dir::entry::Kind::Directory | gix::dir::entry::Kind::Repository)
            ) {
                path.push('/');
            }
            Some((path, FileState::Untracked))
        }
        // Work-tree rename tracking is off, as in `git status`.
        WorktreeItem::Rewrite { .. } => None,
    }
}

/// File ↔ symlink ↔ submodule: a type change; an executable bit is only a modification.
pub(crate) fn kind_changed(a: gix::index::entry::Mode, b: gix::index::entry::Mode) -> bool {
    use gix::index::entry::Mode;
    let kind = |m: Mode| {
        if m.contains(Mode::SYMLINK) {
            1
        } else if m.contains(Mode::COMMIT) {
            2
        } else {
            0
        }
    };
    kind(a) != kind(b)
}

fn upstream_name(repo: &gix::Repository, branch: &gix::refs::FullNameRef) -> Option<String> {
    match repo.branch_remote_tracking_ref_name(branch, gix::remote::Direction::Fetch) {
        Some(Ok(name)) => Some(name.shorten().to_string()),
        _ => None,
    }
}

/// The branch's upstream and how far the branch is ahead of and behind it.
fn upstream_counts(
    repo: &gix::Repository,
    branch: &gix::refs::FullNameRef,
    head: gix::ObjectId,
) -> Result<(Option<String>, u32, u32), GitError> {
    let Some(Ok(tracking)) =
        repo.branch_remote_tracking_ref_name(branch, gix::remote::Direction::Fetch)
    else {
        return Ok((None, 0, 0));
    };
    let short = tracking.shorten().to_string();
    // A configured upstream that was never fetched (or is gone) counts nothing, like git's "[gone]".
    let Ok(Some(mut up)) = repo.try_find_reference(tracking.as_ref()) else {
        return Ok((Some(short), 0, 0));
    };
    let up = up.peel_to_id().or_git("resolving the upstream")?.detach();
    if up == head {
        return Ok((Some(short), 0, 0));
    }
    let ahead = count_only_in(repo, head, up)?;
    let behind = count_only_in(repo, up, head)?;
    Ok((Some(short), ahead, behind))
}

/// Commits reachable from `tip` and not from `hidden`.
fn count_only_in(
    repo: &gix::Repository,
    tip: gix::ObjectId,
    hidden: gix::ObjectId,
) -> Result<u32, GitError> {
    let walk = repo
        .rev_walk([tip])
        .with_hidden([hidden])
        .all()
        .or_git("walking history")?;
    let mut n = 0u32;
    for info in walk {
        info.or_git("walking history")?;
        n = n.saturating_add(1);
    }
    Ok(n)
}

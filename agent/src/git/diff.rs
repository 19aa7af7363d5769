//! `git diff` (work tree against index), `git diff --cached` (index against HEAD) and `git show` (what a
//! commit changed against its first parent): which files changed, their line counts, and unified hunks
//! with 3 lines of context, up to [`MAX_DIFF_BYTES`].

use std::collections::BTreeMap;

use gix::bstr::{BStr, ByteSlice};
use gix::diff::blob::platform::prepare_diff::Operation;
use gix::diff::blob::unified_diff::{ConsumeHunk, ContextSize, DiffLineKind, HunkHeader};
use gix::diff::blob::{Diff, InternedInput, ResourceKind, UnifiedDiff};
use gix::object::tree::EntryKind;
use gix::status::index_worktree::Item as WorktreeItem;
use gix::status::plumbing::index_as_worktree::{Change, EntryStatus};
use vibebridge_tunnel::git::{FileDiff, FileState, GitDiff, MAX_DIFF_BYTES};

use super::{GitError, OrGit, Repo, covers, pathspec};

/// One side of a file's change.
#[derive(Clone, Copy)]
enum Side {
    /// Not there.
    Missing,
    /// A blob in the object database.
    Blob(gix::ObjectId, EntryKind),
    /// The file in the work tree.
    Worktree(EntryKind),
}

/// A changed file, before its blobs are diffed.
struct Changed {
    path: String,
    orig_path: Option<String>,
    state: FileState,
    old: Side,
    new: Side,
}

/// What to compare.
pub(crate) enum Compare<'a> {
    /// The work tree against the index.
    Worktree,
    /// The index against HEAD.
    Staged,
    /// A commit against its first parent (a root commit against nothing).
    Commit(&'a str),
}

/// The diff `what` asks for; only `only` (a work-tree-relative file or directory) when given.
pub(crate) fn read(r: &Repo, what: Compare<'_>, only: Option<&str>) -> Result<GitDiff, GitError> {
    let mut changed = match what {
        Compare::Worktree => worktree_changes(&r.repo, only)?,
        Compare::Staged => {
            let tree = r
                .repo
                .head_tree_id_or_empty()
                .or_git("reading HEAD's tree")?
                .detach();
            let index = r.repo.index_or_empty().or_git("reading the index")?;
            index_changes(&r.repo, tree, &index)?
        }
        Compare::Commit(rev) => commit_changes(&r.repo, rev)?,
    };
    let from_worktree = matches!(what, Compare::Worktree);
    if let Some(only) = only {
        changed.retain(|_, c| {
            covers(only, c.path.as_bytes())
                || c.orig_path
                    .as_deref()
                    .is_some_and(|o| covers(only, o.as_bytes()))
        });
    }
    changed.retain(|_, c| {
        !r.hides(c.path.as_bytes()) && !c.orig_path.as_ref().is_some_and(|o| r.hides(o.as_bytes()))
    });
    let roots = gix::diff::blob::pipeline::WorktreeRoots {
        old_root: None,
        new_root: from_worktree.then(|| r.workdir.clone()),
    };
    let mut cache = r
        .repo
        .diff_resource_cache(gix::diff::blob::pipeline::Mode::ToGit, roots)
        .or_git("preparing the diff")?;
    let mut budget = MAX_DIFF_BYTES;
    let mut truncated = false;
    let mut files = Vec::with_capacity(changed.len());
    for c in changed.into_values() {
        let file = file_diff(&r.repo, &mut cache, c, &mut budget, &mut truncated)?;
        files.push(file);
        cache.clear_resource_cache_keep_allocation();
    }
    Ok(GitDiff { files, truncated })
}

fn kind(mode: gix::index::entry::Mode) -> EntryKind {
    mode.to_tree_entry_mode()
        .map(|m| m.kind())
        .unwrap_or(EntryKind::Blob)
}

/// What the commit `rev` changed against its first parent, as the index of its tree against the parent's
/// tree (so renames are detected the same way as for staged changes).
fn commit_changes(
    repo: &gix::Repository,
    rev: &str,
) -> Result<BTreeMap<String, Changed>, GitError> {
    let id = super::log::resolve_commit(repo, rev)?;
    let commit = repo.find_commit(id).or_git("reading the commit")?;
    let tree = commit.tree_id().or_git("reading the commit's tree")?;
    let parent = match commit.parent_ids().next() {
        Some(parent) => repo
            .find_commit(parent)
            .or_git("reading the parent commit")?
            .tree_id()
            .or_git("reading the parent's tree")?
            .detach(),
        None => gix::ObjectId::empty_tree(repo.object_hash()),
    };
    let index = repo
        .index_from_tree(&tree)
        .or_git("reading the commit's tree")?;
    index_changes(repo, parent, &index)
}

/// `tree`→`index` changes, renames detected as `git diff --cached` does; conflicted paths have no stage 0
/// entry and are listed as conflicted.
fn index_changes(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    index: &gix::index::State,
) -> Result<BTreeMap<String, Changed>, GitError> {
    let mut out = BTreeMap::new();
    super::staged::changes(repo, index, tree, |change| {
        let (path, orig_path, state) = super::status::staged_change(&change);
        let (old, new) = match &change {
            gix::diff::index::ChangeRef::Addition { entry_mode, id, .. } => (
                Side::Missing,
                Side::Blob(id.clone().into_owned(), kind(*entry_mode)),
            ),
            gix::diff::index::ChangeRef::Deletion { entry_mode, id, .. } => (
                Side::Blob(id.clone().into_owned(), kind(*entry_mode)),
                Side::Missing,
            ),
            gix::diff::index::ChangeRef::Modification {
                previous_entry_mode,
                previous_id,
                entry_mode,
                id,
                ..
            } => (
                Side::Blob(previous_id.clone().into_owned(), kind(*previous_entry_mode)),
                Side::Blob(id.clone().into_owned(), kind(*entry_mode)),
            ),
            gix::diff::index::ChangeRef::Rewrite {
                source_entry_mode,
                source_id,
                entry_mode,
                id,
                copy,
                ..
            } => (
                if *copy {
                    Side::Missing
                } else {
                    Side::Blob(source_id.clone().into_owned(), kind(*source_entry_mode))
                },
                Side::Blob(id.clone().into_owned(), kind(*entry_mode)),
            ),
        };
        out.insert(
            path.clone(),
            Changed {
                path,
                orig_path,
                state,
                old,
                new,
            },
        );
    })?;
    for e in index.entries() {
        if e.stage() != gix::index::entry::Stage::Unconflicted {
            let path = e.path(index).to_str_lossy().into_owned();
            out.insert(path.clone(), conflicted(path));
        }
    }
    Ok(out)
}

fn conflicted(path: String) -> Changed {
    Changed {
        path,
        orig_path: None,
        state: FileState::Conflicted,
        old: Side::Missing,
        new: Side::Missing,
    }
}

/// Index→work-tree changes of tracked files (untracked files are not part of `git diff`).
fn worktree_changes(
    repo: &gix::Repository,
    only: Option<&str>,
) -> Result<BTreeMap<String, Changed>, GitError> {
    let iter = repo
        .status(gix::progress::Discard)
        .or_git("preparing the diff")?
        .untracked_files(gix::status::UntrackedFiles::None)
        .index_worktree_submodules(None)
        .into_index_worktree_iter(only.map(pathspec))
        .or_git("starting the diff")?;
    let mut out = BTreeMap::new();
    for item in iter {
        let WorktreeItem::Modification {
            entry,
            rela_path,
            status,
            ..
        } = item.or_git("comparing the work tree with the index")?
        else {
            continue;
        };
        let path = rela_path.to_str_lossy().into_owned();
        let old = Side::Blob(entry.id, kind(entry.mode));
        let (state, old, new) = match status {
            EntryStatus::Conflict { .. } => {
                out.insert(path.clone(), conflicted(path));
                continue;
            }
            EntryStatus::Change(Change::Removed) => (FileState::Deleted, old, Side::Missing),
            EntryStatus::Change(Change::Type { worktree_mode }) => (
                FileState::TypeChanged,
                old,
                Side::Worktree(kind(worktree_mode)),
            ),
            EntryStatus::Change(Change::Modification { .. }) => {
                (FileState::Modified, old, Side::Worktree(kind(entry.mode)))
            }
            EntryStatus::IntentToAdd => (
                FileState::Added,
                Side::Missing,
                Side::Worktree(kind(entry.mode)),
            ),
            EntryStatus::Change(Change::SubmoduleModification(_)) | EntryStatus::NeedsUpdate(_) => {
                continue;
            }
        };
        out.insert(
            path.clone(),
            Changed {
                path,
                orig_path: None,
                state,
                old,
                new,
            },
        );
    }
    Ok(out)
}

/// Diffs one file's two sides; its patch is left out once `budget` is spent.
fn file_diff(
    repo: &gix::Repository,
    cache: &mut gix::diff::blob::Platform,
    c: Changed,
    budget: &mut usize,
    truncated: &mut bool,
) -> Result<FileDiff, GitError> {
    let mut out = FileDiff {
        path: c.path,
        orig_path: c.orig_path,
        state: c.state,
        binary: false,
        additions: 0,
        deletions: 0,
        patch: String::new(),
    };
    if out.state == FileState::Conflicted {
        return Ok(out);
    }
    let old_path = out.orig_path.clone().unwrap_or_else(|| out.path.clone());
    set(repo, cache, c.old, &old_path, ResourceKind::OldOrSource)?;
    set(
        repo,
        cache,
        c.new,
        &out.path,
        ResourceKind::NewOrDestination,
    )?;
    let prep = cache
        .prepare_diff()
        .map_err(gix::Exn::into_error)
        .or_git("preparing a file diff")?;
    match prep.operation {
        Operation::SourceOrDestinationIsBinary => out.binary = true,
        Operation::InternalDiff { algorithm } => {
            let input = InternedInput::new(prep.old.intern_source(), prep.new.intern_source());
            let mut diff = Diff::compute(algorithm, &input);
            diff.postprocess_lines(&input);
            out.additions = diff.count_additions();
            out.deletions = diff.count_removals();
            if *truncated {
                return Ok(out);
            }
            let patch = Patch {
                text: String::new(),
                room: *budget,
            };
            match UnifiedDiff::new(&diff, &input, patch, ContextSize::symmetrical(3)).consume() {
                Ok(text) => {
                    *budget -= text.len();
                    out.patch = text;
                }
                Err(_) => *truncated = true,
            }
        }
        // External diff drivers are never run (`skip_internal_diff_if_external_is_configured` is off).
        Operation::ExternalCommand { .. } => out.binary = true,
    }
    Ok(out)
}

fn set(
    repo: &gix::Repository,
    cache: &mut gix::diff::blob::Platform,
    side: Side,
    path: &str,
    which: ResourceKind,
) -> Result<(), GitError> {
    let null = gix::ObjectId::null(repo.object_hash());
    let text = |k: EntryKind| !matches!(k, EntryKind::Commit | EntryKind::Tree);
    // A null id means "read the work tree" on the work-tree side and "not there" otherwise; a
    // submodule has no text and is diffed as nothing.
    let (id, kind) = match side {
        Side::Blob(id, k) if text(k) => (id, k),
        Side::Worktree(k) if text(k) => (null, k),
        _ => (null, EntryKind::Blob),
    };
    cache
        .set_resource(id, kind, BStr::new(path), which, &repo.objects)
        .map_err(gix::Exn::into_error)
        .or_git("reading a file to diff")
}

/// Renders hunks the way git prints them, and gives up (an error) when the text outgrows `room`.
struct Patch {
    text: String,
    room: usize,
}

impl ConsumeHunk for Patch {
    type Out = String;

    fn consume_hunk(
        &mut self,
        h: HunkHeader,
        lines: &[(DiffLineKind, &[u8])],
    ) -> std::io::Result<()> {
        let range = |start: u32, len: u32| match len {
            0 => format!("{},0", start.saturating_sub(1)),
            1 => start.to_string(),
            n => format!("{start},{n}"),
        };
        self.text.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(h.before_hunk_start, h.before_hunk_len),
            range(h.after_hunk_start, h.after_hunk_len)
        ));
        for (kind, line) in lines {
            self.text.push(kind.to_prefix());
            self.text.push_str(&line.to_str_lossy());
            if !line.ends_with(b"\n") {
                self.text.push_str("\n\\ No newline at end of file\n");
            }
        }
        if self.text.len() > self.room {
            return Err(std::io::Error::other("patch too large"));
        }
        Ok(())
    }

    fn finish(self) -> String {
        self.text
    }
}

//! The HEAD→index comparison, sped up the way git does it: the index's cached tree (the `TREE`
//! extension) vouches for directories whose staged content is a known tree, and every such directory
//! that equals HEAD's is skipped on both sides. Only the rest is diffed by gix, renames included.
//! Also here: keeping that cache honest when we edit the index.

use std::collections::HashMap;
use std::ops::Range;

use gix::bstr::{BStr, BString, ByteSlice};
use gix::diff::index::ChangeRef;
use gix::index::entry::{Flags, Mode, Stat};
use gix::index::extension::Tree as CacheTree;
use gix::object::tree::EntryKind;

use super::{GitError, OrGit};

/// Calls `each` for every HEAD→index change (conflicted and `add -N` entries are left out, as git
/// does); renames are detected unless `status.renames`/`diff.renames` turn them off.
pub(crate) fn changes(
    repo: &gix::Repository,
    index: &gix::index::State,
    head_tree: gix::ObjectId,
    mut each: impl FnMut(ChangeRef<'_, '_>),
) -> Result<(), GitError> {
    let mut lhs = gix::index::State::new(repo.object_hash());
    let mut skipped = Vec::new();
    let mut prefix = BString::default();
    collect_head(
        repo,
        head_tree,
        index.tree(),
        &mut prefix,
        &mut lhs,
        &mut skipped,
    )?;
    lhs.sort_entries();
    let rhs = without(index, &skipped);

    let mut search = gix::pathspec::Search::from_specs(None, None, std::path::Path::new(""))
        .or_git("preparing the comparison")?;
    let mut cache = repo
        .diff_resource_cache_for_tree_diff()
        .or_git("preparing rename detection")?;
    let rewrites = renames(repo).map(|rewrites| gix::diff::index::RewriteOptions {
        resource_cache: &mut cache,
        find: &repo.objects,
        rewrites,
    });
    gix::diff::index(
        &lhs,
        &rhs,
        |change| {
            each(change);
            Ok(gix::diff::index::Action::Continue(()))
        },
        rewrites,
        &mut search,
        &mut |_, _, _, _| false,
    )
    .or_git("comparing the index with HEAD")?;
    Ok(())
}

/// Rename detection as `git status` configures it: on unless `status.renames` (or failing that
/// `diff.renames`) is false.
fn renames(repo: &gix::Repository) -> Option<gix::diff::Rewrites> {
    let config = repo.config_snapshot();
    match config
        .boolean("status.renames")
        .or_else(|| config.boolean("diff.renames"))
    {
        Some(false) => None,
        _ => Some(gix::diff::Rewrites::default()),
    }
}

/// Adds HEAD's entries under `tree` to `lhs`, except for directories the cache vouches are unchanged:
/// their prefixes (`dir/`) go to `skipped` instead.
fn collect_head(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    cache: Option<&CacheTree>,
    prefix: &mut BString,
    lhs: &mut gix::index::State,
    skipped: &mut Vec<BString>,
) -> Result<(), GitError> {
    if cache.is_some_and(|c| c.num_entries.is_some() && c.id == tree) {
        skipped.push(prefix.clone());
        return Ok(());
    }
    let children: HashMap<&[u8], &CacheTree> = cache
        .map(|c| c.children.iter().map(|t| (&t.name[..], t)).collect())
        .unwrap_or_default();
    let object = repo.find_tree(tree).or_git("reading HEAD's tree")?;
    let decoded = object.decode().or_git("decoding HEAD's tree")?;
    for entry in &decoded.entries {
        let len = prefix.len();
        prefix.extend_from_slice(entry.filename);
        let id = entry.oid.to_owned();
        let mode = match entry.mode.kind() {
            EntryKind::Tree => {
                let name: &[u8] = entry.filename;
                let child = children.get(name).copied();
                prefix.push(b'/');
                collect_head(repo, id, child, prefix, lhs, skipped)?;
                prefix.truncate(len);
                continue;
            }
            EntryKind::Blob => Mode::FILE,
            EntryKind::BlobExecutable => Mode::FILE_EXECUTABLE,
            EntryKind::Link => Mode::SYMLINK,
            EntryKind::Commit => Mode::COMMIT,
        };
        lhs.dangerously_push_entry(Stat::default(), id, Flags::empty(), mode, prefix.as_bstr());
        prefix.truncate(len);
    }
    Ok(())
}

/// A copy of `index` without the entries under the `skipped` directory prefixes.
fn without(index: &gix::index::State, skipped: &[BString]) -> gix::index::State {
    let mut out = gix::index::State::new(index.object_hash());
    let mut ranges: Vec<Range<usize>> = skipped
        .iter()
        .filter_map(|p| {
            if p.is_empty() {
                Some(0..index.entries().len())
            } else {
                index.prefixed_entries_range(p.as_bstr())
            }
        })
        .collect();
    ranges.sort_by_key(|r| r.start);
    let mut next = ranges.into_iter().peekable();
    let mut i = 0;
    let entries = index.entries();
    while i < entries.len() {
        if let Some(r) = next.peek() {
            if r.start <= i {
                i = i.max(r.end);
                next.next();
                continue;
            }
        }
        let e = &entries[i];
        out.dangerously_push_entry(e.stat, e.id, e.flags, e.mode, e.path(index));
        i += 1;
    }
    out
}

/// Marks `path` changed in the cached tree, as git's `cache_tree_invalidate_path` does: every
/// directory containing it loses its vouched-for tree, and a directory of that name is dropped.
pub(crate) fn invalidate(tree: &mut CacheTree, path: &BStr) {
    tree.num_entries = None;
    match path.find_byte(b'/') {
        None => tree.children.retain(|c| c.name[..] != path[..]),
        Some(slash) => {
            let (dir, rest) = (&path[..slash], &path[slash + 1..]);
            if let Some(child) = tree.children.iter_mut().find(|c| c.name[..] == dir[..]) {
                invalidate(child, rest.as_bstr());
            }
        }
    }
}

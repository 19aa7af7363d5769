//! Committing the index: a tree written from the index entries, a commit by the given author on top
//! of HEAD (or the first commit of an empty repository), and HEAD's branch moved to it.
//!
//! Unlike `git commit`, no hooks run: the node commits what the user staged, as the user said.

use gix::index::entry::{Flags, Mode, Stage};
use gix::object::tree::EntryKind;
use vibebridge_tunnel::git::Author;
use vibebridge_tunnel::reply::ErrorCode;

use super::stage::LockedIndex;
use super::{GitError, OrGit, Repo};

/// Commits the index with `message` by `author` (also the committer), now; returns the new id.
pub(crate) fn commit(r: &Repo, message: &str, author: &Author) -> Result<String, GitError> {
    let message = clean_message(message)?;
    check_identity(author)?;
    let repo = &r.repo;
    if let Some(state) = repo.state() {
        return Err(GitError::conflict(format!(
            "a {state:?} is in progress in this repository; finish or abort it with git first"
        )));
    }
    // Held while reading, so no other git process changes the index halfway through.
    let index = LockedIndex::open(repo)?;
    let index = &index.file;
    if let Some(e) = index
        .entries()
        .iter()
        .find(|e| e.stage() != Stage::Unconflicted)
    {
        return Err(GitError::conflict(format!(
            "{} has unresolved merge conflicts; resolve and stage it before committing",
            e.path(index)
        )));
    }
    let tree = write_tree(repo, index)?;
    let head = repo
        .head()
        .or_git("reading HEAD")?
        .id()
        .map(|id| id.detach());
    let head_tree = match head {
        Some(id) => repo
            .find_commit(id)
            .or_git("reading HEAD's commit")?
            .tree_id()
            .or_git("reading HEAD's tree")?
            .detach(),
        None => gix::ObjectId::empty_tree(repo.object_hash()),
    };
    if r.hide_dots {
        let mut first_hidden = None;
        super::staged::changes(repo, index, head_tree, |c| {
            let (path, orig, _) = super::status::staged_change(&c);
            let hidden = |p: &String| r.hides(p.as_bytes());
            if first_hidden.is_none() && (hidden(&path) || orig.as_ref().is_some_and(hidden)) {
                first_hidden = Some(path);
            }
        })?;
        if let Some(path) = first_hidden {
            let mut refusal = super::hidden(&path);
            refusal.message.push_str(
                "; it is staged, so committing would publish it: unstage it (git restore --staged) first",
            );
            return Err(refusal);
        }
    }
    if tree == head_tree {
        return Err(GitError::new(
            ErrorCode::NothingToCommit,
            "nothing is staged, so there is nothing to commit: stage changes first",
        ));
    }
    let signature = gix::actor::Signature {
        name: author.name.as_str().into(),
        email: author.email.as_str().into(),
        time: gix::date::Time::now_local_or_utc(),
    };
    let mut time = gix::date::parse::TimeBuf::default();
    let who = signature.to_ref(&mut time);
    let id = repo
        .commit_as(who, who, "HEAD", message, tree, head)
        .map_err(|e| {
            GitError::conflict(format!(
                "could not move HEAD to the new commit (did another git process change it?): {}",
                super::chain(&e)
            ))
        })?;
    Ok(id.to_string())
}

/// The tree the index describes, written to the object database with all its subtrees.
fn write_tree(
    repo: &gix::Repository,
    index: &gix::index::State,
) -> Result<gix::ObjectId, GitError> {
    let mut editor = repo
        .edit_tree(gix::ObjectId::empty_tree(repo.object_hash()))
        .or_git("starting a tree")?;
    for e in index.entries() {
        // `git add -N` entries are promises, not content; git leaves them out of commits too.
        if e.flags.intersects(Flags::INTENT_TO_ADD | Flags::REMOVE) {
            continue;
        }
        let kind = match e.mode {
            Mode::FILE_EXECUTABLE => EntryKind::BlobExecutable,
            Mode::SYMLINK => EntryKind::Link,
            Mode::COMMIT => EntryKind::Commit,
            Mode::DIR => EntryKind::Tree,
            _ => EntryKind::Blob,
        };
        editor
            .upsert(e.path(index), kind, e.id)
            .or_git("building the tree")?;
    }
    Ok(editor.write().or_git("writing the tree")?.detach())
}

/// Like `git commit -m`'s whitespace clean-up: no trailing spaces, no leading, trailing or doubled
/// blank lines, one final newline.
fn clean_message(message: &str) -> Result<String, GitError> {
    let mut out = String::with_capacity(message.len() + 1);
    let mut blank = false;
    for line in message.lines().map(str::trim_end) {
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push('\n');
            blank = false;
        }
        out.push_str(line);
        out.push('\n');
    }
    if out.is_empty() {
        return Err(GitError::bad_request(
            "the commit message is empty: say what the commit changes",
        ));
    }
    Ok(out)
}

/// Refuses a name or email that would corrupt the commit header.
fn check_identity(author: &Author) -> Result<(), GitError> {
    for (what, value) in [("name", &author.name), ("email", &author.email)] {
        if value.trim().is_empty() || value.contains(['<', '>', '\n', '\0']) {
            return Err(GitError::bad_request(format!(
                "author {what} {value:?} is not usable: it must be non-empty, on one line, without `<` or `>`"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Proves messages are cleaned like `git commit -m` and an all-blank message is refused.
    #[test]
    fn git_message_cleanup() {
        assert_eq!(
            clean_message("\n\nsubject  \n\n\n\nbody\n\n").unwrap(),
            "subject\n\nbody\n"
        );
        assert_eq!(clean_message("one").unwrap(), "one\n");
        assert!(clean_message(" \n\t\n").is_err());
    }
}

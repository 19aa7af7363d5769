//! Listing and removing worktrees through git requests on real repositories: what cleanup sees of each,
//! and removal (and branch deletion) only on positive evidence that nothing would be lost.

use std::path::Path;

use vibebridge_tunnel::git::{GitAnswer, GitRequest, Removal, WorktreeEntry};
use vibebridge_tunnel::reply::ErrorCode;

use super::Fixture;
use super::run_diff::worktree;

fn entries(f: &Fixture) -> Vec<WorktreeEntry> {
    match f.ok(GitRequest::Worktrees { repo: f.repo_str() }) {
        GitAnswer::Worktrees { worktrees } => worktrees,
        other => panic!("not worktrees: {other:?}"),
    }
}

/// Removal after a merge into `base` (its branch deleted too), or plain removal.
fn remove_req(f: &Fixture, w: &Path, base: Option<&str>) -> GitRequest {
    GitRequest::RemoveWorktree {
        repo: f.repo_str(),
        path: w.display().to_string(),
        merged_into: base.map(str::to_string),
        delete_branch: base.is_some(),
        force: false,
    }
}

fn remove(f: &Fixture, w: &Path, base: Option<&str>) -> Removal {
    match f.ok(remove_req(f, w, base)) {
        GitAnswer::Removed(r) => r,
        other => panic!("not a removal: {other:?}"),
    }
}

fn commit_file(f: &Fixture, dir: &Path, rel: &str, content: &str) {
    std::fs::write(dir.join(rel), content).unwrap();
    f.git_ok(dir, &["add", rel]);
    f.git_ok(dir, &["commit", "-q", "-m", &format!("edit {rel}")]);
}

fn has_branch(f: &Fixture, name: &str) -> bool {
    !f.git(&["branch", "--list", name]).is_empty()
}

/// Proves the list has the working copy first, then each worktree with its branch, uncommitted files,
/// unique commits, and whether its directory is gone.
#[test]
fn worktrees_are_listed_with_what_cleanup_needs() {
    let f = Fixture::with_files(&[("a.txt", "a\n")]);
    let dirty = worktree(&f, "dirty");
    std::fs::write(dirty.join("a.txt"), "changed\n").unwrap();
    std::fs::write(dirty.join("new.txt"), "new\n").unwrap();
    let ahead = worktree(&f, "ahead");
    commit_file(&f, &ahead, "a.txt", "one\n");
    commit_file(&f, &ahead, "a.txt", "two\n");
    let gone = worktree(&f, "gone");
    std::fs::remove_dir_all(&gone).unwrap();

    let list = entries(&f);
    let summary: Vec<_> = list
        .iter()
        .map(|e| {
            (
                e.branch.as_deref().unwrap(),
                e.main,
                e.missing,
                e.dirty_files,
                e.unique_commits,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("main", true, false, 0, 0),
            ("ahead", false, false, 0, 2),
            ("dirty", false, false, 2, 0),
            ("gone", false, true, 0, 0),
        ]
    );
    assert_eq!(list[0].path, f.repo.display().to_string());
    assert_eq!(
        list[1].head.as_deref(),
        Some(f.git(&["rev-parse", "ahead"]).trim())
    );
}

/// Proves removal keeps a dirty worktree and one with unmerged unique commits, never touches the working
/// copy, and forgets a worktree whose directory is gone.
#[test]
fn removal_keeps_anything_that_would_be_lost() {
    let f = Fixture::with_files(&[("a.txt", "a\n")]);
    let w = worktree(&f, "run");
    std::fs::write(w.join("wip.txt"), "wip\n").unwrap();
    let kept = remove(&f, &w, Some("main"));
    assert!(!kept.removed && !kept.branch_deleted);
    assert_eq!(
        kept.kept_because.as_deref(),
        Some("it has 1 uncommitted or untracked changes (wip.txt)")
    );
    f.git_ok(&w, &["add", "wip.txt"]);
    f.git_ok(&w, &["commit", "-q", "-m", "wip"]);
    let kept = remove(&f, &w, Some("main"));
    assert!(!kept.removed);
    assert_eq!(
        kept.kept_because.as_deref(),
        Some(
            "branch run has 1 commits that no other branch has, and they are not merged into main"
        )
    );
    assert!(w.join("wip.txt").exists() && has_branch(&f, "run"));

    let (code, message) = f.err(remove_req(&f, &f.repo, None));
    assert_eq!(code, ErrorCode::BadRequest);
    assert!(
        message.contains("own working copy, which is never removed"),
        "{message}"
    );
    let (code, _) = f.err(remove_req(&f, &f.root.join("elsewhere"), None));
    assert_eq!(code, ErrorCode::PathNotFound);

    let gone = worktree(&f, "gone");
    std::fs::remove_dir_all(&gone).unwrap();
    let r = remove(&f, &gone, None);
    assert!(r.removed && !r.branch_deleted);
    assert!(!f.git(&["worktree", "list"]).contains("wt-gone"));
    assert!(has_branch(&f, "gone"), "its branch stays");
}

/// Proves a clean worktree merged into the base is removed and its branch deleted when asked, after a
/// fast-forward and after a squash merge, while a branch whose changes are not in the base is kept.
#[test]
fn removal_deletes_branches_only_when_their_changes_are_in_the_base() {
    let f = Fixture::with_files(&[("a.txt", "a\n"), ("b.txt", "b\n")]);
    let ff = worktree(&f, "ff");
    commit_file(&f, &ff, "a.txt", "ff\n");
    f.git(&["merge", "-q", "--ff-only", "ff"]);
    let r = remove(&f, &ff, Some("main"));
    assert_eq!(
        (r.removed, r.branch_deleted, r.kept_because),
        (true, true, None)
    );
    assert!(!ff.exists() && !has_branch(&f, "ff"));

    let squashed = worktree(&f, "squashed");
    commit_file(&f, &squashed, "b.txt", "squashed\n");
    f.git(&["merge", "-q", "--squash", "squashed"]);
    f.git(&["commit", "-q", "-m", "squash"]);
    commit_file(&f, &f.repo, "a.txt", "base moved on\n");
    let r = remove(&f, &squashed, Some("main"));
    assert_eq!((r.removed, r.branch_deleted), (true, true));
    assert!(!squashed.exists() && !has_branch(&f, "squashed"));

    let other = worktree(&f, "other");
    commit_file(&f, &other, "b.txt", "elsewhere\n");
    f.git(&["branch", "copy", "other"]);
    let r = remove(&f, &other, Some("main"));
    assert!(r.removed && !r.branch_deleted);
    assert_eq!(
        r.kept_because.as_deref(),
        Some("branch other was kept: its changes are not all in main")
    );
    assert!(has_branch(&f, "other"));

    // Squashed in, branch kept: its changes in the base are evidence enough to remove the work tree.
    let kept = worktree(&f, "kept");
    commit_file(&f, &kept, "b.txt", "kept\n");
    f.git(&["merge", "-q", "--squash", "kept"]);
    f.git(&["commit", "-q", "-m", "squash kept"]);
    let req = GitRequest::RemoveWorktree {
        repo: f.repo_str(),
        path: kept.display().to_string(),
        merged_into: Some("main".into()),
        delete_branch: false,
        force: false,
    };
    let GitAnswer::Removed(r) = f.ok(req) else {
        panic!("not a removal")
    };
    assert_eq!(
        (r.removed, r.branch_deleted, r.kept_because),
        (true, false, None)
    );
    assert!(!kept.exists() && has_branch(&f, "kept"));

    let plain = worktree(&f, "plain");
    let r = remove(&f, &plain, None);
    assert_eq!(
        (r.removed, r.branch_deleted, r.kept_because),
        (true, false, None)
    );
    assert!(has_branch(&f, "plain"));
}

//! Preparing runs on real repositories: worktrees on new branches named from the task, per-repository
//! directories, carried work, the working copy in place, adopted branches and worktrees, rollback of a
//! failed preparation, and ports.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use vibebridge_tunnel::reply::ErrorCode;
use vibebridge_tunnel::run::RunMode;

use super::{Fixture, no_ports, spec, worktree_mode};
use crate::runs::copy::CopyLimits;
use crate::runs::prepare::{prepare, prepare_with, repo_worktrees};

/// Proves worktree mode makes `vb/<key>-<slug>` branches in the repository's own directory under the
/// worktrees root, with a `-2` when the branch exists and a `-3` when only the directory does.
#[test]
fn worktree_mode_names_branches_from_the_task() {
    let f = Fixture::new();
    let s = spec(&f.repo, worktree_mode(false));
    let first = prepare(&s, &f.repo, &f.worktrees, &no_ports).unwrap();
    let dir = repo_worktrees(&f.worktrees, &f.repo);
    assert_eq!(first.branch.as_deref(), Some("vb/ABC-1-fix-login"));
    assert_eq!(PathBuf::from(&first.path), dir.join("vb-ABC-1-fix-login"));
    assert!(
        dir.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("repo-")
    );
    assert_eq!(first.base_commit, f.git(&f.repo, &["rev-parse", "main"]));
    assert_eq!(first.base_branch, "main");
    assert_eq!(
        std::fs::read_to_string(Path::new(&first.path).join("a.txt")).unwrap(),
        "one\n"
    );
    let second = prepare(&s, &f.repo, &f.worktrees, &no_ports).unwrap();
    assert_eq!(second.branch.as_deref(), Some("vb/ABC-1-fix-login-2"));
    // A leftover directory (no branch) makes the name taken too.
    std::fs::create_dir_all(dir.join("vb-ABC-1-fix-login-3")).unwrap();
    let third = prepare(&s, &f.repo, &f.worktrees, &no_ports).unwrap();
    assert_eq!(third.branch.as_deref(), Some("vb/ABC-1-fix-login-4"));
    assert_eq!(
        f.git(&f.repo, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "main"
    );
}

/// Proves two repositories with the same directory name and branch name get separate worktrees.
#[test]
fn two_repositories_never_collide() {
    let f = Fixture::new();
    let a = f.make_repo("one/app");
    let b = f.make_repo("two/app");
    let pa = prepare(&spec(&a, worktree_mode(false)), &a, &f.worktrees, &no_ports).unwrap();
    let pb = prepare(&spec(&b, worktree_mode(false)), &b, &f.worktrees, &no_ports).unwrap();
    assert_eq!(pa.branch, pb.branch);
    assert_ne!(pa.path, pb.path);
    assert!(Path::new(&pa.path).starts_with(&f.worktrees));
    assert!(Path::new(&pb.path).starts_with(&f.worktrees));
    assert_eq!(f.branches(&a), f.branches(&b));
}

/// Proves carrying turns the working copy's uncommitted work into a baseline commit in the new worktree,
/// while the working copy itself stays exactly as it was.
#[test]
fn carry_makes_a_baseline_and_leaves_the_working_copy() {
    let f = Fixture::new();
    Fixture::write(&f.repo, "a.txt", "changed\n");
    Fixture::write(&f.repo, "new.txt", "untracked\n");
    let before = f.git(&f.repo, &["status", "--porcelain"]);
    let p = prepare(
        &spec(&f.repo, worktree_mode(true)),
        &f.repo,
        &f.worktrees,
        &no_ports,
    )
    .unwrap();
    let baseline = p.baseline_commit.clone().expect("a baseline commit");
    assert_eq!(p.carried_files, 2);
    let wt = Path::new(&p.path);
    assert_eq!(
        std::fs::read_to_string(wt.join("a.txt")).unwrap(),
        "changed\n"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("new.txt")).unwrap(),
        "untracked\n"
    );
    assert_eq!(f.git(wt, &["rev-parse", "HEAD"]), baseline);
    assert_eq!(f.git(wt, &["rev-parse", "HEAD~1"]), p.base_commit);
    assert_eq!(
        f.git(wt, &["status", "--porcelain"]),
        "",
        "the worktree is clean"
    );
    assert_eq!(f.git(&f.repo, &["status", "--porcelain"]), before);
    assert_eq!(
        std::fs::read_to_string(f.repo.join("a.txt")).unwrap(),
        "changed\n"
    );
}

/// Proves in-place mode works in the working copy on its current branch, copies nothing, reports a
/// detached HEAD as no branch, and refuses an unknown base.
#[test]
fn in_place_uses_the_working_copy() {
    let f = Fixture::new();
    Fixture::write(&f.repo, "x.env", "SECRET=1\n");
    let mut s = spec(&f.repo, RunMode::InPlace);
    s.copy_files = vec!["*.env".into()];
    let p = prepare(&s, &f.repo, &f.worktrees, &no_ports).unwrap();
    assert_eq!(PathBuf::from(&p.path), f.repo);
    assert_eq!(p.branch.as_deref(), Some("main"));
    assert_eq!(p.base_commit, f.git(&f.repo, &["rev-parse", "main"]));
    assert_eq!(
        (p.copied_files, p.carried_files, p.baseline_commit),
        (0, 0, None)
    );
    assert!(!f.worktrees.exists(), "in place creates no worktree");
    f.git(&f.repo, &["checkout", "-q", "--detach"]);
    let p = prepare(&s, &f.repo, &f.worktrees, &no_ports).unwrap();
    assert_eq!(p.branch, None);
    s.base_branch = "nope".into();
    let e = prepare(&s, &f.repo, &f.worktrees, &no_ports).unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnknownRef, "{e}");
}

/// Proves a directory that is no work tree's top is refused as not a repository.
#[test]
fn only_a_work_trees_top_is_a_project() {
    let f = Fixture::new();
    let plain = f.base.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let e = prepare(
        &spec(&plain, RunMode::InPlace),
        &plain,
        &f.worktrees,
        &no_ports,
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotARepository, "{e}");
    let sub = f.repo.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let e = prepare(&spec(&sub, RunMode::InPlace), &sub, &f.worktrees, &no_ports).unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotARepository, "{e}");
    assert!(e.message().contains(&f.repo.display().to_string()), "{e}");
}

/// Builds branch `feature` one commit ahead of `main`.
fn feature_branch(f: &Fixture) -> String {
    let base = f.git(&f.repo, &["rev-parse", "main"]);
    f.git(&f.repo, &["checkout", "-q", "-b", "feature"]);
    Fixture::write(&f.repo, "f.txt", "feature\n");
    f.git(&f.repo, &["add", "f.txt"]);
    f.git(&f.repo, &["commit", "-q", "-m", "feature"]);
    f.git(&f.repo, &["checkout", "-q", "main"]);
    base
}

fn existing(branch: Option<&str>, path: Option<&Path>) -> RunMode {
    RunMode::Existing {
        branch: branch.map(str::to_string),
        path: path.map(|p| p.display().to_string()),
    }
}

/// Proves an existing branch is checked out into a new worktree (with copy_files), adopted where it is on
/// the next run, refused when checked out outside the worktrees root, and unknown branches are refused.
#[test]
fn existing_branch_gets_a_worktree_once() {
    let f = Fixture::new();
    let base = feature_branch(&f);
    Fixture::write(&f.repo, "x.env", "SECRET=1\n");
    let mut s = spec(&f.repo, existing(Some("feature"), None));
    s.copy_files = vec!["*.env".into()];
    let p = prepare(&s, &f.repo, &f.worktrees, &no_ports).unwrap();
    let wt = PathBuf::from(&p.path);
    assert!(wt.starts_with(&f.worktrees), "{}", p.path);
    assert_eq!(p.branch.as_deref(), Some("feature"));
    assert_eq!(p.base_commit, base, "the merge base with main");
    assert_eq!(p.copied_files, 1);
    assert_eq!(
        std::fs::read_to_string(wt.join("f.txt")).unwrap(),
        "feature\n"
    );
    let again = prepare(&s, &f.repo, &f.worktrees, &no_ports).unwrap();
    assert_eq!(again.path, p.path, "the branch's worktree is adopted");
    assert_eq!(again.copied_files, 0);
    assert_eq!(f.branches(&f.repo), ["feature", "main"]);

    let outside = f.base.join("elsewhere");
    f.git(&f.repo, &["branch", "other"]);
    f.git(
        &f.repo,
        &["worktree", "add", "-q", outside.to_str().unwrap(), "other"],
    );
    let s = spec(&f.repo, existing(Some("other"), None));
    let e = prepare(&s, &f.repo, &f.worktrees, &no_ports).unwrap_err();
    assert_eq!(e.code(), ErrorCode::PathOutsideRoots, "{e}");
    let s = spec(&f.repo, existing(Some("missing"), None));
    let e = prepare(&s, &f.repo, &f.worktrees, &no_ports).unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnknownRef, "{e}");
}

/// Proves an existing worktree is adopted by its path with its branch, and a path that is no worktree of
/// the repository is refused.
#[test]
fn existing_worktree_is_adopted_by_path() {
    let f = Fixture::new();
    let base = feature_branch(&f);
    let hand = f.base.join("hand-made");
    f.git(
        &f.repo,
        &["worktree", "add", "-q", hand.to_str().unwrap(), "feature"],
    );
    let p = prepare(
        &spec(&f.repo, existing(None, Some(&hand))),
        &f.repo,
        &f.worktrees,
        &no_ports,
    )
    .unwrap();
    assert_eq!(PathBuf::from(&p.path), hand);
    assert_eq!(p.branch.as_deref(), Some("feature"));
    assert_eq!(p.base_commit, base);
    let stranger = f.make_repo("stranger");
    let e = prepare(
        &spec(&f.repo, existing(None, Some(&stranger))),
        &f.repo,
        &f.worktrees,
        &no_ports,
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadRequest, "{e}");
}

/// Proves `existing` with neither or both of branch and path is refused before anything happens.
#[test]
fn existing_needs_exactly_one_of_branch_and_path() {
    let f = Fixture::new();
    feature_branch(&f);
    for mode in [
        existing(None, None),
        existing(Some("feature"), Some(&f.repo)),
    ] {
        let e = prepare(&spec(&f.repo, mode), &f.repo, &f.worktrees, &no_ports).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadRequest, "{e}");
        assert!(e.message().contains("exactly one"), "{e}");
    }
    assert!(!f.worktrees.exists());
}

/// Proves a preparation whose copy fails leaves no worktree and no branch behind, in worktree mode and
/// for an existing branch (whose branch is kept).
#[test]
fn failed_copy_leaves_nothing_behind() {
    let f = Fixture::new();
    feature_branch(&f);
    Fixture::write(&f.repo, "a.env", "A=1\n");
    Fixture::write(&f.repo, "b.env", "B=1\n");
    let limits = CopyLimits {
        max_files: 1,
        max_bytes: 1024,
    };
    for mode in [worktree_mode(true), existing(Some("feature"), None)] {
        let mut s = spec(&f.repo, mode);
        s.copy_files = vec!["*.env".into()];
        let e = prepare_with(&s, &f.repo, &f.worktrees, &no_ports, limits).unwrap_err();
        assert_eq!(e.code(), ErrorCode::TooLarge, "{e}");
        assert_eq!(f.branches(&f.repo), ["feature", "main"]);
        let listed = f.git(&f.repo, &["worktree", "list", "--porcelain"]);
        assert_eq!(listed.matches("worktree ").count(), 1, "{listed}");
        let dir = repo_worktrees(&f.worktrees, &f.repo);
        let left = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(left, 0, "nothing left in {}", dir.display());
    }
    assert_eq!(f.git(&f.repo, &["status", "--porcelain"]), "");
}

/// Proves bad globs are refused before a worktree is made.
#[test]
fn bad_globs_are_refused_up_front() {
    let f = Fixture::new();
    let mut s = spec(&f.repo, worktree_mode(false));
    s.copy_files = vec!["../x".into()];
    let e = prepare(&s, &f.repo, &f.worktrees, &no_ports).unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadRequest, "{e}");
    assert_eq!(f.branches(&f.repo), ["main"]);
}

/// Proves the port is a real nonzero port that the caller's `taken_ports` does not claim, and that a node
/// whose ports are all claimed gets an error instead of a clash.
#[test]
fn port_is_free_and_not_taken() {
    let f = Fixture::new();
    let s = spec(&f.repo, RunMode::InPlace);
    let seen = RefCell::new(Vec::new());
    let taken = |port: u16| {
        let mut seen = seen.borrow_mut();
        seen.push(port);
        seen.len() <= 3
    };
    let p = prepare(&s, &f.repo, &f.worktrees, &taken).unwrap();
    assert_ne!(p.port, 0);
    let seen = seen.into_inner();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen.last(), Some(&p.port));
    std::net::TcpListener::bind(("127.0.0.1", p.port)).expect("the port is free");
    let e = prepare(&s, &f.repo, &f.worktrees, &|_| true).unwrap_err();
    assert!(e.message().contains("VB_PORT"), "{e}");
}

/// Proves a `start_point` makes a new branch start there (base commit included), is the base of an
/// in-place run too, and is checked like a branch name; the base branch stays the one named.
#[test]
fn start_point_replaces_the_base_branch_as_the_start() {
    let f = Fixture::new();
    let main = f.git(&f.repo, &["rev-parse", "main"]);
    Fixture::write(&f.repo, "a.txt", "upstream\n");
    f.git(&f.repo, &["commit", "-q", "-am", "upstream"]);
    let upstream = f.git(&f.repo, &["rev-parse", "HEAD"]);
    f.git(
        &f.repo,
        &["update-ref", "refs/remotes/origin/main", &upstream],
    );
    f.git(&f.repo, &["reset", "-q", "--hard", &main]);
    let mut s = spec(&f.repo, worktree_mode(false));
    s.start_point = Some("origin/main".into());
    let p = prepare(&s, &f.repo, &f.worktrees, &no_ports).unwrap();
    assert_eq!(
        (p.base_commit.as_str(), p.base_branch.as_str()),
        (upstream.as_str(), "main")
    );
    assert_eq!(f.git(Path::new(&p.path), &["rev-parse", "HEAD"]), upstream);
    let mut s = spec(&f.repo, RunMode::InPlace);
    s.start_point = Some("origin/main".into());
    let p = prepare(&s, &f.repo, &f.worktrees, &no_ports).unwrap();
    assert_eq!(p.base_commit, upstream);
    s.start_point = Some("-x".into());
    let e = prepare(&s, &f.repo, &f.worktrees, &no_ports).unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadRequest);
}

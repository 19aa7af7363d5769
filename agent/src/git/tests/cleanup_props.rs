//! Generated sequences of what happens to a run's worktree (the agent leaves files, a turn commits, the base
//! squashes the branch in or moves on, cleanup tries to remove it with or without merge evidence), checked
//! against one property: cleanup never loses anything. A person's forced removal keeps the branch.

use std::path::Path;

use proptest::prelude::*;
use vibebridge_tunnel::git::{GitAnswer, GitRequest};

use super::Fixture;
use super::run_diff::worktree;

#[derive(Debug, Clone)]
enum Step {
    /// The agent leaves a file uncommitted.
    Leave(u8),
    /// A turn's commit of everything in the work tree.
    Commit,
    /// The base takes the branch's changes as one squash commit.
    Squash,
    /// The base moves on with an unrelated change.
    MoveBase(u8),
    /// Cleanup tries to remove the worktree, claiming it was merged into the base or not.
    Cleanup { merged: bool, delete_branch: bool },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..4).prop_map(Step::Leave),
        Just(Step::Commit),
        Just(Step::Squash),
        (0u8..4).prop_map(Step::MoveBase),
        (any::<bool>(), any::<bool>()).prop_map(|(merged, delete_branch)| Step::Cleanup {
            merged,
            delete_branch
        }),
    ]
}

fn dirty(f: &Fixture, w: &Path) -> bool {
    !f.git_ok(w, &["status", "--porcelain", "--untracked-files=all"])
        .is_empty()
}

fn has_branch(f: &Fixture, b: &str) -> bool {
    !f.git(&["branch", "--list", b]).is_empty()
}

/// Whether merging `branch` into main would change nothing: its work is in the base.
fn in_base(f: &Fixture, branch: &str) -> bool {
    // Exit 1 is a conflict: then its work is certainly not all in the base.
    let out = f.git_in(&f.repo, &["merge-tree", "--write-tree", "main", branch]);
    let merged = String::from_utf8_lossy(&out.stdout).to_string();
    let base = f.git(&["rev-parse", "main^{tree}"]);
    out.status.success() && merged.lines().next() == Some(base.trim())
}

fn run(steps: &[Step]) {
    let f = Fixture::with_files(&[("base.txt", "base\n")]);
    let w = worktree(&f, "run");
    for (i, s) in steps.iter().enumerate() {
        match s {
            Step::Leave(n) => {
                std::fs::write(w.join(format!("left{n}.txt")), format!("{s:?}\n")).unwrap()
            }
            Step::Commit => {
                f.git_ok(&w, &["add", "--all"]);
                if dirty(&f, &w) {
                    f.git_ok(&w, &["commit", "-q", "-m", "turn"]);
                }
            }
            Step::Squash => {
                if !in_base(&f, "run") && !dirty(&f, &f.repo) {
                    f.git(&["merge", "-q", "--squash", "run"]);
                    f.git(&["commit", "-q", "-m", "squash"]);
                }
            }
            Step::MoveBase(n) => {
                std::fs::write(
                    f.repo.join(format!("base{n}.txt")),
                    format!("moved at step {i}\n"),
                )
                .unwrap();
                f.git(&["add", "--all"]);
                f.git(&["commit", "-q", "-m", "base moved"]);
            }
            Step::Cleanup {
                merged,
                delete_branch,
            } => {
                let was_dirty = dirty(&f, &w);
                let before = f.git_ok(&w, &["rev-parse", "HEAD"]);
                let work_in_base = in_base(&f, "run");
                let unique = f.git(&[
                    "rev-list",
                    "--count",
                    "run",
                    "--not",
                    "--exclude=run",
                    "--branches",
                ]);
                let unique = unique.trim();
                let GitAnswer::Removed(r) = f.ok(GitRequest::RemoveWorktree {
                    repo: f.repo_str(),
                    path: w.display().to_string(),
                    merged_into: merged.then(|| "main".to_string()),
                    delete_branch: *delete_branch,
                    force: false,
                }) else {
                    panic!("not a removal")
                };
                if r.removed {
                    assert!(!was_dirty, "a dirty work tree was removed");
                    assert!(
                        unique == "0" || (*merged && work_in_base),
                        "a work tree with unmerged unique commits was removed"
                    );
                    assert!(!w.exists());
                } else {
                    assert!(w.exists(), "kept, yet its directory is gone");
                    assert_eq!(
                        f.git_ok(&w, &["rev-parse", "HEAD"]),
                        before,
                        "keeping it moved its HEAD"
                    );
                    assert_eq!(dirty(&f, &w), was_dirty, "keeping it changed it");
                }
                if r.branch_deleted {
                    assert!(
                        work_in_base,
                        "a branch whose work is not in the base was deleted"
                    );
                } else if r.removed || !has_branch(&f, "run") {
                    assert!(has_branch(&f, "run") || work_in_base);
                }
                if r.removed {
                    return;
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Proves no generated sequence of leaving files, committing, squashing into a moving base and cleanup
    /// attempts ever removes uncommitted work, or commits whose work is in no other branch and not in the base.
    #[test]
    fn cleanup_never_loses_work(steps in proptest::collection::vec(step(), 1..10)) {
        run(&steps);
    }
}

/// Proves a person's forced removal takes a dirty work tree with unique commits away but keeps its branch, so
/// its commits stay reachable.
#[test]
fn forced_removal_keeps_the_branch() {
    let f = Fixture::with_files(&[("a.txt", "a\n")]);
    let w = worktree(&f, "mine");
    std::fs::write(w.join("b.txt"), "b\n").unwrap();
    f.git_ok(&w, &["add", "b.txt"]);
    f.git_ok(&w, &["commit", "-q", "-m", "unique"]);
    std::fs::write(w.join("c.txt"), "uncommitted\n").unwrap();
    let GitAnswer::Removed(r) = f.ok(GitRequest::RemoveWorktree {
        repo: f.repo_str(),
        path: w.display().to_string(),
        merged_into: None,
        delete_branch: true,
        force: true,
    }) else {
        panic!("not a removal")
    };
    assert!(r.removed && !r.branch_deleted, "{r:?}");
    assert!(!w.exists());
    assert!(has_branch(&f, "mine"));
    assert_eq!(f.git(&["show", "mine:b.txt"]), "b\n");
}

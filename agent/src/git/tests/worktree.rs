//! Run worktrees on real repositories: created beside the working copy without touching it, uncommitted work
//! carried in as a baseline commit within limits, and removed only when nothing would be lost.

use super::Fixture;
use crate::git::worktree::{
    CarryLimits, NewWorktree, Removal, branch_name, create, list, remove_if_safe, slug,
};
use vibebridge_tunnel::reply::ErrorCode;

fn new<'a>(f: &'a Fixture, root: &'a std::path::Path, branch: &'a str) -> NewWorktree<'a> {
    NewWorktree {
        repo: &f.repo,
        root,
        branch,
        base: "main",
        carry: None,
    }
}

/// Proves branch names come from the template with a slug of the title, and take `-2`, `-3` when taken.
#[test]
fn branch_names_are_slugged_and_unique() {
    assert_eq!(slug("Fix the login page!"), "fix-the-login-page");
    assert_eq!(slug("¿¿??"), "task");
    let taken = ["vb/WEB-1-fix-login", "vb/WEB-1-fix-login-2"];
    let name = branch_name("vb/{key}-{slug}", "WEB-1", "Fix login", |n| {
        taken.contains(&n)
    });
    assert_eq!(name, "vb/WEB-1-fix-login-3");
    assert_eq!(
        branch_name("agent/{key}", "WEB-2", "x", |_| false),
        "agent/WEB-2"
    );
}

/// Proves a worktree gets its own branch at the base, beside the working copy, which stays as it was
/// (dirty files included); a second create of the same branch is refused with nothing changed.
#[test]
fn worktrees_are_created_beside_an_untouched_working_copy() {
    let f = Fixture::with_files(&[("a.txt", "one\n")]);
    f.write("a.txt", "dirty\n");
    let root = f.root.join("worktrees");
    let made = create(&new(&f, &root, "vb/WEB-1-a")).unwrap();
    assert_eq!(made.path, root.join("vb-WEB-1-a"));
    assert_eq!(made.baseline, None);
    assert_eq!(
        std::fs::read_to_string(made.path.join("a.txt")).unwrap(),
        "one\n"
    );
    assert_eq!(f.read("a.txt"), "dirty\n", "the working copy is untouched");
    assert_eq!(f.git(&["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "main");
    let again = create(&new(&f, &root, "vb/WEB-1-a")).unwrap_err();
    assert_eq!(again.code(), ErrorCode::AlreadyExists);
    let listed = list(&f.repo).unwrap();
    assert!(
        listed
            .iter()
            .any(|w| w.branch.as_deref() == Some("vb/WEB-1-a"))
    );
    let bad = create(&NewWorktree {
        base: "nope",
        ..new(&f, &root, "vb/x")
    })
    .unwrap_err();
    assert_eq!(bad.code(), ErrorCode::UnknownRef);
}

/// Proves carrying brings the tracked changes and untracked, not ignored, files in as one baseline commit
/// (binary content included), leaves the working copy exactly as it was, and refuses work over its limits
/// before creating anything.
#[test]
fn uncommitted_work_is_carried_in_as_a_baseline() {
    let f = Fixture::with_files(&[("a.txt", "one\n"), (".gitignore", "secret.env\n")]);
    f.write("a.txt", "changed\n");
    f.write("new/b.txt", "untracked\n");
    f.write("secret.env", "TOKEN=1\n");
    std::fs::write(f.repo.join("bin.dat"), [0u8, 159, 146, 150]).unwrap();
    let root = f.root.join("worktrees");
    let made = create(&NewWorktree {
        carry: Some(CarryLimits::default()),
        ..new(&f, &root, "vb/WEB-2")
    })
    .unwrap();
    let baseline = made.baseline.clone().expect("a baseline commit");
    assert_eq!(made.carried_files, 3);
    let w = &made.path;
    assert_eq!(
        std::fs::read_to_string(w.join("a.txt")).unwrap(),
        "changed\n"
    );
    assert_eq!(
        std::fs::read_to_string(w.join("new/b.txt")).unwrap(),
        "untracked\n"
    );
    assert_eq!(
        std::fs::read(w.join("bin.dat")).unwrap(),
        [0u8, 159, 146, 150]
    );
    assert!(!w.join("secret.env").exists(), "ignored files stay behind");
    assert_eq!(
        f.git_ok(w, &["status", "--porcelain"]),
        "",
        "everything carried is committed"
    );
    assert_eq!(f.git_ok(w, &["rev-parse", "HEAD"]).trim(), baseline);
    assert_eq!(f.read("a.txt"), "changed\n");
    assert!(
        f.git(&["status", "--porcelain"]).contains("new/"),
        "the working copy keeps its work"
    );

    let tight = CarryLimits {
        max_files: 2,
        max_bytes: 1 << 20,
    };
    let refused = create(&NewWorktree {
        carry: Some(tight),
        ..new(&f, &root, "vb/WEB-3")
    })
    .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::TooLarge);
    assert!(!root.join("vb-WEB-3").exists());
    assert!(f.git(&["branch", "--list", "vb/WEB-3"]).is_empty());
}

/// Proves a worktree is removed only on positive evidence: kept while it has uncommitted work or commits no
/// other branch has, removed once clean and merged; its branch is never deleted.
#[test]
fn worktrees_are_removed_only_when_nothing_would_be_lost() {
    let f = Fixture::with_files(&[("a.txt", "one\n")]);
    let root = f.root.join("worktrees");
    let made = create(&new(&f, &root, "vb/WEB-4")).unwrap();
    let w = made.path.clone();
    std::fs::write(w.join("a.txt"), "agent work\n").unwrap();
    assert!(
        matches!(remove_if_safe(&f.repo, &w).unwrap(), Removal::Kept(why) if why.contains("uncommitted"))
    );
    f.git_ok(&w, &["commit", "-q", "-am", "agent work"]);
    assert!(
        matches!(remove_if_safe(&f.repo, &w).unwrap(), Removal::Kept(why) if why.contains("commits that no other branch has"))
    );
    assert!(w.exists());
    f.git(&["merge", "-q", "--ff-only", "vb/WEB-4"]);
    assert_eq!(remove_if_safe(&f.repo, &w).unwrap(), Removal::Removed);
    assert!(!w.exists());
    assert!(
        !f.git(&["branch", "--list", "vb/WEB-4"]).is_empty(),
        "the branch stays"
    );
}

/// Proves worktrees of one repository can be created from several threads at once (git administration is
/// serialised per repository), each on its own branch.
#[test]
fn concurrent_creates_in_one_repository_all_succeed() {
    let f = Fixture::with_files(&[("a.txt", "one\n")]);
    let root = f.root.join("worktrees");
    std::thread::scope(|s| {
        for i in 0..4 {
            let (f, root) = (&f, &root);
            s.spawn(move || {
                let branch = format!("vb/WEB-{i}");
                create(&new(f, root, &branch)).unwrap();
            });
        }
    });
    assert_eq!(list(&f.repo).unwrap().len(), 5);
}

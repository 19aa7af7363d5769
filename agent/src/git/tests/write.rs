//! Changing: branches, checkout, stage, unstage, discard and commit, each checked with the git CLI.

use std::os::unix::fs::PermissionsExt;
use vibebridge_tunnel::reply::ErrorCode;

use vibebridge_tunnel::git::{Author, FileState, GitAnswer, GitRequest};

use super::Fixture;

fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|p| p.to_string()).collect()
}

fn stage(f: &Fixture, list: &[&str]) {
    f.ok(GitRequest::Stage {
        repo: f.repo_str(),
        paths: paths(list),
    });
}

fn commit(f: &Fixture, message: &str) -> Result<String, (ErrorCode, String)> {
    let req = GitRequest::Commit {
        repo: f.repo_str(),
        message: message.into(),
        author: Author {
            name: "Ada Lovelace".into(),
            email: "ada@example.invalid".into(),
        },
    };
    match super::super::handle(&f.fs(), req) {
        vibebridge_tunnel::git::GitReply::Ok(GitAnswer::Committed { id }) => Ok(id),
        vibebridge_tunnel::git::GitReply::Ok(other) => panic!("not a commit: {other:?}"),
        vibebridge_tunnel::git::GitReply::Err { code, message } => Err((code, message)),
    }
}

fn head_branch(f: &Fixture) -> String {
    f.git(&["rev-parse", "--abbrev-ref", "HEAD"])
        .trim()
        .to_string()
}

/// Proves a created branch starts where asked and that checking out switches HEAD, as git sees it.
#[test]
fn git_create_branch_and_checkout() {
    let f = Fixture::with_files(&[("a", "1")]);
    let first = f.git(&["rev-parse", "HEAD"]).trim().to_string();
    f.write("a", "2");
    f.git(&["commit", "-q", "-am", "second"]);

    let GitAnswer::Status(s) = f.ok(GitRequest::CreateBranch {
        repo: f.repo_str(),
        name: "feature/x".into(),
        start: None,
        checkout: true,
    }) else {
        panic!("not a status")
    };
    assert_eq!(head_branch(&f), "feature/x");
    assert_eq!(s.branch.as_deref(), Some("feature/x"));

    f.ok(GitRequest::CreateBranch {
        repo: f.repo_str(),
        name: "old".into(),
        start: Some(first.clone()),
        checkout: false,
    });
    assert_eq!(f.git(&["rev-parse", "old"]).trim(), first);
    assert_eq!(head_branch(&f), "feature/x");

    f.ok(GitRequest::Checkout {
        repo: f.repo_str(),
        branch: "old".into(),
    });
    assert_eq!(head_branch(&f), "old");
    assert_eq!(f.read("a"), "1");

    let (code, _) = f.err(GitRequest::CreateBranch {
        repo: f.repo_str(),
        name: "old".into(),
        start: None,
        checkout: false,
    });
    assert_eq!(code, ErrorCode::GitConflict);
    let empty = Fixture::new();
    let (code, _) = empty.err(GitRequest::CreateBranch {
        repo: empty.repo_str(),
        name: "b".into(),
        start: None,
        checkout: false,
    });
    assert_eq!(code, ErrorCode::UnknownRef, "no commit to start from");
    for bad in ["-x", "a..b", "has space", "x.lock"] {
        let (code, _) = f.err(GitRequest::CreateBranch {
            repo: f.repo_str(),
            name: bad.into(),
            start: None,
            checkout: false,
        });
        assert_eq!(code, ErrorCode::BadRequest, "{bad}");
    }
}

/// Proves checkout refuses (and changes nothing) when a local change would be overwritten, and
/// refuses an unknown branch; a refused create-and-checkout leaves no branch behind.
#[test]
fn git_checkout_refused_with_conflicting_change() {
    let f = Fixture::with_files(&[("a", "base\n")]);
    f.git(&["checkout", "-q", "-b", "other"]);
    f.write("a", "other\n");
    f.git(&["commit", "-q", "-am", "other"]);
    f.git(&["checkout", "-q", "main"]);
    f.write("a", "local edit\n");

    let (code, message) = f.err(GitRequest::Checkout {
        repo: f.repo_str(),
        branch: "other".into(),
    });
    assert_eq!(code, ErrorCode::GitConflict, "{message}");
    assert_eq!(head_branch(&f), "main");
    assert_eq!(f.read("a"), "local edit\n");

    let (code, _) = f.err(GitRequest::CreateBranch {
        repo: f.repo_str(),
        name: "from-other".into(),
        start: Some("other".into()),
        checkout: true,
    });
    assert_eq!(code, ErrorCode::GitConflict);
    assert!(f.git(&["branch", "--list", "from-other"]).trim().is_empty());

    let (code, _) = f.err(GitRequest::Checkout {
        repo: f.repo_str(),
        branch: "nope".into(),
    });
    assert_eq!(code, ErrorCode::UnknownRef);
}

/// Proves staging adds changed, new (also inside a named directory), deleted and executable files as
/// `git add` would: git then sees them staged with the right mode and nothing left unstaged.
#[test]
fn git_stage_matches_git_add() {
    let f = Fixture::with_files(&[
        ("mod.txt", "1\n"),
        ("del.txt", "d\n"),
        ("run.sh", "echo\n"),
        ("keep.txt", "k\n"),
    ]);
    f.write("mod.txt", "2\n");
    std::fs::remove_file(f.repo.join("del.txt")).unwrap();
    std::fs::set_permissions(
        f.repo.join("run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    f.write("new.txt", "n\n");
    f.write("dir/a.txt", "a\n");
    f.write("dir/sub/b.txt", "b\n");
    std::os::unix::fs::symlink("keep.txt", f.repo.join("ln")).unwrap();
    f.write("not-named.txt", "stays untracked\n");

    stage(
        &f,
        &["mod.txt", "del.txt", "run.sh", "new.txt", "dir/", "ln"],
    );
    // The stat data we wrote lets git trust the index without re-reading the files (checked first:
    // some git commands below refresh the index).
    assert_eq!(f.git(&["diff-files", "--name-only"]), "");
    assert_eq!(
        f.git_lines(&["diff", "--cached", "--name-status"]),
        vec![
            "A\tdir/a.txt",
            "A\tdir/sub/b.txt",
            "A\tln",
            "A\tnew.txt",
            "D\tdel.txt",
            "M\tmod.txt",
            "M\trun.sh"
        ]
    );
    assert_eq!(f.git(&["diff", "--name-only"]), "");
    assert!(f.git(&["ls-files", "-s", "run.sh"]).starts_with("100755"));
    assert!(f.git(&["ls-files", "-s", "ln"]).starts_with("120000"));
    assert_eq!(
        f.git(&["status", "--porcelain", "--", "not-named.txt"]),
        "?? not-named.txt\n"
    );
}

/// Proves staging a resolved file ends its conflict as `git add` does, and that a long list of paths
/// (matched without pathspecs) stages exactly those paths.
#[test]
fn git_stage_resolves_conflicts_and_long_lists() {
    let f = Fixture::with_files(&[("clash.txt", "base\n")]);
    f.git(&["checkout", "-q", "-b", "other"]);
    f.write("clash.txt", "theirs\n");
    f.git(&["commit", "-q", "-am", "theirs"]);
    f.git(&["checkout", "-q", "main"]);
    f.write("clash.txt", "ours\n");
    f.git(&["commit", "-q", "-am", "ours"]);
    assert!(!f.git_in(&f.repo, &["merge", "other"]).status.success());
    f.write("clash.txt", "resolved\n");
    stage(&f, &["clash.txt"]);
    assert_eq!(f.git(&["status", "--porcelain"]), "M  clash.txt\n");
    assert_eq!(f.git(&["show", ":clash.txt"]), "resolved\n");

    let names: Vec<String> = (0..40).map(|n| format!("many/f{n:02}.txt")).collect();
    for n in &names {
        f.write(n, n);
    }
    f.write("many/unnamed.txt", "stays untracked\n");
    let list: Vec<&str> = names.iter().map(String::as_str).collect();
    stage(&f, &list);
    let mut staged = f.git_lines(&["diff", "--cached", "--name-only"]);
    staged.retain(|p| p.starts_with("many/"));
    assert_eq!(staged, names);
}

/// Proves staging an ignored file is refused with a reason instead of silently doing nothing.
#[test]
fn git_stage_refuses_ignored_files() {
    let f = Fixture::with_files(&[(".gitignore", "*.log\n")]);
    f.write("debug.log", "noise\n");
    let (code, message) = f.err(GitRequest::Stage {
        repo: f.repo_str(),
        paths: paths(&["debug.log"]),
    });
    assert_eq!(code, ErrorCode::BadRequest);
    assert!(message.contains("ignored"), "{message}");
    assert_eq!(f.git(&["diff", "--cached", "--name-only"]), "");
}

/// Proves our index edits keep git's cached tree honest: after staging (and unstaging) in one
/// directory, `git commit` records exactly the staged content, and our status agrees with git's.
#[test]
fn git_stage_keeps_cached_tree_honest() {
    let f = Fixture::with_files(&[
        ("a/one.txt", "1\n"),
        ("a/deep/two.txt", "2\n"),
        ("b/three.txt", "3\n"),
    ]);
    f.write("a/deep/two.txt", "two\n");
    f.write("b/three.txt", "three\n");
    f.write("c/new.txt", "new\n");
    stage(&f, &["a/deep/two.txt", "b/three.txt", "c"]);
    f.ok(GitRequest::Unstage {
        repo: f.repo_str(),
        paths: paths(&["b"]),
    });
    assert_eq!(
        f.status()
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e.staged, e.unstaged))
            .collect::<Vec<_>>(),
        vec![
            ("a/deep/two.txt", FileState::Modified, FileState::Unmodified),
            ("b/three.txt", FileState::Unmodified, FileState::Modified),
            ("c/new.txt", FileState::Added, FileState::Unmodified),
        ]
    );
    f.git(&["commit", "-q", "-m", "by git"]);
    assert_eq!(f.git(&["show", "HEAD:a/deep/two.txt"]), "two\n");
    assert_eq!(f.git(&["show", "HEAD:b/three.txt"]), "3\n");
    assert_eq!(f.git(&["show", "HEAD:c/new.txt"]), "new\n");
    assert_eq!(f.git(&["status", "--porcelain"]), " M b/three.txt\n");
}

/// Proves unstaging puts HEAD's version back in the index (and drops new files from it) while the
/// work tree keeps the changes.
#[test]
fn git_unstage_restores_head_version() {
    let f = Fixture::with_files(&[("a.txt", "1\n"), ("b.txt", "b\n")]);
    f.write("a.txt", "2\n");
    f.write("new.txt", "n\n");
    f.git(&["add", "-A"]);
    f.git(&["rm", "-q", "b.txt"]);

    f.ok(GitRequest::Unstage {
        repo: f.repo_str(),
        paths: paths(&["a.txt", "new.txt", "b.txt"]),
    });
    assert_eq!(f.git(&["diff", "--cached", "--name-only"]), "");
    assert_eq!(
        f.git_lines(&["diff", "--name-only"]),
        vec!["a.txt", "b.txt"]
    );
    assert_eq!(f.read("a.txt"), "2\n");
    assert_eq!(
        f.git(&["status", "--porcelain", "--", "new.txt"]),
        "?? new.txt\n"
    );
}

/// Proves discarding restores modified and deleted files to the index version (a staged version
/// wins over HEAD's), deletes named untracked files and directories, and leaves the rest alone.
#[test]
fn git_discard_restores_files() {
    let f = Fixture::with_files(&[
        ("a.txt", "a\n"),
        ("b.txt", "b\n"),
        ("s.txt", "s1\n"),
        ("run.sh", "x\n"),
    ]);
    std::fs::set_permissions(
        f.repo.join("run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    f.git(&["commit", "-q", "-am", "exec"]);
    f.write("a.txt", "changed\n");
    std::fs::remove_file(f.repo.join("b.txt")).unwrap();
    std::fs::remove_file(f.repo.join("run.sh")).unwrap();
    f.write("s.txt", "s2\n");
    f.git(&["add", "s.txt"]);
    f.write("s.txt", "s3\n");
    f.write("junk.txt", "junk\n");
    f.write("junkdir/x/y.txt", "y\n");
    f.write("kept.txt", "kept\n");

    f.ok(GitRequest::Discard {
        repo: f.repo_str(),
        paths: paths(&["a.txt", "b.txt", "s.txt", "run.sh", "junk.txt", "junkdir/"]),
    });
    assert_eq!(f.read("a.txt"), "a\n");
    assert_eq!(f.read("b.txt"), "b\n");
    assert_eq!(f.read("s.txt"), "s2\n");
    let mode = std::fs::metadata(f.repo.join("run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "executable bit restored");
    assert!(!f.repo.join("junk.txt").exists());
    assert!(!f.repo.join("junkdir").exists());
    assert_eq!(f.git(&["status", "--porcelain"]), "M  s.txt\n?? kept.txt\n");
}

/// Proves a commit has the given author, message and parent, and leaves `git status` clean.
#[test]
fn git_commit_matches_git_log() {
    let f = Fixture::with_files(&[("a.txt", "1\n"), ("dir/deep/b.txt", "b\n")]);
    let parent = f.git(&["rev-parse", "HEAD"]).trim().to_string();
    f.write("a.txt", "2\n");
    f.write("dir/deep/c.txt", "c\n");
    stage(&f, &["a.txt", "dir"]);
    let id = commit(&f, "Add c\n\nwith a body\n").unwrap();
    assert_eq!(id, f.git(&["rev-parse", "HEAD"]).trim());
    assert_eq!(
        f.git(&["log", "-1", "--format=%an%n%ae%n%s%n%cn"]),
        "Ada Lovelace\nada@example.invalid\nAdd c\nAda Lovelace\n"
    );
    assert_eq!(f.git(&["rev-parse", "HEAD^"]).trim(), parent);
    assert_eq!(f.git(&["status", "--porcelain"]), "");
    assert_eq!(f.git(&["show", "HEAD:dir/deep/c.txt"]), "c\n");
    assert_eq!(head_branch(&f), "main");
    f.git(&["fsck", "--strict", "--no-progress"]);
}

/// Proves the first commit of an empty repository works and starts branch `main`.
#[test]
fn git_commit_into_empty_repo() {
    let f = Fixture::new();
    f.write("README", "hi\n");
    f.write("src/main.rs", "fn main() {}\n");
    stage(&f, &["README", "src"]);
    let id = commit(&f, "first").unwrap();
    assert_eq!(f.git(&["log", "--format=%H"]).trim(), id);
    assert_eq!(
        f.git_lines(&["ls-tree", "-r", "--name-only", "HEAD"]),
        vec!["README", "src/main.rs"]
    );
    assert_eq!(f.git(&["status", "--porcelain"]), "");
    assert_eq!(head_branch(&f), "main");
}

/// Proves a commit with nothing staged is refused, in a repository with history and in an empty one,
/// and a commit during a conflicted merge is refused as a conflict.
#[test]
fn git_commit_refusals() {
    let f = Fixture::with_files(&[("a", "1")]);
    f.write("a", "unstaged only");
    assert_eq!(commit(&f, "x").unwrap_err().0, ErrorCode::NothingToCommit);
    assert_eq!(
        commit(&Fixture::new(), "x").unwrap_err().0,
        ErrorCode::NothingToCommit
    );
    assert_eq!(commit(&f, " \n ").unwrap_err().0, ErrorCode::BadRequest);

    let m = Fixture::with_files(&[("c", "base\n")]);
    m.git(&["checkout", "-q", "-b", "other"]);
    m.write("c", "theirs\n");
    m.git(&["commit", "-q", "-am", "theirs"]);
    m.git(&["checkout", "-q", "main"]);
    m.write("c", "ours\n");
    m.git(&["commit", "-q", "-am", "ours"]);
    assert!(!m.git_in(&m.repo, &["merge", "other"]).status.success());
    assert_eq!(commit(&m, "merge").unwrap_err().0, ErrorCode::GitConflict);
}

/// Proves a `git checkout` whose hook hangs is stopped after the timeout with a clear error, rather than
/// holding the request (and a blocking thread) forever.
#[test]
fn git_checkout_has_a_timeout() {
    let f = Fixture::with_files(&[("a", "1")]);
    f.git(&["branch", "other"]);
    let hook = f.repo.join(".git/hooks/post-checkout");
    std::fs::write(&hook, "#!/bin/sh\nexec sleep 60\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let repo = super::super::Repo::open(&f.fs(), &f.repo_str()).unwrap();
    let started = std::time::Instant::now();
    let err =
        super::super::branch::switch_within(&repo, "other", std::time::Duration::from_secs(1))
            .unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.message.contains("did not finish within 1 s"),
        "{}",
        err.message
    );
}

//! A run's diff on real repositories: committed, uncommitted and untracked work against the merge base,
//! compared with the git CLI's own patches, with the user's index never touched.

use std::path::{Path, PathBuf};

use vibebridge_tunnel::git::{FileState, GitAnswer, GitRequest, MAX_DIFF_BYTES, RunDiff};
use vibebridge_tunnel::reply::ErrorCode;

use super::Fixture;

/// A worktree on new branch `branch` from `main`, inside the fixture's root.
pub(super) fn worktree(f: &Fixture, branch: &str) -> PathBuf {
    let path = f.root.join(format!("wt-{}", branch.replace('/', "-")));
    f.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        branch,
        path.to_str().unwrap(),
        "main",
    ]);
    path
}

fn run_diff(f: &Fixture, dir: &Path, base: &str, path: Option<&str>) -> RunDiff {
    match f.ok(GitRequest::RunDiff {
        repo: dir.display().to_string(),
        base: base.into(),
        path: path.map(str::to_string),
    }) {
        GitAnswer::RunDiff(d) => d,
        other => panic!("not a run diff: {other:?}"),
    }
}

/// Git's own patch for `path` of the work tree against `rev`, from the first `@@` on.
fn git_patch(f: &Fixture, dir: &Path, rev: &str, path: &str) -> String {
    let out = f.git_ok(dir, &["diff", "--no-color", "-U3", rev, "--", path]);
    out.find("\n@@")
        .map(|i| out[i + 1..].to_string())
        .unwrap_or_default()
}

fn write(dir: &Path, rel: &str, content: &[u8]) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// Proves the diff holds a committed change, an uncommitted change and an untracked file (as added),
/// leaves ignored files out, shapes patches exactly as git does, and never changes the index.
#[test]
fn run_diff_covers_commits_uncommitted_and_untracked_work() {
    let f = Fixture::with_files(&[
        ("a.txt", "1\n2\n3\n4\n5\n6\n7\n8\n"),
        ("b.txt", "b\n"),
        (".gitignore", "*.log\n"),
    ]);
    let w = worktree(&f, "run");
    write(&w, "a.txt", b"1\n2\nthree\n4\n5\n6\n7\n8\n");
    f.git_ok(&w, &["commit", "-q", "-am", "agent turn"]);
    write(&w, "b.txt", b"b\nmore\n");
    f.git_ok(&w, &["add", "b.txt"]);
    write(&w, "b.txt", b"b\nmore\nand more");
    write(&w, "new/c.txt", b"one\ntwo\n");
    write(&w, "debug.log", b"ignored\n");
    let index = f.git_ok(&w, &["rev-parse", "--git-path", "index"]);
    let index = w.join(index.trim());
    let before = std::fs::read(&index).unwrap();

    let d = run_diff(&f, &w, "main", None);
    assert_eq!(
        std::fs::read(&index).unwrap(),
        before,
        "the index is untouched"
    );
    let main = f.git(&["rev-parse", "main"]).trim().to_string();
    assert_eq!(d.merge_base, main);
    assert_eq!(d.head, f.git_ok(&w, &["rev-parse", "HEAD"]).trim());
    assert_eq!((d.ahead, d.behind, d.truncated), (1, 0, false));
    let names: Vec<_> = d.files.iter().map(|f| (f.path.as_str(), f.state)).collect();
    assert_eq!(
        names,
        [
            ("a.txt", FileState::Modified),
            ("b.txt", FileState::Modified),
            ("new/c.txt", FileState::Added),
        ]
    );
    for file in &d.files[..2] {
        assert_eq!(file.patch, git_patch(&f, &w, &main, &file.path));
        assert!(file.patch.starts_with("@@ "));
    }
    assert_eq!((d.files[0].additions, d.files[0].deletions), (1, 1));
    assert_eq!((d.files[1].additions, d.files[1].deletions), (2, 0));
    assert!(
        d.files[1]
            .patch
            .ends_with("+and more\n\\ No newline at end of file\n")
    );
    assert_eq!(d.files[2].patch, "@@ -0,0 +1,2 @@\n+one\n+two\n");
    assert_eq!(d.files[2].additions, 2);
}

/// Proves ahead and behind count commits on each side, work on the base alone is not part of the run's
/// changes, the path filter keeps one file, and bad bases and paths are refused.
#[test]
fn run_diff_counts_ahead_behind_and_filters_by_path() {
    let f = Fixture::with_files(&[("a.txt", "a\n"), ("b.txt", "b\n")]);
    let fork = f.git(&["rev-parse", "HEAD"]).trim().to_string();
    let w = worktree(&f, "run");
    write(&w, "a.txt", b"run\n");
    write(&w, "b.txt", b"run\n");
    f.git_ok(&w, &["commit", "-q", "-am", "run"]);
    for n in 0..2 {
        f.write("base.txt", &format!("{n}\n"));
        f.git(&["add", "base.txt"]);
        f.git(&["commit", "-q", "-m", "base moves on"]);
    }
    let d = run_diff(&f, &w, "main", None);
    assert_eq!((d.ahead, d.behind), (1, 2));
    assert_eq!(d.merge_base, fork);
    let paths: Vec<_> = d.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        ["a.txt", "b.txt"],
        "base.txt is the base's, not the run's"
    );

    write(&w, "new/c.txt", b"c\n");
    let only = run_diff(&f, &w, "main", Some("b.txt"));
    assert_eq!(only.files.len(), 1);
    assert_eq!(only.files[0].path, "b.txt");
    let only = run_diff(&f, &w, "main", Some("new"));
    assert_eq!(
        only.files.len(),
        1,
        "a directory filter covers untracked files"
    );
    assert_eq!(only.files[0].path, "new/c.txt");

    let req = |base: &str, path: Option<&str>| GitRequest::RunDiff {
        repo: w.display().to_string(),
        base: base.into(),
        path: path.map(str::to_string),
    };
    assert_eq!(f.err(req("nope", None)).0, ErrorCode::UnknownRef);
    assert_eq!(f.err(req("--output=x", None)).0, ErrorCode::BadRequest);
    assert_eq!(f.err(req("main", Some("../x"))).0, ErrorCode::BadRequest);
    assert_eq!(
        f.err(req("main", Some(".git/config"))).0,
        ErrorCode::BadRequest
    );
}

/// Proves renames, deletions, binary files (tracked and untracked) and names with spaces are read from
/// git's headers, and patches past the size cap are left out with their lines still counted.
#[test]
fn run_diff_reads_renames_deletions_binaries_and_the_cap() {
    let long = "a line long enough to make the rename obvious to git\n".repeat(20);
    let f = Fixture::with_files(&[
        ("old name.txt", long.as_str()),
        ("gone.txt", "bye\n"),
        ("img.bin", "\0\u{1}\u{2}"),
    ]);
    let w = worktree(&f, "run");
    f.git_ok(&w, &["mv", "old name.txt", "new name.txt"]);
    f.git_ok(&w, &["rm", "-q", "gone.txt"]);
    f.git_ok(&w, &["commit", "-q", "-m", "move"]);
    write(&w, "img.bin", &[0, 9, 9, 9]);
    write(&w, "raw.dat", &[1, 0, 2]);
    let big: String = (0..(MAX_DIFF_BYTES / 40 + 10))
        .map(|i| format!("{i:039}\n"))
        .collect();
    write(&w, "big.txt", big.as_bytes());

    let d = run_diff(&f, &w, "main", None);
    let by = |p: &str| d.files.iter().find(|f| f.path == p).unwrap();
    let moved = by("new name.txt");
    assert_eq!(moved.state, FileState::Renamed);
    assert_eq!(moved.orig_path.as_deref(), Some("old name.txt"));
    assert_eq!(by("gone.txt").state, FileState::Deleted);
    assert_eq!(by("gone.txt").deletions, 1);
    assert!(by("img.bin").binary && by("img.bin").patch.is_empty());
    assert!(by("raw.dat").binary);
    assert_eq!(by("raw.dat").state, FileState::Added);
    let big = by("big.txt");
    assert!(d.truncated);
    assert!(big.patch.is_empty());
    assert_eq!(big.additions as usize, MAX_DIFF_BYTES / 40 + 10);
}

/// Proves that under `filesystem.hidden = "deny"` the run diff leaves dot-files out, committed, changed
/// or untracked, and refuses a path filter naming one.
#[test]
fn run_diff_leaves_out_hidden_files_under_deny() {
    use crate::config::{FilesystemConfig, HiddenPolicy};
    use vibebridge_tunnel::git::GitReply;
    let f = Fixture::with_files(&[("a.txt", "a\n"), (".env", "A=1\n")]);
    let w = worktree(&f, "run");
    write(&w, ".env", b"A=2\n");
    write(&w, "conf/.secret", b"s\n");
    write(&w, "a.txt", b"b\n");
    f.git_ok(&w, &["add", "-A"]);
    f.git_ok(&w, &["commit", "-q", "-m", "run"]);
    write(&w, ".untracked", b"u\n");
    let fs = FilesystemConfig {
        hidden: HiddenPolicy::Deny,
        ..f.fs()
    };
    let req = |path: Option<&str>| GitRequest::RunDiff {
        repo: w.display().to_string(),
        base: "main".into(),
        path: path.map(str::to_string),
    };
    let GitReply::Ok(GitAnswer::RunDiff(d)) = super::super::handle(&fs, req(None)) else {
        panic!("not a run diff")
    };
    let paths: Vec<_> = d.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["a.txt"]);
    assert_eq!(
        super::err_with(&fs, req(Some(".env"))).0,
        ErrorCode::HiddenDenied
    );
    assert_eq!(
        run_diff(&f, &w, "main", None).files.len(),
        4,
        "shown when allowed"
    );
}

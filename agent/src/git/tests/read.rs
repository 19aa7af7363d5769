//! Reading: status, diff, log and branches, each compared with the git CLI's own answer.

use vibebridge_tunnel::git::{
    BranchList, FileState, GitAnswer, GitDiff, GitLog, GitRequest, StatusEntry,
};
use vibebridge_tunnel::reply::ErrorCode;

use super::Fixture;

/// `git status --porcelain=v1 -z`, as our entries.
fn porcelain(f: &Fixture) -> Vec<StatusEntry> {
    let out = f.git(&["status", "--porcelain=v1", "-z"]);
    let mut fields = out.split('\0').filter(|s| !s.is_empty());
    let mut entries = Vec::new();
    while let Some(rec) = fields.next() {
        let (xy, path) = rec.split_at(3);
        let (x, y) = (xy.as_bytes()[0], xy.as_bytes()[1]);
        let orig_path = (x == b'R').then(|| fields.next().unwrap().to_string());
        let conflict = matches!((x, y), (b'D', b'D') | (b'A', b'A') | (b'U', _) | (_, b'U'));
        let letter = |c: u8| match c {
            b' ' => FileState::Unmodified,
            b'M' => FileState::Modified,
            b'A' => FileState::Added,
            b'D' => FileState::Deleted,
            b'R' => FileState::Renamed,
            b'T' => FileState::TypeChanged,
            other => panic!("unexpected porcelain letter {}", other as char),
        };
        let (staged, unstaged) = if conflict {
            (FileState::Conflicted, FileState::Conflicted)
        } else if x == b'?' {
            (FileState::Unmodified, FileState::Untracked)
        } else {
            (letter(x), letter(y))
        };
        entries.push(StatusEntry {
            path: path.to_string(),
            orig_path,
            staged,
            unstaged,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries
}

/// Proves every kind of change (staged, unstaged, both, deleted, renamed, type change, untracked file and
/// directory) is reported exactly as `git status --porcelain` reports it, with the branch and HEAD.
#[test]
fn git_status_matches_porcelain() {
    let f = Fixture::with_files(&[
        ("a.txt", "a\n"),
        ("b.txt", "b\n"),
        ("both.txt", "1\n"),
        ("gone.txt", "gone\n"),
        (
            "old-name.txt",
            "rename me, I am long enough to be recognised\n",
        ),
        ("rm-staged.txt", "x\n"),
        ("src/lib.rs", "fn main() {}\n"),
        ("link-me", "plain\n"),
        (
            "from/moved.txt",
            "a file moved to another directory keeps its content\n",
        ),
        ("untouched/x.txt", "x\n"),
    ]);
    f.write("a.txt", "a changed\n");
    f.write("b.txt", "b staged\n");
    f.git(&["add", "b.txt"]);
    f.write("both.txt", "2\n");
    f.git(&["add", "both.txt"]);
    f.write("both.txt", "3\n");
    std::fs::remove_file(f.repo.join("gone.txt")).unwrap();
    f.git(&["mv", "old-name.txt", "new-name.txt"]);
    f.git(&["mv", "from", "to"]);
    f.git(&["rm", "-q", "rm-staged.txt"]);
    f.write("new.txt", "new\n");
    f.git(&["add", "new.txt"]);
    f.write("untracked.txt", "u\n");
    f.write("newdir/one.txt", "1\n");
    f.write("newdir/deep/two.txt", "2\n");
    std::fs::remove_file(f.repo.join("link-me")).unwrap();
    std::os::unix::fs::symlink("a.txt", f.repo.join("link-me")).unwrap();

    let ours = f.status();
    assert_eq!(ours.entries, porcelain(&f));
    assert!(ours.entries.iter().any(|e| e.path == "newdir/"));
    assert_eq!(ours.branch.as_deref(), Some("main"));
    assert_eq!(
        ours.head.as_deref(),
        Some(f.git(&["rev-parse", "HEAD"]).trim())
    );
    assert_eq!(ours.workdir, f.repo.display().to_string());
    assert!(!ours.truncated);
    assert_eq!((ours.upstream, ours.ahead, ours.behind), (None, 0, 0));
}

/// Proves a real merge conflict shows as conflicted on both sides, as `git status` shows `UU`/`AA`.
#[test]
fn git_status_shows_merge_conflicts() {
    let f = Fixture::with_files(&[("clash.txt", "base\n"), ("calm.txt", "calm\n")]);
    f.git(&["checkout", "-q", "-b", "other"]);
    f.write("clash.txt", "theirs\n");
    f.write("added.txt", "theirs\n");
    f.git(&["add", "-A"]);
    f.git(&["commit", "-q", "-m", "theirs"]);
    f.git(&["checkout", "-q", "main"]);
    f.write("clash.txt", "ours\n");
    f.write("added.txt", "ours\n");
    f.git(&["add", "-A"]);
    f.git(&["commit", "-q", "-m", "ours"]);
    assert!(!f.git_in(&f.repo, &["merge", "other"]).status.success());

    let ours = f.status().entries;
    assert_eq!(ours, porcelain(&f));
    assert_eq!(ours.len(), 2);
    assert!(ours.iter().all(|e| e.staged == FileState::Conflicted));
}

/// Proves the branch line's upstream and ahead/behind counts match `git rev-list --left-right --count`.
#[test]
fn git_status_counts_ahead_and_behind() {
    let f = Fixture::with_files(&[("a.txt", "a\n")]);
    let clone = f.root.join("clone");
    f.git_ok(&f.root, &["clone", "-q", f.repo.to_str().unwrap(), "clone"]);
    for n in 0..2 {
        std::fs::write(clone.join(format!("mine{n}")), "x").unwrap();
        f.git_ok(&clone, &["add", "-A"]);
        f.git_ok(&clone, &["commit", "-q", "-m", "mine"]);
    }
    f.write("theirs", "y");
    f.git(&["add", "-A"]);
    f.git(&["commit", "-q", "-m", "theirs"]);
    f.git_ok(&clone, &["fetch", "-q"]);

    let fs = f.fs();
    let GitAnswer::Status(s) = super::super::handle(
        &fs,
        GitRequest::Status {
            repo: clone.display().to_string(),
        },
    )
    .into_ok() else {
        panic!("not a status")
    };
    let counts = f.git_ok(
        &clone,
        &["rev-list", "--left-right", "--count", "main...origin/main"],
    );
    assert_eq!(format!("{}\t{}", s.ahead, s.behind), counts.trim());
    assert_eq!((s.ahead, s.behind), (2, 1));
    assert_eq!(s.upstream.as_deref(), Some("origin/main"));
}

trait IntoOk {
    fn into_ok(self) -> GitAnswer;
}

impl IntoOk for vibebridge_tunnel::git::GitReply {
    fn into_ok(self) -> GitAnswer {
        match self {
            vibebridge_tunnel::git::GitReply::Ok(a) => a,
            vibebridge_tunnel::git::GitReply::Err { code, message } => {
                panic!("refused ({code}): {message}")
            }
        }
    }
}

fn diff(f: &Fixture, staged: bool, path: Option<&str>) -> GitDiff {
    diff_of(f, staged, path, None)
}

fn diff_of(f: &Fixture, staged: bool, path: Option<&str>, rev: Option<&str>) -> GitDiff {
    match f.ok(GitRequest::Diff {
        repo: f.repo_str(),
        staged,
        path: path.map(str::to_string),
        rev: rev.map(str::to_string),
    }) {
        GitAnswer::Diff(d) => d,
        other => panic!("not a diff: {other:?}"),
    }
}

/// Our diff in `git diff --numstat` form, sorted.
fn numstat(d: &GitDiff) -> Vec<String> {
    let mut lines: Vec<String> = d
        .files
        .iter()
        .map(|f| {
            if f.binary {
                format!("-\t-\t{}", f.path)
            } else {
                format!("{}\t{}\t{}", f.additions, f.deletions, f.path)
            }
        })
        .collect();
    lines.sort();
    lines
}

/// Proves both diffs list the same files with the same line counts as `git diff --numstat` and
/// `git diff --cached --numstat`, binary files included.
#[test]
fn git_diff_matches_numstat() {
    let mut big = String::new();
    for i in 0..40 {
        big.push_str(&format!("line {i}\n"));
    }
    let f = Fixture::with_files(&[
        ("big.txt", &big),
        ("small.txt", "one\ntwo\n"),
        ("gone.txt", "a\nb\nc\n"),
        ("bin.dat", "\0\x01\x02"),
        ("no-eol.txt", "last"),
    ]);
    f.write(
        "big.txt",
        &big.replace("line 3\n", "line three\n")
            .replace("line 30\n", ""),
    );
    f.write("small.txt", "one\ntwo\nthree\n");
    f.git(&["add", "small.txt"]);
    f.write("small.txt", "zero\none\ntwo\nthree\n");
    std::fs::remove_file(f.repo.join("gone.txt")).unwrap();
    std::fs::write(f.repo.join("bin.dat"), b"\0\x01\x03\x04").unwrap();
    f.write("no-eol.txt", "last\n");
    f.write("staged-new.txt", "n1\nn2\n");
    f.git(&["add", "staged-new.txt"]);
    f.write("untracked.txt", "not in git diff\n");

    let unstaged = diff(&f, false, None);
    assert_eq!(numstat(&unstaged), f.git_lines(&["diff", "--numstat"]));
    assert!(!unstaged.truncated);
    let staged = diff(&f, true, None);
    assert_eq!(
        numstat(&staged),
        f.git_lines(&["diff", "--cached", "--numstat"])
    );
    let states: Vec<_> = unstaged
        .files
        .iter()
        .map(|d| (d.path.as_str(), d.state))
        .collect();
    assert!(states.contains(&("gone.txt", FileState::Deleted)));
    assert!(states.contains(&("big.txt", FileState::Modified)));
    assert!(
        staged
            .files
            .iter()
            .any(|d| d.path == "staged-new.txt" && d.state == FileState::Added)
    );
    assert!(
        unstaged
            .files
            .iter()
            .any(|d| d.path == "bin.dat" && d.binary && d.patch.is_empty())
    );
}

/// Proves a commit's diff (`rev`) lists what `git show --numstat` lists for it: edits, an addition, a
/// deletion, a rename and a binary change against the first parent, and a root commit against nothing; a
/// path narrows it; an unknown rev, or a rev together with `staged`, is refused.
#[test]
fn commit_diff_matches_git_show() {
    let f = Fixture::with_files(&[
        ("keep.txt", "one\ntwo\nthree\n"),
        ("gone.txt", "bye\n"),
        ("old-name.txt", "a\nb\nc\nd\ne\nf\n"),
        ("bin.dat", "\0\x01"),
    ]);
    f.write("keep.txt", "one\n2\nthree\nfour\n");
    std::fs::remove_file(f.repo.join("gone.txt")).unwrap();
    std::fs::rename(f.repo.join("old-name.txt"), f.repo.join("new-name.txt")).unwrap();
    std::fs::write(f.repo.join("bin.dat"), b"\0\x02\x03").unwrap();
    f.write("dir/added.txt", "new\n");
    f.git(&["add", "-A"]);
    f.git(&["commit", "-q", "-m", "second"]);
    f.write("keep.txt", "uncommitted\n");

    let show = |rev: &str| f.git_lines(&["show", "--numstat", "--format=", "-M", rev]);
    let second = diff_of(&f, false, None, Some("HEAD"));
    let mut expected = show("HEAD");
    // git prints a rename as `old => new`; the diff names the new path and keeps the old one apart.
    for line in &mut expected {
        *line = line.replace("old-name.txt => new-name.txt", "new-name.txt");
    }
    expected.sort();
    assert_eq!(numstat(&second), expected);
    let renamed = second
        .files
        .iter()
        .find(|d| d.path == "new-name.txt")
        .unwrap();
    assert_eq!(renamed.orig_path.as_deref(), Some("old-name.txt"));
    assert!(
        second.files.iter().any(|d| d.path == "keep.txt"
            && d.patch.contains("+2\n")
            && d.patch.contains("-two\n"))
    );

    let root = diff_of(&f, false, None, Some("HEAD~1"));
    assert_eq!(numstat(&root), show("HEAD~1"));
    assert!(root.files.iter().all(|d| d.state == FileState::Added));

    let only = diff_of(&f, false, Some("dir"), Some("HEAD"));
    assert_eq!(numstat(&only), vec!["1\t0\tdir/added.txt".to_string()]);

    let unknown = f.err(GitRequest::Diff {
        repo: f.repo_str(),
        staged: false,
        path: None,
        rev: Some("no-such-branch".into()),
    });
    assert_eq!(unknown.0, ErrorCode::UnknownRef, "{}", unknown.1);
    let both = f.err(GitRequest::Diff {
        repo: f.repo_str(),
        staged: true,
        path: None,
        rev: Some("HEAD".into()),
    });
    assert_eq!(both.0, ErrorCode::BadRequest, "{}", both.1);
}

/// `git diff` output from the first hunk on, with the function context after `@@` cut off.
fn git_hunks(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().skip_while(|l| !l.starts_with("@@")) {
        if let Some(rest) = line.strip_prefix("@@") {
            let end = rest.find("@@").unwrap() + 4;
            out.push_str(&line[..end]);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Proves a patch's hunks (3 lines of context, several hunks, a missing final newline) are the text
/// `git diff` prints, and that asking for one path returns only that file.
#[test]
fn git_diff_patch_matches_git() {
    let mut text = String::new();
    for i in 1..=30 {
        text.push_str(&format!("line {i}\n"));
    }
    let f = Fixture::with_files(&[("f.txt", &text), ("tail.txt", "a\nb"), ("other.txt", "o\n")]);
    f.write(
        "f.txt",
        &text
            .replace("line 2\n", "line two\n")
            .replace("line 20\n", "line 20\ninserted\n"),
    );
    f.write("tail.txt", "a\nb\nc\n");
    f.write("other.txt", "changed\n");

    for path in ["f.txt", "tail.txt"] {
        let d = diff(&f, false, Some(path));
        assert_eq!(d.files.len(), 1, "only {path}");
        assert_eq!(d.files[0].path, path);
        assert_eq!(d.files[0].patch, git_hunks(&f.git(&["diff", "--", path])));
    }
    assert_eq!(diff(&f, false, None).files.len(), 3);
}

fn log(f: &Fixture, rev: Option<&str>, skip: u32, limit: u32) -> GitLog {
    match f.ok(GitRequest::Log {
        repo: f.repo_str(),
        rev: rev.map(str::to_string),
        skip,
        limit,
    }) {
        GitAnswer::Log(l) => l,
        other => panic!("not a log: {other:?}"),
    }
}

/// Proves paging with skip/limit walks the same commits, in the same order, as `git log`, ending
/// with `next_skip = None`; a revision starts elsewhere; an unknown one is refused.
#[test]
fn git_log_pages_match_git_log() {
    let f = Fixture::with_files(&[("a", "0")]);
    for n in 1..7 {
        f.write("a", &n.to_string());
        f.git(&["commit", "-q", "-am", &format!("change {n}\n\nbody {n}")]);
    }
    let expected: Vec<String> = f
        .git(&["log", "--format=%H"])
        .lines()
        .map(str::to_string)
        .collect();
    let mut ids = Vec::new();
    let mut skip = Some(0);
    let mut pages = 0;
    while let Some(s) = skip {
        let page = log(&f, None, s, 3);
        ids.extend(page.commits.iter().map(|c| c.id.clone()));
        skip = page.next_skip;
        pages += 1;
    }
    assert_eq!(ids, expected);
    assert_eq!(pages, 3);

    let first = log(&f, None, 0, 1).commits.remove(0);
    assert_eq!(first.summary, "change 6");
    assert_eq!(first.message, "change 6\n\nbody 6\n");
    assert_eq!(first.author_name, "Fixture Author");
    assert_eq!(first.author_email, "fixture@example.invalid");
    assert_eq!(first.parents, vec![expected[1].clone()]);
    assert_eq!(
        first.time.to_string(),
        f.git(&["log", "-1", "--format=%at"]).trim()
    );

    let from_older = log(&f, Some(&expected[4]), 0, 10);
    assert_eq!(from_older.commits.len(), 3);
    assert_eq!(from_older.next_skip, None);
    let (code, _) = f.err(GitRequest::Log {
        repo: f.repo_str(),
        rev: Some("no-such-branch".into()),
        skip: 0,
        limit: 10,
    });
    assert_eq!(code, ErrorCode::UnknownRef);
    let empty = Fixture::new();
    assert!(log(&empty, None, 0, 10).commits.is_empty());
}

/// Proves the branch list has `git branch`'s local branches (current one marked, targets and upstream
/// right) followed by the remote-tracking branches, without the `origin/HEAD` alias.
#[test]
fn git_branches_match_git_branch() {
    let f = Fixture::with_files(&[("a", "a")]);
    f.git(&["branch", "zeta"]);
    f.git(&["branch", "alpha"]);
    let clone = f.root.join("clone");
    f.git_ok(&f.root, &["clone", "-q", f.repo.to_str().unwrap(), "clone"]);
    f.git_ok(&clone, &["checkout", "-q", "-b", "topic"]);

    let fs = f.fs();
    let req = GitRequest::Branches {
        repo: clone.display().to_string(),
    };
    let GitAnswer::Branches(BranchList { branches }) = super::super::handle(&fs, req).into_ok()
    else {
        panic!("not branches")
    };
    let local: Vec<&str> = branches
        .iter()
        .filter(|b| !b.remote)
        .map(|b| b.name.as_str())
        .collect();
    let git_local = f.git_ok(&clone, &["branch", "--format=%(refname:short)"]);
    assert_eq!(local, git_local.lines().collect::<Vec<_>>());
    let remote: Vec<&str> = branches
        .iter()
        .filter(|b| b.remote)
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(remote, vec!["origin/alpha", "origin/main", "origin/zeta"]);
    let current: Vec<&str> = branches
        .iter()
        .filter(|b| b.current)
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(current, vec!["topic"]);
    for b in &branches {
        let full = if b.remote {
            format!("refs/remotes/{}", b.name)
        } else {
            format!("refs/heads/{}", b.name)
        };
        assert_eq!(b.target, f.git_ok(&clone, &["rev-parse", &full]).trim());
    }
    let main = branches.iter().find(|b| b.name == "main").unwrap();
    assert_eq!(main.upstream.as_deref(), Some("origin/main"));
    assert!(
        branches
            .iter()
            .find(|b| b.name == "topic")
            .unwrap()
            .upstream
            .is_none()
    );
}

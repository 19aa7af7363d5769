//! `filesystem.hidden = "deny"` in the git API: dot-files are neither shown nor touched.

use vibebridge_tunnel::git::{Author, GitAnswer, GitReply, GitRequest};
use vibebridge_tunnel::reply::ErrorCode;

use super::{Fixture, err_with};
use crate::config::{FilesystemConfig, HiddenPolicy};

fn deny(f: &Fixture) -> FilesystemConfig {
    FilesystemConfig {
        hidden: HiddenPolicy::Deny,
        ..f.fs()
    }
}

fn ok(fs: &FilesystemConfig, req: GitRequest) -> GitAnswer {
    match super::super::handle(fs, req) {
        GitReply::Ok(a) => a,
        GitReply::Err { code, message } => panic!("refused ({code}): {message}"),
    }
}

fn paths(answer: GitAnswer) -> Vec<String> {
    match answer {
        GitAnswer::Status(s) => s.entries.into_iter().map(|e| e.path).collect(),
        GitAnswer::Diff(d) => d.files.into_iter().map(|f| f.path).collect(),
        other => panic!("unexpected answer {other:?}"),
    }
}

/// Proves that under `hidden = "deny"` status and diffs (work tree, staged, a commit) leave dot-files
/// out, naming one is refused with `hidden_denied`, staging a directory skips the dot-files in it, a
/// commit with a staged dot-file is refused, and a repository below a dot-directory is refused.
#[test]
fn git_hidden_deny_leaves_dot_files_alone() {
    let f = Fixture::with_files(&[("a.txt", "1\n"), (".env", "A=1\n"), ("conf/.secret", "s\n")]);
    let fs = deny(&f);
    let repo = f.repo_str();
    // New sizes, not just new bytes: a same-size rewrite within the file system's timestamp granule
    // looks unchanged to `git add` once the index was rewritten (racy git), which this test is not about.
    f.write("a.txt", "22\n");
    f.write(".env", "A=22\n");
    f.write("conf/.secret", "tt\n");
    f.write("conf/b.txt", "b\n");
    assert_eq!(
        paths(ok(&fs, GitRequest::Status { repo: repo.clone() })),
        ["a.txt", "conf/b.txt"]
    );
    let diff = |staged, path: Option<&str>, rev: Option<&str>| GitRequest::Diff {
        repo: repo.clone(),
        staged,
        path: path.map(str::to_string),
        rev: rev.map(str::to_string),
    };
    assert_eq!(paths(ok(&fs, diff(false, None, None))), ["a.txt"]);
    assert_eq!(paths(ok(&fs, diff(false, None, Some("HEAD")))), ["a.txt"]);
    let (code, message) = err_with(&fs, diff(false, Some(".env"), None));
    assert_eq!(code, ErrorCode::HiddenDenied, "{message}");
    assert!(message.contains("filesystem.hidden"), "{message}");
    let stage = |list: &[&str]| GitRequest::Stage {
        repo: repo.clone(),
        paths: list.iter().map(|p| p.to_string()).collect(),
    };
    assert_eq!(err_with(&fs, stage(&[".env"])).0, ErrorCode::HiddenDenied);
    ok(&fs, stage(&["conf"]));
    assert_eq!(f.git(&["diff", "--cached", "--name-only"]), "conf/b.txt\n");

    // A dot-file staged by someone else (a terminal) is neither shown nor committed.
    f.git(&["add", ".env"]);
    assert_eq!(paths(ok(&fs, diff(true, None, None))), ["conf/b.txt"]);
    let commit = GitRequest::Commit {
        repo: repo.clone(),
        message: "publish".into(),
        author: Author {
            name: "Ada".into(),
            email: "ada@example.invalid".into(),
        },
    };
    let (code, message) = err_with(&fs, commit.clone());
    assert_eq!(code, ErrorCode::HiddenDenied, "{message}");
    assert_eq!(f.git(&["rev-list", "--count", "HEAD"]), "1\n");
    // Unstaging a directory leaves the dot-files in it staged; the default policy still sees them all.
    f.git(&["add", "conf/.secret"]);
    ok(
        &fs,
        GitRequest::Unstage {
            repo: repo.clone(),
            paths: vec!["conf".into()],
        },
    );
    assert_eq!(
        f.git(&["diff", "--cached", "--name-only"]),
        ".env\nconf/.secret\n"
    );
    assert_eq!(
        paths(ok(&f.fs(), GitRequest::Status { repo: repo.clone() })),
        [".env", "a.txt", "conf/.secret", "conf/b.txt"]
    );

    std::fs::create_dir_all(f.root.join(".hidden/inner")).unwrap();
    f.git_ok(&f.root.join(".hidden/inner"), &["init", "-q"]);
    let inner = f.root.join(".hidden/inner").display().to_string();
    assert_eq!(
        err_with(&fs, GitRequest::Status { repo: inner }).0,
        ErrorCode::HiddenDenied
    );
}

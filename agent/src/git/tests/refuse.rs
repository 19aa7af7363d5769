//! Refusals: paths escaping the work tree, repositories outside the roots, non-repositories and
//! read-only nodes, each with the stable code main relies on.

use vibebridge_tunnel::git::{GitAnswer, GitReply, GitRequest};
use vibebridge_tunnel::reply::ErrorCode;

use super::{Fixture, err_with};
use crate::config::FilesystemConfig;

/// Proves file paths with `..`, absolute paths, NUL bytes and paths into `.git` are refused as bad
/// requests by every operation taking paths, and that nothing was changed.
#[test]
fn git_path_escapes_are_refused() {
    let f = Fixture::with_files(&[("a", "a\n")]);
    f.write("a", "changed\n");
    let bad = [
        "../outside",
        "sub/../../outside",
        "/etc/passwd",
        ".git/config",
        "sub/.GIT/hooks/pre-commit",
        "a\0b",
        ".",
        "",
    ];
    for path in bad {
        let reqs = [
            GitRequest::Stage {
                repo: f.repo_str(),
                paths: vec![path.into()],
            },
            GitRequest::Unstage {
                repo: f.repo_str(),
                paths: vec![path.into()],
            },
            GitRequest::Discard {
                repo: f.repo_str(),
                paths: vec!["a".into(), path.into()],
            },
            GitRequest::Diff {
                repo: f.repo_str(),
                staged: false,
                path: Some(path.into()),
                rev: None,
            },
        ];
        for req in reqs {
            let (code, message) = f.err(req);
            assert_eq!(code, ErrorCode::BadRequest, "{path:?}: {message}");
        }
    }
    assert_eq!(f.read("a"), "changed\n");
    assert_eq!(f.git(&["status", "--porcelain"]), " M a\n");
    let (code, _) = f.err(GitRequest::Stage {
        repo: f.repo_str(),
        paths: vec!["no-such-file".into()],
    });
    assert_eq!(code, ErrorCode::PathNotFound);
}

/// Proves a tracked path behind a symlinked directory is never written through: discarding it is
/// refused and the symlink's target stays untouched.
#[test]
fn git_symlinked_directory_is_not_followed() {
    let f = Fixture::with_files(&[("d/x", "inside\n")]);
    let outside = f.root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("x"), "precious\n").unwrap();
    std::fs::remove_dir_all(f.repo.join("d")).unwrap();
    std::os::unix::fs::symlink(&outside, f.repo.join("d")).unwrap();

    let (code, message) = f.err(GitRequest::Discard {
        repo: f.repo_str(),
        paths: vec!["d/x".into()],
    });
    assert_eq!(code, ErrorCode::PathOutsideRoots, "{message}");
    assert_eq!(
        std::fs::read_to_string(outside.join("x")).unwrap(),
        "precious\n"
    );
}

/// Proves a repository whose work tree reaches above the allowed root is refused (naming the rule),
/// as is a directory outside the roots.
#[test]
fn git_repo_outside_roots_is_refused() {
    let f = Fixture::with_files(&[("sub/file", "x")]);
    let narrow = FilesystemConfig {
        roots: vec![f.repo.join("sub")],
        ..FilesystemConfig::default()
    };
    let (code, message) = err_with(
        &narrow,
        GitRequest::Status {
            repo: f.repo.join("sub").display().to_string(),
        },
    );
    assert_eq!(code, ErrorCode::PathOutsideRoots);
    assert!(message.contains("filesystem.roots"), "{message}");
    let (code, _) = err_with(&narrow, GitRequest::Status { repo: f.repo_str() });
    assert_eq!(code, ErrorCode::PathOutsideRoots);
}

/// Proves a work tree whose `.git` file (or `.git` symlink) points outside the roots is refused: git would
/// read and write the repository there.
#[test]
fn git_dir_outside_roots_is_refused() {
    let f = Fixture::new();
    let elsewhere = f.root.parent().unwrap().join("elsewhere.git");
    let wt = f.root.join("wt");
    std::fs::create_dir_all(&wt).unwrap();
    let sep = format!("--separate-git-dir={}", elsewhere.display());
    f.git_ok(&wt, &["init", "-q", &sep]);
    assert!(
        std::fs::read_to_string(wt.join(".git"))
            .unwrap()
            .starts_with("gitdir:")
    );
    let (code, message) = err_with(
        &f.fs(),
        GitRequest::Status {
            repo: wt.display().to_string(),
        },
    );
    assert_eq!(code, ErrorCode::PathOutsideRoots, "{message}");
    assert!(message.contains("git directory"), "{message}");
    let linked = f.root.join("linked");
    std::fs::create_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink(&elsewhere, linked.join(".git")).unwrap();
    let repo = linked.display().to_string();
    assert_eq!(
        err_with(&f.fs(), GitRequest::Status { repo }).0,
        ErrorCode::PathOutsideRoots
    );
    assert!(matches!(
        super::super::handle(&f.fs(), GitRequest::Status { repo: f.repo_str() }),
        vibebridge_tunnel::git::GitReply::Ok(_)
    ));
}

/// Proves a plain directory and a bare repository are refused as not a repository, a missing
/// directory as not found, and a relative path as a bad request.
#[test]
fn git_non_repositories_are_refused() {
    let f = Fixture::new();
    let plain = f.root.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let bare = f.root.join("bare.git");
    f.git_ok(&f.root, &["init", "-q", "--bare", "bare.git"]);
    let status = |p: &std::path::Path| GitRequest::Status {
        repo: p.display().to_string(),
    };
    assert_eq!(f.err(status(&plain)).0, ErrorCode::NotARepository);
    assert_eq!(f.err(status(&bare)).0, ErrorCode::NotARepository);
    assert_eq!(
        f.err(status(&f.root.join("missing"))).0,
        ErrorCode::PathNotFound
    );
    assert_eq!(
        f.err(GitRequest::Status {
            repo: "repo".into()
        })
        .0,
        ErrorCode::BadRequest
    );
}

/// Proves a read-only node answers reads but refuses every change with `read_only`, naming the setting.
#[test]
fn git_read_only_refuses_changes() {
    let f = Fixture::with_files(&[("a", "1")]);
    f.write("a", "2");
    let ro = FilesystemConfig {
        read_only: true,
        ..f.fs()
    };
    assert!(matches!(
        super::super::handle(&ro, GitRequest::Status { repo: f.repo_str() }),
        vibebridge_tunnel::git::GitReply::Ok(_)
    ));
    let (code, message) = err_with(
        &ro,
        GitRequest::Stage {
            repo: f.repo_str(),
            paths: vec!["a".into()],
        },
    );
    assert_eq!(code, ErrorCode::ReadOnly);
    assert!(message.contains("filesystem.read_only"), "{message}");
    assert_eq!(f.git(&["diff", "--cached", "--name-only"]), "");
}

/// Proves a state directory inside a work tree is never listed, diffed, staged (even by staging its parent) or discarded.
#[test]
fn git_never_touches_state_dirs() {
    let f = Fixture::with_files(&[("a", "1"), ("data/tracked", "t")]);
    f.write("data/node/node_ed25519_key", "SECRET");
    f.write("data/node/sessions.db", "DB");
    f.write("data/notes.txt", "n");
    let fs = FilesystemConfig {
        protected: vec![f.repo.join("data/node")],
        ..f.fs()
    };
    let status = match super::super::handle(&fs, GitRequest::Status { repo: f.repo_str() }) {
        GitReply::Ok(GitAnswer::Status(s)) => s,
        other => panic!("{other:?}"),
    };
    let paths: Vec<_> = status.entries.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"data/notes.txt"), "{paths:?}");
    assert!(
        paths.iter().all(|p| !p.starts_with("data/node")),
        "{paths:?}"
    );

    for req in [
        GitRequest::Stage {
            repo: f.repo_str(),
            paths: vec!["data/node".into()],
        },
        GitRequest::Discard {
            repo: f.repo_str(),
            paths: vec!["data/node/sessions.db".into()],
        },
        GitRequest::Diff {
            repo: f.repo_str(),
            staged: false,
            path: Some("data/node/".into()),
            rev: None,
        },
    ] {
        let (code, message) = err_with(&fs, req);
        assert_eq!(code, ErrorCode::ProtectedState, "{message}");
        assert!(message.contains("state directory"), "{message}");
    }
    // Staging or discarding the parent leaves the state alone.
    assert!(matches!(
        super::super::handle(
            &fs,
            GitRequest::Stage {
                repo: f.repo_str(),
                paths: vec!["data".into()],
            }
        ),
        GitReply::Ok(_)
    ));
    let staged = f.git_lines(&["diff", "--cached", "--name-only"]);
    assert_eq!(staged, vec!["data/notes.txt".to_string()]);
    f.git(&["reset", "-q"]);
    assert!(matches!(
        super::super::handle(
            &fs,
            GitRequest::Discard {
                repo: f.repo_str(),
                paths: vec!["data".into()],
            }
        ),
        GitReply::Ok(_)
    ));
    assert_eq!(f.read("data/node/node_ed25519_key"), "SECRET");
    assert!(!f.repo.join("data/notes.txt").exists());
}

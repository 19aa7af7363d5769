//! Tests of the git backend: real repositories made with the git CLI in temporary directories, and our
//! answers compared with what the git CLI itself reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cleanup_props;
mod hidden;
mod http_remote;
mod merge;
mod read;
mod refuse;
mod remote;
mod remote_check;
mod run_diff;
mod worktree;
mod worktrees;
mod write;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use vibebridge_tunnel::reply::ErrorCode;

use vibebridge_tunnel::git::{GitAnswer, GitReply, GitRequest, GitStatus};

use crate::config::FilesystemConfig;

/// A temporary allowed root holding one repository (`repo`), removed on drop.
pub(super) struct Fixture {
    base: PathBuf,
    /// The node's only allowed root.
    pub root: PathBuf,
    /// The repository's work tree, inside `root`.
    pub repo: PathBuf,
    home: PathBuf,
}

impl Fixture {
    /// An empty repository on branch `main`.
    pub fn new() -> Fixture {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = std::env::temp_dir().join(format!("vb-git-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        let repo = root.join("repo");
        let home = base.join("home");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let f = Fixture {
            base,
            root: std::fs::canonicalize(&root).unwrap(),
            repo: std::fs::canonicalize(&repo).unwrap(),
            home,
        };
        f.git(&["init", "-q", "-b", "main"]);
        f
    }

    /// A repository with `files` committed as "initial".
    pub fn with_files(files: &[(&str, &str)]) -> Fixture {
        let f = Fixture::new();
        for (path, content) in files {
            f.write(path, content);
        }
        f.git(&["add", "-A"]);
        f.git(&["commit", "-q", "-m", "initial"]);
        f
    }

    /// The git CLI in `dir`, isolated from the machine's and user's configuration.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", &self.home)
            .env("GIT_AUTHOR_NAME", "Fixture Author")
            .env("GIT_AUTHOR_EMAIL", "fixture@example.invalid")
            .env("GIT_COMMITTER_NAME", "Fixture Author")
            .env("GIT_COMMITTER_EMAIL", "fixture@example.invalid")
            .env("LC_ALL", "C")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .output()
            .unwrap()
    }

    /// Runs git in the repository; panics with its stderr unless it succeeds; returns stdout.
    pub fn git(&self, args: &[&str]) -> String {
        self.git_ok(&self.repo, args)
    }

    /// Like [`Fixture::git`], in another directory.
    pub fn git_ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git_in(dir, args);
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Lines of a git command's output, sorted.
    pub fn git_lines(&self, args: &[&str]) -> Vec<String> {
        let mut lines: Vec<String> = self.git(args).lines().map(str::to_string).collect();
        lines.sort();
        lines
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.repo.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.repo.join(rel)).unwrap()
    }

    pub fn fs(&self) -> FilesystemConfig {
        FilesystemConfig {
            roots: vec![self.root.clone()],
            ..FilesystemConfig::default()
        }
    }

    pub fn repo_str(&self) -> String {
        self.repo.display().to_string()
    }

    /// Our answer, or a panic naming the refusal.
    pub fn ok(&self, req: GitRequest) -> GitAnswer {
        match super::handle(&self.fs(), req) {
            GitReply::Ok(a) => a,
            GitReply::Err { code, message } => panic!("refused ({code}): {message}"),
        }
    }

    /// Our refusal's code and message, or a panic if the request succeeded.
    pub fn err(&self, req: GitRequest) -> (ErrorCode, String) {
        err_with(&self.fs(), req)
    }

    pub fn status(&self) -> GitStatus {
        match self.ok(GitRequest::Status {
            repo: self.repo_str(),
        }) {
            GitAnswer::Status(s) => s,
            other => panic!("not a status: {other:?}"),
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// The refusal `req` gets under `fs`.
pub(super) fn err_with(fs: &FilesystemConfig, req: GitRequest) -> (ErrorCode, String) {
    match super::handle(fs, req) {
        GitReply::Ok(a) => panic!("expected a refusal, got {a:?}"),
        GitReply::Err { code, message } => (code, message),
    }
}

//! Tests of task runs on a node: real repositories made with the git CLI in temporary directories, real
//! worktrees, real copies and real shell scripts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod copy;
mod prepare;
mod script;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use vibebridge_tunnel::run::{RunMode, RunSpec};

/// A temporary directory holding repositories and a worktrees root, removed on drop.
pub(super) struct Fixture {
    /// The temporary directory (canonical).
    pub base: PathBuf,
    /// The first repository's working copy, on `main` with `a.txt` committed.
    pub repo: PathBuf,
    /// The node's worktrees root.
    pub worktrees: PathBuf,
    home: PathBuf,
}

impl Fixture {
    /// A repository with `a.txt` and a `.gitignore` ignoring `*.env`, committed on `main`.
    pub fn new() -> Fixture {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = std::env::temp_dir().join(format!("vb-runs-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("home")).unwrap();
        let base = std::fs::canonicalize(&base).unwrap();
        let mut f = Fixture {
            home: base.join("home"),
            repo: PathBuf::new(),
            worktrees: base.join("worktrees"),
            base,
        };
        f.repo = f.make_repo("repo");
        f
    }

    /// Another repository at `rel` under the base, like the first.
    pub fn make_repo(&self, rel: &str) -> PathBuf {
        let repo = self.base.join(rel);
        std::fs::create_dir_all(&repo).unwrap();
        self.git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("a.txt"), "one\n").unwrap();
        std::fs::write(repo.join(".gitignore"), "*.env\n").unwrap();
        self.git(&repo, &["add", "-A"]);
        self.git(&repo, &["commit", "-q", "-m", "initial"]);
        repo
    }

    /// Runs git in `dir`, isolated from the machine's configuration; panics unless it succeeds; its stdout,
    /// trimmed.
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
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
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Writes `content` to `rel` under `dir`, creating parents.
    pub fn write(dir: &Path, rel: &str, content: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// The local branches of `repo`, sorted.
    pub fn branches(&self, repo: &Path) -> Vec<String> {
        let mut b: Vec<String> = self
            .git(
                repo,
                &["for-each-ref", "--format=%(refname:short)", "refs/heads/"],
            )
            .lines()
            .map(str::to_string)
            .collect();
        b.sort();
        b
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// A run of task `ABC-1` "Fix login" on `repo`, based on `main`, in `mode`.
pub(crate) fn spec(repo: &Path, mode: RunMode) -> RunSpec {
    RunSpec {
        run_id: "run-1".into(),
        task_key: "ABC-1".into(),
        task_title: "Fix login".into(),
        repo: repo.display().to_string(),
        base_branch: "main".into(),
        start_point: None,
        mode,
        copy_files: Vec::new(),
        setup_script: String::new(),
        cleanup_script: String::new(),
        dev_script: String::new(),
        commit_message: None,
    }
}

/// The default worktree mode.
pub(crate) fn worktree_mode(carry: bool) -> RunMode {
    RunMode::Worktree {
        branch_template: "vb/{key}-{slug}".into(),
        carry,
    }
}

/// No port is taken.
pub(super) fn no_ports(_: u16) -> bool {
    false
}

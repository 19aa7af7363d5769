//! The browser UI end to end: real headless Chromium (Debian's `chromium`, driven by playwright-core from
//! `web/e2e/ui.mjs`) against the real `vibebridge up` binary, whose local node runs the real `claude` CLI against
//! the mock Anthropic API. Screenshots of every step land in `target/e2e/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use vibebridge_tests::TempDir;
use vibebridge_tests::e2e::{
    Groups, chromium, stop_up, target_dir, ui_script, up, vibebridge_bin, workspace,
};
use vibebridge_tests::mock::{CliEnv, MockAnthropic, claude_bin};

/// The whole browser run may take this long (two cores, a CLI start per turn).
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Runs git in `repo` with the test environment's identity; panics on failure, returns stdout.
fn git(env: &CliEnv, repo: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(repo)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.env())
        .stdin(Stdio::null())
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Proves the browser flow works end to end in a real browser: register, the local node, a Claude
/// session that writes a file after an inline approval, the diff card and answer, a mid-turn reload that loses
/// nothing, the files page (edit and save a tracked file, the unsaved-change guard, a conflicting write, the git
/// status and diff, the commit profile, a commit; create, rename and delete from the node's roots), a terminal
/// that runs `echo vb-$((6*7))`, resizes and reattaches, and the phone layout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_end_to_end() {
    // Checked before anything starts, so a missing browser says so at once.
    chromium();
    let script = workspace().join("web/e2e/ui.mjs");
    assert!(
        workspace()
            .join("web/node_modules/playwright-core")
            .is_dir(),
        "web/node_modules is missing: run `npm ci --prefix web` (scripts/test.sh does)"
    );
    let bin = vibebridge_bin();
    let claude = MockAnthropic::start().await;
    let env = CliEnv::new("browser").with_anthropic(&claude);
    let repo = env.git_repo("ws");
    // A tracked file for the files page to edit, so the git panel has a modified file with a diff.
    std::fs::write(repo.join("README.md"), "# ws\n").unwrap();
    git(&env, &repo, &["add", "README.md"]);
    git(&env, &repo, &["commit", "-q", "-m", "Add a README"]);
    let data = TempDir::new("browser-data");
    let shots = target_dir().join("e2e");
    let _ = std::fs::remove_dir_all(&shots);

    // The product as a person runs it, with `claude` on PATH and its environment pointed at the mock.
    let path = format!(
        "{}:{}",
        claude_bin().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (mut up, url) = up(&bin, &env, data.path(), std::ffi::OsStr::new(&path)).await;
    let mut groups = Groups(Vec::new());
    groups.add(&up);

    let repo_dir = std::fs::canonicalize(&repo).unwrap();
    let mut ui = ui_script(
        &script,
        &[
            ("VB_URL", std::ffi::OsStr::new(&url)),
            ("VB_REPO", repo_dir.as_os_str()),
            ("VB_SHOTS", shots.as_os_str()),
        ],
        std::process::Stdio::piped(),
    );
    groups.add(&ui);
    // Re-bound after `ui` so it drops first: `ui`'s kill_on_drop must not SIGKILL node before playwright
    // has had the SIGTERM that makes it close Chromium (which it starts in a process group of its own).
    let _groups = groups;
    let mut ui_in = ui.stdin.take().unwrap();
    let mut ui_out = BufReader::new(ui.stdout.take().unwrap()).lines();
    let mut done = false;
    let run = async {
        while let Some(line) = ui_out.next_line().await.unwrap() {
            eprintln!("ui: {line}");
            if let Some(gate) = line.strip_prefix("GATE ") {
                claude.wait_held(gate).await;
            } else if let Some(gate) = line.strip_prefix("RELEASE ") {
                claude.release(gate);
            } else {
                done |= line == "DONE";
                continue;
            }
            ui_in.write_all(b"OK\n").await.unwrap();
        }
        ui.wait().await.unwrap()
    };
    let status = tokio::time::timeout(RUN_LIMIT, run)
        .await
        .expect("the browser run did not finish in time");
    assert!(
        status.success() && done,
        "the browser run failed (screenshots in {})",
        shots.display()
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("hello.txt")).unwrap(),
        "hello from the browser\n"
    );
    // The files page's save and commit reached the repository: the edit, committed with the page's message
    // by the profile it set, hello.txt with it, and nothing left over.
    assert_eq!(
        std::fs::read_to_string(repo.join("README.md")).unwrap(),
        "# ws\nEdited in the browser.\n"
    );
    assert_eq!(
        git(&env, &repo, &["log", "-1", "--format=%s|%an|%ae"]).trim(),
        "Edit the README from the browser|Alice Example|alice@example.com"
    );
    assert_eq!(
        git(&env, &repo, &["show", "--name-only", "--format=", "HEAD"]).trim(),
        "README.md\nhello.txt"
    );
    assert_eq!(git(&env, &repo, &["status", "--porcelain"]), "");
    // The scratch file made from the Nodes page was renamed, then deleted.
    for name in ["scratch.txt", "renamed.txt"] {
        assert!(!env.path().join(name).exists(), "{name} is still on disk");
    }

    // SIGTERM lets `up` end its CLIs and shells; then nothing of it may be left.
    stop_up(&mut up).await;
}

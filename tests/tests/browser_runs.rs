//! The task-run loop end to end: real headless Chromium (Debian's `chromium`, driven by playwright-core from
//! `web/e2e/runs.mjs`) against the real `vibebridge up` binary and its local node, with the real `claude` CLI on
//! PATH pointed at the mock Anthropic API. Screenshots of every step land in `target/e2e-runs/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use vibebridge_tests::TempDir;
use vibebridge_tests::e2e::{
    Groups, chromium, finish_ui, stop_up, target_dir, ui_script, up, vibebridge_bin, workspace,
};
use vibebridge_tests::mock::{CliEnv, MockAnthropic, claude_bin};

/// The whole run may take this long (two cores shared with other builds).
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Proves the whole loop in a real browser: start a Claude run from the task drawer, the card says it needs
/// attention, allow its command, the card moves to review, comment on a line of its diff and send it, allow the
/// agent's fix (the comment is then outdated), merge, and the card is in Done; and the drawer on a phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_end_to_end() {
    chromium();
    let script = workspace().join("web/e2e/runs.mjs");
    assert!(
        workspace()
            .join("web/node_modules/playwright-core")
            .is_dir(),
        "web/node_modules is missing: run `npm ci --prefix web` (scripts/test.sh does)"
    );
    let bin = vibebridge_bin();
    let claude = MockAnthropic::start().await;
    let env = CliEnv::new("runs").with_anthropic(&claude);
    let repo = env.git_repo("app");
    let data = TempDir::new("runs-data");
    let shots = target_dir().join("e2e-runs");
    let _ = std::fs::remove_dir_all(&shots);
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
        std::process::Stdio::null(),
    );
    groups.add(&ui);
    // Re-bound after `ui` so it drops first (see browser_board.rs).
    let _groups = groups;
    finish_ui(&mut ui, RUN_LIMIT, "runs", &shots).await;
    // The merge landed in the project's working copy, with the agent's fix.
    assert_eq!(
        std::fs::read_to_string(repo.join("count.txt")).unwrap(),
        "one\n2\n"
    );
    stop_up(&mut up).await;
}

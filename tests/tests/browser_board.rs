//! The work model's board end to end: real headless Chromium (Debian's `chromium`, driven by playwright-core
//! from `web/e2e/board.mjs`) against the real `vibebridge up` binary and its local node. Screenshots of every
//! step land in `target/e2e-board/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use vibebridge_tests::TempDir;
use vibebridge_tests::e2e::{
    Groups, chromium, finish_ui, stop_up, target_dir, ui_script, up, vibebridge_bin, workspace,
};
use vibebridge_tests::mock::CliEnv;

/// The whole board run may take this long (two cores shared with other builds).
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Proves the board works in a real browser: a workspace created and a member invited, a project on the local
/// node's git repository, tasks added, moved across columns by mouse and by keyboard and seen live by a second
/// browser, a text filter kept in the URL, a comment with a mention, and the phone layout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn board_end_to_end() {
    // Checked before anything starts, so a missing browser says so at once.
    chromium();
    let script = workspace().join("web/e2e/board.mjs");
    assert!(
        workspace()
            .join("web/node_modules/playwright-core")
            .is_dir(),
        "web/node_modules is missing: run `npm ci --prefix web` (scripts/test.sh does)"
    );
    let bin = vibebridge_bin();
    let env = CliEnv::new("board");
    // A git work tree with one commit, inside the node's root: the project's repository.
    let repo = env.git_repo("web");
    let data = TempDir::new("board-data");
    let vk_zip = data.path().join("vibe-kanban-export.zip");
    std::fs::write(&vk_zip, vibe_kanban_zip()).unwrap();
    let shots = target_dir().join("e2e-board");
    let _ = std::fs::remove_dir_all(&shots);

    let (mut up, url) = up(
        &bin,
        &env,
        data.path(),
        &std::env::var_os("PATH").unwrap_or_default(),
    )
    .await;
    let mut groups = Groups(Vec::new());
    groups.add(&up);

    let repo_dir = std::fs::canonicalize(&repo).unwrap();
    let mut ui = ui_script(
        &script,
        &[
            ("VB_URL", std::ffi::OsStr::new(&url)),
            ("VB_REPO", repo_dir.as_os_str()),
            ("VB_SHOTS", shots.as_os_str()),
            ("VB_VK_ZIP", vk_zip.as_os_str()),
        ],
        std::process::Stdio::null(),
    );
    groups.add(&ui);
    // Re-bound after `ui` so it drops first: `ui`'s kill_on_drop must not SIGKILL node before playwright
    // has had the SIGTERM that makes it close Chromium (which it starts in a process group of its own).
    let _groups = groups;
    finish_ui(&mut ui, RUN_LIMIT, "board", &shots).await;

    // SIGTERM lets `up` stop its node cleanly; then nothing of it may be left.
    stop_up(&mut up).await;
}

/// A small Vibe Kanban cloud export: two issues of project Web, one assigned to alice (who will match), one
/// to Ghost Writer (who has no account).
fn vibe_kanban_zip() -> Vec<u8> {
    use std::io::Write;
    let files = [
        (
            "issues.csv",
            "Issue ID,Title,Description,Status,Priority,Project,Assignee(s),Creator,Created,Updated,Start Date,Due Date,Completed,Parent Issue\n\
             WEB-1,Port the login page,From the old app,In progress,High,Web,alice,alice,2026-01-02T03:04:05Z,2026-01-03T00:00:00Z,,,,\n\
             WEB-2,Write the docs,,To do,Low,Web,Ghost Writer,Ghost Writer,2026-01-04T00:00:00Z,2026-01-04T00:00:00Z,,,,WEB-1\n",
        ),
        (
            "projects.csv",
            "Name,Created,Updated\nWeb,2026-01-01T00:00:00Z,2026-01-01T00:00:00Z\n",
        ),
        (
            "users.csv",
            "Email,Name\nalice@example.com,alice\nghost@example.com,Ghost Writer\n",
        ),
    ];
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in files {
        w.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(body.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

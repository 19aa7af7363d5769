//! The GitHub loop in a real browser: headless Chromium (playwright-core, `web/e2e/github.mjs`) against main
//! with a node, the real `claude` CLI on the mock Anthropic API, and the fake GitHub as main's GitHub.
//! Screenshots of every step land in `target/e2e-github/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use vibebridge_tests::e2e::{Groups, chromium, finish_ui, target_dir, ui_script, workspace};
use vibebridge_tests::github_fx::GithubFx;

/// The whole run may take this long (two cores shared with other builds).
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Proves the loop from the browser: Connect GitHub (the fake's authorize page and back), pick the repository
/// in the workspace's settings, create a project cloned from it on the node, run Claude on a task there, Push,
/// Create pull request, and the pull request's number shows on the run and on the board's card; the pull
/// request then exists on GitHub from the run's branch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_end_to_end() {
    chromium();
    assert!(
        workspace()
            .join("web/node_modules/playwright-core")
            .is_dir(),
        "web/node_modules is missing: run `npm ci --prefix web` (scripts/test.sh does)"
    );
    let g = GithubFx::new("gh-e2e", Duration::from_secs(3600), true).await;
    let url = format!("http://{}", g.rf.fx.main.http);
    let clone = g.rf.fx.env.path().join("web-e2e");
    let shots = target_dir().join("e2e-github");
    let _ = std::fs::remove_dir_all(&shots);
    let mut ui = ui_script(
        &workspace().join("web/e2e/github.mjs"),
        &[
            ("VB_URL", std::ffi::OsStr::new(&url)),
            ("VB_SHOTS", shots.as_os_str()),
            ("VB_REPO", std::ffi::OsStr::new("acme/web")),
            ("VB_CLONE_PATH", clone.as_os_str()),
        ],
        std::process::Stdio::null(),
    );
    let mut groups = Groups(Vec::new());
    groups.add(&ui);
    let _groups = groups;
    finish_ui(&mut ui, RUN_LIMIT, "github", &shots).await;
    let pulls = g.gh.pulls("acme", "web");
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let head = pulls[0]["head"]["ref"].as_str().unwrap();
    assert!(head.starts_with("vb/"), "{head}");
    assert_eq!(
        g.gh.branch_commit("acme", "web", head),
        Some(vibebridge_tests::run_fx::git(&clone, &["rev-parse", head])),
        "the branch on GitHub is the run's"
    );
}

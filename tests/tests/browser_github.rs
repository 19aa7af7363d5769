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

/// Runs `web/e2e/github-states.mjs` in `phase` against `g`'s main and waits for its `DONE`.
async fn states_phase(g: &GithubFx, phase: &str, token: &str, shots: &std::path::Path) {
    let url = format!("http://{}", g.rf.fx.main.http);
    let mut ui = ui_script(
        &workspace().join("web/e2e/github-states.mjs"),
        &[
            ("VB_URL", std::ffi::OsStr::new(&url)),
            ("VB_SHOTS", shots.as_os_str()),
            ("VB_PHASE", std::ffi::OsStr::new(phase)),
            ("VB_TOKEN", std::ffi::OsStr::new(token)),
        ],
        std::process::Stdio::null(),
    );
    let mut groups = Groups(Vec::new());
    groups.add(&ui);
    let _groups = groups;
    finish_ui(&mut ui, RUN_LIMIT, phase, shots).await;
}

/// Proves Settings → GitHub says what stops GitHub calls: a spent rate limit (GitHub's 403 answer, backed off
/// until its reset) with the time it ends, and a token GitHub refuses as "Reconnect GitHub" with the reason,
/// after which pasting a new token connects again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_states_in_the_browser() {
    chromium();
    let g = GithubFx::new("gh-e2e-states", Duration::from_secs(3600), false).await;
    let shots = target_dir().join("e2e-github-states");
    let _ = std::fs::remove_dir_all(&shots);
    let pat = g.gh.issue_token("octo");
    let api = &g.rf.fx.api;
    let (s, _) = api
        .post("/api/v1/github/token", serde_json::json!({"token": pat}))
        .await;
    assert_eq!(s, 200);
    let connect = serde_json::json!({"workspace_id": g.rf.ws});
    g.gh.set_rate_limited(Some(600));
    let (s, body) = api
        .post("/api/v1/github/repos/5000/connect", connect.clone())
        .await;
    assert_eq!(s, 429, "{body}");
    states_phase(&g, "limited", "", &shots).await;

    // GitHub's reset time passes; then it refuses the token.
    g.gh.set_rate_limited(None);
    let store = &g.rf.fx.main.state.store;
    let user = store.github_connections().unwrap()[0].user_id;
    store
        .update_github_connection(user, |c| c.rate_limited_until = Some(1))
        .unwrap();
    g.gh.revoke(&pat);
    let (s, body) = api
        .post("/api/v1/github/repos/5000/connect", connect.clone())
        .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"]["code"], "github_reconnect");
    let fresh = g.gh.issue_token("octo");
    states_phase(&g, "reconnect", &fresh, &shots).await;
    let (s, repo) = api.post("/api/v1/github/repos/5000/connect", connect).await;
    assert_eq!(s, 201, "connected again: {repo}");
}

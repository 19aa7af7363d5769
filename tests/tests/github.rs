//! GitHub end to end: main against a fake GitHub (`tests/src/mock/github.rs`: REST, OAuth and real git over
//! smart HTTP through `git http-backend`), with the real `claude` CLI against the mock Anthropic API on a
//! real node, and real git. An issue becomes a task, a run works on it, its branch is pushed with the
//! person's token and a pull request opened; checks and reviews arrive by signed webhook or by polling with
//! conditional requests, go back to the agent, and a merge on GitHub marks the task done. The token never
//! lands on disk, in a log or in an API answer; revoked tokens, rate limits, forged webhooks and key
//! rotation each get their own test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use vibebridge_tests::github_fx::{
    GithubFx, WEBHOOK_SECRET, capture_logs, configure, files_containing, token_used,
};
use vibebridge_tests::mock::FakeGithub;
use vibebridge_tests::mock::github::webhook_signature;
use vibebridge_tests::run_fx::git;
use vibebridge_tests::{Api, TempDir, TestMain, WsClient};

/// Long enough that only webhooks (or an explicit check) move pull requests.
const NO_POLL: Duration = Duration::from_secs(3600);

fn idle_after(turns: u64) -> impl Fn(&Value) -> bool {
    move |r: &Value| r["status"] == "idle" && r["turns"].as_u64() >= Some(turns)
}

/// Proves the whole delivery loop: OAuth web flow (PKCE, state, the flow's cookie but no login cookie on the
/// callback; the same callback from another browser is refused), a repository
/// connected and cloned onto the node, an issue imported as a task, a run started from GitHub's base, its
/// branch pushed and a pull request opened that says `Fixes #N`; a failed check and a review arrive by signed
/// webhook, "Address review" sends them to the agent as one follow-up, its fix is pushed, and the merge on
/// GitHub marks the run merged and the task done. The token is in no file of main, the node or the clone, in
/// no log line and in no API answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_to_pull_request_to_merged() {
    let logs = capture_logs();
    let mut g = GithubFx::new("gh-flow", NO_POLL, true).await;
    // A link to alice's flow opened in another browser does not connect that browser's GitHub to alice.
    let elsewhere = g.oauth_flow(false).await;
    assert!(elsewhere.contains("error="), "{elsewhere}");
    assert!(elsewhere.contains("another+browser"), "{elsewhere}");
    let (_, none) = g.rf.fx.api.get("/api/v1/github/connection").await;
    assert!(none["account"].is_null(), "{none}");
    let landed = g.connect_oauth().await;
    assert_eq!(landed, "/settings/github?connected=octo");
    let api = g.rf.fx.api.clone();
    let (s, status) = api.get("/api/v1/github/connection").await;
    assert_eq!(s, 200, "{status}");
    assert_eq!(status["account"]["login"], "octo");
    assert_eq!(status["account"]["kind"], "oauth");
    assert_eq!(status["account"]["health"]["state"], "ok");

    let connected = g.connect_repo().await;
    assert_eq!(connected["full_name"], "acme/web");
    assert_eq!(connected["private"], true);
    let project = g.clone_project(&connected, "web").await;
    let clone = g.rf.fx.env.path().join("web");
    assert_eq!(
        git(&clone, &["remote", "get-url", "origin"]),
        format!("{}/acme/web.git", g.gh.web_url())
    );
    assert_eq!(project["github_repo"], connected["id"]);

    let issue = g.gh.add_issue(
        "acme",
        "web",
        "Greet people",
        "Add a greeting file.",
        &["feature"],
    );
    let (s, imported) = api
        .post(
            &format!(
                "/api/v1/github/connected/{}/import-issues",
                connected["id"].as_str().unwrap()
            ),
            json!({"project_id": project["id"]}),
        )
        .await;
    assert_eq!(s, 200, "{imported}");
    assert_eq!(
        imported["created"].as_array().unwrap().len(),
        1,
        "{imported}"
    );
    let key = imported["created"][0].as_str().unwrap().to_string();
    let (_, again) = api
        .post(
            &format!(
                "/api/v1/github/connected/{}/import-issues",
                connected["id"].as_str().unwrap()
            ),
            json!({"project_id": project["id"]}),
        )
        .await;
    assert_eq!(again["created"], json!([]), "an issue is imported once");
    assert_eq!(again["already"], 1);
    let (_, task) = api.get(&format!("/api/v1/tasks/{key}")).await;
    assert_eq!(task["issue"]["number"], issue);

    // GitHub's main moves on after the clone: the run must start from it, not the clone's main.
    let other = g.rf.fx.env.path().join("someone-else");
    let bare = g.gh.bare_path("acme", "web");
    git(
        g.rf.fx.env.path(),
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    std::fs::write(other.join("NEWS.md"), "news\n").unwrap();
    git(&other, &["add", "NEWS.md"]);
    git(
        &other,
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "News",
        ],
    );
    git(&other, &["push", "-q", "origin", "HEAD:main"]);
    let base_before = g.gh.branch_commit("acme", "web", "main").unwrap();
    assert_ne!(git(&clone, &["rev-parse", "main"]), base_before);
    let (run, wt) =
        g.rf.claude_turn(
            &key,
            "Greet [[shell:printf 'hi\\n' > greeting.txt]]",
            json!({}),
        )
        .await;
    let id = run["id"].as_str().unwrap().to_string();
    assert_eq!(run["start_point"], "origin/main");
    assert_eq!(
        git(&wt, &["merge-base", "HEAD", "origin/main"]),
        base_before
    );
    let branch = run["prepared"]["branch"].as_str().unwrap().to_string();

    let (s, pushed) = api
        .post(&format!("/api/v1/runs/{id}/push"), json!({}))
        .await;
    assert_eq!(s, 200, "{pushed}");
    let head = git(&wt, &["rev-parse", "HEAD"]);
    assert_eq!(pushed["pushed"]["commit"], head);
    assert_eq!(
        g.gh.branch_commit("acme", "web", &branch).as_deref(),
        Some(head.as_str())
    );

    let (s, pr) = api
        .post(&format!("/api/v1/runs/{id}/pull-request"), json!({}))
        .await;
    assert_eq!(s, 201, "{pr}");
    // Issues and pull requests share GitHub's numbering: the issue took #1.
    let number = pr["number"].as_u64().unwrap();
    assert_eq!(number, issue + 1);
    let on_github = g.gh.pr("acme", "web", number).unwrap();
    let body = on_github["body"].as_str().unwrap();
    assert!(body.contains(&format!("Fixes #{issue}")), "{body}");
    assert!(body.contains("Add a greeting file."), "{body}");
    assert_eq!(on_github["head"]["ref"], branch.as_str());
    assert_eq!(on_github["base"]["ref"], "main");
    assert_eq!(on_github["title"], "Greet people");

    // A failed check and a review arrive by webhook.
    g.gh.set_check_run(
        "acme",
        "web",
        &head,
        "ci",
        "completed",
        Some("failure"),
        "greeting.txt must say hello.",
    );
    let fix = "Say hello [[shell:printf 'hello.\\n' > greeting.txt]]";
    g.gh.add_review_comment("acme", "web", number, "octo", "greeting.txt", 1, fix);
    g.gh.add_review(
        "acme",
        "web",
        number,
        "octo",
        "CHANGES_REQUESTED",
        "Please fix the greeting.",
    );
    let pr_now = g
        .until_pr(&id, |p| {
            p["checks"]["state"] == "failure" && p["review"] == "changes_requested"
        })
        .await;
    assert_eq!(pr_now["checks"]["failing"][0]["name"], "ci");
    let (_, card) = api.get(&format!("/api/v1/tasks/{key}")).await;
    assert_eq!(card["runs"][0]["pull_request"]["number"], number, "{card}");
    assert_eq!(
        card["runs"][0]["pull_request"]["checks"], "failure",
        "{card}"
    );

    let before = g.rf.fx.claude.model_requests().len();
    let (s, sent) = api
        .post(
            &format!(
                "/api/v1/pull-requests/{}/address",
                pr["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{sent}");
    assert_eq!(sent["checks"], 1, "{sent}");
    assert!(sent["comments"].as_u64().unwrap() >= 2, "{sent}");
    g.rf.until_run(&id, idle_after(2)).await;
    let asked: String = g.rf.fx.claude.model_requests()[before..]
        .iter()
        .map(|r| r.body.to_string())
        .collect();
    for part in [
        "greeting.txt:1",
        "Please fix the greeting.",
        "greeting.txt must say hello.",
        "Say hello",
    ] {
        assert!(
            asked.contains(part),
            "the follow-up lacks {part:?}: {asked}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(wt.join("greeting.txt")).unwrap(),
        "hello.\n"
    );
    let (s, again) = api
        .post(
            &format!(
                "/api/v1/pull-requests/{}/address",
                pr["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(s, 409, "nothing new to send: {again}");

    let (s, pushed) = api
        .post(&format!("/api/v1/runs/{id}/push"), json!({}))
        .await;
    assert_eq!(s, 200, "{pushed}");
    let fixed = git(&wt, &["rev-parse", "HEAD"]);
    assert_ne!(fixed, head);
    assert_eq!(
        g.gh.branch_commit("acme", "web", &branch).as_deref(),
        Some(fixed.as_str())
    );
    g.gh.set_check_run(
        "acme",
        "web",
        &fixed,
        "ci",
        "completed",
        Some("success"),
        "ok",
    );
    g.until_pr(&id, |p| {
        p["head_sha"] == fixed.as_str() && p["checks"]["state"] == "success"
    })
    .await;

    let merge = g.gh.merge_pr("acme", "web", number).unwrap();
    let merged = g.until_pr(&id, |p| p["state"] == "merged").await;
    assert_eq!(merged["number"], number);
    let done = g.rf.until_run(&id, |r| r["status"] == "merged").await;
    assert_eq!(done["merged"]["pull_request"], number);
    assert_eq!(done["merged"]["commit"], merge);
    g.until_task(&key, "done").await;

    let actions = all_actions(&g.rf.fx.main);
    for a in [
        "github.connected",
        "github.repo_connected",
        "github.token_used",
        "github.issues_imported",
        "pull_request.created",
        "pull_request.review_sent",
        "pull_request.merged",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "no {a} in the audit log: {actions:?}"
        );
    }

    // The token: never at rest, never logged, never answered.
    let token = token_used(&g.gh);
    for dir in [g.rf.fx.dir.path(), g.rf.fx.env.path(), wt.parent().unwrap()] {
        let found = files_containing(dir, &token);
        assert!(found.is_empty(), "the token is written in {found:?}");
    }
    assert!(
        !String::from_utf8_lossy(&logs.lock().unwrap()).contains(&token),
        "the token reached a log line"
    );
    for path in [
        "/api/v1/github/connection".to_string(),
        format!("/api/v1/runs/{id}"),
        format!("/api/v1/runs/{id}/pull-request"),
        format!("/api/v1/workspaces/{}/github/repos", g.rf.ws),
        "/api/v1/audit".to_string(),
    ] {
        let (_, body) = api.get(&path).await;
        assert!(
            !body.to_string().contains(&token),
            "{path} answers the token"
        );
    }
}

/// Proves polling alone follows a pull request, with conditional requests: unchanged answers are 304s
/// (which cost nothing against GitHub's limit), a failed commit status, a draft made ready and a merge on
/// GitHub are all noticed without any webhook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_with_etags_notices_a_merge() {
    let mut g = GithubFx::new("gh-poll", Duration::from_secs(1), false).await;
    let pat = g.gh.issue_token("octo");
    let (s, acct) =
        g.rf.fx
            .api
            .post("/api/v1/github/token", json!({"token": pat}))
            .await;
    assert_eq!(s, 200, "{acct}");
    assert_eq!(acct["kind"], "token");
    let connected = g.connect_repo().await;
    let project = g.clone_project(&connected, "web").await;
    let key = g.task(&project, "Poll me").await;
    let (run, _) =
        g.rf.claude_turn(&key, "Work [[shell:printf 'x\\n' > x.txt]]", json!({}))
            .await;
    let id = run["id"].as_str().unwrap().to_string();
    let (s, pr) =
        g.rf.fx
            .api
            .post(
                &format!("/api/v1/runs/{id}/pull-request"),
                json!({"draft": true}),
            )
            .await;
    assert_eq!(s, 201, "{pr}");
    assert_eq!(pr["state"], "draft");
    let not_modified = |gh: &FakeGithub| {
        gh.requests()
            .iter()
            .filter(|l| l.path.ends_with("/pulls/1") && l.status == 304)
            .count()
    };
    // Unchanged polls change nothing on the record (nothing is pushed), so watch the fake's log: the poller
    // asks again with the tag it was given, and GitHub answers 304.
    wait_until(|| not_modified(&g.gh) >= 2).await;
    // CI that reports through the older commit statuses API counts as a check too.
    let head = pr["head_sha"].as_str().unwrap().to_string();
    g.gh.set_status("acme", "web", &head, "ci/jenkins", "failure", "build broke");
    let failing = g.until_pr(&id, |p| p["checks"]["state"] == "failure").await;
    assert_eq!(failing["checks"]["failing"][0]["name"], "ci/jenkins");
    assert_eq!(failing["checks"]["failing"][0]["summary"], "build broke");
    g.gh.mark_ready("acme", "web", 1);
    g.until_pr(&id, |p| p["state"] == "open").await;
    g.gh.merge_pr("acme", "web", 1).unwrap();
    g.until_pr(&id, |p| p["state"] == "merged").await;
    g.until_task(&key, "done").await;
}

/// Proves auto-fix: a failed check goes to the run's agent by itself (its output in the follow-up), the
/// agent's fix is pushed by itself when its turn ends, and no more rounds are sent than
/// `github.autofix_rounds`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autofix_sends_failed_checks_and_pushes_the_fix() {
    let mut g = GithubFx::with("gh-autofix", NO_POLL, true, |c| c.github.autofix_rounds = 1).await;
    g.connect_token().await;
    let connected = g.connect_repo().await;
    let project = g.clone_project(&connected, "web").await;
    let key = g.task(&project, "Write the word").await;
    let (run, wt) =
        g.rf.claude_turn(
            &key,
            "Write [[shell:printf 'wrod\\n' > word.txt]]",
            json!({}),
        )
        .await;
    let id = run["id"].as_str().unwrap().to_string();
    let (s, pr) =
        g.rf.fx
            .api
            .post(
                &format!("/api/v1/runs/{id}/pull-request"),
                json!({"autofix": true}),
            )
            .await;
    assert_eq!(s, 201, "{pr}");
    assert_eq!(pr["autofix"], true);
    let head = pr["head_sha"].as_str().unwrap().to_string();
    let before = g.rf.fx.claude.model_requests().len();
    g.gh.set_check_run(
        "acme",
        "web",
        &head,
        "spelling",
        "completed",
        Some("failure"),
        "word.txt: wrod is misspelled [[shell:printf 'word\\n' > word.txt]]",
    );
    // The check arrives by webhook, goes to the agent, and its fix is pushed when its turn ends.
    let fixed = g
        .until_pr(&id, |p| p["rounds"] == 1 && p["head_sha"] != head.as_str())
        .await;
    assert_eq!(
        std::fs::read_to_string(wt.join("word.txt")).unwrap(),
        "word\n"
    );
    let new_head = git(&wt, &["rev-parse", "HEAD"]);
    assert_eq!(fixed["head_sha"], new_head.as_str());
    assert_eq!(
        g.gh.branch_commit("acme", "web", fixed["head_branch"].as_str().unwrap())
            .as_deref(),
        Some(new_head.as_str())
    );
    let asked: String = g.rf.fx.claude.model_requests()[before..]
        .iter()
        .map(|r| r.body.to_string())
        .collect();
    assert!(asked.contains("spelling (failure)"), "{asked}");

    // The new head fails too: the one round allowed is spent, so nothing more is sent.
    let sent = g.rf.fx.claude.model_requests().len();
    g.gh.set_check_run(
        "acme",
        "web",
        &new_head,
        "spelling",
        "completed",
        Some("failure"),
        "still",
    );
    let (s, now) =
        g.rf.fx
            .api
            .post(
                &format!(
                    "/api/v1/pull-requests/{}/refresh",
                    pr["id"].as_str().unwrap()
                ),
                json!({}),
            )
            .await;
    assert_eq!(s, 200, "{now}");
    assert_eq!(now["checks"]["state"], "failure", "{now}");
    assert_eq!(now["rounds"], 1);
    let (_, run) = g.rf.fx.api.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(run["run"]["turns"], 2, "{run}");
    assert_eq!(g.rf.fx.claude.model_requests().len(), sent);
}

/// Waits (up to a minute) for `cond`, checking each time the runtime is idle.
async fn wait_until(cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition never held"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Proves a revoked token puts the connection in a "reconnect GitHub" state with a clear error, a pasted
/// token is checked before it is stored, a spent rate limit is answered 429 with Retry-After and not asked
/// again until it resets, and the device flow connects once the code is entered, with progress pushed live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_rate_limit_and_device_flow() {
    let g = GithubFx::new("gh-states", NO_POLL, false).await;
    let api = &g.rf.fx.api;
    g.connect_oauth().await;
    let token = {
        let (s, _) = api.get("/api/v1/github/repos").await;
        assert_eq!(s, 200);
        token_used(&g.gh)
    };
    g.gh.revoke(&token);
    let (s, err) = api
        .post(
            "/api/v1/github/connected/00000000-0000-7000-8000-000000000000/import-issues",
            json!({}),
        )
        .await;
    assert_eq!(s, 404, "{err}");
    let (s, err) = api
        .post(
            "/api/v1/github/repos/5000/connect",
            json!({"workspace_id": g.rf.ws}),
        )
        .await;
    assert_eq!(s, 409, "{err}");
    assert_eq!(err["error"]["code"], "github_reconnect", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("reconnect GitHub"),
        "{err}"
    );
    let (_, status) = api.get("/api/v1/github/connection").await;
    assert_eq!(
        status["account"]["health"]["state"], "reconnect",
        "{status}"
    );

    let (s, bad) = api
        .post("/api/v1/github/token", json!({"token": "github_pat_nope"}))
        .await;
    assert_eq!(s, 400, "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("GitHub refused this token")
    );
    let pat = g.gh.issue_token("octo");
    let (s, acct) = api
        .post("/api/v1/github/token", json!({"token": pat}))
        .await;
    assert_eq!(s, 200, "{acct}");
    assert_eq!(acct["health"]["state"], "ok");

    g.gh.set_rate_limited(Some(300));
    let (s, limited) = api
        .post(
            "/api/v1/github/repos/5000/connect",
            json!({"workspace_id": g.rf.ws}),
        )
        .await;
    assert_eq!(s, 429, "{limited}");
    assert_eq!(limited["error"]["code"], "github_rate_limited");
    let asked = g.gh.requests().len();
    let resp = api
        .request(reqwest::Method::POST, "/api/v1/github/repos/5000/connect")
        .json(&json!({"workspace_id": g.rf.ws}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=301).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        g.gh.requests().len(),
        asked,
        "main asked GitHub again before the reset"
    );
    let (_, status) = api.get("/api/v1/github/connection").await;
    assert!(
        status["account"]["rate_limited_until"].as_u64().is_some(),
        "{status}"
    );
    g.gh.set_rate_limited(None);

    // The device flow, followed live on the `github` topic.
    let (s, gone) = api.delete("/api/v1/github/connection").await;
    assert_eq!(s, 200, "{gone}");
    assert_eq!(
        gone["revoked"], false,
        "a pasted token is revoked by its owner"
    );
    g.gh.set_device_interval(1);
    let mut ws = WsClient::connect(api).await.unwrap();
    ws.send_text(r#"{"type":"watch","topics":["github"]}"#)
        .await;
    let (s, flow) = api.post("/api/v1/github/device", json!({})).await;
    assert_eq!(s, 200, "{flow}");
    assert_eq!(flow["state"], "waiting");
    assert!(g.gh.approve_device(flow["user_code"].as_str().unwrap(), "octo"));
    let account = loop {
        ws.until(|f| f["type"] == "github").await;
        let (_, status) = api.get("/api/v1/github/connection").await;
        if !status["account"].is_null() {
            break status["account"].clone();
        }
    };
    assert_eq!(account["kind"], "device");
    assert_eq!(account["login"], "octo");
    let device_token = token_used_after_connect(&g).await;
    let (s, gone) = api.delete("/api/v1/github/connection").await;
    assert_eq!(s, 200, "{gone}");
    assert_eq!(gone["revoked"], true, "{gone}");
    assert_eq!(g.gh.count("DELETE", "/api/v3/applications/"), 1);
    let check = reqwest::Client::new()
        .get(format!("{}/user", g.gh.api_url()))
        .bearer_auth(&device_token)
        .header("User-Agent", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), 401, "the grant was revoked on GitHub");
}

/// Proves an expiring token is refreshed before it runs out (GitHub spends the refresh token, so the new
/// pair is stored), and one that ran out with no way to refresh asks for a reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_tokens_are_refreshed_or_reconnected() {
    let g = GithubFx::new("gh-refresh", NO_POLL, false).await;
    let api = &g.rf.fx.api;
    g.connect_oauth().await;
    let first = token_used_after_connect(&g).await;
    let store = &g.rf.fx.main.state.store;
    let user = store.github_connections().unwrap()[0].user_id;
    // GitHub's clock: the token expires now.
    g.gh.expire_all_tokens();
    store
        .update_github_connection(user, |c| c.expires_at = Some(1))
        .unwrap();
    let second = token_used_after_connect(&g).await;
    assert_ne!(first, second, "a new token was used");
    assert_eq!(
        g.gh.count("POST", "/login/oauth/access_token"),
        2,
        "one exchange, one refresh"
    );
    let (_, status) = api.get("/api/v1/github/connection").await;
    assert_eq!(status["account"]["health"]["state"], "ok", "{status}");
    assert!(status["account"]["expires_at"].as_u64().unwrap() > 1);

    // Expired, and its refresh token expired too.
    store
        .update_github_connection(user, |c| {
            c.expires_at = Some(1);
            c.refresh_expires_at = Some(1);
        })
        .unwrap();
    let (s, err) = api
        .post(
            "/api/v1/github/repos/5000/connect",
            json!({"workspace_id": g.rf.ws}),
        )
        .await;
    assert_eq!(s, 409, "{err}");
    assert_eq!(err["error"]["code"], "github_reconnect");
    let (_, status) = api.get("/api/v1/github/connection").await;
    assert_eq!(
        status["account"]["health"]["state"], "reconnect",
        "{status}"
    );
}

/// A call that always reaches GitHub (connecting `acme/web`, id 5000, to the workspace: 201 the first
/// time, 409 after); the token it used.
async fn token_used_after_connect(g: &GithubFx) -> String {
    let (s, body) =
        g.rf.fx
            .api
            .post(
                "/api/v1/github/repos/5000/connect",
                json!({"workspace_id": g.rf.ws}),
            )
            .await;
    assert!(
        s == 201 || (s == 409 && body["error"]["code"] == "conflict"),
        "{s} {body}"
    );
    token_used(&g.gh)
}

/// Proves webhook deliveries are taken only with a valid HMAC-SHA256 signature of the exact body (a forged
/// one is refused and audited) and only once per delivery id (a replay does nothing).
#[tokio::test]
async fn forged_and_replayed_webhooks_are_refused() {
    let g = GithubFx::new("gh-hooks", NO_POLL, false).await;
    let url = format!("http://{}/api/v1/github/webhook", g.rf.fx.main.http);
    let body = br#"{"zen":"Keep it logically awesome.","hook_id":1,"repository":{"id":5000}}"#;
    let post = |sig: String, delivery: &str| {
        reqwest::Client::new()
            .post(&url)
            .header("X-GitHub-Event", "ping")
            .header("X-GitHub-Delivery", delivery)
            .header("X-Hub-Signature-256", sig)
            .header("Content-Type", "application/json")
            .body(body.to_vec())
            .send()
    };
    let forged = post(webhook_signature("not-the-secret", body), "d-1")
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let unsigned = reqwest::Client::new()
        .post(&url)
        .header("X-GitHub-Delivery", "d-1")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    let ok = post(webhook_signature(WEBHOOK_SECRET, body), "d-1")
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let first: Value = ok.json().await.unwrap();
    assert_eq!(first["duplicate"], false);
    let replay = post(webhook_signature(WEBHOOK_SECRET, body), "d-1")
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["duplicate"], true);
    let actions = all_actions(&g.rf.fx.main);
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "github.webhook_refused")
            .count(),
        2,
        "{actions:?}"
    );
}

/// Proves `rotate-secrets`: a new key goes first in the key file (the old one kept), every stored token is
/// re-sealed with it, and the restarted main still uses the connection.
#[tokio::test]
async fn key_rotation_reseals_stored_tokens() {
    let gh = FakeGithub::start().await.unwrap();
    gh.add_user("octo");
    let dir = TempDir::new("gh-rotate");
    let config_of = |c: &mut vibebridge_main::MainConfig| configure(c, &gh, NO_POLL);
    let main = TestMain::start_with(dir.path(), None, config_of).await;
    let mut api = Api::new(&main);
    assert_eq!(
        api.auth(true, "alice", "correct horse battery").await.0,
        200
    );
    let pat = gh.issue_token("octo");
    let (s, _) = api
        .post("/api/v1/github/token", json!({"token": pat}))
        .await;
    assert_eq!(s, 200);
    let sealed_before = stored_token(&main);
    let mut config = vibebridge_main::MainConfig::default();
    config.database.path = dir.path().join("main");
    configure(&mut config, &gh, NO_POLL);
    let ssh = main.ssh;
    main.stop().await;

    let rotation = vibebridge_main::rotate::rotate_secrets(&config).unwrap();
    assert_eq!(
        rotation.resealed, 2,
        "the GitHub token and main's VAPID key"
    );
    assert_eq!(
        rotation.config.len(),
        2,
        "both sealed config values are re-sealed"
    );
    let keys = std::fs::read_to_string(config.secrets_key_path()).unwrap();
    assert_eq!(
        keys.lines().filter(|l| !l.starts_with('#')).count(),
        2,
        "{keys}"
    );

    let main = TestMain::start_with(dir.path(), Some(ssh), |c| configure(c, &gh, NO_POLL)).await;
    let sealed_after = stored_token(&main);
    assert_ne!(sealed_before, sealed_after);
    assert_eq!(
        sealed_after.split('.').nth(1),
        Some(rotation.key_id.as_str())
    );
    assert!(!sealed_after.contains(&pat));
    let token = api.token.clone();
    let mut api = Api::at(&format!("http://{}", main.http));
    api.token = token;
    let (s, repos) = api.get("/api/v1/github/repos").await;
    assert_eq!(s, 200, "{repos}");
    main.stop().await;
}

/// Every audit action, oldest first.
fn all_actions(main: &TestMain) -> Vec<String> {
    let mut v: Vec<String> = main
        .state
        .store
        .audit_page(None, 1000)
        .unwrap()
        .into_iter()
        .map(|e| e.event.action)
        .collect();
    v.reverse();
    v
}

fn stored_token(main: &TestMain) -> String {
    main.state
        .store
        .github_connections()
        .unwrap()
        .pop()
        .unwrap()
        .access_token
}

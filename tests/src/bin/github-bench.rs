//! GitHub delivery through VibeBridge against the git and HTTP it stands on, on a repository of
//! `VB_BENCH_FILES` files served by the fake GitHub over real smart HTTP (`git http-backend`), median of
//! alternating rounds:
//!
//! - clone: a project made from the connected repository (`POST /github/connected/:id/project`: main, the
//!   tunnel, the node's `git clone` with a per-operation credential) against `git clone` with the same
//!   credential helper run locally;
//! - push: a branch of 100 changed files pushed by the node (the relay's `push`, as "Push" sends it)
//!   against `git push` of an equal branch from a local clone;
//! - follow: one sweep of main's pull request follower over `VB_BENCH_PRS` open pull requests, cold (no
//!   tags: every answer fresh) and warm (every answer a 304), with the GitHub requests each sweep was
//!   charged against the rate limit.
//!
//! Run: `cargo build --release -p vibebridge-tests --bins && ./target/release/github-bench`.
//! Env: `VB_BENCH_FILES` (10000), `VB_BENCH_ROUNDS` (5), `VB_BENCH_PRS` (200).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use vibebridge_main::store::{ConnectedRepoId, PrState, PullRequest, PullRequestId, RunId, TaskId};
use vibebridge_tests::bench::{bench_git as git, env_or, median};
use vibebridge_tests::github_fx::configure;
use vibebridge_tests::mock::FakeGithub;
use vibebridge_tests::{Api, TempDir, TestMain, TestNode};
use vibebridge_tunnel::config::Secret;
use vibebridge_tunnel::git::{GitAnswer, GitCredential, GitRequest};

/// The credential helper the node uses, for the local baseline (token from the environment).
const HELPER: &str = "!f() { test \"$1\" = get || exit 0; echo username=x-access-token; echo \"password=$VB_BENCH_TOKEN\"; }; f";

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// `git` with the baseline's credential helper and `token`.
fn git_authed(dir: &Path, token: &str, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(["-c", "credential.helper=", "-c"])
        .arg(format!("credential.helper={HELPER}"))
        .args([
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .env("VB_BENCH_TOKEN", token)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Commits 100 changed files on a new branch `branch` of `repo` (round `round`'s own files).
fn branch_with_changes(repo: &Path, branch: &str, round: usize) {
    git(repo, &["checkout", "-q", "-b", branch, "main"]);
    for i in 0..100 {
        std::fs::write(
            repo.join(format!("d{:03}/f{i:03}.txt", round % 100)),
            format!("changed in {branch}\n"),
        )
        .unwrap();
    }
    git(repo, &["commit", "-q", "-am", branch]);
    git(repo, &["checkout", "-q", "main"]);
}

#[tokio::main]
async fn main() {
    let files = env_or::<usize>("VB_BENCH_FILES", 10_000);
    let rounds = env_or::<usize>("VB_BENCH_ROUNDS", 5);
    let prs = env_or::<usize>("VB_BENCH_PRS", 200);
    let dir = TempDir::new("github-bench");
    let root = std::fs::canonicalize(dir.path()).unwrap();

    eprintln!("making a repository of {files} files on the fake GitHub…");
    let gh = FakeGithub::start().await.unwrap();
    gh.add_user("octo");
    let contents: Vec<(String, String)> = (0..files)
        .map(|i| {
            (
                format!("d{:03}/f{:03}.txt", (i / 100) % 1000, i % 100),
                format!("file {i}\n"),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = contents
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    gh.create_repo("octo", "big", true, &refs).unwrap();
    let token = gh.issue_token("octo");

    let main = TestMain::start_with(&root.join("state"), None, |c| {
        configure(c, &gh, Duration::from_secs(3600));
        c.github.calls_per_minute = 1_000_000;
    })
    .await;
    let mut api = Api::new(&main);
    api.auth(true, "bench", "bench password").await;
    let mut cfg = TestNode::enrolling(&root.join("state"), "n1", &main, main.ssh);
    cfg.filesystem.roots = vec![root.clone()];
    let node = TestNode::start(cfg);
    main.wait_online("n1").await;
    let (s, _) = api
        .post("/api/v1/github/token", json!({"token": token}))
        .await;
    assert_eq!(s, 200);
    let (_, ws) = api
        .post(
            "/api/v1/workspaces",
            json!({"name": "Bench", "key_prefix": "B"}),
        )
        .await;
    let ws = ws["id"].as_str().unwrap().to_string();
    let (_, page) = api.get("/api/v1/github/repos?q=big").await;
    let (s, connected) = api
        .post(
            &format!("/api/v1/github/repos/{}/connect", page["repos"][0]["id"]),
            json!({"workspace_id": ws}),
        )
        .await;
    assert_eq!(s, 201, "{connected}");
    let connected_id = connected["id"].as_str().unwrap().to_string();
    let clone_url = connected["clone_url"].as_str().unwrap().to_string();

    // Clone: through VibeBridge against git clone, alternating.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let path = root.join(format!("vb-clone-{r}"));
        let t = Instant::now();
        let (s, p) = api
            .post(
                &format!("/api/v1/github/connected/{connected_id}/project"),
                json!({"node_id": "n1", "path": path.display().to_string(), "name": format!("p{r}")}),
            )
            .await;
        assert_eq!(s, 201, "{p}");
        ours.push(t.elapsed());
        let t = Instant::now();
        git_authed(
            &root,
            &token,
            &["clone", "-q", &clone_url, &format!("git-clone-{r}")],
        );
        theirs.push(t.elapsed());
    }
    let clone = (median(ours), median(theirs));

    // Push: a branch of 100 changed files, by the node against git push.
    let node_repo = root.join("vb-clone-0");
    let local_repo = root.join("git-clone-0");
    let credential = GitCredential {
        username: "x-access-token".into(),
        password: Secret::new(token.clone()),
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let branch = format!("vb-push-{r}");
        branch_with_changes(&node_repo, &branch, r);
        let req = GitRequest::Push {
            repo: node_repo.display().to_string(),
            url: clone_url.clone(),
            branch: branch.clone(),
            remote_branch: branch.clone(),
            expect: None,
            credential: Some(credential.clone()),
        };
        let t = Instant::now();
        let answer = vibebridge_main::ops::relay::git(&main.state, "n1", req)
            .await
            .unwrap();
        ours.push(t.elapsed());
        assert!(matches!(answer, GitAnswer::Pushed { .. }));
        let branch = format!("git-push-{r}");
        branch_with_changes(&local_repo, &branch, r + 50);
        let t = Instant::now();
        git_authed(&local_repo, &token, &["push", "-q", &clone_url, &branch]);
        theirs.push(t.elapsed());
    }
    let push = (median(ours), median(theirs));

    // Follow: PRS open pull requests, each on a branch of its own.
    eprintln!("opening {prs} pull requests…");
    let bare = gh.bare_path("octo", "big");
    let main_sha = String::from_utf8(git(&bare, &["rev-parse", "main"]).stdout).unwrap();
    let main_sha = main_sha.trim();
    let user = main.state.store.github_connections().unwrap()[0].user_id;
    let repo_id = ConnectedRepoId::parse(&connected_id).unwrap();
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..prs {
        let tree = format!("{main_sha}^{{tree}}");
        let commit = String::from_utf8(
            git(
                &bare,
                &[
                    "commit-tree",
                    &tree,
                    "-p",
                    main_sha,
                    "-m",
                    &format!("pr {i}"),
                ],
            )
            .stdout,
        )
        .unwrap();
        let commit = commit.trim().to_string();
        git(
            &bare,
            &["update-ref", &format!("refs/heads/pr-{i}"), &commit],
        );
        let pull: serde_json::Value = http
            .post(format!("{}/repos/octo/big/pulls", gh.api_url()))
            .bearer_auth(&token)
            .header("User-Agent", "bench")
            .json(&json!({"title": format!("PR {i}"), "head": format!("pr-{i}"), "base": "main"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let now = vibebridge_main::store::now_ms();
        let pr = PullRequest {
            id: PullRequestId::new(),
            workspace_id: vibebridge_main::store::WorkspaceId::parse(&ws).unwrap(),
            task_id: TaskId(uuid::Uuid::now_v7()),
            run_id: RunId::new(),
            repo_id,
            repo_full_name: "octo/big".into(),
            number: pull["number"].as_u64().unwrap(),
            url: pull["html_url"].as_str().unwrap().into(),
            title: format!("PR {i}"),
            head_branch: format!("pr-{i}"),
            base_branch: "main".into(),
            head_sha: commit,
            state: PrState::Open,
            checks: Default::default(),
            review: Default::default(),
            review_comments: 0,
            autofix: false,
            rounds: 0,
            sent_comment: 0,
            sent_review: 0,
            sent_checks_sha: None,
            created_by: user,
            note: None,
            polled_at: None,
            merged_at: None,
            created_at: now,
            updated_at: now,
        };
        main.state.store.create_pull_request(&pr).unwrap();
        ids.push(pr.id);
    }
    let charged = |gh: &FakeGithub| {
        gh.requests()
            .iter()
            .filter(|l| {
                l.path.starts_with("/api/v3/repos/") && l.method == "GET" && l.status != 304
            })
            .count()
    };
    let mut sweep = Vec::new();
    for _ in 0..2 {
        let before = charged(&gh);
        let t = Instant::now();
        for id in &ids {
            vibebridge_main::ops::github::follow::refresh(&main.state, *id)
                .await
                .unwrap();
        }
        sweep.push((t.elapsed(), charged(&gh) - before));
    }

    println!();
    println!("GitHub delivery ({files} files, {rounds} rounds, {prs} pull requests)");
    println!(
        "{:<44}{:>14}{:>14}{:>9}",
        "", "VibeBridge", "baseline", "ratio"
    );
    for (name, (a, b)) in [
        ("clone onto the node (vs git clone)", clone),
        ("push 100 changed files (vs git push)", push),
    ] {
        println!(
            "{name:<44}{:>14}{:>14}{:>8.2}x",
            ms(a),
            ms(b),
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
    let (cold, cold_n) = sweep[0];
    let (warm, warm_n) = sweep[1];
    println!(
        "{:<44}{:>14}{:>14}{:>8.2}x",
        format!("follow {prs} PRs: warm sweep (vs cold)"),
        ms(warm),
        ms(cold),
        warm.as_secs_f64() / cold.as_secs_f64()
    );
    println!(
        "{:<44}{:>14}{:>14}",
        "  requests charged to the rate limit", warm_n, cold_n
    );
    node.stop().await;
    main.stop().await;
}

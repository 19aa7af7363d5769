//! Files and git on a large repository: `git status` and directory listings through VibeBridge (HTTP to main,
//! the tunnel, the node's gix status or directory read, and back) against the `git` and `ls` CLIs run locally
//! on the same repository, in the same run. Rounds alternate between the two so background load hits both alike.
//!
//! The repository has `VB_BENCH_FILES` files (50,000): one flat directory of 5,000 and the rest spread over
//! nested directories of 100; it is committed, then 20 files are modified, 5 staged and 10 untracked ones added.
//!
//! Run: `cargo build --release -p vibebridge-tests --bins && ./target/release/files-bench`.
//! Env: `VB_BENCH_FILES` (50000), `VB_BENCH_ROUNDS` (15).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use vibebridge_tests::bench::{bench_git as git, env_or, make_repo, median};
use vibebridge_tests::{Api, TempDir, TestMain, TestNode};

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Times one CLI run.
fn cli(repo: &Path, program: &str, args: &[&str]) -> Duration {
    let t = Instant::now();
    let out = Command::new(program)
        .args(args)
        .current_dir(repo)
        .output()
        .unwrap();
    assert!(out.status.success(), "{program} {args:?} failed");
    t.elapsed()
}

/// Times one API call and checks it answered 200.
async fn call(api: &Api, path: &str) -> (Duration, Value) {
    let t = Instant::now();
    let (status, body) = api.get(path).await;
    let took = t.elapsed();
    assert_eq!(status, 200, "{path}: {body}");
    (took, body)
}

#[tokio::main]
async fn main() {
    let files = env_or::<usize>("VB_BENCH_FILES", 50_000);
    let rounds = env_or::<usize>("VB_BENCH_ROUNDS", 15);
    let dir = TempDir::new("files-bench");
    let repo = dir.path().join("repo");
    eprintln!("making a repository of {files} files…");
    make_repo(&repo, files);
    let repo = std::fs::canonicalize(&repo).unwrap();

    let main = TestMain::start(dir.path()).await;
    let mut api = Api::new(&main);
    api.auth(true, "bench", "bench password").await;
    let mut cfg = TestNode::enrolling(dir.path(), "n1", &main, main.ssh);
    cfg.filesystem.roots = vec![repo.clone()];
    let node = TestNode::start(cfg);
    main.wait_online("n1").await;

    let r = repo.display().to_string();
    let status_path = format!("/api/v1/nodes/n1/git/status?repo={r}");
    let list_root = format!("/api/v1/nodes/n1/fs/list?path={r}");
    let list_flat = format!("/api/v1/nodes/n1/fs/list?path={r}/flat");
    // Warm both sides (page cache, the index's stat data) and check they agree.
    let cli_status = git(
        &repo,
        &["status", "--porcelain=v1", "--untracked-files=all"],
    );
    let cli_changes = String::from_utf8_lossy(&cli_status.stdout).lines().count();
    let (_, ours) = call(&api, &status_path).await;
    let our_changes = ours["entries"].as_array().map_or(0, Vec::len);
    assert_eq!(
        our_changes, cli_changes,
        "status disagrees with git: {ours}"
    );
    let (_, flat) = call(&api, &list_flat).await;
    assert_eq!(flat["entries"].as_array().unwrap().len(), 5000.min(files));

    let mut rows: Vec<(String, Vec<Duration>, Vec<Duration>)> = vec![
        ("git status (50k files, 35 changes)".into(), vec![], vec![]),
        ("list repository root".into(), vec![], vec![]),
        ("list directory of 5,000 files".into(), vec![], vec![]),
    ];
    for _ in 0..rounds {
        rows[0].1.push(cli(
            &repo,
            "git",
            &[
                "status",
                "--porcelain=v2",
                "--branch",
                "--untracked-files=all",
            ],
        ));
        rows[0].2.push(call(&api, &status_path).await.0);
        rows[1]
            .1
            .push(cli(&repo, "ls", &["-la", "--time-style=+%s"]));
        rows[1].2.push(call(&api, &list_root).await.0);
        rows[2]
            .1
            .push(cli(&repo, "ls", &["-la", "--time-style=+%s", "flat"]));
        rows[2].2.push(call(&api, &list_flat).await.0);
    }

    println!(
        "\nFiles and git on a {files}-file repository: the CLI run locally vs our API through main and the tunnel \
         (median of {rounds} alternating rounds)\n"
    );
    println!("| operation | CLI (baseline) | VibeBridge | ratio | target |");
    println!("|---|---|---|---|---|");
    for (name, base, ours) in rows {
        let (base, ours) = (median(base), median(ours));
        let ratio = ours.as_secs_f64() / base.as_secs_f64();
        let verdict = if ratio <= 1.5 { "PASS" } else { "FAIL" };
        println!(
            "| {name} | {} | {} | {ratio:.2}× | ≤ 1.5×, {verdict} |",
            ms(base),
            ms(ours)
        );
    }
    node.stop().await;
    main.stop().await;
}

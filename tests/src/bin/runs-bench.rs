//! Task runs on a large repository (files-bench's, `VB_BENCH_FILES` files): each operation through VibeBridge
//! (HTTP to main, the tunnel, the node's git) against the git command it stands on, run locally on the same
//! repository in the same run, rounds alternating.
//!
//! - start: `POST /tasks/:id/runs` until the agent's first event (a scripted stand-in for `claude`, so the
//!   model is not what is timed) against `git worktree add` of the same base alone;
//! - diff: `GET /runs/:id/diff` of a run with 1,000 changed files against `git diff <merge base>` there;
//! - merge: `POST /runs/:id/merge` (squash of 1,000 changed files, then removing the run's clean work tree)
//!   against `git merge --squash` + `git commit` + `git worktree remove` of an equal work tree in a clone;
//! - `VB_BENCH_CONCURRENT` (20) runs started at once on one node: time until each one's first agent event.
//!
//! Run: `cargo build --release -p vibebridge-tests --bins && ./target/release/runs-bench`.
//! Env: `VB_BENCH_FILES` (50000), `VB_BENCH_ROUNDS` (5), `VB_BENCH_CONCURRENT` (20).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vibebridge_tests::bench::{bench_git as git, env_or, make_repo, median, percentiles};
use vibebridge_tests::{Api, SseReader, TempDir, TestMain, TestNode};

const WAIT: Duration = Duration::from_secs(600);

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn timed(repo: &Path, args: &[&str]) -> Duration {
    let t = Instant::now();
    git(repo, args);
    t.elapsed()
}

/// Writes `round`'s content into 1,000 files of its own (so rounds never touch the same files).
fn change_files(worktree: &Path, round: usize) {
    for i in 0..1000 {
        let n = round * 1000 + i;
        let dir = 50 + n / 100;
        std::fs::write(
            worktree.join(format!(
                "pkg{:02}/mod{:02}/src{:03}.rs",
                dir / 10,
                dir % 10,
                n % 100
            )),
            format!("// changed in round {round}\nfn g() {{}}\n"),
        )
        .unwrap();
    }
}

struct Bench {
    api: Api,
    ws: String,
    project: String,
}

impl Bench {
    async fn task(&self, title: &str) -> String {
        let (s, t) = self
            .api
            .post(
                &format!("/api/v1/workspaces/{}/tasks", self.ws),
                json!({"title": title, "project_id": self.project}),
            )
            .await;
        assert_eq!(s, 200, "{t}");
        t["key"].as_str().unwrap().to_string()
    }

    /// Starts a run of a new task and waits for its agent's first event: the run and the time it took.
    async fn run_to_first_event(&self, title: &str) -> (Value, Duration) {
        let key = self.task(title).await;
        let t = Instant::now();
        let (s, run) = self
            .api
            .post(
                &format!("/api/v1/tasks/{key}/runs"),
                json!({"provider": "claude", "prompt": "count=1 interval_us=0"}),
            )
            .await;
        assert_eq!(s, 201, "{run}");
        let posted = t.elapsed();
        let session = run["session_id"]
            .as_str()
            .expect("the run started")
            .to_string();
        let mut sse = SseReader::open(&self.api, &session, 0).await;
        sse.until(WAIT, |e| {
            e["type"] == "provider_session" || e["type"] == "assistant_message"
        })
        .await;
        if std::env::var_os("VB_BENCH_TRACE").is_some() {
            eprintln!(
                "{title}: started after {}, first event after {}",
                ms(posted),
                ms(t.elapsed())
            );
        }
        (run, t.elapsed())
    }

    /// Waits until the run's turn is over (idle) and returns it.
    async fn idle(&self, run: &Value) -> Value {
        let session = run["session_id"].as_str().unwrap();
        let mut sse = SseReader::open(&self.api, session, 0).await;
        sse.until(WAIT, |e| e["type"] == "status" && e["status"] == "idle")
            .await;
        let id = run["id"].as_str().unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            let (_, d) = self.api.get(&format!("/api/v1/runs/{id}")).await;
            // The run follows its session's events a moment after they are stored.
            if d["run"]["status"] == "idle" {
                return d["run"].clone();
            }
            assert!(Instant::now() < deadline, "run {id} never idled: {d}");
            tokio::task::yield_now().await;
        }
    }
}

#[tokio::main]
async fn main() {
    let files = env_or::<usize>("VB_BENCH_FILES", 50_000);
    let rounds = env_or::<usize>("VB_BENCH_ROUNDS", 5);
    let concurrent = env_or::<usize>("VB_BENCH_CONCURRENT", 20);
    assert!(
        files >= 5_000 + (rounds + 1) * 1_000 + 5_000,
        "VB_BENCH_FILES is too small for {rounds} rounds"
    );
    let dir = TempDir::new("runs-bench");
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let repo = root.join("repo");
    eprintln!("making a repository of {files} files…");
    make_repo(&repo, files);
    // Leave `main` checked out nowhere, as on a shared server: merges land without a work tree.
    git(&repo, &["checkout", "-q", "-b", "parking"]);
    let clone = root.join("clone");
    git(
        &root,
        &[
            "clone",
            "-q",
            "--branch",
            "main",
            repo.to_str().unwrap(),
            "clone",
        ],
    );

    let main = TestMain::start(&root.join("state")).await;
    let mut api = Api::new(&main);
    api.auth(true, "bench", "bench password").await;
    let mut cfg = TestNode::enrolling(&root.join("state"), "n1", &main, main.ssh);
    cfg.filesystem.roots = vec![root.clone()];
    cfg.worktrees.root = Some(root.join("worktrees"));
    let fake = std::env::current_exe()
        .unwrap()
        .with_file_name("fake-claude");
    assert!(
        fake.exists(),
        "{} is missing: build with --bins",
        fake.display()
    );
    cfg.providers.claude.command = Some(fake);
    cfg.providers.claude.max_concurrent = concurrent + rounds + 2;
    let node = TestNode::start(cfg);
    main.wait_online("n1").await;
    let (s, ws) = api
        .post(
            "/api/v1/workspaces",
            json!({"name": "Bench", "key_prefix": "B"}),
        )
        .await;
    assert_eq!(s, 200, "{ws}");
    let ws = ws["id"].as_str().unwrap().to_string();
    let (s, p) = api
        .post(
            &format!("/api/v1/workspaces/{ws}/projects"),
            json!({"node_id": "n1", "repo_path": repo.display().to_string(), "base_branch": "main"}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    let b = Bench {
        api,
        ws,
        project: p["id"].as_str().unwrap().to_string(),
    };

    // Start: our run (a worktree of the base, then the agent) against `git worktree add` alone.
    let (mut start_base, mut start_ours, mut runs) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let path = root.join(format!("baseline-wt-{r}"));
        start_base.push(timed(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                &format!("baseline-{r}"),
                path.to_str().unwrap(),
                "main",
            ],
        ));
        let (run, took) = b.run_to_first_event(&format!("Start {r}")).await;
        start_ours.push(took);
        runs.push(run);
    }

    // Diff: 1,000 changed files, uncommitted, in each run's work tree.
    let (mut diff_base, mut diff_ours) = (Vec::new(), Vec::new());
    let mut done = Vec::new();
    for (r, run) in runs.iter().enumerate() {
        let run = b.idle(run).await;
        let wt = PathBuf::from(run["prepared"]["path"].as_str().unwrap());
        change_files(&wt, r);
        let base = String::from_utf8(git(&wt, &["merge-base", "HEAD", "main"]).stdout).unwrap();
        diff_base.push(timed(&wt, &["diff", "--no-color", base.trim()]));
        let t = Instant::now();
        let (s, d) = b
            .api
            .get(&format!(
                "/api/v1/runs/{}/diff",
                run["id"].as_str().unwrap()
            ))
            .await;
        diff_ours.push(t.elapsed());
        assert_eq!(s, 200, "{d}");
        assert_eq!(d["diff"]["files"].as_array().unwrap().len(), 1000);
        done.push((run, wt));
    }

    // Merge: the same 1,000-file change committed on each run's branch and in a clone's equal branch.
    let (mut merge_base, mut merge_ours) = (Vec::new(), Vec::new());
    for (r, (run, wt)) in done.iter().enumerate() {
        git(wt, &["add", "--all"]);
        git(wt, &["commit", "-q", "-m", "round"]);
        let branch = run["prepared"]["branch"].as_str().unwrap();
        let baseline_wt = root.join(format!("baseline-wt-{r}"));
        git(
            &clone,
            &[
                "fetch",
                "-q",
                repo.to_str().unwrap(),
                &format!("{branch}:{branch}"),
            ],
        );
        // An equal work tree to remove, as our merge removes the run's.
        let t = Instant::now();
        git(&clone, &["merge", "-q", "--squash", branch]);
        git(&clone, &["commit", "-q", "-m", "squash"]);
        git(
            &repo,
            &["worktree", "remove", baseline_wt.to_str().unwrap()],
        );
        merge_base.push(t.elapsed());
        let t = Instant::now();
        let (s, m) = b
            .api
            .post(
                &format!("/api/v1/runs/{}/merge", run["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        merge_ours.push(t.elapsed());
        assert_eq!(s, 200, "{m}");
        assert_eq!(m["worktree"], "removed", "{m}");
    }

    // Many at once: `concurrent` runs started together on the one node.
    let t = Instant::now();
    let titles: Vec<String> = (0..concurrent).map(|i| format!("Together {i}")).collect();
    let all = futures::future::join_all(titles.iter().map(|t| b.run_to_first_event(t))).await;
    let wall = t.elapsed();
    let (p50, p99) = percentiles(all.iter().map(|(_, d)| *d).collect());

    println!(
        "\nTask runs on a {files}-file repository: the git command locally vs VibeBridge through main and the \
         tunnel (median of {rounds} alternating rounds)\n"
    );
    println!("| operation | git (baseline) | VibeBridge | ratio | target |");
    println!("|---|---|---|---|---|");
    for (name, base, ours, target) in [
        (
            "run start → agent's first event vs `git worktree add`",
            start_base,
            start_ours,
            1.3,
        ),
        (
            "run diff, 1,000 changed files vs `git diff`",
            diff_base,
            diff_ours,
            1.5,
        ),
        (
            "squash merge of 1,000 files (+ removing the work tree) vs `merge --squash` + commit + `worktree remove`",
            merge_base,
            merge_ours,
            1.5,
        ),
    ] {
        let (base, ours) = (median(base), median(ours));
        let ratio = ours.as_secs_f64() / base.as_secs_f64();
        let verdict = if ratio <= target { "PASS" } else { "FAIL" };
        println!(
            "| {name} | {} | {} | {ratio:.2}× | ≤ {target}×, {verdict} |",
            ms(base),
            ms(ours)
        );
    }
    println!(
        "\n{concurrent} runs started at once on one node: all had their agent's first event after {}; per run \
         p50 {} / p99 {}",
        ms(wall),
        ms(p50),
        ms(p99)
    );
    node.stop().await;
    main.stop().await;
}

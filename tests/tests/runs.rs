//! Task runs end to end: real `claude` and `codex` CLIs against the mock model APIs, real git repositories,
//! a real node. Runs work in their own worktrees on their own branches, run the project's scripts as
//! execution processes, commit what each turn leaves, and move their task.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use serde_json::{Value, json};
use vibebridge_tests::console;
use vibebridge_tests::run_fx::{RunFx, git};
use vibebridge_tests::session_fx::session_history;

fn path_of(run: &Value) -> PathBuf {
    PathBuf::from(run["prepared"]["path"].as_str().unwrap())
}

fn idle(r: &Value) -> bool {
    r["status"] == "idle" && r["turns"].as_u64() >= Some(1)
}

/// Proves a Claude run and a Codex run of one task work in parallel in their own worktrees on their own
/// branches (the second name made unique), each get the run's environment in the setup script, leave the
/// project's working copy untouched, have their turn's changes committed to their branch, record their
/// processes in order, and move the task to review.
#[tokio::test]
async fn claude_and_codex_runs_work_side_by_side() {
    let setup = "echo \"setting up $VB_TASK_KEY on $VB_BRANCH from $VB_BASE_BRANCH port $VB_PORT\"";
    let mut rf = RunFx::new(
        "runs-pair",
        json!({"setup": setup, "cleanup": "", "dev": ""}),
    )
    .await;
    let key = rf.task("Add a greeting").await;
    assert_eq!(key, "WEB-1");
    let claude = rf
        .start(
            &key,
            json!({"provider": "claude", "permission_mode": "bypassPermissions",
                   "prompt": "Write it [[shell:echo from claude > claude.txt]]"}),
        )
        .await;
    let codex = rf
        .start(
            &key,
            json!({"provider": "codex", "permission_mode": "never",
                   "prompt": "Write it [[shell:echo from codex > codex.txt]]"}),
        )
        .await;
    let (c_id, x_id) = (
        claude["id"].as_str().unwrap().to_string(),
        codex["id"].as_str().unwrap().to_string(),
    );
    let c = rf.until_run(&c_id, idle).await;
    let x = rf.until_run(&x_id, idle).await;

    assert_eq!(c["prepared"]["branch"], "vb/WEB-1-add-a-greeting");
    assert_eq!(x["prepared"]["branch"], "vb/WEB-1-add-a-greeting-2");
    let (cp, xp) = (path_of(&c), path_of(&x));
    assert_ne!(cp, xp);
    assert_eq!(
        std::fs::read_to_string(cp.join("claude.txt")).unwrap(),
        "from claude\n"
    );
    assert_eq!(
        std::fs::read_to_string(xp.join("codex.txt")).unwrap(),
        "from codex\n"
    );
    assert!(!cp.join("codex.txt").exists() && !xp.join("claude.txt").exists());
    let repo = &rf.fx.repo;
    assert!(!repo.join("claude.txt").exists() && !repo.join("codex.txt").exists());
    assert_eq!(
        git(repo, &["status", "--porcelain"]),
        "",
        "the working copy was touched"
    );

    for (run, path, file) in [(&c, &cp, "claude.txt"), (&x, &xp, "codex.txt")] {
        // The turn's work is committed on the run's branch, and the work tree is clean.
        assert_eq!(git(path, &["status", "--porcelain"]), "");
        assert_eq!(
            git(path, &["log", "-1", "--format=%s"]),
            "WEB-1: Add a greeting (turn 1)"
        );
        assert_eq!(
            git(path, &["show", "--name-only", "--format=", "HEAD"]),
            file
        );
        assert_eq!(
            run["last_commit"].as_str().unwrap(),
            git(path, &["rev-parse", "HEAD"])
        );
        let d = rf.detail(run["id"].as_str().unwrap()).await;
        let kinds: Vec<&str> = d["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["setupscript", "codingagent"], "{d}");
        let agent = &d["processes"][1];
        assert_eq!(agent["status"], "completed", "{d}");
        assert_ne!(agent["before_commit"], agent["after_commit"], "{d}");
        assert_eq!(agent["after_commit"], run["last_commit"]);
        // The setup script saw the run's environment; its output is in the session.
        let session = run["session_id"].as_str().unwrap();
        let events = session_history(&rf.fx.api, session, 1000).await;
        let output: String = events
            .iter()
            .filter(|e| e["type"] == "process_output")
            .map(|e| e["text"].as_str().unwrap())
            .collect();
        let branch = run["prepared"]["branch"].as_str().unwrap();
        let base = run["base_branch"].as_str().unwrap();
        let port = run["prepared"]["port"].as_u64().unwrap();
        assert_eq!(
            output.trim(),
            format!("setting up WEB-1 on {branch} from {base} port {port}")
        );
    }
    assert_ne!(c["prepared"]["port"], x["prepared"]["port"]);
    let (_, task) = rf.fx.api.get("/api/v1/tasks/WEB-1").await;
    assert_eq!(task["status"], "in_review", "{task}");

    // Usage: one record per turn, rolled up per run and per day, matching the runs' own totals.
    let (s, by_run) = rf.fx.api.get("/api/v1/usage?group_by=run").await;
    assert_eq!(s, 200, "{by_run}");
    for run in [&c, &x] {
        let (_, now) = rf
            .fx
            .api
            .get(&format!("/api/v1/runs/{}", run["id"].as_str().unwrap()))
            .await;
        let row = by_run["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == run["id"])
            .unwrap_or_else(|| panic!("no usage row for run {}: {by_run}", run["id"]));
        assert_eq!(
            row["usage"]["input_tokens"], now["run"]["usage"]["input_tokens"],
            "{by_run}"
        );
        assert_eq!(row["usage"]["turns"], 1);
        assert!(
            row["label"]
                .as_str()
                .unwrap()
                .starts_with("WEB-1 Add a greeting"),
            "{row}"
        );
    }
    assert!(
        by_run["total"]["input_tokens"].as_u64().unwrap() > 0,
        "{by_run}"
    );
    let (_, by_day) = rf.fx.api.get("/api/v1/usage").await;
    assert_eq!(by_day["rows"].as_array().unwrap().len(), 1, "{by_day}");
    assert_eq!(by_day["rows"][0]["usage"], by_run["total"], "{by_day}");
    let (s, e) = rf.fx.api.get("/api/v1/usage?from=yesterday").await;
    assert_eq!(s, 400, "{e}");
}

/// Proves a failing setup script stops the run before the agent starts: the run fails naming the setup,
/// the script's output is in the session, and the model API never hears from the agent.
#[tokio::test]
async fn failing_setup_stops_the_run() {
    let setup = "echo installing; echo 'no such package' >&2; exit 3";
    let mut rf = RunFx::new(
        "runs-setup",
        json!({"setup": setup, "cleanup": "", "dev": ""}),
    )
    .await;
    let key = rf.task("Break the build").await;
    let run = rf
        .start(&key, json!({"provider": "claude", "prompt": "Do it"}))
        .await;
    let id = run["id"].as_str().unwrap();
    let failed = rf.until_run(id, |r| r["status"] == "failed").await;
    let why = failed["status_message"].as_str().unwrap();
    assert!(why.contains("setup script failed (exit 3)"), "{why}");
    let d = rf.detail(id).await;
    assert_eq!(d["processes"][0]["kind"], "setupscript");
    assert_eq!(d["processes"][0]["status"], "failed");
    assert_eq!(d["processes"][0]["exit_code"], 3);
    assert_eq!(d["processes"].as_array().unwrap().len(), 1, "{d}");
    let events = session_history(&rf.fx.api, failed["session_id"].as_str().unwrap(), 1000).await;
    let output: String = events
        .iter()
        .filter(|e| e["type"] == "process_output")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert!(
        output.contains("installing") && output.contains("no such package"),
        "{output}"
    );
    assert!(
        rf.fx.claude.model_requests().is_empty(),
        "the agent started"
    );
    // A failed run leaves the task where it was.
    let (_, task) = rf.fx.api.get(&format!("/api/v1/tasks/{key}")).await;
    assert_eq!(task["status"], "todo", "{task}");
    assert_eq!(
        task["runs"][0]["status"], "failed",
        "the card does not flag the failed run: {task}"
    );

    // The admin console shows the same, to the real `ssh` client.
    let (ssh_key, public) = console::keypair(rf.fx.dir.path(), "alice_key");
    let (s, b) = console::add_key(&rf.fx.api, &ssh_key, &public).await;
    assert_eq!(s, 201, "{b}");
    let list = console::json_of(&rf.fx.main, &ssh_key, &format!("runs list {key}")).await;
    assert_eq!(
        (list[0]["id"].as_str(), list[0]["status"].as_str()),
        (Some(id), Some("failed")),
        "{list}"
    );
    let show = console::json_of(&rf.fx.main, &ssh_key, &format!("runs show {id}")).await;
    assert_eq!(show["processes"][0]["kind"], "setupscript", "{show}");
    let (code, out, _) = console::exec(&rf.fx.main, &ssh_key, "runs show nope").await;
    assert_eq!(code, 1, "{out}");
}

/// Proves uncommitted work of the project's working copy is carried into a new run as one baseline commit
/// (tracked changes and untracked files), so the run's own commits hold only the agent's work (named as the
/// workspace's setting says), and the working copy keeps its changes.
#[tokio::test]
async fn carried_work_becomes_the_baseline() {
    let mut rf = RunFx::new("runs-carry", json!({})).await;
    let repo = rf.fx.repo.clone();
    std::fs::write(repo.join("tracked.txt"), "one\n").unwrap();
    git(&repo, &["add", "tracked.txt"]);
    git(
        &repo,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "tracked",
        ],
    );
    std::fs::write(repo.join("tracked.txt"), "two\n").unwrap();
    std::fs::write(repo.join("notes.md"), "draft\n").unwrap();
    let key = rf.task("Finish the draft").await;
    // The workspace names its turn commits its own way.
    let (s, w) = vibebridge_tests::work_fx::patch(
        &rf.fx.api,
        &format!("/api/v1/workspaces/{}", rf.ws),
        json!({"run_commit_message": "wip {key} #{turn}: {title}"}),
    )
    .await;
    assert_eq!(s, 200, "{w}");
    let (done, wt) = rf
        .claude_turn(
            &key,
            "Go [[shell:echo agent > agent.txt]]",
            json!({"carry_uncommitted": true}),
        )
        .await;
    let p = &done["prepared"];
    assert_eq!(p["carried_files"], 2, "{p}");
    let baseline = p["baseline_commit"].as_str().unwrap();
    let mut carried: Vec<String> = git(&wt, &["show", "--name-only", "--format=", baseline])
        .lines()
        .map(str::to_string)
        .collect();
    carried.sort();
    assert_eq!(carried, ["notes.md", "tracked.txt"]);
    assert_eq!(
        git(&wt, &["diff", "--name-only", baseline, "HEAD"]),
        "agent.txt"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("tracked.txt")).unwrap(),
        "two\n"
    );
    assert!(repo.join("notes.md").exists());
}

/// Proves who may start runs: a viewer is refused, someone outside the workspace sees no task, and a task
/// without a project is refused with what to do.
#[tokio::test]
async fn starting_a_run_needs_a_member_and_a_project() {
    let rf = RunFx::new("runs-rbac", json!({})).await;
    let key = rf.task("Guarded").await;
    let mut bob = vibebridge_tests::Api::new(&rf.fx.main);
    assert_eq!(bob.auth(true, "bob", "correct horse battery").await.0, 200);
    let (s, _) = rf.fx.api.post("/api/v1/users/bob/approve", json!({})).await;
    assert_eq!(s, 200);
    let (s, e) = bob
        .post(&format!("/api/v1/tasks/{key}/runs"), json!({}))
        .await;
    assert_eq!(s, 404, "{e}");
    let (s, _) = rf
        .fx
        .api
        .post(
            &format!("/api/v1/workspaces/{}/members", rf.ws),
            json!({"username": "bob", "role": "viewer"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, e) = bob
        .post(&format!("/api/v1/tasks/{key}/runs"), json!({}))
        .await;
    assert_eq!(s, 403, "{e}");
    let (s, t) = rf
        .fx
        .api
        .post(
            &format!("/api/v1/workspaces/{}/tasks", rf.ws),
            json!({"title": "No project"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, e) = rf
        .fx
        .api
        .post(
            &format!("/api/v1/tasks/{}/runs", t["key"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("project"),
        "{e}"
    );
}

/// Proves a run asked for while its node is offline waits as `queued`, saying why, and starts by itself when
/// the node comes back; and a main restart mid-run loses nothing: the run's turn, processes and commit are
/// all there once main follows the session again.
#[tokio::test]
async fn queued_while_offline_then_survives_a_main_restart() {
    let mut rf = RunFx::new("runs-offline", json!({})).await;
    let key = rf.task("Wait for the node").await;
    rf.fx.node.take().unwrap().stop().await;
    rf.fx.main.wait_offline("n1").await;
    let run = rf
        .start(
            &key,
            json!({"provider": "claude", "permission_mode": "bypassPermissions",
                   "prompt": "Go [[gate:offline]] [[shell:echo later > later.txt]]"}),
        )
        .await;
    assert_eq!(run["status"], "queued", "{run}");
    assert!(
        run["status_message"].as_str().unwrap().contains("offline"),
        "{run}"
    );
    let id = run["id"].as_str().unwrap().to_string();
    let node = vibebridge_tests::session_fx::node_config(&rf.fx.dir, &rf.fx.main, &rf.fx.env);
    rf.fx.node = Some(vibebridge_tests::TestNode::start(node));
    rf.until_run(&id, |r| r["status"] == "running").await;
    // Main goes away while the agent works; the turn finishes on the node meanwhile.
    rf.fx.claude.wait_held("offline").await;
    rf.restart_main(|fx| fx.claude.release("offline")).await;
    let done = rf.until_run(&id, idle).await;
    let wt = path_of(&done);
    assert_eq!(
        std::fs::read_to_string(wt.join("later.txt")).unwrap(),
        "later\n"
    );
    assert_eq!(
        done["last_commit"].as_str().unwrap(),
        git(&wt, &["rev-parse", "HEAD"])
    );
    let d = rf.detail(&id).await;
    let agent = &d["processes"][0];
    assert_eq!(
        (agent["kind"].as_str(), agent["status"].as_str()),
        (Some("codingagent"), Some("completed")),
        "{d}"
    );
    let (_, task) = rf.fx.api.get(&format!("/api/v1/tasks/{key}")).await;
    assert_eq!(task["status"], "in_review", "{task}");
}

/// Proves a run is the team's: a member allowed on the node finds its approval in their inbox and answers
/// it, a viewer reads the run's session but neither sees the approval in their inbox nor answers it; and
/// the seed's `POST /sessions {task_id, executor, repo_id, branch}` starts a run, answering its session and
/// branch (a bad executor is refused naming the choices).
#[tokio::test]
async fn the_team_steers_a_run_and_the_seed_form_starts_one() {
    let mut rf = RunFx::new("runs-team", json!({})).await;
    let key = rf.task("Team work").await;
    let mut people = Vec::new();
    for (name, role) in [("bob", "member"), ("carol", "viewer")] {
        let mut api = vibebridge_tests::Api::new(&rf.fx.main);
        assert_eq!(api.auth(true, name, "correct horse battery").await.0, 200);
        let (s, _) = rf
            .fx
            .api
            .post(&format!("/api/v1/users/{name}/approve"), json!({}))
            .await;
        assert_eq!(s, 200);
        let (s, _) = rf
            .fx
            .api
            .post(
                &format!("/api/v1/workspaces/{}/members", rf.ws),
                json!({"username": name, "role": role}),
            )
            .await;
        assert_eq!(s, 200);
        let (s, b) = rf
            .fx
            .api
            .post("/api/v1/nodes/n1/members", json!({"username": name}))
            .await;
        assert_eq!(s, 200, "{b}");
        people.push(api);
    }
    let (bob, carol) = (&people[0], &people[1]);
    let run = rf
        .start(
            &key,
            json!({"provider": "claude", "permission_mode": "default",
                            "prompt": "Go [[shell:echo team > team.txt]]"}),
        )
        .await;
    let id = run["id"].as_str().unwrap().to_string();
    let waiting = rf.until_run(&id, |r| r["pending_approvals"] == 1).await;
    assert_eq!(waiting["status"], "waiting", "{waiting}");
    let session = waiting["session_id"].as_str().unwrap();
    let (_, task) = rf.fx.api.get(&format!("/api/v1/tasks/{key}")).await;
    assert_eq!(
        task["runs"][0]["pending_approvals"], 1,
        "the card does not say it needs attention: {task}"
    );

    let (_, inbox) = carol.get("/api/v1/approvals").await;
    assert!(
        inbox.as_array().unwrap().is_empty(),
        "a viewer's inbox: {inbox}"
    );
    let (s, _) = carol.get(&format!("/api/v1/sessions/{session}")).await;
    assert_eq!(s, 200, "a viewer reads the run's session");
    let (_, inbox) = bob.get("/api/v1/approvals").await;
    assert_eq!(
        inbox.as_array().unwrap().len(),
        1,
        "a member's inbox: {inbox}"
    );
    let approval = inbox[0]["approval_id"].as_str().unwrap();
    let answer = format!("/api/v1/sessions/{session}/approvals/{approval}");
    let (s, e) = carol.post(&answer, json!({"decision": "allow"})).await;
    assert_eq!(s, 403, "{e}");
    let (s, b) = bob.post(&answer, json!({"decision": "allow"})).await;
    assert!(s == 200 || s == 202, "{s} {b}");
    let done = rf.until_run(&id, idle).await;
    assert_eq!(
        std::fs::read_to_string(path_of(&done).join("team.txt")).unwrap(),
        "team\n"
    );

    // The seed's form of a session start, for the same task.
    let (s, started) = rf
        .fx
        .api
        .post(
            "/api/v1/sessions",
            json!({"task_id": key, "executor": "claude", "repo_id": rf.project, "branch": "feature/seed",
                   "prompt": "Seeded [[text:ok]]", "permission_mode": "bypassPermissions"}),
        )
        .await;
    assert_eq!(s, 201, "{started}");
    assert_eq!(started["branch"], "feature/seed", "{started}");
    assert_eq!(started["session"]["id"], started["run"]["session_id"]);
    let (s, e) = rf
        .fx
        .api
        .post(
            "/api/v1/sessions",
            json!({"task_id": key, "executor": "gpt"}),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"claude\" or \"codex\""),
        "{e}"
    );
}

//! A run's dev server end to end: a real `claude` CLI against the mock model API, a real git repository and
//! a real node running the project's `dev` script as a `devserver` process of the run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use vibebridge_main::store::{ExecutionProcess, RunId};
use vibebridge_tests::mock::CLI_WAIT;
use vibebridge_tests::run_fx::RunFx;
use vibebridge_tests::seed::until;
use vibebridge_tests::session_fx::{process_alive, wait_for_process};
use vibebridge_tunnel::run::{ProcessKind, ProcessStatus};

/// A unique `sleep` argument, marking a dev server's process in /proc, and a dev script printing the run's
/// port and then sleeping with it.
fn dev_script() -> (String, String) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let marker = format!("1000.{}{nanos}", std::process::id());
    let dev = format!("echo \"serving on $VB_PORT\"; exec sleep {marker}");
    (marker, dev)
}

/// A fixture whose project has `dev` as its dev script, and a run of a task there that finished its turn;
/// the run as the board last saw it.
async fn idle_run(tag: &str, dev: &str) -> (RunFx, String, Value) {
    let mut rf = RunFx::new(tag, json!({"setup": "", "cleanup": "", "dev": dev})).await;
    let key = rf.task("Serve it").await;
    let run = rf
        .start(
            &key,
            json!({"provider": "claude", "permission_mode": "bypassPermissions",
                   "prompt": "Go [[text:ok]]"}),
        )
        .await;
    let id = run["id"].as_str().unwrap().to_string();
    let idle = rf
        .until_run(&id, |r| {
            r["status"] == "idle" && r["turns"].as_u64() >= Some(1)
        })
        .await;
    (rf, key, idle)
}

/// The run's processes as main stores them.
fn processes(rf: &RunFx, run: RunId) -> Vec<ExecutionProcess> {
    rf.fx.main.state.store.processes(run).unwrap()
}

/// Proves a run's dev server starts on request beside an idle run, runs the project's dev script with the
/// run's `VB_PORT`, streams its output into the session and shows as a running `devserver` process; a
/// second start is refused; stopping the run's session ends it; it starts again with no CLI running (its
/// output still reaches main), and a stop ends it as killed by a user with its process gone, leaving the
/// run's status alone; a second stop is refused; starts and stops are audited.
#[tokio::test]
async fn dev_server_starts_streams_and_stops() {
    let (marker, dev) = dev_script();
    let (mut rf, key, idle) = idle_run("runs-dev", &dev).await;
    let id = idle["id"].as_str().unwrap().to_string();
    let run_id = RunId::parse(&id).unwrap();
    let session = idle["session_id"].as_str().unwrap().to_string();
    let port = idle["prepared"]["port"].as_u64().unwrap();
    let serving = format!("serving on {port}");
    let dev_url = format!("/api/v1/runs/{id}/dev");
    let mut sse = rf.fx.sse(&session).await;

    // Beside the idle run.
    let (s, b) = rf.fx.api.post(&dev_url, json!({"start": true})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["id"], id.as_str(), "{b}");
    let seen = sse
        .until(CLI_WAIT, |e| {
            e["type"] == "process_output" && e["text"].as_str().unwrap().contains(&serving)
        })
        .await;
    let started = seen
        .iter()
        .find(|e| e["type"] == "process_started" && e["kind"] == "devserver")
        .unwrap_or_else(|| panic!("no devserver process started: {seen:#?}"));
    let first = started["process"].as_u64().unwrap();
    assert_eq!(started["command"], dev.as_str(), "{started}");
    // It prints before it execs `sleep`.
    wait_for_process(&marker, "the dev server does not run").await;
    // The board hears of it: the run names its running dev server.
    rf.until_run(&id, |r| r["dev_server"].as_u64() == Some(first))
        .await;
    until("main shows the dev server running", || {
        processes(&rf, run_id).iter().any(|p| {
            p.kind == ProcessKind::Devserver
                && u64::from(p.number) == first
                && p.status == ProcessStatus::Running
        })
    })
    .await;
    let (s, e) = rf.fx.api.post(&dev_url, json!({"start": true})).await;
    assert_eq!(s, 409, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already running"),
        "{e}"
    );

    // Stopping the run's session stops its dev server.
    let (s, b) = rf
        .fx
        .api
        .post(&format!("/api/v1/runs/{id}/stop"), json!({}))
        .await;
    assert_eq!(s, 200, "{b}");
    let seen = sse
        .until(CLI_WAIT, |e| {
            e["type"] == "process_ended" && e["process"].as_u64() == Some(first)
        })
        .await;
    let ended: &Value = seen.last().unwrap();
    assert_eq!(ended["status"], "killed", "{ended}");
    assert_eq!(ended["message"], "the session was stopped", "{ended}");
    assert!(
        !process_alive(&marker),
        "the dev server outlived the session's stop"
    );
    rf.until_run(&id, |r| r["status"] == "stopped").await;

    // With no CLI running, its output still reaches main.
    let (s, b) = rf.fx.api.post(&dev_url, json!({"start": true})).await;
    assert_eq!(s, 200, "{b}");
    let seen = sse
        .until(CLI_WAIT, |e| {
            e["type"] == "process_output"
                && e["process"].as_u64() > Some(first)
                && e["text"].as_str().unwrap().contains(&serving)
        })
        .await;
    let second = seen.last().unwrap()["process"].as_u64().unwrap();
    // It prints before it execs `sleep`.
    wait_for_process(&marker, "the dev server does not run").await;
    let (s, b) = rf.fx.api.post(&dev_url, json!({"start": false})).await;
    assert_eq!(s, 200, "{b}");
    assert!(!process_alive(&marker), "the dev server outlived its stop");
    let seen = sse
        .until(CLI_WAIT, |e| {
            e["type"] == "process_ended" && e["process"].as_u64() == Some(second)
        })
        .await;
    let ended: &Value = seen.last().unwrap();
    assert_eq!(ended["status"], "killed", "{ended}");
    assert_eq!(ended["message"], "stopped by a user", "{ended}");
    rf.until_run(&id, |r| r["dev_server"].is_null()).await;
    until("main shows the dev server killed", || {
        processes(&rf, run_id)
            .iter()
            .any(|p| u64::from(p.number) == second && p.status == ProcessStatus::Killed)
    })
    .await;
    let d = rf.detail(&id).await;
    assert_eq!(
        d["run"]["status"], "stopped",
        "a dev server's end moved the run: {d}"
    );
    let kinds: Vec<&str> = d["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["codingagent", "devserver", "devserver"], "{d}");

    let (s, e) = rf.fx.api.post(&dev_url, json!({"start": false})).await;
    assert_eq!(s, 409, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not running"),
        "{e}"
    );
    let actions = rf.fx.main.audit_actions(&key);
    assert_eq!(
        actions.iter().filter(|a| *a == "run.dev_server").count(),
        3,
        "{actions:?}"
    );
}

/// Proves the agent's shutdown ends a running dev server (its process group gone, its process recorded
/// killed and learnt by main once the node is back), and the restarted agent starts it again.
#[tokio::test]
async fn the_agents_shutdown_ends_the_dev_server() {
    let (marker, dev) = dev_script();
    let (mut rf, _, idle) = idle_run("runs-dev-restart", &dev).await;
    let id = idle["id"].as_str().unwrap().to_string();
    let run_id = RunId::parse(&id).unwrap();
    let dev_url = format!("/api/v1/runs/{id}/dev");
    let (s, b) = rf.fx.api.post(&dev_url, json!({"start": true})).await;
    assert_eq!(s, 200, "{b}");
    wait_for_process(&marker, "the dev server does not run").await;

    rf.fx.restart_node(|_| {}).await;
    assert!(!process_alive(&marker), "the dev server outlived the agent");
    until("main learns the dev server was killed", || {
        processes(&rf, run_id).iter().any(|p| {
            p.kind == ProcessKind::Devserver
                && p.status == ProcessStatus::Killed
                && p.message.as_deref() == Some("the agent shut down")
        })
    })
    .await;

    let (s, b) = rf.fx.api.post(&dev_url, json!({"start": true})).await;
    assert_eq!(s, 200, "{b}");
    wait_for_process(&marker, "the dev server does not run again").await;
    let (s, b) = rf.fx.api.post(&dev_url, json!({"start": false})).await;
    assert_eq!(s, 200, "{b}");
    assert!(!process_alive(&marker), "the dev server outlived its stop");
    let (_, d) = rf.fx.api.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(d["run"]["status"], "idle", "{d}");
}

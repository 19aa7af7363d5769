//! Task runs in the fault suite: one run of a task per node, driven like the suite's other sessions, and
//! checked afterwards against its session: every event applied once, one process per `process_started`, each
//! agent turn that ended (completed, failed or cut short) counted once, none left running, and the run where
//! its session is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use crate::fault_world::{RECOVER, World};
use crate::session_driver::{prompt, tick};
use crate::session_fx::session_history;

/// Starts one Claude run per node (a workspace, a project on a fresh repository of that node, a task) and adds
/// its session to the world's sessions; returns the runs' ids.
pub async fn start(w: &mut World) -> Vec<String> {
    let (s, ws) = w
        .api
        .post(
            "/api/v1/workspaces",
            json!({"name": "Faults", "key_prefix": "F"}),
        )
        .await;
    assert_eq!(s, 200, "{ws}");
    let ws = ws["id"].as_str().unwrap().to_string();
    let mut runs = Vec::new();
    for n in 0..w.nodes.len() {
        let repo = w.env.git_repo(&format!("run-{n}"));
        let (s, p) = w
            .api
            .post(
                &format!("/api/v1/workspaces/{ws}/projects"),
                json!({"node_id": w.nodes[n].id, "repo_path": repo.display().to_string()}),
            )
            .await;
        assert_eq!(s, 200, "{p}");
        let (s, t) = w
            .api
            .post(
                &format!("/api/v1/workspaces/{ws}/tasks"),
                json!({"title": format!("Run on {}", w.nodes[n].id), "project_id": p["id"]}),
            )
            .await;
        assert_eq!(s, 200, "{t}");
        let (s, run) = w
            .api
            .post(
                &format!("/api/v1/tasks/{}/runs", t["key"].as_str().unwrap()),
                json!({"provider": "claude", "permission_mode": "default", "prompt": prompt("claude", 0, false)}),
            )
            .await;
        assert_eq!(s, 201, "{run}");
        w.sessions
            .push((run["session_id"].as_str().unwrap().to_string(), n));
        runs.push(run["id"].as_str().unwrap().to_string());
    }
    runs
}

/// Checks each run against its session's final history on main (see the module comment); returns the
/// number of processes checked.
pub async fn check(w: &World, runs: &[String], seed: u64) -> usize {
    let mut checked = 0;
    for id in runs {
        let run = applied(w, id, seed).await;
        let session = run["run"]["session_id"].as_str().unwrap();
        let history = session_history(&w.api, session, 500).await;
        let started: Vec<u64> = history
            .iter()
            .filter(|e| e["type"] == "process_started")
            .map(|e| e["process"].as_u64().unwrap())
            .collect();
        let processes = run["processes"].as_array().unwrap();
        let numbers: Vec<u64> = processes
            .iter()
            .map(|p| p["number"].as_u64().unwrap())
            .collect();
        assert_eq!(
            numbers, started,
            "run {id}: its processes are not its session's (seed {seed})"
        );
        assert_eq!(
            numbers,
            (1..=numbers.len() as u64).collect::<Vec<_>>(),
            "run {id}: process numbers are not 1..=n (seed {seed})"
        );
        for p in processes {
            assert_ne!(
                p["status"], "running",
                "run {id}: process {} still running on an idle session (seed {seed})",
                p["number"]
            );
        }
        let turns = history
            .iter()
            .filter(|e| e["type"] == "process_ended")
            .filter(|e| {
                processes
                    .iter()
                    .any(|p| p["number"] == e["process"] && p["kind"] == "codingagent")
            })
            .count();
        assert_eq!(
            run["run"]["turns"].as_u64(),
            Some(turns as u64),
            "run {id}: turns counted twice or lost (seed {seed})"
        );
        assert_eq!(run["run"]["status"], "idle", "run {id} (seed {seed})");
        checked += processes.len();
    }
    checked
}

/// The run once main has applied every event its session has (bounded by the suite's recovery time).
async fn applied(w: &World, id: &str, seed: u64) -> Value {
    let deadline = tokio::time::Instant::now() + RECOVER;
    loop {
        let (s, d) = w.api.get(&format!("/api/v1/runs/{id}")).await;
        assert_eq!(s, 200, "{d}");
        let session = d["run"]["session_id"].as_str().unwrap();
        let (_, rec) = w.api.get(&format!("/api/v1/sessions/{session}")).await;
        if d["run"]["applied_seq"] == rec["last_seq"] {
            return d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id} never applied its session's events: {d} vs {rec} (seed {seed})"
        );
        tick().await;
    }
}

//! The task-run test fixture: the agent-session fixture ([`crate::session_fx::Fx`]: main, node `n1` with both
//! CLIs pointed at the mock model APIs, alice logged in, a git repository) plus alice's workspace `WEB`, a
//! project on that repository, a WebSocket watching the workspace, and helpers to start runs and wait for
//! what the board is told about them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::WsClient;
use crate::mock::CLI_WAIT;
use crate::session_fx::Fx;

/// A workspace with a project on the fixture's repository, watched live.
pub struct RunFx {
    /// Main, the node, alice, the mocks and the repository.
    pub fx: Fx,
    /// The workspace's id.
    pub ws: String,
    /// The project's id.
    pub project: String,
    /// Alice's WebSocket, watching the workspace (`None` while main restarts).
    pub live: Option<WsClient>,
}

impl RunFx {
    /// The fixture, with the project's scripts set to `scripts` (`{"setup", "cleanup", "dev"}`).
    pub async fn new(tag: &str, scripts: Value) -> RunFx {
        Self::with_main(tag, scripts, |_| {}).await
    }

    /// The fixture, with main's config changed by `main_tweak`.
    pub async fn with_main(
        tag: &str,
        scripts: Value,
        main_tweak: impl FnOnce(&mut vibebridge_main::MainConfig),
    ) -> RunFx {
        let fx = Fx::with_main(tag, main_tweak, |_| {}).await;
        let (s, ws) = fx
            .api
            .post(
                "/api/v1/workspaces",
                json!({"name": "Web", "key_prefix": "web"}),
            )
            .await;
        assert_eq!(s, 200, "{ws}");
        let ws = ws["id"].as_str().unwrap().to_string();
        let (s, p) = fx
            .api
            .post(
                &format!("/api/v1/workspaces/{ws}/projects"),
                json!({"node_id": "n1", "repo_path": fx.repo.display().to_string(), "scripts": scripts}),
            )
            .await;
        assert_eq!(s, 200, "{p}");
        let project = p["id"].as_str().unwrap().to_string();
        let mut rf = RunFx {
            fx,
            ws,
            project,
            live: None,
        };
        rf.watch().await;
        rf
    }

    /// Opens alice's WebSocket and watches the workspace.
    pub async fn watch(&mut self) {
        let mut live = WsClient::connect(&self.fx.api).await.unwrap();
        live.send_text(&json!({"type": "watch", "topics": [], "workspace": self.ws}).to_string())
            .await;
        live.until(|f| f["type"] == "watching").await;
        self.live = Some(live);
    }

    /// Restarts main on its state, calling `between` while it is down: the WebSocket is closed first (main
    /// waits for no browser) and opened again after, once the node is back.
    pub async fn restart_main(&mut self, between: impl FnOnce(&Fx)) {
        self.live = None;
        let state = self.fx.main.state.clone();
        let alice = state.store.user_by_name("alice").unwrap().unwrap().id;
        crate::seed::until("main let go of the WebSocket", || {
            state.live.count(alice) == 0
        })
        .await;
        drop(state);
        let ssh = self.fx.stop_main().await;
        between(&self.fx);
        self.fx.start_main(ssh).await;
        self.fx.main.wait_online("n1").await;
        self.watch().await;
    }

    /// Creates a task in the project; returns its key.
    pub async fn task(&self, title: &str) -> String {
        let (s, t) = self
            .fx
            .api
            .post(
                &format!("/api/v1/workspaces/{}/tasks", self.ws),
                json!({"title": title, "project_id": self.project}),
            )
            .await;
        assert_eq!(s, 200, "{t}");
        t["key"].as_str().unwrap().to_string()
    }

    /// Starts a run of `task` with `body`; asserts 201 and returns the run.
    pub async fn start(&self, task: &str, body: Value) -> Value {
        let (s, run) = self
            .fx
            .api
            .post(&format!("/api/v1/tasks/{task}/runs"), body)
            .await;
        assert_eq!(s, 201, "{run}");
        run
    }

    /// Starts a Claude run of `task` that runs commands unasked, with `prompt` and the body fields of `extra`,
    /// and waits for its first turn to end: the run then and its work tree.
    pub async fn claude_turn(
        &mut self,
        task: &str,
        prompt: &str,
        extra: Value,
    ) -> (Value, PathBuf) {
        let mut body =
            json!({"provider": "claude", "permission_mode": "bypassPermissions", "prompt": prompt});
        if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
            b.extend(extra);
        }
        let run = self.start(task, body).await;
        let id = run["id"].as_str().unwrap().to_string();
        let done = self
            .until_run(&id, |r| {
                r["status"] == "idle" && r["turns"].as_u64() >= Some(1)
            })
            .await;
        let path = PathBuf::from(done["prepared"]["path"].as_str().unwrap());
        (done, path)
    }

    /// Waits for the board to be told run `id` satisfies `pred`; returns the run then. The run's own record
    /// is checked first, so a change pushed before the wait began is not missed.
    pub async fn until_run(&mut self, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let (_, now) = self.fx.api.get(&format!("/api/v1/runs/{id}")).await;
        if pred(&now["run"]) {
            return now["run"].clone();
        }
        let wait = async {
            loop {
                let live = self
                    .live
                    .as_mut()
                    .expect("the fixture watches the workspace");
                let msg = live.recv_within(CLI_WAIT).await?;
                let tokio_tungstenite::tungstenite::Message::Text(text) = msg else {
                    continue;
                };
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["type"] == "run" && frame["run"]["id"] == id && pred(&frame["run"]) {
                    return Some(frame["run"].clone());
                }
            }
        };
        match tokio::time::timeout(CLI_WAIT, wait).await {
            Ok(Some(run)) => run,
            _ => {
                let (_, now) = self.fx.api.get(&format!("/api/v1/runs/{id}")).await;
                panic!("run {id} never got there; it is now {now}")
            }
        }
    }

    /// The run with its processes.
    pub async fn detail(&self, id: &str) -> Value {
        let (s, d) = self.fx.api.get(&format!("/api/v1/runs/{id}")).await;
        assert_eq!(s, 200, "{d}");
        d
    }
}

/// Runs git in `repo`; its trimmed stdout (panics when it fails).
pub fn git(repo: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(repo)
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        repo.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

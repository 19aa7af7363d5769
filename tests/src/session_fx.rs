//! The agent-session test fixture: main, node `n1` with both provider CLIs pointed at the mock model APIs,
//! a logged-in user, and helpers to drive sessions through the API and read their events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use vibebridge_agent::sessions::store::AgentStore;
use vibebridge_tunnel::session::SessionStatus;

use crate::mock::{CliEnv, MockAnthropic, MockOpenAi, claude_bin, codex_bin};
use crate::{Api, SseReader, TempDir, TestMain, TestNode};

/// Main, one node with both providers pointed at the mocks, and a logged-in user.
pub struct Fx {
    /// State of main and the node.
    pub dir: TempDir,
    /// Main.
    pub main: TestMain,
    /// The node (taken out to restart it).
    pub node: Option<TestNode>,
    /// Logged in as alice.
    pub api: Api,
    /// The CLIs' isolated environment.
    pub env: CliEnv,
    /// The mock Anthropic API.
    pub claude: MockAnthropic,
    /// The mock OpenAI API.
    pub openai: MockOpenAi,
    /// A git repository inside the node's roots.
    pub repo: PathBuf,
}

impl Fx {
    /// The fixture with default node settings.
    pub async fn new(tag: &str) -> Fx {
        Self::with(tag, |_| {}).await
    }

    /// The fixture with the node config changed by `tweak` first.
    pub async fn with(tag: &str, tweak: impl FnOnce(&mut vibebridge_agent::NodeConfig)) -> Fx {
        Self::with_main(tag, |_| {}, tweak).await
    }

    /// The fixture with main's config changed by `main_tweak` (its database path is set already) and the
    /// node's by `tweak`.
    pub async fn with_main(
        tag: &str,
        main_tweak: impl FnOnce(&mut vibebridge_main::MainConfig),
        tweak: impl FnOnce(&mut vibebridge_agent::NodeConfig),
    ) -> Fx {
        let dir = TempDir::new(&format!("sess-{tag}"));
        let claude = MockAnthropic::start().await;
        let openai = MockOpenAi::start().await;
        let env = CliEnv::new(tag)
            .with_anthropic(&claude)
            .with_openai(&openai);
        let repo = env.git_repo("ws");
        let main = TestMain::start_with(dir.path(), None, main_tweak).await;
        let mut api = Api::new(&main);
        assert_eq!(
            api.auth(true, "alice", "correct horse battery").await.0,
            200
        );
        let mut cfg = node_config(&dir, &main, &env);
        tweak(&mut cfg);
        let node = TestNode::start(cfg);
        main.wait_online("n1").await;
        Fx {
            dir,
            main,
            node: Some(node),
            api,
            env,
            claude,
            openai,
            repo,
        }
    }

    /// Starts a session; returns its id.
    pub async fn create(&self, provider: &str, prompt: &str, mode: Option<&str>) -> String {
        let (status, body) = self
            .api
            .post(
                "/api/v1/sessions",
                json!({"node_id": "n1", "path": self.repo.display().to_string(),
                       "provider": provider, "permission_mode": mode, "prompt": prompt}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// Main's SSE stream of session `id` from its first event.
    pub async fn sse(&self, id: &str) -> SseReader {
        SseReader::open(&self.api, id, 0).await
    }

    /// Sends a follow-up message; asserts it was accepted.
    pub async fn message(&self, id: &str, text: &str) {
        let (status, body) = self
            .api
            .post(
                &format!("/api/v1/sessions/{id}/messages"),
                json!({ "text": text }),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }

    /// Asks the node to stop the session; asserts it was accepted (202: the stop is under way).
    pub async fn stop(&self, id: &str) {
        let (status, body) = self
            .api
            .post(&format!("/api/v1/sessions/{id}/stop"), json!({}))
            .await;
        assert_eq!(status, 202, "{body}");
    }

    /// Answers an approval; asserts it was accepted.
    pub async fn decide(&self, id: &str, approval: &str, decision: &str, message: Option<&str>) {
        let (status, body) = self
            .api
            .post(
                &format!("/api/v1/sessions/{id}/approvals/{approval}"),
                json!({ "decision": decision, "message": message }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Restarts node `n1` with its config changed by `tweak` (called before the node starts, so it may also
    /// change the node's state on disk); returns main's new link generation once it has the new link.
    pub async fn restart_node(
        &mut self,
        tweak: impl FnOnce(&mut vibebridge_agent::NodeConfig),
    ) -> u64 {
        let before = self
            .main
            .state
            .registry
            .get("n1")
            .map_or(0, |link| link.generation);
        self.node.take().unwrap().stop().await;
        let mut cfg = node_config(&self.dir, &self.main, &self.env);
        tweak(&mut cfg);
        self.node = Some(TestNode::start(cfg));
        self.main.wait_link("n1", |g| g > before).await
    }

    /// Stops main (its state stays); returns its SSH address for [`Fx::start_main`]. A placeholder main
    /// stands in meanwhile.
    pub async fn stop_main(&mut self) -> std::net::SocketAddr {
        let ssh = self.main.ssh;
        let placeholder = TestMain::start(&self.dir.path().join("placeholder")).await;
        std::mem::replace(&mut self.main, placeholder).stop().await;
        ssh
    }

    /// Starts main again on its state, on `ssh` (nodes reconnect on their own); the login stays valid.
    pub async fn start_main(&mut self, ssh: std::net::SocketAddr) {
        self.start_main_with(ssh, |_| {}).await;
    }

    /// [`Fx::start_main`] with main's config changed by `tweak`.
    pub async fn start_main_with(
        &mut self,
        ssh: std::net::SocketAddr,
        tweak: impl FnOnce(&mut vibebridge_main::MainConfig),
    ) {
        let main = TestMain::start_with(self.dir.path(), Some(ssh), tweak).await;
        std::mem::replace(&mut self.main, main).stop().await;
        let token = self.api.token.take();
        self.api = Api::new(&self.main);
        self.api.token = token;
    }

    /// Every stored event of a session, through the paged history endpoint in small pages.
    pub async fn history(&self, id: &str) -> Vec<Value> {
        session_history(&self.api, id, 7).await
    }
}

/// Every event main stores of session `id`, read through the paged history endpoint `limit` at a time.
pub async fn session_history(api: &Api, id: &str, limit: usize) -> Vec<Value> {
    let (mut after, mut all) = (0, Vec::new());
    loop {
        let (status, page) = api
            .get(&format!(
                "/api/v1/sessions/{id}/events?after={after}&limit={limit}"
            ))
            .await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().unwrap().clone();
        if events.is_empty() {
            return all;
        }
        after = page["next_after"].as_u64().unwrap();
        all.extend(events);
    }
}

/// What the node whose state is in `db_dir` (its `database.path`; the agent must be stopped) stores of
/// session `id`: its events as main would serve them, and its status.
pub fn node_session(db_dir: &Path, id: &str) -> (Vec<Value>, SessionStatus) {
    let store = AgentStore::open(db_dir).unwrap();
    let id = uuid::Uuid::parse_str(id).unwrap();
    let events = store
        .events_after(&id, 0, usize::MAX)
        .unwrap()
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    (
        events,
        store
            .meta(&id)
            .unwrap()
            .expect("the node has the session")
            .status,
    )
}

/// The node config the fixture starts `n1` with: pinned to `main`, enrolling with a fresh token, roots at the
/// CLI sandbox, both providers pointed at the pinned CLIs with the sandbox environment.
pub fn node_config(dir: &TempDir, main: &TestMain, env: &CliEnv) -> vibebridge_agent::NodeConfig {
    let mut cfg = TestNode::enrolling(dir.path(), "n1", main, main.ssh);
    with_clis(&mut cfg, env);
    cfg
}

/// Roots `cfg` at the CLI sandbox and points both providers at the pinned CLIs with its environment.
pub fn with_clis(cfg: &mut vibebridge_agent::NodeConfig, env: &CliEnv) {
    cfg.filesystem.roots = vec![env.path().to_path_buf()];
    let vars: BTreeMap<String, String> = env.env().into_iter().collect();
    cfg.providers.claude.command = Some(claude_bin());
    cfg.providers.claude.env = vars.clone();
    cfg.providers.codex.command = Some(codex_bin());
    cfg.providers.codex.env = vars;
}

/// Whether an event has `type` `t`.
pub fn is_type(ev: &Value, t: &str) -> bool {
    ev["type"] == t
}

/// Whether an event is a status change to `s`.
pub fn is_status(ev: &Value, s: &str) -> bool {
    ev["type"] == "status" && ev["status"] == s
}

/// Asserts events carry seqs 1..=n exactly once each, in order.
pub fn assert_contiguous(events: &[Value]) {
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let want: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, want, "event seqs are not 1..=n");
}

/// A prompt that makes the mock answer with one Write of `content` to `path`.
pub fn write_prompt(path: &Path, content: &str) -> String {
    format!(
        "Please write it. [[tool:Write {}]]",
        json!({"file_path": path.display().to_string(), "content": content})
    )
}

/// True while a process whose command line contains `marker` is alive.
pub fn process_alive(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
        std::fs::read(p.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(marker))
            .unwrap_or(false)
    })
}

/// Waits (up to the CLI budget) until a process whose command line contains `marker` runs; panics with
/// `what` otherwise. Polls every 20 ms: each poll scans `/proc`, and spinning on it would starve the CLI
/// being waited for on a small machine.
pub async fn wait_for_process(marker: &str, what: &str) {
    tokio::time::timeout(crate::mock::CLI_WAIT, async {
        while !process_alive(marker) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect(what);
}

/// An executable `/bin/sh` script named `name` (a stand-in for a CLI) in its own directory, removed with it.
pub fn wrapper_script(name: &str, body: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new(&format!("{name}-wrapper"));
    let path = dir.path().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (dir, path)
}

/// An agent in a process of its own (the `test-agent` binary), so a test can `kill -9` it. Killed on drop.
pub struct AgentProcess {
    child: tokio::process::Child,
}

impl AgentProcess {
    /// Starts `bin` (the test's `env!("CARGO_BIN_EXE_test-agent")`) with `config`, written next to its state.
    pub fn start(bin: &str, config: vibebridge_agent::NodeConfig) -> AgentProcess {
        Self::spawn(bin, config, None)
    }

    /// [`AgentProcess::start`] with the agent's log at `filter` (an `EnvFilter`) sent line by line to `lines`.
    pub fn start_logging(
        bin: &str,
        config: vibebridge_agent::NodeConfig,
        filter: &str,
        lines: tokio::sync::mpsc::UnboundedSender<String>,
    ) -> AgentProcess {
        Self::spawn(bin, config, Some((filter, lines)))
    }

    fn spawn(
        bin: &str,
        mut config: vibebridge_agent::NodeConfig,
        log: Option<(&str, tokio::sync::mpsc::UnboundedSender<String>)>,
    ) -> AgentProcess {
        use tokio::io::AsyncBufReadExt;
        config.server.port = 0;
        std::fs::create_dir_all(&config.database.path).unwrap();
        let file = config.database.path.with_extension("toml");
        std::fs::write(&file, toml::to_string(&config).unwrap()).unwrap();
        let mut cmd = tokio::process::Command::new(bin);
        cmd.arg(&file)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        if let Some((filter, _)) = &log {
            // The test log writer prints to stdout.
            cmd.env("VB_TEST_LOG", filter)
                .stdout(std::process::Stdio::piped());
        }
        let mut child = cmd.spawn().unwrap();
        if let Some((_, tx)) = log {
            let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
            tokio::spawn(async move {
                while let Ok(Some(line)) = out.next_line().await {
                    let _ = tx.send(line);
                }
            });
        }
        AgentProcess { child }
    }

    /// `kill -9`: the agent dies without flushing or ending anything; its CLIs are orphaned.
    pub async fn kill9(mut self) {
        self.child.kill().await.unwrap();
    }

    /// SIGTERM, then waits for the agent to end (it stops its CLIs and flushes its store).
    pub async fn stop(mut self) {
        crate::sigterm_and_wait(&mut self.child, "the agent").await;
    }
}

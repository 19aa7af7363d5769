//! Agent sessions end to end: the real, pinned `claude` and `codex` CLIs on a node, driven through main's
//! API over the real tunnel, against the mock model APIs; events followed through main's SSE stream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use vibebridge_tests::mock::{CLI_WAIT, CliEnv, MockAnthropic, MockOpenAi, claude_bin, codex_bin};
use vibebridge_tests::{Api, SseReader, TempDir, TestMain, TestNode, WsClient};
use vibebridge_tunnel::config::Secret;

/// Main, one node with both providers pointed at the mocks, and a logged-in user.
struct Fx {
    dir: TempDir,
    main: TestMain,
    node: Option<TestNode>,
    api: Api,
    env: CliEnv,
    claude: MockAnthropic,
    openai: MockOpenAi,
    repo: PathBuf,
}

impl Fx {
    async fn new(tag: &str) -> Fx {
        Self::with(tag, |_| {}).await
    }

    async fn with(tag: &str, tweak: impl FnOnce(&mut vibebridge_agent::NodeConfig)) -> Fx {
        let dir = TempDir::new(&format!("sess-{tag}"));
        let claude = MockAnthropic::start().await;
        let openai = MockOpenAi::start().await;
        let env = CliEnv::new(tag)
            .with_anthropic(&claude)
            .with_openai(&openai);
        let repo = env.git_repo("ws");
        let main = TestMain::start(dir.path()).await;
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
    async fn create(&self, provider: &str, prompt: &str, mode: Option<&str>) -> String {
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

    async fn sse(&self, id: &str) -> SseReader {
        SseReader::open(&self.api, id, 0).await
    }

    async fn message(&self, id: &str, text: &str) {
        let (status, body) = self
            .api
            .post(
                &format!("/api/v1/sessions/{id}/messages"),
                json!({ "text": text }),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }

    async fn decide(&self, id: &str, approval: &str, decision: &str, message: Option<&str>) {
        let (status, body) = self
            .api
            .post(
                &format!("/api/v1/sessions/{id}/approvals/{approval}"),
                json!({ "decision": decision, "message": message }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Every stored event of a session, through the paged history endpoint.
    async fn history(&self, id: &str) -> Vec<Value> {
        let (mut after, mut all) = (0, Vec::new());
        loop {
            let (status, page) = self
                .api
                .get(&format!(
                    "/api/v1/sessions/{id}/events?after={after}&limit=7"
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
}

fn node_config(dir: &TempDir, main: &TestMain, env: &CliEnv) -> vibebridge_agent::NodeConfig {
    let mut cfg = TestNode::config(dir.path(), "n1", main.ssh);
    cfg.node.main_host_key = Some(main.fingerprint.clone());
    cfg.node.register_token = Some(Secret::new(main.token()));
    cfg.filesystem.roots = vec![env.path().to_path_buf()];
    let vars: BTreeMap<String, String> = env.env().into_iter().collect();
    cfg.providers.claude.command = Some(claude_bin());
    cfg.providers.claude.env = vars.clone();
    cfg.providers.codex.command = Some(codex_bin());
    cfg.providers.codex.env = vars;
    cfg
}

fn is_type(ev: &Value, t: &str) -> bool {
    ev["type"] == t
}

fn is_status(ev: &Value, s: &str) -> bool {
    ev["type"] == "status" && ev["status"] == s
}

/// Asserts events carry seqs 1..=n exactly once each, in order.
fn assert_contiguous(events: &[Value]) {
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let want: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, want, "event seqs are not 1..=n");
}

fn write_prompt(path: &Path, content: &str) -> String {
    format!(
        "Please write it. [[tool:Write {}]]",
        json!({"file_path": path.display().to_string(), "content": content})
    )
}

/// True while a process whose command line contains `marker` is alive.
fn process_alive(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
        std::fs::read(p.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(marker))
            .unwrap_or(false)
    })
}

/// Proves a Claude session writes a file through the real CLI, streams normalised events (tool call, diff,
/// usage, completed turn) over SSE, and records the provider session id and usage on the session.
#[tokio::test]
async fn claude_writes_a_file() {
    let fx = Fx::new("cwrite").await;
    let target = fx.repo.join("hello.txt");
    let id = fx
        .create(
            "claude",
            &write_prompt(&target, "hello from mock\n"),
            Some("acceptEdits"),
        )
        .await;
    let mut sse = fx.sse(&id).await;
    let events = sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "hello from mock\n"
    );
    let call = events.iter().find(|e| is_type(e, "tool_call")).unwrap();
    assert_eq!(
        (call["name"].as_str(), call["kind"].as_str()),
        (Some("Write"), Some("file_edit"))
    );
    let result = events.iter().find(|e| is_type(e, "tool_result")).unwrap();
    assert_eq!(result["status"], "succeeded");
    assert!(
        result["diff"]
            .as_str()
            .unwrap()
            .contains("+hello from mock")
    );
    assert!(events.iter().any(|e| is_type(e, "assistant_message")));
    assert!(
        events
            .iter()
            .any(|e| is_type(e, "turn_completed") && e["is_error"] == false)
    );
    assert_contiguous(&events);
    let (_, s) = fx.api.get(&format!("/api/v1/sessions/{id}")).await;
    assert_eq!(s["status"], "idle");
    assert!(
        s["provider_session_id"]
            .as_str()
            .is_some_and(|p| !p.is_empty())
    );
    assert!(s["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        fx.history(&id).await.len() as u64,
        s["last_seq"].as_u64().unwrap()
    );
}

/// Proves a follow-up message runs a second turn in the same Claude process with the whole history, and
/// that a message sent while a turn runs is queued and then answered.
#[tokio::test]
async fn claude_follow_up_and_queued_message() {
    let fx = Fx::new("cfollow").await;
    let id = fx
        .create("claude", "First question [[gate:first]]", None)
        .await;
    let mut sse = fx.sse(&id).await;
    fx.claude.wait_held("first").await;
    // The turn is running: this one queues.
    let (status, body) = fx
        .api
        .post(
            &format!("/api/v1/sessions/{id}/messages"),
            json!({"text": "Second question [[text:second answer]]"}),
        )
        .await;
    assert_eq!(
        (status, body["queued"].as_bool()),
        (202, Some(true)),
        "{body}"
    );
    fx.claude.release("first");
    let events = sse
        .until(CLI_WAIT, |e| {
            is_type(e, "assistant_message") && e["text"] == "second answer"
        })
        .await;
    assert_eq!(
        events.iter().filter(|e| is_type(e, "user_message")).count(),
        2
    );
    let requests = fx.claude.model_requests();
    let last = requests.last().unwrap().body.to_string();
    assert!(last.contains("First question"), "history missing: {last}");
}

/// Proves Claude's permission prompts become approvals in main's inbox: allow lets the Write run, deny (with a
/// reason) refuses the next one, and both resolutions are recorded.
#[tokio::test]
async fn claude_approval_allow_and_deny() {
    let fx = Fx::new("capprove").await;
    let allowed = fx.repo.join("allowed.txt");
    let denied = fx.repo.join("denied.txt");
    let id = fx
        .create("claude", &write_prompt(&allowed, "yes\n"), Some("default"))
        .await;
    let mut sse = fx.sse(&id).await;
    let events = sse
        .until(CLI_WAIT, |e| is_type(e, "approval_requested"))
        .await;
    let ask = events.last().unwrap();
    assert_eq!(ask["tool"], "Write");
    let (_, inbox) = fx.api.get("/api/v1/approvals").await;
    assert_eq!(inbox.as_array().unwrap().len(), 1, "{inbox}");
    assert_eq!(inbox[0]["approval_id"], ask["approval_id"]);
    let (_, s) = fx.api.get(&format!("/api/v1/sessions/{id}")).await;
    assert_eq!(s["status"], "waiting_for_approval");
    fx.decide(&id, ask["approval_id"].as_str().unwrap(), "allow", None)
        .await;
    sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    assert_eq!(std::fs::read_to_string(&allowed).unwrap(), "yes\n");
    let (_, inbox) = fx.api.get("/api/v1/approvals").await;
    assert!(inbox.as_array().unwrap().is_empty(), "{inbox}");

    fx.message(&id, &write_prompt(&denied, "no\n")).await;
    let events = sse
        .until(CLI_WAIT, |e| is_type(e, "approval_requested"))
        .await;
    let ask = events.last().unwrap().clone();
    fx.decide(
        &id,
        ask["approval_id"].as_str().unwrap(),
        "deny",
        Some("not this file"),
    )
    .await;
    let events = sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    assert!(!denied.exists());
    assert!(
        events
            .iter()
            .any(|e| is_type(e, "approval_resolved") && e["resolution"] == "denied")
    );
    assert!(
        events
            .iter()
            .any(|e| is_type(e, "tool_result") && e["status"] == "denied")
    );
    // A decided approval cannot be decided again.
    let (status, _) = fx
        .api
        .post(
            &format!(
                "/api/v1/sessions/{id}/approvals/{}",
                ask["approval_id"].as_str().unwrap()
            ),
            json!({"decision": "allow"}),
        )
        .await;
    assert_eq!(status, 404);
}

/// Proves stop interrupts a running Bash tool, ends the CLI's whole process group (no orphaned command) and
/// leaves the session `stopped`; a new message then resumes it.
#[tokio::test]
async fn claude_stop_mid_tool() {
    let fx = Fx::new("cstop").await;
    let marker = format!("time.sleep(41.{})", std::process::id());
    let id = fx
        .create(
            "claude",
            &format!("Run it. [[shell:python3 -c 'import time; {marker}']]"),
            Some("bypassPermissions"),
        )
        .await;
    let mut sse = fx.sse(&id).await;
    sse.until(CLI_WAIT, |e| is_type(e, "tool_call")).await;
    // The tool_call event precedes the command; wait for the command itself to be running.
    tokio::time::timeout(CLI_WAIT, async {
        while !process_alive(&marker) {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the Bash command never started");
    let (status, _) = fx
        .api
        .post(&format!("/api/v1/sessions/{id}/stop"), json!({}))
        .await;
    assert_eq!(status, 202);
    sse.until(CLI_WAIT, |e| is_status(e, "stopped")).await;
    assert!(!process_alive(&marker), "the tool's process outlived stop");
    fx.message(&id, "Are you there? [[text:resumed]]").await;
    sse.until(CLI_WAIT, |e| {
        is_type(e, "assistant_message") && e["text"] == "resumed"
    })
    .await;
}

/// Proves Codex app-server command approvals: accept runs the command (output and exit code in the result),
/// a follow-up in the same thread is declined and the command does not run.
#[tokio::test]
async fn codex_command_approval_accept_and_decline() {
    let fx = Fx::new("xapprove").await;
    let id = fx
        .create(
            "codex",
            "Write [[shell:echo approved > approved.txt; cat approved.txt]]",
            Some("untrusted"),
        )
        .await;
    let mut sse = fx.sse(&id).await;
    let events = sse
        .until(CLI_WAIT, |e| is_type(e, "approval_requested"))
        .await;
    let ask = events.last().unwrap().clone();
    assert_eq!(ask["kind"], "command");
    fx.decide(&id, ask["approval_id"].as_str().unwrap(), "allow", None)
        .await;
    let events = sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    let result = events.iter().find(|e| is_type(e, "tool_result")).unwrap();
    assert_eq!(
        (result["status"].as_str(), result["exit_code"].as_i64()),
        (Some("succeeded"), Some(0))
    );
    assert!(result["output"].as_str().unwrap().contains("approved"));
    assert!(fx.repo.join("approved.txt").exists());

    fx.message(&id, "Again [[shell:echo nope > declined.txt]]")
        .await;
    let events = sse
        .until(CLI_WAIT, |e| is_type(e, "approval_requested"))
        .await;
    let ask = events.last().unwrap().clone();
    fx.decide(&id, ask["approval_id"].as_str().unwrap(), "deny", None)
        .await;
    let events = sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    assert!(
        events
            .iter()
            .any(|e| is_type(e, "tool_result") && e["status"] == "denied")
    );
    assert!(!fx.repo.join("declined.txt").exists());
    let (_, s) = fx.api.get(&format!("/api/v1/sessions/{id}")).await;
    assert_eq!(s["usage"]["turns"], 2);
}

/// Proves stopping a Codex turn whose command runs ends the command too (turn/interrupt alone would leave
/// it), and the session is `stopped`.
#[tokio::test]
async fn codex_stop_kills_the_command() {
    let fx = Fx::new("xstop").await;
    let marker = format!("time.sleep(42.{})", std::process::id());
    let id = fx
        .create(
            "codex",
            &format!("Run [[shell:python3 -c 'import time; {marker}']]"),
            Some("never"),
        )
        .await;
    let mut sse = fx.sse(&id).await;
    sse.until(CLI_WAIT, |e| is_type(e, "tool_call")).await;
    tokio::time::timeout(CLI_WAIT, async {
        while !process_alive(&marker) {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the command never started");
    fx.api
        .post(&format!("/api/v1/sessions/{id}/stop"), json!({}))
        .await;
    sse.until(CLI_WAIT, |e| is_status(e, "stopped")).await;
    assert!(!process_alive(&marker), "the command outlived stop");
}

/// Proves the exec fallback: when `codex app-server` cannot start, the session runs through
/// `codex exec --json`, says so in an error event, and the command still runs.
#[tokio::test]
async fn codex_exec_fallback() {
    let wrapper_dir = TempDir::new("codex-wrapper");
    let wrapper = wrapper_dir.path().join("codex");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = app-server ] && {{ echo 'app-server disabled for this test' >&2; exit 2; }}; done\nexec {} \"$@\"\n",
            codex_bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let w = wrapper.clone();
    let fx = Fx::with("xexec", move |c| c.providers.codex.command = Some(w)).await;
    let id = fx
        .create(
            "codex",
            "Write [[shell:echo ww > out.txt; cat out.txt]]",
            None,
        )
        .await;
    let mut sse = fx.sse(&id).await;
    let events = sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    assert!(
        events
            .iter()
            .any(|e| is_type(e, "error") && e["message"].as_str().unwrap().contains("codex exec"))
    );
    let result = events.iter().find(|e| is_type(e, "tool_result")).unwrap();
    assert_eq!(result["exit_code"], 0);
    assert_eq!(
        std::fs::read_to_string(fx.repo.join("out.txt")).unwrap(),
        "ww\n"
    );
    // A follow-up resumes the same thread with a new exec process.
    fx.message(&id, "More [[text:exec follow-up]]").await;
    sse.until(CLI_WAIT, |e| {
        is_type(e, "assistant_message") && e["text"] == "exec follow-up"
    })
    .await;
}

/// Proves a tunnel cut mid-turn loses and doubles nothing: the CLI keeps running on the node, main
/// re-attaches from its last seq, and an SSE client sees every seq exactly once.
#[tokio::test]
async fn tunnel_cut_mid_turn_keeps_events_contiguous() {
    let fx = Fx::new("cut").await;
    let id = fx.create("claude", "Slowly [[gate:cut]]", None).await;
    let mut sse = fx.sse(&id).await;
    fx.claude.wait_held("cut").await;
    let generation = fx.main.wait_online("n1").await;
    assert!(fx.main.state.registry.disconnect("n1"));
    fx.main.wait_link("n1", |g| g > generation).await;
    fx.claude.release("cut");
    let events = sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    assert_contiguous(&events);
    assert_contiguous(&fx.history(&id).await);
}

/// Proves a main restart mid-turn loses and doubles nothing: the turn finishes on the node while main is
/// down or reconnecting, and main's history afterwards is 1..=n with the final events in it.
#[tokio::test]
async fn main_restart_mid_turn_keeps_events_contiguous() {
    let mut fx = Fx::new("mrestart").await;
    let id = fx.create("claude", "Slowly [[gate:restart]]", None).await;
    fx.claude.wait_held("restart").await;
    let ssh = fx.main.ssh;
    let main = std::mem::replace(
        &mut fx.main,
        TestMain::start(&fx.dir.path().join("unused")).await,
    );
    main.stop().await;
    fx.claude.release("restart");
    let old = std::mem::replace(
        &mut fx.main,
        TestMain::start_with(fx.dir.path(), Some(ssh), |_| {}).await,
    );
    old.stop().await;
    fx.main.wait_online("n1").await;
    fx.api = {
        let mut api = Api::new(&fx.main);
        api.token = fx.api.token.clone();
        api
    };
    let mut sse = fx.sse(&id).await;
    let events = sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    assert_contiguous(&events);
    assert!(events.iter().any(|e| is_type(e, "turn_completed")));
}

/// Proves an agent restart marks the running session interrupted (its CLI died with the agent), and the next
/// message resumes it through the CLI's own resume with the earlier conversation.
#[tokio::test]
async fn agent_restart_interrupts_then_resumes() {
    let mut fx = Fx::new("arestart").await;
    let id = fx
        .create("claude", "Remember the word pelican [[text:noted]]", None)
        .await;
    let mut sse = fx.sse(&id).await;
    sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    fx.message(&id, "Think slowly [[gate:never]]").await;
    fx.claude.wait_held("never").await;
    let generation = fx.main.wait_online("n1").await;
    fx.node.take().unwrap().stop().await;
    let cfg = node_config(&fx.dir, &fx.main, &fx.env);
    fx.node = Some(TestNode::start(cfg));
    fx.main.wait_link("n1", |g| g > generation).await;
    sse.until(CLI_WAIT, |e| is_status(e, "interrupted")).await;
    fx.message(&id, "What was the word? [[text:pelican again]]")
        .await;
    sse.until(CLI_WAIT, |e| {
        is_type(e, "assistant_message") && e["text"] == "pelican again"
    })
    .await;
    let last = fx.claude.model_requests().last().unwrap().body.to_string();
    assert!(
        last.contains("Remember the word pelican"),
        "not resumed: {last}"
    );
    assert_contiguous(&fx.history(&id).await);
}

/// Proves a malformed line from the CLI becomes an error event (kept raw) and the session goes on.
#[tokio::test]
async fn malformed_cli_line_is_an_error_not_a_crash() {
    let wrapper_dir = TempDir::new("claude-wrapper");
    let wrapper = wrapper_dir.path().join("claude");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho 'this is {{not json'\nexec {} \"$@\"\n",
            claude_bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let w = wrapper.clone();
    let fx = Fx::with("cbadline", move |c| c.providers.claude.command = Some(w)).await;
    let id = fx.create("claude", "Hello [[text:still fine]]", None).await;
    let mut sse = fx.sse(&id).await;
    let events = sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    assert!(
        events
            .iter()
            .any(|e| is_type(e, "error") && e["message"].as_str().unwrap().contains("not JSON"))
    );
    assert!(events.iter().any(|e| is_type(e, "raw")));
    assert!(
        events
            .iter()
            .any(|e| is_type(e, "assistant_message") && e["text"] == "still fine")
    );
}

/// Proves creation fails clearly, and stores nothing, when the CLI is missing on the node, the path is outside
/// its roots or missing, the node is unknown, or the provider name is wrong.
#[tokio::test]
async fn creation_errors_are_clear() {
    let fx = Fx::with("errors", |c| {
        c.providers.codex.command = Some(PathBuf::from("/nonexistent/codex"));
    })
    .await;
    let repo = fx.repo.display().to_string();
    let cases = [
        (
            json!({"node_id": "n1", "path": repo, "provider": "codex", "prompt": "hi"}),
            400,
            "provider_unavailable",
        ),
        (
            json!({"node_id": "n1", "path": "/", "provider": "claude", "prompt": "hi"}),
            400,
            "path_outside_roots",
        ),
        (
            json!({"node_id": "n1", "path": format!("{repo}/missing"), "provider": "claude", "prompt": "hi"}),
            400,
            "path_not_found",
        ),
        (
            json!({"node_id": "nope", "path": repo, "provider": "claude", "prompt": "hi"}),
            404,
            "not_found",
        ),
        (
            json!({"node_id": "n1", "path": repo, "provider": "gemini", "prompt": "hi"}),
            400,
            "bad_request",
        ),
        (
            json!({"node_id": "n1", "path": repo, "provider": "claude", "prompt": "hi", "model": "--evil"}),
            400,
            "bad_request",
        ),
    ];
    for (body, status, code) in cases {
        let (got, reply) = fx.api.post("/api/v1/sessions", body.clone()).await;
        assert_eq!(
            (got, reply["error"]["code"].as_str()),
            (status, Some(code)),
            "{body} → {reply}"
        );
        assert!(!reply["error"]["message"].as_str().unwrap().is_empty());
    }
    let (_, reply) = fx
        .api
        .post(
            "/api/v1/sessions",
            json!({"node_id": "n1", "path": repo, "provider": "codex", "prompt": "hi"}),
        )
        .await;
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("codex is not installed"),
        "{reply}"
    );
    let (_, list) = fx.api.get("/api/v1/sessions").await;
    assert!(list.as_array().unwrap().is_empty(), "{list}");
    drop(fx.openai);
}

/// Proves the browser WebSocket replays a session from `after_seq` in order and then follows it live, answers
/// bad frames with an error without closing, hides other users' sessions, and refuses unauthenticated and
/// cross-origin upgrades.
#[tokio::test]
async fn websocket_replays_then_follows() {
    let fx = Fx::new("ws").await;
    let id = fx.create("claude", "Hi [[text:first]]", None).await;
    let mut sse = fx.sse(&id).await;
    sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;

    let mut ws = WsClient::connect(&fx.api).await.unwrap();
    ws.send_text("not json at all").await;
    let err = ws.next().await;
    assert_eq!(err["type"], "error", "{err}");
    ws.send_text(r#"{"type":"ping"}"#).await;
    assert_eq!(ws.next().await["type"], "pong");
    ws.send_text(
        &json!({"type": "subscribe", "session_id": "01a1fd77-0000-7000-8000-000000000000"})
            .to_string(),
    )
    .await;
    assert_eq!(ws.next().await["type"], "error");

    ws.send_text(&json!({"type": "subscribe", "session_id": id, "after_seq": 2}).to_string())
        .await;
    assert_eq!(ws.next().await["type"], "subscribed");
    let (_, s) = fx.api.get(&format!("/api/v1/sessions/{id}")).await;
    let last = s["last_seq"].as_u64().unwrap();
    for want in 3..=last {
        let frame = ws.next().await;
        assert_eq!(
            (frame["type"].as_str(), frame["event"]["seq"].as_u64()),
            (Some("event"), Some(want)),
            "{frame}"
        );
    }
    // Live: a follow-up's events arrive on the same subscription, still in order.
    fx.message(&id, "Again [[text:second]]").await;
    let mut seq = last;
    loop {
        let frame = ws.next().await;
        assert_eq!(frame["event"]["seq"].as_u64(), Some(seq + 1), "{frame}");
        seq += 1;
        if frame["event"]["type"] == "assistant_message" && frame["event"]["text"] == "second" {
            break;
        }
    }

    // Another user sees nothing of alice's session; no token, no upgrade.
    let mut bob = Api::new(&fx.main);
    bob.auth(true, "bob", "another long password").await;
    let (status, _) = fx.api.post("/api/v1/users/bob/approve", json!({})).await;
    assert_eq!(status, 200);
    let mut bob = {
        let mut a = Api::new(&fx.main);
        a.auth(false, "bob", "another long password").await;
        a
    };
    let (status, _) = bob.get(&format!("/api/v1/sessions/{id}")).await;
    assert_eq!(status, 404);
    let mut ws_bob = WsClient::connect(&bob).await.unwrap();
    ws_bob
        .send_text(&json!({"type": "subscribe", "session_id": id}).to_string())
        .await;
    assert_eq!(ws_bob.next().await["type"], "error");
    bob.token = None;
    assert!(WsClient::connect(&bob).await.is_err());

    // A page from another origin cannot open it with the user's credentials.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{}/api/v1/ws", fx.main.http)
        .into_client_request()
        .unwrap();
    let auth = format!("Bearer {}", fx.api.token.clone().unwrap());
    req.headers_mut()
        .insert("authorization", auth.parse().unwrap());
    req.headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_err());
}

/// Proves a pending approval survives a tunnel cut: it stays in the inbox while the node reconnects, and
/// answering it afterwards lets the tool run.
#[tokio::test]
async fn pending_approval_survives_tunnel_cut() {
    let fx = Fx::new("approvecut").await;
    let target = fx.repo.join("after-cut.txt");
    let id = fx
        .create(
            "claude",
            &write_prompt(&target, "survived\n"),
            Some("default"),
        )
        .await;
    let mut sse = fx.sse(&id).await;
    let events = sse
        .until(CLI_WAIT, |e| is_type(e, "approval_requested"))
        .await;
    let approval = events.last().unwrap()["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    let generation = fx.main.wait_online("n1").await;
    assert!(fx.main.state.registry.disconnect("n1"));
    fx.main.wait_link("n1", |g| g > generation).await;
    let (_, inbox) = fx.api.get("/api/v1/approvals").await;
    assert_eq!(inbox[0]["approval_id"], approval.as_str(), "{inbox}");
    fx.decide(&id, &approval, "allow", None).await;
    let events = sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "survived\n");
    assert_contiguous(&fx.history(&id).await);
    assert!(
        events
            .iter()
            .any(|e| is_type(e, "approval_resolved") && e["resolution"] == "allowed")
    );
}

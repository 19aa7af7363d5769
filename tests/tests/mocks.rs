//! The real, pinned `claude` and `codex` CLIs against the mock model APIs, with no VibeBridge in between: proves
//! the mocks speak the providers' wire formats well enough for the CLIs' headless modes, and pins the CLI
//! behaviour the session runtime relies on (stream-json records, permission prompts, codex exec events, codex
//! app-server approvals).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use vibebridge_tests::mock::{CLI_WAIT, CliEnv, MockAnthropic, MockOpenAi};

/// Runs a command to completion (stdin null), failing the test after [`CLI_WAIT`].
async fn run(mut cmd: tokio::process::Command) -> Output {
    tokio::time::timeout(CLI_WAIT, cmd.output())
        .await
        .expect("the CLI did not finish in time")
        .expect("the CLI could not be started")
}

/// Parses stdout as JSON lines, skipping anything else.
fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A short, readable dump of a run for assertion messages.
fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A running CLI spoken to in JSON lines over stdin/stdout; stderr is drained in the background (so a chatty
/// CLI never blocks on a full pipe) and shown when something goes wrong.
struct JsonPeer {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl JsonPeer {
    fn spawn(mut cmd: tokio::process::Command) -> JsonPeer {
        cmd.stdin(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("the CLI could not be started");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut err, sink) = (child.stderr.take().unwrap(), stderr.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        JsonPeer {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    async fn send(&mut self, msg: Value) {
        let line = format!("{msg}\n");
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// Reads lines until one matches `pred`; panics (showing what was seen) on timeout or end of output.
    async fn until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + CLI_WAIT;
        loop {
            let line = match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Ok(Ok(Some(line))) => line,
                Ok(_) => panic!("output ended before {what}\n{}", self.dump()),
                Err(_) => panic!("timed out waiting for {what}\n{}", self.dump()),
            };
            self.seen.push(line.chars().take(400).collect());
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && pred(&v)
            {
                return v;
            }
        }
    }

    fn dump(&self) -> String {
        let from = self.seen.len().saturating_sub(30);
        format!(
            "last stdout lines:\n{}\nstderr:\n{}",
            self.seen[from..].join("\n"),
            self.stderr.lock().unwrap()
        )
    }
}

/// Proves claude -p runs a scripted Write tool against the mock (acceptEdits), writes the file, and reports success.
#[tokio::test]
async fn claude_print_writes_file_with_accept_edits() {
    let mock = MockAnthropic::start().await;
    let env = CliEnv::new("claude-write").with_anthropic(&mock);
    let repo = env.git_repo("ws");
    let file = repo.join("hello.txt");
    let input = json!({"file_path": file, "content": "hello from mock\n"});
    let prompt = format!("Please create the file. [[tool:Write {input}]]");
    let mut cmd = env.claude(&repo);
    cmd.args(["-p", &prompt, "--output-format", "stream-json", "--verbose"])
        .args(["--permission-mode", "acceptEdits"]);
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        std::fs::read_to_string(&file).ok().as_deref(),
        Some("hello from mock\n")
    );

    let records = json_lines(&out);
    let result = records.last().expect("no output");
    assert_eq!(result["type"], "result", "{}", describe(&out));
    assert_eq!(
        (&result["subtype"], &result["is_error"]),
        (&json!("success"), &json!(false))
    );
    let text = result["result"].as_str().unwrap();
    assert!(
        text.starts_with("MOCK DONE: File created successfully"),
        "{text}"
    );
    assert!(records.iter().any(|r| r["type"] == "assistant"
        && r["message"]["content"][0]["type"] == "tool_use"
        && r["message"]["content"][0]["name"] == "Write"));

    let reqs = mock.requests();
    assert!(
        reqs.iter().all(|r| r.model),
        "unexpected non-model requests: {reqs:?}"
    );
    assert_eq!(
        reqs.len(),
        2,
        "one request for the tool, one after its result"
    );
    let first = &reqs[0];
    assert_eq!(
        (
            first.method.as_str(),
            first.path.as_str(),
            first.query.as_deref()
        ),
        ("POST", "/v1/messages", Some("beta=true"))
    );
    assert_eq!(first.header("x-api-key"), Some("sk-ant-mock"));
    assert_eq!(first.body["stream"], true);
    let last = reqs[1].body["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(last["content"][0]["type"], "tool_result");
}

/// Proves the approval wire: with --permission-prompt-tool stdio, claude asks the host (can_use_tool) before a
/// Write, and an allow answer lets it write the file and finish the turn.
#[tokio::test]
async fn claude_stdio_permission_prompt_round_trip() {
    let mock = MockAnthropic::start().await;
    let env = CliEnv::new("claude-perm").with_anthropic(&mock);
    let repo = env.git_repo("ws");
    let file = repo.join("allowed.txt");
    let mut cmd = env.claude(&repo);
    cmd.args([
        "-p",
        "--input-format",
        "stream-json",
        "--output-format",
        "stream-json",
    ])
    .args(["--verbose", "--permission-prompt-tool", "stdio"]);
    let mut claude = JsonPeer::spawn(cmd);

    let input = json!({"file_path": file, "content": "allowed\n"});
    let text = format!("Write please [[tool:Write {input}]]");
    claude
        .send(json!({
            "type": "user",
            "message": {"role": "user", "content": [{"type": "text", "text": text}]},
            "parent_tool_use_id": null,
            "session_id": "",
        }))
        .await;
    let ask = claude
        .until("a can_use_tool control_request", |v| {
            v["type"] == "control_request" && v["request"]["subtype"] == "can_use_tool"
        })
        .await;
    assert_eq!(ask["request"]["tool_name"], "Write");
    assert_eq!(ask["request"]["input"], input);
    assert!(!file.exists(), "written before it was allowed");
    claude
        .send(json!({
            "type": "control_response",
            "response": {
                "subtype": "success",
                "request_id": ask["request_id"],
                "response": {"behavior": "allow", "updatedInput": ask["request"]["input"]},
            },
        }))
        .await;
    let result = claude.until("the result", |v| v["type"] == "result").await;
    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(
        std::fs::read_to_string(&file).ok().as_deref(),
        Some("allowed\n")
    );

    // Closing stdin ends the session; the process exits by itself.
    drop(claude.stdin);
    let status = tokio::time::timeout(CLI_WAIT, claude.child.wait())
        .await
        .expect("claude did not exit after stdin closed")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// Proves codex exec runs a scripted exec_command inside the workspace-write bwrap sandbox and reports the
/// command_execution with its output, then the mock's final text carrying the tool output.
#[tokio::test]
async fn codex_exec_runs_shell_in_workspace_write_sandbox() {
    let mock = MockOpenAi::start().await;
    let env = CliEnv::new("codex-exec").with_openai(&mock);
    let repo = env.git_repo("ws");
    let mut cmd = env.codex(&repo);
    cmd.args(["exec", "--json", "--sandbox", "workspace-write"])
        .arg("Run it [[shell:echo hi > out.txt; cat out.txt]]");
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        std::fs::read_to_string(repo.join("out.txt"))
            .ok()
            .as_deref(),
        Some("hi\n")
    );

    let events = json_lines(&out);
    let done = |kind: &str| {
        events
            .iter()
            .find(|e| e["type"] == "item.completed" && e["item"]["type"] == kind)
            .unwrap_or_else(|| panic!("no completed {kind}\n{}", describe(&out)))
    };
    let exec = &done("command_execution")["item"];
    assert_eq!(
        (&exec["aggregated_output"], &exec["exit_code"]),
        (&json!("hi\n"), &json!(0)),
        "{exec}"
    );
    assert!(exec["command"].as_str().unwrap().contains("echo hi"));
    let message = done("agent_message")["item"]["text"].as_str().unwrap();
    assert!(
        message.starts_with("MOCK DONE: ") && message.contains("hi"),
        "{message}"
    );
    assert!(events.iter().any(|e| e["type"] == "turn.completed"));

    let reqs = mock.wait_for_requests(2).await;
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(
        reqs[0].header("authorization"),
        Some("Bearer sk-mock-openai")
    );
    let tools: Vec<&str> = reqs[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(tools.contains(&"exec_command"), "tools offered: {tools:?}");
    let last = reqs[1].body["input"].as_array().unwrap().last().unwrap();
    assert_eq!(last["type"], "function_call_output");
}

/// Proves codex app-server asks the client to approve a command (approvalPolicy untrusted), and runs it once the
/// client accepts.
#[tokio::test]
async fn codex_app_server_asks_approval_for_command() {
    let mock = MockOpenAi::start().await;
    let env = CliEnv::new("codex-app").with_openai(&mock);
    let repo = env.git_repo("ws");
    let mut cmd = env.codex(&repo);
    cmd.arg("app-server");
    let mut codex = JsonPeer::spawn(cmd);

    codex
        .send(json!({"id": 1, "method": "initialize", "params": {
            "clientInfo": {"name": "vibebridge-tests", "title": "tests", "version": "0.0.1"},
        }}))
        .await;
    codex.until("initialize", |v| v["id"] == 1).await;
    codex.send(json!({"method": "initialized"})).await;
    codex
        .send(json!({"id": 2, "method": "thread/start", "params": {
            "cwd": repo, "approvalPolicy": "untrusted", "sandbox": "workspace-write",
        }}))
        .await;
    let started = codex.until("thread/start", |v| v["id"] == 2).await;
    let thread = started["result"]["thread"]["id"].clone();
    assert!(thread.is_string(), "{started}");
    codex
        .send(json!({"id": 3, "method": "turn/start", "params": {
            "threadId": thread,
            "input": [{"type": "text", "text": "Write [[shell:echo approved > approved.txt]]"}],
        }}))
        .await;
    let ask = codex
        .until("a command approval request", |v| {
            v["method"] == "item/commandExecution/requestApproval"
        })
        .await;
    assert!(
        ask["params"]["command"]
            .as_str()
            .unwrap()
            .contains("echo approved"),
        "{ask}"
    );
    assert!(!repo.join("approved.txt").exists(), "ran before approval");
    codex
        .send(json!({"id": ask["id"], "result": {"decision": "accept"}}))
        .await;
    let done = codex
        .until("turn/completed", |v| v["method"] == "turn/completed")
        .await;
    assert_eq!(done["params"]["turn"]["status"], "completed", "{done}");
    assert_eq!(
        std::fs::read_to_string(repo.join("approved.txt"))
            .ok()
            .as_deref(),
        Some("approved\n")
    );
}

/// Proves a gated reply holds the real claude mid-request (stream open, no result) until the test releases it,
/// and that killing the CLI there is seen by the mock as a dropped stream.
#[tokio::test]
async fn claude_waits_at_gate_until_released() {
    let mock = MockAnthropic::start().await;
    let env = CliEnv::new("claude-gate").with_anthropic(&mock);
    let repo = env.git_repo("ws");
    let mut held = env.claude(&repo);
    held.args([
        "-p",
        "Wait [[gate:first]]",
        "--output-format",
        "stream-json",
        "--verbose",
    ]);
    let mut held = held.spawn().unwrap();
    mock.wait_held("first").await;
    assert!(
        held.try_wait().unwrap().is_none(),
        "claude finished while held"
    );
    held.start_kill().unwrap();
    held.wait().await.unwrap();
    mock.wait_disconnects(1).await;

    let mut cmd = env.claude(&repo);
    cmd.args([
        "-p",
        "Again [[gate:second]] [[slow:20]]",
        "--output-format",
        "stream-json",
    ])
    .args(["--verbose", "--include-partial-messages"]);
    let child = cmd.spawn().unwrap();
    mock.wait_held("second").await;
    mock.release("second");
    let out = tokio::time::timeout(CLI_WAIT, child.wait_with_output())
        .await
        .expect("claude did not finish after the release")
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let records = json_lines(&out);
    let deltas = records
        .iter()
        .filter(|r| r["event"]["delta"]["type"] == "text_delta")
        .count();
    assert!(
        deltas > 1,
        "[[slow]] should stream several deltas\n{}",
        describe(&out)
    );
    let result = records.last().unwrap();
    assert_eq!(
        result["result"],
        "MOCK REPLY: Again [[gate:second]] [[slow:20]]"
    );
}

/// Proves the codex-only directives: a reasoning item, then an apply_patch custom tool call that codex applies
/// as a file_change.
#[tokio::test]
async fn codex_exec_applies_patch_after_reasoning() {
    let mock = MockOpenAi::start().await;
    let env = CliEnv::new("codex-patch").with_openai(&mock);
    let repo = env.git_repo("ws");
    let patch = "*** Begin Patch\n*** Add File: patched.txt\n+patched\n*** End Patch";
    let mut cmd = env.codex(&repo);
    cmd.args(["exec", "--json", "--sandbox", "workspace-write"])
        .arg(format!(
            "Plan then patch [[thinking:Planning the patch]] [[patch:{patch}]]"
        ));
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        std::fs::read_to_string(repo.join("patched.txt"))
            .ok()
            .as_deref(),
        Some("patched\n")
    );
    let events = json_lines(&out);
    let completed: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "item.completed")
        .map(|e| &e["item"])
        .collect();
    assert_eq!(completed[0]["type"], "reasoning", "{}", describe(&out));
    assert_eq!(completed[0]["text"], "Planning the patch");
    assert_eq!(completed[1]["type"], "file_change");
    assert_eq!(completed[1]["changes"][0]["kind"], "add");
    let last = mock.model_requests()[1].body["input"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(last["type"], "custom_tool_call_output", "{last}");
}

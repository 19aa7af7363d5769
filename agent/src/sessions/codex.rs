//! Codex: `codex app-server` (JSON-RPC over stdio: initialize → thread/start or thread/resume →
//! turn/start; approvals arrive as server requests; turn/interrupt), and `codex exec --json` as the
//! fallback when the app-server cannot start (one process per turn, no approvals).
//!
//! `turn/interrupt` alone leaves a running command alive, so a stop ends the app-server (its whole process
//! group); the next message resumes the thread in a new one.

use std::collections::HashMap;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vibebridge_tunnel::session::{Decision, EventBody, Provider, ToolKind, ToolStatus, Usage};

use super::driver::{Ask, Backend, Launch, Step};
use super::log::SessionLog;
use super::process::{Proc, Read, Spawn};

/// How long the app-server may take to answer `initialize` and the thread request.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the app-server did not come up.
pub enum StartError {
    /// The app-server itself is unusable (missing subcommand, crashed, no answer): fall back to exec.
    Unavailable(String),
    /// It runs but refused the thread (e.g. resuming an unknown thread): the session fails.
    Failed(String),
}

fn codex_args(launch: &Launch, subcommand: &[&str]) -> Vec<String> {
    let mut args = launch.cfg.args.clone();
    args.extend(subcommand.iter().map(|s| s.to_string()));
    args
}

fn raw(line: &str) -> EventBody {
    EventBody::Raw {
        provider: Provider::Codex,
        line: line.to_string(),
    }
}

fn not_json(line: &str, e: &serde_json::Error) -> EventBody {
    let shown: String = line.chars().take(200).collect();
    EventBody::Error {
        message: format!("codex printed a line that is not JSON ({e}): {shown}"),
    }
}

/// Token totals, to turn Codex's running totals into per-turn usage.
#[derive(Default, Clone, Copy)]
struct Totals {
    input: u64,
    cached: u64,
    output: u64,
}

impl Totals {
    fn from_json(v: &Value) -> Totals {
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        Totals {
            input: n("inputTokens"),
            cached: n("cachedInputTokens"),
            output: n("outputTokens"),
        }
    }

    fn since(self, before: Totals) -> Usage {
        Usage {
            input_tokens: self.input.saturating_sub(before.input),
            output_tokens: self.output.saturating_sub(before.output),
            cached_input_tokens: self.cached.saturating_sub(before.cached),
            cost_usd: None,
        }
    }
}

/// An approval the app-server waits for: the JSON-RPC id to answer.
pub struct PendingRequest {
    rpc_id: Value,
}

/// A running `codex app-server` with one thread.
pub struct AppServer {
    proc: Proc,
    log: Arc<SessionLog>,
    thread_id: String,
    turn_id: Option<String>,
    next_id: u64,
    turn_request: Option<u64>,
    titles: HashMap<String, String>,
    totals: Totals,
    turn_start_totals: Totals,
}

impl AppServer {
    /// Starts the app-server and opens (or resumes) the session's thread.
    pub async fn start(launch: &Launch) -> Result<AppServer, StartError> {
        let log = launch.log.clone();
        let proc = Proc::spawn(Spawn {
            program: &launch.program,
            args: codex_args(launch, &["app-server"]),
            cwd: &launch.cwd,
            env: &launch.cfg.env,
            stdin: true,
            raw_path: launch.raw_path(log.next_execution(), "codex-app-server"),
        })
        .map_err(|e| {
            StartError::Unavailable(format!("could not start {}: {e}", launch.program.display()))
        })?;
        let mut server = AppServer {
            proc,
            log,
            thread_id: String::new(),
            turn_id: None,
            next_id: 1,
            turn_request: None,
            titles: HashMap::new(),
            totals: Totals::default(),
            turn_start_totals: Totals::default(),
        };
        let init = server
            .request(
                "initialize",
                json!({"clientInfo": {"name": "vibebridge", "title": "VibeBridge",
                                      "version": env!("CARGO_PKG_VERSION")}}),
            )
            .await
            .map_err(StartError::Unavailable)?;
        tracing::debug!(user_agent = ?init.get("userAgent"), "codex app-server initialised");
        server
            .proc
            .send(&json!({"method": "initialized"}))
            .await
            .map_err(StartError::Unavailable)?;
        let cwd = launch.cwd.display().to_string();
        let thread = match &launch.resume {
            Some(id) => {
                server
                    .request("thread/resume", json!({"threadId": id, "cwd": cwd}))
                    .await
            }
            None => {
                let mut params = json!({
                    "cwd": cwd,
                    "approvalPolicy": launch.permission_mode.as_deref().unwrap_or("on-request"),
                    "sandbox": "workspace-write",
                });
                if let Some(model) = &launch.model {
                    params["model"] = json!(model);
                }
                server.request("thread/start", params).await
            }
        }
        .map_err(StartError::Failed)?;
        let thread = &thread["thread"];
        server.thread_id = thread["id"]
            .as_str()
            .ok_or_else(|| {
                StartError::Failed("codex answered the thread request without a thread id".into())
            })?
            .to_string();
        server.log.append(EventBody::ProviderSession {
            provider_session_id: server.thread_id.clone(),
            model: thread["model"].as_str().map(str::to_string),
        });
        Ok(server)
    }

    /// Sends a request and reads until its response (during start-up, before any turn).
    async fn request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        self.proc
            .send(&json!({"id": id, "method": method, "params": params}))
            .await?;
        let wait = async {
            loop {
                let line = match self.proc.next_line().await {
                    None => return Err("exited".to_string()),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(line)) => line,
                };
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if v.get("method").is_none() && v.get("id").and_then(Value::as_u64) == Some(id) {
                    return match v.get("error") {
                        Some(err) => Err(err["message"]
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| err.to_string())),
                        None => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
                    };
                }
            }
        };
        match tokio::time::timeout(START_TIMEOUT, wait).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.describe_failure(method, &e)),
            Err(_) => Err(self.describe_failure(method, "no answer within 60 s")),
        }
    }

    fn describe_failure(&self, method: &str, what: &str) -> String {
        let tail = self.proc.stderr_tail();
        let mut msg = format!("codex app-server {method} failed: {what}");
        if !tail.is_empty() {
            msg.push_str(": ");
            msg.push_str(&tail);
        }
        msg
    }

    async fn reply_error(&mut self, id: &Value, message: &str) {
        let reply = json!({"id": id, "error": {"code": -32601, "message": message}});
        if let Err(message) = self.proc.send(&reply).await {
            self.log.append(EventBody::Error { message });
        }
    }

    /// Normalises one app-server message.
    async fn message(&mut self, line: &str, v: Value) -> Step<PendingRequest> {
        let method = v.get("method").and_then(Value::as_str).map(str::to_string);
        let params = &v["params"];
        match (method.as_deref(), v.get("id")) {
            // A response to one of our requests.
            (None, Some(id)) => {
                if let Some(err) = v.get("error") {
                    let message = err["message"]
                        .as_str()
                        .unwrap_or("request failed")
                        .to_string();
                    self.log.append(EventBody::Error {
                        message: format!("codex: {message}"),
                    });
                    if id.as_u64().is_some() && id.as_u64() == self.turn_request {
                        self.turn_request = None;
                        self.log.append(EventBody::TurnCompleted {
                            is_error: true,
                            reason: Some("failed".into()),
                            result: None,
                        });
                        return Step::TurnDone;
                    }
                } else if let Some(turn) = v["result"]["turn"]["id"].as_str() {
                    self.turn_id = Some(turn.to_string());
                }
                Step::Continue
            }
            // A request from the server.
            (Some(method), Some(id)) => {
                let id = id.clone();
                let item_id = params["itemId"].as_str().map(str::to_string);
                match method {
                    "item/commandExecution/requestApproval" => {
                        let title = params["command"].as_str().unwrap_or("command").to_string();
                        Step::Ask(
                            PendingRequest { rpc_id: id },
                            Ask::Approval {
                                call_id: item_id,
                                tool: "commandExecution".into(),
                                kind: ToolKind::Command,
                                title,
                                input: params.clone(),
                            },
                        )
                    }
                    "item/fileChange/requestApproval" => {
                        let title = item_id
                            .as_ref()
                            .and_then(|i| self.titles.get(i).cloned())
                            .unwrap_or_else(|| "file change".into());
                        Step::Ask(
                            PendingRequest { rpc_id: id },
                            Ask::Approval {
                                call_id: item_id,
                                tool: "fileChange".into(),
                                kind: ToolKind::FileEdit,
                                title,
                                input: params.clone(),
                            },
                        )
                    }
                    _ => {
                        self.log.append(raw(line));
                        self.reply_error(&id, "VibeBridge does not handle this request")
                            .await;
                        Step::Continue
                    }
                }
            }
            (Some(method), None) => self.notification(line, method, params),
            (None, None) => {
                self.log.append(raw(line));
                Step::Continue
            }
        }
    }

    fn notification(&mut self, line: &str, method: &str, params: &Value) -> Step<PendingRequest> {
        match method {
            "item/started" => {
                if let Some(call) = tool_call(&params["item"]) {
                    if let EventBody::ToolCall { call_id, title, .. } = &call {
                        self.titles.insert(call_id.clone(), title.clone());
                    }
                    self.log.append(call);
                }
            }
            "item/completed" => {
                for body in item_completed(&params["item"]) {
                    self.log.append(body);
                }
            }
            "item/agentMessage/delta" => {
                self.log.append(EventBody::AssistantDelta {
                    message_id: params["itemId"].as_str().unwrap_or_default().to_string(),
                    text: params["delta"].as_str().unwrap_or_default().to_string(),
                });
            }
            "turn/started" => {
                self.turn_id = params["turn"]["id"].as_str().map(str::to_string);
            }
            "thread/tokenUsage/updated" => {
                self.totals = Totals::from_json(&params["tokenUsage"]["total"]);
            }
            "turn/completed" => {
                let turn = &params["turn"];
                let status = turn["status"].as_str().unwrap_or("completed").to_string();
                if let Some(message) = turn["error"]["message"].as_str() {
                    self.log.append(EventBody::Error {
                        message: format!("codex: {message}"),
                    });
                }
                self.log
                    .append(EventBody::Usage(self.totals.since(self.turn_start_totals)));
                self.turn_start_totals = self.totals;
                self.log.append(EventBody::TurnCompleted {
                    is_error: status != "completed",
                    reason: Some(status),
                    result: None,
                });
                self.turn_id = None;
                self.turn_request = None;
                return Step::TurnDone;
            }
            "error" => {
                let message = params["error"]["message"]
                    .as_str()
                    .or_else(|| params["message"].as_str())
                    .unwrap_or("unknown error")
                    .to_string();
                self.log.append(EventBody::Error {
                    message: format!("codex: {message}"),
                });
            }
            // Progress and bookkeeping the transcript does not need; the raw JSONL keeps them.
            "thread/started"
            | "thread/status/changed"
            | "turn/diff/updated"
            | "turn/plan/updated"
            | "serverRequest/resolved"
            | "account/rateLimits/updated"
            | "configWarning"
            | "deprecationNotice"
            | "remoteControl/status/changed"
            | "mcpServer/startupStatus/updated"
            | "item/commandExecution/outputDelta"
            | "item/fileChange/outputDelta"
            | "item/reasoning/summaryTextDelta"
            | "item/reasoning/summaryPartAdded"
            | "item/reasoning/textDelta" => {}
            _ => {
                self.log.append(raw(line));
            }
        }
        Step::Continue
    }
}

/// A `ToolCall` for an app-server item that is a tool (`None` for messages and reasoning).
fn tool_call(item: &Value) -> Option<EventBody> {
    let id = item["id"].as_str().unwrap_or_default().to_string();
    let (kind, title) = match item["type"].as_str()? {
        "commandExecution" => (
            ToolKind::Command,
            item["command"].as_str().unwrap_or_default().to_string(),
        ),
        "fileChange" => (ToolKind::FileEdit, change_paths(&item["changes"])),
        "mcpToolCall" => (
            ToolKind::Mcp,
            format!(
                "{}/{}",
                item["server"].as_str().unwrap_or("mcp"),
                item["tool"].as_str().unwrap_or("tool")
            ),
        ),
        "webSearch" => (
            ToolKind::Web,
            item["query"].as_str().unwrap_or_default().to_string(),
        ),
        _ => return None,
    };
    Some(EventBody::ToolCall {
        call_id: id,
        name: item["type"].as_str().unwrap_or_default().to_string(),
        kind,
        title,
        input: item.clone(),
        status: ToolStatus::Running,
    })
}

fn change_paths(changes: &Value) -> String {
    changes
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["path"].as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A unified diff of an app-server `fileChange` item (each change carries its own diff text).
fn change_diff(changes: &Value) -> Option<String> {
    let mut out = String::new();
    for c in changes.as_array().into_iter().flatten() {
        let path = c["path"].as_str().unwrap_or_default();
        let diff = c["diff"].as_str().unwrap_or_default();
        let kind = c["kind"]["type"]
            .as_str()
            .or(c["kind"].as_str())
            .unwrap_or("update");
        if diff.starts_with("---") {
            out.push_str(diff);
        } else if kind == "add" {
            out.push_str(&super::diff::added_file(path, diff));
        } else {
            out.push_str(&super::diff::header(path));
            out.push_str(diff);
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    (!out.is_empty()).then_some(out)
}

fn item_status(status: &str, exit_code: Option<i64>) -> ToolStatus {
    match status {
        "declined" => ToolStatus::Denied,
        "failed" => ToolStatus::Failed,
        _ if exit_code.is_some_and(|c| c != 0) => ToolStatus::Failed,
        _ => ToolStatus::Succeeded,
    }
}

/// Events for a completed app-server item.
fn item_completed(item: &Value) -> Vec<EventBody> {
    let id = item["id"].as_str().unwrap_or_default().to_string();
    let status = item["status"].as_str().unwrap_or("completed");
    match item["type"].as_str().unwrap_or_default() {
        "agentMessage" => vec![EventBody::AssistantMessage {
            message_id: id,
            text: item["text"].as_str().unwrap_or_default().to_string(),
        }],
        "reasoning" => {
            let text = ["summary", "content"]
                .iter()
                .flat_map(|k| item[*k].as_array().into_iter().flatten())
                .filter_map(|p| p.as_str().or_else(|| p["text"].as_str()))
                .collect::<Vec<_>>()
                .join("\n");
            if text.is_empty() {
                vec![]
            } else {
                vec![EventBody::Thinking { text }]
            }
        }
        "commandExecution" => {
            let exit_code = item["exitCode"].as_i64();
            vec![EventBody::ToolResult {
                call_id: id,
                status: item_status(status, exit_code),
                output: item["aggregatedOutput"].as_str().map(str::to_string),
                exit_code,
                diff: None,
            }]
        }
        "fileChange" => vec![EventBody::ToolResult {
            call_id: id,
            status: item_status(status, None),
            output: None,
            exit_code: None,
            diff: change_diff(&item["changes"]),
        }],
        "mcpToolCall" | "webSearch" => vec![EventBody::ToolResult {
            call_id: id,
            status: item_status(status, None),
            output: item.get("result").map(|r| r.to_string()),
            exit_code: None,
            diff: None,
        }],
        "userMessage" => vec![],
        _ => vec![EventBody::Raw {
            provider: Provider::Codex,
            line: item.to_string(),
        }],
    }
}

impl Backend for AppServer {
    type Pending = PendingRequest;

    async fn send_message(&mut self, text: &str) -> Result<(), String> {
        let id = self.next_id;
        self.next_id += 1;
        self.turn_request = Some(id);
        self.proc
            .send(&json!({"id": id, "method": "turn/start", "params": {
                "threadId": self.thread_id,
                "input": [{"type": "text", "text": text}],
            }}))
            .await
    }

    async fn interrupt(&mut self) -> Result<(), String> {
        let Some(turn_id) = self.turn_id.clone() else {
            return Ok(());
        };
        let id = self.next_id;
        self.next_id += 1;
        self.proc
            .send(&json!({"id": id, "method": "turn/interrupt", "params": {
                "threadId": self.thread_id, "turnId": turn_id,
            }}))
            .await
    }

    async fn answer(
        &mut self,
        pending: PendingRequest,
        decision: Decision,
        _message: Option<&str>,
    ) -> Result<(), String> {
        let decision = match decision {
            Decision::Allow => "accept",
            Decision::Deny => "decline",
        };
        self.proc
            .send(&json!({"id": pending.rpc_id, "result": {"decision": decision}}))
            .await
    }

    async fn step(&mut self) -> Step<PendingRequest> {
        let line = match self.proc.read_line(&self.log).await {
            Read::Line(line) => line,
            Read::Skipped => return Step::Continue,
            Read::Ended => return Step::Exited,
        };
        match serde_json::from_str::<Value>(&line) {
            Ok(v) => self.message(&line, v).await,
            Err(e) => {
                self.log.append(not_json(&line, &e));
                self.log.append(raw(&line));
                Step::Continue
            }
        }
    }

    async fn shutdown(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.proc.terminate(grace).await
    }

    fn stderr_tail(&self) -> String {
        self.proc.stderr_tail()
    }
}

/// `codex exec --json`, one process per turn; no approvals (exec forces the policy to never).
pub struct Exec {
    launch: ExecLaunch,
    log: Arc<SessionLog>,
    thread_id: Option<String>,
    proc: Option<Proc>,
    turn_completed: bool,
    interrupted: bool,
}

struct ExecLaunch {
    program: std::path::PathBuf,
    cwd: std::path::PathBuf,
    cfg_args: Vec<String>,
    env: std::collections::BTreeMap<String, String>,
    model: Option<String>,
    raw_dir: std::path::PathBuf,
}

impl Exec {
    /// A fallback driver for the session in `launch`.
    pub fn new(launch: &Launch) -> Exec {
        Exec {
            launch: ExecLaunch {
                program: launch.program.clone(),
                cwd: launch.cwd.clone(),
                cfg_args: launch.cfg.args.clone(),
                env: launch.cfg.env.clone(),
                model: launch.model.clone(),
                raw_dir: launch.raw_dir.clone(),
            },
            log: launch.log.clone(),
            thread_id: launch.resume.clone(),
            proc: None,
            turn_completed: false,
            interrupted: false,
        }
    }

    fn normalise(&mut self, v: &Value, line: &str) -> Vec<EventBody> {
        match v["type"].as_str().unwrap_or_default() {
            "thread.started" => {
                let id = v["thread_id"].as_str().unwrap_or_default().to_string();
                if self.thread_id.as_deref() == Some(id.as_str()) {
                    return vec![];
                }
                self.thread_id = Some(id.clone());
                vec![EventBody::ProviderSession {
                    provider_session_id: id,
                    model: None,
                }]
            }
            "turn.started" => vec![],
            "item.started" => exec_tool_call(&v["item"]).into_iter().collect(),
            "item.completed" => exec_item_completed(&v["item"]),
            "turn.completed" => {
                self.turn_completed = true;
                let u = &v["usage"];
                let n = |k: &str| u[k].as_u64().unwrap_or(0);
                vec![
                    EventBody::Usage(Usage {
                        input_tokens: n("input_tokens"),
                        output_tokens: n("output_tokens"),
                        cached_input_tokens: n("cached_input_tokens"),
                        cost_usd: None,
                    }),
                    EventBody::TurnCompleted {
                        is_error: false,
                        reason: Some("completed".into()),
                        result: None,
                    },
                ]
            }
            "turn.failed" => {
                self.turn_completed = true;
                let message = v["error"]["message"].as_str().unwrap_or("turn failed");
                vec![
                    EventBody::Error {
                        message: format!("codex: {message}"),
                    },
                    EventBody::TurnCompleted {
                        is_error: true,
                        reason: Some("failed".into()),
                        result: None,
                    },
                ]
            }
            "error" => vec![EventBody::Error {
                message: format!(
                    "codex: {}",
                    v["message"].as_str().unwrap_or("unknown error")
                ),
            }],
            _ => vec![raw(line)],
        }
    }
}

fn exec_tool_call(item: &Value) -> Option<EventBody> {
    let (kind, title, name) = match item["type"].as_str()? {
        "command_execution" => (
            ToolKind::Command,
            item["command"].as_str().unwrap_or_default().to_string(),
            "command_execution",
        ),
        "file_change" => (
            ToolKind::FileEdit,
            change_paths(&item["changes"]),
            "file_change",
        ),
        "mcp_tool_call" => (ToolKind::Mcp, "MCP tool".into(), "mcp_tool_call"),
        "web_search" => (
            ToolKind::Web,
            item["query"].as_str().unwrap_or_default().to_string(),
            "web_search",
        ),
        _ => return None,
    };
    Some(EventBody::ToolCall {
        call_id: item["id"].as_str().unwrap_or_default().to_string(),
        name: name.into(),
        kind,
        title,
        input: item.clone(),
        status: ToolStatus::Running,
    })
}

fn exec_item_completed(item: &Value) -> Vec<EventBody> {
    let id = item["id"].as_str().unwrap_or_default().to_string();
    let status = item["status"].as_str().unwrap_or("completed");
    match item["type"].as_str().unwrap_or_default() {
        "agent_message" => vec![EventBody::AssistantMessage {
            message_id: id,
            text: item["text"].as_str().unwrap_or_default().to_string(),
        }],
        "reasoning" => vec![EventBody::Thinking {
            text: item["text"].as_str().unwrap_or_default().to_string(),
        }],
        "command_execution" => {
            let exit_code = item["exit_code"].as_i64();
            vec![EventBody::ToolResult {
                call_id: id,
                status: item_status(status, exit_code),
                output: item["aggregated_output"].as_str().map(str::to_string),
                exit_code,
                diff: None,
            }]
        }
        "file_change" | "mcp_tool_call" | "web_search" => vec![EventBody::ToolResult {
            call_id: id,
            status: item_status(status, None),
            output: None,
            exit_code: None,
            diff: None,
        }],
        "error" => vec![EventBody::Error {
            message: format!("codex: {}", item["message"].as_str().unwrap_or_default()),
        }],
        _ => vec![EventBody::Raw {
            provider: Provider::Codex,
            line: item.to_string(),
        }],
    }
}

impl Backend for Exec {
    type Pending = ();

    async fn send_message(&mut self, text: &str) -> Result<(), String> {
        let mut args = self.launch.cfg_args.clone();
        args.extend(
            [
                "exec",
                "--json",
                "--skip-git-repo-check",
                "--sandbox",
                "workspace-write",
            ]
            .map(String::from),
        );
        if let Some(m) = &self.launch.model {
            args.extend(["-m".into(), m.clone()]);
        }
        if let Some(id) = &self.thread_id {
            args.extend(["resume".into(), id.clone()]);
        }
        args.push(text.to_string());
        let n = self.log.next_execution();
        let proc = Proc::spawn(Spawn {
            program: &self.launch.program,
            args,
            cwd: &self.launch.cwd,
            env: &self.launch.env,
            stdin: false,
            raw_path: self.launch.raw_dir.join(format!("{n:04}-codex-exec.jsonl")),
        })
        .map_err(|e| format!("could not start {}: {e}", self.launch.program.display()))?;
        self.proc = Some(proc);
        self.turn_completed = false;
        self.interrupted = false;
        Ok(())
    }

    async fn interrupt(&mut self) -> Result<(), String> {
        // exec stops within ~50 ms of SIGTERM and takes its sandboxed children with it.
        if let Some(proc) = &self.proc {
            self.interrupted = true;
            proc.signal(nix::sys::signal::Signal::SIGTERM);
        }
        Ok(())
    }

    async fn answer(&mut self, _: (), _: Decision, _: Option<&str>) -> Result<(), String> {
        Err("codex exec mode has no approvals".into())
    }

    async fn step(&mut self) -> Step<()> {
        let Some(proc) = &mut self.proc else {
            return std::future::pending().await;
        };
        match proc.read_line(&self.log).await {
            Read::Line(line) => {
                let events = match serde_json::from_str::<Value>(&line) {
                    Ok(v) => self.normalise(&v, &line),
                    Err(e) => vec![not_json(&line, &e), raw(&line)],
                };
                for body in events {
                    self.log.append(body);
                }
                Step::Continue
            }
            Read::Skipped => Step::Continue,
            Read::Ended => {
                let mut proc = self.proc.take();
                let status = match &mut proc {
                    Some(p) => p.terminate(super::driver::STOP_GRACE).await,
                    None => None,
                };
                if !self.turn_completed {
                    if !self.interrupted {
                        let tail = proc.as_ref().map(Proc::stderr_tail).unwrap_or_default();
                        self.log.append(EventBody::Error {
                            message: format!(
                                "codex exec ended without finishing the turn ({}): {tail}",
                                super::process::describe(status)
                            ),
                        });
                    }
                    self.log.append(EventBody::TurnCompleted {
                        is_error: true,
                        reason: Some(
                            if self.interrupted {
                                "interrupted"
                            } else {
                                "failed"
                            }
                            .into(),
                        ),
                        result: None,
                    });
                }
                Step::TurnDone
            }
        }
    }

    async fn shutdown(&mut self, grace: Duration) -> Option<ExitStatus> {
        match &mut self.proc {
            Some(p) => p.terminate(grace).await,
            None => None,
        }
    }

    fn stderr_tail(&self) -> String {
        self.proc
            .as_ref()
            .map(Proc::stderr_tail)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Proves captured app-server output (real codex 0.169, an approved then a declined command) normalises
    // to command calls with their titles, a succeeded result with output and exit code, a denied result,
    // and the final agent messages.
    #[test]
    fn captured_app_server_items() {
        let mut events = Vec::new();
        for line in include_str!("testdata/codex_appserver_approve.out.jsonl").lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            match v["method"].as_str() {
                Some("item/started") => events.extend(tool_call(&v["params"]["item"])),
                Some("item/completed") => events.extend(item_completed(&v["params"]["item"])),
                _ => {}
            }
        }
        let calls: Vec<&EventBody> = events
            .iter()
            .filter(|e| matches!(e, EventBody::ToolCall { .. }))
            .collect();
        assert_eq!(calls.len(), 2);
        assert!(
            matches!(calls[0], EventBody::ToolCall { kind: ToolKind::Command, title, .. } if title.contains("echo approved"))
        );
        let results: Vec<(ToolStatus, Option<String>, Option<i64>)> = events
            .iter()
            .filter_map(|e| match e {
                EventBody::ToolResult {
                    status,
                    output,
                    exit_code,
                    ..
                } => Some((*status, output.clone(), *exit_code)),
                _ => None,
            })
            .collect();
        assert_eq!(
            results[0],
            (ToolStatus::Succeeded, Some("approved\n".into()), Some(0))
        );
        assert_eq!(results[1].0, ToolStatus::Denied);
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, EventBody::AssistantMessage { text, .. } if text.starts_with("MOCK DONE")))
                .count(),
            2
        );
    }

    // Proves a file change's per-file diff text becomes a unified diff with headers.
    #[test]
    fn file_change_diff() {
        let changes = json!([{"path": "/w/a.txt", "kind": {"type": "add"}, "diff": "one\ntwo\n"}]);
        let diff = change_diff(&changes).unwrap();
        assert_eq!(
            diff,
            "--- /dev/null\n+++ b/w/a.txt\n@@ -0,0 +1,2 @@\n+one\n+two\n"
        );
    }
}

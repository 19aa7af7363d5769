//! `codex app-server`: one process per conversation run, JSON-RPC over stdio. Initialize, open or resume the
//! thread, then one `turn/start` per message; approvals arrive as server requests and are answered with the
//! user's decision.

use std::collections::HashMap;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vibebridge_tunnel::session::{Decision, EventBody, ToolKind, Usage};

use super::items::{item_completed, tool_call};
use super::{not_json, raw};
use crate::sessions::driver::{Ask, Backend, Launch, Step};
use crate::sessions::lines::Line;
use crate::sessions::log::SessionLog;
use crate::sessions::process::{Proc, Read, Spawn};

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
            run_as: launch.run_as.as_ref(),
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
                    Ok(None) => return Err("exited".to_string()),
                    Err(e) => return Err(format!("reading its output: {e}")),
                    // An over-long line cannot be the response; the raw log keeps it.
                    Ok(Some(Line::TooLong { .. })) => continue,
                    Ok(Some(Line::Text { text, .. })) => text,
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

//! `codex exec --json`: the fallback when the app-server cannot start. One process per turn (a follow-up
//! resumes the thread). Exec cannot ask: it forces the approval policy to `never` and declines every
//! request for approval. So it stands in only for a policy that loses nothing by that ([`check_policy`]),
//! and user text never reaches its argument list ([`exec_args`]).

use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use vibebridge_tunnel::session::{Decision, EventBody, Provider, ToolKind, ToolStatus, Usage};

use super::{change_paths, item_status, not_json, raw};
use crate::sessions::driver::{Backend, Launch, Step};
use crate::sessions::log::SessionLog;
use crate::sessions::process::{Proc, Read, Spawn};

/// Approval policies exec keeps. `never`: nothing waits for a human anyway. `on-request` (the default): the
/// only requests are the model's asks to leave the sandbox, which exec declines, so nothing runs that would
/// have needed a yes. Not `untrusted`: it asks before ordinary commands inside the sandbox, and exec would
/// run them unasked.
const KEPT_POLICIES: &[&str] = &["never", "on-request"];

/// Whether exec can run a session with approval `policy` (`None`: the default, `on-request`) without
/// loosening it; `Err` says why not and what to do.
pub fn check_policy(policy: Option<&str>) -> Result<(), String> {
    match policy {
        None => Ok(()),
        Some(p) if KEPT_POLICIES.contains(&p) => Ok(()),
        Some(p) => Err(format!(
            "the `codex exec` fallback cannot ask for approvals, so it would run approval policy {p:?} \
             without them; the session was not started. Make `codex app-server` start on this node (its \
             error is above), or use approval policy \"on-request\" or \"never\""
        )),
    }
}

/// The arguments of one exec turn. No user text is among them: the prompt goes to stdin (the `-` prompt
/// after `--`, so a prompt such as `--help`, `-`, `resume` or `review` is only ever a prompt), the model
/// is a single `--model=…` word, and the thread id follows `--`.
pub fn exec_args(cfg_args: &[String], model: Option<&str>, thread_id: Option<&str>) -> Vec<String> {
    let mut args = cfg_args.to_vec();
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
    if let Some(m) = model {
        args.push(format!("--model={m}"));
    }
    if let Some(id) = thread_id {
        args.extend(["resume".into(), "--".into(), id.to_string()]);
    } else {
        args.push("--".into());
    }
    args.push("-".into());
    args
}

/// `codex exec --json`, one process per turn; approval requests are declined by exec itself.
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
    run_as: Option<crate::run_as::RunAs>,
}

impl Exec {
    /// A fallback driver for the session in `launch`, or why exec may not stand in for it
    /// (`check_policy`).
    pub fn new(launch: &Launch) -> Result<Exec, String> {
        check_policy(launch.permission_mode.as_deref())?;
        Ok(Exec {
            launch: ExecLaunch {
                program: launch.program.clone(),
                cwd: launch.cwd.clone(),
                cfg_args: launch.cfg.args.clone(),
                env: launch.cfg.env.clone(),
                model: launch.model.clone(),
                raw_dir: launch.raw_dir.clone(),
                run_as: launch.run_as.clone(),
            },
            log: launch.log.clone(),
            thread_id: launch.resume.clone(),
            proc: None,
            turn_completed: false,
            interrupted: false,
        })
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
        let args = exec_args(
            &self.launch.cfg_args,
            self.launch.model.as_deref(),
            self.thread_id.as_deref(),
        );
        let n = self.log.next_execution();
        let proc = Proc::spawn(Spawn {
            program: &self.launch.program,
            args,
            cwd: &self.launch.cwd,
            env: &self.launch.env,
            stdin: true,
            raw_path: self.launch.raw_dir.join(format!("{n:04}-codex-exec.jsonl")),
            run_as: self.launch.run_as.as_ref(),
        })
        .map_err(|e| format!("could not start {}: {e}", self.launch.program.display()))?;
        let mut proc = proc;
        proc.feed_stdin(text.to_string());
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
        Err("codex exec mode has no approvals (exec declines every request itself)".into())
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
                    Some(p) => p.terminate(crate::sessions::driver::STOP_GRACE).await,
                    None => None,
                };
                if !self.turn_completed {
                    if !self.interrupted {
                        let tail = proc.as_ref().map(Proc::stderr_tail).unwrap_or_default();
                        self.log.append(EventBody::Error {
                            message: format!(
                                "codex exec ended without finishing the turn ({}): {tail}",
                                crate::sessions::process::describe(status)
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
    use super::*;

    /// Proves no prompt reaches the argument list and the thread id and model cannot be read as options:
    /// `--` precedes the positional words and the prompt is `-` (read from stdin).
    #[test]
    fn user_text_is_never_an_option() {
        let cfg = vec!["-c".to_string(), "analytics.enabled=false".to_string()];
        let first = exec_args(
            &cfg,
            Some("--dangerously-bypass-approvals-and-sandbox"),
            None,
        );
        assert_eq!(
            first,
            [
                "-c",
                "analytics.enabled=false",
                "exec",
                "--json",
                "--skip-git-repo-check",
                "--sandbox",
                "workspace-write",
                "--model=--dangerously-bypass-approvals-and-sandbox",
                "--",
                "-",
            ]
        );
        let resumed = exec_args(&[], None, Some("--help"));
        assert_eq!(
            resumed[resumed.len() - 4..],
            ["resume", "--", "--help", "-"]
        );
        let dashdash = resumed.iter().position(|a| a == "--").unwrap();
        assert!(
            resumed[..dashdash]
                .iter()
                .all(|a| !a.contains("help") && a != "-")
        );
    }

    /// Proves the fallback keeps `never` and `on-request` (and the default) and refuses every other
    /// policy, `untrusted` first, with a message naming it and what to do.
    #[test]
    fn policies_exec_cannot_keep_are_refused() {
        for kept in [None, Some("never"), Some("on-request")] {
            assert!(check_policy(kept).is_ok(), "{kept:?}");
        }
        for refused in ["untrusted", "on-failure", "granular", ""] {
            let e = check_policy(Some(refused)).unwrap_err();
            assert!(
                e.contains(&format!("{refused:?}")) && e.contains("app-server"),
                "{e}"
            );
        }
    }
}

//! Claude Code: `claude -p --input-format stream-json --output-format stream-json --verbose
//! --include-partial-messages --permission-prompt-tool stdio`, one process per conversation run.
//!
//! Messages are written to stdin as `user` records; permission prompts arrive as `can_use_tool` control
//! requests and are answered with `control_response`; an interrupt is a `control_request`. Output records
//! are normalised by [`records::Normaliser`] (a pure function of the lines, tested on captured output).

use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vibebridge_tunnel::session::{Decision, EventBody};

#[cfg(test)]
mod proptests;
mod records;

pub use records::{Normalised, Normaliser, tool_kind, tool_title};

use crate::sessions::driver::{Backend, Launch, Step};
use crate::sessions::log::SessionLog;
use crate::sessions::process::{Proc, Read, Spawn};

/// What is needed to answer one `can_use_tool` request.
pub struct PendingTool {
    request_id: String,
    input: Value,
    question: bool,
}

/// A running `claude` process.
pub struct Claude {
    proc: Proc,
    log: Arc<SessionLog>,
    norm: Normaliser,
    next_request: u64,
}

/// The arguments for a run.
pub fn args(launch: &Launch) -> Vec<String> {
    let mut args: Vec<String> = [
        "-p",
        "--input-format",
        "stream-json",
        "--output-format",
        "stream-json",
        "--verbose",
        "--include-partial-messages",
        "--permission-prompt-tool",
        "stdio",
    ]
    .map(String::from)
    .into();
    if let Some(m) = &launch.model {
        args.extend(["--model".into(), m.clone()]);
    }
    if let Some(m) = &launch.permission_mode {
        args.extend(["--permission-mode".into(), m.clone()]);
    }
    if let Some(id) = &launch.resume {
        args.extend(["--resume".into(), id.clone()]);
    }
    args.extend(launch.cfg.args.iter().cloned());
    args
}

impl Claude {
    /// Starts the CLI.
    pub fn start(launch: &Launch) -> Result<Claude, String> {
        let proc = Proc::spawn(Spawn {
            program: &launch.program,
            args: args(launch),
            cwd: &launch.cwd,
            env: &launch.cfg.env,
            stdin: true,
            raw_path: launch.raw_path(launch.log.next_execution(), "claude"),
            run_as: launch.run_as.as_ref(),
        })
        .map_err(|e| format!("could not start {}: {e}", launch.program.display()))?;
        Ok(Claude {
            proc,
            log: launch.log.clone(),
            norm: Normaliser::default(),
            next_request: 1,
        })
    }
}

impl Backend for Claude {
    type Pending = PendingTool;

    async fn send_message(&mut self, text: &str) -> Result<(), String> {
        self.proc
            .send(&json!({
                "type": "user",
                "message": {"role": "user", "content": [{"type": "text", "text": text}]},
                "parent_tool_use_id": null,
                "session_id": "",
            }))
            .await
    }

    async fn interrupt(&mut self) -> Result<(), String> {
        let request_id = format!("vb-interrupt-{}", self.next_request);
        self.next_request += 1;
        self.proc
            .send(&json!({
                "type": "control_request",
                "request_id": request_id,
                "request": {"subtype": "interrupt"},
            }))
            .await
    }

    async fn answer(
        &mut self,
        pending: PendingTool,
        decision: Decision,
        message: Option<&str>,
    ) -> Result<(), String> {
        let response = match decision {
            Decision::Allow => {
                let mut input = pending.input;
                if pending.question
                    && let (Some(answer), Some(obj)) = (message, input.as_object_mut())
                {
                    // AskUserQuestion takes the answers keyed by question text.
                    let mut answers = serde_json::Map::new();
                    if let Some(qs) = obj.get("questions").and_then(Value::as_array) {
                        for q in qs {
                            if let Some(text) = q.get("question").and_then(Value::as_str) {
                                answers.insert(text.to_string(), Value::String(answer.to_string()));
                            }
                        }
                    }
                    obj.insert("answers".into(), Value::Object(answers));
                }
                json!({"behavior": "allow", "updatedInput": input})
            }
            Decision::Deny => json!({
                "behavior": "deny",
                "message": message.unwrap_or("The user denied this tool use."),
            }),
        };
        self.proc
            .send(&json!({
                "type": "control_response",
                "response": {"subtype": "success", "request_id": pending.request_id, "response": response},
            }))
            .await
    }

    async fn step(&mut self) -> Step<PendingTool> {
        let line = match self.proc.read_line(&self.log).await {
            Read::Line(line) => line,
            Read::Skipped => return Step::Continue,
            Read::Ended => return Step::Exited,
        };
        let out = self.norm.line(&line);
        for body in out.events {
            self.log.append(body);
        }
        if let Some(reply) = out.reply
            && let Err(message) = self.proc.send(&reply).await
        {
            self.log.append(EventBody::Error { message });
        }
        out.step
    }

    async fn shutdown(&mut self, grace: Duration) -> Option<ExitStatus> {
        // stdin EOF lets an idle CLI exit by itself; otherwise the group is signalled.
        self.proc.close_stdin();
        if let Some(status) = self.proc.wait_for(Duration::from_millis(500)).await {
            self.proc.terminate(grace).await;
            return Some(status);
        }
        self.proc.terminate(grace).await
    }

    fn stderr_tail(&self) -> String {
        self.proc.stderr_tail()
    }
}

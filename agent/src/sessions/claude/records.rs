//! Claude's stream-json records as events: messages, thinking, tool calls and results (with diffs),
//! permission prompts, usage and turn ends; unknown records kept raw. Pure functions of the lines, tested on
//! captured real output.

use std::collections::HashMap;

use serde_json::{Value, json};
use vibebridge_tunnel::session::{EventBody, Provider, ToolKind, ToolStatus, Usage};

use super::PendingTool;
use crate::sessions::driver::{Ask, Step};

/// The result of normalising one line.
pub struct Normalised {
    /// Events to append, in order.
    pub events: Vec<EventBody>,
    /// What the turn loop must do.
    pub step: Step<PendingTool>,
    /// A line to write back to the CLI at once (refusing a control request we do not support).
    pub reply: Option<Value>,
}

/// Turns Claude's stream-json records into events. Remembers tool names (for result kinds) and the current
/// API message id (for deltas).
#[derive(Default)]
pub struct Normaliser {
    tools: HashMap<String, String>,
    provider_session: Option<String>,
    streaming_message: Option<String>,
    /// `total_cost_usd` is the process's running total; this is what earlier turns already reported.
    cost_reported: f64,
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Kind of a Claude Code tool, by name.
pub fn tool_kind(name: &str) -> ToolKind {
    match name {
        "Read" | "NotebookRead" => ToolKind::FileRead,
        "Write" | "Edit" | "MultiEdit" | "NotebookEdit" => ToolKind::FileEdit,
        "Bash" | "BashOutput" | "KillShell" | "KillBash" => ToolKind::Command,
        "Grep" | "Glob" | "LS" | "ToolSearch" => ToolKind::Search,
        "WebFetch" | "WebSearch" => ToolKind::Web,
        n if n.starts_with("mcp__") => ToolKind::Mcp,
        _ => ToolKind::Other,
    }
}

/// One line for the UI from a tool's input.
pub fn tool_title(name: &str, input: &Value) -> String {
    let field = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_string);
    field("command")
        .or_else(|| field("file_path"))
        .or_else(|| field("notebook_path"))
        .or_else(|| field("pattern"))
        .or_else(|| field("url"))
        .or_else(|| field("query"))
        .or_else(|| field("description"))
        .unwrap_or_else(|| name.to_string())
}

/// A unified diff from Claude's `tool_use_result` of a Write/Edit (its `structuredPatch` hunks, or the
/// whole content for a created file).
fn diff_of(result: &Value) -> Option<String> {
    let path = result.get("filePath").and_then(Value::as_str)?;
    let hunks = result.get("structuredPatch").and_then(Value::as_array);
    let mut out = String::new();
    match hunks {
        Some(hunks) if !hunks.is_empty() => {
            out.push_str(&crate::sessions::diff::header(path));
            for h in hunks {
                let n = |k: &str| h.get(k).and_then(Value::as_u64).unwrap_or(0);
                out.push_str(&format!(
                    "@@ -{},{} +{},{} @@\n",
                    n("oldStart"),
                    n("oldLines"),
                    n("newStart"),
                    n("newLines")
                ));
                for line in h
                    .get("lines")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    out.push_str(line.as_str().unwrap_or_default());
                    out.push('\n');
                }
            }
        }
        _ => {
            let content = result.get("content").and_then(Value::as_str)?;
            out.push_str(&crate::sessions::diff::added_file(path, content));
        }
    }
    Some(out)
}

impl Normaliser {
    /// Normalises one stdout line.
    pub fn line(&mut self, line: &str) -> Normalised {
        let mut out = Normalised {
            events: Vec::new(),
            step: Step::Continue,
            reply: None,
        };
        if line.trim().is_empty() {
            return out;
        }
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                let shown: String = line.chars().take(200).collect();
                out.events.push(EventBody::Error {
                    message: format!("claude printed a line that is not JSON ({e}): {shown}"),
                });
                out.events.push(raw(line));
                return out;
            }
        };
        let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "system" => self.system(&v, line, &mut out),
            "assistant" => self.assistant(&v, &mut out),
            "user" => self.user(&v, &mut out),
            "stream_event" => self.stream_event(&v, &mut out),
            "result" => self.result(&v, &mut out),
            "control_request" => self.control_request(&v, line, &mut out),
            // Acknowledgements of our interrupts.
            "control_response" => {}
            _ => out.events.push(raw(line)),
        }
        out
    }

    fn system(&mut self, v: &Value, line: &str, out: &mut Normalised) {
        match v.get("subtype").and_then(Value::as_str) {
            Some("init") => {
                if let Some(id) = v.get("session_id").and_then(Value::as_str)
                    && self.provider_session.as_deref() != Some(id)
                {
                    self.provider_session = Some(id.to_string());
                    out.events.push(EventBody::ProviderSession {
                        provider_session_id: id.to_string(),
                        model: v.get("model").and_then(Value::as_str).map(str::to_string),
                    });
                }
            }
            // Progress noise; the raw JSONL file keeps it.
            Some("status" | "thinking_tokens") => {}
            _ => out.events.push(raw(line)),
        }
    }

    fn assistant(&mut self, v: &Value, out: &mut Normalised) {
        let message = &v["message"];
        let message_id = message
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        for block in message
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match block.get("type").and_then(Value::as_str) {
                Some("text") => out.events.push(EventBody::AssistantMessage {
                    message_id: message_id.clone(),
                    text: block["text"].as_str().unwrap_or_default().to_string(),
                }),
                Some("thinking") => out.events.push(EventBody::Thinking {
                    text: block["thinking"].as_str().unwrap_or_default().to_string(),
                }),
                Some("tool_use") => {
                    let call_id = block["id"].as_str().unwrap_or_default().to_string();
                    let name = block["name"].as_str().unwrap_or_default().to_string();
                    let input = block.get("input").cloned().unwrap_or(Value::Null);
                    self.tools.insert(call_id.clone(), name.clone());
                    out.events.push(EventBody::ToolCall {
                        call_id,
                        kind: tool_kind(&name),
                        title: tool_title(&name, &input),
                        name,
                        input,
                        status: ToolStatus::Running,
                    });
                }
                _ => out.events.push(EventBody::Raw {
                    provider: Provider::Claude,
                    line: block.to_string(),
                }),
            }
        }
    }

    fn user(&mut self, v: &Value, out: &mut Normalised) {
        let Some(content) = v["message"].get("content").and_then(Value::as_array) else {
            return;
        };
        let meta = v.get("tool_result_meta").and_then(Value::as_array);
        for block in content {
            if block.get("type").and_then(Value::as_str) != Some("tool_result") {
                // Our own message echoed, or the CLI's "[Request interrupted by user]" marker.
                continue;
            }
            let call_id = block["tool_use_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let is_error = block
                .get("is_error")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let rejected = meta.into_iter().flatten().any(|m| {
                m.get("id").and_then(Value::as_str) == Some(&call_id)
                    && m["permission_decision"]["decision"].as_str() == Some("reject")
            });
            let output = block.get("content").and_then(text_of);
            let name = self.tools.get(&call_id).cloned().unwrap_or_default();
            let kind = tool_kind(&name);
            let exit_code = (kind == ToolKind::Command && !rejected).then(|| {
                if !is_error {
                    return 0;
                }
                output
                    .as_deref()
                    .and_then(|o| o.strip_prefix("Exit code "))
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1)
            });
            let diff = (kind == ToolKind::FileEdit && !is_error)
                .then(|| v.get("tool_use_result").and_then(diff_of))
                .flatten();
            out.events.push(EventBody::ToolResult {
                call_id,
                status: if rejected {
                    ToolStatus::Denied
                } else if is_error {
                    ToolStatus::Failed
                } else {
                    ToolStatus::Succeeded
                },
                output,
                exit_code,
                diff,
            });
        }
    }

    fn stream_event(&mut self, v: &Value, out: &mut Normalised) {
        let event = &v["event"];
        match event.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                self.streaming_message = event["message"]["id"].as_str().map(str::to_string);
            }
            Some("content_block_delta")
                if event["delta"]["type"].as_str() == Some("text_delta") =>
            {
                let message_id = v
                    .get("api_message_id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| self.streaming_message.clone())
                    .unwrap_or_default();
                out.events.push(EventBody::AssistantDelta {
                    message_id,
                    text: event["delta"]["text"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                });
            }
            _ => {}
        }
    }

    fn result(&mut self, v: &Value, out: &mut Normalised) {
        let u = &v["usage"];
        let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
        out.events.push(EventBody::Usage(Usage {
            input_tokens: n("input_tokens")
                + n("cache_read_input_tokens")
                + n("cache_creation_input_tokens"),
            output_tokens: n("output_tokens"),
            cached_input_tokens: n("cache_read_input_tokens"),
            cost_usd: v
                .get("total_cost_usd")
                .and_then(Value::as_f64)
                .map(|total| {
                    let turn = (total - self.cost_reported).max(0.0);
                    self.cost_reported = self.cost_reported.max(total);
                    turn
                }),
        }));
        let is_error = v.get("is_error").and_then(Value::as_bool).unwrap_or(false);
        let reason = v
            .get("terminal_reason")
            .and_then(Value::as_str)
            .map(str::to_string);
        let result = v.get("result").and_then(Value::as_str).map(str::to_string);
        if is_error && !reason.as_deref().is_some_and(|r| r.starts_with("aborted")) {
            out.events.push(EventBody::Error {
                message: result
                    .clone()
                    .unwrap_or_else(|| "the turn failed (no detail from claude)".into()),
            });
        }
        out.events.push(EventBody::TurnCompleted {
            is_error,
            reason,
            result,
        });
        out.step = Step::TurnDone;
    }

    fn control_request(&mut self, v: &Value, line: &str, out: &mut Normalised) {
        let request_id = v["request_id"].as_str().unwrap_or_default().to_string();
        let request = &v["request"];
        if request.get("subtype").and_then(Value::as_str) != Some("can_use_tool") {
            out.events.push(raw(line));
            out.reply = Some(json!({
                "type": "control_response",
                "response": {"subtype": "error", "request_id": request_id,
                             "error": "VibeBridge does not handle this control request"},
            }));
            return;
        }
        let tool = request["tool_name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let input = request.get("input").cloned().unwrap_or(Value::Null);
        let question = tool == "AskUserQuestion";
        let ask = if question {
            Ask::Question {
                questions: input.get("questions").cloned().unwrap_or(input.clone()),
            }
        } else {
            Ask::Approval {
                call_id: request["tool_use_id"].as_str().map(str::to_string),
                kind: tool_kind(&tool),
                title: tool_title(&tool, &input),
                tool,
                input: input.clone(),
            }
        };
        out.step = Step::Ask(
            PendingTool {
                request_id,
                input,
                question,
            },
            ask,
        );
    }
}

fn raw(line: &str) -> EventBody {
    EventBody::Raw {
        provider: Provider::Claude,
        line: line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn run(lines: &str) -> (Vec<EventBody>, usize, usize) {
        let mut n = Normaliser::default();
        let (mut events, mut turns, mut asks) = (Vec::new(), 0, 0);
        for line in lines.lines() {
            let out = n.line(line);
            events.extend(out.events);
            match out.step {
                Step::TurnDone => turns += 1,
                Step::Ask(..) => asks += 1,
                _ => {}
            }
        }
        (events, turns, asks)
    }

    /// Proves a captured Write run (real CLI output) normalises to session id, text, a file-edit call with a
    /// diff, usage with cost, and one completed turn.
    #[test]
    fn captured_write_run() {
        let (events, turns, asks) = run(include_str!("../testdata/claude_write_stream.jsonl"));
        assert_eq!((turns, asks), (1, 0));
        assert!(
            matches!(&events[0], EventBody::ProviderSession { provider_session_id, .. } if provider_session_id.starts_with("e65161b4"))
        );
        let call = events
            .iter()
            .find_map(|e| match e {
                EventBody::ToolCall {
                    name, kind, title, ..
                } => Some((name.clone(), *kind, title.clone())),
                _ => None,
            })
            .unwrap();
        assert_eq!(call.0, "Write");
        assert_eq!(call.1, ToolKind::FileEdit);
        assert!(call.2.ends_with("hello.txt"));
        let diff = events
            .iter()
            .find_map(|e| match e {
                EventBody::ToolResult {
                    status: ToolStatus::Succeeded,
                    diff,
                    ..
                } => diff.clone(),
                _ => None,
            })
            .unwrap();
        assert!(diff.contains("+hello from mock"), "{diff}");
        assert!(
            events
                .iter()
                .any(|e| matches!(e, EventBody::Usage(u) if u.cost_usd.is_some()))
        );
        assert!(events.iter().any(
            |e| matches!(e, EventBody::TurnCompleted { is_error: false, reason, .. } if reason.as_deref() == Some("completed"))
        ));
    }

    /// Proves Claude's running cost total becomes per-turn costs, so main's sum is the session's total.
    #[test]
    fn cost_is_per_turn() {
        let (events, turns, _) = run(concat!(
            r#"{"type":"result","is_error":false,"total_cost_usd":0.11,"usage":{}}"#,
            "\n",
            r#"{"type":"result","is_error":false,"total_cost_usd":0.25,"usage":{}}"#,
            "\n"
        ));
        assert_eq!(turns, 2);
        let costs: Vec<f64> = events
            .iter()
            .filter_map(|e| match e {
                EventBody::Usage(u) => u.cost_usd,
                _ => None,
            })
            .collect();
        assert_eq!(costs.len(), 2);
        assert!(
            (costs[0] - 0.11).abs() < 1e-9 && (costs[1] - 0.14).abs() < 1e-9,
            "{costs:?}"
        );
    }

    /// Proves a can_use_tool control request becomes an approval with the tool's call id, and that a
    /// malformed line and an unknown record type become an error and a raw event instead of being dropped.
    #[test]
    fn permission_request_bad_lines_and_unknown_records() {
        let (events, _, asks) = run(concat!(
            r#"{"type":"control_request","request_id":"r1","request":{"subtype":"can_use_tool","tool_name":"Write","input":{"file_path":"/x"},"tool_use_id":"toolu_1"}}"#,
            "\n{not json\n",
            r#"{"type":"brand_new_record","x":1}"#,
            "\n"
        ));
        assert_eq!(asks, 1);
        assert!(matches!(&events[0], EventBody::Error { message } if message.contains("not JSON")));
        assert!(matches!(&events[1], EventBody::Raw { .. }));
        assert!(
            matches!(&events[2], EventBody::Raw { line, .. } if line.contains("brand_new_record"))
        );
    }
}

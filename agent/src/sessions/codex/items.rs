//! App-server items as events: tool calls when an item starts, results, messages and reasoning when it
//! completes. Pure functions of the JSON, tested on captured real output.

use serde_json::Value;
use vibebridge_tunnel::session::{EventBody, Provider, ToolKind, ToolStatus};

use super::{change_paths, item_status};

/// A `ToolCall` for an app-server item that is a tool (`None` for messages and reasoning).
pub(super) fn tool_call(item: &Value) -> Option<EventBody> {
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
            out.push_str(&crate::sessions::diff::added_file(path, diff));
        } else {
            out.push_str(&crate::sessions::diff::header(path));
            out.push_str(diff);
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Events for a completed app-server item.
pub(super) fn item_completed(item: &Value) -> Vec<EventBody> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    /// Proves captured app-server output (real codex 0.169, an approved then a declined command) normalises
    /// to command calls with their titles, a succeeded result with output and exit code, a denied result,
    /// and the final agent messages.
    #[test]
    fn captured_app_server_items() {
        let mut events = Vec::new();
        for line in include_str!("../testdata/codex_appserver_approve.out.jsonl").lines() {
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

    /// Proves a file change's per-file diff text becomes a unified diff with headers.
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

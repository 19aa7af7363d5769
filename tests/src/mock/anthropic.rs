//! Mock Anthropic Messages API for the real `claude` CLI: `POST /v1/messages` (streaming SSE and plain JSON) and
//! the `HEAD /api/hello` preflight. Shapes follow PROVIDERS.md §1.2.

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Call, Core, Gone, MockServer, Reply, Sse, Turn, injected, mock_id};

/// A mock Anthropic API on 127.0.0.1; stops when dropped. Dereferences to [`MockServer`] for the request log
/// and gates.
pub struct MockAnthropic {
    server: MockServer,
}

impl MockAnthropic {
    /// Starts the mock on a fresh port.
    pub async fn start() -> MockAnthropic {
        let server = MockServer::start(
            Router::new()
                .route("/v1/messages", post(messages))
                .route("/api/hello", get(hello)),
        )
        .await;
        MockAnthropic { server }
    }

    /// The value for `ANTHROPIC_BASE_URL`: `http://127.0.0.1:PORT`, no `/v1` (the CLI appends `/v1/messages`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }
}

impl Deref for MockAnthropic {
    type Target = MockServer;

    fn deref(&self) -> &MockServer {
        &self.server
    }
}

/// The preflight the CLI sends unless nonessential traffic is disabled (GET routes answer HEAD too).
async fn hello(
    State(core): State<Arc<Core>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> StatusCode {
    core.record(&method, &uri, &headers, &[], false);
    StatusCode::OK
}

/// One content block of the reply.
enum Block {
    Thinking(String),
    Text(Vec<String>),
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
}

async fn messages(
    State(core): State<Arc<Core>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = core.record(&method, &uri, &headers, &body, true);
    let model = req.body["model"]
        .as_str()
        .unwrap_or("claude-mock")
        .to_string();
    let reply = Reply::plan(&read_turn(&req.body));
    if let Some(status) = reply.http_error {
        return error(status);
    }
    let mut blocks: Vec<Block> = reply
        .thinking
        .iter()
        .cloned()
        .map(Block::Thinking)
        .collect();
    let stop_reason = match &reply.call {
        Some(Call::Patch(_)) => {
            let text = "MOCK: [[patch:...]] is for Codex; Claude has no apply_patch tool";
            blocks.push(Block::Text(vec![text.to_string()]));
            "end_turn"
        }
        Some(Call::Tool(name, input)) => {
            blocks.push(tool_use(name, input.clone()));
            "tool_use"
        }
        Some(Call::Shell(cmd)) => {
            blocks.push(tool_use("Bash", json!({"command": cmd})));
            "tool_use"
        }
        None => {
            blocks.push(Block::Text(reply.text_chunks()));
            "end_turn"
        }
    };
    let message = json!({
        "id": mock_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": null,
        "stop_sequence": null,
        "usage": usage(body.len() / 4, 1),
    });
    if req.body["stream"] != true {
        if core.hold(&reply.gates, None).await.is_err() {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        let mut message = message;
        message["content"] = blocks.iter().map(block_json).collect();
        message["stop_reason"] = stop_reason.into();
        message["usage"] = usage(body.len() / 4, 20);
        return ([("request-id", mock_id("req"))], axum::Json(message)).into_response();
    }
    let (sse, response) = Sse::open("event: ping\ndata: {\"type\": \"ping\"}\n\n");
    tokio::spawn(async move {
        let streamed = stream(&core, &sse, message, &blocks, stop_reason, &reply).await;
        if streamed.is_err() {
            core.disconnected();
        }
    });
    let mut response = response;
    if let Ok(id) = mock_id("req").parse() {
        response.headers_mut().insert("request-id", id);
    }
    response
}

/// The SSE sequence: message_start, ping, (held at gates), each block's start/deltas/stop, message_delta,
/// message_stop.
async fn stream(
    core: &Core,
    sse: &Sse,
    message: Value,
    blocks: &[Block],
    stop_reason: &str,
    reply: &Reply,
) -> Result<(), Gone> {
    let input_tokens = message["usage"]["input_tokens"].clone();
    sse.event(
        "message_start",
        &json!({"type": "message_start", "message": message}),
    )
    .await?;
    sse.event("ping", &json!({"type": "ping"})).await?;
    core.hold(&reply.gates, Some(sse)).await?;
    for (index, block) in blocks.iter().enumerate() {
        let (start, deltas) = match block {
            Block::Thinking(t) => (
                json!({"type": "thinking", "thinking": "", "signature": ""}),
                vec![
                    json!({"type": "thinking_delta", "thinking": t}),
                    json!({"type": "signature_delta", "signature": mock_id("sig")}),
                ],
            ),
            Block::Text(chunks) => (
                json!({"type": "text", "text": ""}),
                chunks
                    .iter()
                    .map(|c| json!({"type": "text_delta", "text": c}))
                    .collect(),
            ),
            Block::ToolUse { id, name, input } => {
                let text = input.to_string();
                let cut = text
                    .char_indices()
                    .nth(text.chars().count() / 2)
                    .map_or(0, |(i, _)| i);
                (
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    [&text[..cut], &text[cut..]]
                        .iter()
                        .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
                        .collect(),
                )
            }
        };
        sse.event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": start}),
        )
        .await?;
        for (i, delta) in deltas.iter().enumerate() {
            if i > 0
                && matches!(block, Block::Text(_))
                && let Some(pause) = reply.slow
            {
                tokio::time::sleep(pause).await;
            }
            sse.event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            )
            .await?;
        }
        sse.event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        )
        .await?;
    }
    let mut usage = usage(0, 20);
    usage["input_tokens"] = input_tokens;
    sse.event(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": usage,
        }),
    )
    .await?;
    sse.event("message_stop", &json!({"type": "message_stop"}))
        .await?;
    Ok(())
}

/// Reads the prompt, the calls made since it and a returned tool result from a Messages request (§1.2: skip
/// `role: "system"` entries; user turns may be merged, and start with `<system-reminder>` blocks).
fn read_turn(body: &Value) -> Turn {
    let empty = Vec::new();
    let messages: Vec<&Value> = body["messages"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .filter(|m| m["role"] != "system")
        .collect();
    let blocks = |m: &Value| -> Vec<Value> {
        match &m["content"] {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(a) => a.clone(),
            _ => Vec::new(),
        }
    };
    let user_text = |b: &Value| -> Option<String> {
        let t = b["text"].as_str().filter(|_| b["type"] == "text")?;
        (!injected(t)).then(|| t.to_string())
    };
    let mut turn = Turn::default();
    let mut at = 0;
    for (i, m) in messages.iter().enumerate().rev() {
        if m["role"] != "user" {
            continue;
        }
        if let Some(text) = blocks(m).iter().rev().find_map(user_text) {
            turn.prompt = text;
            at = i;
            break;
        }
    }
    turn.rounds = messages
        .iter()
        .skip(at + 1)
        .filter(|m| m["role"] == "assistant")
        .flat_map(|m| blocks(m))
        .filter(|b| b["type"] == "tool_use")
        .count();
    if let Some(last) = messages.last().filter(|m| m["role"] == "user") {
        let last_block = blocks(last).into_iter().rev().find(|b| {
            b["type"] != "text"
                || b["text"]
                    .as_str()
                    .is_some_and(|t| !t.trim_start().starts_with("<system-reminder>"))
        });
        if let Some(b) = last_block.filter(|b| b["type"] == "tool_result") {
            turn.tool_output = Some(match &b["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                Value::Null => String::new(),
                other => other.to_string(),
            });
        }
    }
    turn
}

fn tool_use(name: &str, input: Value) -> Block {
    Block::ToolUse {
        id: mock_id("toolu"),
        name: name.to_string(),
        input,
    }
}

fn block_json(block: &Block) -> Value {
    match block {
        Block::Thinking(t) => {
            json!({"type": "thinking", "thinking": t, "signature": mock_id("sig")})
        }
        Block::Text(chunks) => json!({"type": "text", "text": chunks.concat()}),
        Block::ToolUse { id, name, input } => {
            json!({"type": "tool_use", "id": id, "name": name, "input": input})
        }
    }
}

fn usage(input: usize, output: usize) -> Value {
    json!({
        "input_tokens": input,
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    })
}

/// An Anthropic-shaped error: `{"type": "error", "error": {"type", "message"}}`.
fn error(status: u16) -> Response {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "type": "error",
        "error": {"type": kind, "message": format!("mock: scripted HTTP {status}")},
    });
    (code, [("request-id", mock_id("req"))], axum::Json(body)).into_response()
}

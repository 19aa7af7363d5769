//! Mock OpenAI Responses API for the real `codex` CLI (as a custom `model_providers` entry): `POST /v1/responses`
//! streaming SSE and `GET /v1/models`. Shapes follow PROVIDERS.md §2.2.

use std::ops::Deref;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{Call, Core, Gone, MockServer, Reply, Sse, Turn, injected, mock_id};

/// A mock OpenAI API on 127.0.0.1; stops when dropped. Dereferences to [`MockServer`] for the request log and
/// gates.
pub struct MockOpenAi {
    server: MockServer,
}

impl MockOpenAi {
    /// The environment variable the Codex provider config names as `env_key`; its value arrives as
    /// `Authorization: Bearer …`.
    pub const KEY_VAR: &'static str = "MOCK_OPENAI_API_KEY";

    /// Starts the mock on a fresh port.
    pub async fn start() -> MockOpenAi {
        let server = MockServer::start(
            Router::new()
                .route("/v1/responses", post(responses))
                .route("/v1/models", get(models)),
        )
        .await;
        MockOpenAi { server }
    }

    /// The provider `base_url`: `http://127.0.0.1:PORT/v1` (Codex POSTs `{base_url}/responses`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.server.addr())
    }
}

impl Deref for MockOpenAi {
    type Target = MockServer;

    fn deref(&self) -> &MockServer {
        &self.server
    }
}

async fn models(
    State(core): State<Arc<Core>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Json<Value> {
    core.record(&method, &uri, &headers, &[], false);
    Json(json!({"models": []}))
}

async fn responses(
    State(core): State<Arc<Core>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = core.record(&method, &uri, &headers, &body, true);
    let model = req.body["model"].as_str().unwrap_or("gpt-mock").to_string();
    let reply = Reply::plan(&read_turn(&req.body));
    if let Some(status) = reply.http_error {
        return error(status);
    }
    let mut items: Vec<Value> = reply
        .thinking
        .iter()
        .map(|t| {
            json!({
                "type": "reasoning",
                "id": mock_id("rs"),
                "summary": [{"type": "summary_text", "text": t}],
            })
        })
        .collect();
    items.push(match &reply.call {
        Some(call) => call_item(call, &req.body["tools"]),
        None => json!({
            "type": "message",
            "id": mock_id("msg"),
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
        }),
    });
    let response = json!({
        "id": mock_id("resp"),
        "object": "response",
        "created_at": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        "status": "in_progress",
        "model": model,
        "output": [],
    });
    let input_tokens = body.len() / 4;
    let (sse, http) = Sse::open(": keep-alive\n\n");
    tokio::spawn(async move {
        if stream(&core, &sse, response, &items, &reply, input_tokens)
            .await
            .is_err()
        {
            core.disconnected();
        }
    });
    http
}

/// The SSE sequence: response.created, (held at gates), per item output_item.added / deltas /
/// output_item.done, then response.completed with usage (without it Codex reports a broken stream).
async fn stream(
    core: &Core,
    sse: &Sse,
    mut response: Value,
    items: &[Value],
    reply: &Reply,
    input_tokens: usize,
) -> Result<(), Gone> {
    sse.event(
        "response.created",
        &json!({"type": "response.created", "response": response}),
    )
    .await?;
    core.hold(&reply.gates, Some(sse)).await?;
    for (index, item) in items.iter().enumerate() {
        let id = item["id"].clone();
        let mut started = item.clone();
        match item["type"].as_str() {
            Some("message") => started["content"] = json!([]),
            Some("function_call") => started["arguments"] = json!(""),
            Some("custom_tool_call") => started["input"] = json!(""),
            _ => {}
        }
        if item["type"] == "message" {
            started["status"] = json!("in_progress");
        }
        sse.event(
            "response.output_item.added",
            &json!({"type": "response.output_item.added", "output_index": index, "item": started}),
        )
        .await?;
        match item["type"].as_str() {
            Some("message") => {
                for (i, chunk) in reply.text_chunks().iter().enumerate() {
                    if i > 0
                        && let Some(pause) = reply.slow
                    {
                        tokio::time::sleep(pause).await;
                    }
                    let delta = json!({
                        "type": "response.output_text.delta",
                        "item_id": id, "output_index": index, "content_index": 0, "delta": chunk,
                    });
                    sse.event("response.output_text.delta", &delta).await?;
                }
            }
            Some("reasoning") => {
                let delta = json!({
                    "type": "response.reasoning_summary_text.delta",
                    "item_id": id, "output_index": index, "summary_index": 0,
                    "delta": item["summary"][0]["text"],
                });
                sse.event("response.reasoning_summary_text.delta", &delta)
                    .await?;
            }
            Some("function_call") => {
                let args = &item["arguments"];
                let delta = json!({
                    "type": "response.function_call_arguments.delta",
                    "item_id": id, "output_index": index, "delta": args,
                });
                sse.event("response.function_call_arguments.delta", &delta)
                    .await?;
                let done = json!({
                    "type": "response.function_call_arguments.done",
                    "item_id": id, "output_index": index, "arguments": args,
                });
                sse.event("response.function_call_arguments.done", &done)
                    .await?;
            }
            _ => {}
        }
        sse.event(
            "response.output_item.done",
            &json!({"type": "response.output_item.done", "output_index": index, "item": item}),
        )
        .await?;
    }
    response["status"] = json!("completed");
    response["output"] = json!(items);
    response["usage"] = json!({
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 20,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + 20,
    });
    sse.event(
        "response.completed",
        &json!({"type": "response.completed", "response": response}),
    )
    .await
}

/// Reads the prompt, the calls made since it and a returned tool output from a Responses request (§2.2: the
/// prompt is the last user message; `<environment_context>` and other injected user texts are skipped).
fn read_turn(body: &Value) -> Turn {
    let empty = Vec::new();
    let input = body["input"].as_array().unwrap_or(&empty);
    let mut turn = Turn::default();
    let mut at = 0;
    for (i, item) in input.iter().enumerate().rev() {
        let is_message = item["type"] == "message" || item["type"].is_null();
        if !is_message || item["role"] != "user" {
            continue;
        }
        let texts: Vec<&str> = match &item["content"] {
            Value::String(s) => vec![s.as_str()],
            Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
            _ => Vec::new(),
        };
        if let Some(text) = texts.into_iter().rev().find(|t| !injected(t)) {
            turn.prompt = text.to_string();
            at = i;
            break;
        }
    }
    turn.rounds = input
        .iter()
        .skip(at + 1)
        .filter(|i| {
            matches!(
                i["type"].as_str(),
                Some("function_call" | "custom_tool_call" | "local_shell_call")
            )
        })
        .count();
    let last = input.last().filter(|i| {
        matches!(
            i["type"].as_str(),
            Some("function_call_output" | "custom_tool_call_output")
        )
    });
    if let Some(last) = last {
        turn.tool_output = Some(match &last["output"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            other => other.to_string(),
        });
    }
    turn
}

/// The output item for a call, using the tools the request offers: the shell directive picks `exec_command`
/// (unified exec), `shell_command` or `shell`, whichever is present.
fn call_item(call: &Call, tools: &Value) -> Value {
    let empty = Vec::new();
    let offered = |name: &str| -> Option<&str> {
        tools
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .find(|t| t["name"] == name)
            .and_then(|t| t["type"].as_str())
    };
    let function = |name: &str, args: Value| {
        json!({
            "type": "function_call",
            "id": mock_id("fc"),
            "call_id": mock_id("call"),
            "name": name,
            "arguments": args.to_string(),
            "status": "completed",
        })
    };
    let custom = |name: &str, input: String| {
        json!({
            "type": "custom_tool_call",
            "id": mock_id("ctc"),
            "call_id": mock_id("call"),
            "name": name,
            "input": input,
            "status": "completed",
        })
    };
    match call {
        Call::Tool(name, input) => match (offered(name), input) {
            (Some("custom"), Value::String(s)) => custom(name, s.clone()),
            (Some("custom"), other) => custom(name, other.to_string()),
            _ => function(name, input.clone()),
        },
        Call::Shell(cmd) => {
            if offered("shell_command").is_some() && offered("exec_command").is_none() {
                function("shell_command", json!({"command": cmd}))
            } else if offered("shell").is_some() && offered("exec_command").is_none() {
                function("shell", json!({"command": ["bash", "-lc", cmd]}))
            } else {
                function("exec_command", json!({"cmd": cmd, "yield_time_ms": 10000}))
            }
        }
        Call::Patch(patch) => custom("apply_patch", patch.clone()),
    }
}

/// An OpenAI-shaped error: `{"error": {"message", "type", "code"}}`.
fn error(status: u16) -> Response {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "invalid_api_key",
        429 => "rate_limit_exceeded",
        _ => "server_error",
    };
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "error": {
            "message": format!("mock: scripted HTTP {status}"),
            "type": kind,
            "param": null,
            "code": kind,
        }
    });
    (code, Json(body)).into_response()
}

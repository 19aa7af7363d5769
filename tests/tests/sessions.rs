//! Agent sessions end to end: the real, pinned `claude` and `codex` CLIs on a node, driven through main's
//! API over the real tunnel, against the mock model APIs; events followed through main's SSE stream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use serde_json::json;
use vibebridge_tests::TempDir;
use vibebridge_tests::mock::{CLI_WAIT, claude_bin, codex_bin};
use vibebridge_tests::session_fx::{
    Fx, assert_contiguous, is_status, is_type, process_alive, wait_for_process, wrapper_script,
    write_prompt,
};

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
    wait_for_process(&marker, "the Bash command never started").await;
    fx.stop(&id).await;
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
    wait_for_process(&marker, "the command never started").await;
    fx.stop(&id).await;
    sse.until(CLI_WAIT, |e| is_status(e, "stopped")).await;
    assert!(!process_alive(&marker), "the command outlived stop");
}

/// A `codex` whose app-server cannot start, so sessions take the exec fallback; keep the directory alive.
fn codex_without_app_server() -> (TempDir, PathBuf) {
    wrapper_script(
        "codex",
        &format!(
            "for a in \"$@\"; do [ \"$a\" = app-server ] && {{ echo 'app-server disabled for this test' >&2; exit 2; }}; done\nexec {} \"$@\"\n",
            codex_bin().display()
        ),
    )
}

/// Proves the exec fallback: when `codex app-server` cannot start, the session runs through
/// `codex exec --json`, says so in an error event, the command still runs, and prompts that look like
/// options (`--help`, `-`) or subcommands reach the model as prompts, first turn and resumed.
#[tokio::test]
async fn codex_exec_fallback() {
    let (_wrapper_dir, wrapper) = codex_without_app_server();
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
    for prompt in ["--help", "-", "review"] {
        fx.message(&id, prompt).await;
        let want = format!("MOCK REPLY: {prompt}");
        sse.until(CLI_WAIT, |e| {
            is_type(e, "assistant_message") && e["text"] == want.as_str()
        })
        .await;
    }

    let id = fx
        .create("codex", "--dangerously-bypass-approvals-and-sandbox", None)
        .await;
    fx.sse(&id)
        .await
        .until(CLI_WAIT, |e| {
            is_type(e, "assistant_message")
                && e["text"] == "MOCK REPLY: --dangerously-bypass-approvals-and-sandbox"
        })
        .await;
}

/// Proves the exec fallback fails closed: a session with approval policy `untrusted` is not run without
/// approvals when the app-server cannot start; it fails with a message naming the policy, and its command
/// never runs.
#[tokio::test]
async fn codex_exec_fallback_refuses_untrusted() {
    let (_wrapper_dir, wrapper) = codex_without_app_server();
    let w = wrapper.clone();
    let fx = Fx::with("xexecuntrusted", move |c| {
        c.providers.codex.command = Some(w)
    })
    .await;
    let id = fx
        .create(
            "codex",
            "Write [[shell:echo unasked > unasked.txt]]",
            Some("untrusted"),
        )
        .await;
    let events = fx
        .sse(&id)
        .await
        .until(CLI_WAIT, |e| is_status(e, "failed"))
        .await;
    let failed = events.last().unwrap();
    assert!(
        failed["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"untrusted\"") && m.contains("app-server")),
        "{failed}"
    );
    assert!(
        !fx.repo.join("unasked.txt").exists(),
        "ran without approval"
    );
}

/// Proves malformed lines from the CLI (not JSON, not UTF-8) become error events (kept raw) and the
/// session goes on.
#[tokio::test]
async fn malformed_cli_line_is_an_error_not_a_crash() {
    let (_wrapper_dir, wrapper) = wrapper_script(
        "claude",
        &format!(
            "echo 'this is {{not json'\nprintf 'bad \\377\\376 bytes\\n'\nexec {} \"$@\"\n",
            claude_bin().display()
        ),
    );
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
            .any(|e| is_type(e, "error") && e["message"].as_str().unwrap().contains("UTF-8"))
    );
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
            403,
            "path_outside_roots",
        ),
        (
            json!({"node_id": "n1", "path": format!("{repo}/missing"), "provider": "claude", "prompt": "hi"}),
            404,
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

/// Proves follow-ups queued behind a running turn are bounded: past the limit the node answers 429 `queue_full`.
#[tokio::test]
async fn follow_up_queue_is_bounded() {
    let fx = Fx::new("qfull").await;
    let id = fx.create("claude", "Slowly [[gate:qfull]]", None).await;
    fx.claude.wait_held("qfull").await;
    let path = format!("/api/v1/sessions/{id}/messages");
    let mut refused = None;
    for n in 0..40 {
        let (status, body) = fx
            .api
            .post(&path, json!({ "text": format!("more {n}") }))
            .await;
        if status != 202 {
            refused = Some((n, status, body));
            break;
        }
        assert_eq!(body["queued"], true, "{body}");
    }
    let (n, status, body) = refused.expect("40 follow-ups were all queued");
    assert_eq!(
        (n, status, body["error"]["code"].as_str()),
        (32, 429, Some("queue_full")),
        "{body}"
    );
    fx.claude.release("qfull");
}

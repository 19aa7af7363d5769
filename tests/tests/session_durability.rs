//! Agent sessions survive what breaks around them: tunnel cuts, main and agent restarts, with events neither
//! lost nor doubled; and the browser WebSocket's replay, live follow and refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use vibebridge_tests::mock::CLI_WAIT;
use vibebridge_tests::session_fx::{Fx, assert_contiguous, is_status, is_type, write_prompt};
use vibebridge_tests::{Api, WsClient, ws_connect};

/// Proves a tunnel cut mid-turn loses and doubles nothing: the CLI keeps running on the node, main
/// re-attaches from its last seq, and an SSE client sees every seq exactly once.
#[tokio::test]
async fn tunnel_cut_mid_turn_keeps_events_contiguous() {
    let fx = Fx::new("cut").await;
    let id = fx.create("claude", "Slowly [[gate:cut]]", None).await;
    let mut sse = fx.sse(&id).await;
    fx.claude.wait_held("cut").await;
    let generation = fx.main.wait_online("n1").await;
    assert!(fx.main.state.registry.disconnect("n1"));
    fx.main.wait_link("n1", |g| g > generation).await;
    fx.claude.release("cut");
    let events = sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    assert_contiguous(&events);
    assert_contiguous(&fx.history(&id).await);
}

/// Proves a main restart mid-turn loses and doubles nothing: the turn finishes on the node while main is
/// down or reconnecting, and main's history afterwards is 1..=n with the final events in it.
#[tokio::test]
async fn main_restart_mid_turn_keeps_events_contiguous() {
    let mut fx = Fx::new("mrestart").await;
    let id = fx.create("claude", "Slowly [[gate:restart]]", None).await;
    fx.claude.wait_held("restart").await;
    let ssh = fx.stop_main().await;
    fx.claude.release("restart");
    fx.start_main(ssh).await;
    fx.main.wait_online("n1").await;
    let mut sse = fx.sse(&id).await;
    let events = sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    assert_contiguous(&events);
    assert!(events.iter().any(|e| is_type(e, "turn_completed")));
}

/// Proves an agent restart marks the running session interrupted (its CLI died with the agent), and the next
/// message resumes it through the CLI's own resume with the earlier conversation.
#[tokio::test]
async fn agent_restart_interrupts_then_resumes() {
    let mut fx = Fx::new("arestart").await;
    let id = fx
        .create("claude", "Remember the word pelican [[text:noted]]", None)
        .await;
    let mut sse = fx.sse(&id).await;
    sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    fx.message(&id, "Think slowly [[gate:never]]").await;
    fx.claude.wait_held("never").await;
    fx.restart_node(|_| {}).await;
    sse.until(CLI_WAIT, |e| is_status(e, "interrupted")).await;
    fx.message(&id, "What was the word? [[text:pelican again]]")
        .await;
    sse.until(CLI_WAIT, |e| {
        is_type(e, "assistant_message") && e["text"] == "pelican again"
    })
    .await;
    let last = fx.claude.model_requests().last().unwrap().body.to_string();
    assert!(
        last.contains("Remember the word pelican"),
        "not resumed: {last}"
    );
    assert_contiguous(&fx.history(&id).await);
}

/// Proves the browser WebSocket replays a session from `after_seq` in order and then follows it live, answers
/// bad frames with an error without closing, hides other users' sessions, and refuses unauthenticated and
/// cross-origin upgrades.
#[tokio::test]
async fn websocket_replays_then_follows() {
    let fx = Fx::new("ws").await;
    let id = fx.create("claude", "Hi [[text:first]]", None).await;
    let mut sse = fx.sse(&id).await;
    sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;

    let mut ws = WsClient::connect(&fx.api).await.unwrap();
    ws.send_text("not json at all").await;
    let err = ws.next().await;
    assert_eq!(err["type"], "error", "{err}");
    ws.send_text(r#"{"type":"ping"}"#).await;
    assert_eq!(ws.next().await["type"], "pong");
    ws.send_text(
        &json!({"type": "subscribe", "session_id": "01a1fd77-0000-7000-8000-000000000000"})
            .to_string(),
    )
    .await;
    assert_eq!(ws.next().await["type"], "error");

    ws.send_text(&json!({"type": "subscribe", "session_id": id, "after_seq": 2}).to_string())
        .await;
    assert_eq!(ws.next().await["type"], "subscribed");
    let (_, s) = fx.api.get(&format!("/api/v1/sessions/{id}")).await;
    let last = s["last_seq"].as_u64().unwrap();
    for want in 3..=last {
        let frame = ws.next().await;
        assert_eq!(
            (frame["type"].as_str(), frame["event"]["seq"].as_u64()),
            (Some("event"), Some(want)),
            "{frame}"
        );
    }
    // Live: a follow-up's events arrive on the same subscription, still in order.
    fx.message(&id, "Again [[text:second]]").await;
    let mut seq = last;
    loop {
        let frame = ws.next().await;
        assert_eq!(frame["event"]["seq"].as_u64(), Some(seq + 1), "{frame}");
        seq += 1;
        if frame["event"]["type"] == "assistant_message" && frame["event"]["text"] == "second" {
            break;
        }
    }

    // Another user sees nothing of alice's session; no token, no upgrade.
    let mut bob = Api::new(&fx.main);
    bob.auth(true, "bob", "another long password").await;
    let (status, _) = fx.api.post("/api/v1/users/bob/approve", json!({})).await;
    assert_eq!(status, 200);
    let mut bob = {
        let mut a = Api::new(&fx.main);
        a.auth(false, "bob", "another long password").await;
        a
    };
    let (status, _) = bob.get(&format!("/api/v1/sessions/{id}")).await;
    assert_eq!(status, 404);
    let mut ws_bob = WsClient::connect(&bob).await.unwrap();
    ws_bob
        .send_text(&json!({"type": "subscribe", "session_id": id}).to_string())
        .await;
    assert_eq!(ws_bob.next().await["type"], "error");
    bob.token = None;
    assert_eq!(refused_status(WsClient::connect(&bob).await), 401);

    // A page from another origin cannot open it with the user's credentials.
    assert_eq!(
        refused_status(ws_connect(&fx.api, "/api/v1/ws", Some("http://evil.example")).await),
        403
    );
}

/// The HTTP status of a refused WebSocket upgrade; panics if the upgrade succeeded or failed otherwise.
fn refused_status<T>(result: Result<T, tokio_tungstenite::tungstenite::Error>) -> u16 {
    match result {
        Ok(_) => panic!("the WebSocket upgrade was accepted"),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("the upgrade failed without an HTTP refusal: {e}"),
    }
}

/// Proves a pending approval survives a tunnel cut: it stays in the inbox while the node reconnects, and
/// answering it afterwards lets the tool run.
#[tokio::test]
async fn pending_approval_survives_tunnel_cut() {
    let fx = Fx::new("approvecut").await;
    let target = fx.repo.join("after-cut.txt");
    let id = fx
        .create(
            "claude",
            &write_prompt(&target, "survived\n"),
            Some("default"),
        )
        .await;
    let mut sse = fx.sse(&id).await;
    let events = sse
        .until(CLI_WAIT, |e| is_type(e, "approval_requested"))
        .await;
    let approval = events.last().unwrap()["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    let generation = fx.main.wait_online("n1").await;
    assert!(fx.main.state.registry.disconnect("n1"));
    fx.main.wait_link("n1", |g| g > generation).await;
    let (_, inbox) = fx.api.get("/api/v1/approvals").await;
    assert_eq!(inbox[0]["approval_id"], approval.as_str(), "{inbox}");
    fx.decide(&id, &approval, "allow", None).await;
    let events = sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "survived\n");
    assert_contiguous(&fx.history(&id).await);
    assert!(
        events
            .iter()
            .any(|e| is_type(e, "approval_resolved") && e["resolution"] == "allowed")
    );
}

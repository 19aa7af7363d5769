//! Main and a node agree on which sessions exist: a start whose answer is lost stays visible on main until the
//! node says what became of it, a node stops a session main has no record of, a node re-enrolled under the
//! same id inherits nothing, a request too large to reach the node is refused as such, and main fetches
//! back events it lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use uuid::Uuid;
use vibebridge_tests::TestNode;
use vibebridge_tests::mock::CLI_WAIT;
use vibebridge_tests::proxy::Proxy;
use vibebridge_tests::session_fx::{Fx, is_status, node_config, process_alive, wait_for_process};

/// Starts a claude session whose start answer main never gets: accepted as `unknown` (202); returns its id.
async fn start_unanswered(fx: &Fx, prompt: &str) -> String {
    let (status, body) = fx
        .api
        .post(
            "/api/v1/sessions",
            json!({"node_id": "n1", "path": fx.repo.display().to_string(),
                   "provider": "claude", "prompt": prompt}),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("unknown")),
        "{body}"
    );
    body["id"].as_str().unwrap().to_string()
}

/// Proves a start whose answer is lost after the node started the CLI keeps the session (`unknown`), which
/// then shows the node's real state and can be stopped.
#[tokio::test]
async fn lost_start_answer_keeps_the_session() {
    let mut fx = Fx::new("loststart").await;
    let proxy = Proxy::start(fx.main.ssh).await;
    let generation = fx
        .restart_node(|cfg| cfg.node.main_addr = proxy.addr.to_string())
        .await;
    // The request reaches the node; its answer never comes back on this link.
    proxy.freeze_upstream_existing();
    let id = start_unanswered(&fx, "Slowly [[gate:lost]]").await;
    fx.claude.wait_held("lost").await;
    fx.main.wait_link("n1", |g| g > generation).await;
    let mut sse = fx.sse(&id).await;
    sse.until(CLI_WAIT, |e| is_status(e, "running")).await;
    fx.stop(&id).await;
    sse.until(CLI_WAIT, |e| is_status(e, "stopped")).await;
    fx.claude.release("lost");
}

/// Proves a start lost before it reached the node stays `unknown` on main until the node says it has no such
/// session, then turns `failed`.
#[tokio::test]
async fn start_that_never_arrived_turns_failed() {
    let mut fx = Fx::new("neverstart").await;
    let proxy = Proxy::start(fx.main.ssh).await;
    fx.restart_node(|cfg| cfg.node.main_addr = proxy.addr.to_string())
        .await;
    proxy.freeze_existing();
    let id = start_unanswered(&fx, "Hi [[text:never]]").await;
    let deadline = tokio::time::Instant::now() + CLI_WAIT;
    loop {
        let (_, s) = fx.api.get(&format!("/api/v1/sessions/{id}")).await;
        if s["status"] == "failed" {
            assert!(
                s["status_message"]
                    .as_str()
                    .unwrap()
                    .contains("no such session"),
                "{s}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {s}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(fx.claude.model_requests().is_empty());
}

/// Proves a node that comes online running a session main has no record of stops it.
#[tokio::test]
async fn node_stops_a_session_main_does_not_know() {
    let mut fx = Fx::new("orphan").await;
    let marker = format!("time.sleep(300.{})", std::process::id());
    let id = fx
        .create(
            "claude",
            &format!("Run it. [[shell:python3 -c 'import time; {marker}']]"),
            Some("bypassPermissions"),
        )
        .await;
    wait_for_process(&marker, "the command never started").await;
    // Main forgets the session while down (a restored backup, or an older main that dropped it).
    let ssh = fx.stop_main().await;
    {
        let store = vibebridge_main::Store::open(&fx.dir.path().join("main/db")).unwrap();
        store
            .remove_agent_session(&Uuid::parse_str(&id).unwrap())
            .unwrap();
        store.flush().unwrap();
    }
    fx.start_main(ssh).await;
    fx.main.wait_online("n1").await;
    tokio::time::timeout(CLI_WAIT, async {
        while process_alive(&marker) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the node kept running a session main has no record of");
}

/// Proves a prompt or message larger than a tunnel frame answers 413 `too_large` (not `node_offline`) and
/// leaves no session behind.
#[tokio::test]
async fn prompt_larger_than_a_frame_is_413() {
    let fx = Fx::new("bigprompt").await;
    let big = "a".repeat(vibebridge_tunnel::frame::DEFAULT_MAX_FRAME + 1024);
    let (status, body) = fx
        .api
        .post(
            "/api/v1/sessions",
            json!({"node_id": "n1", "path": fx.repo.display().to_string(),
                   "provider": "claude", "prompt": big}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("too_large")),
        "{body}"
    );
    let (_, list) = fx.api.get("/api/v1/sessions").await;
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");
    let id = fx.create("claude", "Hi [[text:small]]", None).await;
    let (status, body) = fx
        .api
        .post(
            &format!("/api/v1/sessions/{id}/messages"),
            json!({ "text": big }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("too_large")),
        "{body}"
    );
}

/// Proves a node id revoked and re-enrolled with a new key (its old session store kept) does not inherit the
/// old enrolment's live sessions: main marks them failed and refuses to continue them.
#[tokio::test]
async fn reenrolled_node_does_not_inherit_sessions() {
    let mut fx = Fx::new("reenrol").await;
    let id = fx.create("claude", "Hi [[text:first]]", None).await;
    fx.sse(&id)
        .await
        .until(CLI_WAIT, |e| is_status(e, "idle"))
        .await;
    let (status, body) = fx.api.delete("/api/v1/nodes/n1").await;
    assert_eq!(status, 200, "{body}");
    fx.restart_node(|cfg| {
        std::fs::remove_file(vibebridge_agent::identity::key_path(&cfg.database.path)).unwrap();
    })
    .await;
    let deadline = tokio::time::Instant::now() + CLI_WAIT;
    loop {
        let (_, s) = fx.api.get(&format!("/api/v1/sessions/{id}")).await;
        if s["status"] == "failed" {
            assert!(
                s["status_message"]
                    .as_str()
                    .unwrap()
                    .contains("re-enrolled"),
                "{s}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {s}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, body) = fx
        .api
        .post(
            &format!("/api/v1/sessions/{id}/messages"),
            json!({ "text": "hello again" }),
        )
        .await;
    assert_eq!(status, 403, "{body}");
}

/// Proves main fetches back events it lost (a main killed before it wrote them out) when the node comes
/// online, also for a session whose CLI has ended: the node says how far each session's log goes.
#[tokio::test]
async fn main_fetches_back_events_it_lost() {
    let mut fx = Fx::new("refetch").await;
    let id = fx
        .create("claude", "Hi [[text:kept on the node]]", None)
        .await;
    let mut sse = fx.sse(&id).await;
    sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    // Ended, so only the node's account of its log can make main attach again.
    fx.stop(&id).await;
    sse.until(CLI_WAIT, |e| is_status(e, "stopped")).await;
    let want = fx.history(&id).await;
    // With the node away (so no attach refills it), main's copy loses every event of the session, as a
    // main killed before sled wrote them out would; main restarts and the node comes back.
    fx.node.take().unwrap().stop().await;
    let store = &fx.main.state.store;
    let sid = Uuid::parse_str(&id).unwrap();
    let mut rec = store.agent_session(&sid).unwrap().unwrap();
    store.remove_agent_session(&sid).unwrap();
    rec.last_seq = 0;
    store.insert_agent_session(&rec).unwrap();
    assert!(fx.history(&id).await.is_empty());
    let ssh = fx.stop_main().await;
    fx.start_main(ssh).await;
    fx.node = Some(TestNode::start(node_config(&fx.dir, &fx.main, &fx.env)));
    fx.main.wait_online("n1").await;
    let deadline = tokio::time::Instant::now() + CLI_WAIT;
    while fx.history(&id).await != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "main never fetched back the events it lost"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

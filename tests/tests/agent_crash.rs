//! Events stay contiguous on main when a node dies hard: an agent killed with `kill -9` mid-session never
//! reuses a seq main already has, and a hole in a node's seqs is reported without stopping the attach.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use uuid::Uuid;
use vibebridge_agent::sessions::store::AgentStore;
use vibebridge_tests::mock::CLI_WAIT;
use vibebridge_tests::session_fx::{
    AgentProcess, Fx, assert_contiguous, is_status, is_type, node_config, node_session,
};

const AGENT: &str = env!("CARGO_BIN_EXE_test-agent");

/// Replaces the fixture's in-process node with the agent in a process of its own (so it can be `kill -9`ed);
/// returns it once main has its link, with the link's generation.
async fn agent_process(fx: &mut Fx) -> (AgentProcess, u64) {
    let generation = fx.main.wait_online("n1").await;
    fx.node.take().unwrap().stop().await;
    restart(fx, generation).await
}

/// Starts the agent process (again) and waits until main has a link newer than `generation`.
async fn restart(fx: &Fx, generation: u64) -> (AgentProcess, u64) {
    let agent = AgentProcess::start(AGENT, node_config(&fx.dir, &fx.main, &fx.env));
    let generation = fx.main.wait_link("n1", |g| g > generation).await;
    (agent, generation)
}

/// Waits until main's history of `id` has `turns` `running` statuses; returns its length.
async fn wait_running(fx: &Fx, id: &str, turns: usize) -> usize {
    let deadline = tokio::time::Instant::now() + CLI_WAIT;
    loop {
        let history = fx.history(id).await;
        if history.iter().filter(|e| is_status(e, "running")).count() >= turns {
            return history.len();
        }
        assert!(tokio::time::Instant::now() < deadline, "never running");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Proves an agent `kill -9`ed right after a turn and again mid-turn never reuses a seq main has: main's
/// events stay contiguous and identical to the node's, the interruption reaches main, and the session resumes.
#[tokio::test]
async fn agent_kill9_keeps_node_and_main_identical() {
    let mut fx = Fx::new("kill9").await;
    let (agent, generation) = agent_process(&mut fx).await;
    let id = fx.create("claude", "Hi [[text:first]]", None).await;
    let mut sse = fx.sse(&id).await;
    sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    // Right after main has the turn's last events: before the node's store would flush them on its own.
    agent.kill9().await;
    let (agent, generation) = restart(&fx, generation).await;

    fx.message(&id, "Slowly [[gate:k9]]").await;
    fx.claude.wait_held("k9").await;
    wait_running(&fx, &id, 2).await;
    agent.kill9().await;
    fx.claude.release("k9");
    let (agent, _) = restart(&fx, generation).await;
    sse.until(CLI_WAIT, |e| is_status(e, "interrupted")).await;
    fx.message(&id, "Carry on [[text:back again]]").await;
    sse.until(CLI_WAIT, |e| {
        is_type(e, "assistant_message") && e["text"] == "back again"
    })
    .await;
    sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    agent.stop().await;
    let main_events = fx.history(&id).await;
    assert_contiguous(&main_events);
    assert_eq!(
        node_session(&fx.dir.path().join("node-n1"), &id).0,
        main_events,
        "node and main differ"
    );
}

/// Proves a hole in the node's seqs is filled on main with an error event and the attach goes on.
#[tokio::test]
async fn hole_in_node_seqs_is_reported_not_fatal() {
    let mut fx = Fx::new("hole").await;
    // A finished turn first, so the CLI has saved a conversation to resume.
    let id = fx.create("claude", "Hi [[text:first]]", None).await;
    fx.sse(&id)
        .await
        .until(CLI_WAIT, |e| is_status(e, "idle"))
        .await;
    fx.message(&id, "Slowly [[gate:hole]]").await;
    fx.claude.wait_held("hole").await;
    let before = wait_running(&fx, &id, 2).await as u64;
    // Main stops with the session running; then the node, and its store skips a seq.
    let ssh = fx.stop_main().await;
    fx.node.take().unwrap().stop().await;
    fx.claude.release("hole");
    {
        let store = AgentStore::open(&fx.dir.path().join("node-n1")).unwrap();
        let sid = Uuid::parse_str(&id).unwrap();
        let mut meta = store.meta(&sid).unwrap().unwrap();
        assert!(meta.last_seq >= before);
        meta.last_seq += 1;
        store.put_meta(&meta).unwrap();
        store.flush();
    }
    fx.start_main(ssh).await;
    fx.node = Some(vibebridge_tests::TestNode::start(node_config(
        &fx.dir, &fx.main, &fx.env,
    )));
    fx.main.wait_online("n1").await;
    let mut sse = fx.sse(&id).await;
    sse.until(CLI_WAIT, |e| is_status(e, "interrupted")).await;
    fx.message(&id, "Carry on [[text:after the hole]]").await;
    sse.until(CLI_WAIT, |e| {
        is_type(e, "assistant_message") && e["text"] == "after the hole"
    })
    .await;
    let history = fx.history(&id).await;
    assert_contiguous(&history);
    assert!(
        history
            .iter()
            .any(|e| is_type(e, "error") && e["message"].as_str().unwrap().contains("was lost")),
        "no error event reports the hole"
    );
}

/// Proves a message main was told the node took survives the agent's `kill -9` right after: it is in the
/// node's log on disk (here the message starts the CLI again, the path that answered before recording it).
#[tokio::test]
async fn accepted_message_survives_agent_kill9() {
    let mut fx = Fx::new("msgkill9").await;
    let (agent, generation) = agent_process(&mut fx).await;
    let id = fx.create("claude", "Hi [[text:first]]", None).await;
    let mut sse = fx.sse(&id).await;
    sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    fx.stop(&id).await;
    sse.until(CLI_WAIT, |e| is_status(e, "stopped")).await;
    fx.message(&id, "Remember this [[gate:m9]]").await;
    agent.kill9().await;
    fx.claude.release("m9");
    let (agent, _) = restart(&fx, generation).await;
    sse.until(CLI_WAIT, |e| is_status(e, "interrupted")).await;
    agent.stop().await;
    let (on_node, _) = node_session(&fx.dir.path().join("node-n1"), &id);
    assert!(
        on_node
            .iter()
            .any(|e| is_type(e, "user_message") && e["text"] == "Remember this [[gate:m9]]"),
        "the node lost a message it had accepted: {on_node:#?}"
    );
}

/// Proves a follow-up queued behind a running turn survives the agent's `kill -9`: after the restart the
/// session resumes with it (a `user_message` on the node, its turn answered by the model), so an
/// acknowledged message is never lost.
#[tokio::test]
async fn queued_follow_up_survives_agent_kill9() {
    let mut fx = Fx::new("queuekill9").await;
    let (agent, generation) = agent_process(&mut fx).await;
    let id = fx.create("claude", "Hi [[gate:q9]]", None).await;
    fx.claude.wait_held("q9").await;
    let (status, body) = fx
        .api
        .post(
            &format!("/api/v1/sessions/{id}/messages"),
            json!({"text": "Then this, please [[text:resumed]]"}),
        )
        .await;
    assert_eq!((status, &body["queued"]), (202, &json!(true)), "{body}");
    agent.kill9().await;
    fx.claude.release("q9");
    let (agent, _) = restart(&fx, generation).await;
    let mut sse = fx.sse(&id).await;
    sse.until(CLI_WAIT, |e| {
        e["type"] == "assistant_message" && e["text"] == "resumed"
    })
    .await;
    sse.until(CLI_WAIT, |e| is_status(e, "idle")).await;
    agent.stop().await;
    let (on_node, _) = node_session(&fx.dir.path().join("node-n1"), &id);
    assert!(
        on_node.iter().any(
            |e| is_type(e, "user_message") && e["text"] == "Then this, please [[text:resumed]]"
        ),
        "the node lost a follow-up it had accepted: {on_node:#?}"
    );
    assert!(
        !on_node.iter().any(
            |e| is_type(e, "error") && e["message"].as_str().unwrap_or("").contains("not sent")
        ),
        "the follow-up was reported as not sent: {on_node:#?}"
    );
}

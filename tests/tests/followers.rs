//! Followers of sessions (WebSocket and SSE) cannot exhaust main's memory: one follower per session however
//! its id is spelled, caps per user and per socket that answer with their error code, catch-up and history
//! pages bounded by bytes, and readers that stop reading cut rather than buffered for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message};
use vibebridge_main::store::UserId;
use vibebridge_tests::{Api, TempDir, TestMain, WsClient, seed};

/// Size of a large event's text.
const BIG: usize = 400 * 1024;

/// Main (tweaked), logged in as alice, and alice's id.
async fn setup(
    tag: &str,
    tweak: impl FnOnce(&mut vibebridge_main::MainConfig),
) -> (TempDir, TestMain, Api, UserId) {
    let dir = TempDir::new(tag);
    let main = TestMain::start_with(dir.path(), None, tweak).await;
    let mut api = Api::new(&main);
    assert_eq!(
        api.auth(true, "alice", "correct horse battery").await.0,
        200
    );
    let user = main.state.store.user_by_name("alice").unwrap().unwrap().id;
    (dir, main, api, user)
}

fn subscribe(id: &str, after: u64) -> String {
    json!({"type": "subscribe", "session_id": id, "after_seq": after}).to_string()
}

/// Proves a WebSocket reader that stops reading is cut after `server.slow_consumer_timeout`: its follower and
/// its live-connection slot are released while it still stalls, and reading again finds the connection ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_ws_reader_is_cut() {
    let (_dir, main, api, user) = setup("follow-ws-stall", |c| {
        c.server.slow_consumer_timeout = Duration::from_secs(1);
    })
    .await;
    let id = seed::session(&main.state.store, user, 64, BIG);
    let mut ws = WsClient::connect(&api).await.unwrap();
    ws.send_text(&subscribe(&id.to_string(), 0)).await;
    assert_eq!(ws.next().await["type"], "subscribed");
    // The reader stops reading: 25 MiB do not fit in the sockets' buffers.
    seed::until("the stalled reader's follower is cut", || {
        main.state.hub.followers(id) == 0 && main.state.live.count(user) == 0
    })
    .await;
    let mut seqs = Vec::new();
    while let Some(msg) = ws.recv().await {
        match msg {
            Message::Text(t) => {
                let frame: Value = serde_json::from_str(&t).unwrap();
                seqs.push(frame["event"]["seq"].as_u64().unwrap());
            }
            Message::Close(Some(frame)) => {
                assert_eq!(u16::from(frame.code), 1013);
                assert!(frame.reason.starts_with("slow_consumer"), "{frame:?}");
            }
            _ => {}
        }
    }
    assert!(seqs.len() < 64, "a cut reader does not get everything");
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    main.stop().await;
}

/// Proves an SSE reader that stops reading is cut after `server.slow_consumer_timeout` (its follower
/// released) and, reading again, gets the events it had been sent and then an `error` event saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_sse_reader_is_cut_with_a_reason() {
    let (_dir, main, api, user) = setup("follow-sse-stall", |c| {
        c.server.slow_consumer_timeout = Duration::from_secs(1);
    })
    .await;
    let id = seed::session(&main.state.store, user, 64, BIG);
    let resp = api
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/sessions/{id}/stream?after=0"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The stream's follower starts in a task of its own: seen first, so that "none" below means "cut", not
    // "not started yet" (on a loaded machine the check could pass before it started; the test then read a
    // live stream that never ends).
    seed::until("the stalled reader follows the session", || {
        main.state.hub.followers(id) > 0
    })
    .await;
    seed::until("the stalled reader's follower is cut", || {
        main.state.hub.followers(id) == 0
    })
    .await;
    // What the server still had queued comes first: megabytes, which a loaded two-core machine running
    // agent CLIs and a browser beside this test may take longer than `WAIT` to move. Bounded all the same.
    let body = tokio::time::timeout(vibebridge_tests::mock::CLI_WAIT, resp.text())
        .await
        .expect("the cut stream ends")
        .unwrap();
    let blocks: Vec<&str> = body.split("\n\n").filter(|b| b.contains("data:")).collect();
    let last = blocks.last().unwrap();
    assert!(last.contains("event: error"), "{last}");
    assert!(last.contains("slow_consumer"), "{last}");
    let sent = blocks.len() - 1;
    assert!(sent < 64, "a cut reader does not get everything");
    seed::until("the connection slot is released", || {
        main.state.live.count(user) == 0
    })
    .await;
    main.stop().await;
}

/// Proves one socket follows a session once however its id is spelled (case, braces, no hyphens, URN): every
/// spelling is answered with the canonical id and replaces the previous follower, and unsubscribing by
/// another spelling ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spellings_of_one_id_are_one_follower() {
    let (_dir, main, api, user) = setup("follow-spellings", |_| {}).await;
    let id = seed::session(&main.state.store, user, 2, 10);
    let canonical = id.to_string();
    let spellings = [
        canonical.clone(),
        canonical.to_uppercase(),
        id.simple().to_string(),
        format!("{{{canonical}}}"),
        id.urn().to_string(),
    ];
    let mut ws = WsClient::connect(&api).await.unwrap();
    for s in &spellings {
        ws.send_text(&subscribe(s, 0)).await;
        let frame = ws.next().await;
        assert_eq!(frame["type"], "subscribed", "{frame}");
        assert_eq!(frame["session_id"], canonical.as_str());
        for seq in 1..=2 {
            let ev = ws.next().await;
            assert_eq!(
                (&ev["session_id"], &ev["event"]["seq"]),
                (&json!(canonical), &json!(seq))
            );
        }
    }
    seed::until("one follower remains", || main.state.hub.followers(id) == 1).await;
    ws.send_text(&json!({"type": "unsubscribe", "session_id": spellings[1]}).to_string())
        .await;
    let frame = ws.next().await;
    assert_eq!(
        (&frame["type"], &frame["session_id"]),
        (&json!("unsubscribed"), &json!(canonical))
    );
    seed::until("no follower remains", || main.state.hub.followers(id) == 0).await;
    main.stop().await;
}

/// Proves the per-user cap on live connections answers 429 `too_many_connections` to one WebSocket or SSE
/// stream too many (and frees a slot when a connection ends), and the per-socket cap on followers answers
/// `too_many_subscriptions` while re-subscribing to a followed session still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_answer_with_their_error() {
    let (_dir, main, api, user) = setup("follow-caps", |c| {
        c.server.live_connections_per_user = 2;
    })
    .await;
    let first = WsClient::connect(&api).await.unwrap();
    let mut ws = WsClient::connect(&api).await.unwrap();
    match WsClient::connect(&api).await {
        Err(tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 429);
            let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["error"]["code"], "too_many_connections", "{body}");
        }
        other => panic!(
            "a third live connection was not refused: {:?}",
            other.is_ok()
        ),
    }
    let id = seed::session(&main.state.store, user, 1, 10);
    let sse = format!("/api/v1/sessions/{id}/stream");
    let (status, body) = api.get(&sse).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (429, &json!("too_many_connections"))
    );
    drop(first);
    seed::until("the closed connection's slot is free", || {
        main.state.live.count(user) == 1
    })
    .await;
    let open = api
        .request(reqwest::Method::GET, &sse)
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    drop(open);

    let max = 32;
    let ids: Vec<_> = (0..=max)
        .map(|_| seed::session(&main.state.store, user, 0, 0))
        .collect();
    for id in &ids[..max] {
        ws.send_text(&subscribe(&id.to_string(), 0)).await;
        assert_eq!(ws.next().await["type"], "subscribed");
    }
    ws.send_text(&subscribe(&ids[max].to_string(), 0)).await;
    let refused = ws.next().await;
    assert_eq!(
        (&refused["type"], &refused["code"]),
        (&json!("error"), &json!("too_many_subscriptions")),
        "{refused}"
    );
    ws.send_text(&subscribe(&ids[0].to_string().to_uppercase(), 0))
        .await;
    assert_eq!(ws.next().await["type"], "subscribed");
    main.stop().await;
}

/// Proves a history page of large events stops at its byte budget (4 MiB), not at the count asked for, and
/// says there is more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_are_bounded_by_bytes() {
    let (_dir, main, api, user) = setup("follow-pages", |_| {}).await;
    let id = seed::session(&main.state.store, user, 20, BIG);
    let (status, page) = api
        .get(&format!("/api/v1/sessions/{id}/events?after=0&limit=1000"))
        .await;
    assert_eq!(status, 200);
    let n = page["events"].as_array().unwrap().len();
    assert!((1..20).contains(&n), "{n} events of 400 KiB in one page");
    assert!(n * BIG <= 4 * 1024 * 1024);
    assert_eq!(
        (page["more"].as_bool(), page["next_after"].as_u64()),
        (Some(true), Some(n as u64))
    );
    main.stop().await;
}

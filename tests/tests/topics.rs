//! The WebSocket's live topics: approvals and questions, the session list, nodes and users are pushed to
//! whoever may see them, and to no one else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use vibebridge_main::store::UserId;
use vibebridge_tests::{Api, TempDir, TestMain, TestNode, WsClient, seed};
use vibebridge_tunnel::session::{EventBody, Resolution, SessionEvent, SessionStatus};

/// Main with alice (the creator) and two approved users, bob and carol, each logged in.
async fn users(tag: &str) -> (TempDir, TestMain, [(Api, UserId); 3]) {
    let dir = TempDir::new(tag);
    let main = TestMain::start(dir.path()).await;
    let mut logins = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let mut api = Api::new(&main);
        assert_eq!(api.auth(true, name, "correct horse battery").await.0, 200);
        let id = main.state.store.user_by_name(name).unwrap().unwrap().id;
        logins.push((api, id));
    }
    for name in ["bob", "carol"] {
        let (status, body) = logins[0]
            .0
            .post(&format!("/api/v1/users/{name}/approve"), json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let logins: [(Api, UserId); 3] = logins.try_into().ok().unwrap();
    (dir, main, logins)
}

/// A WebSocket of `api`'s user watching `topics`.
async fn watching(api: &Api, topics: &[&str]) -> WsClient {
    let mut ws = WsClient::connect(api).await.unwrap();
    ws.send_text(&json!({"type": "watch", "topics": topics}).to_string())
        .await;
    let ack = ws.next().await;
    assert_eq!(ack, json!({"type": "watching", "topics": topics}));
    ws
}

/// The next frame of type `kind`, after any of the types in `skip` (anything else fails the test).
async fn next_of(ws: &mut WsClient, kind: &str, skip: &[&str]) -> Value {
    loop {
        let frame = ws.next().await;
        if frame["type"] == kind {
            return frame;
        }
        assert!(
            skip.contains(&frame["type"].as_str().unwrap()),
            "unexpected frame while waiting for {kind}: {frame}"
        );
    }
}

fn event(seq: u64, body: EventBody) -> SessionEvent {
    SessionEvent {
        seq,
        at_ms: seq,
        body,
    }
}

fn question(id: &str) -> EventBody {
    EventBody::Question {
        approval_id: id.into(),
        questions: json!([{"question": "Which one?"}]),
    }
}

fn resolved(id: &str, resolution: Resolution) -> EventBody {
    EventBody::ApprovalResolved {
        approval_id: id.into(),
        resolution,
        message: None,
    }
}

/// Proves a question and its answer reach the inbox of the session's owner (and admins) the moment they are
/// stored, a timed-out one says so, and another user hears nothing of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_and_sessions_reach_only_who_may_see_them() {
    let (_dir, main, [(alice, _), (bob, bob_id), (carol, carol_id)]) =
        users("topics-approvals").await;
    let store = &main.state.store;
    let bobs = seed::session_on(store, bob_id, "n9");
    let carols = seed::session_on(store, carol_id, "n9");
    let mut admin_ws = watching(&alice, &["approvals"]).await;
    let mut bob_ws = watching(&bob, &["approvals", "sessions"]).await;
    let mut carol_ws = watching(&carol, &["approvals", "sessions"]).await;

    store
        .apply_session_events(&bobs, vec![event(1, question("q1"))])
        .unwrap();
    let asked = next_of(&mut bob_ws, "approval", &["session"]).await;
    assert_eq!(
        asked,
        json!({"type": "approval", "change": "created", "approval_id": "q1", "session_id": bobs.to_string()})
    );
    assert_eq!(next_of(&mut admin_ws, "approval", &[]).await, asked);
    store
        .apply_session_events(&bobs, vec![event(2, resolved("q1", Resolution::Allowed))])
        .unwrap();
    let answered = next_of(&mut bob_ws, "approval", &["session"]).await;
    assert_eq!(answered["change"], "answered");
    store
        .apply_session_events(
            &bobs,
            vec![
                event(3, question("q2")),
                event(4, resolved("q2", Resolution::TimedOut)),
            ],
        )
        .unwrap();
    assert_eq!(
        next_of(&mut bob_ws, "approval", &["session"]).await["change"],
        "created"
    );
    assert_eq!(
        next_of(&mut bob_ws, "approval", &["session"]).await["change"],
        "timed_out"
    );

    // Carol's own session changes; the first frame she gets is about it, none about bob's.
    store
        .apply_session_events(
            &carols,
            vec![event(
                1,
                EventBody::Status {
                    status: SessionStatus::Running,
                    message: None,
                },
            )],
        )
        .unwrap();
    assert_eq!(
        carol_ws.next().await,
        json!({"type": "session", "session_id": carols.to_string()})
    );
}

/// Proves the nodes topic pushes a node's heartbeats, going offline and coming back to its owner, and
/// nothing about it to a user who is not its member until they are made one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_changes_reach_its_owner_and_members() {
    let (dir, main, [(alice, _), (bob, bob_id), _]) = users("topics-nodes").await;
    let node = TestNode::start_for(dir.path(), "n1", &main, Some(main.token()));
    main.wait_online("n1").await;
    let mut alice_ws = watching(&alice, &["nodes"]).await;
    let mut bob_ws = watching(&bob, &["nodes", "users"]).await;
    let until = |change: &'static str| {
        move |frame: &Value| frame["type"] == "node" && frame["change"] == change
    };

    let beat = alice_ws.until(until("heartbeat")).await;
    assert_eq!(beat["node_id"], "n1");
    assert!(beat["at"].as_str().unwrap().ends_with('Z'), "{beat}");
    node.stop().await;
    alice_ws.until(until("offline")).await;
    let node = TestNode::start_for(dir.path(), "n1", &main, None);
    alice_ws.until(until("online")).await;

    // A change bob may see comes first: nothing about n1 went to him.
    let (status, _) = alice
        .post("/api/v1/users/bob/role", json!({"role": "user"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        bob_ws.next().await,
        json!({"type": "user", "user_id": bob_id.to_string()})
    );
    let (status, body) = alice
        .post("/api/v1/nodes/n1/members", json!({"username": "bob"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let updated = bob_ws.until(until("updated")).await;
    assert_eq!(updated["node_id"], "n1");
    node.stop().await;
}

/// Proves a sign-up reaches the admins' users topic, and a user's own approval reaches that user, while
/// another user's does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_changes_reach_admins_and_the_user() {
    let (_dir, main, [(alice, _), (bob, bob_id), (_, carol_id)]) = users("topics-users").await;
    let mut alice_ws = watching(&alice, &["users"]).await;
    let mut bob_ws = watching(&bob, &["users"]).await;
    let mut dave = Api::new(&main);
    assert_eq!(
        dave.auth(true, "dave", "correct horse battery").await.0,
        200
    );
    let dave_id = main.state.store.user_by_name("dave").unwrap().unwrap().id;
    assert_eq!(
        next_of(&mut alice_ws, "user", &[]).await,
        json!({"type": "user", "user_id": dave_id.to_string()})
    );
    let (status, _) = alice
        .post("/api/v1/users/carol/role", json!({"role": "admin"}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = alice
        .post("/api/v1/users/bob/role", json!({"role": "admin"}))
        .await;
    assert_eq!(status, 200);
    // Bob hears of his own change first: carol's (and dave's sign-up) were not his to see.
    assert_eq!(
        next_of(&mut bob_ws, "user", &[]).await,
        json!({"type": "user", "user_id": bob_id.to_string()})
    );
    let seen: Vec<Value> = [
        next_of(&mut alice_ws, "user", &[]).await,
        next_of(&mut alice_ws, "user", &[]).await,
    ]
    .into();
    assert_eq!(
        seen,
        [
            json!({"type": "user", "user_id": carol_id.to_string()}),
            json!({"type": "user", "user_id": bob_id.to_string()})
        ]
    );
}

/// Proves a bad watch frame (an unknown topic, topics that are not a list) is answered with `bad_frame` and
/// changes nothing: the connection stays open and keeps the topics it watched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_watch_frames_are_refused_and_change_nothing() {
    let (_dir, _main, [(alice, _), (_, bob_id), _]) = users("topics-bad").await;
    let mut ws = watching(&alice, &["users"]).await;
    for bad in [
        json!({"type": "watch", "topics": ["approvals", "bogus"]}),
        json!({"type": "watch", "topics": "users"}),
        json!({"type": "watch"}),
    ] {
        ws.send_text(&bad.to_string()).await;
        let frame = ws.next().await;
        assert_eq!(
            (&frame["type"], &frame["code"]),
            (&json!("error"), &json!("bad_frame")),
            "{bad}: {frame}"
        );
    }
    let (status, _) = alice
        .post("/api/v1/users/bob/role", json!({"role": "user"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        ws.next().await,
        json!({"type": "user", "user_id": bob_id.to_string()})
    );
}

//! Workspaces' outgoing webhooks end to end, against a fake receiver (`mock::hooks`): generic JSON signed
//! with HMAC-SHA256 (checked here with the `hmac` crate, independently of main), retries with growing
//! delays until a 2xx, giving up after `notifications.webhook_attempts` and retrying by hand, receivers
//! that do not answer in time, a pending delivery surviving main's restart, Slack's and ntfy's bodies, the
//! per-webhook event filter on a real task moving to review, and what is refused to whom.
//!
//! Delivery states are read from `GET /api/v1/webhooks/{id}/deliveries`, again after each `webhook` frame
//! main pushes to the workspace's admins on its board topic; nothing sleeps to let things settle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use vibebridge_main::MainConfig;
use vibebridge_tests::mock::hooks::{FakeReceiver, HOOK_WAIT, Received, Reply};
use vibebridge_tests::work_fx::team;
use vibebridge_tests::{Api, TempDir, TestMain, WsClient};

/// Local receivers allowed and quick retries (50 ms, then 150 ms, 600 ms…).
fn fast(c: &mut MainConfig) {
    c.notifications.allow_local_webhooks = true;
    c.notifications.webhook_retry_base = Duration::from_millis(50);
}

/// Alice (registered, so the instance admin) logged in to `main`, and her workspace WEB's id.
async fn alice_with_workspace(main: &TestMain) -> (Api, String) {
    let mut alice = Api::new(main);
    assert_eq!(
        alice.auth(true, "alice", "correct horse battery").await.0,
        200
    );
    let (s, ws) = alice
        .post(
            "/api/v1/workspaces",
            json!({"name": "Web", "key_prefix": "WEB"}),
        )
        .await;
    assert_eq!(s, 200, "{ws}");
    (alice, ws["id"].as_str().unwrap().to_string())
}

/// Creates a webhook in `ws` (201 expected); the answer (`{webhook, secret}`) and the webhook's id.
async fn create_hook(api: &Api, ws: &str, body: Value) -> (Value, String) {
    let (s, made) = api
        .post(&format!("/api/v1/workspaces/{ws}/webhooks"), body)
        .await;
    assert_eq!(s, 201, "{made}");
    let id = made["webhook"]["id"].as_str().unwrap().to_string();
    (made, id)
}

/// `POST /webhooks/{hook}/test` (202 expected); the queued delivery's id.
async fn send_test(api: &Api, hook: &str) -> String {
    let (s, d) = api
        .post(&format!("/api/v1/webhooks/{hook}/test"), json!({}))
        .await;
    assert_eq!(s, 202, "{d}");
    assert_eq!(
        (d["state"].as_str(), d["event"].as_str()),
        (Some("pending"), Some("test")),
        "{d}"
    );
    d["id"].as_str().unwrap().to_string()
}

/// `sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>` with `secret`: what a receiver checks.
fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks `r` is a generic webhook request of `event` for delivery `delivery`, signed with `secret` at a
/// current timestamp; its JSON body.
fn check_generic(r: &Received, secret: &str, event: &str, delivery: &str) -> Value {
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.header("x-vibebridge-event"),
        Some(event),
        "{:?}",
        r.headers
    );
    assert_eq!(
        r.header("x-vibebridge-delivery"),
        Some(delivery),
        "{:?}",
        r.headers
    );
    let ts = r.header("x-vibebridge-timestamp").expect("a timestamp");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(ts.parse::<u64>().unwrap()) < 300,
        "timestamp {ts} is not now ({now})"
    );
    assert_eq!(
        r.header("x-vibebridge-signature-256"),
        Some(signature(secret, ts, &r.body).as_str()),
        "the signature is HMAC-SHA256(secret, timestamp.body)"
    );
    assert_ne!(
        r.header("x-vibebridge-signature-256"),
        Some(signature("another secret", ts, &r.body).as_str())
    );
    let body = r.json();
    assert_eq!(
        (body["event"].as_str(), body["delivery"].as_str()),
        (Some(event), Some(delivery)),
        "{body}"
    );
    body
}

/// A WebSocket of `api`'s user watching workspace `ws`'s board (where `webhook` frames come).
async fn watch_board(api: &Api, ws: &str) -> WsClient {
    let mut live = WsClient::connect(api).await.unwrap();
    live.send_text(&json!({"type": "watch", "topics": [], "workspace": ws}).to_string())
        .await;
    let ack = live.next().await;
    assert_eq!(
        (ack["type"].as_str(), ack["workspace_id"].as_str()),
        (Some("watching"), Some(ws)),
        "{ack}"
    );
    live
}

/// Reads webhook `hook`'s deliveries until delivery `id` satisfies `pred`, reading again after each
/// `webhook` frame of `hook` on `live`; the delivery. Panics after [`HOOK_WAIT`] with `what`.
async fn delivery_until(
    live: &mut WsClient,
    api: &Api,
    hook: &str,
    id: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + HOOK_WAIT;
    loop {
        let (s, list) = api
            .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
            .await;
        assert_eq!(s, 200, "{list}");
        let found = list
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id)
            .cloned();
        if let Some(d) = found.as_ref().filter(|d| pred(d)) {
            return d.clone();
        }
        // The socket watched before the list was read, so any change after that read has a frame.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(msg) = live.recv_within(left).await else {
                panic!("delivery {id}: {what}: not seen within {HOOK_WAIT:?}; last: {found:#?}");
            };
            if let Message::Text(t) = msg {
                let frame: Value = serde_json::from_str(&t).unwrap();
                if frame["type"] == "webhook" && frame["webhook_id"] == hook {
                    break;
                }
            }
        }
    }
}

/// Proves a generic webhook's secret is shown once, never listed (nor its URL), and signs a test delivery verifiably.
#[tokio::test]
async fn generic_webhooks_are_signed_and_never_show_their_secret() {
    let receiver = FakeReceiver::start().await;
    let dir = TempDir::new("hooks-generic");
    let main = TestMain::start_with(dir.path(), None, fast).await;
    let (alice, ws) = alice_with_workspace(&main).await;
    let mut live = watch_board(&alice, &ws).await;
    let (made, hook) = create_hook(
        &alice,
        &ws,
        json!({"name": "CI", "kind": "generic", "url": receiver.url("/hooks/ci?token=abc")}),
    )
    .await;
    let secret = made["secret"].as_str().unwrap().to_string();
    let hex_part = secret.strip_prefix("whsec_").expect("a whsec_ secret");
    assert!(
        hex_part.len() == 48 && hex_part.chars().all(|c| c.is_ascii_hexdigit()),
        "{secret}"
    );
    let hint = format!("http://{}/…", receiver.addr());
    assert_eq!(made["webhook"]["url_hint"], hint.as_str());
    assert_eq!(made["webhook"]["has_secret"], true);

    let listed = |list: &Value| {
        let text = list.to_string();
        assert!(!text.contains(&secret), "the secret is listed: {text}");
        assert!(
            !text.contains("/hooks/ci") && !text.contains("token=abc"),
            "the URL is listed: {text}"
        );
        let hook = &list.as_array().unwrap()[0];
        assert!(
            hook.get("url").is_none() && hook.get("secret").is_none(),
            "{hook}"
        );
        assert_eq!(hook["url_hint"], hint.as_str());
    };
    let (s, list) = alice
        .get(&format!("/api/v1/workspaces/{ws}/webhooks"))
        .await;
    assert_eq!(s, 200, "{list}");
    listed(&list);

    let delivery = send_test(&alice, &hook).await;
    let got = receiver
        .wait_for(|r| !r.is_empty(), "the test delivery")
        .await;
    assert_eq!(got[0].path, "/hooks/ci");
    assert_eq!(got[0].header("user-agent"), Some("VibeBridge-Notify/1"));
    let body = check_generic(&got[0], &secret, "test", &delivery);
    assert_eq!(body["workspace_id"], ws.as_str());
    assert_eq!(body["title"], "Test from VibeBridge (CI)");
    assert_eq!(body["body"], "alice sent a test; this webhook works.");
    assert_eq!(body["data"], json!({}));

    let d = delivery_until(&mut live, &alice, &hook, &delivery, "delivered", |d| {
        d["state"] == "delivered"
    })
    .await;
    assert_eq!(d["attempts"], 1, "{d}");
    assert_eq!(d["last_response"]["status"], 200, "{d}");
    assert_eq!(d["last_response"]["body"], "ok", "{d}");
    assert_eq!(d["next_attempt_at"], Value::Null, "{d}");
    let (_, list) = alice
        .get(&format!("/api/v1/workspaces/{ws}/webhooks"))
        .await;
    listed(&list);
    assert_eq!(list[0]["last_delivery"]["id"], delivery.as_str());
    assert_eq!(receiver.received().len(), 1, "one delivery, one request");
    main.stop().await;
}

/// Proves a delivery answered 500, then 503, is retried after growing delays with the same id until the 200.
#[tokio::test]
async fn failed_attempts_are_retried_with_backoff_until_a_2xx() {
    let receiver = FakeReceiver::start().await;
    receiver.set_script(vec![
        Reply::Status(500, "first".into()),
        Reply::Status(503, "second".into()),
        Reply::ok(),
    ]);
    let dir = TempDir::new("hooks-retry");
    let main = TestMain::start_with(dir.path(), None, fast).await;
    let (alice, ws) = alice_with_workspace(&main).await;
    let mut live = watch_board(&alice, &ws).await;
    let (made, hook) = create_hook(
        &alice,
        &ws,
        json!({"name": "Flaky", "kind": "generic", "url": receiver.url("/flaky")}),
    )
    .await;
    let secret = made["secret"].as_str().unwrap();
    let delivery = send_test(&alice, &hook).await;
    let d = delivery_until(&mut live, &alice, &hook, &delivery, "delivered", |d| {
        d["state"] == "delivered"
    })
    .await;
    assert_eq!(d["attempts"], 3, "{d}");
    assert_eq!(d["last_response"]["status"], 200, "{d}");
    assert_eq!(d["last_response"]["error"], Value::Null, "{d}");

    let got = receiver.received();
    assert_eq!(got.len(), 3, "{got:#?}");
    for r in &got {
        check_generic(r, secret, "test", &delivery);
    }
    let gaps: Vec<Duration> = got.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(
        gaps[0] >= Duration::from_millis(45) && gaps[1] >= Duration::from_millis(145),
        "the retries wait the base (50 ms), then three times it: {gaps:?}"
    );
    main.stop().await;
}

/// Proves a delivery fails after `webhook_attempts` keeping the last answer, and a manual retry delivers it.
#[tokio::test]
async fn deliveries_give_up_after_the_last_attempt_and_can_be_retried() {
    let receiver = FakeReceiver::start().await;
    receiver.set_script(vec![Reply::Status(500, "boom".into())]);
    let dir = TempDir::new("hooks-give-up");
    let main = TestMain::start_with(dir.path(), None, |c| {
        fast(c);
        c.notifications.webhook_attempts = 2;
    })
    .await;
    let (alice, ws) = alice_with_workspace(&main).await;
    let mut live = watch_board(&alice, &ws).await;
    let (_, hook) = create_hook(
        &alice,
        &ws,
        json!({"name": "Broken", "kind": "generic", "url": receiver.url("/broken")}),
    )
    .await;
    let delivery = send_test(&alice, &hook).await;
    let d = delivery_until(&mut live, &alice, &hook, &delivery, "failed", |d| {
        d["state"] == "failed"
    })
    .await;
    assert_eq!(d["attempts"], 2, "{d}");
    assert_eq!(d["last_response"]["status"], 500, "{d}");
    assert_eq!(d["last_response"]["body"], "boom", "{d}");
    assert!(
        d["last_response"]["error"]
            .as_str()
            .unwrap()
            .contains("500"),
        "{d}"
    );
    assert_eq!(d["next_attempt_at"], Value::Null, "{d}");
    assert_eq!(receiver.received().len(), 2);

    receiver.set_script(vec![Reply::ok()]);
    let (s, again) = alice
        .post(
            &format!("/api/v1/webhooks/{hook}/deliveries/{delivery}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(s, 202, "{again}");
    assert_eq!(
        (again["state"].as_str(), again["attempts"].as_u64()),
        (Some("pending"), Some(0)),
        "{again}"
    );
    let d = delivery_until(
        &mut live,
        &alice,
        &hook,
        &delivery,
        "delivered after the retry",
        |d| d["state"] == "delivered",
    )
    .await;
    assert_eq!(d["attempts"], 1, "{d}");
    assert_eq!(d["last_response"]["status"], 200, "{d}");
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert!(
        got.iter()
            .all(|r| r.header("x-vibebridge-delivery") == Some(delivery.as_str())),
        "{got:#?}"
    );
    let (s, e) = alice
        .post(
            &format!("/api/v1/webhooks/{hook}/deliveries/999999/retry"),
            json!({}),
        )
        .await;
    assert_eq!(s, 404, "{e}");
    main.stop().await;
}

/// Proves a receiver silent past `webhook_timeout` is cut off, recorded as such, and the delivery stays pending.
#[tokio::test]
async fn receivers_that_do_not_answer_in_time_are_tried_again_later() {
    let receiver = FakeReceiver::start().await;
    receiver.set_script(vec![Reply::Hang]);
    let dir = TempDir::new("hooks-timeout");
    let main = TestMain::start_with(dir.path(), None, |c| {
        c.notifications.allow_local_webhooks = true;
        c.notifications.webhook_timeout = Duration::from_secs(1);
        // Long enough that the test sees the delivery between its first and second attempt.
        c.notifications.webhook_retry_base = Duration::from_secs(600);
    })
    .await;
    let (alice, ws) = alice_with_workspace(&main).await;
    let mut live = watch_board(&alice, &ws).await;
    let (_, hook) = create_hook(
        &alice,
        &ws,
        json!({"name": "Slow", "kind": "generic", "url": receiver.url("/slow")}),
    )
    .await;
    let delivery = send_test(&alice, &hook).await;
    let d = delivery_until(&mut live, &alice, &hook, &delivery, "one attempt", |d| {
        d["attempts"] == 1
    })
    .await;
    assert_eq!(d["state"], "pending", "{d}");
    let last = &d["last_response"];
    assert_eq!(last["error"], "no answer within 1s", "{d}");
    assert_eq!(last["status"], Value::Null, "{d}");
    assert!(last["duration_ms"].as_u64().unwrap() >= 1000, "{d}");
    let next = d["next_attempt_at"].as_str().expect("a next attempt");
    assert!(next > last["at"].as_str().unwrap(), "{d}");
    receiver
        .wait_hanging(0, "main closes the request it gave up on")
        .await;
    assert_eq!(receiver.received().len(), 1);
    let (s, e) = alice
        .post(
            &format!("/api/v1/webhooks/{hook}/deliveries/{delivery}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    main.stop().await;
}

/// Proves a delivery cut by main stopping is sent again (same id) by main restarted on its state, and delivered.
#[tokio::test]
async fn a_pending_delivery_survives_a_restart() {
    let receiver = FakeReceiver::start().await;
    receiver.set_script(vec![Reply::Hang]);
    let dir = TempDir::new("hooks-restart");
    let config = |c: &mut MainConfig| {
        fast(c);
        // Longer than the test: the first attempt ends only because main stops.
        c.notifications.webhook_timeout = Duration::from_secs(120);
    };
    let main = TestMain::start_with(dir.path(), None, config).await;
    let (alice, ws) = alice_with_workspace(&main).await;
    let (made, hook) = create_hook(
        &alice,
        &ws,
        json!({"name": "Durable", "kind": "generic", "url": receiver.url("/durable")}),
    )
    .await;
    let secret = made["secret"].as_str().unwrap().to_string();
    let delivery = send_test(&alice, &hook).await;
    receiver
        .wait_for(|r| r.len() == 1, "the first attempt")
        .await;
    main.stop().await;
    // Main stopped means its attempts stopped too: the request it left hanging is closed.
    receiver
        .wait_hanging(0, "the stopped main's request is closed")
        .await;
    receiver.set_script(vec![Reply::ok()]);

    let main = TestMain::start_with(dir.path(), None, config).await;
    let mut alice = Api::new(&main);
    assert_eq!(
        alice.auth(false, "alice", "correct horse battery").await.0,
        200
    );
    let mut live = watch_board(&alice, &ws).await;
    let d = delivery_until(
        &mut live,
        &alice,
        &hook,
        &delivery,
        "delivered after the restart",
        |d| d["state"] == "delivered",
    )
    .await;
    assert_eq!(d["last_response"]["status"], 200, "{d}");
    let got = receiver.received();
    assert_eq!(got.len(), 2, "{got:#?}");
    for r in &got {
        check_generic(r, &secret, "test", &delivery);
    }
    let (_, list) = alice
        .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    main.stop().await;
}

/// Proves Slack gets an escaped mrkdwn `{"text"}` and ntfy a JSON publish to its server with the Bearer token.
#[tokio::test]
async fn slack_and_ntfy_get_their_own_bodies() {
    let receiver = FakeReceiver::start().await;
    let dir = TempDir::new("hooks-kinds");
    let main = TestMain::start_with(dir.path(), None, |c| {
        fast(c);
        c.notifications.public_url = Some("https://vb.example".into());
    })
    .await;
    let (alice, ws) = alice_with_workspace(&main).await;
    let mut live = watch_board(&alice, &ws).await;
    let (slack, slack_id) = create_hook(
        &alice,
        &ws,
        json!({"name": "Team <chat> & co", "kind": "slack", "url": receiver.url("/services/T0/B0/xyz")}),
    )
    .await;
    assert_eq!(
        (
            slack["secret"].clone(),
            slack["webhook"]["has_secret"].clone()
        ),
        (Value::Null, json!(false))
    );
    let (ntfy, ntfy_id) = create_hook(
        &alice,
        &ws,
        json!({"name": "Phones", "kind": "ntfy", "url": receiver.url("/ntfy/alerts"), "secret": "tk_abc"}),
    )
    .await;
    assert_eq!(
        (
            ntfy["secret"].clone(),
            ntfy["webhook"]["has_secret"].clone()
        ),
        (Value::Null, json!(true))
    );

    let slack_delivery = send_test(&alice, &slack_id).await;
    let ntfy_delivery = send_test(&alice, &ntfy_id).await;
    let got = receiver.wait_for(|r| r.len() == 2, "both tests").await;
    let slack_req = got
        .iter()
        .find(|r| r.path == "/services/T0/B0/xyz")
        .expect("the Slack post");
    assert_eq!(slack_req.header("content-type"), Some("application/json"));
    assert_eq!(
        slack_req.json(),
        json!({"text": "*Test from VibeBridge (Team &lt;chat&gt; &amp; co)*\nalice sent a test; this webhook works.\n<https://vb.example/|Open in VibeBridge>"})
    );
    assert!(
        slack_req
            .headers
            .keys()
            .all(|k| !k.starts_with("x-vibebridge")),
        "{:?}",
        slack_req.headers
    );
    let ntfy_req = got
        .iter()
        .find(|r| r.path == "/ntfy")
        .expect("the ntfy publish");
    assert_eq!(ntfy_req.header("authorization"), Some("Bearer tk_abc"));
    assert_eq!(
        ntfy_req.json(),
        json!({
            "topic": "alerts",
            "title": "Test from VibeBridge (Phones)",
            "message": "alice sent a test; this webhook works.",
            "priority": 3,
            "tags": ["test"],
            "click": "https://vb.example/",
        })
    );
    for (hook, delivery) in [(&slack_id, &slack_delivery), (&ntfy_id, &ntfy_delivery)] {
        let d = delivery_until(&mut live, &alice, hook, delivery, "delivered", |d| {
            d["state"] == "delivered"
        })
        .await;
        assert_eq!(d["last_response"]["status"], 200, "{d}");
    }
    main.stop().await;
}

/// Proves a task moved to review reaches a webhook with its key, and a mention skips a webhook not taking it.
#[tokio::test]
async fn task_review_events_arrive_and_the_event_filter_holds() {
    let receiver = FakeReceiver::start().await;
    let dir = TempDir::new("hooks-events");
    let main = TestMain::start_with(dir.path(), None, fast).await;
    let (alice, ws) = alice_with_workspace(&main).await;
    let mut bob = Api::new(&main);
    assert_eq!(bob.auth(true, "bob", "correct horse battery").await.0, 200);
    let (s, b) = alice.post("/api/v1/users/bob/approve", json!({})).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = alice
        .post(
            &format!("/api/v1/workspaces/{ws}/members"),
            json!({"username": "bob", "role": "member"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (made, review) = create_hook(
        &alice,
        &ws,
        json!({
            "name": "Reviews",
            "kind": "generic",
            "url": receiver.url("/review"),
            "events": ["task_in_review"],
            "secret": "s3cret-review",
        }),
    )
    .await;
    assert_eq!(made["secret"], Value::Null, "a chosen secret is not echoed");
    assert_eq!(made["webhook"]["events"], json!(["task_in_review"]));
    let (_, all) = create_hook(
        &alice,
        &ws,
        json!({"name": "Everything", "kind": "generic", "url": receiver.url("/all"), "secret": "s3cret-all"}),
    )
    .await;

    let (s, t) = alice
        .post(
            &format!("/api/v1/workspaces/{ws}/tasks"),
            json!({"title": "Ship the login page", "status": "todo"}),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    let (s, t) = alice
        .post("/api/v1/tasks/WEB-1/move", json!({"status": "in_review"}))
        .await;
    assert_eq!(s, 200, "{t}");
    let (s, c) = alice
        .post(
            "/api/v1/tasks/WEB-1/comments",
            json!({"body": "@bob please have a look"}),
        )
        .await;
    assert_eq!(s, 200, "{c}");

    let event_at = |r: &[Received], path: &str, event: &str| {
        r.iter()
            .any(|r| r.path == path && r.header("x-vibebridge-event") == Some(event))
    };
    let got = receiver
        .wait_for(
            |r| {
                event_at(r, "/review", "task_in_review")
                    && event_at(r, "/all", "task_in_review")
                    && event_at(r, "/all", "mention")
            },
            "the review at both webhooks and the mention at the unfiltered one",
        )
        .await;
    let to_review: Vec<&Received> = got.iter().filter(|r| r.path == "/review").collect();
    assert_eq!(to_review.len(), 1, "{to_review:#?}");
    let delivery = to_review[0]
        .header("x-vibebridge-delivery")
        .unwrap()
        .to_string();
    let body = check_generic(to_review[0], "s3cret-review", "task_in_review", &delivery);
    assert_eq!(body["data"]["task"], "WEB-1", "{body}");
    assert_eq!(body["data"]["from"], "todo", "{body}");
    assert_eq!(body["title"], "WEB-1 is ready for review");
    assert_eq!(body["body"], "Ship the login page");
    assert_eq!(body["url"], "/w/WEB?task=WEB-1");
    assert_eq!(body["workspace_id"], ws.as_str());

    let mention = got
        .iter()
        .find(|r| r.path == "/all" && r.header("x-vibebridge-event") == Some("mention"))
        .unwrap();
    let mention_id = mention.header("x-vibebridge-delivery").unwrap();
    let body = check_generic(mention, "s3cret-all", "mention", mention_id);
    assert_eq!(
        (
            body["data"]["task"].as_str(),
            body["data"]["author"].as_str()
        ),
        (Some("WEB-1"), Some("alice")),
        "{body}"
    );

    // Deliveries are queued when the event happens, for every webhook at once: the mention arrived at the
    // other webhook, so had this one taken it, it would be listed here.
    let (s, list) = alice
        .get(&format!("/api/v1/webhooks/{review}/deliveries"))
        .await;
    assert_eq!(s, 200, "{list}");
    let events: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["task_in_review"]);
    let (_, list) = alice
        .get(&format!("/api/v1/webhooks/{all}/deliveries"))
        .await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    main.stop().await;
}

/// Proves local receivers (unless allowed), bad Slack/ntfy webhooks and non-admins (403/404) are refused.
#[tokio::test]
async fn local_receivers_bad_kinds_and_non_admins_are_refused() {
    let (_dir, main, alice, bob, carol, ws) = team("hooks-refusals", "member").await;
    let path = format!("/api/v1/workspaces/{ws}/webhooks");
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://[::1]:9/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
    ] {
        let (s, e) = alice
            .post(
                &path,
                json!({"name": "local", "kind": "generic", "url": url}),
            )
            .await;
        assert_eq!(s, 400, "{url}: {e}");
        let message = e["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("notifications.allow_local_webhooks"),
            "{url}: {message}"
        );
    }
    let (_, hook) = create_hook(
        &alice,
        &ws,
        json!({"name": "public", "kind": "generic", "url": "https://hooks.example.com/vb"}),
    )
    .await;

    let (s, e) = alice
        .post(
            &path,
            json!({"name": "chat", "kind": "slack", "url": "https://hooks.slack.com/services/T/B/x", "secret": "nope"}),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no secret"),
        "{e}"
    );
    for url in ["https://ntfy.sh/", "https://ntfy.sh/bad topic!"] {
        let (s, e) = alice
            .post(&path, json!({"name": "phones", "kind": "ntfy", "url": url}))
            .await;
        assert_eq!(s, 400, "{url}: {e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains("topic"),
            "{e}"
        );
    }

    let new = json!({"name": "mine", "kind": "generic", "url": "https://hooks.example.com/bob"});
    for (who, status) in [(&bob, 403), (&carol, 404)] {
        assert_eq!(who.get(&path).await.0, status);
        assert_eq!(who.post(&path, new.clone()).await.0, status);
        assert_eq!(
            who.post(&format!("/api/v1/webhooks/{hook}/test"), json!({}))
                .await
                .0,
            status
        );
        assert_eq!(
            who.get(&format!("/api/v1/webhooks/{hook}/deliveries"))
                .await
                .0,
            status
        );
    }
    let (_, list) = alice.get(&path).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    main.stop().await;
}

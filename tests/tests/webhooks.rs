//! Workspaces' outgoing webhooks end to end, against a fake receiver (`mock::hooks`): generic JSON signed
//! with HMAC-SHA256 (checked here with the `hmac` crate, independently of main), retries with growing
//! delays until a 2xx, giving up after `notifications.webhook_attempts` and retrying by hand, receivers
//! that do not answer in time, and a pending delivery surviving main's restart. Kinds, event filters and
//! refusals are `webhook_kinds.rs`; the shared steps `hooks_fx`.
//!
//! Delivery states are read from `GET /api/v1/webhooks/{id}/deliveries`, again after each `webhook` frame
//! main pushes to the workspace's admins on its board topic; nothing sleeps to let things settle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use vibebridge_main::MainConfig;
use vibebridge_tests::hooks_fx::{
    alice_with_workspace, check_generic, create_hook, delivery_until, fast, send_test, watch_board,
};
use vibebridge_tests::mock::hooks::{FakeReceiver, Reply};
use vibebridge_tests::{Api, TempDir, TestMain};

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

//! Webhooks by kind and by event, against a fake receiver (`mock::hooks`): Slack's and ntfy's bodies, the
//! per-webhook event filter on a real task moving to review and a mention, and what is refused to whom (local
//! receivers, kinds given what they do not take, members who are not the workspace's admins). Delivery
//! mechanics (signatures, retries, timeouts, restarts) are `webhooks.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use vibebridge_tests::hooks_fx::{
    alice_with_workspace, check_generic, create_hook, delivery_until, fast, send_test, watch_board,
};
use vibebridge_tests::mock::hooks::{FakeReceiver, Received};
use vibebridge_tests::work_fx::team;
use vibebridge_tests::{Api, TempDir, TestMain};

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

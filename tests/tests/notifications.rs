//! Web Push end to end against a local push service that checks every request the way a browser's push
//! service does (VAPID signature, RFC 8291 decryption with an independent implementation): a real `claude`
//! approval reaches every device of its owner, is answered from one device and audited as from it, the other
//! devices' notification is replaced in place; a device that shows the session is skipped; nothing is pushed
//! twice across a main restart; an expired subscription is forgotten and a renewed one kept; bad subscriptions
//! and preferences are refused with what to do. Which events reach whom is `notices.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use vibebridge_tests::Api;
use vibebridge_tests::WsClient;
use vibebridge_tests::mock::push::{Answer, FakePushService};
use vibebridge_tests::push_fx::{audit_details, local_push, of_kind, subscribe};
use vibebridge_tests::session_fx::{Fx, write_prompt};

/// Proves a real claude approval is pushed to each of its owner's devices (VAPID-signed for the push
/// service's origin with main's published key, decrypted independently, urgent, tagged by session, naming
/// the device), that answering with the device's id is audited as from that device, and that the other
/// device's notification is then replaced quietly under the same tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_is_pushed_to_each_device_and_answered_from_one() {
    let push = FakePushService::start().await.unwrap();
    let fx = Fx::with_main("npush", local_push, |_| {}).await;
    let (phone, laptop) = (push.subscribe(), push.subscribe());
    let phone_id = subscribe(&fx.api, &phone, "Phone").await;
    let laptop_id = subscribe(&fx.api, &laptop, "Laptop").await;
    let (_, key) = fx.api.get("/api/v1/push/key").await;

    let file = fx.repo.join("pushed.txt");
    let id = fx
        .create("claude", &write_prompt(&file, "yes\n"), Some("default"))
        .await;
    let got = push
        .wait_for(
            |r| of_kind(r, "approval").len() == 2,
            "the approval on both devices",
        )
        .await;
    let asks = of_kind(&got, "approval");
    for r in &asks {
        assert_eq!((r.status, r.error.as_deref()), (201, None), "{r:?}");
        assert_eq!(r.k.as_deref(), key["public_key"].as_str());
        assert_eq!(r.claims.as_ref().unwrap()["aud"], push.origin());
        assert_eq!(r.urgency.as_deref(), Some("high"));
        assert_eq!(r.topic.as_ref().map(String::len), Some(32));
        let p = r.payload.as_ref().unwrap();
        assert_eq!(p["tag"], format!("session:{id}"));
        assert_eq!(p["url"], format!("/sessions/{id}"));
        assert_eq!(p["approval"]["session_id"], id.as_str());
        assert!(p["title"].as_str().unwrap().starts_with("Approve: "), "{p}");
        let device = if r.endpoint == phone.endpoint {
            &phone_id
        } else {
            &laptop_id
        };
        assert_eq!(p["device"], device.as_str());
    }
    let approval = asks[0].payload.as_ref().unwrap()["approval"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();

    // What the service worker does on "Allow": the user's own login, naming the device.
    let (status, body) = fx
        .api
        .post(
            &format!("/api/v1/sessions/{id}/approvals/{approval}"),
            json!({"decision": "allow", "device": phone_id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let got = push
        .wait_for(
            |r| of_kind(r, "resolved").len() == 2,
            "both notifications replaced",
        )
        .await;
    for r in of_kind(&got, "resolved") {
        let p = r.payload.as_ref().unwrap();
        assert_eq!(
            (p["tag"].as_str(), p["silent"].as_bool()),
            (Some(format!("session:{id}").as_str()), Some(true))
        );
        assert_eq!(p["title"], "Answered: allowed");
    }
    let details = audit_details(&fx.api, "session.approval").await;
    assert!(
        details
            .iter()
            .any(|d| d.contains(&format!("from device \"Phone\" ({phone_id})"))),
        "{details:?}"
    );
    let _ = file;
}

/// Proves a device whose tab shows the session gets no push for it while another device does, and that a
/// main restart (the node re-announcing its pending approval) pushes nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_showing_the_session_is_skipped_and_nothing_is_pushed_twice() {
    let push = FakePushService::start().await.unwrap();
    let mut fx = Fx::with_main("nshow", local_push, |_| {}).await;
    let (here, away) = (push.subscribe(), push.subscribe());
    let here_id = subscribe(&fx.api, &here, "Desk").await;
    subscribe(&fx.api, &away, "Phone").await;

    let first = fx.repo.join("first.txt");
    let id = fx
        .create("claude", &write_prompt(&first, "1\n"), Some("default"))
        .await;
    let mut ws = WsClient::connect(&fx.api).await.unwrap();
    ws.send_text(
        &json!({"type": "presence", "device": here_id, "session_id": id, "visible": true})
            .to_string(),
    )
    .await;
    ws.send_text(r#"{"type":"ping"}"#).await;
    ws.until(|f| f["type"] == "pong").await;

    let got = push
        .wait_for(
            |r| !of_kind(r, "approval").is_empty(),
            "the approval pushed",
        )
        .await;
    let asks = of_kind(&got, "approval");
    assert_eq!(asks.len(), 1, "{asks:?}");
    assert_eq!(
        asks[0].endpoint, away.endpoint,
        "only the device not showing the session"
    );

    // Restart main: the node re-announces its pending approval on reattach.
    let ssh = fx.stop_main().await;
    fx.start_main_with(ssh, local_push).await;
    fx.main.wait_online("n1").await;
    let (_, pending) = fx.api.get("/api/v1/approvals").await;
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    let approval = pending[0]["approval_id"].as_str().unwrap().to_string();
    fx.decide(&id, &approval, "allow", None).await;

    // A second approval in the session is the signal that everything before it was handled.
    let second = fx.repo.join("second.txt");
    fx.message(&id, &write_prompt(&second, "2\n")).await;
    let got = push
        .wait_for(
            |r| {
                of_kind(r, "approval")
                    .iter()
                    .filter(|x| {
                        x.payload.as_ref().unwrap()["approval"]["approval_id"] != approval.as_str()
                    })
                    .count()
                    == 2
            },
            "the second approval pushed to both devices",
        )
        .await;
    let firsts = of_kind(&got, "approval")
        .into_iter()
        .filter(|x| x.payload.as_ref().unwrap()["approval"]["approval_id"] == approval.as_str())
        .count();
    assert_eq!(
        firsts, 1,
        "the first approval was pushed once, not again after the restart"
    );
    assert_eq!(
        of_kind(&got, "approval").len(),
        3,
        "the second approval reaches both devices: the desk's tab closed with the restart"
    );
}

/// Proves a subscription the push service says is gone (410) is forgotten and audited, and the test push
/// says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_subscription_is_forgotten() {
    let push = FakePushService::start().await.unwrap();
    let dir = vibebridge_tests::TempDir::new("ngone");
    let main = vibebridge_tests::TestMain::start_with(dir.path(), None, local_push).await;
    let mut api = Api::new(&main);
    assert_eq!(
        api.auth(true, "alice", "correct horse battery").await.0,
        200
    );
    let (ok, gone) = (push.subscribe(), push.subscribe());
    let ok_id = subscribe(&api, &ok, "Works").await;
    let gone_id = subscribe(&api, &gone, "Old").await;

    let (status, body) = api
        .post(
            &format!("/api/v1/push/subscriptions/{ok_id}/test"),
            json!({}),
        )
        .await;
    assert_eq!((status, &body["sent"]), (200, &Value::Bool(true)), "{body}");
    push.set_answer(&gone.endpoint, Answer::Gone);
    let (status, body) = api
        .post(
            &format!("/api/v1/push/subscriptions/{gone_id}/test"),
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (_, devices) = api.get("/api/v1/push/subscriptions").await;
    let ids: Vec<&str> = devices
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ok_id.as_str()]);
    assert!(devices[0]["last_ok_at"].is_string(), "{devices}");
    let details = audit_details(&api, "push.unsubscribed").await;
    assert!(details.iter().any(|d| d.contains("410")), "{details:?}");
    let got = push.received();
    assert_eq!(of_kind(&got, "test").len(), 2);

    // Logging out everywhere removes the devices too: a lost phone stops getting notifications.
    let (status, body) = api.post("/api/v1/auth/logout-all", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        api.auth(false, "alice", "correct horse battery").await.0,
        200
    );
    let (_, devices) = api.get("/api/v1/push/subscriptions").await;
    assert_eq!(devices, json!([]));
    main.stop().await;
}

/// Proves subscriptions outside the configured push services, broken keys, bad preferences and someone
/// else's device are refused with what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_subscriptions_and_preferences_are_refused() {
    let push = FakePushService::start().await.unwrap();
    let dir = vibebridge_tests::TempDir::new("nbad");
    let main = vibebridge_tests::TestMain::start_with(dir.path(), None, |_| {}).await;
    let mut api = Api::new(&main);
    assert_eq!(
        api.auth(true, "alice", "correct horse battery").await.0,
        200
    );
    let sub = push.subscribe();
    let (status, body) = api
        .post(
            "/api/v1/push/subscriptions",
            json!({"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("push_services"),
        "{body}"
    );
    let (status, body) = api
        .post("/api/v1/push/subscriptions", json!({"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"p256dh": "AAAA", "auth": sub.auth}}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("p256dh"),
        "{body}"
    );
    let (status, body) = api
        .post("/api/v1/push/subscriptions", json!({"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"p256dh": sub.p256dh, "auth": sub.auth}, "extra": 1}))
        .await;
    assert_eq!(status, 400, "{body}");

    let (status, prefs) = api.get("/api/v1/notifications/prefs").await;
    assert_eq!(status, 200);
    assert_eq!(
        prefs["events"].as_array().unwrap().len(),
        7,
        "every kind by default: {prefs}"
    );
    for (bad, word) in [
        (
            json!({"events": [], "workspaces": null, "quiet_hours": {"start": "25:00", "end": "07:00", "time_zone": "UTC"}}),
            "HH:MM",
        ),
        (
            json!({"events": [], "workspaces": null, "quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Mars/Base"}}),
            "IANA",
        ),
        (
            json!({"events": [], "workspaces": ["0190b6a8-0000-7000-8000-000000000000"], "quiet_hours": null}),
            "member",
        ),
        (
            json!({"events": ["nonsense"], "workspaces": null, "quiet_hours": null}),
            "",
        ),
    ] {
        let (status, body) = api
            .call(
                reqwest::Method::PUT,
                "/api/v1/notifications/prefs",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(status, 400, "{bad} → {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(word),
            "{body}"
        );
    }
    let good = json!({"events": ["approval", "question"], "workspaces": null,
                      "quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Europe/Berlin"}});
    let (status, body) = api
        .call(
            reqwest::Method::PUT,
            "/api/v1/notifications/prefs",
            Some(good.clone()),
        )
        .await;
    assert_eq!((status, &body), (200, &good));

    // Someone else's device id does not name a device of yours: a tab cannot silence another's pushes.
    let mut ws = WsClient::connect(&api).await.unwrap();
    ws.send_text(r#"{"type":"presence","device":"0190b6a8-0000-7000-8000-000000000001","session_id":null,"visible":true}"#)
        .await;
    let frame = ws.until(|f| f["type"] == "error").await;
    assert_eq!(frame["code"], "not_found", "{frame}");
    main.stop().await;
}

/// Proves a renewed subscription (the service worker's `pushsubscriptionchange`) keeps its device's id and
/// name, and pushes go to the new endpoint only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_subscription_keeps_its_device() {
    let push = FakePushService::start().await.unwrap();
    let dir = vibebridge_tests::TempDir::new("nrenew");
    let main = vibebridge_tests::TestMain::start_with(dir.path(), None, local_push).await;
    let mut api = Api::new(&main);
    assert_eq!(
        api.auth(true, "alice", "correct horse battery").await.0,
        200
    );
    let (old, new) = (push.subscribe(), push.subscribe());
    let id = subscribe(&api, &old, "Phone").await;
    let (status, body) = api
        .post(
            "/api/v1/push/subscriptions",
            json!({"endpoint": new.endpoint, "keys": {"p256dh": new.p256dh, "auth": new.auth}, "replaces": old.endpoint}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["id"].as_str(), body["name"].as_str()),
        (Some(id.as_str()), Some("Phone"))
    );
    let (_, devices) = api.get("/api/v1/push/subscriptions").await;
    assert_eq!(devices.as_array().unwrap().len(), 1, "{devices}");
    let (status, body) = api
        .post(&format!("/api/v1/push/subscriptions/{id}/test"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let got = push.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].endpoint, new.endpoint);
    main.stop().await;
}

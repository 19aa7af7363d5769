//! Web Push end to end against a local push service that checks every request the way a browser's push
//! service does (VAPID signature, RFC 8291 decryption with an independent implementation): a real `claude`
//! approval reaches every device of its owner, is answered from one device and audited as from it, the other
//! devices' notification is replaced in place; a device that shows the session is skipped; nothing is pushed
//! twice across a main restart; an expired subscription is forgotten; bad subscriptions and preferences are
//! refused with what to do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use vibebridge_tests::Api;
use vibebridge_tests::WsClient;
use vibebridge_tests::mock::push::{Answer, FakePushService, PushSubscription, Received};
use vibebridge_tests::session_fx::{Fx, write_prompt};

/// Main accepting the local push service's plain-HTTP endpoints.
fn local_push(c: &mut vibebridge_main::MainConfig) {
    c.notifications.allow_insecure_push = true;
    c.notifications.push_services = vec!["127.0.0.1".into()];
}

/// Subscribes `sub` as device `name` of `api`'s user; its id.
async fn subscribe(api: &Api, sub: &PushSubscription, name: &str) -> String {
    let (status, body) = api
        .post(
            "/api/v1/push/subscriptions",
            json!({"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth},
                   "name": name, "expirationTime": null}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body.get("endpoint").is_none() && body.get("keys").is_none(),
        "{body}"
    );
    body["id"].as_str().unwrap().to_string()
}

fn kind(r: &Received) -> &str {
    r.payload
        .as_ref()
        .and_then(|p| p["kind"].as_str())
        .unwrap_or_default()
}

fn of_kind<'a>(got: &'a [Received], k: &str) -> Vec<&'a Received> {
    got.iter().filter(|r| kind(r) == k).collect()
}

async fn audit_details(api: &Api, action: &str) -> Vec<String> {
    let (_, audit) = api.get("/api/v1/audit").await;
    audit["entries"]
        .as_array()
        .or(audit.as_array())
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .map(|e| e["detail"].as_str().unwrap_or_default().to_string())
        .collect()
}

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

/// Proves a mention reaches the person mentioned (not its author), a move to review reaches the task's
/// assignee (not whoever moved it), and a node that stays offline reaches its owner; each with its own
/// tag and a link into the app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_reviews_and_offline_nodes_reach_the_right_people() {
    let push = FakePushService::start().await.unwrap();
    let mut fx = Fx::with_main(
        "nwho",
        |c| {
            local_push(c);
            c.notifications.node_offline_after = std::time::Duration::from_millis(50);
        },
        |_| {},
    )
    .await;
    let mut bob = Api::new(&fx.main);
    assert_eq!(bob.auth(true, "bob", "correct horse battery").await.0, 200);
    let (s, b) = fx.api.post("/api/v1/users/bob/approve", json!({})).await;
    assert_eq!(s, 200, "{b}");
    let (s, ws) = fx
        .api
        .post(
            "/api/v1/workspaces",
            json!({"name": "Web", "key_prefix": "WEB"}),
        )
        .await;
    assert_eq!(s, 200, "{ws}");
    let (s, b) = fx
        .api
        .post(
            "/api/v1/workspaces/WEB/members",
            json!({"username": "bob", "role": "member"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (alice_dev, bob_dev) = (push.subscribe(), push.subscribe());
    subscribe(&fx.api, &alice_dev, "Alice's phone").await;
    subscribe(&bob, &bob_dev, "Bob's phone").await;

    let (s, task) = fx
        .api
        .post(
            "/api/v1/workspaces/WEB/tasks",
            json!({"title": "Fix the login", "assignees": ["bob"], "status": "in_progress"}),
        )
        .await;
    assert_eq!(s, 200, "{task}");
    let (s, c) = fx
        .api
        .post(
            "/api/v1/tasks/WEB-1/comments",
            json!({"body": "@bob can you look? cc @alice"}),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    // A task only alice may see: bob, mentioned there, is not told (nor its webhooks' readers what it says).
    let (s, t) = fx
        .api
        .post(
            "/api/v1/workspaces/WEB/tasks",
            json!({"title": "Secret plan", "restricted_to": ["alice"]}),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    let (s, c) = fx
        .api
        .post(
            "/api/v1/tasks/WEB-2/comments",
            json!({"body": "@bob should not hear of this"}),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    let (s, m) = fx
        .api
        .post("/api/v1/tasks/WEB-1/move", json!({"status": "in_review"}))
        .await;
    assert_eq!(s, 200, "{m}");
    fx.node.take().unwrap().stop().await;

    let got = push
        .wait_for(
            // Each push is checked by the push service as it comes: wait for all three, in any order.
            |r| {
                r.iter()
                    .any(|x| x.endpoint == alice_dev.endpoint && kind(x) == "node_offline")
                    && r.iter().filter(|x| x.endpoint == bob_dev.endpoint).count() >= 2
            },
            "the node's owner told it is offline, and bob of his mention and review",
        )
        .await;
    let to = |dev: &PushSubscription| -> Vec<String> {
        got.iter()
            .filter(|x| x.endpoint == dev.endpoint)
            .map(|x| kind(x).to_string())
            .collect()
    };
    assert_eq!(
        to(&alice_dev),
        ["node_offline"],
        "alice wrote and moved: told only of her node"
    );
    let mut bobs = to(&bob_dev);
    bobs.sort();
    assert_eq!(
        bobs,
        ["mention", "task_in_review"],
        "one mention only, not the restricted task's: {got:?}"
    );
    let mention = got
        .iter()
        .find(|x| kind(x) == "mention")
        .unwrap()
        .payload
        .clone()
        .unwrap();
    assert_eq!(mention["title"], "alice mentioned you on WEB-1");
    assert_eq!(mention["url"], "/w/WEB?task=WEB-1");
    let review = got
        .iter()
        .find(|x| kind(x) == "task_in_review")
        .unwrap()
        .payload
        .clone()
        .unwrap();
    assert_eq!(
        (review["tag"].as_str(), review["title"].as_str()),
        (
            Some(format!("task:{}", task["id"].as_str().unwrap()).as_str()),
            Some("WEB-1 is ready for review")
        )
    );
    let offline = got
        .iter()
        .find(|x| kind(x) == "node_offline")
        .unwrap()
        .payload
        .clone()
        .unwrap();
    assert_eq!(
        (offline["tag"].as_str(), offline["url"].as_str()),
        (Some("node:n1"), Some("/nodes"))
    );
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

/// Proves a run's finished turn and a run whose setup fails are pushed to who started it: the turn under the
/// run's session tag (so it replaces that session's approval notification), the failure with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_turns_and_failed_runs_are_pushed() {
    let push = FakePushService::start().await.unwrap();
    let none = json!({"setup": "", "cleanup": "", "dev": ""});
    let mut rf = vibebridge_tests::run_fx::RunFx::with_main("nrun", none, local_push).await;
    let dev = push.subscribe();
    subscribe(&rf.fx.api, &dev, "Phone").await;
    let task = rf.task("Say hi").await;
    let (run, _) = rf.claude_turn(&task, "[[text:Hi.]]", json!({})).await;
    let got = push
        .wait_for(
            |r| !of_kind(r, "run_finished").is_empty(),
            "the finished turn pushed",
        )
        .await;
    let p = of_kind(&got, "run_finished")[0].payload.clone().unwrap();
    assert_eq!(p["title"], format!("{task}: the agent finished its turn"));
    assert_eq!(
        p["tag"],
        format!("session:{}", run["session_id"].as_str().unwrap())
    );
    assert_eq!(p["url"], format!("/w/WEB?task={task}"));

    let other = rf.fx.env.git_repo("failing");
    let (s, project) = rf
        .fx
        .api
        .post(
            &format!("/api/v1/workspaces/{}/projects", rf.ws),
            json!({"node_id": "n1", "repo_path": other.display().to_string(),
                   "scripts": {"setup": "exit 3", "cleanup": "", "dev": ""}}),
        )
        .await;
    assert_eq!(s, 200, "{project}");
    let (s, t) = rf
        .fx
        .api
        .post(
            &format!("/api/v1/workspaces/{}/tasks", rf.ws),
            json!({"title": "Will not start", "project_id": project["id"]}),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    let failing = t["key"].as_str().unwrap();
    rf.start(
        failing,
        json!({"provider": "claude", "prompt": "[[text:never]]"}),
    )
    .await;
    let got = push
        .wait_for(
            |r| !of_kind(r, "run_failed").is_empty(),
            "the failed run pushed",
        )
        .await;
    let p = of_kind(&got, "run_failed")[0].payload.clone().unwrap();
    assert_eq!(p["title"], format!("{failing}: run failed"));
    assert!(
        p["body"].as_str().unwrap().contains("setup script failed"),
        "{p}"
    );
    assert_eq!(
        of_kind(&got, "run_finished").len(),
        1,
        "the failure is not a finished turn"
    );
}

/// Proves a real claude question (`AskUserQuestion`) is pushed as a question: its text as the body, no Allow or
/// Deny (a question is answered in the app), opening the session, under the session's tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_is_pushed_to_open_the_session() {
    let push = FakePushService::start().await.unwrap();
    let fx = Fx::with_main("nquestion", local_push, |_| {}).await;
    let dev = push.subscribe();
    subscribe(&fx.api, &dev, "Phone").await;
    let ask = json!({"questions": [{"question": "Which colour should the button be?", "header": "Colour",
        "options": [{"label": "Red", "description": "warm"}, {"label": "Blue", "description": "cool"}],
        "multiSelect": false}]});
    let id = fx
        .create(
            "claude",
            &format!("Ask [[tool:AskUserQuestion {ask}]]"),
            Some("default"),
        )
        .await;
    let got = push
        .wait_for(
            |r| !of_kind(r, "question").is_empty(),
            "the question pushed",
        )
        .await;
    let p = of_kind(&got, "question")[0].payload.clone().unwrap();
    assert_eq!(p["title"], "An agent asks a question");
    assert_eq!(p["body"], "Which colour should the button be?");
    assert_eq!(
        p["approval"],
        Value::Null,
        "a question has no Allow or Deny"
    );
    assert_eq!(
        (p["url"].as_str(), p["tag"].as_str()),
        (
            Some(format!("/sessions/{id}").as_str()),
            Some(format!("session:{id}").as_str())
        )
    );
    assert_eq!(
        of_kind(&got, "question")[0].urgency.as_deref(),
        Some("high")
    );
}

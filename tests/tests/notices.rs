//! Who is told what, end to end against the local push service (`mock::push`): a real `claude` question, a
//! run's finished turn and a failed run, a mention (not on a restricted task), a task moved to review, and a
//! node that stays offline each reach the right people and no one else, with their text, tag and link. Devices,
//! approvals answered from a notification and refusals are `notifications.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use vibebridge_tests::Api;
use vibebridge_tests::mock::push::{FakePushService, PushSubscription};
use vibebridge_tests::push_fx::{kind, local_push, of_kind, subscribe};
use vibebridge_tests::session_fx::Fx;

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

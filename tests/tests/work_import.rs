//! Moving a workspace's content in and out over the API: our export round trip, Vibe Kanban's cloud ZIP and
//! local database, and the rules an import is held to (node access, authorship).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use serde_json::{Value, json};
use vibebridge_tests::work_fx::{import, patch, team};

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
    let (status, report) = import(&alice, copy, serde_json::to_vec(&first).unwrap()).await;
    assert_eq!(status, 200, "{report}");
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
    let (status, report) = import(&alice, &ws, file).await;
    assert_eq!(status, 200, "{report}");
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
    let (status, e) = import(&alice, &ws, broken).await;
    assert_eq!(status, 400);
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
    let (status, report) = import(&alice, &ws, vibe_kanban_db(dir.path())).await;
    assert_eq!(status, 200, "{report}");
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
    let (status, report) = import(&alice, &ws, doc.to_string()).await;
    assert_eq!(status, 200, "{report}");
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
    let (status, report) = import(&bob, &ws, doc.to_string()).await;
    assert_eq!(status, 200, "{report}");
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

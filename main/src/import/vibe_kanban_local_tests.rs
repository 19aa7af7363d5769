//! Tests of reading Vibe Kanban's local database: each schema generation built from the exact CREATE TABLE
//! statements of its migrations (`tests/fixtures/vibe-kanban/`), bad files, limits and the temporary copy.

#![allow(clippy::unwrap_used)]
use super::sqlite::{NOT_SQLITE, TempCopy, parse_time};
use super::*;
use rusqlite::Connection;
use std::path::PathBuf;

const V2: &str = include_str!("../../../tests/fixtures/vibe-kanban/local-v2.sql");
const V1: &str = include_str!("../../../tests/fixtures/vibe-kanban/local-v1.sql");
const V0: &str = include_str!("../../../tests/fixtures/vibe-kanban/local-v0.sql");

const P1: &str = "0190f0a0-0000-7000-8000-00000000000a";
const P2: &str = "0190f0a0-0000-7000-8000-00000000000b";
const T1: &str = "0190f0a0-0000-7000-8000-000000000001";
const T2: &str = "0190f0a0-0000-7000-8000-000000000002";
const T3: &str = "0190f0a0-0000-7000-8000-000000000003";
const T4: &str = "0190f0a0-0000-7000-8000-000000000004";
const T5: &str = "0190f0a0-0000-7000-8000-000000000005";
const A1: &str = "0190f0a0-0000-7000-8000-0000000000a1";
const A2: &str = "0190f0a0-0000-7000-8000-0000000000a2";

/// `id` as the SQL literal of its 16-byte BLOB, as Vibe Kanban stores ids.
fn x(id: &str) -> String {
    format!("X'{}'", id.replace('-', ""))
}

fn uuid_of(id: &str) -> Uuid {
    Uuid::parse_str(id).unwrap()
}

/// A fresh, empty directory under the system temporary directory.
fn fresh_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vk-local-test-{}", Uuid::now_v7().simple()));
    std::fs::create_dir(&dir).unwrap();
    dir
}

/// The bytes of a database file made by running each of `batches` in order.
fn db(batches: &[&str]) -> Vec<u8> {
    let dir = fresh_dir();
    let path = dir.join("db.sqlite");
    let conn = Connection::open(&path).unwrap();
    for batch in batches {
        conn.execute_batch(batch).unwrap();
    }
    conn.close().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    bytes
}

/// A current-generation database: two projects (one with two repositories), five tasks in every status and
/// every timestamp format, a subtask whose parent is a workspace, sessions, and a workspace with no task.
fn v2_rows() -> String {
    format!(
        "INSERT INTO projects (id, name, created_at) VALUES ({p1}, 'Web', '2026-01-15 10:23:45.123');
         INSERT INTO projects (id, name) VALUES ({p2}, 'Empty');
         INSERT INTO repos (id, path, name, display_name) VALUES
           (X'01', '/home/ada/web', 'web', 'web'), (X'02', '/home/ada/web-docs', 'web-docs', 'web-docs');
         INSERT INTO project_repos (id, project_id, repo_id) VALUES (X'11', {p1}, X'01'), (X'12', {p1}, X'02');
         INSERT INTO tasks (id, project_id, title, description, status, created_at, updated_at) VALUES
           ({t1}, {p1}, 'Parent', 'Line one\nline **two**', 'inprogress',
            '2026-01-15 10:23:45.123', '2026-01-16 08:00:00');
         INSERT INTO workspaces (id, task_id, branch, created_at) VALUES
           ({a1}, {t1}, 'vk/0001-parent', '2026-01-15 11:00:00.123456789');
         INSERT INTO workspaces (id, task_id, branch) VALUES ({a2}, NULL, 'vk/free');
         INSERT INTO sessions (id, workspace_id, executor, created_at) VALUES
           (X'21', {a1}, 'CODEX', '2026-01-15 12:00:00'), (X'22', {a1}, 'CLAUDE_CODE', '2026-01-15 11:00:01.000');
         INSERT INTO tasks (id, project_id, title, description, status, parent_workspace_id) VALUES
           ({t2}, {p1}, 'Child', NULL, 'todo', {a1});
         INSERT INTO tasks (id, project_id, title, status) VALUES ({t3}, {p1}, 'Review', 'inreview'),
           ({t4}, {p1}, 'Done', 'inprogress'), ({t5}, {p2}, 'Dropped', 'cancelled');
         UPDATE tasks SET status = 'done', updated_at = CURRENT_TIMESTAMP WHERE id = {t4};",
        p1 = x(P1),
        p2 = x(P2),
        t1 = x(T1),
        t2 = x(T2),
        t3 = x(T3),
        t4 = x(T4),
        t5 = x(T5),
        a1 = x(A1),
        a2 = x(A2),
    )
}

/// Proves a current database (db.v2.sqlite) reads whole: projects with their first repository, statuses
/// mapped, a NULL description empty, the parent found through `workspaces`, each timestamp format in UTC,
/// attempts with the first session's executor, and taskless workspaces left out.
#[test]
fn v2_database_reads_projects_tasks_and_attempts() {
    let e = read_local_db(&db(&[V2, &v2_rows()]), LocalLimits::default()).unwrap();
    assert_eq!(e.projects.len(), 2);
    assert_eq!(e.projects[0].id, uuid_of(P1));
    assert_eq!(e.projects[0].name, "Web");
    assert_eq!(
        e.projects[0].git_repo_path.as_deref(),
        Some("/home/ada/web")
    );
    assert_eq!(
        e.projects[0].created_at.as_deref(),
        Some("2026-01-15T10:23:45.123+00:00")
    );
    assert_eq!(e.projects[1].git_repo_path, None);
    assert!(
        e.projects[1].created_at.is_some(),
        "datetime('now','subsec') default reads"
    );

    let statuses: Vec<_> = e.tasks.iter().map(|t| t.status).collect();
    use LocalStatus::*;
    assert_eq!(statuses, [InProgress, Todo, InReview, Done, Cancelled]);
    let (parent, child) = (&e.tasks[0], &e.tasks[1]);
    assert_eq!(parent.id, uuid_of(T1));
    assert_eq!(parent.project_id, uuid_of(P1));
    assert_eq!(parent.description, "Line one\nline **two**");
    assert_eq!(parent.parent_task, None);
    assert_eq!(
        parent.created_at.as_deref(),
        Some("2026-01-15T10:23:45.123+00:00")
    );
    assert_eq!(
        parent.updated_at.as_deref(),
        Some("2026-01-16T08:00:00+00:00")
    );
    assert_eq!(child.title, "Child");
    assert_eq!(child.description, "");
    assert_eq!(child.parent_task, Some(uuid_of(T1)));
    assert!(e.tasks[3].updated_at.is_some(), "CURRENT_TIMESTAMP reads");
    assert_eq!(e.tasks[4].project_id, uuid_of(P2));

    assert_eq!(
        e.attempts,
        [LocalAttempt {
            id: uuid_of(A1),
            task_id: uuid_of(T1),
            branch: Some("vk/0001-parent".into()),
            executor: Some("CLAUDE_CODE".into()),
            created_at: Some("2026-01-15T11:00:00.123456789+00:00".into()),
        }]
    );
}

/// Proves a task_attempts-generation database (db.sqlite) reads: `projects.git_repo_path`, the parent found
/// through `task_attempts`, and the attempt's executor and branch.
#[test]
fn v1_database_resolves_parent_through_task_attempts() {
    let rows = format!(
        "INSERT INTO projects (id, name, git_repo_path, created_at) VALUES ({p1}, 'Web', '/srv/web', '2025-11-02 09:15:00');
         INSERT INTO tasks (id, project_id, title, description, status, created_at, updated_at) VALUES
           ({t1}, {p1}, 'Parent', 'Do it', 'inreview', '2025-11-02 09:15:00.5', '2025-11-02T10:00:00.25');
         INSERT INTO task_attempts (id, task_id, executor, branch, created_at) VALUES
           ({a1}, {t1}, 'CLAUDE_CODE', 'vk-1a2b-parent', '2025-11-02 09:20:00.000000001');
         INSERT INTO tasks (id, project_id, title, status, parent_task_attempt) VALUES
           ({t2}, {p1}, 'Child', 'done', {a1});",
        p1 = x(P1),
        t1 = x(T1),
        t2 = x(T2),
        a1 = x(A1),
    );
    let e = read_local_db(&db(&[V1, &rows]), LocalLimits::default()).unwrap();
    assert_eq!(e.projects[0].git_repo_path.as_deref(), Some("/srv/web"));
    assert_eq!(e.tasks[0].status, LocalStatus::InReview);
    assert_eq!(
        e.tasks[0].created_at.as_deref(),
        Some("2025-11-02T09:15:00.500+00:00")
    );
    assert_eq!(
        e.tasks[0].updated_at.as_deref(),
        Some("2025-11-02T10:00:00.250+00:00")
    );
    assert_eq!(e.tasks[1].parent_task, Some(uuid_of(T1)));
    assert_eq!(e.tasks[1].status, LocalStatus::Done);
    assert_eq!(e.attempts.len(), 1);
    assert_eq!(e.attempts[0].task_id, uuid_of(T1));
    assert_eq!(e.attempts[0].executor.as_deref(), Some("CLAUDE_CODE"));
    assert_eq!(e.attempts[0].branch.as_deref(), Some("vk-1a2b-parent"));
}

/// Proves the oldest generation (no parent column on tasks) reads, every parent `None`, an empty branch `None`.
#[test]
fn v0_database_without_parent_column_reads() {
    let rows = format!(
        "INSERT INTO projects (id, name, git_repo_path) VALUES ({p1}, 'Web', '/srv/web');
         INSERT INTO tasks (id, project_id, title, status) VALUES ({t1}, {p1}, 'Only', 'todo');
         INSERT INTO task_attempts (id, task_id, worktree_path, executor) VALUES ({a1}, {t1}, '/tmp/wt', 'claude');",
        p1 = x(P1),
        t1 = x(T1),
        a1 = x(A1),
    );
    let e = read_local_db(&db(&[V0, &rows]), LocalLimits::default()).unwrap();
    assert_eq!(e.tasks.len(), 1);
    assert_eq!(e.tasks[0].parent_task, None);
    assert_eq!(e.attempts[0].branch, None);
    assert_eq!(e.attempts[0].executor.as_deref(), Some("claude"));
}

/// Proves ids stored as 36-character UUID text are read as well as 16-byte BLOBs.
#[test]
fn text_uuid_ids_are_accepted() {
    let rows = format!(
        "INSERT INTO projects (id, name) VALUES ('{P1}', 'Web');
         INSERT INTO tasks (id, project_id, title, status) VALUES ({t1}, '{P1}', 'One', 'todo');",
        t1 = x(T1),
    );
    let e = read_local_db(&db(&[V2, &rows]), LocalLimits::default()).unwrap();
    assert_eq!(e.projects[0].id, uuid_of(P1));
    assert_eq!(e.tasks[0].project_id, uuid_of(P1));
}

/// Proves each timestamp form Vibe Kanban (through SQLite or sqlx) writes becomes RFC 3339 in UTC.
#[test]
fn timestamps_in_each_format_parse() {
    let cases = [
        ("2026-01-15 10:23:45.123", "2026-01-15T10:23:45.123+00:00"),
        ("2026-01-15 10:23:45", "2026-01-15T10:23:45+00:00"),
        (
            "2026-01-15 10:23:45.123456789",
            "2026-01-15T10:23:45.123456789+00:00",
        ),
        ("2026-01-15T10:23:45.5", "2026-01-15T10:23:45.500+00:00"),
        ("2026-01-15T12:23:45+02:00", "2026-01-15T10:23:45+00:00"),
        (
            "2026-01-15 10:23:45.1+00:00",
            "2026-01-15T10:23:45.100+00:00",
        ),
    ];
    for (stored, rfc3339) in cases {
        let parsed = parse_time(stored).map(|t| t.to_rfc3339());
        assert_eq!(parsed.as_deref(), Some(rfc3339), "{stored}");
    }
    assert_eq!(parse_time("yesterday"), None);
}

/// Proves a file that is not SQLite (a ZIP, an empty body, a bad header) is refused with what to upload, and a
/// damaged database as damaged.
#[test]
fn not_a_sqlite_file_is_refused() {
    for bytes in [&b"PK\x03\x04 not a database"[..], b""] {
        let err = read_local_db(bytes, LocalLimits::default()).unwrap_err();
        assert_eq!(err.file, "db.sqlite");
        assert_eq!(err.message, NOT_SQLITE);
    }
    let mut damaged = b"SQLite format 3\0".to_vec();
    damaged.extend_from_slice(&[0xff; 200]);
    let err = read_local_db(&damaged, LocalLimits::default()).unwrap_err();
    assert_eq!(err.message, NOT_SQLITE);
    // A sound header and schema, every table page after the first overwritten.
    let mut corrupt = db(&[V2, &v2_rows()]);
    let page = usize::from(u16::from_be_bytes([corrupt[16], corrupt[17]]));
    corrupt[page..].fill(0xff);
    let err = read_local_db(&corrupt, LocalLimits::default()).unwrap_err();
    assert!(err.message.starts_with("is damaged"), "{err}");
}

/// Proves an unknown status (the CHECK constraint bypassed) is refused naming the table, column and row.
#[test]
fn unknown_status_is_refused_naming_table_column_and_row() {
    let rows = format!(
        "PRAGMA ignore_check_constraints = ON;
         INSERT INTO projects (id, name) VALUES ({p1}, 'Web');
         INSERT INTO tasks (id, project_id, title, status) VALUES ({t1}, {p1}, 'Odd', 'blocked');",
        p1 = x(P1),
        t1 = x(T1),
    );
    let err = read_local_db(&db(&[V2, &rows]), LocalLimits::default()).unwrap_err();
    assert_eq!(err.file, "db.sqlite");
    assert_eq!(err.line, None);
    assert_eq!(err.column.as_deref(), Some("tasks.status"));
    assert!(err.message.contains(T1), "{err}");
    assert!(err.message.contains("\"blocked\""), "{err}");
}

/// Proves a database without `tasks` (a view of that name does not count) is refused as not Vibe Kanban's.
#[test]
fn missing_table_is_refused() {
    let bytes = db(&[
        "CREATE TABLE projects (id BLOB PRIMARY KEY, name TEXT NOT NULL);
         CREATE VIEW tasks AS SELECT 1 AS id;",
    ]);
    let err = read_local_db(&bytes, LocalLimits::default()).unwrap_err();
    assert_eq!(
        err.message,
        "missing table tasks: is this a Vibe Kanban database?"
    );
}

/// Proves a `tasks` table without a column the reader needs is refused naming `table.column`.
#[test]
fn missing_column_is_refused() {
    let bytes = db(&[
        "CREATE TABLE projects (id BLOB PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE tasks (id BLOB PRIMARY KEY, project_id BLOB, title TEXT, description TEXT,
                             created_at TEXT, updated_at TEXT);",
    ]);
    let err = read_local_db(&bytes, LocalLimits::default()).unwrap_err();
    assert_eq!(err.column.as_deref(), Some("tasks.status"));
    assert!(err.message.contains("missing column tasks.status"), "{err}");
}

/// Proves an id that is not 16 bytes is refused, printed in hex, with its table and column.
#[test]
fn short_id_is_refused() {
    let rows = format!(
        "INSERT INTO projects (id, name) VALUES ({p1}, 'Web');
         INSERT INTO tasks (id, project_id, title, status) VALUES (X'0102', {p1}, 'Short', 'todo');",
        p1 = x(P1),
    );
    let err = read_local_db(&db(&[V2, &rows]), LocalLimits::default()).unwrap_err();
    assert_eq!(err.column.as_deref(), Some("tasks.id"));
    assert!(err.message.contains("x'0102' is 2 bytes"), "{err}");
}

/// Proves an unparseable timestamp is refused naming the column and the row.
#[test]
fn bad_timestamp_is_refused() {
    let rows = format!(
        "INSERT INTO projects (id, name) VALUES ({p1}, 'Web');
         INSERT INTO tasks (id, project_id, title, status, created_at) VALUES ({t1}, {p1}, 'When', 'todo', 'yesterday');",
        p1 = x(P1),
        t1 = x(T1),
    );
    let err = read_local_db(&db(&[V2, &rows]), LocalLimits::default()).unwrap_err();
    assert_eq!(err.column.as_deref(), Some("tasks.created_at"));
    assert!(
        err.message.contains(T1) && err.message.contains("\"yesterday\""),
        "{err}"
    );
}

/// Proves the file size and per-table row limits are enforced before anything is read.
#[test]
fn limits_are_enforced() {
    let bytes = db(&[V2, &v2_rows()]);
    let rows = LocalLimits {
        max_rows: 4,
        ..LocalLimits::default()
    };
    let err = read_local_db(&bytes, rows).unwrap_err();
    assert!(err.message.contains("table tasks has 5 rows"), "{err}");
    let size = LocalLimits {
        max_bytes: bytes.len() as u64 - 1,
        ..LocalLimits::default()
    };
    let err = read_local_db(&bytes, size).unwrap_err();
    assert!(err.message.contains("larger than"), "{err}");
}

/// Proves a database left in WAL mode (no -wal file beside it) reads from the copy without SQLite leaving a
/// -wal or -shm file behind.
#[test]
fn wal_mode_database_reads_and_leaves_nothing() {
    let bytes = db(&["PRAGMA journal_mode = WAL;", V2, &v2_rows()]);
    assert_eq!(bytes[18..20], [2, 2], "the fixture is in WAL mode");
    let dir = fresh_dir();
    let e = read_in(&bytes, LocalLimits::default(), &dir).unwrap();
    assert_eq!(e.tasks.len(), 5);
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| f.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    std::fs::remove_dir(&dir).unwrap();
}

/// Proves the temporary copy is private (0600) and removed after a successful read and after a refused one.
#[test]
fn temporary_copy_is_private_and_removed() {
    let dir = fresh_dir();
    let copy = TempCopy::write(&dir, b"bytes").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    drop(copy);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);

    read_in(&db(&[V2, &v2_rows()]), LocalLimits::default(), &dir).unwrap();
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "removed after a read"
    );
    let bad = format!(
        "PRAGMA ignore_check_constraints = ON;
         INSERT INTO projects (id, name) VALUES ({p1}, 'Web');
         INSERT INTO tasks (id, project_id, title, status) VALUES ({t1}, {p1}, 'Odd', 'blocked');",
        p1 = x(P1),
        t1 = x(T1),
    );
    read_in(&db(&[V2, &bad]), LocalLimits::default(), &dir).unwrap_err();
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "removed after an error"
    );
    std::fs::remove_dir(&dir).unwrap();
}

//! Benchmark of the board: a workspace of 10,000 tasks in 100 projects, with comments, served by main in a
//! process of its own (this binary as `helper-main`).
//!
//! Everything is measured twice in one run, main's store on sled and then on PostgreSQL (a throwaway cluster,
//! `initdb` + `pg_ctl`), and printed side by side (target: PostgreSQL within 1.5× of sled).
//!
//! Prints: the board load (every column's first page of 50) through the API, the first after main starts on
//! its own (on PostgreSQL it fills the active main's memory), then p50/p99 of the rest, against reading the
//! same records straight from the store in the same run (ratio target ≤ 3×, p50 ≤ 50 ms); a move seen by
//! 100 WebSocket viewers of the workspace, p50/p99 from the request to each viewer's frame (target p99 ≤
//! 50 ms); task creates per second sustained through the API by 8 clients (target 1,000/s); main's RSS with
//! the workspace loaded.
//!
//! Run: `cargo build --release -p vibebridge-tests --bins && ./target/release/board-bench`. Sizes via env:
//! `VB_BENCH_TASKS` (10000), `VB_BENCH_PROJECTS` (100), `VB_BENCH_COMMENTS` (2 per task), `VB_BENCH_LOADS`
//! (200 board loads), `VB_BENCH_VIEWERS` (100), `VB_BENCH_MOVES` (100), `VB_BENCH_CREATE_SECS` (5).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vibebridge_main::store::{
    Comment, CommentId, Priority, Project, ProjectId, Role, Store, Task, TaskStatus, WorkspaceId,
};
use vibebridge_tests::bench::{env_or, percentiles, rss_bytes};
use vibebridge_tests::pg::PgCluster;
use vibebridge_tests::{Api, TempDir, WsClient};

const PASSWORD: &str = "benchmark password";

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Seeds the store at `dir`: user `bench` (creator), workspace BENCH, `projects` projects, `tasks` tasks
/// spread over them and the six columns, `comments` comments per task. Returns the workspace.
fn seed(store: &Store, tasks: usize, projects: usize, comments: usize) -> WorkspaceId {
    let hash = vibebridge_main::auth::password::hash(PASSWORD).unwrap();
    let user = store.create_user("bench", hash).unwrap();
    store.set_role(user.id, Role::Creator).unwrap();
    let ws = store
        .create_workspace("Bench".into(), "BENCH".into(), user.id)
        .unwrap();
    let project_ids: Vec<ProjectId> = (0..projects)
        .map(|i| {
            let p = Project {
                id: ProjectId::new(),
                workspace_id: ws.id,
                name: format!("project-{i:03}"),
                node_id: "n1".into(),
                repo_path: format!("/srv/repo-{i}"),
                base_branch: "main".into(),
                scripts: Default::default(),
                copy_files: Vec::new(),
                branch_template: "vb/{key}-{slug}".into(),
                github_repo: None,
                created_by: user.id,
                created_at: 1,
                updated_at: 1,
            };
            store.create_project(&p).unwrap();
            p.id
        })
        .collect();
    let per_status = tasks.div_ceil(TaskStatus::ALL.len());
    let keys = vibebridge_main::store::rank::spaced(per_status);
    let mut batch = Vec::with_capacity(tasks);
    for i in 0..tasks {
        let status = TaskStatus::ALL[i % TaskStatus::ALL.len()];
        batch.push(Task {
            project_id: Some(project_ids[i % projects.max(1)]),
            number: i as u64 + 1,
            description: "A description of **some** length, with a list:\n- one\n- two\n".repeat(3),
            priority: [Priority::None, Priority::Low, Priority::High][i % 3],
            assignees: vec![user.id],
            labels: vec![format!("area-{}", i % 7)],
            position: keys[i / TaskStatus::ALL.len()].clone(),
            created_by: Some(user.id),
            created_at: 1,
            updated_at: 1,
            ..Task::draft(
                ws.id,
                format!("Task {i}: make the thing work on every platform"),
                status,
            )
        });
    }
    store.insert_tasks(&batch).unwrap();
    store
        .update_workspace(ws.id, |w| {
            w.next_number = tasks as u64 + 1;
            Ok::<_, vibebridge_main::store::StoreError>(())
        })
        .unwrap();
    for t in &batch {
        for c in 0..comments {
            let comment = Comment {
                id: CommentId::new(),
                task_id: t.id,
                author: Some(user.id),
                author_name: None,
                body: format!("comment {c}: looks good, but check the edge case"),
                mentions: Vec::new(),
                created_at: 1,
                edited_at: None,
            };
            store.put_comment(ws.id, &comment, false).unwrap();
        }
    }
    store.flush().unwrap();
    ws.id
}

/// The baseline: the board's records (each column's first 50) read straight from the store, `loads` times.
fn store_loads(store: &Store, ws: WorkspaceId, loads: usize) -> Vec<Duration> {
    (0..loads)
        .map(|_| {
            let t = Instant::now();
            let n: usize = TaskStatus::ALL
                .into_iter()
                .map(|s| store.column(ws, s, None, 50).unwrap().len())
                .sum();
            assert!(n > 0);
            t.elapsed()
        })
        .collect()
}

/// `helper-main DIR`: main on fresh loopback ports with its store at DIR; prints `ready HTTP_ADDR`, serves
/// until its stdin closes.
async fn helper_main(dir: &str) {
    let mut config = vibebridge_main::MainConfig::default();
    config.database.path = dir.into();
    config.server.live_connections_per_user = 1000;
    config.server.writes_per_minute = u32::MAX;
    vibebridge_tests::bench::serve_helper_main(config).await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("helper-main") {
        return helper_main(&args[2]).await;
    }
    let sizes = Sizes {
        tasks: env_or("VB_BENCH_TASKS", 10_000),
        projects: env_or("VB_BENCH_PROJECTS", 100),
        comments: env_or("VB_BENCH_COMMENTS", 2),
        loads: env_or("VB_BENCH_LOADS", 200),
        viewers: env_or("VB_BENCH_VIEWERS", 100),
        moves: env_or("VB_BENCH_MOVES", 100),
        create_secs: env_or("VB_BENCH_CREATE_SECS", 5),
    };
    let sled = run(None, &sizes).await;
    let pg = PgCluster::start().expect("starting PostgreSQL (scripts/test.sh installs it)");
    let postgres = run(Some(&pg.url()), &sizes).await;

    let Sizes {
        tasks,
        projects,
        comments,
        viewers,
        ..
    } = sizes;
    println!(
        "board-bench: {tasks} tasks in {projects} projects, {} comments; a board answer is {} KiB",
        tasks * comments,
        sled.body_bytes >> 10
    );
    println!("| metric | main on sled | main on PostgreSQL | PostgreSQL / sled | target |");
    println!("|---|---|---|---|---|");
    let x = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let row = |name: &str, a: Duration, b: Duration, target: &str| {
        println!(
            "| {name} | {} | {} | {:.2}× | {target} |",
            ms(a),
            ms(b),
            x(b, a)
        );
    };
    row(
        "board load, store, p50 (6 columns × 50)",
        sled.store.0,
        postgres.store.0,
        "—",
    );
    row(
        "board load, store, p99",
        sled.store.1,
        postgres.store.1,
        "—",
    );
    row(
        "board load, API, the first after main starts",
        sled.first_load,
        postgres.first_load,
        "—",
    );
    row(
        "board load, API, p50 (GET …/board)",
        sled.api.0,
        postgres.api.0,
        "—",
    );
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    row(
        "board load, API, p99",
        sled.api.1,
        postgres.api.1,
        &format!(
            "PostgreSQL ≤ 1.5× sled, {}",
            verdict(x(postgres.api.1, sled.api.1) <= 1.5)
        ),
    );
    row(
        &format!("move seen by {viewers} WebSocket viewers, p50"),
        sled.moves.0,
        postgres.moves.0,
        "—",
    );
    row(
        &format!("move seen by {viewers} WebSocket viewers, p99"),
        sled.moves.1,
        postgres.moves.1,
        "—",
    );
    println!(
        "| task creates/s (8 clients, API) | {:.0} | {:.0} | {:.2}× | — |",
        sled.creates,
        postgres.creates,
        postgres.creates / sled.creates
    );
    println!(
        "| main RSS, workspace loaded | {} MiB | {} MiB | — | — |",
        sled.rss_loaded >> 20,
        postgres.rss_loaded >> 20
    );
    println!(
        "| main RSS, after the creates | {} MiB | {} MiB | — | — |",
        sled.rss_end >> 20,
        postgres.rss_end >> 20
    );
}

/// How big the workspace is and how much is measured.
struct Sizes {
    tasks: usize,
    projects: usize,
    comments: usize,
    loads: usize,
    viewers: usize,
    moves: usize,
    create_secs: u64,
}

/// One backend's figures: (p50, p99) pairs, creates/s, RSS.
struct BoardFigures {
    store: (Duration, Duration),
    api: (Duration, Duration),
    /// The first board load through the API after main started.
    first_load: Duration,
    moves: (Duration, Duration),
    creates: f64,
    rss_loaded: u64,
    rss_end: u64,
    body_bytes: usize,
}

/// Seeds a workspace (in sled, or the PostgreSQL at `database`), then measures it through main in its own
/// process.
async fn run(database: Option<&str>, sizes: &Sizes) -> BoardFigures {
    let &Sizes {
        tasks,
        projects,
        comments,
        loads,
        viewers,
        moves,
        create_secs,
    } = sizes;
    let dir = TempDir::new("board-bench");
    let db = dir.path().join("main");
    let started = Instant::now();
    let store = match database {
        Some(url) => Store::on(
            vibebridge_main::store::kv::Backend::postgres(&vibebridge_main::store::kv::PgOptions {
                url: url.to_string(),
                pool_size: 4,
                tls: Default::default(),
                ca_file: None,
                connect_timeout: Duration::from_secs(10),
            })
            .unwrap(),
        )
        .unwrap(),
        // Main keeps its sled database in `<database.path>/db`.
        None => Store::open(&db.join("db")).unwrap(),
    };
    let ws = seed(&store, tasks, projects, comments);
    eprintln!(
        "{}: seeded {tasks} tasks, {projects} projects, {} comments in {:.1} s",
        store.describe(),
        tasks * comments,
        started.elapsed().as_secs_f64()
    );
    // Read as the active main reads it: on PostgreSQL that is under the lead, from memory once loaded (the
    // helper main started next takes the lead over).
    if database.is_some() {
        store.lead(store.bump_leader_epoch().unwrap());
    }
    let store_lat = percentiles(store_loads(&store, ws, loads));
    drop(store);

    let (child, pid, addr) = vibebridge_tests::bench::spawn_helper_main(&db, database).await;
    let mut api = Api::at(&format!("http://{addr}"));
    let (status, body) = api.auth(false, "bench", PASSWORD).await;
    assert_eq!(status, 200, "{body}");

    // Board loads through the API.
    let board = format!("/api/v1/workspaces/{ws}/board");
    // The first load after main starts is reported on its own: on PostgreSQL it reads the trees into the
    // active main's memory. The rest are the steady state.
    let mut api_lat = Vec::with_capacity(loads + 1);
    let mut body_bytes = 0;
    for _ in 0..=loads {
        // Timed to the last byte of the answer; parsing it is the client's work and comes after.
        let t = Instant::now();
        let resp = api
            .request(reqwest::Method::GET, &board)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.bytes().await.unwrap();
        api_lat.push(t.elapsed());
        assert_eq!(status, 200);
        body_bytes = body.len();
        let b: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(b["columns"][0]["tasks"].as_array().unwrap().len(), 50);
    }
    let first_load = api_lat.remove(0);
    let api_lat = percentiles(api_lat);
    let rss_loaded = rss_bytes(pid).unwrap_or(0);

    // A move seen by `viewers` WebSockets watching the workspace.
    let mut sockets = Vec::with_capacity(viewers);
    for _ in 0..viewers {
        let mut live = WsClient::connect(&api).await.unwrap();
        live.send_text(&json!({"type": "watch", "topics": [], "workspace": "BENCH"}).to_string())
            .await;
        assert_eq!(live.next().await["type"], "watching");
        sockets.push(live);
    }
    let (_, todo) = api.get(&format!("{board}?status=todo&limit=20")).await;
    let ids: Vec<String> = todo["columns"][0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let mut move_lat = Vec::with_capacity(moves * viewers);
    for m in 0..moves {
        let id = &ids[m % ids.len()];
        let to = if m % 2 == 0 { "in_progress" } else { "todo" };
        let t = Instant::now();
        let (s, moved) = api
            .post(&format!("/api/v1/tasks/{id}/move"), json!({"status": to}))
            .await;
        assert_eq!(s, 200, "{moved}");
        let version = moved["version"].clone();
        let waits = sockets.iter_mut().map(|live| {
            let (id, version) = (id.clone(), version.clone());
            async move {
                live.until(|f: &Value| {
                    f["type"] == "task"
                        && f["task_id"] == id.as_str()
                        && f["task"]["version"] == version
                })
                .await;
                t.elapsed()
            }
        });
        move_lat.extend(futures::future::join_all(waits).await);
    }
    let move_lat = percentiles(move_lat);
    drop(sockets);

    // Creates per second, sustained by 8 clients.
    let deadline = Instant::now() + Duration::from_secs(create_secs);
    let create = format!("/api/v1/workspaces/{ws}/tasks");
    let clients = (0..8).map(|c| {
        let mut client = Api::at(&format!("http://{addr}"));
        client.token = api.token.clone();
        let api = client;
        let create = create.clone();
        tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let (s, b) = api
                    .post(&create, json!({"title": format!("created {c}-{n}")}))
                    .await;
                assert_eq!(s, 200, "{b}");
                n += 1;
            }
            n
        })
    });
    let t = Instant::now();
    let created: u64 = futures::future::join_all(clients)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .sum();
    let per_sec = created as f64 / t.elapsed().as_secs_f64();
    let rss_end = rss_bytes(pid).unwrap_or(0);

    drop(child);
    BoardFigures {
        store: store_lat,
        api: api_lat,
        first_load,
        moves: move_lat,
        creates: per_sec,
        rss_loaded,
        rss_end,
        body_bytes,
    }
}

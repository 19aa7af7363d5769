//! The randomized fault suite: live sessions on two nodes (the real `claude` and `codex` CLIs against the mock
//! model APIs, each turn asking an approval) followed by browsers over the WebSocket and SSE, while a seeded
//! driver injects faults: tunnel cut, half-open link, main `kill -9`, agent `kill -9`, browser socket dropped,
//! slow consumer, disk full on a node's store. Afterwards every session's events are identical on node, main
//! and every browser, contiguous from 1, and every session ends where its node says it is.
//!
//! `VB_FAULTS=N` sets the number of faults (default 100), `VB_FAULT_SEED=S` replays a run (the seed is
//! printed first). Disk-full faults are opt-in (`VB_FAULT_DISK=1`) and need root (a tmpfs is mounted for each
//! node's store): sled, the node's store, can hang after a failed write (see the ignored test at the end).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;
use vibebridge_agent::sessions::store::AgentStore;
use vibebridge_tests::fault_fx::{Browser, MainProcess, Rng, Tmpfs, Transport};
use vibebridge_tests::mock::{CliEnv, MockAnthropic, MockOpenAi};
use vibebridge_tests::proxy::Proxy;
use vibebridge_tests::session_fx::{AgentProcess, with_clis};
use vibebridge_tests::{Api, TempDir, fast_tunnel};

const MAIN: &str = env!("CARGO_BIN_EXE_test-main");
const AGENT: &str = env!("CARGO_BIN_EXE_test-agent");
/// How long the system may take to recover from one fault, or to settle at the end, before the run fails.
const RECOVER: Duration = Duration::from_secs(120);
/// The agent log lines that say its store met the full disk.
const STORE_FAILED: [&str; 2] = ["refused a write", "flushing the session store failed"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    TunnelCut,
    HalfOpen,
    MainKill,
    AgentKill,
    BrowserDrop,
    SlowConsumer,
    DiskFull,
}

struct Node {
    id: String,
    config: vibebridge_agent::NodeConfig,
    link: Proxy,
    agent: Option<AgentProcess>,
    disk: Option<Tmpfs>,
    /// Log lines of the store meeting a full disk, counted.
    store_failures: Arc<AtomicU64>,
}

/// Fields drop in order: processes and mounts before the directory that holds them.
struct World {
    env: CliEnv,
    main_config: vibebridge_main::MainConfig,
    main: Option<MainProcess>,
    http: Proxy,
    nodes: Vec<Node>,
    api: Api,
    /// (session id, index of its node).
    sessions: Vec<(String, usize)>,
    browsers: Vec<Browser>,
    /// Holds every process's state; removed last.
    _dir: TempDir,
}

impl World {
    fn base(&self) -> String {
        format!("http://{}", self.http.addr)
    }

    fn start_agent(&mut self, n: usize) {
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let failures = self.nodes[n].store_failures.clone();
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                if STORE_FAILED.iter().any(|s| line.contains(s)) {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        let node = &mut self.nodes[n];
        node.agent = Some(AgentProcess::start_logging(
            AGENT,
            node.config.clone(),
            "vibebridge_agent=error",
            tx,
        ));
    }

    async fn restart_main(&mut self) {
        self.main.take().unwrap().kill9().await;
        let main = MainProcess::start(MAIN, &self.main_config, 0).await;
        self.http.retarget(main.http);
        for node in &self.nodes {
            node.link.retarget(main.ssh);
        }
        self.main = Some(main);
    }

    /// Main's view of every session, retried while main is away.
    async fn main_sessions(&self) -> BTreeMap<String, Value> {
        let deadline = tokio::time::Instant::now() + RECOVER;
        loop {
            if let Ok((200, list)) = self
                .api
                .try_call(reqwest::Method::GET, "/api/v1/sessions", None)
                .await
            {
                let list = list.get("sessions").cloned().unwrap_or(list);
                return list
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| (s["id"].as_str().unwrap().to_string(), s.clone()))
                    .collect();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "main did not answer"
            );
            tick().await;
        }
    }

    async fn total_seq(&self) -> u64 {
        self.main_sessions()
            .await
            .values()
            .map(|s| s["last_seq"].as_u64().unwrap())
            .sum()
    }

    async fn nodes_online(&self) -> bool {
        match self
            .api
            .try_call(reqwest::Method::GET, "/api/v1/nodes", None)
            .await
        {
            Ok((200, list)) => self.nodes.iter().all(|n| {
                list.as_array()
                    .unwrap()
                    .iter()
                    .any(|v| v["id"] == n.id.as_str() && v["online"] == true)
            }),
            _ => false,
        }
    }

    /// Waits until main answers, both nodes are online and main has more events than `before`.
    async fn recover(&self, before: u64, what: &str) {
        let deadline = tokio::time::Instant::now() + RECOVER;
        while !(self.nodes_online().await && self.total_seq().await > before) {
            if tokio::time::Instant::now() > deadline {
                let sessions: Vec<String> = self
                    .main_sessions()
                    .await
                    .values()
                    .map(|s| format!("{} {} at {}", s["id"], s["status"], s["last_seq"]))
                    .collect();
                panic!(
                    "no recovery within {RECOVER:?} after {what}: nodes online {}, events {} (before {before}); \
                     sessions: {sessions:?}",
                    self.nodes_online().await,
                    self.total_seq().await
                );
            }
            tick().await;
        }
    }
}

/// The polling interval of conditions the suite waits on.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

fn settled(status: &str) -> bool {
    matches!(
        status,
        "idle" | "interrupted" | "failed" | "stopped" | "completed"
    )
}

/// A turn of `provider` that streams text and runs one command, which asks an approval.
fn prompt(provider: &str, n: u64, last: bool) -> String {
    let text = if last {
        "final".to_string()
    } else {
        format!("done {n}")
    };
    match provider {
        "claude" => format!(
            "Turn {n}. [[thinking:planning {n}]] [[shell:echo step {n}]] [[slow:5]] [[text:{text}]]"
        ),
        _ => format!("Turn {n}. [[shell:echo step {n}]] [[text:{text}]]"),
    }
}

/// Drives one session: answers its approvals, sends the next message once the last one's turn settled.
/// Once `stop` is set it sends one last message and returns when that turn has settled as `idle`.
async fn drive(
    api: Arc<Api>,
    id: String,
    provider: &'static str,
    stop: Arc<AtomicBool>,
    turns: Arc<AtomicU64>,
) {
    let mut sent: Option<u64> = None;
    let mut last_sent = false;
    let mut n = 1;
    loop {
        tick().await;
        let Ok((200, s)) = api
            .try_call(
                reqwest::Method::GET,
                &format!("/api/v1/sessions/{id}"),
                None,
            )
            .await
        else {
            continue;
        };
        let (status, last_seq) = (
            s["status"].as_str().unwrap().to_string(),
            s["last_seq"].as_u64().unwrap(),
        );
        if s["pending_approvals"].as_u64().unwrap_or(0) > 0 {
            if let Ok((200, list)) = api
                .try_call(reqwest::Method::GET, "/api/v1/approvals", None)
                .await
            {
                for a in list
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|a| a["session_id"] == id.as_str())
                {
                    let path = format!(
                        "/api/v1/sessions/{id}/approvals/{}",
                        a["approval_id"].as_str().unwrap()
                    );
                    let _ = api
                        .try_call(
                            reqwest::Method::POST,
                            &path,
                            Some(json!({"decision": "allow"})),
                        )
                        .await;
                }
            }
            continue;
        }
        let done = sent.is_none_or(|at| last_seq > at + 1);
        if !(settled(&status) && done) {
            continue;
        }
        if last_sent && status == "idle" {
            return;
        }
        let last = stop.load(Ordering::SeqCst);
        let body = json!({ "text": prompt(provider, n, last) });
        if let Ok((202, _)) = api
            .try_call(
                reqwest::Method::POST,
                &format!("/api/v1/sessions/{id}/messages"),
                Some(body),
            )
            .await
        {
            sent = Some(last_seq);
            last_sent = last;
            n += 1;
            turns.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Sets up main, two nodes behind their own link proxies, a claude and a codex session on each, and three
/// browsers (two WebSockets, one set of SSE streams).
async fn world() -> (World, MockAnthropic, MockOpenAi, Vec<String>) {
    let dir = TempDir::new("faults");
    let claude = MockAnthropic::start().await;
    let openai = MockOpenAi::start().await;
    let env = CliEnv::new("faults")
        .with_anthropic(&claude)
        .with_openai(&openai);
    let mut main_config = vibebridge_main::MainConfig::default();
    main_config.database.path = dir.path().join("main");
    main_config.tunnel = fast_tunnel();
    // A token outlives a long soak; a stalled follower is cut quickly.
    main_config.auth.access_ttl = Duration::from_secs(24 * 3600);
    main_config.auth.refresh_ttl = Duration::from_secs(48 * 3600);
    main_config.server.slow_consumer_timeout = Duration::from_secs(1);
    let main = MainProcess::start(MAIN, &main_config, 2).await;
    let http = Proxy::start(main.http).await;
    let mut api = Api::at(&format!("http://{}", http.addr));
    assert_eq!(
        api.auth(true, "alice", "correct horse battery").await.0,
        200
    );
    let mut notes = Vec::new();
    let mut nodes = Vec::new();
    for (i, token) in main.tokens.iter().enumerate() {
        let id = format!("n{}", i + 1);
        let link = Proxy::start(main.ssh).await;
        let mut config = main.node_config(dir.path(), &id, link.addr, token);
        with_clis(&mut config, &env);
        let disk = if std::env::var_os("VB_FAULT_DISK").is_none() {
            None
        } else {
            match Tmpfs::mount(&config.database.path, 128) {
                Ok(d) => Some(d),
                Err(e) => {
                    notes.push(format!(
                        "disk_full faults left out on {id}: cannot mount a tmpfs ({e})"
                    ));
                    None
                }
            }
        };
        nodes.push(Node {
            id,
            config,
            link,
            agent: None,
            disk,
            store_failures: Arc::default(),
        });
    }
    let mut w = World {
        _dir: dir,
        env,
        main_config,
        main: Some(main),
        http,
        nodes,
        api,
        sessions: Vec::new(),
        browsers: Vec::new(),
    };
    for n in 0..w.nodes.len() {
        w.start_agent(n);
    }
    let deadline = tokio::time::Instant::now() + RECOVER;
    while !w.nodes_online().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the nodes never came online"
        );
        tick().await;
    }
    for n in 0..w.nodes.len() {
        for (provider, mode) in [("claude", "default"), ("codex", "untrusted")] {
            let repo = w.env.git_repo(&format!("ws-{n}-{provider}"));
            let (status, body) = w
                .api
                .post(
                    "/api/v1/sessions",
                    json!({"node_id": w.nodes[n].id, "path": repo.display().to_string(), "provider": provider,
                           "permission_mode": mode, "prompt": prompt(provider, 0, false)}),
                )
                .await;
            assert_eq!(status, 201, "{body}");
            w.sessions
                .push((body["id"].as_str().unwrap().to_string(), n));
        }
    }
    let ids: Vec<String> = w.sessions.iter().map(|(id, _)| id.clone()).collect();
    let token = w.api.token.clone().unwrap();
    for (name, t) in [
        ("ws-a", Transport::Ws),
        ("ws-b", Transport::Ws),
        ("sse", Transport::Sse),
    ] {
        w.browsers
            .push(Browser::start(name, t, &w.base(), &token, &ids));
    }
    (w, claude, openai, notes)
}

impl World {
    /// Injects `fault`; returns what it did, for the failure message.
    async fn inject(&mut self, fault: Fault, rng: &mut Rng) -> String {
        let n = rng.below(self.nodes.len() as u64) as usize;
        let b = rng.below(self.browsers.len() as u64) as usize;
        match fault {
            Fault::TunnelCut => {
                self.nodes[n].link.cut_existing();
                format!("tunnel cut on {}", self.nodes[n].id)
            }
            Fault::HalfOpen => {
                self.nodes[n].link.freeze_existing();
                format!("half-open link on {}", self.nodes[n].id)
            }
            Fault::MainKill => {
                self.restart_main().await;
                "main kill -9 and restart".into()
            }
            Fault::AgentKill => {
                self.nodes[n].agent.take().unwrap().kill9().await;
                self.start_agent(n);
                format!("agent kill -9 and restart on {}", self.nodes[n].id)
            }
            Fault::BrowserDrop => {
                self.browsers[b].drop_connections();
                format!("browser {} dropped its sockets", self.browsers[b].name)
            }
            Fault::SlowConsumer => {
                // The browser reads nothing while main stores more events (and may cut it for that).
                self.browsers[b].pause(true);
                let before = self.total_seq().await;
                let deadline = tokio::time::Instant::now() + RECOVER;
                while self.total_seq().await < before + 4 {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "no events while a browser stalled"
                    );
                    tick().await;
                }
                self.browsers[b].pause(false);
                format!("browser {} stalled", self.browsers[b].name)
            }
            Fault::DiskFull => {
                let with_disk: Vec<usize> = (0..self.nodes.len())
                    .filter(|&i| self.nodes[i].disk.is_some())
                    .collect();
                let n = with_disk[rng.below(with_disk.len() as u64) as usize];
                let node = &self.nodes[n];
                let before = node.store_failures.load(Ordering::SeqCst);
                node.disk.as_ref().unwrap().fill();
                // Full until the node's store has met it (a write or a flush refused), then room again.
                let deadline = tokio::time::Instant::now() + RECOVER;
                while node.store_failures.load(Ordering::SeqCst) == before {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "{}'s store never met the full disk",
                        node.id
                    );
                    tick().await;
                }
                node.disk.as_ref().unwrap().free();
                format!("disk full on {}'s store", node.id)
            }
        }
    }

    /// Every stored event of session `id` on main.
    async fn main_history(&self, id: &str) -> Vec<Value> {
        let (mut after, mut all) = (0, Vec::new());
        loop {
            let (status, page) = self
                .api
                .get(&format!(
                    "/api/v1/sessions/{id}/events?after={after}&limit=500"
                ))
                .await;
            assert_eq!(status, 200, "{page}");
            let events = page["events"].as_array().unwrap().clone();
            if events.is_empty() {
                return all;
            }
            after = page["next_after"].as_u64().unwrap();
            all.extend(events);
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number"))
    })
}

/// Proves nothing is lost or doubled under randomized faults: after `VB_FAULTS` (default 100) of them, every
/// session's events are identical on its node, on main and in every browser, contiguous from 1, and every
/// session ends in the state its node has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "still finds open defects (see issue 12's note); run with --run-ignored all"]
async fn random_faults_lose_and_double_nothing() {
    let seed = env_u64("VB_FAULT_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    let count = env_u64("VB_FAULTS").unwrap_or(100);
    eprintln!("fault suite: seed {seed} (replay with VB_FAULT_SEED={seed}), {count} faults");
    let mut rng = Rng::new(seed);
    let (mut w, _claude, _openai, notes) = world().await;
    for note in &notes {
        eprintln!("fault suite: {note}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let turns = Arc::new(AtomicU64::new(0));
    let providers = ["claude", "codex"];
    let drivers: Vec<_> = w
        .sessions
        .iter()
        .enumerate()
        .map(|(i, (id, _))| {
            let mut api = Api::at(&w.base());
            api.token = w.api.token.clone();
            tokio::spawn(drive(
                Arc::new(api),
                id.clone(),
                providers[i % 2],
                stop.clone(),
                turns.clone(),
            ))
        })
        .collect();

    let mut kinds = vec![
        Fault::TunnelCut,
        Fault::HalfOpen,
        Fault::MainKill,
        Fault::AgentKill,
        Fault::BrowserDrop,
        Fault::SlowConsumer,
    ];
    // Opt-in until the node's event log survives a full disk: sled 0.34 can hang in `flush` after ENOSPC
    // (see `full_disk_on_the_node_store_loses_nothing`).
    let mut notes = notes;
    if w.nodes.iter().any(|n| n.disk.is_some()) {
        kinds.push(Fault::DiskFull);
    } else if std::env::var_os("VB_FAULT_DISK").is_none() {
        notes.push(
            "disk_full not injected (VB_FAULT_DISK=1 adds it; sled hangs after ENOSPC)".into(),
        );
    }
    let mut by_kind: BTreeMap<Fault, u64> = BTreeMap::new();
    for i in 0..count {
        let fault = kinds[rng.below(kinds.len() as u64) as usize];
        let before = w.total_seq().await;
        let what = w.inject(fault, &mut rng).await;
        eprintln!("fault {}: {what}", i + 1);
        *by_kind.entry(fault).or_default() += 1;
        w.recover(before, &format!("fault {} ({what}); seed {seed}", i + 1))
            .await;
    }

    // Every session runs one last turn to `idle`; then every browser has caught up with main.
    stop.store(true, Ordering::SeqCst);
    for d in drivers {
        if tokio::time::timeout(RECOVER, d).await.is_err() {
            let sessions: Vec<String> = w
                .main_sessions()
                .await
                .values()
                .map(|s| {
                    format!(
                        "{} {} at {}: {}",
                        s["id"], s["status"], s["last_seq"], s["status_message"]
                    )
                })
                .collect();
            panic!("a session never settled as idle after the faults (seed {seed}): {sessions:?}");
        }
    }
    let main_view = w.main_sessions().await;
    let deadline = tokio::time::Instant::now() + RECOVER;
    for (id, _) in &w.sessions {
        let last = main_view[id]["last_seq"].as_u64().unwrap();
        for b in &w.browsers {
            while b.last(id) < last {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "browser {} stuck at {} of {last} in {id}",
                    b.name,
                    b.last(id)
                );
                tick().await;
            }
        }
    }
    for n in 0..w.nodes.len() {
        w.nodes[n].agent.take().unwrap().stop().await;
    }

    let mut checked = 0;
    for (id, n) in &w.sessions {
        let store =
            AgentStore::open(&w.nodes[*n].config.database.path.join("sessions.db")).unwrap();
        let sid = Uuid::parse_str(id).unwrap();
        let on_node: Vec<Value> = store
            .events_after(&sid, 0, usize::MAX)
            .unwrap()
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        let node_status = store.meta(&sid).unwrap().unwrap().status;
        drop(store);
        let on_main = w.main_history(id).await;
        let seqs: Vec<u64> = on_main.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "main's events of {id} are not 1..=n (seed {seed})"
        );
        assert!(
            on_node == on_main,
            "node and main differ on {id} (seed {seed})"
        );
        for b in &w.browsers {
            let seen = b.seen.lock().unwrap();
            assert!(
                seen.anomalies.is_empty(),
                "browser {}: {:?} (seed {seed})",
                b.name,
                seen.anomalies
            );
            assert!(
                seen.events.get(id) == Some(&on_main),
                "browser {} differs from main on {id} (seed {seed})",
                b.name
            );
        }
        let status = &main_view[id]["status"];
        assert_eq!(
            status,
            &serde_json::to_value(node_status).unwrap(),
            "{id}: main and node disagree (seed {seed})"
        );
        assert_eq!(status, "idle", "{id} did not end idle (seed {seed})");
        checked += on_main.len();
    }
    let kinds: Vec<String> = by_kind.iter().map(|(k, v)| format!("{k:?} {v}")).collect();
    let reconnects: u64 = w
        .browsers
        .iter()
        .map(|b| b.seen.lock().unwrap().connects)
        .sum();
    eprintln!(
        "fault summary: seed {seed}; {count} faults ({}); {} sessions, {} turns; {checked} events checked on node, \
         main and {} browsers ({reconnects} browser connections); lost 0, doubled 0{}",
        kinds.join(", "),
        w.sessions.len(),
        turns.load(Ordering::SeqCst),
        w.browsers.len(),
        if notes.is_empty() {
            String::new()
        } else {
            format!("; {}", notes.join("; "))
        }
    );
    w.browsers.clear();
    w.main.take().unwrap().stop().await;
}

/// Proves a node whose store's disk fills up mid-session loses nothing: events wait in memory until the
/// disk has room, then reach main in order; and the store still opens after a later `kill -9`.
///
/// Fails today on the second fill: sled 0.34 can block for good in `flush` (`make_stable_inner`) after a
/// write failed with ENOSPC, and its files may then not open ("Read corrupted data"). The node's event log
/// has to leave sled for a log whose torn tail is cut back; until then this test documents the defect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "sled 0.34 hangs in flush after ENOSPC: open defect, see issue 12"]
async fn full_disk_on_the_node_store_loses_nothing() {
    let dir = TempDir::new("disk-full");
    let claude = MockAnthropic::start().await;
    let env = CliEnv::new("disk-full").with_anthropic(&claude);
    let main = vibebridge_tests::TestMain::start(dir.path()).await;
    let mut api = Api::new(&main);
    assert_eq!(
        api.auth(true, "alice", "correct horse battery").await.0,
        200
    );
    let mut config = vibebridge_tests::session_fx::node_config(&dir, &main, &env);
    let disk = match Tmpfs::mount(&config.database.path, 64) {
        Ok(d) => d,
        Err(e) => {
            eprintln!(
                "skipped: a tmpfs for the node's store cannot be mounted here ({e}); run as root"
            );
            return;
        }
    };
    config.tunnel = fast_tunnel();
    let failures = Arc::new(AtomicU64::new(0));
    let start = |config: &vibebridge_agent::NodeConfig| {
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let failures = failures.clone();
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                if STORE_FAILED.iter().any(|s| line.contains(s)) {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        AgentProcess::start_logging(AGENT, config.clone(), "vibebridge_agent=error", tx)
    };
    let mut agent = start(&config);
    main.wait_online("n1").await;
    let repo = env.git_repo("ws");
    let (status, body) = api
        .post(
            "/api/v1/sessions",
            json!({"node_id": "n1", "path": repo.display().to_string(), "provider": "claude",
                   "permission_mode": "bypassPermissions", "prompt": "Hi [[text:turn 0]]"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let idle_after = |text: String| {
        let api = &api;
        let id = &id;
        async move {
            let mut sse = vibebridge_tests::SseReader::open(api, id, 0).await;
            sse.until(vibebridge_tests::mock::CLI_WAIT, |e| {
                e["type"] == "assistant_message" && e["text"] == text.as_str()
            })
            .await;
            sse.until(vibebridge_tests::mock::CLI_WAIT, |e| {
                e["type"] == "status" && e["status"] == "idle"
            })
            .await;
        }
    };
    idle_after("turn 0".into()).await;
    let pad = " padding".repeat(8 * 1024);
    for turn in 1..=2 {
        let before = failures.load(Ordering::SeqCst);
        disk.fill();
        // Bigger than the slack in the store file's last page, so the write needs new space.
        let (status, _) = api
            .post(
                &format!("/api/v1/sessions/{id}/messages"),
                json!({"text": format!("More [[text:turn {turn}{pad}]]")}),
            )
            .await;
        assert_eq!(status, 202);
        let deadline = tokio::time::Instant::now() + RECOVER;
        while failures.load(Ordering::SeqCst) == before {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the store never met the full disk"
            );
            tick().await;
        }
        disk.free();
        idle_after(format!("turn {turn}{pad}")).await;
    }
    agent.kill9().await;
    agent = start(&config);
    main.wait_link("n1", |_| true).await;
    let (status, _) = api
        .post(
            &format!("/api/v1/sessions/{id}/messages"),
            json!({"text": "Back [[text:turn 3]]"}),
        )
        .await;
    assert_eq!(status, 202, "the node's store did not reopen after kill -9");
    idle_after("turn 3".into()).await;
    agent.stop().await;
    let store = AgentStore::open(&config.database.path.join("sessions.db")).unwrap();
    let on_node: Vec<Value> = store
        .events_after(&Uuid::parse_str(&id).unwrap(), 0, usize::MAX)
        .unwrap()
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    drop(store);
    let (_, page) = api
        .get(&format!("/api/v1/sessions/{id}/events?limit=1000"))
        .await;
    let on_main = page["events"].as_array().unwrap().clone();
    let seqs: Vec<u64> = on_main.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert!(on_node == on_main, "node and main differ");
    drop(disk);
}

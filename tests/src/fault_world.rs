//! The fault suite's world (`tests/tests/faults.rs`): main in its own process behind an HTTP proxy, two nodes
//! behind their own link proxies, a claude and a codex session on each driven turn after turn, browsers
//! following them, and the faults injected into it all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::browser_fx::{Browser, Transport};
use crate::fault_fx::{MainProcess, Rng, Tmpfs, agent_counting_store_failures};
use crate::mock::{CliEnv, MockAnthropic, MockOpenAi};
use crate::pg::PgCluster;
use crate::proxy::Proxy;
use crate::session_driver::{DriveStats, drive, prompt, tick};
use crate::session_fx::{AgentProcess, node_session, session_history, with_clis};
use crate::{Api, TempDir, fast_tunnel};

/// How long the system may take to recover from one fault, or to settle at the end, before the run fails.
pub const RECOVER: Duration = Duration::from_secs(120);

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Both sockets of a node's link closed.
    TunnelCut,
    /// A node's link stops carrying bytes, its sockets open.
    HalfOpen,
    /// Main `kill -9` and restart.
    MainKill,
    /// An agent `kill -9` and restart.
    AgentKill,
    /// A browser's sockets dropped.
    BrowserDrop,
    /// A browser reads nothing for a while.
    SlowConsumer,
    /// A node's store disk full until its store has met it.
    DiskFull,
}

/// A node of the world.
pub struct Node {
    /// Its id.
    pub id: String,
    /// Its config (state in `config.database.path`).
    pub config: vibebridge_agent::NodeConfig,
    link: Proxy,
    /// The agent process, while it runs.
    pub agent: Option<AgentProcess>,
    /// Its store's tmpfs, when disk-full faults are on.
    pub disk: Option<Tmpfs>,
    /// Log lines of the store meeting a full disk, counted.
    store_failures: Arc<AtomicU64>,
}

/// Main, two nodes, their sessions and the browsers following them. Fields drop in order: processes and
/// mounts before the directory that holds them.
pub struct World {
    bins: Bins,
    pub(crate) env: CliEnv,
    main_config: vibebridge_main::MainConfig,
    /// Main, while it runs.
    pub main: Option<MainProcess>,
    http: Proxy,
    /// The nodes.
    pub nodes: Vec<Node>,
    /// Logged in as alice, through the proxy in front of main.
    pub api: Api,
    /// (session id, index of its node).
    pub sessions: Vec<(String, usize)>,
    /// Task runs (one per node), whose sessions are among `sessions`.
    pub runs: Vec<String>,
    /// The browsers.
    pub browsers: Vec<Browser>,
    /// Why some fault kinds are left out, if any.
    pub notes: Vec<String>,
    /// Main's PostgreSQL, in the suite's Postgres mode; stopped after main.
    _pg: Option<PgCluster>,
    /// Holds every process's state; removed last.
    _dir: TempDir,
}

/// The test binaries a world runs (`env!("CARGO_BIN_EXE_…")` exists only in the test crate itself).
#[derive(Clone, Copy)]
pub struct Bins {
    /// `test-main`.
    pub main: &'static str,
    /// `test-agent`.
    pub agent: &'static str,
}

impl World {
    /// Main's address behind its proxy.
    pub fn base(&self) -> String {
        format!("http://{}", self.http.addr)
    }

    fn start_agent(&mut self, n: usize) {
        let node = &mut self.nodes[n];
        node.agent = Some(agent_counting_store_failures(
            self.bins.agent,
            node.config.clone(),
            &node.store_failures,
        ));
    }

    async fn restart_main(&mut self) {
        self.main.take().unwrap().kill9().await;
        let main = MainProcess::start(self.bins.main, &self.main_config, 0).await;
        main.wait_active().await;
        self.http.retarget(main.http);
        for node in &self.nodes {
            node.link.retarget(main.ssh);
        }
        self.main = Some(main);
    }

    /// Main's view of every session, retried while main is away.
    pub async fn main_sessions(&self) -> BTreeMap<String, Value> {
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

    /// The sum of main's last seqs.
    pub async fn total_seq(&self) -> u64 {
        self.main_sessions()
            .await
            .values()
            .map(|s| s["last_seq"].as_u64().unwrap())
            .sum()
    }

    /// Whether main has every node online.
    pub async fn nodes_online(&self) -> bool {
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
    pub async fn recover(&self, before: u64, what: &str) {
        let deadline = tokio::time::Instant::now() + RECOVER;
        while !(self.nodes_online().await && self.total_seq().await > before) {
            if tokio::time::Instant::now() > deadline {
                let sessions = self.describe_sessions().await;
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

/// Sets up main (on sled), two nodes behind their own link proxies, a claude and a codex session on each,
/// and three browsers (two WebSockets, one set of SSE streams).
pub async fn world(bins: Bins) -> (World, MockAnthropic, MockOpenAi) {
    world_on(bins, false).await
}

/// The same world with main's store on a PostgreSQL cluster of its own when `postgres`.
pub async fn world_on(bins: Bins, postgres: bool) -> (World, MockAnthropic, MockOpenAi) {
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
    let pg = postgres.then(|| PgCluster::start().expect("starting PostgreSQL"));
    if let Some(pg) = &pg {
        main_config.database.url = Some(vibebridge_tunnel::config::Secret::new(pg.url()));
    }
    let main = MainProcess::start(bins.main, &main_config, 2).await;
    main.wait_active().await;
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
        let disk = if std::env::var_os("VB_FAULT_DISK").is_some_and(|v| v == "0") {
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
        _pg: pg,
        bins,
        env,
        main_config,
        main: Some(main),
        http,
        nodes,
        api,
        sessions: Vec::new(),
        runs: Vec::new(),
        browsers: Vec::new(),
        notes,
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
    w.runs = crate::fault_runs::start(&mut w).await;
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
    (w, claude, openai)
}

impl World {
    /// Injects `fault`; returns what it did, for the failure message.
    pub async fn inject(&mut self, fault: Fault, rng: &mut Rng) -> String {
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
                // The store meets the full disk at its next write. Its sessions' drivers may all be waiting
                // (a message in flight through a restart), so one more message makes sure a write comes:
                // the node stores it (or queues it, mid-turn) before it answers.
                let poke = self.sessions.iter().find(|(_, i)| *i == n).map(|(id, _)| {
                    let mut api = Api::at(&self.base());
                    api.token = self.api.token.clone();
                    let path = format!("/api/v1/sessions/{id}/messages");
                    tokio::spawn(async move {
                        let body = json!({"text": "A poke while the disk is full. [[text:poked]]"});
                        let _ = api.try_call(reqwest::Method::POST, &path, Some(body)).await;
                    })
                });
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
                if let Some(poke) = poke {
                    // Answered once the disk has room again; whatever it answers, it is not judged.
                    let _ = tokio::time::timeout(RECOVER, poke).await;
                }
                format!("disk full on {}'s store", node.id)
            }
        }
    }
}

impl World {
    /// The fault kinds this world can inject: disk-full only where a node's store is on a tmpfs.
    pub fn fault_kinds(&self) -> Vec<Fault> {
        let mut kinds = vec![
            Fault::TunnelCut,
            Fault::HalfOpen,
            Fault::MainKill,
            Fault::AgentKill,
            Fault::BrowserDrop,
            Fault::SlowConsumer,
        ];
        if self.nodes.iter().any(|n| n.disk.is_some()) {
            kinds.push(Fault::DiskFull);
        }
        kinds
    }

    /// Starts one [`drive`] per session (claude and codex alternate, as [`world`] created them).
    pub fn start_drivers(
        &self,
        stop: &Arc<AtomicBool>,
        stats: &Arc<DriveStats>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let providers = ["claude", "codex"];
        self.sessions
            .iter()
            .enumerate()
            .map(|(i, (id, _))| {
                let mut api = Api::at(&self.base());
                api.token = self.api.token.clone();
                tokio::spawn(drive(
                    Arc::new(api),
                    id.clone(),
                    providers[i % 2],
                    stop.clone(),
                    stats.clone(),
                ))
            })
            .collect()
    }

    /// One line per session as main sees it, for failure messages.
    pub async fn describe_sessions(&self) -> Vec<String> {
        self.main_sessions()
            .await
            .values()
            .map(|s| {
                format!(
                    "{} {} at {}: {}",
                    s["id"], s["status"], s["last_seq"], s["status_message"]
                )
            })
            .collect()
    }

    /// Ends the run: every driver sends one last message and sees its turn settle as `idle`, every browser
    /// catches up with main, and the agents stop (so their stores can be read).
    pub async fn settle(
        &mut self,
        drivers: Vec<tokio::task::JoinHandle<()>>,
        stop: &AtomicBool,
        seed: u64,
    ) {
        stop.store(true, Ordering::SeqCst);
        for d in drivers {
            if tokio::time::timeout(RECOVER, d).await.is_err() {
                let sessions = self.describe_sessions().await;
                panic!(
                    "a session never settled as idle after the faults (seed {seed}): {sessions:?}"
                );
            }
        }
        let main_view = self.main_sessions().await;
        let deadline = tokio::time::Instant::now() + RECOVER;
        for (id, _) in &self.sessions {
            let last = main_view[id]["last_seq"].as_u64().unwrap();
            for b in &self.browsers {
                while b.last(id) < last {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "browser {} stuck at {} of {last} in {id} (seed {seed})",
                        b.name,
                        b.last(id)
                    );
                    tick().await;
                }
            }
        }
        for node in &mut self.nodes {
            node.agent.take().unwrap().stop().await;
        }
    }

    /// The accepted messages (session, text) that are not a `user_message` of their session's history on
    /// main (which [`World::check`] proves equal to the node's).
    pub async fn missing_messages(&self, stats: &DriveStats) -> Vec<(String, String)> {
        let accepted = stats.accepted.lock().unwrap().clone();
        let mut missing = Vec::new();
        for (id, _) in &self.sessions {
            let history = session_history(&self.api, id, 500).await;
            let said: std::collections::HashSet<&str> = history
                .iter()
                .filter(|e| e["type"] == "user_message")
                .filter_map(|e| e["text"].as_str())
                .collect();
            missing.extend(
                accepted
                    .iter()
                    .filter(|(sid, text)| sid == id && !said.contains(text.as_str()))
                    .cloned(),
            );
        }
        missing
    }

    /// Checks that every session's events are identical on its node, on main and in every browser,
    /// contiguous from 1, and that it ended `idle` on both main and node. Returns the events checked.
    pub async fn check(&self, seed: u64) -> usize {
        let main_view = self.main_sessions().await;
        let mut checked = 0;
        for (id, n) in &self.sessions {
            let (on_node, node_status) = node_session(&self.nodes[*n].config.database.path, id);
            let on_main = session_history(&self.api, id, 500).await;
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
            for b in &self.browsers {
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
        checked
    }
}

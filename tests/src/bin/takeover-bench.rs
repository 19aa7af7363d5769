//! Benchmark of a fleet's reconnect after main dies, printed as one table: the time from `kill -9` of the
//! active main until all simulated nodes are online again, on PostgreSQL (two mains on one database: the
//! standby takes over) against a baseline measured in the same run (one main on sled, killed and started
//! again on the same ports and state directory). The target: 1,000 nodes back after a takeover
//! within 15 s.
//!
//! * Baseline, sled: one main (this binary as `helper-main`, main's library, in its own process); the nodes
//!   enrol with a config register token; once all are online and settled, main is `kill -9`ed and at once
//!   started again on the same HTTP and SSH ports with the same state.
//! * PostgreSQL: a throwaway cluster ([`vibebridge_tests::pg::PgCluster`]), main A and main B each its own
//!   `test-main` process with `database.url` set and a shared secrets key file; A is started first and
//!   waited active, then B (a standby). The nodes dial A (`node.main_addr`) and then B (`node.main_addrs`),
//!   pinned to A's host key (B shares it through the database). Once all are online on A and settled, A is
//!   `kill -9`ed; measured: until B's `/health` says `active`, and until its `nodes_online` is all of them.
//! * Nodes: all in one helper process (this binary as `helper-nodes`), simulated like tunnel-bench's: each a
//!   real SSH connection with its own ed25519 key (enrolled by token), the control stream, hello and 15 s
//!   heartbeats (production tunnel settings), and the agent's reconnect loop (`agent/src/link.rs`): the
//!   product's default backoff (`reconnect.min` 1 s, `max` 60 s, full jitter in the upper half, reset by a
//!   link that lived `stable_after`, 60 s), the next main address on every attempt.
//! * Everything is timed by polling `/health` (no login; `role`, `epoch`, `nodes_online`) every 50 ms.
//!
//! A node's backoff only grows with failed dials; when no dial failed while the fleet connected, every node
//! is at its first delay, as in a fleet connected for long, and main is killed after a short settle. When
//! some failed, main is killed only after `stable_after` (plus a second) so every link has reset its backoff.
//!
//! Run: `cargo build --release -p vibebridge-tests --bins && ./target/release/takeover-bench` (the build makes
//! `test-main`, which this binary starts from its own directory). Needs Debian's `postgresql` (or
//! `VB_PG_BIN`).
//! Env: `VB_BENCH_NODES` (1000), `VB_BENCH_STABLE_AFTER` (seconds a link must live to reset its backoff,
//! the agent's default 60), `VB_BENCH_MAX_UNAUTHENTICATED` (the mains' `ssh.max_unauthenticated`, main's
//! default 256: connections beyond it that have not finished authenticating are closed at once, so a burst
//! of 1,000 dials takes several backoff rounds), `VB_BENCH_SKIP` (comma list of `sled`, `postgres`).
//!
//! The helper processes are this binary run as `takeover-bench helper-main|helper-nodes …`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use vibebridge_tests::TempDir;
use vibebridge_tests::bench::{env_or, simulated_link};
use vibebridge_tests::fault_fx::MainProcess;
use vibebridge_tests::pg::PgCluster;
use vibebridge_tunnel::TunnelConfig;
use vibebridge_tunnel::backoff::Backoff;
use vibebridge_tunnel::client::{self, Dial, HostKeyPolicy};
use vibebridge_tunnel::config::Secret;

/// Register token every simulated node enrols with (a config token: reusable).
const FLEET_TOKEN: &str = "vb-takeover-bench-fleet-token-0123456789";
/// How often `/health` is polled.
const POLL: Duration = Duration::from_millis(50);
/// How long any one wait may take before the run gives up on it.
const LIMIT: Duration = Duration::from_secs(300);
/// The wait before a kill when no dial failed while the fleet connected (heartbeats flowing, nothing else).
const SETTLE: Duration = Duration::from_secs(3);
/// The target for the takeover row.
const TARGET: Duration = Duration::from_secs(15);

fn skipped(what: &str) -> bool {
    std::env::var("VB_BENCH_SKIP")
        .unwrap_or_default()
        .split(',')
        .any(|s| s.trim() == what)
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64()))
}

// ---------------------------------------------------------------------------------------------------------
// Mains

/// A main's config: its state in `state`, the fleet's register token, production tunnel settings; on
/// PostgreSQL with `url`, sharing the secrets key `key_file`.
fn main_config(
    state: &Path,
    url: Option<&str>,
    key_file: Option<PathBuf>,
) -> vibebridge_main::MainConfig {
    let mut c = vibebridge_main::MainConfig::default();
    c.database.path = state.to_path_buf();
    c.database.url = url.map(Secret::new);
    c.secrets.key_file = key_file;
    c.main.node_register_tokens = vec![Secret::new(FLEET_TOKEN)];
    c.tunnel = TunnelConfig::default();
    c.ssh.max_unauthenticated = max_unauthenticated();
    c
}

/// Main's `ssh.max_unauthenticated`: `VB_BENCH_MAX_UNAUTHENTICATED`, else the product's default.
fn max_unauthenticated() -> usize {
    env_or(
        "VB_BENCH_MAX_UNAUTHENTICATED",
        vibebridge_main::MainConfig::default()
            .ssh
            .max_unauthenticated,
    )
}

/// Binds `addr`, retrying for a while (a port just freed by a killed main).
async fn bind_retry(addr: &str) -> TcpListener {
    let mut tries = 0;
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) => {
                tries += 1;
                assert!(tries < 250, "binding {addr}: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// `helper-main CONFIG.toml HTTP_ADDR SSH_ADDR`: main with that config on those addresses (`127.0.0.1:0` for
/// any port), like `test-main` but able to come back on the ports it had. Prints `ready HTTP SSH FINGERPRINT`.
async fn helper_main(path: String, http: String, ssh: String) {
    let text = std::fs::read_to_string(&path).unwrap();
    let config: vibebridge_main::MainConfig =
        vibebridge_tunnel::config::parse_toml(&text, &path).unwrap();
    let http = bind_retry(&http).await;
    let ssh = bind_retry(&ssh).await;
    let main = vibebridge_main::Main::open(config).unwrap();
    println!(
        "ready {} {} {}",
        http.local_addr().unwrap(),
        ssh.local_addr().unwrap(),
        main.host_key_fingerprint()
    );
    if let Err(e) = main
        .serve(
            vibebridge_main::Listeners { http, ssh },
            CancellationToken::new(),
        )
        .await
    {
        eprintln!("helper-main: {e:#}");
        std::process::exit(1);
    }
}

/// The sled main: this binary as `helper-main`; killed when dropped.
struct SledMain {
    child: Child,
    http: SocketAddr,
    ssh: SocketAddr,
    fingerprint: String,
}

impl SledMain {
    async fn start(config: &Path, http: &str, ssh: &str) -> SledMain {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("helper-main")
            .arg(config)
            .args([http, ssh])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("helper-main did not say it was ready")
            .unwrap()
            .expect("helper-main ended");
        // Keeps reading, so main never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let w: Vec<&str> = line.split_whitespace().collect();
        assert!(
            w.len() == 4 && w[0] == "ready",
            "helper-main printed {line:?}"
        );
        SledMain {
            child,
            http: w[1].parse().unwrap(),
            ssh: w[2].parse().unwrap(),
            fingerprint: w[3].to_string(),
        }
    }

    async fn kill9(mut self) {
        let _ = self.child.kill().await;
    }
}

/// What a main's `/health` says: role, epoch, nodes online.
struct Health {
    role: String,
    epoch: u64,
    online: usize,
}

/// Polls `/health` of mains.
struct Poller {
    client: reqwest::Client,
}

impl Poller {
    fn new() -> Poller {
        Poller {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap(),
        }
    }

    async fn health(&self, http: SocketAddr) -> Option<Health> {
        let resp = self
            .client
            .get(format!("http://{http}/health"))
            .send()
            .await
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let v: serde_json::Value = resp.json().await.ok()?;
        Some(Health {
            role: v["role"].as_str().unwrap_or("").to_string(),
            epoch: v["epoch"].as_u64().unwrap_or(0),
            online: v["nodes_online"].as_u64().unwrap_or(0) as usize,
        })
    }

    /// Polls `http` every [`POLL`] until `done` holds for its health (within [`LIMIT`]): the time since
    /// `since`, or `None` with the last health seen (nodes online) when it never did.
    async fn until(
        &self,
        http: SocketAddr,
        since: Instant,
        done: impl Fn(&Health) -> bool,
    ) -> Result<Duration, usize> {
        let mut last = 0;
        loop {
            if let Some(h) = self.health(http).await {
                if done(&h) {
                    return Ok(since.elapsed());
                }
                last = h.online;
            }
            if since.elapsed() > LIMIT {
                return Err(last);
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The simulated fleet

/// Dial outcomes the fleet counts, printed by `helper-nodes` as `stats OK FAILED AUTH B1 B2 B3 B4`: links made,
/// dials failed (refused, closed by a standby, timed out), dials refused for credentials, and links made at
/// the 1st, 2nd, 3rd, 4th-or-later attempt since the node's previous link ended (or it started).
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
struct Stats {
    ok: u64,
    failed: u64,
    auth: u64,
    at_try: [u64; 4],
}

impl Stats {
    fn since(self, before: Stats) -> Stats {
        Stats {
            ok: self.ok - before.ok,
            failed: self.failed - before.failed,
            auth: self.auth - before.auth,
            at_try: std::array::from_fn(|i| self.at_try[i] - before.at_try[i]),
        }
    }
}

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    failed: AtomicU64,
    auth: AtomicU64,
    at_try: [AtomicU64; 4],
}

impl Counters {
    fn snapshot(&self) -> Stats {
        Stats {
            ok: self.ok.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            auth: self.auth.load(Ordering::Relaxed),
            at_try: std::array::from_fn(|i| self.at_try[i].load(Ordering::Relaxed)),
        }
    }
}

/// `helper-nodes COUNT FINGERPRINT STABLE_AFTER_MS ADDR…`: `COUNT` simulated nodes dialling the mains at
/// `ADDR…` in turn, pinned to `FINGERPRINT`. Prints `stats …` (see [`Stats`]) whenever the counts change.
async fn helper_nodes(
    count: usize,
    fingerprint: String,
    stable_after: Duration,
    mains: Vec<String>,
) {
    let reconnect = vibebridge_agent::config::ReconnectConfig::default();
    let counters = Arc::new(Counters::default());
    let mains = Arc::new(mains);
    for i in 0..count {
        let key = russh::keys::PrivateKey::random(
            &mut vibebridge_tunnel::keys::rng(),
            russh::keys::Algorithm::Ed25519,
        )
        .unwrap();
        let mut dial = Dial {
            addr: mains[0].clone(),
            node_id: format!("sim-{i:05}"),
            key: Arc::new(key),
            register_token: Some(FLEET_TOKEN.into()),
            host_key: HostKeyPolicy::Pinned(fingerprint.clone()),
            tunnel: TunnelConfig::default(),
        };
        let r = reconnect.clone();
        let (counters, mains) = (counters.clone(), mains.clone());
        // The agent's reconnect loop (agent/src/link.rs) without its status and services.
        tokio::spawn(async move {
            let mut backoff = Backoff::new(r.min, r.max);
            let mut auth_backoff = Backoff::new(r.auth_failure_min, r.auth_failure_max);
            let mut turn = 0usize;
            let mut tries = 0usize;
            loop {
                dial.addr = mains[turn % mains.len()].clone();
                tries += 1;
                let delay = match client::connect(&dial).await {
                    Ok(conn) => {
                        counters.ok.fetch_add(1, Ordering::Relaxed);
                        counters.at_try[tries.min(4) - 1].fetch_add(1, Ordering::Relaxed);
                        tries = 0;
                        auth_backoff.reset();
                        let started = Instant::now();
                        simulated_link(conn, &dial).await;
                        if started.elapsed() >= stable_after {
                            backoff.reset();
                        }
                        backoff.next_delay()
                    }
                    Err(e) if e.is_auth() => {
                        counters.auth.fetch_add(1, Ordering::Relaxed);
                        auth_backoff.next_delay()
                    }
                    Err(_) => {
                        counters.failed.fetch_add(1, Ordering::Relaxed);
                        backoff.next_delay()
                    }
                };
                turn = turn.wrapping_add(1);
                tokio::time::sleep(delay).await;
            }
        });
    }
    let mut last = None;
    loop {
        let s = counters.snapshot();
        if last != Some(s) {
            println!(
                "stats {} {} {} {} {} {} {}",
                s.ok, s.failed, s.auth, s.at_try[0], s.at_try[1], s.at_try[2], s.at_try[3]
            );
            last = Some(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `helper-nodes` process; killed when dropped.
struct Fleet {
    _child: Child,
    stats: watch::Receiver<Stats>,
}

impl Fleet {
    async fn start(
        count: usize,
        fingerprint: &str,
        stable_after: Duration,
        mains: &[String],
    ) -> Fleet {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("helper-nodes")
            .arg(count.to_string())
            .arg(fingerprint)
            .arg(stable_after.as_millis().to_string())
            .args(mains)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, stats) = watch::channel(Stats::default());
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let n: Vec<u64> = line
                    .strip_prefix("stats ")
                    .unwrap_or("")
                    .split_whitespace()
                    .filter_map(|w| w.parse().ok())
                    .collect();
                if let [ok, failed, auth, a, b, c, d] = n[..] {
                    tx.send_replace(Stats {
                        ok,
                        failed,
                        auth,
                        at_try: [a, b, c, d],
                    });
                }
            }
        });
        Fleet {
            _child: child,
            stats,
        }
    }

    /// The counts now (they are printed every 100 ms; waits a little so the latest are in).
    async fn stats(&self) -> Stats {
        tokio::time::sleep(Duration::from_millis(250)).await;
        *self.stats.borrow()
    }

    /// Before a kill: a short settle when no dial failed (every backoff at its first delay), else
    /// `stable_after` and a second, so every link lived long enough to reset its backoff. What was waited.
    async fn settle(&self, stable_after: Duration) -> Duration {
        let s = self.stats().await;
        let wait = if s.failed == 0 && s.auth == 0 {
            SETTLE
        } else {
            stable_after + Duration::from_secs(1)
        };
        eprintln!(
            "  {} dials failed while connecting; waiting {:.0} s before the kill ...",
            s.failed + s.auth,
            wait.as_secs_f64()
        );
        tokio::time::sleep(wait).await;
        wait
    }
}

// ---------------------------------------------------------------------------------------------------------
// The two runs

/// What one run measured.
#[derive(Default)]
struct Run {
    /// Fleet start to all nodes online.
    first: Option<Duration>,
    /// `kill -9` to a main serving again (sled: restarted and answering; PostgreSQL: the standby active).
    serving: Option<Duration>,
    /// `kill -9` to all nodes online again.
    back: Option<Duration>,
    /// Dials during the first connect and after the kill.
    connect_stats: Stats,
    kill_stats: Stats,
    settled: Duration,
    notes: Vec<String>,
}

async fn sled_run(nodes: usize, stable_after: Duration) -> Run {
    let dir = TempDir::new("takeover-sled");
    let poller = Poller::new();
    let mut out = Run::default();
    let config = dir.path().join("main.toml");
    std::fs::write(
        &config,
        toml::to_string(&main_config(&dir.path().join("main"), None, None)).unwrap(),
    )
    .unwrap();
    let main = SledMain::start(&config, "127.0.0.1:0", "127.0.0.1:0").await;
    let (http, ssh) = (main.http, main.ssh);

    eprintln!("sled: {nodes} nodes first connect ...");
    let started = Instant::now();
    let fleet = Fleet::start(nodes, &main.fingerprint, stable_after, &[ssh.to_string()]).await;
    match poller.until(http, started, |h| h.online >= nodes).await {
        Ok(d) => out.first = Some(d),
        Err(n) => {
            out.notes.push(format!(
                "sled: only {n} of {nodes} nodes came online within {} s",
                LIMIT.as_secs()
            ));
            return out;
        }
    }
    out.connect_stats = fleet.stats().await;
    out.settled = fleet.settle(stable_after).await;

    eprintln!("sled: kill -9 and restart on the same ports ...");
    let before = fleet.stats().await;
    let killed = Instant::now();
    main.kill9().await;
    let _main = SledMain::start(&config, &http.to_string(), &ssh.to_string()).await;
    out.serving = poller
        .until(http, killed, |h| h.role == "active")
        .await
        .ok();
    match poller.until(http, killed, |h| h.online >= nodes).await {
        Ok(d) => out.back = Some(d),
        Err(n) => out.notes.push(format!(
            "sled: only {n} of {nodes} nodes were back within {} s of the restart",
            LIMIT.as_secs()
        )),
    }
    out.kill_stats = fleet.stats().await.since(before);
    out
}

async fn postgres_run(nodes: usize, stable_after: Duration, test_main: &str) -> Run {
    let dir = TempDir::new("takeover-pg");
    let poller = Poller::new();
    let mut out = Run::default();
    let pg = match tokio::task::spawn_blocking(PgCluster::start).await.unwrap() {
        Ok(pg) => pg,
        Err(e) => {
            out.notes.push(format!("PostgreSQL: no cluster: {e:#}"));
            return out;
        }
    };
    let url = pg.url();
    let key = dir.path().join("shared-secrets.key");
    // A first, alone: it creates the shared secrets key, the schema and the host key.
    let a_config = main_config(&dir.path().join("a"), Some(&url), Some(key.clone()));
    let a = MainProcess::start(test_main, &a_config, 0).await;
    a.wait_active().await;
    let b_config = main_config(&dir.path().join("b"), Some(&url), Some(key));
    let b = MainProcess::start(test_main, &b_config, 0).await;
    match poller.health(b.http).await {
        Some(h) if h.role == "standby" => {}
        Some(h) => out.notes.push(format!(
            "PostgreSQL: main B started as {:?}, not standby",
            h.role
        )),
        None => out
            .notes
            .push("PostgreSQL: main B's /health did not answer".into()),
    }
    if a.fingerprint != b.fingerprint {
        out.notes.push(format!(
            "PostgreSQL: the mains' host keys differ ({} and {})",
            a.fingerprint, b.fingerprint
        ));
    }

    eprintln!("PostgreSQL: {nodes} nodes first connect (to main A) ...");
    let started = Instant::now();
    let fleet = Fleet::start(
        nodes,
        &a.fingerprint,
        stable_after,
        &[a.ssh.to_string(), b.ssh.to_string()],
    )
    .await;
    match poller.until(a.http, started, |h| h.online >= nodes).await {
        Ok(d) => out.first = Some(d),
        Err(n) => {
            out.notes.push(format!(
                "PostgreSQL: only {n} of {nodes} nodes came online on A within {} s",
                LIMIT.as_secs()
            ));
            return out;
        }
    }
    out.connect_stats = fleet.stats().await;
    out.settled = fleet.settle(stable_after).await;
    let epoch = poller.health(a.http).await.map_or(0, |h| h.epoch);

    eprintln!("PostgreSQL: kill -9 of main A, B takes over ...");
    let before = fleet.stats().await;
    let killed = Instant::now();
    a.kill9().await;
    out.serving = poller
        .until(b.http, killed, |h| h.role == "active" && h.epoch > epoch)
        .await
        .ok();
    if out.serving.is_none() {
        out.notes.push(format!(
            "PostgreSQL: B did not take over within {} s",
            LIMIT.as_secs()
        ));
    }
    match poller.until(b.http, killed, |h| h.online >= nodes).await {
        Ok(d) => out.back = Some(d),
        Err(n) => out.notes.push(format!(
            "PostgreSQL: only {n} of {nodes} nodes were back on B within {} s",
            LIMIT.as_secs()
        )),
    }
    out.kill_stats = fleet.stats().await.since(before);
    drop(fleet);
    drop(b);
    drop(pg);
    out
}

// ---------------------------------------------------------------------------------------------------------
// The table

fn print_table(rows: &[[String; 4]]) {
    let mut w = [0usize; 4];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |r: &[String; 4]| {
        let pad = |i: usize| " ".repeat(w[i] - r[i].chars().count());
        println!(
            "| {}{} | {}{} | {}{} | {}{} |",
            r[0],
            pad(0),
            pad(1),
            r[1],
            pad(2),
            r[2],
            r[3],
            pad(3)
        );
    };
    line(&rows[0]);
    let cells: Vec<String> = w.iter().map(|w| "-".repeat(w + 2)).collect();
    println!("|{}|", cells.join("|"));
    for r in &rows[1..] {
        line(r);
    }
}

fn dials(s: &Stats) -> String {
    format!(
        "{} links made (at the 1st/2nd/3rd/4th+ attempt: {}/{}/{}/{}), {} dials failed, {} refused for credentials",
        s.ok, s.at_try[0], s.at_try[1], s.at_try[2], s.at_try[3], s.failed, s.auth
    )
}

/// The soft limit on open files (`/proc/self/limits`), if it can be read.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Re-runs this benchmark under `ulimit -n` when the open-file limit is too low for `nodes` connections
/// in one process (children inherit it; `test-main` cannot raise its own).
fn raise_open_files(nodes: usize) {
    let need = nodes as u64 + 1024;
    if std::env::var_os("VB_TAKEOVER_ULIMIT").is_some()
        || open_files_limit().is_none_or(|n| n >= need)
    {
        return;
    }
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {need} 2>/dev/null; exec \"$@\""))
        .arg("sh")
        .arg(std::env::current_exe().unwrap())
        .env("VB_TAKEOVER_ULIMIT", "1")
        .exec();
    eprintln!("cannot raise the open-file limit ({err}); going on");
}

async fn run_bench(nodes: usize, stable_after: Duration) {
    let test_main = std::env::current_exe().unwrap().with_file_name("test-main");
    if !skipped("postgres") && !test_main.exists() {
        eprintln!(
            "{} is missing: build it with `cargo build --release -p vibebridge-tests --bins`",
            test_main.display()
        );
        std::process::exit(2);
    }
    let sled = if skipped("sled") {
        None
    } else {
        Some(sled_run(nodes, stable_after).await)
    };
    let pg = if skipped("postgres") {
        None
    } else {
        Some(postgres_run(nodes, stable_after, &test_main.to_string_lossy()).await)
    };

    let cell = |r: &Option<Run>, f: fn(&Run) -> Option<Duration>| {
        r.as_ref().map_or("skipped".into(), |r| secs(f(r)))
    };
    let takeover = pg.as_ref().and_then(|r| r.back);
    let verdict = match takeover {
        Some(d) if d <= TARGET => "PASS",
        _ => "FAIL",
    };
    println!();
    println!(
        "VibeBridge takeover benchmark: {nodes} simulated nodes, loopback, {} cores; timed by polling /health every {} ms.",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        POLL.as_millis()
    );
    let rows = [
        [
            "metric".to_string(),
            "sled (baseline)".into(),
            "PostgreSQL".into(),
            "target".into(),
        ],
        [
            format!("all {nodes} nodes online at first start (enrol, hello)"),
            cell(&sled, |r| r.first),
            cell(&pg, |r| r.first),
            "-".into(),
        ],
        [
            "main serving after kill -9 (sled: restarted; PostgreSQL: standby active)".into(),
            cell(&sled, |r| r.serving),
            cell(&pg, |r| r.serving),
            "-".into(),
        ],
        [
            format!("all {nodes} nodes back after kill -9 (sled: restart; PostgreSQL: takeover)"),
            cell(&sled, |r| r.back),
            cell(&pg, |r| r.back),
            format!("<= {} s  {verdict}", TARGET.as_secs()),
        ],
    ];
    print_table(&rows);
    println!();
    println!(
        "{verdict}: {nodes}-node reconnect after a takeover {} (target <= {} s).",
        secs(takeover),
        TARGET.as_secs()
    );
    let r = vibebridge_agent::config::ReconnectConfig::default();
    println!(
        "Nodes: real SSH + ed25519 key auth (enrolled by token), hello, 15 s heartbeats, production tunnel settings, in one"
    );
    println!(
        "  process; the agent's reconnect loop with its default backoff: reconnect.min {} s, max {} s, jitter in the upper",
        r.min.as_secs(),
        r.max.as_secs()
    );
    println!(
        "  half, reset by a link that lived {} s (agent default {} s); each attempt goes to the next main address.",
        stable_after.as_secs(),
        r.stable_after.as_secs()
    );
    println!(
        "Mains: production tunnel settings, ssh.max_unauthenticated {} (main's default {}): a dial beyond it is closed at once",
        max_unauthenticated(),
        vibebridge_main::MainConfig::default()
            .ssh
            .max_unauthenticated
    );
    println!("  and retried after the backoff, like a dial to a standby or a dead main.");
    println!(
        "sled: one main (this binary's helper-main), kill -9, started again at once on the same ports and state."
    );
    println!(
        "PostgreSQL: mains A and B (test-main processes) on one throwaway cluster, default lease; nodes dial A, then B, in"
    );
    println!(
        "  turn (at first start B is a standby: a node A turned away fails at B too before it tries A again)."
    );
    for (name, run) in [("sled", &sled), ("PostgreSQL", &pg)] {
        let Some(run) = run else { continue };
        println!(
            "{name}, first connect: {}; waited {:.0} s before the kill.",
            dials(&run.connect_stats),
            run.settled.as_secs_f64()
        );
        println!("{name}, after the kill: {}.", dials(&run.kill_stats));
        for n in &run.notes {
            println!("note: {n}");
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let nodes = env_or::<usize>("VB_BENCH_NODES", 1000);
    if args.is_empty() {
        raise_open_files(nodes);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    match args.first().map(String::as_str) {
        None => {
            let default = vibebridge_agent::config::ReconnectConfig::default().stable_after;
            let stable_after =
                Duration::from_secs(env_or("VB_BENCH_STABLE_AFTER", default.as_secs()));
            rt.block_on(run_bench(nodes, stable_after));
        }
        Some("helper-main") => rt.block_on(helper_main(arg(1), arg(2), arg(3))),
        Some("helper-nodes") => rt.block_on(helper_nodes(
            arg(1).parse().unwrap(),
            arg(2),
            Duration::from_millis(arg(3).parse().unwrap()),
            args[4..].to_vec(),
        )),
        Some(other) => {
            eprintln!(
                "usage: takeover-bench   (helpers: helper-main, helper-nodes; got {other:?})"
            );
            std::process::exit(2);
        }
    }
}

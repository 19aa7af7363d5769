//! Loopback benchmark of the VibeBridge tunnel, printed as one table with ratios against a baseline
//! measured in the same run and the targets of the tunnel issue:
//!
//! * echo throughput through main → node `Open::Echo` streams (1 and 64 streams) against a raw TCP echo,
//!   and one stream against OpenSSH (`ssh -c aes128-gcm@openssh.com host cat`, through a private sshd
//!   that `scripts/bench-openssh.sh` starts; skipped with the reason when sshd cannot run);
//! * 64-byte round trip and open + first byte, p50/p99, raw TCP and tunnel measured in alternating rounds
//!   so background load hits both alike; the round trip again on a one-thread runtime (diagnostic: the
//!   tunnel's own work without cross-thread wake-ups) and both latencies with each end in its own process;
//! * RSS of an idle main (one node) and of an idle agent (the real `vibebridge-agent` binary, built by
//!   cargo if needed), each in its own process;
//! * main's RSS with 1,000 simulated nodes connected (real SSH, key auth, hello and heartbeats, all in one
//!   helper process) and the time for all of them to be back after main is killed and restarted.
//!
//! Run: `cargo run --release -p vibebridge-tests --bin tunnel-bench`.
//! Env: `VB_BENCH_MB` (single stream MiB, 256), `VB_BENCH_STREAM_MB` (per stream of the multi-stream run,
//! 4), `VB_BENCH_STREAMS` (64), `VB_BENCH_RTT_ITERS` (2000), `VB_BENCH_OPEN_ITERS` (2000),
//! `VB_BENCH_NODES` (1000), `VB_BENCH_SKIP` (comma list of `openssh`, `fleet`).
//!
//! The helper processes are this binary run as `tunnel-bench helper-main|helper-agent|helper-nodes|helper-echo …`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use vibebridge_tests::bench::{env_or, percentiles, rss_bytes, simulated_link};
use vibebridge_tests::{TempDir, TestMain, TestNode};
use vibebridge_tunnel::TunnelConfig;
use vibebridge_tunnel::backoff::Backoff;
use vibebridge_tunnel::client::{self, Dial, HostKeyPolicy};
use vibebridge_tunnel::config::Secret;
use vibebridge_tunnel::protocol::Open;

const MIB: u64 = 1024 * 1024;
const CHUNK: usize = 256 * 1024;
const NODE: &str = "bench";
/// Register token main's helper accepts from every simulated node (a config token: reusable).
const FLEET_TOKEN: &str = "vb-bench-fleet-token-0123456789";
/// How long an idle process is left alone before its RSS is read (a few keepalive rounds of the runtime).
const SETTLE: Duration = Duration::from_secs(3);

fn skipped(what: &str) -> bool {
    std::env::var("VB_BENCH_SKIP")
        .unwrap_or_default()
        .split(',')
        .any(|s| s.trim() == what)
}

// ---------------------------------------------------------------------------------------------------------
// Echo throughput, round trips, open + first byte

/// A TCP echo server on 127.0.0.1:0 with the node echo's 64 KiB buffer.
async fn raw_echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                sock.set_nodelay(true).ok();
                let (mut rd, mut wr) = sock.into_split();
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = rd.read(&mut buf).await {
                    if wr.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = wr.shutdown().await;
            });
        }
    });
    addr
}

/// Sends `len` bytes through an echo stream and reads them all back; returns bytes echoed.
async fn echo_through<S>(stream: S, len: u64) -> u64
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let writer = tokio::spawn(async move {
        let buf = vec![0x5au8; CHUNK];
        let mut left = len;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            wr.write_all(&buf[..n]).await.unwrap();
            left -= n as u64;
        }
        wr.shutdown().await.unwrap();
    });
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0u64;
    loop {
        let n = rd.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    writer.await.unwrap();
    assert_eq!(got, len, "echo lost bytes");
    got
}

/// Echo throughput in MB/s (payload bytes one way / wall time, 10^6 bytes per MB).
async fn throughput<S, F, Fut>(open: F, streams: u64, per_stream: u64) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = S> + Send,
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..streams)
        .map(|_| {
            let open = open.clone();
            tokio::spawn(async move { echo_through(open().await, per_stream).await })
        })
        .collect();
    let mut total = 0u64;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// `iters` times: 64-byte write + echoed read, timed one by one into `samples`.
async fn round_trips<S>(s: &mut S, iters: u64, samples: &mut Vec<Duration>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let out = [0xa5u8; 64];
    let mut back = [0u8; 64];
    for _ in 0..iters {
        let t = Instant::now();
        s.write_all(&out).await.unwrap();
        s.flush().await.unwrap();
        s.read_exact(&mut back).await.unwrap();
        samples.push(t.elapsed());
    }
}

/// `iters` times: open a stream, write one byte, read its echo; timed one by one into `samples`.
async fn open_first_bytes<S, F, Fut>(open: &F, iters: u64, samples: &mut Vec<Duration>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    S: AsyncRead + AsyncWrite + Unpin,
{
    for _ in 0..iters {
        let t = Instant::now();
        let mut s = open().await;
        s.write_all(&[7]).await.unwrap();
        s.flush().await.unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        samples.push(t.elapsed());
        let _ = s.shutdown().await;
    }
}

/// Rounds of the latency loops, alternating raw and tunnel so drifting background load hits both alike.
const ROUNDS: u64 = 10;

/// 64 B round trips on one raw and one tunnel stream: (raw p50/p99, tunnel p50/p99).
async fn compare_round_trips<R, T>(mut raw: R, mut tun: T, iters: u64) -> [(Duration, Duration); 2]
where
    R: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut warm = Vec::new();
    round_trips(&mut raw, 100, &mut warm).await;
    round_trips(&mut tun, 100, &mut warm).await;
    let (mut r, mut t) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        round_trips(&mut raw, iters / ROUNDS, &mut r).await;
        round_trips(&mut tun, iters / ROUNDS, &mut t).await;
    }
    [percentiles(r), percentiles(t)]
}

/// Open + first byte for raw TCP and the tunnel: (raw p50/p99, tunnel p50/p99).
async fn compare_opens<R, RF, RS, T, TF, TS>(
    raw: RF,
    tun: TF,
    iters: u64,
) -> [(Duration, Duration); 2]
where
    RF: Fn() -> R,
    R: Future<Output = RS>,
    RS: AsyncRead + AsyncWrite + Unpin,
    TF: Fn() -> T,
    T: Future<Output = TS>,
    TS: AsyncRead + AsyncWrite + Unpin,
{
    let mut warm = Vec::new();
    open_first_bytes(&raw, 20, &mut warm).await;
    open_first_bytes(&tun, 20, &mut warm).await;
    let (mut r, mut t) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        open_first_bytes(&raw, iters / ROUNDS, &mut r).await;
        open_first_bytes(&tun, iters / ROUNDS, &mut t).await;
    }
    [percentiles(r), percentiles(t)]
}

/// Main and a node in one process on the current runtime, with production tunnel settings: what `f`
/// returns given the raw TCP echo address and main's registry.
async fn with_link<F, Fut, T>(f: F) -> T
where
    F: FnOnce(SocketAddr, vibebridge_main::NodeRegistry) -> Fut,
    Fut: Future<Output = T>,
{
    let dir = TempDir::new("bench");
    let main = TestMain::start_with(dir.path(), None, |c| c.tunnel = TunnelConfig::default()).await;
    let mut cfg = TestNode::enrolling(dir.path(), NODE, &main, main.ssh);
    cfg.tunnel = TunnelConfig::default();
    let node = TestNode::start(cfg);
    main.wait_online(NODE).await;
    let out = f(raw_echo_server().await, main.state.registry.clone()).await;
    node.stop().await;
    main.stop().await;
    out
}

/// The 64 B round trips again with main, node and both echo ends on one current-thread runtime: what the
/// tunnel's own work costs without cross-thread wake-ups (a diagnostic row, not a target).
fn round_trips_single_thread(iters: u64) -> [(Duration, Duration); 2] {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(with_link(|echo, registry| async move {
            let raw = TcpStream::connect(echo).await.unwrap();
            raw.set_nodelay(true).unwrap();
            let tun = registry.open(NODE, &Open::Echo).await.unwrap();
            compare_round_trips(raw, tun, iters).await
        }))
    })
    .join()
    .unwrap()
}

// ---------------------------------------------------------------------------------------------------------
// OpenSSH

/// `ssh host cat` echo MB/s through a private sshd, or why it could not be measured.
async fn openssh_echo(bytes: u64) -> Result<f64, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/bench-openssh.sh");
    // A port the kernel just handed out; sshd cannot report one it picked itself.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        l.local_addr().map_err(|e| e.to_string())?.port()
    };
    let out = Command::new("bash")
        .arg(&script)
        .arg(bytes.to_string())
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("").trim().to_string();
    if let Some(reason) = last.strip_prefix("skip: ") {
        return Err(reason.to_string());
    }
    let mbps = last
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == "echo_mbps")
        .and_then(|w| w[1].parse::<f64>().ok());
    mbps.ok_or_else(|| format!("unexpected output from {}: {last:?}", script.display()))
}

// ---------------------------------------------------------------------------------------------------------
// Helper processes: main, one real agent, a fleet of simulated nodes

/// A helper process of this binary; killed when dropped.
struct Helper {
    child: Child,
    pid: u32,
    /// Nodes online on a main helper, as it reports them.
    online: watch::Receiver<usize>,
    /// `ready` line fields of a main helper: SSH address and host key fingerprint.
    ready: Option<(String, String)>,
}

impl Helper {
    /// Starts `tunnel-bench <args>` with a file-descriptor limit fit for 1,000 connections.
    async fn spawn(args: &[String]) -> Helper {
        Self::spawn_exe(&std::env::current_exe().unwrap(), args).await
    }

    /// Starts `exe <args>`; for `helper-main` and `helper-echo`, waits for their `ready` line.
    async fn spawn_exe(exe: &Path, args: &[String]) -> Helper {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("ulimit -n 8192 2>/dev/null; exec \"$@\"")
            .arg("sh")
            .arg(exe)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (online_tx, online) = watch::channel(0usize);
        let (ready_tx, mut ready_rx) = watch::channel(None::<(String, String)>);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut words = line.split_whitespace();
                match words.next() {
                    Some("online") => {
                        if let Some(n) = words.next().and_then(|n| n.parse().ok()) {
                            online_tx.send_replace(n);
                        }
                    }
                    Some("ready") => {
                        let (a, f) = (words.next(), words.next());
                        ready_tx.send_replace(a.zip(f).map(|(a, f)| (a.into(), f.into())));
                    }
                    _ => {}
                }
            }
        });
        let waits = matches!(
            args.first().map(String::as_str),
            Some("helper-main" | "helper-echo")
        );
        let ready = if waits {
            tokio::time::timeout(Duration::from_secs(60), ready_rx.wait_for(Option::is_some))
                .await
                .expect("main helper did not start")
                .expect("main helper exited")
                .clone()
        } else {
            None
        };
        Helper {
            child,
            pid,
            online,
            ready,
        }
    }

    /// Waits until the main helper reports `n` nodes online (or `limit` passes); the count reached.
    async fn wait_online(&mut self, n: usize, limit: Duration) -> usize {
        let _ = tokio::time::timeout(limit, self.online.wait_for(|c| *c == n)).await;
        *self.online.borrow()
    }

    fn rss(&self) -> Option<u64> {
        rss_bytes(self.pid)
    }

    /// SIGKILL (a crash, or the hard end of a restart) and reap.
    async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `helper-main DIR SSH_ADDR`: main with the fleet token, on `SSH_ADDR` (`127.0.0.1:0` for any port).
/// Prints `ready ADDR FINGERPRINT`, then `online N` whenever the number of connected nodes changes.
async fn helper_main(dir: PathBuf, ssh: String) {
    let mut config = vibebridge_main::MainConfig::default();
    config.database.path = dir;
    config.main.node_register_tokens = vec![Secret::new(FLEET_TOKEN)];
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ssh = TcpListener::bind(ssh).await.unwrap();
    let ssh_addr = ssh.local_addr().unwrap();
    let main = vibebridge_main::Main::open(config).unwrap();
    main.set_ssh_public_addr(ssh_addr.to_string());
    let registry = main.state().registry.clone();
    let mut events = registry.subscribe();
    println!("ready {ssh_addr} {}", main.host_key_fingerprint());
    let shutdown = CancellationToken::new();
    tokio::spawn(main.serve(vibebridge_main::Listeners { http, ssh }, shutdown.clone()));
    let mut last = usize::MAX;
    loop {
        let n = registry.online();
        if n != last {
            println!("online {n}");
            last = n;
        }
        match events.recv().await {
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// The `vibebridge-agent` binary of this build profile, built by cargo when this runs under cargo.
async fn agent_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = exe.with_file_name("vibebridge-agent");
    let cargo =
        std::env::var("CARGO").map_err(|_| "not run by cargo, cannot build it".to_string())?;
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "-q",
            "-p",
            "vibebridge-agent",
            "--bin",
            "vibebridge-agent",
        ])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .stdin(Stdio::null());
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let status = build.status().await.map_err(|e| e.to_string())?;
    if !status.success() || !bin.exists() {
        return Err(format!("cargo build of vibebridge-agent failed ({status})"));
    }
    Ok(bin)
}

/// `helper-echo`: the raw TCP echo server in a process of its own; prints `ready ADDR -`.
async fn helper_echo() {
    println!("ready {} -", raw_echo_server().await);
    std::future::pending::<()>().await;
}

/// Latencies shaped like production, each end in its own process: main (this process) to the real agent
/// binary, against raw TCP from this process to an echo process. 64 B round trips and open + first byte,
/// each as (raw p50/p99, tunnel p50/p99); `Err` with why when the agent binary is not available.
async fn latencies_across_processes(
    rtt_iters: u64,
    open_iters: u64,
) -> Result<[[(Duration, Duration); 2]; 2], String> {
    let bin = agent_binary().await?;
    let echo = Helper::spawn(&["helper-echo".into()]).await;
    let echo_addr = echo.ready.clone().map(|(a, _)| a).unwrap_or_default();
    let dir = TempDir::new("bench-procs");
    let main = TestMain::start_with(dir.path(), None, |c| c.tunnel = TunnelConfig::default()).await;
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, "[server]\nport = 0\n").unwrap();
    let args: Vec<String> = [
        "run",
        "--config",
        &config.to_string_lossy(),
        "--main",
        &main.ssh.to_string(),
        "--main-host-key",
        &main.fingerprint,
        "--register-token",
        &main.token(),
        "--id",
        NODE,
        "--data",
        &dir.path().join("agent").to_string_lossy(),
    ]
    .map(String::from)
    .to_vec();
    let agent = Helper::spawn_exe(&bin, &args).await;
    main.wait_online(NODE).await;
    let raw_open = move || {
        let echo_addr = echo_addr.clone();
        async move {
            let s = TcpStream::connect(echo_addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            s
        }
    };
    let registry = main.state.registry.clone();
    let tun_open = move || {
        let registry = registry.clone();
        async move { registry.open(NODE, &Open::Echo).await.unwrap() }
    };
    // On a runtime worker (not the block_on thread), like the echo tasks.
    let out = tokio::spawn(async move {
        let rtt = compare_round_trips(raw_open().await, tun_open().await, rtt_iters).await;
        let ofb = compare_opens(raw_open, tun_open, open_iters).await;
        [rtt, ofb]
    })
    .await
    .unwrap();
    agent.kill().await;
    echo.kill().await;
    main.stop().await;
    Ok(out)
}

/// `helper-agent DIR MAIN_ADDR FINGERPRINT`: one real agent (the library behind `vibebridge-agent run`),
/// health endpoint off, everything else at its defaults. Used when the real binary cannot be built.
async fn helper_agent(dir: PathBuf, main_addr: String, fingerprint: String) {
    let mut config = vibebridge_agent::NodeConfig::default();
    config.server.port = 0;
    config.database.path = dir;
    config.node.id = Some("idle-agent".into());
    config.node.main_addr = main_addr;
    config.node.main_host_key = Some(fingerprint);
    config.node.register_token = Some(Secret::new(FLEET_TOKEN));
    vibebridge_agent::run(config, CancellationToken::new())
        .await
        .unwrap();
}

/// `helper-nodes COUNT MAIN_ADDR FINGERPRINT`: simulated nodes, each a real SSH connection with its own
/// ed25519 key (enrolling with the fleet token), the control stream, hello and heartbeats at production
/// intervals, and the agent's reconnect backoff. No session store, providers or health endpoint.
async fn helper_nodes(count: usize, main_addr: String, fingerprint: String) {
    let reconnect = vibebridge_agent::config::ReconnectConfig::default();
    for i in 0..count {
        let key = russh::keys::PrivateKey::random(
            &mut vibebridge_tunnel::keys::rng(),
            russh::keys::Algorithm::Ed25519,
        )
        .unwrap();
        let dial = Dial {
            addr: main_addr.clone(),
            node_id: format!("sim-{i:05}"),
            key: Arc::new(key),
            register_token: Some(FLEET_TOKEN.into()),
            host_key: HostKeyPolicy::Pinned(fingerprint.clone()),
            tunnel: TunnelConfig::default(),
        };
        let (min, max, stable) = (reconnect.min, reconnect.max, reconnect.stable_after);
        tokio::spawn(async move {
            let mut backoff = Backoff::new(min, max);
            loop {
                let started = Instant::now();
                if let Ok(conn) = client::connect(&dial).await {
                    simulated_link(conn, &dial).await;
                    if started.elapsed() >= stable {
                        backoff.reset();
                    }
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
        });
    }
    println!("started {count}");
    std::future::pending::<()>().await;
}

/// What the process-level part of the benchmark measured.
#[derive(Default)]
struct Fleet {
    main_idle: Option<u64>,
    agent_idle: Option<u64>,
    nodes: usize,
    first_connect: Option<Duration>,
    main_fleet: Option<u64>,
    sims_rss: Option<u64>,
    main_ready_after_kill: Option<Duration>,
    back_after_kill: Option<Duration>,
    agent_kind: String,
    notes: Vec<String>,
}

async fn fleet(nodes: usize) -> Fleet {
    let dir = TempDir::new("bench-fleet");
    let mut out = Fleet {
        nodes,
        ..Fleet::default()
    };
    let main_dir = dir.path().join("main").to_string_lossy().into_owned();
    let mut main =
        Helper::spawn(&["helper-main".into(), main_dir.clone(), "127.0.0.1:0".into()]).await;
    let (addr, fp) = main.ready.clone().unwrap();

    eprintln!("idle main + idle agent, each its own process ...");
    let agent_dir = dir.path().join("agent");
    let agent = match agent_binary().await {
        Ok(bin) => {
            out.agent_kind = format!("the real {} binary", bin.display());
            let config = dir.path().join("agent.toml");
            std::fs::write(&config, "[server]\nport = 0\n").unwrap();
            let args: Vec<String> = [
                "run",
                "--config",
                &config.to_string_lossy(),
                "--main",
                &addr,
                "--main-host-key",
                &fp,
                "--register-token",
                FLEET_TOKEN,
                "--id",
                "idle-agent",
                "--data",
                &agent_dir.to_string_lossy(),
            ]
            .map(String::from)
            .to_vec();
            Helper::spawn_exe(&bin, &args).await
        }
        Err(e) => {
            out.agent_kind = format!("the agent library in this binary ({e})");
            let args = [
                "helper-agent".to_string(),
                agent_dir.to_string_lossy().into_owned(),
                addr.clone(),
                fp.clone(),
            ];
            Helper::spawn(&args).await
        }
    };
    if main.wait_online(1, Duration::from_secs(60)).await == 1 {
        tokio::time::sleep(SETTLE).await;
        out.main_idle = main.rss();
        out.agent_idle = agent.rss();
    } else {
        out.notes.push("the idle agent never came online".into());
    }
    agent.kill().await;
    main.wait_online(0, Duration::from_secs(30)).await;

    eprintln!("{nodes} simulated nodes ...");
    let started = Instant::now();
    let sims = Helper::spawn(&[
        "helper-nodes".into(),
        nodes.to_string(),
        addr.clone(),
        fp.clone(),
    ])
    .await;
    let reached = main.wait_online(nodes, Duration::from_secs(300)).await;
    if reached < nodes {
        out.notes.push(format!(
            "only {reached} of {nodes} simulated nodes came online within 300 s"
        ));
        sims.kill().await;
        main.kill().await;
        return out;
    }
    out.first_connect = Some(started.elapsed());
    tokio::time::sleep(SETTLE).await;
    out.main_fleet = main.rss();
    out.sims_rss = sims.rss();

    eprintln!("main restart with {nodes} nodes ...");
    let killed = Instant::now();
    main.kill().await;
    let mut main = Helper::spawn(&["helper-main".into(), main_dir, addr]).await;
    out.main_ready_after_kill = Some(killed.elapsed());
    let back = main.wait_online(nodes, Duration::from_secs(300)).await;
    if back == nodes {
        out.back_after_kill = Some(killed.elapsed());
    } else {
        out.notes.push(format!(
            "only {back} of {nodes} nodes were back within 300 s of the restart"
        ));
    }
    sims.kill().await;
    main.kill().await;
    out
}

// ---------------------------------------------------------------------------------------------------------
// The table

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn mb(bytes: Option<u64>) -> String {
    bytes.map_or("-".into(), |b| format!("{:.1} MB", b as f64 / 1e6))
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64()))
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

struct Table {
    widths: [usize; 5],
}

impl Table {
    fn row(&self, c: [&str; 5]) {
        let w = self.widths;
        println!(
            "| {:<a$} | {:>b$} | {:>c$} | {:>d$} | {:<e$} |",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            a = w[0],
            b = w[1],
            c = w[2],
            d = w[3],
            e = w[4]
        );
    }

    fn sep(&self) {
        let cells: Vec<String> = self.widths.iter().map(|w| "-".repeat(w + 2)).collect();
        println!("|{}|", cells.join("|"));
    }
}

async fn run_bench() {
    let single_mb = env_or::<u64>("VB_BENCH_MB", 256);
    let stream_mb = env_or::<u64>("VB_BENCH_STREAM_MB", 4);
    let streams = env_or::<u64>("VB_BENCH_STREAMS", 64);
    let rtt_iters = env_or::<u64>("VB_BENCH_RTT_ITERS", 2000);
    let open_iters = env_or::<u64>("VB_BENCH_OPEN_ITERS", 2000);
    let nodes = env_or::<u64>("VB_BENCH_NODES", 1000) as usize;

    let measured = with_link(|echo, registry| async move {
        let raw_open = move || async move {
            let s = TcpStream::connect(echo).await.unwrap();
            s.set_nodelay(true).unwrap();
            s
        };
        let tun_open = move || {
            let registry = registry.clone();
            async move { registry.open(NODE, &Open::Echo).await.unwrap() }
        };
        eprintln!("throughput, 1 stream x {single_mb} MiB ...");
        let raw_1 = throughput(raw_open, 1, single_mb * MIB).await;
        let tun_1 = throughput(tun_open.clone(), 1, single_mb * MIB).await;
        eprintln!("throughput, {streams} streams x {stream_mb} MiB ...");
        let raw_n = throughput(raw_open, streams, stream_mb * MIB).await;
        let tun_n = throughput(tun_open.clone(), streams, stream_mb * MIB).await;
        eprintln!("64 B round trips x {rtt_iters}, alternating rounds ...");
        // On a runtime worker (not the block_on thread), like the echo tasks.
        let t = tun_open.clone();
        let rtt = tokio::spawn(async move {
            compare_round_trips(raw_open().await, t().await, rtt_iters).await
        })
        .await
        .unwrap();
        eprintln!("open + first byte x {open_iters}, alternating rounds ...");
        let t = tun_open.clone();
        let ofb = tokio::spawn(async move { compare_opens(raw_open, t, open_iters).await })
            .await
            .unwrap();
        (raw_1, tun_1, raw_n, tun_n, rtt, ofb)
    })
    .await;
    let (raw_1, tun_1, raw_n, tun_n, [raw_rtt, tun_rtt], [raw_ofb, tun_ofb]) = measured;
    eprintln!("64 B round trips x {rtt_iters} on a current-thread runtime ...");
    let [raw_st, tun_st] = round_trips_single_thread(rtt_iters);
    eprintln!("round trips and opens, each end in its own process ...");
    let procs = latencies_across_processes(rtt_iters, open_iters).await;

    let ssh = if skipped("openssh") {
        Err("VB_BENCH_SKIP=openssh".to_string())
    } else {
        eprintln!("OpenSSH echo, 1 stream x {single_mb} MiB ...");
        openssh_echo(single_mb * MIB).await
    };
    let fleet = if skipped("fleet") {
        None
    } else {
        Some(fleet(nodes).await)
    };

    let t = Table {
        widths: [46, 12, 12, 7, 17],
    };
    println!();
    println!(
        "VibeBridge tunnel benchmark, loopback, {} cores. MB = 10^6 bytes; echo MB/s = payload one way / time.",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    t.row(["metric", "baseline", "tunnel", "ratio", "target"]);
    t.sep();
    let r1 = tun_1 / raw_1;
    t.row([
        &format!("echo MB/s, 1 stream x {single_mb} MiB, vs raw TCP"),
        &format!("{raw_1:.1}"),
        &format!("{tun_1:.1}"),
        &format!("{r1:.2}x"),
        &format!(">= 0.35x  {}", verdict(r1 >= 0.35)),
    ]);
    match &ssh {
        Ok(ssh_mbps) => {
            let r = tun_1 / ssh_mbps;
            t.row([
                "echo MB/s, 1 stream, vs OpenSSH aes128-gcm",
                &format!("{ssh_mbps:.1}"),
                &format!("{tun_1:.1}"),
                &format!("{r:.2}x"),
                &format!(">= 1.3x   {}", verdict(r >= 1.3)),
            ]);
        }
        Err(_) => t.row([
            "echo MB/s, 1 stream, vs OpenSSH aes128-gcm",
            "skipped",
            &format!("{tun_1:.1}"),
            "-",
            ">= 1.3x",
        ]),
    }
    t.row([
        &format!("echo MB/s, {streams} streams x {stream_mb} MiB, vs raw TCP"),
        &format!("{raw_n:.1}"),
        &format!("{tun_n:.1}"),
        &format!("{:.2}x", tun_n / raw_n),
        "-",
    ]);
    let dr = |t: Duration, r: Duration| t.as_secs_f64() / r.as_secs_f64();
    for (label, raw, tun, target) in [
        (
            format!("64 B round trip p50 (n={rtt_iters}), vs raw TCP"),
            raw_rtt.0,
            tun_rtt.0,
            1.5,
        ),
        (
            format!("64 B round trip p99 (n={rtt_iters}), vs raw TCP"),
            raw_rtt.1,
            tun_rtt.1,
            1.5,
        ),
        (
            format!("open + first byte p50 (n={open_iters}), vs TCP"),
            raw_ofb.0,
            tun_ofb.0,
            1.0,
        ),
        (
            format!("open + first byte p99 (n={open_iters}), vs TCP"),
            raw_ofb.1,
            tun_ofb.1,
            1.0,
        ),
    ] {
        let r = dr(tun, raw);
        t.row([
            &label,
            &us(raw),
            &us(tun),
            &format!("{r:.2}x"),
            &format!("<= {target:.1}x   {}", verdict(r <= target)),
        ]);
    }
    let r = dr(tun_st.0, raw_st.0);
    t.row([
        "64 B round trip p50, 1-thread runtime (diag.)",
        &us(raw_st.0),
        &us(tun_st.0),
        &format!("{r:.2}x"),
        "-",
    ]);
    match &procs {
        Ok([[raw_rtt, tun_rtt], [raw_ofb, tun_ofb]]) => {
            for (label, raw, tun, target) in [
                (
                    "64 B round trip p50, ends in 2 processes",
                    raw_rtt.0,
                    tun_rtt.0,
                    1.5,
                ),
                (
                    "64 B round trip p99, ends in 2 processes",
                    raw_rtt.1,
                    tun_rtt.1,
                    1.5,
                ),
                (
                    "open + first byte p50, ends in 2 processes",
                    raw_ofb.0,
                    tun_ofb.0,
                    1.0,
                ),
                (
                    "open + first byte p99, ends in 2 processes",
                    raw_ofb.1,
                    tun_ofb.1,
                    1.0,
                ),
            ] {
                let r = dr(tun, raw);
                t.row([
                    label,
                    &us(raw),
                    &us(tun),
                    &format!("{r:.2}x"),
                    &format!("<= {target:.1}x   {}", verdict(r <= target)),
                ]);
            }
        }
        Err(_) => t.row(["latencies, ends in 2 processes", "skipped", "", "", ""]),
    }
    t.sep();
    match &fleet {
        None => t.row(["processes (VB_BENCH_SKIP=fleet)", "", "skipped", "", ""]),
        Some(f) => {
            let limit = |v: Option<u64>, max: f64| match v {
                Some(b) => format!("<= {max:.0} MB  {}", verdict(b as f64 / 1e6 <= max)),
                None => format!("<= {max:.0} MB"),
            };
            t.row([
                "RSS main, idle, 1 node (own process)",
                "",
                &mb(f.main_idle),
                "",
                "-",
            ]);
            t.row([
                "RSS agent, idle (own process)",
                "",
                &mb(f.agent_idle),
                "",
                &limit(f.agent_idle, 10.0),
            ]);
            t.row([
                &format!("RSS main, {} nodes connected", f.nodes),
                "",
                &mb(f.main_fleet),
                "",
                &limit(f.main_fleet, 100.0),
            ]);
            t.row([
                &format!("RSS of the {} simulated nodes (1 process)", f.nodes),
                "",
                &mb(f.sims_rss),
                "",
                "-",
            ]);
            t.row([
                &format!("{} nodes first connect (enrol, hello)", f.nodes),
                "",
                &secs(f.first_connect),
                "",
                "-",
            ]);
            t.row([
                "main restart: kill to listening again",
                "",
                &secs(f.main_ready_after_kill),
                "",
                "-",
            ]);
            t.row([
                &format!("main restart: kill to all {} back online", f.nodes),
                "",
                &secs(f.back_after_kill),
                "",
                "-",
            ]);
        }
    }
    println!();
    println!(
        "raw TCP: tokio echo on 127.0.0.1 (TCP_NODELAY, 64 KiB buffer), opened per sample for open + first byte."
    );
    println!(
        "tunnel: main's registry.open(Open::Echo), node echoes; main and node in this process ({} runtime threads), production",
        tokio::runtime::Handle::current().metrics().num_workers()
    );
    println!(
        "  tunnel settings. The 1-thread row repeats the round trips with everything on one thread: the tunnel's own cost."
    );
    match &procs {
        Ok(_) => println!(
            "2 processes: main here, the real vibebridge-agent binary as the node; raw TCP from here to an echo process."
        ),
        Err(reason) => println!("2-process rows skipped: {reason}"),
    }
    match &ssh {
        Ok(_) => println!(
            "OpenSSH: `ssh -c aes128-gcm@openssh.com host cat` (echo, like the tunnel rows) through a private sshd, session set-up excluded."
        ),
        Err(reason) => println!("OpenSSH row skipped: {reason}"),
    }
    if let Some(f) = &fleet {
        println!(
            "RSS rows: separate processes. Main: this binary as `helper-main` (main's library; its larger binary adds a few MB of"
        );
        println!(
            "  file pages). Agent: {}, defaults, health endpoint off.",
            f.agent_kind
        );
        println!(
            "Simulated nodes: real SSH + ed25519 key auth (enrolled by token), control stream, hello, 15 s heartbeats, the agent's backoff (1 s first)."
        );
        for n in &f.notes {
            println!("note: {n}");
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    match args.first().map(String::as_str) {
        None => rt.block_on(run_bench()),
        Some("helper-main") => rt.block_on(helper_main(arg(1).into(), arg(2))),
        Some("helper-agent") => rt.block_on(helper_agent(arg(1).into(), arg(2), arg(3))),
        Some("helper-echo") => rt.block_on(helper_echo()),
        Some("helper-nodes") => rt.block_on(helper_nodes(arg(1).parse().unwrap(), arg(2), arg(3))),
        Some(other) => {
            eprintln!(
                "usage: tunnel-bench   (helpers: helper-main, helper-agent, helper-nodes; got {other:?})"
            );
            std::process::exit(2);
        }
    }
}

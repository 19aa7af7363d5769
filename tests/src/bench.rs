//! Helpers the benchmark binaries share: sizes from the environment, percentiles, a process's resident memory,
//! a wall-clock timestamp two processes agree on, and the large repository files-bench and runs-bench use.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vibebridge_tunnel::client::{Connected, Dial};
use vibebridge_tunnel::frame::{read_frame, write_frame};
use vibebridge_tunnel::mux::{self, Mode};
use vibebridge_tunnel::protocol::{self, ControlFrame, Hello, Open};

/// `name` from the environment parsed as a number, else `default` (unset or not a number).
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median and the 99th percentile of `v` (not empty).
pub fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let n = v.len();
    (v[n * 50 / 100], v[(n * 99 / 100).min(n - 1)])
}

/// The median of `v` (not empty): [`percentiles`]' first half.
pub fn median(v: Vec<Duration>) -> Duration {
    percentiles(v).0
}

/// Resident set size of a process in bytes (VmRSS), `None` if it is gone.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Nanoseconds since the Unix epoch: a timestamp one process writes and another compares with its own.
pub fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The `helper-main DIR` mode of a benchmark binary: main with `config` (its store at DIR) on fresh loopback
/// ports in this process; prints `ready HTTP_ADDR`, serves until stdin closes (the benchmark ended).
pub async fn serve_helper_main(mut config: vibebridge_main::MainConfig) {
    // The benchmark's PostgreSQL, when it measures that backend (see [`spawn_helper_main`]).
    if let Ok(url) = std::env::var(DATABASE_ENV) {
        config.database.url = Some(vibebridge_tunnel::config::Secret::new(url));
    }
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ssh = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("ready {}", http.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stop = shutdown.clone();
    std::thread::spawn(move || {
        let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
        stop.cancel();
    });
    if let Err(e) =
        vibebridge_main::serve(config, vibebridge_main::Listeners { http, ssh }, shutdown).await
    {
        eprintln!("helper-main: {e:#}");
        std::process::exit(1);
    }
}

/// The environment variable that gives a helper main its PostgreSQL URL.
pub const DATABASE_ENV: &str = "VB_BENCH_DATABASE_URL";

/// Starts this benchmark binary as `helper-main DB_DIR` (on the PostgreSQL at `database` when given) and waits
/// until it serves: the child (ended when dropped), its pid (for RSS) and `HOST:PORT`.
pub async fn spawn_helper_main(
    db: &std::path::Path,
    database: Option<&str>,
) -> (tokio::process::Child, u32, String) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let exe = std::env::current_exe().unwrap();
    let mut cmd = tokio::process::Command::new(&exe);
    if let Some(url) = database {
        cmd.env(DATABASE_ENV, url);
    }
    let mut child = cmd
        .args(["helper-main", db.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next_line().await.unwrap().expect("helper-main ended");
        if let Some(a) = line.strip_prefix("ready ") {
            break a.to_string();
        }
    };
    // On PostgreSQL it stands by until it holds the lead.
    let api = crate::Api::at(&format!("http://{addr}"));
    while !matches!(
        api.try_call(reqwest::Method::GET, "/health", None).await,
        Ok((200, ref h)) if h["role"] == "active"
    ) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    (child, pid, addr)
}

/// Runs git in `repo` as the benchmarks' committer, without the system config; panics when it fails.
pub fn bench_git(repo: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .current_dir(repo)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A repository of `files` files on branch `main` (files-bench's and runs-bench's): one flat directory of
/// 5,000 and the rest spread over nested directories of 100, committed; then 20 files modified, 5 staged and
/// 10 untracked ones added.
pub fn make_repo(repo: &Path, files: usize) {
    let flat = 5000.min(files);
    std::fs::create_dir_all(repo.join("flat")).unwrap();
    for i in 0..flat {
        std::fs::write(
            repo.join(format!("flat/f{i:05}.txt")),
            format!("flat file {i}\n"),
        )
        .unwrap();
    }
    let mut made = flat;
    let mut dir = 0;
    while made < files {
        let d = repo.join(format!("pkg{:02}/mod{:02}", dir / 10, dir % 10));
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..100.min(files - made) {
            std::fs::write(
                d.join(format!("src{i:03}.rs")),
                format!("// file {dir}/{i}\nfn f() {{}}\n"),
            )
            .unwrap();
            made += 1;
        }
        dir += 1;
    }
    bench_git(repo, &["init", "-q", "-b", "main"]);
    bench_git(repo, &["add", "-A"]);
    bench_git(repo, &["commit", "-q", "-m", "initial"]);
    for i in 0..20 {
        std::fs::write(repo.join(format!("flat/f{:05}.txt", i * 7)), "changed\n").unwrap();
    }
    for i in 0..5 {
        std::fs::write(
            repo.join(format!("pkg00/mod00/src{i:03}.rs")),
            "// staged\n",
        )
        .unwrap();
        bench_git(repo, &["add", &format!("pkg00/mod00/src{i:03}.rs")]);
    }
    for i in 0..10 {
        std::fs::write(repo.join(format!("new{i}.txt")), "untracked\n").unwrap();
    }
}

/// One simulated node's connected life (tunnel-bench's and takeover-bench's fleets): hello, then a heartbeat every interval until the link ends.
pub async fn simulated_link(conn: Connected, dial: &Dial) {
    let cfg = &dial.tunnel;
    let Connected { session, io, .. } = conn;
    let (mux, _inbound) = mux::spawn(io, Mode::Client, cfg);
    let Ok(control) = mux.open(&Open::Control).await else {
        return;
    };
    let (mut rd, mut wr) = tokio::io::split(control);
    let hello = Hello {
        protocol_version: protocol::PROTOCOL_VERSION,
        node_id: dial.node_id.clone().into(),
        name: dial.node_id.clone(),
        hostname: "simulated".into(),
        os: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
        labels: vec![],
        capabilities: vec!["shell".into(), "fs".into(), "git".into()],
        providers: vec![],
        agent_version: env!("CARGO_PKG_VERSION").into(),
    };
    let max = cfg.max_frame_bytes;
    if write_frame(&mut wr, &ControlFrame::Hello(hello), max)
        .await
        .is_err()
    {
        return;
    }
    // Welcome, then acks, read by their own task so the loop below never cancels a read mid-frame.
    let reader = tokio::spawn(async move {
        while let Ok(Some(_)) = read_frame::<ControlFrame, _>(&mut rd, max).await {}
    });
    let mut ticker = tokio::time::interval(cfg.heartbeat_interval);
    ticker.tick().await;
    let mut seq = 0u64;
    loop {
        tokio::select! {
            _ = mux.closed() => break,
            _ = ticker.tick() => {
                seq += 1;
                if write_frame(&mut wr, &ControlFrame::Heartbeat { seq }, max).await.is_err() {
                    break;
                }
            }
        }
    }
    reader.abort();
    let _ = session
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await;
}

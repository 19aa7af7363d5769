//! Helpers the benchmark binaries share: sizes from the environment, percentiles, a process's resident memory
//! and a wall-clock timestamp two processes agree on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
pub async fn serve_helper_main(config: vibebridge_main::MainConfig) {
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

/// Starts this benchmark binary as `helper-main DB_DIR` and waits for its address: the child (ended when
/// dropped), its pid (for RSS) and `HOST:PORT`.
pub async fn spawn_helper_main(db: &std::path::Path) -> (tokio::process::Child, u32, String) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let exe = std::env::current_exe().unwrap();
    let mut child = tokio::process::Command::new(&exe)
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
    (child, pid, addr)
}

//! Loopback benchmark of raw TCP against the VibeBridge tunnel (main → node `Open::Echo` streams):
//! echo throughput (1 and 64 streams), 64-byte round trip p50/p99, open + first byte p50/p99 and
//! idle process RSS, printed as one table with tunnel/raw ratios and the targets.
//!
//! Run: `cargo run --release -p vibebridge-tests --bin tunnel-bench`.
//! Sizes via env: `VB_BENCH_MB` (single stream, MiB, default 256), `VB_BENCH_STREAM_MB` (per stream
//! of the multi-stream run, default 4), `VB_BENCH_STREAMS` (default 64), `VB_BENCH_RTT_ITERS`
//! (default 1000), `VB_BENCH_OPEN_ITERS` (default 200).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vibebridge_tests::{TempDir, TestMain, TestNode};
use vibebridge_tunnel::protocol::Open;

const MIB: u64 = 1024 * 1024;
const CHUNK: usize = 256 * 1024;
const NODE: &str = "bench";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident set size of this process in KiB (VmRSS).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A TCP echo server on 127.0.0.1:0.
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
                // Plain read/write loop with the node echo's 64 KiB buffer size.
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

/// (p50, p99) of samples.
fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let n = v.len();
    (v[n * 50 / 100], v[(n * 99 / 100).min(n - 1)])
}

/// 64-byte write + echoed read, `iters` times after a warm-up.
async fn round_trips<S>(mut s: S, iters: u64) -> (Duration, Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let out = [0xa5u8; 64];
    let mut back = [0u8; 64];
    let mut samples = Vec::with_capacity(iters as usize);
    for i in 0..iters + 50 {
        let t = Instant::now();
        s.write_all(&out).await.unwrap();
        s.flush().await.unwrap();
        s.read_exact(&mut back).await.unwrap();
        if i >= 50 {
            samples.push(t.elapsed());
        }
    }
    let _ = s.shutdown().await;
    percentiles(samples)
}

/// Open a stream + write one byte + read its echo, `iters` times after a warm-up.
async fn open_first_byte<S, F, Fut>(open: F, iters: u64) -> (Duration, Duration)
where
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut samples = Vec::with_capacity(iters as usize);
    for i in 0..iters + 10 {
        let t = Instant::now();
        let mut s = open().await;
        s.write_all(&[7]).await.unwrap();
        s.flush().await.unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        let took = t.elapsed();
        let _ = s.shutdown().await;
        drop(s);
        if i >= 10 {
            samples.push(took);
        }
    }
    percentiles(samples)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let single_mb = env_u64("VB_BENCH_MB", 256);
    let stream_mb = env_u64("VB_BENCH_STREAM_MB", 4);
    let streams = env_u64("VB_BENCH_STREAMS", 64);
    let rtt_iters = env_u64("VB_BENCH_RTT_ITERS", 1000);
    let open_iters = env_u64("VB_BENCH_OPEN_ITERS", 200);

    let rss_start = rss_kib();
    let dir = TempDir::new("bench");
    let main = TestMain::start(dir.path()).await;
    let node = TestNode::start_for(dir.path(), NODE, &main, Some(main.token()));
    main.wait_online(NODE).await;
    // Let the link settle (a few heartbeats) before sampling idle RSS.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = rss_kib();

    let echo = raw_echo_server().await;
    let raw_open = move || async move {
        let s = TcpStream::connect(echo).await.unwrap();
        s.set_nodelay(true).unwrap();
        s
    };
    let registry = main.state.registry.clone();
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
    eprintln!("64 B round trips x {rtt_iters} ...");
    // Latency loops run on a runtime worker (not the block_on thread), like the echo tasks.
    let raw_rtt = tokio::spawn(async move { round_trips(raw_open().await, rtt_iters).await });
    let raw_rtt = raw_rtt.await.unwrap();
    let t = tun_open.clone();
    let tun_rtt = tokio::spawn(async move { round_trips(t().await, rtt_iters).await });
    let tun_rtt = tun_rtt.await.unwrap();
    eprintln!("open + first byte x {open_iters} ...");
    let raw_ofb = tokio::spawn(open_first_byte(raw_open, open_iters));
    let raw_ofb = raw_ofb.await.unwrap();
    let tun_ofb = tokio::spawn(open_first_byte(tun_open, open_iters));
    let tun_ofb = tun_ofb.await.unwrap();
    let rss_after = rss_kib();

    let ratio = |t: f64, r: f64| format!("{:.2}x", t / r);
    let dr = |t: Duration, r: Duration| t.as_secs_f64() / r.as_secs_f64();
    let w = [34, 14, 14, 8, 24];
    let row = |c: [&str; 5]| {
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
        )
    };
    let sep = format!(
        "|{}|{}|{}|{}|{}|",
        "-".repeat(w[0] + 2),
        "-".repeat(w[1] + 2),
        "-".repeat(w[2] + 2),
        "-".repeat(w[3] + 2),
        "-".repeat(w[4] + 2)
    );

    println!();
    println!(
        "VibeBridge tunnel vs raw TCP, loopback echo ({} cores); MB = 10^6 payload bytes each way",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    row(["metric", "raw TCP", "tunnel", "t/raw", "target"]);
    println!("{sep}");
    let r1 = tun_1 / raw_1;
    row([
        &format!("echo MB/s, 1 stream x {single_mb} MiB"),
        &format!("{raw_1:.1}"),
        &format!("{tun_1:.1}"),
        &ratio(tun_1, raw_1),
        &format!(">= 0.35x  {}", verdict(r1 >= 0.35)),
    ]);
    row([
        &format!("echo MB/s, {streams} streams x {stream_mb} MiB"),
        &format!("{raw_n:.1}"),
        &format!("{tun_n:.1}"),
        &ratio(tun_n, raw_n),
        "-",
    ]);
    let rtt50 = dr(tun_rtt.0, raw_rtt.0);
    row([
        &format!("64 B round trip p50 (n={rtt_iters})"),
        &us(raw_rtt.0),
        &us(tun_rtt.0),
        &format!("{rtt50:.2}x"),
        &format!("<= 1.5x   {}", verdict(rtt50 <= 1.5)),
    ]);
    let rtt99 = dr(tun_rtt.1, raw_rtt.1);
    row([
        &format!("64 B round trip p99 (n={rtt_iters})"),
        &us(raw_rtt.1),
        &us(tun_rtt.1),
        &format!("{rtt99:.2}x"),
        &format!("<= 1.5x   {}", verdict(rtt99 <= 1.5)),
    ]);
    let ofb50 = dr(tun_ofb.0, raw_ofb.0);
    row([
        &format!("open + first byte p50 (n={open_iters})"),
        &us(raw_ofb.0),
        &us(tun_ofb.0),
        &format!("{ofb50:.2}x"),
        &format!("<= 1.0x   {}", verdict(ofb50 <= 1.0)),
    ]);
    let ofb99 = dr(tun_ofb.1, raw_ofb.1);
    row([
        &format!("open + first byte p99 (n={open_iters})"),
        &us(raw_ofb.1),
        &us(tun_ofb.1),
        &format!("{ofb99:.2}x"),
        &format!("<= 1.0x   {}", verdict(ofb99 <= 1.0)),
    ]);
    println!("{sep}");
    let mib = |k: u64| format!("{:.1} MiB", k as f64 / 1024.0);
    row(["RSS at start (before main)", "", &mib(rss_start), "", ""]);
    row(["RSS main + 1 node, idle", "", &mib(rss_idle), "", ""]);
    row([
        "RSS delta main + 1 node",
        "",
        &mib(rss_idle.saturating_sub(rss_start)),
        "",
        "",
    ]);
    row(["RSS after benchmarks", "", &mib(rss_after), "", ""]);
    row(["RSS main, 1,000 nodes", "", "not measured", "", ""]);
    row(["OpenSSH -L/-D comparison", "not measured", "", "", ""]);
    println!();
    println!(
        "raw TCP = tokio echo server on 127.0.0.1 (TCP_NODELAY, 64 KiB read/write loop); tunnel = main"
    );
    println!(
        "registry.open(Open::Echo), node echoes; main and node share this process, so RSS covers both."
    );

    node.stop().await;
    main.stop().await;
}

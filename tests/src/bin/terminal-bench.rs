//! Web terminal keystroke echo latency: one key sent the way the browser sends it (a binary WebSocket frame to
//! main), through main, the tunnel and the node's PTY to bash, and its echo back to the client; against the same
//! keystroke through `ssh -tt` to bash on a private sshd on loopback (`scripts/bench-openssh.sh serve`), measured
//! the same way. Rounds alternate between the two so background load hits both alike.
//!
//! The product runs as a person runs it: the real `vibebridge up` binary from this binary's own target directory
//! (main and the local node in one process, the node dialling main's SSH port), this process as the browser.
//! Both shells run without the machine's rc files (the web one with a fresh HOME, the ssh one with `--norc`).
//!
//! Run: `cargo build --release -p vibebridge-main -p vibebridge-tests --bins && ./target/release/terminal-bench`.
//! Env: `VB_BENCH_KEYS` (keystrokes per side, 2000), `VB_BENCH_ROUNDS` (10), `VB_BENCH_SKIP=openssh`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vibebridge_tests::TempDir;
use vibebridge_tests::bench::env_or;

const STEP: Duration = Duration::from_secs(10);

/// A terminal under test: send bytes, wait until a byte comes back.
trait Keys {
    async fn send(&mut self, bytes: &[u8]);
    /// Reads output until `want` appears in what was read since the last call.
    async fn wait_for(&mut self, want: u8);
}

/// The browser side of a VibeBridge web terminal.
struct Web {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Keys for Web {
    async fn send(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::Binary(bytes.to_vec().into()))
            .await
            .unwrap();
    }
    async fn wait_for(&mut self, want: u8) {
        loop {
            let msg = tokio::time::timeout(STEP, self.ws.next())
                .await
                .expect("no echo from the web terminal")
                .expect("web terminal closed")
                .unwrap();
            if let Message::Binary(b) = msg
                && b.contains(&want)
            {
                return;
            }
        }
    }
}

/// `ssh -tt` to bash: its stdin and stdout.
struct Ssh<W, R> {
    stdin: W,
    stdout: R,
    buf: Vec<u8>,
}

impl<W: AsyncWrite + Unpin, R: AsyncRead + Unpin> Keys for Ssh<W, R> {
    async fn send(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).await.unwrap();
        self.stdin.flush().await.unwrap();
    }
    async fn wait_for(&mut self, want: u8) {
        loop {
            let n = tokio::time::timeout(STEP, self.stdout.read(&mut self.buf))
                .await
                .expect("no echo from ssh")
                .unwrap();
            assert!(n > 0, "ssh ended");
            if self.buf[..n].contains(&want) {
                return;
            }
        }
    }
}

/// Waits for the shell's first prompt, then `n` keystrokes, each timed from send to echo. Every 40 keys the
/// line is cleared (Ctrl-U), untimed.
async fn measure(t: &mut impl Keys, n: usize, out: &mut Vec<Duration>) {
    for i in 0..n {
        if i % 40 == 39 {
            t.send(&[0x15]).await;
            t.send(b"y").await;
            t.wait_for(b'y').await;
        }
        let start = Instant::now();
        t.send(b"x").await;
        t.wait_for(b'x').await;
        out.push(start.elapsed());
    }
}

async fn settle(t: &mut impl Keys) {
    // A marker the prompt does not contain: once it echoes, the shell's readline is up.
    t.send(b"z").await;
    t.wait_for(b'z').await;
    measure(t, 50, &mut Vec::new()).await;
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

async fn start_up(bin: &PathBuf, dir: &TempDir) -> (Child, String) {
    let mut child = Command::new(bin)
        .args([
            "up",
            "--http",
            "127.0.0.1:0",
            "--ssh",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(dir.path().join("data"))
        .arg("--root")
        .arg(dir.path())
        .env("SHELL", "/bin/bash")
        .env("HOME", dir.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let url = vibebridge_tests::e2e::ui_address(child.stdout.take().unwrap()).await;
    (child, url)
}

async fn web_terminal(url: &str) -> Web {
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{url}/api/v1/auth/register"))
        .json(&serde_json::json!({"username": "bench", "password": "benchmark-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"]
        .as_str()
        .expect("registered")
        .to_string();
    // The local node comes online a moment after `up` prints its address.
    let node = loop {
        let nodes: serde_json::Value = http
            .get(format!("{url}/api/v1/nodes"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(n) = nodes
            .as_array()
            .and_then(|a| a.iter().find(|n| n["online"] == true))
        {
            break n["id"].as_str().unwrap().to_string();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let id = "00000000-0000-4000-8000-00000000be0c";
    let ws_url = format!(
        "{}/api/v1/nodes/{node}/terminal?terminal_id={id}&cols=120&rows=40",
        url.replacen("http://", "ws://", 1)
    );
    let mut req = ws_url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    Web { ws }
}

/// Starts the private sshd and an interactive `ssh -tt` to bash on it; `Err` says why it cannot run here.
async fn ssh_terminal() -> Result<(Child, Child, impl Keys), String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/bench-openssh.sh");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let mut sshd = Command::new("bash")
        .arg(&script)
        .args(["serve", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut lines = BufReader::new(sshd.stdout.take().unwrap()).lines();
    let ready = lines
        .next_line()
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let f: Vec<&str> = ready.split_whitespace().collect();
    if f.first() != Some(&"ready") || f.len() < 7 {
        return Err(ready.strip_prefix("skip: ").unwrap_or(&ready).to_string());
    }
    let (user, key) = (f[2], f[4]);
    let mut ssh = Command::new("ssh")
        .args(["-tt", "-F", "/dev/null", "-p", &port.to_string(), "-i", key])
        .args([
            "-c",
            "aes128-gcm@openssh.com",
            "-o",
            "StrictHostKeyChecking=no",
        ])
        .args([
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
        ])
        .arg(format!("{user}@127.0.0.1"))
        .arg("exec /bin/bash --norc --noprofile -i")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("ssh: {e}"))?;
    let keys = Ssh {
        stdin: ssh.stdin.take().unwrap(),
        stdout: ssh.stdout.take().unwrap(),
        buf: vec![0; 64 * 1024],
    };
    Ok((sshd, ssh, keys))
}

#[tokio::main]
async fn main() {
    let keys = env_or::<usize>("VB_BENCH_KEYS", 2000);
    let rounds = env_or::<usize>("VB_BENCH_ROUNDS", 10).max(1);
    let per_round = keys.div_ceil(rounds);
    let skip_ssh = std::env::var("VB_BENCH_SKIP").is_ok_and(|s| s.contains("openssh"));
    let bin = std::env::current_exe()
        .unwrap()
        .with_file_name("vibebridge");
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build --release -p vibebridge-main -p vibebridge-tests --bins`",
        bin.display()
    );
    let dir = TempDir::new("terminal-bench");
    let (mut up, url) = start_up(&bin, &dir).await;
    let mut web = web_terminal(&url).await;
    settle(&mut web).await;
    let mut ssh = if skip_ssh {
        Err("VB_BENCH_SKIP=openssh".to_string())
    } else {
        ssh_terminal().await
    };
    if let Ok((_, _, keys)) = &mut ssh {
        settle(keys).await;
    }
    let (mut w, mut s) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        measure(&mut web, per_round, &mut w).await;
        if let Ok((_, _, keys)) = &mut ssh {
            measure(keys, per_round, &mut s).await;
        }
    }
    w.sort();
    s.sort();
    println!(
        "Terminal keystroke echo, {} keys each, {rounds} alternating rounds, bash on a PTY, loopback:",
        w.len()
    );
    println!("| path | p50 | p99 | target |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| browser WebSocket → main → tunnel → PTY → back | {} | {} | p50 ≤ 1 ms: {} |",
        us(pct(&w, 0.5)),
        us(pct(&w, 0.99)),
        if pct(&w, 0.5) <= Duration::from_millis(1) {
            "met"
        } else {
            "NOT met"
        }
    );
    match &ssh {
        Ok(_) => println!(
            "| ssh -tt localhost (OpenSSH, aes128-gcm) | {} | {} | baseline; ratio p50 {:.2}x |",
            us(pct(&s, 0.5)),
            us(pct(&s, 0.99)),
            pct(&w, 0.5).as_secs_f64() / pct(&s, 0.5).as_secs_f64()
        ),
        Err(why) => println!("| ssh -tt localhost | skipped: {why} | | |"),
    }
    if let Ok((mut sshd, mut client, keys)) = ssh {
        drop(keys);
        let _ = client.kill().await;
        drop(sshd.stdin.take());
        let _ = sshd.wait().await;
    }
    web.send(b"exit\r").await;
    let pid = nix::unistd::Pid::from_raw(up.id().unwrap() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let _ = tokio::time::timeout(Duration::from_secs(20), up.wait()).await;
}

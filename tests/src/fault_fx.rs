//! Pieces of the fault suite (`tests/tests/faults.rs`): main in its own process so it can be `kill -9`ed, a
//! node store on a small tmpfs that can be filled, browsers that follow sessions over the WebSocket or SSE
//! and reconnect whatever happens, and a seeded random number generator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;

use crate::{Api, SseReader, WAIT, WsClient};

/// Main in a process of its own (the `test-main` binary). Killed on drop.
pub struct MainProcess {
    child: tokio::process::Child,
    /// Kept open: main's stdout.
    _stdout: BufReader<tokio::process::ChildStdout>,
    /// HTTP address.
    pub http: SocketAddr,
    /// SSH address.
    pub ssh: SocketAddr,
    /// Host key fingerprint (the same across restarts: the key is in the state directory).
    pub fingerprint: String,
    /// One-time node register tokens asked for at start.
    pub tokens: Vec<String>,
}

impl MainProcess {
    /// Starts `bin` (`env!("CARGO_BIN_EXE_test-main")`) with `config`, written next to its state, on fresh
    /// loopback ports, with `tokens` register tokens; returns once it listens.
    pub async fn start(
        bin: &str,
        config: &vibebridge_main::MainConfig,
        tokens: usize,
    ) -> MainProcess {
        std::fs::create_dir_all(&config.database.path).unwrap();
        let file = config.database.path.with_extension("toml");
        std::fs::write(&file, toml::to_string(config).unwrap()).unwrap();
        let mut child = tokio::process::Command::new(bin)
            .arg(&file)
            .arg(tokens.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        tokio::time::timeout(WAIT, stdout.read_line(&mut line))
            .await
            .expect("test-main did not say it was ready")
            .unwrap();
        let mut words = line.split_whitespace();
        assert_eq!(words.next(), Some("ready"), "test-main printed {line:?}");
        MainProcess {
            http: words.next().unwrap().parse().unwrap(),
            ssh: words.next().unwrap().parse().unwrap(),
            fingerprint: words.next().unwrap().to_string(),
            tokens: words.map(String::from).collect(),
            child,
            _stdout: stdout,
        }
    }

    /// A node config dialling `addr` (this main's SSH port, or a proxy in front of it), pinned to its host
    /// key, enrolling with `token`: [`crate::TestNode::enrolling`] for a main in its own process.
    pub fn node_config(
        &self,
        dir: &Path,
        id: &str,
        addr: SocketAddr,
        token: &str,
    ) -> vibebridge_agent::NodeConfig {
        let mut c = crate::TestNode::config(dir, id, addr);
        c.node.main_host_key = Some(self.fingerprint.clone());
        c.node.register_token = Some(vibebridge_tunnel::config::Secret::new(token));
        c
    }

    /// `kill -9`: main dies without flushing or closing anything.
    pub async fn kill9(mut self) {
        self.child.kill().await.unwrap();
    }

    /// SIGTERM, then waits for main to end (it closes its links and flushes its store).
    pub async fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id().unwrap() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("main did not end on SIGTERM")
            .unwrap();
    }
}

/// A small tmpfs mounted at a directory (needs root): a disk that can be filled up and freed again.
/// Unmounted on drop.
pub struct Tmpfs {
    path: PathBuf,
    ballast: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB at `path` (created); why not, if it cannot (not root, no mount).
    pub fn mount(path: &Path, mib: u64) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(path).unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs {
            path: path.to_path_buf(),
            ballast: path.join("ballast"),
        })
    }

    /// Fills the file system until a write fails with "no space left".
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(&self.ballast).unwrap();
        let chunk = vec![0u8; 256 * 1024];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => break,
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        // The last partial block.
        while f.write(&[0u8; 512]).is_ok_and(|n| n > 0) {}
    }

    /// Frees what [`Tmpfs::fill`] took.
    pub fn free(&self) {
        let _ = std::fs::remove_file(&self.ballast);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// xorshift64*: a small seeded generator, so a failing run replays from its printed seed.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is mapped to a fixed non-zero state).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1) ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// How a browser follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// One WebSocket subscribed to every session.
    Ws,
    /// One SSE stream per session.
    Sse,
}

/// What one browser has seen: per session, its events in the order received, and anything out of order.
#[derive(Default)]
pub struct Seen {
    /// Session id → events received, in order.
    pub events: BTreeMap<String, Vec<Value>>,
    /// Events that did not follow the last one seen (a gap: lost; at or before it: doubled).
    pub anomalies: Vec<String>,
    /// Connections opened (the first one included).
    pub connects: u64,
}

impl Seen {
    fn last(&self, session: &str) -> u64 {
        self.events
            .get(session)
            .and_then(|v| v.last())
            .map_or(0, |e| e["seq"].as_u64().unwrap_or(0))
    }

    fn record(&mut self, who: &str, session: &str, ev: Value) {
        let Some(seq) = ev["seq"].as_u64() else {
            return;
        };
        let last = self.last(session);
        if seq != last + 1 {
            let what = if seq <= last { "doubled" } else { "gap" };
            self.anomalies.push(format!(
                "{who}: session {session}: seq {seq} after {last} ({what})"
            ));
            if seq <= last {
                return;
            }
        }
        self.events.entry(session.to_string()).or_default().push(ev);
    }
}

/// A browser following sessions through main (by way of a proxy that survives main's restarts); it
/// reconnects after anything ends its connection and resumes after the last event it has.
pub struct Browser {
    /// Its name in reports.
    pub name: String,
    /// How it follows.
    pub transport: Transport,
    /// What it has seen.
    pub seen: Arc<Mutex<Seen>>,
    drop_gen: watch::Sender<u64>,
    paused: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Browser {
    /// Starts following `sessions` at `base` with `token`.
    pub fn start(
        name: &str,
        transport: Transport,
        base: &str,
        token: &str,
        sessions: &[String],
    ) -> Browser {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (drop_gen, _) = watch::channel(0);
        let (paused, _) = watch::channel(false);
        let mut api = Api::at(base);
        api.token = Some(token.to_string());
        let api = Arc::new(api);
        let task = match transport {
            Transport::Ws => tokio::spawn(follow_ws(
                name.to_string(),
                api,
                sessions.to_vec(),
                seen.clone(),
                drop_gen.subscribe(),
                paused.subscribe(),
            )),
            Transport::Sse => {
                let tasks: Vec<_> = sessions
                    .iter()
                    .map(|s| {
                        tokio::spawn(follow_sse(
                            name.to_string(),
                            api.clone(),
                            s.clone(),
                            seen.clone(),
                            drop_gen.subscribe(),
                            paused.subscribe(),
                        ))
                    })
                    .collect();
                tokio::spawn(async move {
                    for t in tasks {
                        let _ = t.await;
                    }
                })
            }
        };
        Browser {
            name: name.to_string(),
            transport,
            seen,
            drop_gen,
            paused,
            task,
        }
    }

    /// Drops its connections now (as a closed laptop or a lost Wi-Fi does); it reconnects.
    pub fn drop_connections(&self) {
        self.drop_gen.send_modify(|g| *g += 1);
    }

    /// Stops (`true`) or resumes (`false`) reading: a slow consumer.
    pub fn pause(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    /// The last seq seen of `session`.
    pub fn last(&self, session: &str) -> u64 {
        self.seen.lock().unwrap().last(session)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits while `paused` is set; false once the sender is gone.
async fn while_paused(paused: &mut watch::Receiver<bool>) -> bool {
    while *paused.borrow_and_update() {
        if paused.changed().await.is_err() {
            return false;
        }
    }
    true
}

async fn reconnect_delay(attempt: &mut u32) {
    // A browser's retry backoff, not a wait for readiness: the next connect tells whether main is back.
    let ms = (25u64 << (*attempt).min(4)).min(400);
    *attempt += 1;
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

async fn follow_ws(
    name: String,
    api: Arc<Api>,
    sessions: Vec<String>,
    seen: Arc<Mutex<Seen>>,
    mut drop_gen: watch::Receiver<u64>,
    mut paused: watch::Receiver<bool>,
) {
    use tokio_tungstenite::tungstenite::Message;
    let mut attempt = 0;
    loop {
        drop_gen.borrow_and_update();
        let Ok(mut ws) = WsClient::connect(&api).await else {
            reconnect_delay(&mut attempt).await;
            continue;
        };
        seen.lock().unwrap().connects += 1;
        for s in &sessions {
            let after = seen.lock().unwrap().last(s);
            ws.send_text(
                &json!({"type": "subscribe", "session_id": s, "after_seq": after}).to_string(),
            )
            .await;
        }
        loop {
            if !while_paused(&mut paused).await {
                return;
            }
            let msg = tokio::select! {
                _ = drop_gen.changed() => break,
                _ = paused.changed() => continue,
                m = ws.recv() => m,
            };
            let Some(Message::Text(text)) = msg else {
                if msg.is_none() || matches!(msg, Some(Message::Close(_))) {
                    break;
                }
                continue;
            };
            let frame: Value = serde_json::from_str(&text).unwrap();
            match frame["type"].as_str() {
                Some("event") => {
                    let s = frame["session_id"].as_str().unwrap().to_string();
                    seen.lock()
                        .unwrap()
                        .record(&name, &s, frame["event"].clone());
                    attempt = 0;
                }
                Some("error") => break,
                _ => {}
            }
        }
        reconnect_delay(&mut attempt).await;
    }
}

async fn follow_sse(
    name: String,
    api: Arc<Api>,
    session: String,
    seen: Arc<Mutex<Seen>>,
    mut drop_gen: watch::Receiver<u64>,
    mut paused: watch::Receiver<bool>,
) {
    let mut attempt = 0;
    loop {
        drop_gen.borrow_and_update();
        let after = seen.lock().unwrap().last(&session);
        let Ok(mut sse) = SseReader::try_open(&api, &session, after).await else {
            reconnect_delay(&mut attempt).await;
            continue;
        };
        seen.lock().unwrap().connects += 1;
        loop {
            if !while_paused(&mut paused).await {
                return;
            }
            let next = tokio::select! {
                _ = drop_gen.changed() => break,
                _ = paused.changed() => continue,
                n = sse.next() => n,
            };
            let Some((_, data)) = next else { break };
            seen.lock().unwrap().record(&name, &session, data);
            attempt = 0;
        }
        reconnect_delay(&mut attempt).await;
    }
}

//! Pieces of the fault suite (`tests/tests/faults.rs`): main in its own process so it can be `kill -9`ed, an
//! agent process whose store failures are counted, a node store on a small tmpfs that can be filled, and a
//! seeded random number generator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::WAIT;
use crate::session_fx::AgentProcess;

/// The agent log lines that say its session store met a full disk (a write or an fsync refused).
const STORE_FAILED: [&str; 2] = [
    "the disk refused a session store write",
    "fsync of a session log failed",
];

/// Starts the agent `bin` with `config`, adding one to `failures` for every log line saying its session
/// store met a full disk.
pub fn agent_counting_store_failures(
    bin: &str,
    config: vibebridge_agent::NodeConfig,
    failures: &Arc<AtomicU64>,
) -> AgentProcess {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let failures = failures.clone();
    tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            if STORE_FAILED.iter().any(|s| line.contains(s)) {
                failures.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    AgentProcess::start_logging(bin, config, "vibebridge_agent=error", tx)
}

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

    /// Waits until this main serves (`/health` says `active`): at once on sled; on PostgreSQL once it holds
    /// the lead.
    pub async fn wait_active(&self) {
        let api = crate::Api::at(&format!("http://{}", self.http));
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // The standby's face closes its connections when main takes the lead: a request may meet that.
            let health = api.try_call(reqwest::Method::GET, "/health", None).await;
            if matches!(&health, Ok((200, h)) if h["role"] == "active") {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "main never became active: {health:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The process id (for `kill -STOP`).
    pub fn pid(&self) -> u32 {
        self.child.id().expect("main still runs")
    }

    /// `kill -9`: main dies without flushing or closing anything.
    pub async fn kill9(mut self) {
        self.child.kill().await.unwrap();
    }

    /// SIGTERM, then waits for main to end (it closes its links and flushes its store).
    pub async fn stop(mut self) {
        crate::sigterm_and_wait(&mut self.child, "main").await;
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

    /// Fills the file system until a write fails with "no space left" (a write that finds only part of its
    /// chunk's room writes that part first).
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

//! What the browser end-to-end tests (`tests/tests/browser*.rs`) share: where the binary, the target
//! directory and Chromium are, and the process groups they end whatever happens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The repository's root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Cargo's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// The `vibebridge` binary of this checkout (`scripts/test.sh` builds it before the tests).
pub fn vibebridge_bin() -> PathBuf {
    let bin = target_dir().join("debug/vibebridge");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p vibebridge-main --bin vibebridge` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// Debian's Chromium (or `VB_CHROMIUM`).
pub fn chromium() -> PathBuf {
    let bin =
        PathBuf::from(std::env::var("VB_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    assert!(
        bin.is_file(),
        "{} is missing: install Debian's `chromium` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// Ends what the test started even when it fails: SIGTERM to `up`'s and the UI script's groups (so `up` can
/// end its CLIs and shells, and playwright its Chromium), a short wait, then SIGKILL to both groups.
/// `kill_on_drop` alone reaches only the direct children.
pub struct Groups(pub Vec<Pid>);

impl Groups {
    /// The process group led by `child`, started with `process_group(0)`.
    pub fn add(&mut self, child: &tokio::process::Child) {
        self.0.push(Pid::from_raw(child.id().unwrap() as i32));
    }
}

impl Drop for Groups {
    fn drop(&mut self) {
        for &group in &self.0 {
            let _ = killpg(group, Signal::SIGTERM);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while self.0.iter().any(|&g| running(g)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for &group in &self.0 {
            let _ = killpg(group, Signal::SIGKILL);
        }
    }
}

/// Whether process `pid` exists and is not a zombie.
fn running(pid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

/// Starts the real `vibebridge up` (main and a local node rooted at `env`'s directory, state in `data`) in a
/// process group of its own with `PATH` = `path`, and waits for the UI address it prints. Its further output
/// is drained in the background.
pub async fn up(
    bin: &Path,
    env: &crate::mock::CliEnv,
    data: &Path,
    path: &std::ffi::OsStr,
) -> (tokio::process::Child, String) {
    up_with(bin, env, data, path, &[]).await
}

/// [`up`] with more arguments (`--config FILE`).
pub async fn up_with(
    bin: &Path,
    env: &crate::mock::CliEnv,
    data: &Path,
    path: &std::ffi::OsStr,
    more: &[&std::ffi::OsStr],
) -> (tokio::process::Child, String) {
    let mut up = tokio::process::Command::new(bin)
        .args([
            "up",
            "--http",
            "127.0.0.1:0",
            "--ssh",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(data)
        .arg("--root")
        .arg(env.path())
        .args(more)
        .env_clear()
        .env("PATH", path)
        .env("LANG", "C.UTF-8")
        .env("SHELL", "/bin/bash")
        .env("RUST_LOG", "warn")
        .envs(env.env())
        .current_dir(env.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .unwrap();
    let url = ui_address(up.stdout.take().unwrap()).await;
    (up, url)
}

/// Waits (up to 60 s) for the `Open the UI: URL` line `vibebridge up` prints on `stdout` and returns the
/// URL; the rest of its output is drained in the background so `up` never blocks on a full pipe.
pub async fn ui_address(stdout: tokio::process::ChildStdout) -> String {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut out = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = out.next_line().await.unwrap() {
            if let Some(u) = line.trim().strip_prefix("Open the UI:") {
                return u.trim().to_string();
            }
        }
        panic!("vibebridge up ended without printing the UI address");
    })
    .await
    .expect("vibebridge up did not start within 60 s");
    tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
    url
}

/// Starts a browser script of `web/e2e/` with node in a process group of its own, its `VB_*` variables set
/// (`vars`, plus `VB_CHROMIUM`); its stdout is piped for the caller to read, stdin as `stdin` says.
pub fn ui_script(
    script: &Path,
    vars: &[(&str, &std::ffi::OsStr)],
    stdin: std::process::Stdio,
) -> tokio::process::Child {
    tokio::process::Command::new("node")
        .arg(script)
        .current_dir(workspace().join("web"))
        .envs(vars.iter().copied())
        .env("VB_CHROMIUM", chromium())
        .stdin(stdin)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .unwrap()
}

/// Stops `vibebridge up` with SIGTERM (so it ends its node, CLIs and shells) and asserts it exits cleanly
/// within 30 s.
pub async fn stop_up(up: &mut tokio::process::Child) {
    let pid = Pid::from_raw(up.id().unwrap() as i32);
    nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(30), up.wait())
        .await
        .expect("vibebridge up did not stop on SIGTERM")
        .unwrap();
    assert!(exit.success(), "vibebridge up exited with {exit}");
}

/// Echoes a UI script's stdout until it ends (at most `limit`) and asserts it printed `DONE` and exited
/// successfully; `what` and `shots` name the run in the failure.
pub async fn finish_ui(ui: &mut tokio::process::Child, limit: Duration, what: &str, shots: &Path) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut out = BufReader::new(ui.stdout.take().unwrap()).lines();
    let mut done = false;
    let run = async {
        while let Some(line) = out.next_line().await.unwrap() {
            eprintln!("ui: {line}");
            done |= line == "DONE";
        }
        ui.wait().await.unwrap()
    };
    let status = tokio::time::timeout(limit, run)
        .await
        .unwrap_or_else(|_| panic!("the {what} run did not finish in time"));
    assert!(
        status.success() && done,
        "the {what} run failed (screenshots in {})",
        shots.display()
    );
}

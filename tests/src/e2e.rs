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

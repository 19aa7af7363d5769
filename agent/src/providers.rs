//! Detects the provider CLIs (`claude`, `codex`) on this node and their versions, for the hello.

use std::path::{Path, PathBuf};
use std::time::Duration;

use vibebridge_tunnel::protocol::ProviderInfo;

use crate::config::{NodeConfig, ProviderConfig};

/// Finds `name` on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The binary a provider runs: the configured command, else the name on `PATH`.
pub fn resolve(name: &str, cfg: &ProviderConfig) -> Option<PathBuf> {
    match &cfg.command {
        Some(cmd) if cmd.components().count() > 1 => is_executable(cmd).then(|| cmd.clone()),
        Some(cmd) => which(&cmd.to_string_lossy()),
        None => which(name),
    }
}

/// Runs `<cli> --version` (5 s budget) and keeps the first non-empty line.
async fn version(path: &Path, cfg: &ProviderConfig) -> Option<String> {
    let mut cmd = tokio::process::Command::new(path);
    cmd.arg("--version")
        .envs(&cfg.env)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(5), cmd.output())
        .await
        .ok()?
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.chars().take(120).collect())
}

/// Every enabled provider found on this node.
pub async fn detect(config: &NodeConfig) -> Vec<ProviderInfo> {
    let mut found = Vec::new();
    for (name, cfg) in [
        ("claude", &config.providers.claude),
        ("codex", &config.providers.codex),
    ] {
        if !cfg.enabled {
            continue;
        }
        if let Some(path) = resolve(name, cfg) {
            found.push(ProviderInfo {
                name: name.into(),
                version: version(&path, cfg).await,
                path: path.display().to_string(),
            });
        }
    }
    found
}

//! The node's configuration (`configs/node.example.toml` documents every key).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};
use vibebridge_tunnel::TunnelConfig;
use vibebridge_tunnel::config::Secret;
pub use vibebridge_tunnel::protocol::valid_node_id;

/// The documented example, printed by `vibebridge-agent print-config`.
pub const EXAMPLE: &str = include_str!("../../configs/node.example.toml");

/// The whole `node.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// `[server]`: the local health endpoint.
    pub server: ServerConfig,
    /// `[database]`: the node's state directory.
    pub database: DatabaseConfig,
    /// `[node]`: identity and how to reach main.
    pub node: NodeSection,
    /// `[filesystem]`: guardrails for file access.
    pub filesystem: FilesystemConfig,
    /// `[terminal]`.
    pub terminal: TerminalConfig,
    /// `[execution]`: which OS user shells and agent CLIs run as.
    pub execution: ExecutionConfig,
    /// `[providers.claude]`, `[providers.codex]`.
    pub providers: ProvidersConfig,
    /// `[reconnect]`: backoff when the link drops.
    pub reconnect: ReconnectConfig,
    /// `[tunnel]`: liveness and limits.
    pub tunnel: TunnelConfig,
    /// `[worktrees]`: where task runs get their worktrees.
    pub worktrees: WorktreesConfig,
    /// `[runs]`: task runs' scripts.
    pub runs: RunsConfig,
}

/// `[worktrees]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorktreesConfig {
    /// The directory run worktrees are made in; default: beside the state directory (see
    /// [`default_worktrees_root`]). It is reachable by sessions, terminals, the file and git views like a root.
    pub root: Option<PathBuf>,
}

/// `[runs]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunsConfig {
    /// Longest a setup or cleanup script may run before it is stopped.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub script_timeout: Duration,
}

impl Default for RunsConfig {
    fn default() -> Self {
        RunsConfig {
            script_timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// Where run worktrees go when `worktrees.root` is not set: systemd's second `StateDirectory=` entry when
/// there is one (the unit lists `vibebridge-agent vibebridge-agent-worktrees`), else a sibling of the state
/// directory named `<state>-worktrees`: beside the node's state, never inside it.
pub fn default_worktrees_root(
    state: &Path,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> PathBuf {
    if let Some(dirs) = env("STATE_DIRECTORY") {
        let dirs = dirs.to_string_lossy().to_string();
        if let Some(second) = dirs.split(':').nth(1).filter(|d| !d.is_empty()) {
            return PathBuf::from(second);
        }
    }
    let mut name = state
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "vibebridge-agent".into());
    name.push("-worktrees");
    state.with_file_name(name)
}

impl NodeConfig {
    /// The directory run worktrees are made in.
    pub fn worktrees_root(&self) -> PathBuf {
        match &self.worktrees.root {
            Some(root) => root.clone(),
            None => default_worktrees_root(&self.database.path, |k| std::env::var_os(k)),
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Health endpoint host (keep it on loopback).
    pub host: String,
    /// Health endpoint port; 0 disables the endpoint.
    pub port: u16,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 4456,
        }
    }
}

/// `[database]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// The node's state directory: its key, main's trusted host key, its id, session logs.
    pub path: PathBuf,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            path: default_state_dir(|k| std::env::var_os(k)),
        }
    }
}

/// Where the node keeps its state when `database.path` is not set, outside the code it serves:
/// systemd's `$STATE_DIRECTORY` (from `StateDirectory=`), else `$XDG_STATE_HOME/vibebridge-agent`,
/// else `~/.local/state/vibebridge-agent`; `./data/node` only when none of these is known.
pub fn default_state_dir(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let set = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dirs) = env("STATE_DIRECTORY").filter(|v| !v.is_empty()) {
        // systemd joins several StateDirectory= entries with ':'; the first is ours.
        let first = dirs
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        return PathBuf::from(first);
    }
    if let Some(xdg) = set("XDG_STATE_HOME").filter(|p| p.is_absolute()) {
        return xdg.join("vibebridge-agent");
    }
    if let Some(home) = set("HOME").filter(|p| p.is_absolute()) {
        return home.join(".local/state/vibebridge-agent");
    }
    PathBuf::from("./data/node")
}

/// `[node]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    /// Stable node id; default: generated on first start and kept in the state directory.
    pub id: Option<String>,
    /// Display name; default: the host name.
    pub name: Option<String>,
    /// `host:port` of main's SSH endpoint.
    pub main_addr: String,
    /// More mains sharing one database (an active main and standbys), `host:port` each: when a link to one
    /// fails, the next is tried, in turn, with the usual backoff.
    pub main_addrs: Vec<String>,
    /// Main's host key fingerprint (`SHA256:…`); without it the first key seen is trusted and kept.
    pub main_host_key: Option<String>,
    /// Token for the first connection (enrolment); unused once main knows the node's key.
    pub register_token: Option<Secret>,
    /// Free-form labels shown in the UI.
    pub labels: Vec<String>,
    /// Declared capabilities; default: `shell`, `fs`, `git` plus detected providers.
    pub capabilities: Vec<String>,
}

/// `[filesystem]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemConfig {
    /// Directories sessions, terminals and the file browser may use; nothing outside them.
    pub roots: Vec<PathBuf>,
    /// Largest file read or written through the API, in bytes.
    pub max_file_bytes: u64,
    /// Refuse every write.
    pub read_only: bool,
    /// Dot-files (`.git`, `.env`…): listed, left out of listings, or refused altogether.
    pub hidden: HiddenPolicy,
    /// State directories no request may touch even inside a root: the agent's own `database.path`
    /// (added at start) and, under `vibebridge up`, main's. Not configurable.
    #[serde(skip)]
    pub protected: Vec<PathBuf>,
}

/// `filesystem.hidden`: what the file API does with names starting with `.`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HiddenPolicy {
    /// Listed like any other file.
    Show,
    /// Left out of listings, but readable and writable by path.
    #[default]
    Hide,
    /// Left out of listings and refused by path, anywhere below a root.
    Deny,
}

impl Default for FilesystemConfig {
    fn default() -> Self {
        FilesystemConfig {
            roots: Vec::new(),
            max_file_bytes: 50 * 1024 * 1024,
            read_only: false,
            hidden: HiddenPolicy::Hide,
            protected: Vec::new(),
        }
    }
}

/// `[execution]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutionConfig {
    /// Run web terminals and agent CLIs as this user (name or uid) instead of the agent's own, so
    /// they cannot read the agent's state. Needs root or `CAP_SETUID`+`CAP_SETGID`+`CAP_KILL`, and `setpriv`.
    pub run_as: Option<String>,
    /// `run_as`, looked up at start.
    #[serde(skip)]
    pub user: Option<crate::run_as::RunAs>,
}

/// `[terminal]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TerminalConfig {
    /// Shell for web terminals; default: `$SHELL`, else `/bin/bash`.
    pub default_shell: Option<PathBuf>,
    /// Scrollback kept per terminal for reattaching, in bytes.
    pub scrollback_bytes: usize,
    /// How long a shell lives on after its last browser went away (a reload reattaches within it).
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub grace_period: Duration,
    /// Terminals running at once on this node.
    pub max_terminals: usize,
}

impl Default for TerminalConfig {
    fn default() -> Self {
        TerminalConfig {
            default_shell: None,
            scrollback_bytes: 256 * 1024,
            grace_period: Duration::from_secs(60),
            max_terminals: 32,
        }
    }
}

/// `[providers]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvidersConfig {
    /// Claude Code.
    pub claude: ProviderConfig,
    /// Codex.
    pub codex: ProviderConfig,
}

/// `[providers.<name>]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    /// Run this provider at all.
    pub enabled: bool,
    /// CLI path; default: found on `PATH`.
    pub command: Option<PathBuf>,
    /// Extra arguments appended to every invocation.
    pub args: Vec<String>,
    /// Extra environment for the CLI (added to the agent's own).
    pub env: BTreeMap<String, String>,
    /// Sessions of this provider running at once.
    pub max_concurrent: usize,
    /// How long an approval may wait for a human.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub approval_timeout: Duration,
    /// Longest single turn before it is interrupted.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub turn_timeout: Duration,
    /// An idle CLI process is ended after this long (its slot is freed); the next message resumes the
    /// conversation through the CLI's own resume.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub idle_timeout: Duration,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            enabled: true,
            command: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            max_concurrent: 4,
            approval_timeout: Duration::from_secs(24 * 3600),
            turn_timeout: Duration::from_secs(2 * 3600),
            idle_timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// `[reconnect]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconnectConfig {
    /// First delay after a drop.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub min: Duration,
    /// Longest delay.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub max: Duration,
    /// A link that lived this long resets the backoff.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub stable_after: Duration,
    /// First delay after main refused our credentials or identity.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub auth_failure_min: Duration,
    /// Longest delay after repeated credential failures.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub auth_failure_max: Duration,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        ReconnectConfig {
            min: Duration::from_secs(1),
            max: Duration::from_secs(60),
            stable_after: Duration::from_secs(60),
            auth_failure_min: Duration::from_secs(30),
            auth_failure_max: Duration::from_secs(15 * 60),
        }
    }
}

impl NodeConfig {
    /// Every main address to try, `node.main_addr` first, each once.
    pub fn mains(&self) -> Vec<String> {
        let mut all = vec![self.node.main_addr.clone()];
        for a in &self.node.main_addrs {
            if !all.contains(a) {
                all.push(a.clone());
            }
        }
        all
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> anyhow::Result<NodeConfig> {
        vibebridge_tunnel::config::load_file(path, NodeConfig::validate)
    }

    /// Checks values; each message names the key and what to do.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.node.main_addr.trim().is_empty() {
            bail!(
                "node.main_addr is not set; set it to main's SSH address, e.g. \"main.example.com:2222\""
            );
        }
        if !self.node.main_addr.contains(':') {
            bail!(
                "node.main_addr {:?} has no port; add it, e.g. \"{}:2222\"",
                self.node.main_addr,
                self.node.main_addr
            );
        }
        for (i, a) in self.node.main_addrs.iter().enumerate() {
            if !a.contains(':') {
                bail!("node.main_addrs[{i}] {a:?} has no port; add it, e.g. \"{a}:2222\"");
            }
        }
        if let Some(fp) = &self.node.main_host_key
            && !fp.starts_with("SHA256:")
        {
            bail!(
                "node.main_host_key must be a SHA256 fingerprint like \"SHA256:abc…\" (as printed by `vibebridge up`)"
            );
        }
        if let Some(id) = &self.node.id
            && !valid_node_id(id)
        {
            bail!(
                "node.id {id:?} must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-', not starting with '.'"
            );
        }
        for (i, root) in self.filesystem.roots.iter().enumerate() {
            if !root.is_absolute() {
                bail!(
                    "filesystem.roots[{i}] {:?} must be an absolute path",
                    root.display()
                );
            }
        }
        if self.filesystem.max_file_bytes == 0 {
            bail!("filesystem.max_file_bytes must be greater than zero");
        }
        for (name, p) in [
            ("claude", &self.providers.claude),
            ("codex", &self.providers.codex),
        ] {
            if p.approval_timeout.is_zero() || p.turn_timeout.is_zero() || p.idle_timeout.is_zero()
            {
                bail!(
                    "providers.{name}: approval_timeout, turn_timeout and idle_timeout must be greater than zero"
                );
            }
            if p.max_concurrent == 0 {
                bail!(
                    "providers.{name}.max_concurrent must be at least 1 (set enabled = false to turn it off)"
                );
            }
        }
        if self.terminal.max_terminals == 0 || self.terminal.scrollback_bytes == 0 {
            bail!("terminal.max_terminals and terminal.scrollback_bytes must be greater than zero");
        }
        if self.reconnect.min.is_zero() || self.reconnect.max < self.reconnect.min {
            bail!("reconnect.min must be > 0 and reconnect.max at least reconnect.min");
        }
        if self.reconnect.auth_failure_max < self.reconnect.auth_failure_min {
            bail!("reconnect.auth_failure_max must be at least reconnect.auth_failure_min");
        }
        if let Some(root) = &self.worktrees.root
            && !root.is_absolute()
        {
            bail!(
                "worktrees.root {:?} must be an absolute path",
                root.display()
            );
        }
        let worktrees = self.worktrees_root();
        if worktrees.starts_with(&self.database.path) {
            bail!(
                "worktrees.root {} lies inside the node's state directory {}; put it beside it, not inside",
                worktrees.display(),
                self.database.path.display()
            );
        }
        if self.runs.script_timeout.is_zero() {
            bail!("runs.script_timeout must be greater than zero, e.g. \"30m\"");
        }
        self.tunnel.validate().map_err(anyhow::Error::msg)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the default state directory is systemd's, then XDG's, then ~/.local/state, never the working directory.
    #[test]
    fn default_state_dir_is_outside_the_working_directory() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        static ALL: [(&str, &str); 3] = [
            (
                "STATE_DIRECTORY",
                "/var/lib/vibebridge-agent:/var/lib/other",
            ),
            ("XDG_STATE_HOME", "/home/a/.state"),
            ("HOME", "/home/a"),
        ];
        assert_eq!(
            default_state_dir(env(&ALL)),
            PathBuf::from("/var/lib/vibebridge-agent")
        );
        assert_eq!(
            default_state_dir(env(&ALL[1..])),
            PathBuf::from("/home/a/.state/vibebridge-agent")
        );
        assert_eq!(
            default_state_dir(env(&[("XDG_STATE_HOME", "relative"), ("HOME", "/home/a")])),
            PathBuf::from("/home/a/.local/state/vibebridge-agent")
        );
        assert_eq!(default_state_dir(env(&[])), PathBuf::from("./data/node"));
    }

    /// Proves run worktrees default to systemd's second state directory, else a sibling of the state directory.
    #[test]
    fn default_worktrees_root_is_beside_the_state() {
        let none = |_: &str| None;
        assert_eq!(
            default_worktrees_root(Path::new("/home/a/.local/state/vibebridge-agent"), none),
            PathBuf::from("/home/a/.local/state/vibebridge-agent-worktrees")
        );
        let systemd = |k: &str| {
            (k == "STATE_DIRECTORY").then(|| {
                std::ffi::OsString::from(
                    "/var/lib/vibebridge-agent:/var/lib/vibebridge-agent-worktrees",
                )
            })
        };
        assert_eq!(
            default_worktrees_root(Path::new("/var/lib/vibebridge-agent"), systemd),
            PathBuf::from("/var/lib/vibebridge-agent-worktrees")
        );
    }
}

//! Main's configuration (`configs/main.example.toml` documents every key).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};
use vibebridge_tunnel::TunnelConfig;
use vibebridge_tunnel::config::Secret;

use crate::store::Store;
use crate::store::kv::{Backend, PgOptions, TlsMode};

mod notifications;
pub use notifications::NotificationsConfig;

/// The documented example, printed by `vibebridge print-config`.
pub const EXAMPLE: &str = include_str!("../../../configs/main.example.toml");

/// The whole `main.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MainConfig {
    /// `[server]`: the HTTP listener.
    pub server: ServerConfig,
    /// `[ssh]`: the SSH endpoint nodes (and admins) dial.
    pub ssh: SshConfig,
    /// `[database]`: where state lives.
    pub database: DatabaseConfig,
    /// `[auth]`: logins and tokens.
    pub auth: AuthConfig,
    /// `[main]`: node enrolment.
    pub main: MainSection,
    /// `[tunnel]`: liveness and limits.
    pub tunnel: TunnelConfig,
    /// `[runs]`: task runs on nodes.
    pub runs: RunsConfig,
    /// `[secrets]`: the key that seals tokens at rest.
    pub secrets: SecretsConfig,
    /// `[github]`: connecting accounts, repositories and pull requests.
    pub github: GithubConfig,
    /// `[notifications]`: Web Push and webhooks.
    pub notifications: NotificationsConfig,
}

/// `[secrets]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// The file holding the AES-256-GCM key that seals GitHub tokens and secrets in the store (0600,
    /// created on first start). Default: `<database.path>/secrets.key`. The environment variable
    /// `VIBEBRIDGE_SECRETS_KEY` (base64 of 32 bytes) wins over the file; keep the key out of database backups.
    pub key_file: Option<PathBuf>,
}

/// `[github]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GithubConfig {
    /// The REST API (`https://github.example.com/api/v3` for GitHub Enterprise Server).
    pub api_url: String,
    /// The web site: OAuth pages and clone URLs.
    pub web_url: String,
    /// The OAuth app's client id; without it, people connect with a pasted token only.
    pub client_id: Option<String>,
    /// The OAuth app's client secret, sealed with `vibebridge seal-secret github.client_secret` (or given
    /// in `VIBEBRIDGE_GITHUB_CLIENT_SECRET`).
    pub client_secret: Option<String>,
    /// Where GitHub sends people back after authorising; default: this main's address as the browser
    /// reached it, `…/api/v1/github/callback`. Must match the OAuth app's callback URL.
    pub callback_url: Option<String>,
    /// Scopes asked for in the OAuth flows.
    pub scopes: String,
    /// The secret of the repository webhook (`POST /api/v1/github/webhook`), sealed with `vibebridge
    /// seal-secret github.webhook_secret` (or given in `VIBEBRIDGE_GITHUB_WEBHOOK_SECRET`). Without it the
    /// endpoint refuses every delivery and pull requests are followed by polling alone.
    pub webhook_secret: Option<String>,
    /// How often open pull requests are checked (conditional requests: an unchanged one costs nothing).
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub poll_interval: Duration,
    /// Review rounds the auto-fix loop sends to a pull request's agent, at most.
    pub autofix_rounds: u32,
    /// GitHub calls main makes for one person per minute, at most (429 beyond).
    pub calls_per_minute: u32,
}

impl Default for GithubConfig {
    fn default() -> Self {
        GithubConfig {
            api_url: "https://api.github.com".into(),
            web_url: "https://github.com".into(),
            client_id: None,
            client_secret: None,
            callback_url: None,
            scopes: "repo read:org".into(),
            webhook_secret: None,
            poll_interval: Duration::from_secs(60),
            autofix_rounds: 3,
            calls_per_minute: 120,
        }
    }
}

/// `[runs]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunsConfig {
    /// How long a run may wait to start (its node offline, the workspace at its limit) before it fails.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub queue_timeout: Duration,
    /// How long main waits for a node to prepare a run's work tree and start its agent.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub start_timeout: Duration,
    /// How long after a run is merged, or its task archived, its work tree is cleaned up (removed only
    /// when nothing would be lost).
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub cleanup_after: Duration,
}

impl Default for RunsConfig {
    fn default() -> Self {
        RunsConfig {
            queue_timeout: Duration::from_secs(24 * 3600),
            start_timeout: Duration::from_secs(600),
            cleanup_after: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Listen host.
    pub host: String,
    /// Listen port.
    pub port: u16,
    /// Host names (besides IP addresses and `localhost`) browsers may reach main by.
    pub allowed_hosts: Vec<String>,
    /// Reverse proxies (addresses or CIDR blocks) whose `X-Forwarded-For` names the client for login limits
    /// and the audit log. Empty: the TCP peer is the client, and the header is ignored.
    pub trusted_proxies: Vec<String>,
    /// Connections open at once, at most; more wait in the listen queue until one closes.
    pub max_connections: usize,
    /// A request's headers must arrive within this, or the connection is closed (slow-header clients).
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub header_timeout: Duration,
    /// An upload that sends nothing for this long is abandoned (408) and changes nothing.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub upload_idle_timeout: Duration,
    /// Live connections (WebSocket and session event streams) one user may hold at once.
    pub live_connections_per_user: usize,
    /// How long a live connection's reader may take nothing it was sent before main cuts it.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub slow_consumer_timeout: Duration,
    /// Changes to workspaces, projects, tasks and comments one user may make per minute (429 beyond).
    pub writes_per_minute: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 4457,
            allowed_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            max_connections: 1024,
            header_timeout: Duration::from_secs(30),
            upload_idle_timeout: Duration::from_secs(60),
            live_connections_per_user: 32,
            slow_consumer_timeout: Duration::from_secs(30),
            writes_per_minute: 600,
        }
    }
}

/// `[ssh]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshConfig {
    /// Listen address for nodes and the admin console.
    pub listen: String,
    /// Host key file; generated on first start. Default: `<database.path>/ssh_host_ed25519_key`.
    pub host_key: Option<PathBuf>,
    /// `host:port` nodes should dial, shown in join commands. Default: the listen address.
    pub public_addr: Option<String>,
    /// `host:port` of the other mains sharing this main's PostgreSQL (standbys): join commands list them
    /// after this main's own address, so nodes fail over to whichever main is active.
    pub failover_addrs: Vec<String>,
    /// Connections that have not finished authenticating, at most; more are closed at once, so idle
    /// or hostile sockets cannot take every slot (each also ends after `tunnel.handshake_timeout`).
    pub max_unauthenticated: usize,
}

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            listen: "0.0.0.0:2222".into(),
            host_key: None,
            public_addr: None,
            failover_addrs: Vec::new(),
            max_unauthenticated: 256,
        }
    }
}

/// `[database]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Directory of main's sled database (and, by default, its host key and secrets key).
    pub path: PathBuf,
    /// PostgreSQL instead of sled: `postgres://user:password@host:5432/dbname`. Several mains on one
    /// database make one active main and standbys. `VIBEBRIDGE_DATABASE_URL` wins over this key (keeps the
    /// password out of the file). Never printed or logged with its password.
    pub url: Option<Secret>,
    /// Connections each main keeps to PostgreSQL.
    pub pool_size: usize,
    /// TLS to PostgreSQL: `disable`, `require` (encrypted, certificate not checked) or `verify-full`.
    pub tls: TlsMode,
    /// PEM file of the CA that signed PostgreSQL's certificate, for `verify-full` (default: the system's).
    pub ca_file: Option<PathBuf>,
    /// How long connecting to PostgreSQL may take.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub connect_timeout: Duration,
    /// With PostgreSQL: how long an active main that stops answering keeps the lead before a standby takes
    /// over (it beats four times a lease, and stops serving itself once a lease passes unanswered).
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub lease: Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            path: PathBuf::from("./data/main"),
            url: None,
            pool_size: 16,
            tls: TlsMode::Disable,
            ca_file: None,
            connect_timeout: Duration::from_secs(10),
            lease: Duration::from_secs(5),
        }
    }
}

impl DatabaseConfig {
    /// The PostgreSQL URL, from `VIBEBRIDGE_DATABASE_URL` or `database.url`; `None`: sled.
    pub fn postgres_url(&self) -> Option<Secret> {
        std::env::var("VIBEBRIDGE_DATABASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .map(Secret::new)
            .or_else(|| self.url.clone())
    }

    /// How to reach PostgreSQL, when a URL is set.
    pub fn postgres(&self) -> Option<PgOptions> {
        self.postgres_url().map(|url| PgOptions {
            url: url.expose().to_string(),
            pool_size: self.pool_size,
            tls: self.tls,
            ca_file: self.ca_file.clone(),
            connect_timeout: self.connect_timeout,
        })
    }

    /// Opens the store this section names: PostgreSQL when a URL is set, sled under `path` otherwise.
    pub fn open_store(&self) -> anyhow::Result<Store> {
        match self.postgres() {
            Some(opts) => Store::on(Backend::postgres(&opts)?),
            None => Store::open(&self.path.join("db")),
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 signing secret; generated and persisted in the database when omitted.
    pub jwt_secret: Option<Secret>,
    /// Lifetime of an access token (cookie `vb_access`).
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub access_ttl: Duration,
    /// Lifetime of a login session / refresh token (cookie `vb_refresh`).
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub refresh_ttl: Duration,
    /// Mark cookies `Secure` (set when main is served over HTTPS).
    pub secure_cookies: bool,
    /// Login attempts allowed per minute, per client address (IPv6: per /64) and per username.
    pub login_attempts_per_minute: u32,
    /// Password hashes (Argon2, ~19 MiB and tens of milliseconds of CPU each) main runs at once; a login or
    /// sign-up that finds them all busy for a second gets 503 `server_busy`.
    pub max_concurrent_password_hashes: u32,
    /// Default lifetime of one-time node register tokens.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub node_token_ttl: Duration,
    /// OpenSSH public key lines that may open the admin console (`ssh main -p 2222`) as the creator, to
    /// bootstrap before anyone has registered a key through the API.
    pub admin_keys: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            jwt_secret: None,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            secure_cookies: false,
            login_attempts_per_minute: 10,
            max_concurrent_password_hashes: 4,
            node_token_ttl: Duration::from_secs(3600),
            admin_keys: Vec::new(),
        }
    }
}

/// `[main]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MainSection {
    /// Long-lived register tokens; nodes enrolled with them belong to the creator.
    pub node_register_tokens: Vec<Secret>,
}

impl MainConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> anyhow::Result<MainConfig> {
        vibebridge_tunnel::config::load_file(path, MainConfig::validate)
    }

    /// Checks values; each message names the key and what to do.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.runs.queue_timeout.is_zero() || self.runs.start_timeout.is_zero() {
            bail!(
                "runs.queue_timeout and runs.start_timeout must be greater than zero, e.g. \"24h\" and \"10m\""
            );
        }
        if self.server.max_connections == 0 {
            bail!(
                "server.max_connections is 0; set it to the number of browser connections to allow, e.g. 1024"
            );
        }
        for (key, d) in [
            ("server.header_timeout", self.server.header_timeout),
            (
                "server.upload_idle_timeout",
                self.server.upload_idle_timeout,
            ),
        ] {
            if d.is_zero() {
                bail!("{key} is 0; set a duration such as \"30s\"");
            }
        }
        if self.server.host.parse::<std::net::IpAddr>().is_err() && self.server.host != "localhost"
        {
            bail!(
                "server.host {:?} is not an IP address (e.g. \"127.0.0.1\" or \"0.0.0.0\")",
                self.server.host
            );
        }
        for (i, name) in self.server.allowed_hosts.iter().enumerate() {
            let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
            if name.is_empty() || !name.chars().all(plain) {
                bail!(
                    "server.allowed_hosts[{i}] {name:?} is not a host name; write the bare name users \
                     type, without scheme or port, e.g. \"vibebridge.example.com\""
                );
            }
        }
        crate::auth::client_ip::TrustedProxies::parse(&self.server.trusted_proxies)
            .map_err(anyhow::Error::msg)?;
        if !(1..=10_000).contains(&self.server.live_connections_per_user) {
            bail!(
                "server.live_connections_per_user is {}; use a value between 1 and 10000 (a browser tab holds one)",
                self.server.live_connections_per_user
            );
        }
        if self.server.slow_consumer_timeout < Duration::from_secs(1) {
            bail!(
                "server.slow_consumer_timeout must be at least \"1s\"; a reader that takes nothing for that long is cut"
            );
        }
        if self.ssh.listen.parse::<SocketAddr>().is_err() {
            bail!(
                "ssh.listen {:?} is not a socket address (e.g. \"0.0.0.0:2222\")",
                self.ssh.listen
            );
        }
        if self.database.path.as_os_str().is_empty() {
            bail!(
                "database.path is empty; set it to a directory main may write, e.g. \"/var/lib/vibebridge\""
            );
        }
        if let Some(url) = self.database.postgres_url() {
            let u = url.expose();
            if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
                bail!(
                    "database.url must be a PostgreSQL URL like \"postgres://user:password@host:5432/dbname\" \
                     (omit it to keep main's database in sled under database.path)"
                );
            }
        }
        if self.database.lease < Duration::from_secs(2) {
            bail!("database.lease must be at least \"2s\": a main beats four times a lease");
        }
        if !(1..=1000).contains(&self.database.pool_size) {
            bail!("database.pool_size must be 1 to 1000 connections");
        }
        if let Some(s) = &self.auth.jwt_secret
            && s.expose().len() < 32
        {
            bail!(
                "auth.jwt_secret is shorter than 32 characters; use a long random string or omit it to have one generated"
            );
        }
        for (i, k) in self.auth.admin_keys.iter().enumerate() {
            if let Err(e) = vibebridge_tunnel::keys::parse_public(k) {
                bail!(
                    "auth.admin_keys[{i}] is not an OpenSSH public key line ({e:#}); paste the contents of a \
                     .pub file, e.g. \"ssh-ed25519 AAAA… you@laptop\""
                );
            }
        }
        for (i, t) in self.main.node_register_tokens.iter().enumerate() {
            if t.expose().len() < 16 {
                bail!(
                    "main.node_register_tokens[{i}] is shorter than 16 characters; use a long random string"
                );
            }
        }
        if self.auth.access_ttl.is_zero() || self.auth.refresh_ttl < self.auth.access_ttl {
            bail!("auth.access_ttl must be > 0 and auth.refresh_ttl at least as long");
        }
        if self.server.writes_per_minute == 0 {
            bail!("server.writes_per_minute must be at least 1");
        }
        if self.auth.login_attempts_per_minute == 0 {
            bail!("auth.login_attempts_per_minute must be at least 1");
        }
        if !(1..=256).contains(&self.auth.max_concurrent_password_hashes) {
            bail!(
                "auth.max_concurrent_password_hashes must be 1 to 256 (about the number of CPU cores main may \
                 spend on logins)"
            );
        }
        self.tunnel.validate().map_err(anyhow::Error::msg)?;
        self.github.validate()?;
        self.notifications.validate()?;
        Ok(())
    }

    /// The secrets key file.
    pub fn secrets_key_path(&self) -> PathBuf {
        self.secrets
            .key_file
            .clone()
            .unwrap_or_else(|| self.database.path.join("secrets.key"))
    }

    /// The host key file.
    pub fn host_key_path(&self) -> PathBuf {
        self.ssh
            .host_key
            .clone()
            .unwrap_or_else(|| self.database.path.join("ssh_host_ed25519_key"))
    }
}

impl GithubConfig {
    fn validate(&self) -> anyhow::Result<()> {
        for (key, url) in [
            ("github.api_url", &self.api_url),
            ("github.web_url", &self.web_url),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.ends_with('/') {
                bail!(
                    "{key} {url:?} is not a base URL; write it with scheme and without a trailing slash, \
                     e.g. \"https://api.github.com\" or \"https://github.example.com/api/v3\""
                );
            }
        }
        if let Some(cb) = &self.callback_url
            && !(cb.starts_with("https://") || cb.starts_with("http://"))
        {
            bail!(
                "github.callback_url {cb:?} must be a full URL ending in /api/v1/github/callback"
            );
        }
        for (key, value) in [
            ("github.client_secret", &self.client_secret),
            ("github.webhook_secret", &self.webhook_secret),
        ] {
            if let Some(v) = value
                && !v.starts_with("v1.")
            {
                bail!(
                    "{key} is not sealed; secrets are never kept in plain text: run `vibebridge seal-secret \
                     {key} --config <this file>` and paste the value it prints (or set it in the environment \
                     instead)"
                );
            }
        }
        if self.client_secret.is_some() && self.client_id.is_none() {
            bail!(
                "github.client_secret is set without github.client_id; set both (the OAuth app's)"
            );
        }
        if self.poll_interval < Duration::from_secs(1) {
            bail!("github.poll_interval must be at least \"1s\"");
        }
        if self.autofix_rounds > 20 {
            bail!(
                "github.autofix_rounds is {}; use 0 to 20",
                self.autofix_rounds
            );
        }
        if self.calls_per_minute == 0 {
            bail!("github.calls_per_minute must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// Proves any text given as main's config is accepted or refused with a message, never a panic.
        #[test]
        fn main_config_text(text in prop_oneof![
            ".{0,200}",
            r#"\[(server|ssh|database|auth|main|tunnel)\]\n[a-z_]{1,24} = ("[a-z0-9/.: ]{0,16}"|[0-9]{1,22}|true|\["[0-9./a-z:]{0,20}"\])\n"#,
        ]) {
            if let Ok(cfg) = vibebridge_tunnel::config::parse_toml::<super::MainConfig>(&text, "main.toml") {
                let _ = cfg.validate();
            }
        }
    }
}

//! `AppState`: what every front end (HTTP handlers, the console, the SSH endpoint) and every operation in
//! [`crate::ops`] works on: config, store, node registry, session hub and the shared limits.

use std::sync::Arc;

use crate::config::MainConfig;
use crate::registry::NodeRegistry;
use crate::store::Store;
use crate::{auth, hub, quota};

/// Shared state behind every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The validated config.
    pub config: Arc<MainConfig>,
    /// Active or standby, and how this main hears from its database.
    pub standing: Arc<crate::leader::Standing>,
    /// The database.
    pub store: Store,
    /// Token signing.
    pub jwt: Arc<auth::jwt::Jwt>,
    /// Connected nodes.
    pub registry: NodeRegistry,
    /// Login and sign-up attempts.
    pub login_limiter: Arc<auth::ratelimit::RateLimiter>,
    /// `server.trusted_proxies`, parsed: whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<auth::client_ip::TrustedProxies>,
    /// The global bound on concurrent password hashes.
    pub password_gate: Arc<auth::password::HashGate>,
    /// `SHA256:…` of main's SSH host key.
    pub host_key_fingerprint: String,
    /// `host:port` nodes dial, for join commands.
    pub ssh_public_addr: Arc<std::sync::RwLock<String>>,
    /// The session hub: attach tasks to nodes and live subscribers of agent sessions.
    pub hub: hub::SessionHub,
    /// When this main started (for `status`).
    pub started_at: std::time::Instant,
    /// Failed SSH authentications, per source address.
    pub ssh_limiter: Arc<auth::ratelimit::RateLimiter>,
    /// Required to create the first account from anywhere but this machine; new at every start and
    /// printed then, so a fresh main reachable from outside cannot be claimed by whoever comes first.
    pub setup_code: Arc<String>,
    /// Each user's share of each node's streams for file transfers.
    pub stream_shares: Arc<quota::StreamShares>,
    /// Imports being read at once (each may hold its whole file, up to 512 MiB, in memory).
    pub import_gate: Arc<tokio::sync::Semaphore>,
    /// Changes to the work model, per user (`server.writes_per_minute`).
    pub write_limiter: Arc<auth::ratelimit::RateLimiter>,
    /// Live connections (WebSocket, SSE) per user.
    pub live: Arc<quota::LiveConnections>,
    /// GitHub: the API, the OAuth app and the sealer for tokens at rest.
    pub github: Arc<crate::github::Github>,
    /// Notifications: the VAPID key, push and webhook HTTP, what browser tabs show.
    pub notify: Arc<crate::notify::Notifier>,
}

impl AppState {
    /// The one-line command that joins a machine to this main with `token`.
    pub fn join_command(&self, token: &str) -> String {
        let addr = self
            .ssh_public_addr
            .read()
            .map(|a| a.clone())
            .unwrap_or_default();
        let others: String = self
            .config
            .ssh
            .failover_addrs
            .iter()
            .filter(|a| **a != addr)
            .map(|a| format!(" --main {a}"))
            .collect();
        format!(
            "vibebridge-agent run --main {addr}{others} --main-host-key {} --register-token {token} --root \"$PWD\"",
            self.host_key_fingerprint
        )
    }
}

//! VibeBridge main: the browser-facing server. HTTP API and UI (axum), users and auth, the sled store, the
//! node registry, and the SSH endpoint nodes dial into.
//!
//! Entry point: [`serve`] (or [`Main::open`] + [`Main::serve`] when the caller needs the host key or a join
//! token first, as `vibebridge up` and the tests do).
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod config;
pub mod console;
pub mod github;
pub mod hostkey;
pub mod http;
pub mod hub;
pub mod import;
pub mod leader;
pub mod notify;
pub mod ops;
pub mod quota;
pub mod registry;
pub mod rotate;
pub mod secrets;
pub mod sshd;
pub mod standby;
pub mod state;
pub mod store;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use vibebridge_tunnel::keys;

pub use config::MainConfig;
pub use registry::{NodeEvent, NodeRegistry};
pub use state::AppState;
pub use store::Store;

/// How long a login or sign-up waits for a password-hash slot before it is answered 503 `server_busy`.
const PASSWORD_HASH_WAIT: Duration = Duration::from_secs(1);

/// Imports main reads at once; each may hold its file (up to 512 MiB) in memory, so more wait their turn.
const IMPORTS_AT_ONCE: usize = 2;

/// The sockets main serves on, bound by the caller (so tests can bind port 0 and know the address).
pub struct Listeners {
    /// HTTP API and UI.
    pub http: TcpListener,
    /// SSH endpoint for nodes.
    pub ssh: TcpListener,
}

impl Listeners {
    /// Both listeners, borrowed (HTTP, SSH).
    fn pair(&self) -> (&TcpListener, &TcpListener) {
        (&self.http, &self.ssh)
    }

    /// Binds both listeners from the config.
    pub async fn bind(config: &MainConfig) -> anyhow::Result<Listeners> {
        let http_addr = format!("{}:{}", config.server.host, config.server.port);
        let http = TcpListener::bind(&http_addr)
            .await
            .with_context(|| format!("binding HTTP on {http_addr} (server.host/server.port)"))?;
        let ssh = TcpListener::bind(&config.ssh.listen)
            .await
            .with_context(|| format!("binding SSH on {} (ssh.listen)", config.ssh.listen))?;
        Ok(Listeners { http, ssh })
    }
}

/// How long a stopping main waits for its live connections to end.
const LIVE_DRAIN: Duration = Duration::from_secs(5);

/// A ready-to-serve main: store open, host key loaded.
pub struct Main {
    state: AppState,
    host_key: russh::keys::PrivateKey,
}

impl Main {
    /// Opens the store and host key (creating both on first start) and resolves the JWT secret.
    pub fn open(config: MainConfig) -> anyhow::Result<Main> {
        config.validate()?;
        std::fs::create_dir_all(&config.database.path).with_context(|| {
            format!("creating database.path {}", config.database.path.display())
        })?;
        let store = config.database.open_store()?;
        // The database holds the JWT secret and password hashes: 0700/0600 whatever the umask.
        keys::secure_state_dir(&config.database.path)?;
        let secret = match &config.auth.jwt_secret {
            Some(s) => s.expose().to_string(),
            None => store.meta_secret("jwt_secret", || keys::random_hex(32))?,
        };
        let public_addr = config
            .ssh
            .public_addr
            .clone()
            .unwrap_or_else(|| config.ssh.listen.clone());
        let sealer = Arc::new(secrets::Sealer::load(&config.secrets_key_path())?);
        let host_key = hostkey::load(&config, &store, &sealer)?;
        let standing = leader::Standing::new(
            format!(
                "{} (pid {})",
                vibebridge_tunnel::runtime::hostname(),
                std::process::id()
            ),
            &store,
        );
        let notify = Arc::new(notify::Notifier::new(&config, &store, sealer.clone())?);
        let github = Arc::new(github::Github::new(&config, sealer)?);
        let registry = NodeRegistry::default();
        let state = AppState {
            started_at: std::time::Instant::now(),
            live: quota::LiveConnections::new(config.server.live_connections_per_user),
            ssh_limiter: Arc::new(auth::ratelimit::RateLimiter::new(
                config.auth.login_attempts_per_minute,
                Duration::from_secs(60),
            )),
            hub: hub::SessionHub::new(
                store.clone(),
                registry.clone(),
                config.tunnel.max_frame_bytes,
                CancellationToken::new(),
            ),
            import_gate: Arc::new(tokio::sync::Semaphore::new(IMPORTS_AT_ONCE)),
            write_limiter: Arc::new(auth::ratelimit::RateLimiter::new(
                config.server.writes_per_minute,
                Duration::from_secs(60),
            )),
            login_limiter: Arc::new(auth::ratelimit::RateLimiter::new(
                config.auth.login_attempts_per_minute,
                Duration::from_secs(60),
            )),
            trusted_proxies: Arc::new(
                auth::client_ip::TrustedProxies::parse(&config.server.trusted_proxies)
                    .map_err(anyhow::Error::msg)?,
            ),
            password_gate: Arc::new(auth::password::HashGate::new(
                usize::try_from(config.auth.max_concurrent_password_hashes).unwrap_or(1),
                PASSWORD_HASH_WAIT,
            )),
            github,
            notify,
            config: Arc::new(config),
            standing,
            store,
            jwt: Arc::new(auth::jwt::Jwt::new(&secret)),
            registry,
            host_key_fingerprint: keys::fingerprint(host_key.public_key()),
            ssh_public_addr: Arc::new(std::sync::RwLock::new(public_addr)),
            stream_shares: Arc::default(),
            setup_code: Arc::new(format!(
                "{}-{}-{}",
                keys::random_hex(3),
                keys::random_hex(3),
                keys::random_hex(3)
            )),
        };
        Ok(Main { state, host_key })
    }

    /// The shared state (store, registry) for callers that embed main.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// `SHA256:…` of the SSH host key, for node pins.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.state.host_key_fingerprint
    }

    /// Sets the address shown in join commands (e.g. once the SSH port is known).
    pub fn set_ssh_public_addr(&self, addr: String) {
        if let Ok(mut a) = self.state.ssh_public_addr.write() {
            *a = addr;
        }
    }

    /// A one-time register token owned by the creator, valid for `ttl`.
    pub fn create_node_token(&self, ttl: Duration) -> anyhow::Result<String> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let (token, record) = self.state.store.create_node_token(None, ttl_ms)?;
        self.state.store.audit(
            ops::Actor::system()
                .audit(store::AuditAction::NodeTokenCreated)
                .target(record.id)
                .detail("created at startup"),
        );
        Ok(token)
    }

    /// Serves HTTP and SSH until `shutdown` is cancelled, then closes every link and flushes the store. On
    /// PostgreSQL main stands by until it holds the lead, and stands by again (with its state opened anew)
    /// whenever it loses it: its lease ran out, its database went away.
    pub async fn serve(
        self,
        listeners: Listeners,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut main = self;
        loop {
            let (config, standing) = (main.state.config.clone(), main.state.standing.clone());
            if !main.serve_lead(&listeners, &shutdown).await? {
                return Ok(());
            }
            tracing::warn!(main = %standing.main_id, "this main lost the lead and stopped serving; it stands by again");
            match reopen(&config, &listeners, standing, &shutdown).await {
                Some(next) => main = next,
                None => return Ok(()),
            }
        }
    }

    /// Serves while this main holds the lead; `true` when it lost it (rather than being shut down).
    async fn serve_lead(
        self,
        listeners: &Listeners,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<bool> {
        let Main { state, host_key } = self;
        let http_addr = listeners.http.local_addr()?;
        let ssh_addr = listeners.ssh.local_addr()?;
        // On PostgreSQL: a standby until this main holds the lead; serving ends when it loses it.
        let outer = shutdown;
        let Some(lead) = stand_by(&state, listeners, outer).await? else {
            return Ok(false);
        };
        let shutdown = outer.child_token();
        if let Some(lead) = &lead {
            let (lost, serving) = (lead.lost(), shutdown.clone());
            tokio::spawn(async move {
                lost.cancelled().await;
                serving.cancel();
            });
        }
        tracing::info!(%http_addr, %ssh_addr, host_key = %state.host_key_fingerprint, "main listening");
        if !state.store.has_users().unwrap_or(true) {
            // On the terminal only, never in the log: whoever reads it may claim this main.
            eprintln!(
                "\n  No account yet. The first account can be created from this machine, or from elsewhere \
                 with the setup code {}\n",
                state.setup_code
            );
        }
        let app = api::router(state.clone());
        let http = http::serve(&listeners.http, app, &state.config.server, shutdown.clone());
        tokio::spawn(state.hub.clone().run());
        // Both end with the hub; main's store is not closed before they have.
        let runs = [
            tokio::spawn(ops::runs::track::run(state.clone())),
            tokio::spawn(ops::runs::queue::run(state.clone())),
            tokio::spawn(ops::github::follow::run(state.clone())),
            tokio::spawn(ops::notify::watch::run(state.clone())),
            tokio::spawn(ops::notify::deliver::run(state.clone())),
        ];
        let hub = state.hub.clone();
        let hub_shutdown = shutdown.clone();
        tokio::spawn(async move {
            hub_shutdown.cancelled().await;
            hub.stop();
        });
        let ssh = async {
            let ended = sshd::run(&listeners.ssh, state.clone(), host_key, shutdown.clone()).await;
            state.registry.disconnect_all();
            ended
        };
        // Each connection has a task of its own; these two futures only accept.
        let (ssh_result, ()) = tokio::join!(ssh, http);
        for task in runs {
            let _ = task.await;
        }
        // Pushes and webhook attempts in flight end with the hub; none writes to the store after this.
        state.notify.tasks.close();
        state.notify.tasks.wait().await;
        // Live connections end with the hub; their tasks are the upgrades', which the HTTP drain does not
        // wait for. Bounded: a stuck one must not stop main from stopping.
        if tokio::time::timeout(LIVE_DRAIN, state.live.all_closed())
            .await
            .is_err()
        {
            tracing::warn!("live connections still open after {LIVE_DRAIN:?}; stopping anyway");
        }
        state.store.flush()?;
        ssh_result?;
        Ok(lead.is_some_and(|l| l.lost().is_cancelled()) && !outer.is_cancelled())
    }
}

/// Opens main's state anew after it lost the lead, trying again every [`leader::POLL`] while the database is
/// unreachable, with the standby face up meanwhile. `None`: shut down first.
async fn reopen(
    config: &Arc<MainConfig>,
    listeners: &Listeners,
    standing: Arc<leader::Standing>,
    shutdown: &CancellationToken,
) -> Option<Main> {
    let open = async {
        let mut said = false;
        loop {
            let c = (**config).clone();
            match tokio::task::spawn_blocking(move || Main::open(c)).await {
                Ok(Ok(main)) => break Some(main),
                Ok(Err(e)) if !said => {
                    tracing::warn!("cannot open main's state again: {e:#}; retrying");
                    said = true;
                }
                _ => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => break None,
                _ = tokio::time::sleep(leader::POLL) => {}
            }
        }
    };
    standby::while_standing_by(listeners.pair(), standing, &config.server, open).await
}

/// On PostgreSQL, serves the standby face (see [`standby`]) until this main wins the lead: `Some(Some(lead))`;
/// on sled there is nothing to win: `Some(None)`. `None`: shut down while standing by.
async fn stand_by(
    state: &AppState,
    listeners: &Listeners,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Option<leader::Lead>>> {
    let store::kv::Backend::Postgres(pg) = state.store.backend() else {
        return Ok(Some(None));
    };
    tracing::info!(main = %state.standing.main_id, db = %state.store.describe(), "standing by for the lead");
    let campaign = leader::campaign(
        pg,
        &state.store,
        &state.standing,
        state.config.database.lease,
        shutdown,
    );
    let standing = state.standing.clone();
    let lead =
        standby::while_standing_by(listeners.pair(), standing, &state.config.server, campaign)
            .await;
    Ok(lead?.map(Some))
}

/// Runs main with `config` on `listeners` until `shutdown`.
pub async fn serve(
    config: MainConfig,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    Main::open(config)?.serve(listeners, shutdown).await
}

//! VibeBridge agent: the node side. Dials out to main over SSH ([`link`]), keeps the tunnel alive, and
//! serves the streams main opens ([`streams`], after the node's [`policy`] admits them): agent sessions
//! driving the `claude` and `codex` CLIs with their events in an append-only store on disk
//! ([`sessions`]), web terminals on PTYs ([`terminals`]), file operations inside the roots ([`fs`]),
//! git operations on work trees inside the roots ([`git`]), and echo diagnostics. A local health
//! endpoint says how the link is ([`health`]).
//!
//! Entry point: [`run`], or [`Agent::start`] when the caller wants to watch the link status.
#![forbid(unsafe_code)]

pub mod config;
pub mod fs;
pub mod git;
pub mod health;
pub mod identity;
pub mod link;
pub mod policy;
pub mod providers;
pub mod roots;

/// The environment variable `vibebridge-agent run` reads the register token from; removed from the
/// environment of every shell and CLI the agent starts.
pub const REGISTER_TOKEN_ENV: &str = "VIBEBRIDGE_REGISTER_TOKEN";
pub mod run_as;
pub mod runs;
pub mod sessions;
pub mod streams;
pub mod terminals;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::NodeConfig;
pub use identity::Identity;
pub use link::{LinkState, LinkStatus};

/// A running agent.
pub struct Agent {
    /// Who the node is.
    pub identity: Identity,
    status: watch::Receiver<LinkStatus>,
    tasks: Vec<JoinHandle<()>>,
}

impl Agent {
    /// Loads the identity and starts the link (and the health endpoint, if `health` is given).
    pub fn start(
        config: NodeConfig,
        health: Option<TcpListener>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Agent> {
        config.validate()?;
        let identity = Identity::load(&config)?;
        let mut config = config;
        config.execution.user = config
            .execution
            .run_as
            .as_deref()
            .map(run_as::RunAs::resolve)
            .transpose()?;
        // The node's own state (key, databases, transcripts) is never reachable through its APIs,
        // even when database.path lies inside a root.
        config
            .filesystem
            .protected
            .push(config.database.path.clone());
        // Run worktrees are reachable like a root: the run's session, terminal, file and git views work there.
        let worktrees = config.worktrees_root();
        if !config
            .filesystem
            .roots
            .iter()
            .any(|r| worktrees.starts_with(r))
        {
            std::fs::create_dir_all(&worktrees).map_err(|e| {
                anyhow::anyhow!(
                    "creating worktrees.root {}: {e}; create it or set worktrees.root",
                    worktrees.display()
                )
            })?;
            config.filesystem.roots.push(worktrees.canonicalize()?);
        }
        let shared = std::sync::Arc::new(config.clone());
        let sessions = sessions::Sessions::open(shared.clone(), shutdown.child_token())?;
        // Once, after the session store exists, so its files are covered too.
        vibebridge_tunnel::keys::secure_state_dir(&config.database.path)?;
        let terminals = terminals::Terminals::new(shared.clone());
        let services = streams::Services {
            sessions: sessions.clone(),
            terminals: terminals.clone(),
            config: shared,
        };
        let (tx, rx) = watch::channel(LinkStatus {
            state: LinkState::Connecting,
            last_error: None,
        });
        let mut tasks = Vec::new();
        if let Some(listener) = health {
            let (id, status, stop) = (identity.node_id.clone(), rx.clone(), shutdown.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = health::serve(listener, id, status, stop).await {
                    tracing::error!("health endpoint failed: {e}");
                }
            }));
        }
        tasks.push(tokio::spawn(link::run(
            config,
            identity.clone(),
            tx,
            shutdown.clone(),
            services,
        )));
        // Sessions and terminals end with the agent: CLIs and shells are killed and the store flushed.
        tasks.push(tokio::spawn(async move {
            shutdown.cancelled().await;
            terminals.shutdown();
            sessions.shutdown().await;
        }));
        Ok(Agent {
            identity,
            status: rx,
            tasks,
        })
    }

    /// Watches the link status.
    pub fn status(&self) -> watch::Receiver<LinkStatus> {
        self.status.clone()
    }

    /// Waits for the agent's tasks to finish (after shutdown).
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Runs the agent until `shutdown`, with the health endpoint from the config.
pub async fn run(config: NodeConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let health = if config.server.port == 0 {
        None
    } else {
        let addr = format!("{}:{}", config.server.host, config.server.port);
        Some(TcpListener::bind(&addr).await.map_err(|e| {
            anyhow::anyhow!("binding health endpoint {addr} (server.host/server.port): {e}")
        })?)
    };
    let agent = Agent::start(config, health, shutdown)?;
    agent.join().await;
    Ok(())
}

#[cfg(test)]
mod proptests;

//! The link to main: dial, hello, heartbeats, serve streams; on any failure back off and dial again.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use vibebridge_tunnel::backoff::Backoff;
use vibebridge_tunnel::client::{self, ConnectError, Connected, Dial};
use vibebridge_tunnel::frame::{read_frame, write_frame};
use vibebridge_tunnel::mux::{self, Mode};
use vibebridge_tunnel::protocol::{self, ControlFrame, Hello, Open};
use vibebridge_tunnel::reply::ErrorCode;

use crate::config::NodeConfig;
use crate::identity::Identity;

/// Where the link stands; shown by the health endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Dialling or handshaking.
    Connecting,
    /// Hello accepted; heartbeating.
    Connected,
    /// Waiting before the next attempt after a network failure.
    Backoff,
    /// Main refused our key or token (or we were revoked); retrying slowly.
    AuthFailed,
    /// Main's host key is not the trusted one; retrying slowly.
    HostKeyMismatch,
    /// Main speaks another protocol version; retrying slowly.
    VersionMismatch,
    /// Shut down.
    Stopped,
}

/// The link state and the last error, if any.
#[derive(Debug, Clone, Serialize)]
pub struct LinkStatus {
    /// Current state.
    pub state: LinkState,
    /// What went wrong last, with what to do.
    pub last_error: Option<String>,
}

/// Why a connected session ended.
enum SessionEnd {
    /// The network or main went away: retry with the normal backoff.
    Dropped(String),
    /// Main refused the hello: retry slowly.
    Refused { code: ErrorCode, message: String },
    /// We are shutting down.
    Shutdown,
}

/// Runs the reconnect loop until `shutdown`.
pub async fn run(
    config: NodeConfig,
    identity: Identity,
    status: watch::Sender<LinkStatus>,
    shutdown: CancellationToken,
    services: crate::streams::Services,
) {
    let mains = config.mains();
    let mut turn = 0usize;
    let mut dial = Dial {
        addr: mains[0].clone(),
        node_id: identity.node_id.clone(),
        key: identity.key.clone(),
        register_token: config
            .node
            .register_token
            .as_ref()
            .map(|t| t.expose().to_string()),
        host_key: identity.host_key.clone(),
        tunnel: config.tunnel.clone(),
    };
    let r = &config.reconnect;
    let mut backoff = Backoff::new(r.min, r.max);
    let mut auth_backoff = Backoff::new(r.auth_failure_min, r.auth_failure_max);
    let set = |state, last_error: Option<String>| {
        status.send_modify(|s| {
            s.state = state;
            if last_error.is_some() {
                s.last_error = last_error;
            }
        })
    };
    loop {
        set(LinkState::Connecting, None);
        dial.addr = mains[turn % mains.len()].clone();
        let delay = match client::connect(&dial).await {
            Ok(conn) => {
                if conn.enrolled {
                    tracing::info!(node.id = %identity.node_id, "enrolled with main; the register token is no longer needed");
                }
                auth_backoff.reset();
                let started = Instant::now();
                let end = session(conn, &config, &identity, &status, &shutdown, &services).await;
                if started.elapsed() >= r.stable_after {
                    backoff.reset();
                }
                match end {
                    SessionEnd::Shutdown => break,
                    SessionEnd::Dropped(reason) => {
                        tracing::warn!(%reason, "link to main dropped; reconnecting");
                        set(LinkState::Backoff, Some(reason));
                        backoff.next_delay()
                    }
                    SessionEnd::Refused { code, message } => {
                        tracing::error!(%code, "main refused this node: {message}");
                        let state = if code == ErrorCode::VersionMismatch {
                            LinkState::VersionMismatch
                        } else {
                            LinkState::AuthFailed
                        };
                        set(state, Some(message));
                        auth_backoff.next_delay()
                    }
                }
            }
            Err(e) => {
                let message = e.to_string();
                if e.is_auth() {
                    tracing::error!("cannot link to main: {message}");
                    let state = match e {
                        ConnectError::HostKeyMismatch { .. } => LinkState::HostKeyMismatch,
                        _ => LinkState::AuthFailed,
                    };
                    set(state, Some(message));
                    auth_backoff.next_delay()
                } else {
                    tracing::warn!("cannot link to main: {message}");
                    set(LinkState::Backoff, Some(message));
                    backoff.next_delay()
                }
            }
        };
        // The next attempt goes to the next main (a standby that took over answers there); with one main
        // this is the same address again.
        turn = turn.wrapping_add(1);
        tracing::debug!(?delay, next = %mains[turn % mains.len()], "next attempt");
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
    set(LinkState::Stopped, None);
}

async fn hello(config: &NodeConfig, identity: &Identity) -> Hello {
    let providers = crate::providers::detect(config).await;
    let mut capabilities = if config.node.capabilities.is_empty() {
        vec!["shell".to_string(), "fs".into(), "git".into()]
    } else {
        config.node.capabilities.clone()
    };
    if config.node.capabilities.is_empty() {
        capabilities.extend(providers.iter().map(|p| p.name.clone()));
    }
    Hello {
        protocol_version: protocol::PROTOCOL_VERSION,
        node_id: identity.node_id.clone().into(),
        name: identity.name.clone(),
        hostname: vibebridge_tunnel::runtime::hostname(),
        os: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
        labels: config.node.labels.clone(),
        capabilities,
        providers,
        agent_version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// The heartbeat interval for a link: ours, or main's when main expects heartbeats more often, since main
/// drops a link that stays silent for its own `tunnel.dead_after`.
fn heartbeat_interval(ours: Duration, mains_ms: Option<u64>) -> Duration {
    match mains_ms.map(Duration::from_millis) {
        Some(mains) if !mains.is_zero() && mains < ours => {
            tracing::info!(
                ours = ?ours,
                mains = ?mains,
                "main expects heartbeats more often than tunnel.heartbeat_interval; following main"
            );
            mains
        }
        _ => ours,
    }
}

/// One connected session: hello, then heartbeats and stream serving until something ends it.
async fn session(
    conn: Connected,
    config: &NodeConfig,
    identity: &Identity,
    status: &watch::Sender<LinkStatus>,
    shutdown: &CancellationToken,
    services: &crate::streams::Services,
) -> SessionEnd {
    let cfg = &config.tunnel;
    let Connected {
        session: ssh, io, ..
    } = conn;
    let (mux, mut inbound) = mux::spawn(io, Mode::Client, cfg);
    let end = async {
        let control = mux.open(&Open::Control).await.map_err(|e| SessionEnd::Dropped(format!("opening control stream: {e}")))?;
        let (mut rd, mut wr) = tokio::io::split(control);
        let hello = hello(config, identity).await;
        write_frame(&mut wr, &ControlFrame::Hello(hello), cfg.max_frame_bytes)
            .await
            .map_err(|e| SessionEnd::Dropped(format!("sending hello: {e}")))?;
        let reply = tokio::time::timeout(cfg.handshake_timeout, read_frame::<ControlFrame, _>(&mut rd, cfg.max_frame_bytes))
            .await
            .map_err(|_| SessionEnd::Dropped("main did not answer the hello".into()))?;
        let heartbeat_interval = match reply {
            Ok(Some(ControlFrame::Welcome { protocol_version, main_version, heartbeat_interval_ms })) => {
                if let Err(message) = protocol::check_version(("node", &format!("agent {}", env!("CARGO_PKG_VERSION"))), ("main", protocol_version, &format!("main {main_version}"))) {
                    return Err(SessionEnd::Refused { code: ErrorCode::VersionMismatch, message });
                }
                heartbeat_interval(cfg.heartbeat_interval, heartbeat_interval_ms)
            }
            Ok(Some(ControlFrame::Refused { code, message })) => return Err(SessionEnd::Refused { code, message }),
            Ok(other) => return Err(SessionEnd::Dropped(format!("unexpected answer to hello: {other:?}"))),
            Err(e) => return Err(SessionEnd::Dropped(format!("reading welcome: {e}"))),
        };
        status.send_modify(|s| {
            s.state = LinkState::Connected;
            s.last_error = None;
        });
        tracing::info!(node.id = %identity.node_id, "linked to main");

        // Frames from main arrive through a reader task so the loop below never cancels a read mid-frame.
        let (frames_tx, mut frames) = mpsc::channel(16);
        let max = cfg.max_frame_bytes;
        tokio::spawn(async move {
            loop {
                let frame = read_frame::<ControlFrame, _>(&mut rd, max).await;
                let stop = !matches!(frame, Ok(Some(_)));
                if frames_tx.send(frame).await.is_err() || stop {
                    break;
                }
            }
        });

        // Stream tasks belong to this link: when it ends they are aborted, so none outlives its tunnel.
        let mut streams = tokio::task::JoinSet::new();
        let mut ticker = tokio::time::interval(heartbeat_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seq = 0u64;
        let mut last_heard = tokio::time::Instant::now();
        let result = loop {
            let dead_at = last_heard + cfg.dead_after;
            tokio::select! {
                _ = shutdown.cancelled() => break SessionEnd::Shutdown,
                _ = mux.closed() => break SessionEnd::Dropped("tunnel closed".into()),
                _ = tokio::time::sleep_until(dead_at) => break SessionEnd::Dropped(format!("no answer from main for {:?}", cfg.dead_after)),
                _ = ticker.tick() => {
                    seq += 1;
                    if let Err(e) = write_frame(&mut wr, &ControlFrame::Heartbeat { seq }, max).await {
                        break SessionEnd::Dropped(format!("sending heartbeat: {e}"));
                    }
                }
                frame = frames.recv() => match frame {
                    Some(Ok(Some(ControlFrame::HeartbeatAck { .. }))) => last_heard = tokio::time::Instant::now(),
                    Some(Ok(Some(other))) => tracing::debug!(frame = ?other, "ignoring control frame"),
                    Some(Ok(None)) | None => break SessionEnd::Dropped("main closed the control stream".into()),
                    Some(Err(e)) => break SessionEnd::Dropped(format!("control stream: {e}")),
                },
                stream = inbound.recv() => match stream {
                    Some(stream) => { streams.spawn(crate::streams::serve(stream, cfg.clone(), services.clone())); }
                    None => break SessionEnd::Dropped("tunnel closed".into()),
                },
                Some(_) = streams.join_next() => {}
            }
        };
        streams.shutdown().await;
        Err(result)
    }
    .await;
    let end = match end {
        Ok(()) => SessionEnd::Dropped("session ended".into()),
        Err(e) => e,
    };
    mux.close();
    let _ = ssh
        .disconnect(russh::Disconnect::ByApplication, "node link ending", "")
        .await;
    end
}

/// Waits (up to `timeout`) for the link to reach `state`; for tests and `up`.
pub async fn wait_for(
    rx: &mut watch::Receiver<LinkStatus>,
    state: LinkState,
    timeout: Duration,
) -> Result<LinkStatus, LinkStatus> {
    let reached = match tokio::time::timeout(timeout, rx.wait_for(|s| s.state == state)).await {
        Ok(Ok(s)) => Some(s.clone()),
        _ => None,
    };
    reached.ok_or_else(|| rx.borrow().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the agent takes main's heartbeat interval only when it is shorter than its own.
    #[test]
    fn heartbeat_follows_main_only_when_main_wants_more() {
        let ours = Duration::from_secs(15);
        assert_eq!(heartbeat_interval(ours, None), ours);
        assert_eq!(heartbeat_interval(ours, Some(0)), ours);
        assert_eq!(heartbeat_interval(ours, Some(60_000)), ours);
        assert_eq!(
            heartbeat_interval(ours, Some(200)),
            Duration::from_millis(200)
        );
    }
}

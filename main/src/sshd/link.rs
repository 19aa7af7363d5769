//! One node's tunnel on main: yamux over the SSH channel, hello check, registration, heartbeats, teardown.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use vibebridge_tunnel::frame::{read_frame, write_frame};
use vibebridge_tunnel::mux::{self, Mode, TunnelStream, accept_header};
use vibebridge_tunnel::protocol::{self, ControlFrame, Hello, Open};
use vibebridge_tunnel::reply::ErrorCode;

use crate::ops::Actor;
use crate::registry::Claim;
use crate::state::AppState;
use crate::store::{AuditAction, NodeFlag, NodeFlagKind};

/// A node's authenticated SSH connection, about to carry the tunnel.
pub struct Link {
    pub state: AppState,
    pub node_id: String,
    /// The key it authenticated with; the enrolment must still be this one.
    pub fingerprint: String,
    pub peer: SocketAddr,
    pub ssh: russh::server::Handle,
}

impl Link {
    /// Runs the link until the node goes away, stops heartbeating, is revoked or replaced, or main stops.
    pub async fn serve<T>(self, io: T, shutdown: CancellationToken)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let span = tracing::info_span!("link", node.id = %self.node_id, peer = %self.peer);
        async move {
            let cfg = self.state.config.tunnel.clone();
            let (mux, mut inbound) = mux::spawn(io, Mode::Server, &cfg);
            // Claim first, then check the key is still enrolled: a revocation either removed the key
            // before this check or finds the claim and cancels it (see `registry`).
            let claim = self.state.registry.claim(&self.node_id);
            let handshake = async {
                match self.state.store.node(&self.node_id) {
                    // Same id and same key: a revoked key cannot take over the id enrolled again since.
                    Ok(Some(n)) if n.fingerprint == self.fingerprint => {
                        self.handshake(&mut inbound).await
                    }
                    Ok(_) => Err("node revoked".to_string()),
                    Err(e) => Err(format!("reading the node record: {e}")),
                }
            };
            let handshake = tokio::select! {
                r = handshake => r,
                _ = claim.cancelled() => Err("node revoked or disconnected during the handshake".to_string()),
            };
            let reason = match handshake {
                Ok((hello, control)) => {
                    // Main opens every stream but control; anything else from the node is reset.
                    tokio::spawn(async move {
                        while inbound.recv().await.is_some() {
                            tracing::warn!("node opened an unexpected stream; resetting it");
                        }
                    });
                    self.run(&claim, hello, control, mux.clone(), &shutdown).await
                }
                Err(reason) => {
                    tracing::warn!("link refused: {reason}");
                    reason
                }
            };
            // Close yamux first: its close flushes every queued frame (a refusal, a last ack) into the SSH
            // channel, so the disconnect queued after them cannot overtake them. The driver bounds the
            // close on a dead transport.
            mux.close();
            mux.closed().await;
            let _ = self
                .ssh
                .disconnect(russh::Disconnect::ByApplication, reason, String::new())
                .await;
        }
        .instrument(span)
        .await
    }

    /// Waits for the control stream and the hello; answers Welcome or Refused.
    async fn handshake(
        &self,
        inbound: &mut tokio::sync::mpsc::Receiver<TunnelStream>,
    ) -> Result<(Hello, TunnelStream), String> {
        let cfg = &self.state.config.tunnel;
        let budget = cfg.handshake_timeout;
        let mut control = tokio::time::timeout(budget, inbound.recv())
            .await
            .map_err(|_| "no control stream before the handshake timeout".to_string())?
            .ok_or("link closed before the control stream")?;
        match accept_header(&mut control, cfg.max_frame_bytes, budget).await {
            Ok(Open::Control) => {}
            Ok(other) => {
                return Err(format!(
                    "first stream must be control, got {}",
                    other.kind()
                ));
            }
            Err(e) => return Err(format!("control stream header: {e}")),
        }
        let hello =
            match tokio::time::timeout(budget, read_frame(&mut control, cfg.max_frame_bytes)).await
            {
                Ok(Ok(Some(ControlFrame::Hello(h)))) => h,
                Ok(Ok(Some(_))) => return Err("first control frame must be hello".into()),
                Ok(Ok(None)) => return Err("control stream closed before hello".into()),
                Ok(Err(e)) => return Err(format!("reading hello: {e}")),
                Err(_) => return Err("no hello before the handshake timeout".into()),
            };
        let refusal = protocol::check_version(
            ("main", &format!("main {}", env!("CARGO_PKG_VERSION"))),
            (
                "node",
                hello.protocol_version,
                &format!("agent {}", hello.agent_version),
            ),
        )
        .err()
        .map(|m| (ErrorCode::VersionMismatch, m))
        .or_else(|| {
            (hello.node_id != self.node_id).then(|| {
                (
                    ErrorCode::IdentityMismatch,
                    format!(
                        "hello names node {:?} but the key belongs to node {:?}",
                        hello.node_id, self.node_id
                    ),
                )
            })
        });
        let refusal = match refusal {
            Some(r) => Some(r),
            None => self.live_duplicate().await,
        };
        if let Some((code, message)) = refusal {
            let frame = ControlFrame::Refused {
                code,
                message: message.clone(),
            };
            // Queue the refusal and our FIN; `serve` then closes yamux (which flushes them) before it
            // disconnects, so the node reads the refusal without main waiting for it to hang up.
            if write_frame(&mut control, &frame, cfg.max_frame_bytes)
                .await
                .is_ok()
            {
                let _ = control.shutdown().await;
            }
            self.state.store.audit(
                Actor::node(self.node_id.clone(), Some(self.peer))
                    .audit(AuditAction::NodeRefused)
                    .target(self.node_id.clone())
                    .detail(message.clone()),
            );
            return Err(message);
        }
        let welcome = ControlFrame::Welcome {
            protocol_version: protocol::PROTOCOL_VERSION,
            main_version: env!("CARGO_PKG_VERSION").into(),
            heartbeat_interval_ms: Some(
                u64::try_from(cfg.heartbeat_interval.as_millis()).unwrap_or(u64::MAX),
            ),
        };
        write_frame(&mut control, &welcome, cfg.max_frame_bytes)
            .await
            .map_err(|e| format!("sending welcome: {e}"))?;
        Ok((hello, control))
    }

    /// Refuses a second live link with this node's key. A reconnect replaces a stale link; but when
    /// the registered link still answers an echo within `tunnel.dead_after`, two machines hold the key:
    /// the node is flagged for its owner and admins, the clone audited, and the newcomer refused (so
    /// the two do not take the id from each other and each receive the other's traffic).
    async fn live_duplicate(&self) -> Option<(ErrorCode, String)> {
        let old = self.state.registry.get(&self.node_id)?;
        if old.mux.is_closed() {
            return None;
        }
        let probe = async {
            let mut stream = old.mux.open(&Open::Echo).await.ok()?;
            stream.write_all(b"?").await.ok()?;
            stream.flush().await.ok()?;
            let mut back = [0u8; 1];
            stream.read_exact(&mut back).await.ok()?;
            Some(())
        };
        let budget = self.state.config.tunnel.dead_after;
        tokio::time::timeout(budget, probe).await.ok()??;
        let live = old
            .remote
            .map_or_else(|| "an unknown address".to_string(), |a| a.to_string());
        let message = format!(
            "node {:?} is already connected from {live} with the same key; two machines hold this \
             node's private key. The node is flagged: revoke it and enrol each machine with its own key",
            self.node_id
        );
        let flag = NodeFlag {
            kind: NodeFlagKind::ClonedKey,
            message: format!(
                "two machines hold this node's key: one linked from {live}, another tried from {}; \
                 revoke the node and enrol each machine with its own key",
                self.peer
            ),
            at: crate::store::now_ms(),
        };
        if let Err(e) = self.state.store.flag_node(&self.node_id, flag) {
            tracing::warn!("could not flag the node: {e}");
        }
        self.state.store.audit(
            Actor::node(self.node_id.clone(), Some(self.peer))
                .audit(AuditAction::NodeKeyCloned)
                .target(self.node_id.clone())
                .detail(format!("live link from {live}; second link refused")),
        );
        Some((ErrorCode::DuplicateLink, message))
    }

    /// The registered life of the link: heartbeats in, acks out, until something ends it.
    async fn run(
        &self,
        claim: &Claim,
        hello: Hello,
        mut control: TunnelStream,
        mux: mux::MuxHandle,
        shutdown: &CancellationToken,
    ) -> String {
        let cfg = &self.state.config.tunnel;
        let registry = &self.state.registry;
        let store = &self.state.store;
        let link = match registry.register(claim, hello.clone(), mux.clone(), Some(self.peer)) {
            Ok(link) => link,
            Err(e) => return e.to_string(),
        };
        if let Err(e) = store.node_seen(&self.node_id, Some(&hello)) {
            tracing::warn!("could not record node hello: {e}");
        }
        store.audit(
            Actor::node(self.node_id.clone(), Some(self.peer))
                .audit(AuditAction::NodeConnected)
                .target(self.node_id.clone())
                .detail(format!(
                    "agent {} on {}",
                    hello.agent_version, hello.hostname
                )),
        );
        tracing::info!(agent = %hello.agent_version, "node online");

        // The read is the only branch that loops, so it is never cancelled mid-frame.
        let reason = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break "main shutting down".to_string(),
                _ = link.cancelled() => break "link revoked or replaced".to_string(),
                _ = mux.closed() => break "tunnel closed".to_string(),
                frame = tokio::time::timeout(cfg.dead_after, read_frame::<ControlFrame, _>(&mut control, cfg.max_frame_bytes)) => match frame {
                    Err(_) => break format!("no heartbeat for {:?}", cfg.dead_after),
                    Ok(Ok(Some(ControlFrame::Heartbeat { seq }))) => {
                        link.touch();
                        let ack = ControlFrame::HeartbeatAck { seq };
                        if let Err(e) = write_frame(&mut control, &ack, cfg.max_frame_bytes).await {
                            break format!("sending heartbeat ack: {e}");
                        }
                    }
                    Ok(Ok(Some(other))) => tracing::warn!(frame = ?other, "unexpected control frame; ignoring"),
                    Ok(Ok(None)) => break "control stream closed".to_string(),
                    Ok(Err(e)) => break format!("control stream: {e}"),
                },
            }
        };
        // Only the current link may mark the node offline; a replaced link leaves the new one alone.
        if registry.unregister(&link) {
            let _ = store.node_seen(&self.node_id, None);
            store.audit(
                Actor::node(self.node_id.clone(), Some(self.peer))
                    .audit(AuditAction::NodeDisconnected)
                    .target(self.node_id.clone())
                    .detail(reason.clone()),
            );
        }
        tracing::info!(%reason, "node link ended");
        reason
    }
}

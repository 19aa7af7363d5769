//! Main's SSH endpoint: nodes dial in, prove their key (or enrol with a token), and open the tunnel
//! subsystem; admins open the console ([`crate::console`]) with a registered key. Keys are checked in
//! `auth_publickey`, after russh has verified the signature. A node key never opens the console and a
//! person's key never enrols as a node. Failed attempts are rate-limited per source address, and every
//! rejection takes the same time.

mod link;

use std::net::SocketAddr;
use std::sync::Arc;
use tracing::Instrument;

use russh::keys::PublicKey;
use russh::server::{Auth, ChannelOpenHandle, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use vibebridge_tunnel::protocol::valid_node_id;
use vibebridge_tunnel::{SUBSYSTEM, keys, ssh};

use crate::console::commands::Admin;
use crate::ops::{self, Actor};
use crate::state::AppState;
use crate::store::{AuditAction, UserId, tokens_match};

/// Who an SSH connection authenticated as.
#[derive(Debug, Clone)]
enum Principal {
    Node(String),
    Admin(Admin),
}

/// Accepts SSH connections until `shutdown`, then disconnects every link.
pub async fn run(
    listener: &TcpListener,
    state: AppState,
    host_key: russh::keys::PrivateKey,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let config = Arc::new(ssh::server_config(host_key, &state.config.tunnel));
    let tasks = TaskTracker::new();
    let unauthenticated = Arc::new(tokio::sync::Semaphore::new(
        state.config.ssh.max_unauthenticated.max(1),
    ));
    loop {
        let (socket, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and similar: log, breathe, keep serving.
                    tracing::warn!("ssh accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Held until the connection is authenticated (or ends): a full house closes newcomers at once.
        let Ok(permit) = unauthenticated.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many unauthenticated SSH connections (ssh.max_unauthenticated); closing");
            drop(socket);
            continue;
        };
        if let Err(e) = ssh::tune_socket(&socket, &state.config.tunnel) {
            tracing::debug!(%peer, "could not tune socket: {e}");
        }
        let established = CancellationToken::new();
        let handler = Handler {
            established: established.clone(),
            state: state.clone(),
            peer,
            pending: None,
            principal: None,
            node_fingerprint: String::new(),
            channel: None,
            console: std::collections::HashMap::new(),
            shutdown: shutdown.clone(),
            tasks: tasks.clone(),
        };
        let config = config.clone();
        let budget = state.config.tunnel.handshake_timeout;
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            let mut permit = Some(permit);
            // A peer that never sends its version line would otherwise hold its slot for ever.
            let start = russh::server::run_stream(config, ssh::buffered(socket), handler);
            let session = match tokio::time::timeout(budget, start).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "ssh handshake failed: {e:#}");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "no SSH handshake before the handshake timeout; closing");
                    return;
                }
            };
            let handle = session.handle();
            let deadline = tokio::time::sleep(budget);
            tokio::pin!(session, deadline);
            let mut deadline_armed = true;
            loop {
                tokio::select! {
                    result = &mut session => {
                        if let Err(e) = result {
                            tracing::debug!(%peer, "ssh session ended: {e:#}");
                        }
                        break;
                    }
                    _ = established.cancelled(), if permit.is_some() => permit = None,
                    _ = &mut deadline, if deadline_armed => {
                        deadline_armed = false;
                        // A connection that has not opened its tunnel by now is stuck or hostile.
                        if !established.is_cancelled() {
                            tracing::debug!(%peer, "ssh handshake took too long; disconnecting");
                            let _ = handle.disconnect(russh::Disconnect::ByApplication, "handshake timeout".into(), String::new()).await;
                        }
                    }
                    _ = shutdown.cancelled() => {
                        let _ = handle.disconnect(russh::Disconnect::ByApplication, "main shutting down".into(), String::new()).await;
                        // Let the session end so its handler (and the store it holds) is released.
                        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut session).await;
                        break;
                    }
                }
            }
        });
    }
    tasks.close();
    tasks.wait().await;
    Ok(())
}

/// A real authentication failure, answered [`ssh::AUTH_REJECTION_TIME`] after the attempt `started`, so
/// every failure takes the same time whatever was checked. (russh's own delay is off; see
/// [`ssh::server_config`].)
async fn reject_after(started: Instant) -> Auth {
    tokio::time::sleep_until(started + ssh::AUTH_REJECTION_TIME).await;
    Auth::reject()
}

/// Per-connection SSH callbacks.
struct Handler {
    state: AppState,
    peer: SocketAddr,
    /// A verified key main does not know, waiting for a register token.
    pending: Option<(String, PublicKey)>,
    principal: Option<Principal>,
    /// The fingerprint a node authenticated with: its link must still be that enrolment.
    node_fingerprint: String,
    channel: Option<Channel<Msg>>,
    /// Console channels waiting for their shell or exec request, with whether a PTY was asked for.
    console: std::collections::HashMap<ChannelId, (Channel<Msg>, bool)>,
    /// Cancelled once the tunnel subsystem is up (ends the handshake deadline).
    established: CancellationToken,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Handler {
    /// The source address's key for the failure limiter (IPv6 per /64, like logins).
    fn limiter_key(&self) -> String {
        format!("ssh:{}", crate::auth::client_ip::bucket(self.peer.ip()))
    }

    /// A real failure: counted against the source address, answered after the constant delay.
    async fn fail(&self, started: Instant) -> Auth {
        let _ = self.state.ssh_limiter.hit(&self.limiter_key());
        reject_after(started).await
    }

    /// Accepts a shell or exec request on an admin's console channel: the admin, the channel and whether it
    /// has a PTY. Anything else (a node, an unknown channel) is refused and yields `None`.
    fn console_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<Option<(Admin, Channel<Msg>, bool)>, russh::Error> {
        let admin = match &self.principal {
            Some(Principal::Admin(a)) => a.clone(),
            _ => {
                session.channel_failure(channel)?;
                return Ok(None);
            }
        };
        let Some((ch, pty)) = self.console.remove(&channel) else {
            session.channel_failure(channel)?;
            return Ok(None);
        };
        session.channel_success(channel)?;
        self.established.cancel();
        Ok(Some((admin, ch, pty)))
    }

    fn audit(
        &self,
        principal: ops::Principal,
        action: AuditAction,
        target: &str,
        detail: Option<String>,
    ) {
        let actor = Actor {
            principal,
            source: Some(self.peer.to_string()),
        };
        let mut e = actor.audit(action).target(target);
        if let Some(d) = detail {
            e = e.detail(d);
        }
        self.state.store.audit(e);
    }

    /// Checks a register token: config tokens (owner: creator) or a one-time token (owner: its creator).
    fn redeem_token(&self, token: &str) -> Option<Option<UserId>> {
        let config_tokens = &self.state.config.main.node_register_tokens;
        if config_tokens
            .iter()
            .any(|t| tokens_match(t.expose(), token))
        {
            return Some(None);
        }
        match self.state.store.consume_node_token(token) {
            Ok(Some(t)) => Some(t.created_by),
            Ok(None) => None,
            Err(e) => {
                tracing::error!("token lookup failed: {e}");
                None
            }
        }
    }
}

impl russh::server::Handler for Handler {
    type Error = russh::Error;

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let started = Instant::now();
        if self.state.ssh_limiter.exhausted(&self.limiter_key()) {
            tracing::warn!(peer = %self.peer, "too many failed SSH authentications; refusing");
            return Ok(reject_after(started).await);
        }
        let fingerprint = keys::fingerprint(key.public_key);
        let known = self
            .state
            .store
            .node_by_fingerprint(&fingerprint)
            .ok()
            .flatten();
        match known {
            Some(node) if node.id == user => {
                self.node_fingerprint = fingerprint.clone();
                self.principal = Some(Principal::Node(node.id));
                return Ok(Auth::Accept);
            }
            Some(node) => {
                tracing::warn!(peer = %self.peer, %user, bound_to = %node.id, "node key presented with another node id");
                return Ok(self.fail(started).await);
            }
            None => {}
        }
        match Admin::for_key(&self.state, &fingerprint) {
            Ok(Some(admin)) => {
                self.audit(
                    ops::Principal::Console(admin.name.clone()),
                    AuditAction::ConsoleLogin,
                    &admin.name,
                    Some(format!("key {fingerprint}")),
                );
                self.principal = Some(Principal::Admin(admin));
                return Ok(Auth::Accept);
            }
            Err(why) => {
                self.audit(
                    ops::Principal::SshLogin(user.to_string()),
                    AuditAction::ConsoleRefused,
                    user,
                    Some(why),
                );
                return Ok(self.fail(started).await);
            }
            Ok(None) => {}
        }
        if valid_node_id(user) {
            // Unknown key: the node may still enrol with a token, bound to this verified key.
            self.pending = Some((user.to_string(), key.public_key.clone()));
            Ok(Auth::Reject {
                proceed_with_methods: Some(MethodSet::from(&[MethodKind::Password][..])),
                partial_success: true,
            })
        } else {
            Ok(self.fail(started).await)
        }
    }

    async fn auth_password(&mut self, user: &str, token: &str) -> Result<Auth, Self::Error> {
        let started = Instant::now();
        let Some((node_id, key)) = self.pending.take() else {
            return Ok(self.fail(started).await);
        };
        if node_id != user {
            return Ok(self.fail(started).await);
        }
        let actor = ops::Principal::Node(node_id.clone());
        // Checked before the token is redeemed, so a one-time token is not spent on an enrolment that
        // cannot succeed (a reinstalled machine with a fresh key, under its old id).
        if self.state.store.node(&node_id).ok().flatten().is_some() {
            self.audit(
                actor,
                AuditAction::NodeEnrollRefused,
                &node_id,
                Some("node id already enrolled with another key; token left unused".into()),
            );
            return Ok(self.fail(started).await);
        }
        let Some(owner) = self.redeem_token(token) else {
            self.audit(
                actor,
                AuditAction::NodeEnrollRefused,
                &node_id,
                Some("invalid, expired or used token".into()),
            );
            return Ok(self.fail(started).await);
        };
        let fingerprint = keys::fingerprint(&key);
        match self.state.store.enroll_node(
            &node_id,
            keys::public_openssh(&key),
            fingerprint.clone(),
            owner,
            Some(self.peer.to_string()),
        ) {
            Ok(_) => {
                self.audit(
                    actor,
                    AuditAction::NodeEnrolled,
                    &node_id,
                    Some(format!("fingerprint {fingerprint}")),
                );
                self.node_fingerprint = fingerprint.clone();
                self.principal = Some(Principal::Node(node_id));
                Ok(Auth::Accept)
            }
            Err(e) => {
                self.audit(
                    actor,
                    AuditAction::NodeEnrollRefused,
                    &node_id,
                    Some(e.to_string()),
                );
                Ok(self.fail(started).await)
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        match &self.principal {
            // One tunnel channel per connection; the subsystem request that follows names its purpose.
            Some(Principal::Node(_)) if self.channel.is_none() => {
                self.channel = Some(channel);
                reply.accept().await;
            }
            Some(Principal::Admin(_)) if self.console.len() < 8 => {
                self.console.insert(channel.id(), (channel, false));
                reply.accept().await;
            }
            _ => {
                reply
                    .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                    .await;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        match self.console.get_mut(&channel) {
            Some((_, pty)) => {
                *pty = true;
                session.channel_success(channel)?;
            }
            None => session.channel_failure(channel)?,
        }
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some((admin, ch, _pty)) = self.console_request(channel, session)? else {
            return Ok(());
        };
        self.tasks.spawn(crate::console::interactive(
            self.state.clone(),
            admin,
            self.peer,
            ch,
        ));
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some((admin, ch, pty)) = self.console_request(channel, session)? else {
            return Ok(());
        };
        let command = String::from_utf8_lossy(data).into_owned();
        self.tasks.spawn(crate::console::exec(
            self.state.clone(),
            admin,
            self.peer,
            ch,
            command,
            pty,
        ));
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel_id: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let channel = match self.channel.take() {
            Some(c) if c.id() == channel_id => c,
            other => {
                self.channel = other;
                session.channel_failure(channel_id)?;
                return Ok(());
            }
        };
        match (&self.principal, name) {
            (Some(Principal::Node(node_id)), SUBSYSTEM) => {
                session.channel_success(channel_id)?;
                self.established.cancel();
                let link = link::Link {
                    state: self.state.clone(),
                    node_id: node_id.clone(),
                    fingerprint: self.node_fingerprint.clone(),
                    peer: self.peer,
                    ssh: session.handle(),
                };
                let io = ssh::channel_io(channel);
                let shutdown = self.shutdown.clone();
                let span = tracing::info_span!("node_link", node = %node_id);
                self.tasks.spawn(link.serve(io, shutdown).instrument(span));
            }
            _ => {
                tracing::warn!(peer = %self.peer, subsystem = %name, "refusing unknown subsystem");
                session.channel_failure(channel_id)?;
            }
        }
        Ok(())
    }
}

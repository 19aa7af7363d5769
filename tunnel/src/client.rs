//! The node's side of the SSH connection: dial, verify main's host key, authenticate, open the subsystem.

use std::path::PathBuf;
use std::sync::Arc;

use russh::client::{self, AuthResult};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, MethodKind};
use tokio::net::TcpStream;

use crate::config::TunnelConfig;
use crate::keys;
use crate::protocol::SUBSYSTEM;
use crate::ssh::{self, ChannelIo};

/// How the node decides whether the server it reached is really main.
#[derive(Debug, Clone)]
pub enum HostKeyPolicy {
    /// Only a host key with this `SHA256:…` fingerprint is accepted (`node.main_host_key`).
    Pinned(String),
    /// Trust the first key seen and store it in `path`; refuse any other key afterwards.
    TrustOnFirstUse {
        /// Where the trusted key lives (one OpenSSH public key line).
        path: PathBuf,
    },
}

/// Why a connection attempt failed. [`ConnectError::is_auth`] tells the reconnect loop to back off longer.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP connect failed.
    #[error("cannot reach main at {addr}: {source}")]
    Unreachable {
        /// The address dialled.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// Connect + handshake + auth exceeded `tunnel.handshake_timeout`.
    #[error("handshake with main timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The server's host key is not the one we trust.
    #[error(
        "main's host key {got} does not match the trusted key {expected} ({source_of_trust}); \
         if main's key really changed, update node.main_host_key or delete the trusted-key file"
    )]
    HostKeyMismatch {
        /// Fingerprint we trust.
        expected: String,
        /// Fingerprint presented.
        got: String,
        /// Where our trust comes from (pin or TOFU file).
        source_of_trust: String,
    },
    /// Main does not know our key and we have no token to enrol with.
    #[error(
        "main does not know this node's key ({fingerprint}); set node.register_token to a token \
         from main (UI \"add a node\" or `vibebridge up`), or ask an admin whether this node was revoked"
    )]
    NotEnrolled {
        /// Our key's fingerprint.
        fingerprint: String,
    },
    /// The register token was refused (wrong, expired, used up, or the node id is taken).
    #[error(
        "main refused the register token for node {node_id}: either the token is wrong, expired or \
         already used (create a new one on main), or node id {node_id} is already enrolled with another \
         key (the token is then left unused: revoke the old node on main, or set another node.id)"
    )]
    TokenRejected {
        /// The node id we tried to enrol as.
        node_id: String,
    },
    /// Main accepted us but refused the tunnel subsystem.
    #[error("main refused the {SUBSYSTEM} subsystem")]
    SubsystemRefused,
    /// Any other SSH-level failure.
    #[error("ssh: {0}")]
    Ssh(#[from] russh::Error),
    /// Reading or storing the trusted host key failed.
    #[error("trusted host key file: {0:#}")]
    TrustStore(anyhow::Error),
}

impl ConnectError {
    /// True for failures that retrying soon will not fix: credentials or identity.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            ConnectError::HostKeyMismatch { .. }
                | ConnectError::NotEnrolled { .. }
                | ConnectError::TokenRejected { .. }
        )
    }
}

/// russh client callbacks: only the host-key check matters.
pub struct ClientHandler {
    policy: HostKeyPolicy,
}

impl client::Handler for ClientHandler {
    type Error = ConnectError;

    async fn check_server_key(
        &mut self,
        server: &PublicKeyOrCertificate,
    ) -> Result<bool, ConnectError> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = server else {
            return Ok(false);
        };
        verify_host_key(&self.policy, key)?;
        Ok(true)
    }
}

fn verify_host_key(policy: &HostKeyPolicy, key: &PublicKey) -> Result<(), ConnectError> {
    let got = keys::fingerprint(key);
    match policy {
        HostKeyPolicy::Pinned(expected) => {
            if &got == expected {
                Ok(())
            } else {
                Err(ConnectError::HostKeyMismatch {
                    expected: expected.clone(),
                    got,
                    source_of_trust: "pinned by node.main_host_key".into(),
                })
            }
        }
        HostKeyPolicy::TrustOnFirstUse { path } => match std::fs::read_to_string(path) {
            Ok(line) => {
                let trusted = keys::parse_public(&line).map_err(ConnectError::TrustStore)?;
                let expected = keys::fingerprint(&trusted);
                if expected == got {
                    Ok(())
                } else {
                    Err(ConnectError::HostKeyMismatch {
                        expected,
                        got,
                        source_of_trust: format!(
                            "trusted on first use, stored in {}",
                            path.display()
                        ),
                    })
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let line = format!("{}\n", keys::public_openssh(key));
                keys::write_private(path, line.as_bytes()).map_err(ConnectError::TrustStore)?;
                tracing::warn!(
                    fingerprint = %got,
                    stored = %path.display(),
                    "trusting main's host key on first use; pin it with node.main_host_key = \"{got}\""
                );
                Ok(())
            }
            Err(e) => Err(ConnectError::TrustStore(e.into())),
        },
    }
}

/// What a node needs to dial main.
#[derive(Debug, Clone)]
pub struct Dial {
    /// `host:port` of main's SSH endpoint.
    pub addr: String,
    /// The node id, used as the SSH username.
    pub node_id: String,
    /// The node's private key.
    pub key: Arc<PrivateKey>,
    /// Register token, presented only if main does not know the key yet.
    pub register_token: Option<String>,
    /// How to check main's host key.
    pub host_key: HostKeyPolicy,
    /// Timeouts and tuning.
    pub tunnel: TunnelConfig,
}

/// An authenticated SSH connection with the tunnel subsystem open.
pub struct Connected {
    /// The SSH session (drop or `disconnect` to end it).
    pub session: client::Handle<ClientHandler>,
    /// The subsystem channel as a byte stream, ready for yamux.
    pub io: ChannelIo,
    /// True if this connection enrolled the node with its token.
    pub enrolled: bool,
}

/// Dials main, verifies it, authenticates (enrolling with the token when needed) and opens the subsystem,
/// all within `tunnel.handshake_timeout`.
pub async fn connect(dial: &Dial) -> Result<Connected, ConnectError> {
    let budget = dial.tunnel.handshake_timeout;
    tokio::time::timeout(budget, connect_inner(dial))
        .await
        .map_err(|_| ConnectError::Timeout(budget))?
}

async fn connect_inner(dial: &Dial) -> Result<Connected, ConnectError> {
    let socket =
        TcpStream::connect(&dial.addr)
            .await
            .map_err(|source| ConnectError::Unreachable {
                addr: dial.addr.clone(),
                source,
            })?;
    if let Err(e) = ssh::tune_socket(&socket, &dial.tunnel) {
        tracing::warn!("could not tune the tunnel socket: {e}");
    }
    let config = Arc::new(ssh::client_config(&dial.tunnel));
    let handler = ClientHandler {
        policy: dial.host_key.clone(),
    };
    let mut session = client::connect_stream(config, ssh::buffered(socket), handler).await?;

    let key = PrivateKeyWithHashAlg::new(dial.key.clone(), None);
    let mut enrolled = false;
    match session.authenticate_publickey(&dial.node_id, key).await? {
        AuthResult::Success => {}
        AuthResult::Failure {
            remaining_methods,
            partial_success: true,
        } if remaining_methods.contains(&MethodKind::Password) => {
            let Some(token) = &dial.register_token else {
                return Err(ConnectError::NotEnrolled {
                    fingerprint: keys::fingerprint(dial.key.public_key()),
                });
            };
            match session.authenticate_password(&dial.node_id, token).await? {
                AuthResult::Success => enrolled = true,
                AuthResult::Failure { .. } => {
                    return Err(ConnectError::TokenRejected {
                        node_id: dial.node_id.clone(),
                    });
                }
            }
        }
        AuthResult::Failure { .. } => {
            return Err(ConnectError::NotEnrolled {
                fingerprint: keys::fingerprint(dial.key.public_key()),
            });
        }
    }

    let mut channel = session.channel_open_session().await?;
    channel.request_subsystem(true, SUBSYSTEM).await?;
    loop {
        match channel.wait().await {
            Some(ChannelMsg::Success) => break,
            Some(ChannelMsg::Failure) | None => return Err(ConnectError::SubsystemRefused),
            Some(_) => {}
        }
    }
    Ok(Connected {
        session,
        io: ssh::channel_io(channel),
        enrolled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::Algorithm;

    /// Proves TOFU stores the first key, accepts it again and refuses a different one with a clear error;
    /// and a pin refuses any other key.
    #[test]
    fn tofu_and_pin() {
        let dir = std::env::temp_dir().join(format!("vb-tofu-{}", keys::random_hex(6)));
        let path = dir.join("main_host_key.pub");
        let a = PrivateKey::random(&mut keys::rng(), Algorithm::Ed25519).unwrap();
        let b = PrivateKey::random(&mut keys::rng(), Algorithm::Ed25519).unwrap();
        let tofu = HostKeyPolicy::TrustOnFirstUse { path: path.clone() };
        verify_host_key(&tofu, a.public_key()).unwrap();
        verify_host_key(&tofu, a.public_key()).unwrap();
        let err = verify_host_key(&tofu, b.public_key())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("does not match") && err.contains("trusted on first use"),
            "{err}"
        );

        let pin = HostKeyPolicy::Pinned(keys::fingerprint(b.public_key()));
        verify_host_key(&pin, b.public_key()).unwrap();
        let err = verify_host_key(&pin, a.public_key()).unwrap_err();
        assert!(err.is_auth());
        assert!(err.to_string().contains("node.main_host_key"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

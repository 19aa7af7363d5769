//! Wire types: the stream `Open` header, the control-stream frames and the version check.

use serde::{Deserialize, Serialize};

use crate::ids::{NodeId, SessionId};
use crate::reply::ErrorCode;

use crate::session::{SessionCommand, StartSession};
use crate::terminal::OpenTerminal;

/// Version of the tunnel protocol. Bumped on any incompatible change to the types in this module.
pub const PROTOCOL_VERSION: u32 = 1;

/// The SSH subsystem a node requests on its session channel.
pub const SUBSYSTEM: &str = "vibebridge-tunnel@1";

/// First frame of every yamux stream: what the stream is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Open {
    /// Node → main, the first stream of a link: hello, heartbeats, pushed node status.
    Control,
    /// Main → node: every byte written is sent back until the writer closes. Used to measure a link
    /// (round trip, throughput) and to check it end to end.
    Echo,
    /// Main → node: start an agent session; one [`SessionReply`](crate::session::SessionReply) follows.
    SessionStart(StartSession),
    /// Main → node: a follow-up, stop or approval decision; one
    /// [`SessionReply`](crate::session::SessionReply) follows.
    SessionCommand {
        /// The session.
        session_id: SessionId,
        /// What to do.
        #[serde(flatten)]
        command: SessionCommand,
    },
    /// Main → node: stream a session's events after `after_seq`, then live ones, as
    /// [`AttachFrame`](crate::session::AttachFrame)s.
    SessionAttach {
        /// The session.
        session_id: SessionId,
        /// The last seq main already has (0 for none).
        after_seq: u64,
    },
    /// Main → node: which sessions have a running CLI; one
    /// [`LiveSessions`](crate::session::LiveSessions) follows. Main stops those it has no record of.
    SessionsLive,
    /// Main → node: one file operation; see [`crate::fs`].
    Fs(crate::fs::FsRequest),
    /// Main → node: one git operation; one [`GitReply`](crate::git::GitReply) follows.
    Git(crate::git::GitRequest),
    /// Main → node: attach to (or start) a web terminal; see [`crate::terminal`].
    Terminal(OpenTerminal),
}

impl Open {
    /// Stable name of the kind, for logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Open::Control => "control",
            Open::Echo => "echo",
            Open::SessionStart(_) => "session_start",
            Open::SessionCommand { .. } => "session_command",
            Open::SessionAttach { .. } => "session_attach",
            Open::SessionsLive => "sessions_live",
            Open::Fs(_) => "fs",
            Open::Git(_) => "git",
            Open::Terminal(_) => "terminal",
        }
    }
}

/// Node ids are SSH usernames: 1-64 of `A-Z a-z 0-9 . _ -`, not starting with `.` (no path or shell
/// metacharacters). Main enforces this at enrolment; the node checks its config against it.
pub fn valid_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !id.starts_with('.')
}

/// A provider CLI found on the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ProviderInfo {
    /// `claude` or `codex`.
    pub name: String,
    /// What `<cli> --version` printed, trimmed; `None` if the binary ran but printed nothing usable.
    pub version: Option<String>,
    /// Absolute path of the binary that was found.
    pub path: String,
}

/// What a node says about itself when its link comes up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The node's [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// The node id; must equal the SSH username the link authenticated as.
    pub node_id: NodeId,
    /// Display name.
    pub name: String,
    /// The machine's host name.
    pub hostname: String,
    /// Operating system and architecture, e.g. `linux/x86_64`.
    pub os: String,
    /// Free-form labels from the node config.
    pub labels: Vec<String>,
    /// Declared capabilities (`shell`, `fs`, `git`, provider names…).
    pub capabilities: Vec<String>,
    /// Provider CLIs detected on the node.
    pub providers: Vec<ProviderInfo>,
    /// Version of the `vibebridge-agent` binary.
    pub agent_version: String,
}

/// Frames on the control stream, in either direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControlFrame {
    /// Node → main, first frame after the `Open` header.
    Hello(Hello),
    /// Main → node: the hello was accepted.
    Welcome {
        /// Main's [`PROTOCOL_VERSION`].
        protocol_version: u32,
        /// Version of the `vibebridge` binary.
        main_version: String,
        /// How often main expects a heartbeat (its `tunnel.heartbeat_interval`, in ms). A node configured
        /// with a longer interval heartbeats this often instead, or main would find it dead after its own
        /// `tunnel.dead_after` and drop the link. Absent from older mains.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        heartbeat_interval_ms: Option<u64>,
    },
    /// Main → node: the link is refused; main closes it after this frame.
    Refused {
        /// Stable machine-readable reason: `version_mismatch`, `identity_mismatch`, `duplicate_link`.
        code: ErrorCode,
        /// What happened and what to do, for the node's log and health endpoint.
        message: String,
    },
    /// Node → main, every `heartbeat_interval`.
    Heartbeat {
        /// Increases by one per heartbeat.
        seq: u64,
    },
    /// Main → node, answering [`ControlFrame::Heartbeat`] with the same `seq`.
    HeartbeatAck {
        /// The `seq` being acknowledged.
        seq: u64,
    },
}

/// Checks a peer's protocol version against ours; the error names both sides, both versions and which
/// side to upgrade. Roles are "main" / "node"; software strings say what runs, e.g. "agent 0.1.0".
pub fn check_version(
    (own_role, own_software): (&str, &str),
    (peer_role, peer_version, peer_software): (&str, u32, &str),
) -> Result<(), String> {
    if peer_version == PROTOCOL_VERSION {
        return Ok(());
    }
    let older = if peer_version > PROTOCOL_VERSION {
        own_role
    } else {
        peer_role
    };
    Err(format!(
        "protocol version mismatch: {peer_role} speaks tunnel protocol {peer_version} \
         ({peer_software}) but {own_role} speaks protocol {PROTOCOL_VERSION} ({own_software}); \
         upgrade the {older} so both run the same VibeBridge release"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the wire shape of the Open header is the documented tagged JSON.
    #[test]
    fn open_header_is_tagged_json() {
        let json = serde_json::to_string(&Open::Echo).unwrap();
        assert_eq!(json, r#"{"kind":"echo"}"#);
        let back: Open = serde_json::from_str(r#"{"kind":"control"}"#).unwrap();
        assert_eq!(back, Open::Control);
        assert!(serde_json::from_str::<Open>(r#"{"kind":"nope"}"#).is_err());
    }

    /// Proves the version check names both versions and says what to do.
    #[test]
    fn version_mismatch_names_both_versions() {
        let main = ("main", "main 0.1.0");
        assert!(check_version(main, ("node", PROTOCOL_VERSION, "agent 1")).is_ok());
        let err = check_version(main, ("node", PROTOCOL_VERSION + 1, "agent 9.9.9")).unwrap_err();
        assert!(
            err.contains(&format!("protocol {}", PROTOCOL_VERSION + 1)),
            "{err}"
        );
        assert!(
            err.contains(&format!("protocol {PROTOCOL_VERSION}")),
            "{err}"
        );
        assert!(
            err.contains("agent 9.9.9") && err.contains("main 0.1.0"),
            "{err}"
        );
        assert!(err.contains("upgrade the main"), "{err}");
        // The same mismatch seen from the node's side names the node as the one to upgrade.
        let node = ("node", "agent 0.1.0");
        let err = check_version(node, ("main", PROTOCOL_VERSION + 1, "main 9.9.9")).unwrap_err();
        assert!(
            err.contains("but node speaks") && err.contains("upgrade the node"),
            "{err}"
        );
        let err = check_version(node, ("main", PROTOCOL_VERSION - 1, "main 0.0.1")).unwrap_err();
        assert!(err.contains("upgrade the main"), "{err}");
    }
}

//! The node's policy over every surface main can reach, decided before a stream is served: which
//! surfaces the node offers at all (`node.capabilities`) and which a read-only node refuses
//! (`filesystem.read_only`).
//!
//! `read_only` means the node is for looking only. The file and git APIs refuse each change themselves
//! (reads still work); a terminal and an agent CLI can change anything the agent's OS user can, so on a
//! read-only node no terminal opens and no agent CLI starts or resumes (session history stays readable).
//! `filesystem.hidden` governs what the file and git APIs show and touch; it cannot bind a shell or an
//! agent CLI, which is one more reason `read_only` refuses them.

use vibebridge_tunnel::protocol::Open;
use vibebridge_tunnel::reply::ErrorCode;
use vibebridge_tunnel::session::SessionCommand;

use crate::config::NodeConfig;

/// The capability naming web terminals.
pub const SHELL: &str = "shell";
/// The capability naming the file API.
pub const FS: &str = "fs";
/// The capability naming the git API.
pub const GIT: &str = "git";

/// Why a stream is refused: a stable code and a message naming the setting.
pub type Refusal = (ErrorCode, String);

/// Whether the node serves `open`, by its capabilities and `read_only`.
pub fn admit(config: &NodeConfig, open: &Open) -> Result<(), Refusal> {
    let read_only = config.filesystem.read_only;
    match open {
        Open::Control | Open::Echo | Open::SessionAttach { .. } | Open::SessionsLive => Ok(()),
        Open::Fs(_) => offers(config, FS, "the file API"),
        Open::Git(_) => offers(config, GIT, "the git API"),
        Open::Terminal(_) => {
            offers(config, SHELL, "terminals")?;
            if read_only {
                return Err(refused_read_only(
                    "no terminal opens here, since a shell can change any file",
                ));
            }
            Ok(())
        }
        Open::SessionStart(req) => {
            let provider = req.provider.name();
            offers(config, provider, &format!("{provider} sessions"))?;
            if read_only {
                return Err(refused_read_only(
                    "no agent session starts here, since an agent CLI can change any file",
                ));
            }
            Ok(())
        }
        Open::SessionCommand { command, .. } => match command {
            SessionCommand::Message { .. } if read_only => Err(refused_read_only(
                "a message would resume the agent CLI, which can change any file; the history stays readable",
            )),
            _ => Ok(()),
        },
    }
}

/// Refuses `capability` unless the node offers it: every one when `node.capabilities` is empty (the
/// default), otherwise only those listed.
fn offers(config: &NodeConfig, capability: &str, what: &str) -> Result<(), Refusal> {
    let listed = &config.node.capabilities;
    if listed.is_empty() || listed.iter().any(|c| c == capability) {
        return Ok(());
    }
    Err((
        ErrorCode::CapabilityDisabled,
        format!(
            "this node does not offer {what}: \"{capability}\" is not in its node.capabilities [{}]",
            listed.join(", ")
        ),
    ))
}

fn refused_read_only(why: &str) -> Refusal {
    (
        ErrorCode::ReadOnly,
        format!("this node is read-only (filesystem.read_only = true in its config): {why}"),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use vibebridge_tunnel::fs::FsRequest;
    use vibebridge_tunnel::git::GitRequest;
    use vibebridge_tunnel::session::{Provider, StartSession};
    use vibebridge_tunnel::terminal::OpenTerminal;

    fn opens() -> Vec<(&'static str, Open)> {
        let start = |provider| {
            Open::SessionStart(StartSession {
                session_id: "0".into(),
                path: "/".into(),
                provider,
                model: None,
                permission_mode: None,
                prompt: "hi".into(),
                run: None,
            })
        };
        vec![
            (
                "terminal",
                Open::Terminal(OpenTerminal {
                    terminal_id: "t".into(),
                    owner: "u".into(),
                    cols: 80,
                    rows: 24,
                }),
            ),
            ("claude", start(Provider::Claude)),
            ("codex", start(Provider::Codex)),
            (
                "message",
                Open::SessionCommand {
                    session_id: "0".into(),
                    command: SessionCommand::Message { text: "go".into() },
                },
            ),
            (
                "stop",
                Open::SessionCommand {
                    session_id: "0".into(),
                    command: SessionCommand::Stop,
                },
            ),
            (
                "attach",
                Open::SessionAttach {
                    session_id: "0".into(),
                    after_seq: 0,
                },
            ),
            ("fs", Open::Fs(FsRequest::Stat { path: "/".into() })),
            ("git", Open::Git(GitRequest::Status { repo: "/".into() })),
        ]
    }

    fn verdicts(config: &NodeConfig) -> Vec<(&'static str, &'static str)> {
        opens()
            .into_iter()
            .map(|(name, open)| {
                (
                    name,
                    admit(config, &open).err().map_or("ok", |e| e.0.as_str()),
                )
            })
            .collect()
    }

    /// Proves a read-only node refuses terminals, new sessions and messages (which resume a CLI) and
    /// nothing else; the file and git APIs refuse changes themselves.
    #[test]
    fn read_only_refuses_surfaces_that_write() {
        let mut config = NodeConfig::default();
        config.filesystem.read_only = true;
        let ro = ErrorCode::ReadOnly.as_str();
        assert_eq!(
            verdicts(&config),
            [
                ("terminal", ro),
                ("claude", ro),
                ("codex", ro),
                ("message", ro),
                ("stop", "ok"),
                ("attach", "ok"),
                ("fs", "ok"),
                ("git", "ok"),
            ]
        );
        let open = &opens()[0].1;
        assert!(
            admit(&config, open)
                .unwrap_err()
                .1
                .contains("filesystem.read_only")
        );
        assert!(verdicts(&NodeConfig::default()).iter().all(|v| v.1 == "ok"));
    }

    /// Proves an explicit `node.capabilities` list is what the node serves: surfaces left out are refused
    /// with `capability_disabled`, naming the setting.
    #[test]
    fn capabilities_bind_every_surface() {
        let mut config = NodeConfig::default();
        config.node.capabilities = vec!["fs".into(), "claude".into()];
        let off = ErrorCode::CapabilityDisabled.as_str();
        assert_eq!(
            verdicts(&config),
            [
                ("terminal", off),
                ("claude", "ok"),
                ("codex", off),
                ("message", "ok"),
                ("stop", "ok"),
                ("attach", "ok"),
                ("fs", "ok"),
                ("git", off),
            ]
        );
        let open = &opens()[0].1;
        assert!(
            admit(&config, open)
                .unwrap_err()
                .1
                .contains("node.capabilities")
        );
    }
}

//! The node's identity on disk: its ed25519 key, its id, and main's trusted host key, all in the state dir.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use russh::keys::PrivateKey;
use vibebridge_tunnel::client::HostKeyPolicy;
use vibebridge_tunnel::keys;

use crate::config::{NodeConfig, valid_node_id};

/// Who this node is.
#[derive(Clone)]
pub struct Identity {
    /// Node id (the SSH username).
    pub node_id: String,
    /// Display name.
    pub name: String,
    /// The node's key.
    pub key: Arc<PrivateKey>,
    /// How main's host key is checked.
    pub host_key: HostKeyPolicy,
}

/// The key file inside the state dir.
pub fn key_path(state_dir: &Path) -> PathBuf {
    state_dir.join("node_ed25519_key")
}

/// A valid node id derived from the host name.
pub fn default_node_id() -> String {
    let cleaned: String = vibebridge_tunnel::runtime::hostname()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(48)
        .collect();
    let cleaned = cleaned.trim_start_matches('.').to_string();
    if valid_node_id(&cleaned) {
        cleaned
    } else {
        "node".into()
    }
}

impl Identity {
    /// Loads (or creates on first start) the key and id under `database.path`.
    pub fn load(config: &NodeConfig) -> anyhow::Result<Identity> {
        let dir = &config.database.path;
        // Created private here; the agent makes everything in it private once its stores are open.
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(dir)
            .with_context(|| format!("creating the state dir {} (database.path)", dir.display()))?;
        let key = keys::load_or_generate(&key_path(dir))?;
        let node_id = match &config.node.id {
            Some(id) => id.clone(),
            None => {
                let file = dir.join("node_id");
                match std::fs::read_to_string(&file) {
                    Ok(id) if valid_node_id(id.trim()) => id.trim().to_string(),
                    Ok(_) => anyhow::bail!(
                        "{} holds an invalid node id; delete it or set node.id",
                        file.display()
                    ),
                    Err(_) => {
                        let id = format!("{}-{}", default_node_id(), keys::random_hex(3));
                        std::fs::write(&file, format!("{id}\n"))
                            .with_context(|| format!("writing {}", file.display()))?;
                        id
                    }
                }
            }
        };
        let host_key = match &config.node.main_host_key {
            Some(fp) => HostKeyPolicy::Pinned(fp.clone()),
            None => HostKeyPolicy::TrustOnFirstUse {
                path: dir.join("main_host_key.pub"),
            },
        };
        Ok(Identity {
            name: config
                .node
                .name
                .clone()
                .unwrap_or_else(vibebridge_tunnel::runtime::hostname),
            node_id,
            key: Arc::new(key),
            host_key,
        })
    }
}

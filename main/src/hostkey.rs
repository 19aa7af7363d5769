//! Main's SSH host key. Nodes pin it, so every main a node may reach must present the same one: on sled it is
//! the file at `ssh.host_key` (generated on first start); on PostgreSQL it lives in the database, sealed with the
//! secrets key, and every main sharing the database loads it from there. The first main to start on PostgreSQL
//! puts its file's key there when it has one (an install moved by `store copy` keeps its nodes' pins), or a new
//! one.

use anyhow::Context;
use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, PrivateKey};
use vibebridge_tunnel::keys;

use crate::config::MainConfig;
use crate::secrets::Sealer;
use crate::store::Store;
use crate::store::kv::Backend;

/// The `meta` key (and sealing context) of the shared host key.
pub const HOST_KEY_META: &str = "ssh_host_key";

/// Loads (or creates) the host key this main presents.
pub fn load(config: &MainConfig, store: &Store, sealer: &Sealer) -> anyhow::Result<PrivateKey> {
    let path = config.host_key_path();
    if matches!(store.backend(), Backend::Sled(_)) {
        return keys::load_or_generate(&path);
    }
    let sealed = match store.meta_value(HOST_KEY_META)? {
        Some(sealed) => sealed,
        None => {
            let local = if path.exists() {
                keys::load_or_generate(&path)?
            } else {
                PrivateKey::random(&mut keys::rng(), Algorithm::Ed25519)
                    .context("generating an ed25519 host key")?
            };
            let text = local
                .to_openssh(LineEnding::LF)
                .context("encoding the host key")?;
            let fresh = sealer.seal(HOST_KEY_META, &text)?;
            // Generated once: another main starting at the same moment gets the key stored first.
            store.meta_secret(HOST_KEY_META, || fresh)?
        }
    };
    let text = sealer.open(HOST_KEY_META, &sealed).map_err(|e| {
        anyhow::anyhow!(
            "the shared SSH host key in the database does not open with this main's secrets key ({e}); \
             give every main the same secrets key (secrets.key_file or VIBEBRIDGE_SECRETS_KEY)"
        )
    })?;
    let key =
        PrivateKey::from_openssh(text.as_bytes()).context("the shared SSH host key is corrupt")?;
    if path.exists()
        && let Ok(file) = keys::load_or_generate(&path)
        && file.public_key() != key.public_key()
    {
        tracing::warn!(
            file = %path.display(),
            "this main's host key file is not the key the mains share through the database; the shared one is used"
        );
    }
    Ok(key)
}

//! `vibebridge seal-secret` and `vibebridge rotate-secrets`: sealing a config secret with main's secrets
//! key, and rotating that key. Rotation puts a new key first in the key file (older keys stay, so nothing
//! stops opening halfway), re-seals every stored token with it, drops OAuth flows in progress, and prints
//! the config's sealed values re-sealed for pasting. Main must be stopped: the store is opened exclusively.

use anyhow::{Context, bail};

use crate::config::MainConfig;
use crate::github::config_context;
use crate::ops::Actor;
use crate::secrets::{KEY_ENV, Sealer, rotate_key_file};
use crate::store::{AuditAction, GithubConnection, Store};

/// Config keys whose values are sealed.
pub const SEALED_CONFIG_KEYS: &[&str] = &["github.client_secret", "github.webhook_secret"];

/// What a rotation did.
#[derive(Debug)]
pub struct Rotation {
    /// The new key's id.
    pub key_id: String,
    /// Stored values re-sealed.
    pub resealed: usize,
    /// Config values re-sealed with the new key: `(key, value)` to paste into the config.
    pub config: Vec<(String, String)>,
}

fn config_value<'a>(config: &'a MainConfig, key: &str) -> Option<&'a String> {
    match key {
        "github.client_secret" => config.github.client_secret.as_ref(),
        "github.webhook_secret" => config.github.webhook_secret.as_ref(),
        _ => None,
    }
}

/// Seals `plain` as the value of config key `key` (one of [`SEALED_CONFIG_KEYS`]).
pub fn seal_config_value(config: &MainConfig, key: &str, plain: &str) -> anyhow::Result<String> {
    if !SEALED_CONFIG_KEYS.contains(&key) {
        bail!(
            "{key} is not a sealed config key; use one of {}",
            SEALED_CONFIG_KEYS.join(", ")
        );
    }
    let plain = plain.trim();
    if plain.is_empty() {
        bail!("nothing to seal: give the secret on standard input");
    }
    std::fs::create_dir_all(&config.database.path)
        .with_context(|| format!("creating {}", config.database.path.display()))?;
    let sealer = Sealer::load(&config.secrets_key_path())?;
    sealer.seal(&config_context(key), plain)
}

/// Rotates the secrets key and re-seals everything sealed with an older one.
pub fn rotate_secrets(config: &MainConfig) -> anyhow::Result<Rotation> {
    if std::env::var(KEY_ENV).is_ok_and(|v| !v.trim().is_empty()) {
        bail!(
            "the secrets key comes from ${KEY_ENV}; unset it to rotate the key file, or rotate by hand: \
             put a new key first (one base64 line per key) in a key file, point secrets.key_file at it and \
             run rotate-secrets again"
        );
    }
    let store = Store::open(&config.database.path.join("db"))?;
    let key_file = config.secrets_key_path();
    let old = Sealer::load(&key_file)?;
    // Everything must open before anything changes.
    let connections = store.github_connections()?;
    let mut plain = Vec::new();
    for c in &connections {
        let access = old
            .open(
                &GithubConnection::access_context(c.user_id),
                &c.access_token,
            )
            .with_context(|| format!("the stored GitHub token of {} does not open", c.login))?;
        let refresh = c
            .refresh_token
            .as_ref()
            .map(|r| old.open(&GithubConnection::refresh_context(c.user_id), r))
            .transpose()
            .with_context(|| format!("the stored refresh token of {} does not open", c.login))?;
        plain.push((access, refresh));
    }
    let mut config_plain = Vec::new();
    for key in SEALED_CONFIG_KEYS {
        if let Some(v) = config_value(config, key) {
            let p = old
                .open(&config_context(key), v)
                .with_context(|| format!("{key} in the config does not open"))?;
            config_plain.push((key.to_string(), p));
        }
    }
    let key_id = rotate_key_file(&key_file)?;
    let new = Sealer::load(&key_file)?;
    let mut resealed = 0;
    for (c, (access, refresh)) in connections.into_iter().zip(plain) {
        let mut c = c;
        c.access_token = new.seal(&GithubConnection::access_context(c.user_id), &access)?;
        resealed += 1;
        if let Some(r) = refresh {
            c.refresh_token = Some(new.seal(&GithubConnection::refresh_context(c.user_id), &r)?);
            resealed += 1;
        }
        store.put_github_connection(&c)?;
    }
    store.clear_oauth_states()?;
    let config_values = config_plain
        .into_iter()
        .map(|(k, p)| Ok((k.clone(), new.seal(&config_context(&k), &p)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    store.audit(
        Actor::system()
            .audit(AuditAction::SecretsRotated)
            .detail(format!(
                "new key {key_id}; {resealed} stored tokens re-sealed"
            )),
    );
    store.flush()?;
    Ok(Rotation {
        key_id,
        resealed,
        config: config_values,
    })
}

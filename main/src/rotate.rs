//! `vibebridge seal-secret` and `vibebridge rotate-secrets`: sealing a config secret with main's secrets
//! key, and rotating that key. Rotation puts a new key first in the key file (older keys stay, so nothing
//! stops opening halfway), re-seals every stored token (GitHub's, main's VAPID key, devices' push keys,
//! webhooks' URLs and secrets) with it, drops OAuth flows in progress, and prints
//! the config's sealed values re-sealed for pasting. Main must be stopped: the store is opened exclusively.

use anyhow::{Context, bail};

use crate::config::MainConfig;
use crate::github::config_context;
use crate::hostkey::HOST_KEY_META;
use crate::notify::Notifier;
use crate::ops::Actor;
use crate::secrets::{KEY_ENV, Sealer, rotate_key_file};
use crate::store::{AuditAction, GithubConnection, PushSubscription, Store, Webhook};

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
    let store = config.database.open_store()?;
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
    let notify = NotifySecrets::open(&store, &old)?;
    // The SSH host key the mains on PostgreSQL share.
    let host_key = store
        .meta_value(HOST_KEY_META)?
        .map(|sealed| old.open(HOST_KEY_META, &sealed))
        .transpose()
        .context("the shared SSH host key does not open")?;
    let key_id = rotate_key_file(&key_file)?;
    let new = Sealer::load(&key_file)?;
    let mut resealed = notify.reseal(&store, &new)?;
    if let Some(plain) = host_key {
        store.set_meta_value(HOST_KEY_META, &new.seal(HOST_KEY_META, &plain)?)?;
        resealed += 1;
    }
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

/// Notifications' sealed values, opened: main's VAPID key, devices' push keys, webhooks' URLs and secrets.
struct NotifySecrets {
    vapid: Option<String>,
    devices: Vec<(PushSubscription, String)>,
    webhooks: Vec<(Webhook, String, Option<String>)>,
}

impl NotifySecrets {
    /// Opens every one with `old`; fails, naming it, if one does not open.
    fn open(store: &Store, old: &Sealer) -> anyhow::Result<NotifySecrets> {
        let vapid = store
            .meta_value(Notifier::VAPID_META)?
            .map(|v| old.open(Notifier::VAPID_META, &v))
            .transpose()
            .context("main's stored VAPID key does not open")?;
        let mut devices = Vec::new();
        for s in store.all_push_subscriptions()? {
            let keys = old
                .open(&PushSubscription::keys_context(s.id), &s.keys)
                .with_context(|| format!("the keys of push device {} do not open", s.id))?;
            devices.push((s, keys));
        }
        let mut webhooks = Vec::new();
        for h in store.all_webhooks()? {
            let url = old
                .open(&Webhook::url_context(h.id), &h.url)
                .with_context(|| format!("the URL of webhook {:?} does not open", h.name))?;
            let secret = h
                .secret
                .as_ref()
                .map(|s| old.open(&Webhook::secret_context(h.id), s))
                .transpose()
                .with_context(|| format!("the secret of webhook {:?} does not open", h.name))?;
            webhooks.push((h, url, secret));
        }
        Ok(NotifySecrets {
            vapid,
            devices,
            webhooks,
        })
    }

    /// Seals every one with `new` and stores it; how many values were re-sealed.
    fn reseal(self, store: &Store, new: &Sealer) -> anyhow::Result<usize> {
        let mut n = 0;
        if let Some(v) = self.vapid {
            store.set_meta_value(Notifier::VAPID_META, &new.seal(Notifier::VAPID_META, &v)?)?;
            n += 1;
        }
        for (mut s, keys) in self.devices {
            s.keys = new.seal(&PushSubscription::keys_context(s.id), &keys)?;
            store.put_push_subscription(&s)?;
            n += 1;
        }
        for (mut h, url, secret) in self.webhooks {
            h.url = new.seal(&Webhook::url_context(h.id), &url)?;
            n += 1;
            if let Some(secret) = secret {
                h.secret = Some(new.seal(&Webhook::secret_context(h.id), &secret)?);
                n += 1;
            }
            store.put_webhook(&h)?;
        }
        Ok(n)
    }
}

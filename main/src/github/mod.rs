//! Talking to GitHub: the REST client ([`client`]), the OAuth endpoints ([`oauth`]) and the JSON main
//! reads ([`model`]), held together by [`Github`] with what they share: the configured URLs and app, the
//! sealer for tokens at rest, the per-person call limit, device flows in progress and the repository
//! list cache. What GitHub means for workspaces, runs and tasks is in `ops::github`.

pub mod client;
pub mod model;
pub mod oauth;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use vibebridge_tunnel::config::Secret;

pub use client::{Api, Fetched, GhError, Page};
pub use oauth::OAuth;

use crate::auth::ratelimit::RateLimiter;
use crate::config::MainConfig;
use crate::secrets::Sealer;
use crate::store::{PullRequestId, UserId};

/// Environment variable that gives the OAuth client secret instead of the config.
pub const CLIENT_SECRET_ENV: &str = "VIBEBRIDGE_GITHUB_CLIENT_SECRET";
/// Environment variable that gives the webhook secret instead of the config.
pub const WEBHOOK_SECRET_ENV: &str = "VIBEBRIDGE_GITHUB_WEBHOOK_SECRET";

/// The sealing context of a config value (`github.client_secret`).
pub fn config_context(key: &str) -> String {
    format!("config:{key}")
}

/// A device flow as the person sees it.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeviceFlow {
    /// Waiting for the code to be entered.
    Waiting {
        /// What to type.
        user_code: String,
        /// Where.
        verification_uri: String,
        /// Until when (ms).
        #[ts(type = "number")]
        expires_at: u64,
    },
    /// It ended without a connection.
    Failed {
        /// Why.
        reason: String,
    },
}

/// GitHub as configured for this main.
pub struct Github {
    /// `[github]`.
    pub config: crate::config::GithubConfig,
    /// The REST API.
    pub api: Api,
    /// The OAuth app, when configured.
    pub oauth: Option<OAuth>,
    /// Verifies webhook deliveries, when configured.
    webhook_secret: Option<Secret>,
    /// Seals tokens at rest.
    pub sealer: Arc<Sealer>,
    /// GitHub calls per person per minute.
    calls: RateLimiter,
    /// One refresh at a time: GitHub spends a refresh token on use.
    pub refresh_lock: tokio::sync::Mutex<()>,
    /// Device flows in progress (or just failed), by person.
    devices: Mutex<HashMap<UserId, DeviceFlow>>,
    /// Each person's repository list, briefly.
    repo_cache: Mutex<HashMap<UserId, CachedRepos>>,
    /// Wakes the pull request poller (a webhook arrived).
    pub poke: tokio::sync::Notify,
    /// One check of a pull request at a time (a webhook, the poller and a turn's end may ask at once).
    following: Mutex<HashMap<PullRequestId, Arc<tokio::sync::Mutex<()>>>>,
    /// One issue import at a time (two at once would both see an issue as new).
    pub import_lock: tokio::sync::Mutex<()>,
    /// Refused webhook deliveries audited per client address per minute, at most (a flood of forged
    /// deliveries must not flood the audit log).
    pub webhook_refusals: RateLimiter,
}

/// A person's repository list and when it was read.
type CachedRepos = (Instant, Arc<Vec<model::GhRepo>>);

/// How long a person's repository list is reused before GitHub is asked again.
const REPO_CACHE: Duration = Duration::from_secs(60);

impl Github {
    /// GitHub as `config` describes it; sealed secrets in the config are opened with `sealer`.
    pub fn new(config: &MainConfig, sealer: Arc<Sealer>) -> anyhow::Result<Github> {
        let gh = &config.github;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .context("building the HTTP client for GitHub")?;
        let client_secret = config_secret(
            &sealer,
            "github.client_secret",
            &gh.client_secret,
            CLIENT_SECRET_ENV,
        )?;
        let webhook_secret = config_secret(
            &sealer,
            "github.webhook_secret",
            &gh.webhook_secret,
            WEBHOOK_SECRET_ENV,
        )?;
        let oauth = gh
            .client_id
            .as_deref()
            .map(|id| OAuth::new(http.clone(), &gh.web_url, id, client_secret));
        Ok(Github {
            api: Api::new(http, &gh.api_url),
            oauth,
            webhook_secret,
            sealer,
            calls: RateLimiter::new(gh.calls_per_minute, Duration::from_secs(60)),
            refresh_lock: tokio::sync::Mutex::new(()),
            devices: Mutex::default(),
            repo_cache: Mutex::default(),
            poke: tokio::sync::Notify::new(),
            following: Mutex::default(),
            import_lock: tokio::sync::Mutex::new(()),
            webhook_refusals: RateLimiter::new(10, Duration::from_secs(60)),
            config: gh.clone(),
        })
    }

    /// Counts one GitHub call for `user`; `Err(seconds)` when they made too many this minute.
    pub fn count_call(&self, user: UserId) -> Result<(), u64> {
        self.calls.hit(&user.to_string())
    }

    /// The lock that serialises checks of pull request `id`.
    pub fn follow_lock(&self, id: PullRequestId) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.following.lock().unwrap_or_else(|e| e.into_inner());
        // Locks nobody holds or waits for are dropped as the map grows.
        if map.len() > 1024 {
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry(id).or_default().clone()
    }

    /// The webhook secret, if deliveries are accepted.
    pub fn webhook_secret(&self) -> Option<&Secret> {
        self.webhook_secret.as_ref()
    }

    /// A person's device flow, if one is in progress or just failed.
    pub fn device(&self, user: UserId) -> Option<DeviceFlow> {
        self.devices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&user)
            .cloned()
    }

    /// Sets (or with `None` ends) a person's device flow.
    pub fn set_device(&self, user: UserId, flow: Option<DeviceFlow>) {
        let mut map = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        match flow {
            Some(f) => {
                map.insert(user, f);
            }
            None => {
                map.remove(&user);
            }
        }
    }

    /// A person's cached repository list, if fresh.
    pub fn cached_repos(&self, user: UserId) -> Option<Arc<Vec<model::GhRepo>>> {
        let map = self.repo_cache.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&user)
            .filter(|(at, _)| at.elapsed() < REPO_CACHE)
            .map(|(_, repos)| repos.clone())
    }

    /// Caches a person's repository list (or forgets it, with `None`).
    pub fn cache_repos(&self, user: UserId, repos: Option<Arc<Vec<model::GhRepo>>>) {
        let mut map = self.repo_cache.lock().unwrap_or_else(|e| e.into_inner());
        match repos {
            Some(r) => {
                map.insert(user, (Instant::now(), r));
            }
            None => {
                map.remove(&user);
            }
        }
    }
}

/// A secret of the config: from the environment variable when set, else the sealed config value opened.
fn config_secret(
    sealer: &Sealer,
    key: &str,
    sealed: &Option<String>,
    env: &str,
) -> anyhow::Result<Option<Secret>> {
    if let Ok(v) = std::env::var(env)
        && !v.trim().is_empty()
    {
        return Ok(Some(Secret::new(v.trim())));
    }
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let plain = sealer.open(&config_context(key), sealed).map_err(|e| {
        anyhow::anyhow!(
            "{key} does not open with this main's secrets key ({e}); seal it again with `vibebridge seal-secret {key}`"
        )
    })?;
    Ok(Some(Secret::new(plain)))
}

/// `sha256=<hex>` of HMAC-SHA256(`secret`, `body`): GitHub's `X-Hub-Signature-256`.
pub fn webhook_signature(secret: &Secret, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.expose().as_bytes());
    format!(
        "sha256={}",
        hex::encode(aws_lc_rs::hmac::sign(&key, body).as_ref())
    )
}

/// Whether `signature` (the header's value) is the body's, compared in constant time.
pub fn webhook_verify(secret: &Secret, body: &[u8], signature: &str) -> bool {
    let Some(hex_sig) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(tag) = hex::decode(hex_sig.trim()) else {
        return false;
    };
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.expose().as_bytes());
    aws_lc_rs::hmac::verify(&key, body, &tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves webhook signatures follow GitHub's documented example and that any change is refused.
    #[test]
    fn webhook_signatures() {
        // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries (test values)
        let secret = Secret::new("It's a Secret to Everybody");
        let body = b"Hello, World!";
        let sig = webhook_signature(&secret, body);
        assert_eq!(
            sig,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        assert!(webhook_verify(&secret, body, &sig));
        assert!(!webhook_verify(&secret, b"Hello, World?", &sig));
        assert!(!webhook_verify(&Secret::new("other"), body, &sig));
        assert!(!webhook_verify(&secret, body, "sha1=abc"));
        assert!(!webhook_verify(&secret, body, "sha256=zz"));
    }
}

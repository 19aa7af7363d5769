//! `[notifications]`: Web Push to people's devices and outgoing webhooks.

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// `[notifications]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// This main's address as people reach it (`https://vibebridge.example.com`): webhooks link to it.
    /// Without it their messages carry paths only.
    pub public_url: Option<String>,
    /// The contact put in every push's VAPID token (RFC 8292 `sub`): `mailto:` or `https:`. Push services
    /// write to it when something is wrong; Apple's refuses `localhost` addresses.
    pub vapid_subject: String,
    /// Hosts a device's push endpoint may be on (`*.` matches any subdomain). Browsers' push services
    /// are listed by default; anything else is refused, so main never posts to an address a user made up.
    pub push_services: Vec<String>,
    /// Accept `http://` push endpoints on the listed hosts (tests with a local push service only).
    pub allow_insecure_push: bool,
    /// Let webhooks post to loopback, private and link-local addresses (and `localhost`). Off by default, so
    /// a workspace admin cannot aim main at services on its own network.
    pub allow_local_webhooks: bool,
    /// A node must stay offline this long before its owner is told.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub node_offline_after: Duration,
    /// A webhook receiver must answer within this.
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub webhook_timeout: Duration,
    /// The first retry of a failed webhook delivery comes this long after it; the next ones further apart
    /// (×3, ×12, ×60, ×180, ×360, ×1080, ×2160: about ten hours in all with the default 10 s).
    #[serde(with = "vibebridge_tunnel::config::duration")]
    pub webhook_retry_base: Duration,
    /// Attempts of one delivery before it is marked failed (1 to 9).
    pub webhook_attempts: u32,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        NotificationsConfig {
            public_url: None,
            vapid_subject: "mailto:admin@vibebridge.invalid".into(),
            push_services: [
                "fcm.googleapis.com",
                "*.push.services.mozilla.com",
                "web.push.apple.com",
                "*.notify.windows.com",
            ]
            .map(String::from)
            .to_vec(),
            allow_insecure_push: false,
            allow_local_webhooks: false,
            node_offline_after: Duration::from_secs(120),
            webhook_timeout: Duration::from_secs(10),
            webhook_retry_base: Duration::from_secs(10),
            webhook_attempts: 9,
        }
    }
}

impl NotificationsConfig {
    /// Refuses values that cannot work, saying what to write instead.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.public_url
            && (!(url.starts_with("https://") || url.starts_with("http://")) || url.ends_with('/'))
        {
            bail!(
                "notifications.public_url {url:?} is not a base URL; write it with scheme and without a \
                 trailing slash, e.g. \"https://vibebridge.example.com\""
            );
        }
        if !(self.vapid_subject.starts_with("mailto:")
            || self.vapid_subject.starts_with("https://"))
        {
            bail!(
                "notifications.vapid_subject {:?} must be a mailto: or https: contact, e.g. \
                 \"mailto:ops@example.com\"",
                self.vapid_subject
            );
        }
        for (i, host) in self.push_services.iter().enumerate() {
            let bare = host.strip_prefix("*.").unwrap_or(host);
            let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == ':';
            if bare.is_empty() || !bare.chars().all(plain) {
                bail!(
                    "notifications.push_services[{i}] {host:?} is not a host name; write e.g. \
                     \"fcm.googleapis.com\" or \"*.push.services.mozilla.com\""
                );
            }
        }
        if self.webhook_timeout.is_zero() || self.webhook_retry_base.is_zero() {
            bail!(
                "notifications.webhook_timeout and webhook_retry_base must be greater than zero, e.g. \"10s\""
            );
        }
        if !(1..=9).contains(&self.webhook_attempts) {
            bail!(
                "notifications.webhook_attempts is {}; use 1 to 9",
                self.webhook_attempts
            );
        }
        Ok(())
    }

    /// Whether a push endpoint's `host` (with `:port` when it has one) is an allowed push service.
    pub fn push_host_allowed(&self, host: &str, port: Option<u16>) -> bool {
        let with_port = port.map(|p| format!("{host}:{p}"));
        self.push_services.iter().any(|pattern| {
            let matches = |h: &str| match pattern.strip_prefix("*.") {
                Some(suffix) => h.len() > suffix.len() && h.ends_with(&format!(".{suffix}")),
                None => h.eq_ignore_ascii_case(pattern),
            };
            matches(host) || with_port.as_deref().is_some_and(matches)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves push hosts match exactly or as subdomains of a `*.` pattern, with or without a port.
    #[test]
    fn push_hosts_match_exactly_or_by_subdomain() {
        let c = NotificationsConfig {
            push_services: vec![
                "fcm.googleapis.com".into(),
                "*.push.services.mozilla.com".into(),
                "127.0.0.1:9".into(),
            ],
            ..Default::default()
        };
        assert!(c.push_host_allowed("fcm.googleapis.com", None));
        assert!(c.push_host_allowed("updates.push.services.mozilla.com", None));
        assert!(!c.push_host_allowed("push.services.mozilla.com", None));
        assert!(!c.push_host_allowed("evil.fcm.googleapis.com.example", None));
        assert!(c.push_host_allowed("127.0.0.1", Some(9)));
        assert!(!c.push_host_allowed("127.0.0.1", Some(10)));
    }
}

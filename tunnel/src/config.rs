//! Tunnel tuning shared by main and node: liveness intervals, timeouts and limits (`[tunnel]` in both configs).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The `[tunnel]` table. Every field has a production default; tests shrink the intervals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TunnelConfig {
    /// How often the node sends an application heartbeat on the control stream.
    #[serde(with = "crate::config::duration")]
    pub heartbeat_interval: Duration,
    /// A link with no frame from the peer for this long is dead (also the TCP_USER_TIMEOUT).
    #[serde(with = "crate::config::duration")]
    pub dead_after: Duration,
    /// Budget for TCP connect + SSH handshake + authentication + hello.
    #[serde(with = "crate::config::duration")]
    pub handshake_timeout: Duration,
    /// Budget for opening a stream and exchanging its first frame.
    #[serde(with = "crate::config::duration")]
    pub open_timeout: Duration,
    /// Maximum concurrent yamux streams on one link.
    pub max_streams: usize,
    /// Maximum size of one JSON frame, in bytes.
    pub max_frame_bytes: usize,
}

impl Default for TunnelConfig {
    fn default() -> Self {
        TunnelConfig {
            heartbeat_interval: Duration::from_secs(15),
            dead_after: Duration::from_secs(45),
            handshake_timeout: Duration::from_secs(20),
            open_timeout: Duration::from_secs(10),
            max_streams: 256,
            max_frame_bytes: crate::frame::DEFAULT_MAX_FRAME,
        }
    }
}

impl TunnelConfig {
    /// Checks the values make sense together; messages name the key and what to do.
    pub fn validate(&self) -> Result<(), String> {
        if self.heartbeat_interval.is_zero() {
            return Err(
                "tunnel.heartbeat_interval must be greater than zero (e.g. \"15s\")".into(),
            );
        }
        if self.dead_after < self.heartbeat_interval * 2 {
            return Err(format!(
                "tunnel.dead_after ({}) must be at least twice tunnel.heartbeat_interval ({}), \
                 or one late heartbeat would drop the link",
                humantime::format_duration(self.dead_after),
                humantime::format_duration(self.heartbeat_interval)
            ));
        }
        if self.handshake_timeout.is_zero() || self.open_timeout.is_zero() {
            return Err(
                "tunnel.handshake_timeout and tunnel.open_timeout must be greater than zero".into(),
            );
        }
        if !(1..=4096).contains(&self.max_streams) {
            return Err(format!(
                "tunnel.max_streams is {}; use a value between 1 and 4096",
                self.max_streams
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_frame_bytes) {
            return Err(format!(
                "tunnel.max_frame_bytes is {}; use a value between 1024 and 67108864",
                self.max_frame_bytes
            ));
        }
        Ok(())
    }
}

/// A secret from a config file (token, key): `Debug` and `Display` print `***`, so it never reaches a log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself; call sites make every use visible.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Reads the TOML config file at `path` into `T` and checks it with `validate`; every error names the file
/// (and the offending key, where there is one). Main's and the agent's `load` are this.
pub fn load_file<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    validate: impl FnOnce(&T) -> anyhow::Result<()>,
) -> anyhow::Result<T> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    let config: T = parse_toml(&text, &path.display().to_string())?;
    validate(&config).with_context(|| format!("invalid config {}", path.display()))?;
    Ok(config)
}

/// Parses a TOML config into `T`, turning errors into a message naming the file and the offending key.
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, origin: &str) -> anyhow::Result<T> {
    toml::from_str(text).map_err(|e| anyhow::anyhow!("{origin}: {}", e.to_string().trim_end()))
}

/// Serde for the durations of config files, written like "30s", "15m" or "7days" (humantime), and at most
/// [`MAX`](duration::MAX) long, so deadlines and multiples computed from them cannot overflow.
/// Use as `#[serde(with = "vibebridge_tunnel::config::duration")]`.
pub mod duration {
    use std::time::Duration;

    use serde::de::Error as _;
    use serde::{Deserializer, Serializer};

    /// The longest duration a config may give: ten years.
    pub const MAX: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

    /// Writes the duration the way it is read.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        humantime_serde::serialize(d, s)
    }

    /// Reads a duration; longer than [`MAX`] is an error.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v: Duration = humantime_serde::deserialize(d)?;
        if v > MAX {
            return Err(D::Error::custom(format!(
                "{} is longer than any supported duration (at most 10 years)",
                humantime::format_duration(v)
            )));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves an absurd duration is refused at parse time, naming the key, instead of overflowing later.
    #[test]
    fn durations_beyond_ten_years_are_refused_with_the_key() {
        let err = toml::from_str::<TunnelConfig>("heartbeat_interval = \"300000000000y\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("heartbeat_interval") && err.contains("at most 10 years"),
            "{err}"
        );
        let ok: TunnelConfig = toml::from_str("dead_after = \"3650days\"").unwrap();
        assert_eq!(ok.dead_after, Duration::from_secs(3650 * 24 * 3600));
    }
}

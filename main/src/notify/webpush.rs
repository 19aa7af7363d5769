//! Web Push to one browser (RFC 8030): the payload encrypted for the browser's keys (RFC 8291, `aes128gcm`,
//! by the `web-push-native` crate) and the request signed with main's VAPID key (RFC 8292: an ES256 JWT by
//! `jsonwebtoken`, the public key in `k`). No cryptography is written here.

use std::time::{Duration, Instant};

use anyhow::Context;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::{Deserialize, Serialize};
use web_push_native::p256;

/// How long a VAPID token is valid (RFC 8292 allows 24 h at most).
const TOKEN_LIFE: Duration = Duration::from_secs(12 * 3600);

/// Main's VAPID key pair (P-256) and contact.
pub struct Vapid {
    pkcs8: Vec<u8>,
    public: Vec<u8>,
    subject: String,
}

impl Vapid {
    /// A new key pair, as PKCS#8 DER (to be sealed and stored).
    pub fn generate() -> anyhow::Result<Vec<u8>> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| anyhow::anyhow!("generating the VAPID key failed"))?;
        Ok(doc.as_ref().to_vec())
    }

    /// The key pair in `pkcs8`, with `subject` (`mailto:` or `https:`) as contact.
    pub fn from_pkcs8(pkcs8: Vec<u8>, subject: &str) -> anyhow::Result<Vapid> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
            .map_err(|e| anyhow::anyhow!("the stored VAPID key does not load: {e}"))?;
        Ok(Vapid {
            public: pair.public_key().as_ref().to_vec(),
            pkcs8,
            subject: subject.to_string(),
        })
    }

    /// The public key, base64url without padding: the browser's `applicationServerKey`.
    pub fn public_key(&self) -> String {
        B64URL.encode(&self.public)
    }

    /// `Authorization: vapid t=…, k=…` for a push to `endpoint`.
    fn authorization(&self, endpoint: &reqwest::Url) -> anyhow::Result<String> {
        #[derive(Serialize)]
        struct Claims<'a> {
            aud: String,
            exp: u64,
            sub: &'a str,
        }
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(TOKEN_LIFE)
            .as_secs();
        let claims = Claims {
            aud: endpoint.origin().ascii_serialization(),
            exp,
            sub: &self.subject,
        };
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
            &claims,
            &jsonwebtoken::EncodingKey::from_ec_der(&self.pkcs8),
        )
        .context("signing the VAPID token")?;
        Ok(format!("vapid t={token}, k={}", self.public_key()))
    }
}

/// A browser's keys from its `PushSubscription.toJSON().keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "PushKeys")]
pub struct Keys {
    /// Its P-256 public key, uncompressed, base64url.
    pub p256dh: String,
    /// Its 16-byte authentication secret, base64url.
    pub auth: String,
}

impl Keys {
    /// The decoded keys, or what is wrong with them.
    fn decode(&self) -> Result<(p256::PublicKey, web_push_native::Auth), String> {
        let b64 = |s: &str| B64URL.decode(s.trim_end_matches('='));
        let public = b64(&self.p256dh)
            .ok()
            .and_then(|b| p256::PublicKey::from_sec1_bytes(&b).ok())
            .ok_or("keys.p256dh is not a base64url P-256 public key")?;
        let auth: [u8; 16] = b64(&self.auth)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("keys.auth is not 16 bytes in base64url")?;
        Ok((public, web_push_native::Auth::from(auth)))
    }

    /// Whether the keys can be used, with what is wrong when not.
    pub fn check(&self) -> Result<(), String> {
        self.decode().map(drop)
    }
}

/// How soon the push service should wake the device (RFC 8030 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Waits for the device to be awake anyway.
    Normal,
    /// Wakes it (someone waits).
    High,
}

/// One push message.
pub struct Push<'a> {
    /// The JSON the service worker receives.
    pub payload: &'a [u8],
    /// How long the push service keeps it for an offline device.
    pub ttl: Duration,
    /// Urgency.
    pub urgency: Urgency,
    /// A pending message with the same topic is replaced (RFC 8030 §5.4): ≤ 32 base64url characters.
    pub topic: &'a str,
}

/// What the push service said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (201).
    Accepted,
    /// The subscription is gone (404 or 410): forget it.
    Expired(u16),
    /// Try again later (429, 5xx, no answer), after `after` when the service said.
    Retry {
        /// `Retry-After`.
        after: Option<Duration>,
        /// Why.
        reason: String,
    },
    /// Refused for good (another 4xx, bad keys, bad endpoint).
    Failed(String),
}

/// The topic for notices tagged `tag`: base64url of a hash, 32 characters.
pub fn topic(tag: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, tag.as_bytes());
    B64URL.encode(&digest.as_ref()[..24])
}

/// Sends `push` to the browser at `endpoint` with `keys`.
pub async fn send(
    http: &reqwest::Client,
    vapid: &Vapid,
    endpoint: &str,
    keys: &Keys,
    push: &Push<'_>,
) -> Outcome {
    let url = match reqwest::Url::parse(endpoint) {
        Ok(u) => u,
        Err(e) => return Outcome::Failed(format!("the endpoint is not a URL: {e}")),
    };
    let (public, auth) = match keys.decode() {
        Ok(k) => k,
        Err(e) => return Outcome::Failed(e),
    };
    let body = match web_push_native::encrypt(push.payload.to_vec(), &public, &auth) {
        Ok(b) => b,
        Err(e) => return Outcome::Failed(format!("encrypting the payload: {e}")),
    };
    let authorization = match vapid.authorization(&url) {
        Ok(a) => a,
        Err(e) => return Outcome::Failed(format!("{e:#}")),
    };
    let started = Instant::now();
    let sent = http
        .post(url)
        .header("TTL", push.ttl.as_secs().to_string())
        .header(
            "Urgency",
            match push.urgency {
                Urgency::Normal => "normal",
                Urgency::High => "high",
            },
        )
        .header("Topic", push.topic)
        .header("Content-Encoding", "aes128gcm")
        .header("Content-Type", "application/octet-stream")
        .header("Authorization", authorization)
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Retry {
                after: None,
                reason: format!(
                    "the push service did not answer ({}): {}",
                    humantime::format_duration(Duration::from_millis(
                        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
                    )),
                    e.without_url()
                ),
            };
        }
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let said = String::from_utf8_lossy(&super::hooks::body_start(response, 200).await).into_owned();
    match status {
        200..=299 => Outcome::Accepted,
        404 | 410 => Outcome::Expired(status),
        429 | 500..=599 => Outcome::Retry {
            after: retry_after,
            reason: format!("the push service answered {status}: {said}"),
        },
        _ => Outcome::Failed(format!("the push service refused it ({status}): {said}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves a generated key loads back, gives a 65-byte uncompressed public key, and signs a token whose
    /// audience is the endpoint's origin.
    #[test]
    fn vapid_keys_round_trip_and_sign_for_the_origin() {
        let der = Vapid::generate().unwrap();
        let v = Vapid::from_pkcs8(der, "mailto:ops@example.com").unwrap();
        let public = B64URL.decode(v.public_key()).unwrap();
        assert_eq!((public.len(), public[0]), (65, 4));
        let url = reqwest::Url::parse("https://push.example.com:8443/send/abc?x=1").unwrap();
        let header = v.authorization(&url).unwrap();
        let token = header
            .strip_prefix("vapid t=")
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&B64URL.decode(token.split('.').nth(1).unwrap()).unwrap())
                .unwrap();
        assert_eq!(claims["aud"], "https://push.example.com:8443");
        assert_eq!(claims["sub"], "mailto:ops@example.com");
    }

    /// Proves bad browser keys are refused with what is wrong, and the topic fits RFC 8030's 32 characters.
    #[test]
    fn bad_keys_are_named_and_topics_are_short() {
        let bad = Keys {
            p256dh: "AAAA".into(),
            auth: "AAAA".into(),
        };
        assert!(bad.check().unwrap_err().contains("p256dh"));
        let t = topic("session:0190");
        assert_eq!(t.len(), 32);
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
}

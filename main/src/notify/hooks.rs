//! One webhook request: the event rendered for the receiver's kind and sent once.
//!
//! - **generic**: the event as JSON, `X-VibeBridge-Event`, `X-VibeBridge-Delivery`,
//!   `X-VibeBridge-Timestamp` (Unix seconds) and `X-VibeBridge-Signature-256: sha256=<hex>`, the HMAC-SHA256
//!   of `<timestamp>.<body>` with the webhook's secret (the timestamp inside the MAC lets a receiver refuse
//!   replays);
//! - **slack**: an incoming-webhook body, `{"text": …}` in Slack's mrkdwn;
//! - **ntfy**: ntfy's JSON publish (`{"topic", "title", "message", "priority", "tags", "click"}`) to the
//!   server the topic URL names, with `Authorization: Bearer <token>` when the webhook has one.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::store::{DeliveryResponse, WebhookKind, now_ms};

/// Bytes of a receiver's answer kept with the delivery.
const KEPT_BODY: usize = 1024;

/// Where one delivery goes.
pub struct Target<'a> {
    /// Receiver kind.
    pub kind: WebhookKind,
    /// The URL (opened).
    pub url: &'a str,
    /// The HMAC secret or ntfy token (opened).
    pub secret: Option<&'a str>,
}

/// Whether `ip` is loopback, private, link-local, shared (CGNAT) or unspecified.
pub fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (b & 0xc0) == 64) // 100.64.0.0/10, shared (CGNAT)
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // 192.0.0.0/24, protocol assignments
                || (a == 198 && (b & 0xfe) == 18) // 198.18.0.0/15, benchmarking
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4().is_some_and(|v4| is_local(IpAddr::V4(v4)))
                || embedded_v4(v6).is_some_and(|v4| is_local(IpAddr::V4(v4)))
        }
    }
}

/// The address a URL's host is written as, when it is one (`127.0.0.1`, `[::1]`), not a name.
pub fn address_literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// At most the first `max` bytes of `response`'s body, read no further (a peer cannot make main hold more).
pub async fn body_start(mut response: reqwest::Response, max: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    while bytes.len() < max {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(max);
    bytes
}

/// The record of an attempt that was not made, and why.
pub fn not_attempted(why: String) -> DeliveryResponse {
    DeliveryResponse {
        at: now_ms(),
        status: None,
        error: Some(why),
        body: String::new(),
        duration_ms: 0,
    }
}

/// The IPv4 address inside a NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`) address.
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let pair = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        std::net::Ipv4Addr::new(a, b, c, d)
    };
    match s {
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(pair(hi, lo)),
        [0x2002, hi, lo, ..] => Some(pair(hi, lo)),
        _ => None,
    }
}

/// Resolves host names to public addresses only: a name that resolves to nothing else (a rebinding trick,
/// `127.0.0.1.nip.io`) is refused at connect time, where a check of the URL alone cannot see it.
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let public: Vec<SocketAddr> = found.filter(|a| !is_local(a.ip())).collect();
            if public.is_empty() {
                return Err(format!(
                    "{host} resolves only to local or private addresses; set \
                     notifications.allow_local_webhooks = true in main's config to allow that"
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// `sha256=<hex>` of `<timestamp>.<body>` under `secret`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("sha256={}", hex::encode(ctx.sign().as_ref()))
}

/// `&`, `<` and `>` as Slack's mrkdwn wants them.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The ntfy server's publish URL and the topic of a topic URL (`https://ntfy.sh/alerts`).
pub fn ntfy_split(url: &str) -> Option<(String, String)> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let path = parsed.path().trim_end_matches('/');
    let (base, topic) = path.rsplit_once('/')?;
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if topic.is_empty() || topic.len() > 64 || !topic.chars().all(ok) {
        return None;
    }
    let mut server = parsed.clone();
    server.set_path(if base.is_empty() { "/" } else { base });
    server.set_query(None);
    Some((server.to_string(), topic.to_string()))
}

/// The request body and headers of `event` (JSON with `title`, `body`, `url`…) for `target`.
fn render(
    target: &Target<'_>,
    delivery: u64,
    event_name: &str,
    event: &Value,
) -> (String, Vec<u8>, Vec<(String, String)>) {
    let text = |k: &str| {
        event
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match target.kind {
        WebhookKind::Generic => {
            let mut body = json!({ "delivery": delivery.to_string() });
            if let (Some(b), Some(e)) = (body.as_object_mut(), event.as_object()) {
                b.extend(e.clone());
            }
            let body = serde_json::to_vec(&body).unwrap_or_default();
            let ts = now_ms() / 1000;
            let mut headers = vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-VibeBridge-Event".into(), event_name.to_string()),
                ("X-VibeBridge-Delivery".into(), delivery.to_string()),
                ("X-VibeBridge-Timestamp".into(), ts.to_string()),
            ];
            if let Some(secret) = target.secret {
                headers.push((
                    "X-VibeBridge-Signature-256".into(),
                    signature(secret, ts, &body),
                ));
            }
            (target.url.to_string(), body, headers)
        }
        WebhookKind::Slack => {
            let link = text("link");
            let mut line = format!("*{}*", slack_escape(&text("title")));
            let body = text("body");
            if !body.is_empty() {
                line.push('\n');
                line.push_str(&slack_escape(&body));
            }
            if !link.is_empty() {
                line.push_str(&format!("\n<{}|Open in VibeBridge>", slack_escape(&link)));
            }
            let body = serde_json::to_vec(&json!({ "text": line })).unwrap_or_default();
            (
                target.url.to_string(),
                body,
                vec![("Content-Type".into(), "application/json".into())],
            )
        }
        WebhookKind::Ntfy => {
            let (server, topic) = ntfy_split(target.url).unwrap_or_default();
            let urgent = matches!(event_name, "approval" | "question");
            let mut msg = json!({
                "topic": topic,
                "title": text("title"),
                "message": text("body"),
                "priority": if urgent { 4 } else { 3 },
                "tags": [event_name],
            });
            let link = text("link");
            if !link.is_empty() {
                msg["click"] = Value::String(link);
            }
            let mut headers = vec![("Content-Type".into(), "application/json".into())];
            if let Some(token) = target.secret {
                headers.push(("Authorization".into(), format!("Bearer {token}")));
            }
            (
                server,
                serde_json::to_vec(&msg).unwrap_or_default(),
                headers,
            )
        }
    }
}

/// Sends delivery `delivery` of `event` once; the answer (or why there was none) as recorded. Only a 2xx
/// answer counts as delivered (`error` is `None` then).
pub async fn attempt(
    http: &reqwest::Client,
    target: &Target<'_>,
    delivery: u64,
    event_name: &str,
    event: &Value,
    timeout: Duration,
    allow_local: bool,
) -> DeliveryResponse {
    let (url, body, headers) = render(target, delivery, event_name, event);
    let started = Instant::now();
    // An address in the URL is not resolved (so `PublicOnly` never sees it): checked here, at every
    // attempt, in case the setting changed since the webhook was saved.
    let literal = reqwest::Url::parse(&url)
        .ok()
        .and_then(|u| u.host_str().and_then(address_literal));
    if !allow_local && literal.is_some_and(is_local) {
        return not_attempted(
            "the URL is a local or private address; set notifications.allow_local_webhooks = true to allow that"
                .into(),
        );
    }
    let mut request = http.post(&url).timeout(timeout).body(body);
    for (k, v) in headers {
        request = request.header(k, v);
    }
    let sent = request.send().await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let at = now_ms();
    match sent {
        Err(e) => DeliveryResponse {
            at,
            status: None,
            error: Some(if e.is_timeout() {
                format!("no answer within {}", humantime::format_duration(timeout))
            } else {
                format!("could not reach the receiver: {}", e.without_url())
            }),
            body: String::new(),
            duration_ms,
        },
        Ok(r) => {
            let status = r.status();
            // Only the start is kept, so only the start is read.
            let kept = String::from_utf8_lossy(&body_start(r, KEPT_BODY).await).into_owned();
            DeliveryResponse {
                at,
                status: Some(status.as_u16()),
                error: (!status.is_success()).then(|| {
                    if status.is_redirection() {
                        format!("the receiver answered {status}; webhooks do not follow redirects")
                    } else {
                        format!("the receiver answered {status}")
                    }
                }),
                body: kept,
                duration_ms,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the signature is HMAC-SHA256 of `timestamp.body`, checked against an independent value
    /// (computed with `printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret`).
    #[test]
    fn signature_covers_timestamp_and_body() {
        assert_eq!(
            signature("secret", 1_700_000_000, br#"{"a":1}"#),
            "sha256=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
    }

    /// Proves a name that resolves only to loopback is refused with what to set, and shared and private
    /// ranges count as local.
    #[tokio::test]
    async fn names_resolving_to_local_addresses_are_refused() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let err = match PublicOnly.resolve(name).await {
            Ok(_) => panic!("localhost resolved"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("allow_local_webhooks"), "{err}");
        for ip in [
            "100.64.0.1",
            "10.1.2.3",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_local(ip.parse().unwrap()), "{ip}");
        }
        assert!(!is_local("93.184.216.34".parse().unwrap()));
    }

    /// Proves an ntfy topic URL splits into its server and topic, and a URL without a topic is refused.
    #[test]
    fn ntfy_urls_split_into_server_and_topic() {
        assert_eq!(
            ntfy_split("https://ntfy.sh/vb-alerts"),
            Some(("https://ntfy.sh/".into(), "vb-alerts".into()))
        );
        assert_eq!(
            ntfy_split("http://127.0.0.1:8080/ntfy/ops_1/"),
            Some(("http://127.0.0.1:8080/ntfy".into(), "ops_1".into()))
        );
        assert_eq!(ntfy_split("https://ntfy.sh/"), None);
        assert_eq!(ntfy_split("https://ntfy.sh/a b"), None);
    }

    /// Proves Slack's text escapes what mrkdwn treats as markup and links the event.
    #[test]
    fn slack_text_is_escaped_and_linked() {
        let t = Target {
            kind: WebhookKind::Slack,
            url: "https://hooks.slack.com/services/T/B/x",
            secret: None,
        };
        let (_, body, _) = render(
            &t,
            7,
            "mention",
            &json!({"title": "a <b> & c", "body": "x", "link": "https://vb.example/w/A"}),
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["text"],
            "*a &lt;b&gt; &amp; c*\nx\n<https://vb.example/w/A|Open in VibeBridge>"
        );
    }
}

//! What the webhook tests (`tests/tests/webhooks.rs`, `webhook_kinds.rs`) share: a main with quick retries,
//! alice and her workspace, creating a webhook and queueing its test, checking a generic request's signature
//! independently of main (the `hmac` crate), and waiting for a delivery's state on the board's live `webhook`
//! frames.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use vibebridge_main::MainConfig;

use crate::mock::hooks::{HOOK_WAIT, Received};
use crate::{Api, TestMain, WsClient};

/// Local receivers allowed and quick retries (50 ms, then 150 ms, 600 ms…).
pub fn fast(c: &mut MainConfig) {
    c.notifications.allow_local_webhooks = true;
    c.notifications.webhook_retry_base = Duration::from_millis(50);
}

/// Alice (registered, so the instance admin) logged in to `main`, and her workspace WEB's id.
pub async fn alice_with_workspace(main: &TestMain) -> (Api, String) {
    let mut alice = Api::new(main);
    assert_eq!(
        alice.auth(true, "alice", "correct horse battery").await.0,
        200
    );
    let (s, ws) = alice
        .post(
            "/api/v1/workspaces",
            json!({"name": "Web", "key_prefix": "WEB"}),
        )
        .await;
    assert_eq!(s, 200, "{ws}");
    (alice, ws["id"].as_str().unwrap().to_string())
}

/// Creates a webhook in `ws` (201 expected); the answer (`{webhook, secret}`) and the webhook's id.
pub async fn create_hook(api: &Api, ws: &str, body: Value) -> (Value, String) {
    let (s, made) = api
        .post(&format!("/api/v1/workspaces/{ws}/webhooks"), body)
        .await;
    assert_eq!(s, 201, "{made}");
    let id = made["webhook"]["id"].as_str().unwrap().to_string();
    (made, id)
}

/// `POST /webhooks/{hook}/test` (202 expected); the queued delivery's id.
pub async fn send_test(api: &Api, hook: &str) -> String {
    let (s, d) = api
        .post(&format!("/api/v1/webhooks/{hook}/test"), json!({}))
        .await;
    assert_eq!(s, 202, "{d}");
    assert_eq!(
        (d["state"].as_str(), d["event"].as_str()),
        (Some("pending"), Some("test")),
        "{d}"
    );
    d["id"].as_str().unwrap().to_string()
}

/// `sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>` with `secret`: what a receiver checks.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks `r` is a generic webhook request of `event` for delivery `delivery`, signed with `secret` at a
/// current timestamp; its JSON body.
pub fn check_generic(r: &Received, secret: &str, event: &str, delivery: &str) -> Value {
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.header("x-vibebridge-event"),
        Some(event),
        "{:?}",
        r.headers
    );
    assert_eq!(
        r.header("x-vibebridge-delivery"),
        Some(delivery),
        "{:?}",
        r.headers
    );
    let ts = r.header("x-vibebridge-timestamp").expect("a timestamp");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(ts.parse::<u64>().unwrap()) < 300,
        "timestamp {ts} is not now ({now})"
    );
    assert_eq!(
        r.header("x-vibebridge-signature-256"),
        Some(signature(secret, ts, &r.body).as_str()),
        "the signature is HMAC-SHA256(secret, timestamp.body)"
    );
    assert_ne!(
        r.header("x-vibebridge-signature-256"),
        Some(signature("another secret", ts, &r.body).as_str())
    );
    let body = r.json();
    assert_eq!(
        (body["event"].as_str(), body["delivery"].as_str()),
        (Some(event), Some(delivery)),
        "{body}"
    );
    body
}

/// A WebSocket of `api`'s user watching workspace `ws`'s board (where `webhook` frames come).
pub async fn watch_board(api: &Api, ws: &str) -> WsClient {
    let mut live = WsClient::connect(api).await.unwrap();
    live.send_text(&json!({"type": "watch", "topics": [], "workspace": ws}).to_string())
        .await;
    let ack = live.next().await;
    assert_eq!(
        (ack["type"].as_str(), ack["workspace_id"].as_str()),
        (Some("watching"), Some(ws)),
        "{ack}"
    );
    live
}

/// Reads webhook `hook`'s deliveries until delivery `id` satisfies `pred`, reading again after each
/// `webhook` frame of `hook` on `live`; the delivery. Panics after [`HOOK_WAIT`] with `what`.
pub async fn delivery_until(
    live: &mut WsClient,
    api: &Api,
    hook: &str,
    id: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + HOOK_WAIT;
    loop {
        let (s, list) = api
            .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
            .await;
        assert_eq!(s, 200, "{list}");
        let found = list
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id)
            .cloned();
        if let Some(d) = found.as_ref().filter(|d| pred(d)) {
            return d.clone();
        }
        // The socket watched before the list was read, so any change after that read has a frame.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(msg) = live.recv_within(left).await else {
                panic!("delivery {id}: {what}: not seen within {HOOK_WAIT:?}; last: {found:#?}");
            };
            if let Message::Text(t) = msg {
                let frame: Value = serde_json::from_str(&t).unwrap();
                if frame["type"] == "webhook" && frame["webhook_id"] == hook {
                    break;
                }
            }
        }
    }
}

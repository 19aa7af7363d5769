//! What the Web Push tests (`tests/tests/notifications.rs`, `notices.rs`) share: a main that accepts the local
//! push service's endpoints, subscribing a device through the API, picking pushes by kind, and reading the
//! audit's details.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use crate::Api;
use crate::mock::push::{PushSubscription, Received};

/// Main accepting the local push service's plain-HTTP endpoints.
pub fn local_push(c: &mut vibebridge_main::MainConfig) {
    c.notifications.allow_insecure_push = true;
    c.notifications.push_services = vec!["127.0.0.1".into()];
}

/// Subscribes `sub` as device `name` of `api`'s user; its id.
pub async fn subscribe(api: &Api, sub: &PushSubscription, name: &str) -> String {
    let (status, body) = api
        .post(
            "/api/v1/push/subscriptions",
            json!({"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth},
                   "name": name, "expirationTime": null}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body.get("endpoint").is_none() && body.get("keys").is_none(),
        "{body}"
    );
    body["id"].as_str().unwrap().to_string()
}

/// A push's payload kind (`approval`, `resolved`…); empty when it had no payload.
pub fn kind(r: &Received) -> &str {
    r.payload
        .as_ref()
        .and_then(|p| p["kind"].as_str())
        .unwrap_or_default()
}

/// The pushes of kind `k`, in order.
pub fn of_kind<'a>(got: &'a [Received], k: &str) -> Vec<&'a Received> {
    got.iter().filter(|r| kind(r) == k).collect()
}

/// The details of the audit entries of `action`, newest first.
pub async fn audit_details(api: &Api, action: &str) -> Vec<String> {
    let (_, audit) = api.get("/api/v1/audit").await;
    audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .map(|e| e["detail"].as_str().unwrap_or_default().to_string())
        .collect()
}

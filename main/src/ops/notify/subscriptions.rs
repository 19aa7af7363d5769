//! Devices: a browser subscribes to pushes with its endpoint and keys (kept sealed), lists and removes its
//! person's subscriptions, and sends itself a test.

use serde::{Deserialize, Serialize};

use crate::auth::AuthUser;
use crate::notify::webpush::Keys;
use crate::ops::{Actor, OpError};
use crate::state::AppState;
use crate::store::{AuditAction, PushSubId, PushSubscription, now_ms, rfc3339};

/// A person's subscriptions, at most.
const MAX_DEVICES: usize = 20;

/// Body of `POST /push/subscriptions`: the browser's `PushSubscription.toJSON()` and a device name.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct NewPushSubscription {
    /// The push service URL.
    pub endpoint: String,
    /// The browser's keys.
    pub keys: Keys,
    /// What to call the device.
    #[serde(default)]
    #[ts(optional)]
    pub name: Option<String>,
    /// The endpoint this subscription renews (the service worker's `pushsubscriptionchange`): that device of
    /// the caller's keeps its id and name.
    #[serde(default)]
    #[ts(optional)]
    pub replaces: Option<String>,
    /// `PushSubscription.expirationTime` (ignored; the push service says when it is gone).
    #[serde(default, rename = "expirationTime")]
    #[ts(optional, type = "number | null")]
    pub expiration_time: Option<serde_json::Value>,
}

/// A device as its person sees it (never its endpoint or keys).
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct PushDevice {
    /// Id; the browser keeps it to name itself.
    pub id: PushSubId,
    /// Name.
    pub name: String,
    /// The push service's host.
    pub endpoint_host: String,
    /// Subscribed at.
    pub created_at: String,
    /// The push service last took a push then.
    pub last_ok_at: Option<String>,
    /// Why the last push failed.
    pub last_error: Option<String>,
}

impl PushDevice {
    fn of(s: &PushSubscription) -> PushDevice {
        PushDevice {
            id: s.id,
            name: s.name.clone(),
            endpoint_host: reqwest::Url::parse(&s.endpoint)
                .ok()
                .and_then(|u| u.host_str().map(String::from))
                .unwrap_or_default(),
            created_at: rfc3339(s.created_at),
            last_ok_at: s.last_ok_at.map(rfc3339),
            last_error: s.last_error.clone(),
        }
    }
}

/// Main's VAPID public key, for `pushManager.subscribe`.
pub fn public_key(state: &AppState) -> String {
    state.notify.vapid.public_key()
}

/// Subscribes the caller's browser; the same endpoint again replaces its earlier subscription.
pub fn subscribe(
    state: &AppState,
    actor: &Actor,
    who: &AuthUser,
    body: NewPushSubscription,
) -> Result<PushDevice, OpError> {
    let cfg = &state.config.notifications;
    let url = reqwest::Url::parse(&body.endpoint)
        .map_err(|e| OpError::BadRequest(format!("endpoint is not a URL: {e}")))?;
    let host = url.host_str().unwrap_or_default();
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && cfg.allow_insecure_push);
    if !scheme_ok || !cfg.push_host_allowed(host, url.port()) || body.endpoint.len() > 2048 {
        return Err(OpError::BadRequest(format!(
            "endpoint {host:?} is not a known push service (notifications.push_services lists them); \
             subscribe with the browser's own push service"
        )));
    }
    body.keys.check().map_err(OpError::BadRequest)?;
    let name = body
        .name
        .unwrap_or_default()
        .trim()
        .chars()
        .take(80)
        .collect::<String>();
    let mine = state.store.push_subscriptions_of(who.user.id)?;
    if mine.len() >= MAX_DEVICES && !mine.iter().any(|s| s.endpoint == body.endpoint) {
        return Err(OpError::BadRequest(format!(
            "you have {MAX_DEVICES} devices subscribed; remove one you no longer use first"
        )));
    }
    let renewed = body
        .replaces
        .as_deref()
        .and_then(|old| mine.iter().find(|s| s.endpoint == old));
    let id = renewed.map_or_else(PushSubId::new, |r| r.id);
    let name = match (name.is_empty(), renewed) {
        (true, Some(r)) => r.name.clone(),
        _ => name,
    };
    let keys = serde_json::to_string(&body.keys).unwrap_or_default();
    let sealed = state
        .notify
        .sealer
        .seal(&PushSubscription::keys_context(id), &keys)
        .map_err(|e| OpError::Internal(e.context("sealing the subscription")))?;
    let sub = PushSubscription {
        id,
        user_id: who.user.id,
        endpoint: body.endpoint,
        keys: sealed,
        name: if name.is_empty() {
            "A browser".into()
        } else {
            name
        },
        created_at: renewed.map_or_else(now_ms, |r| r.created_at),
        last_ok_at: None,
        last_error: None,
    };
    // The same browser subscribed again (a new login in it, or its subscription renewed): the old record
    // goes; when it was someone else's, that is on record for them.
    if let Some(old) = state.store.put_push_subscription(&sub)?
        && old.user_id != who.user.id
    {
        state.store.audit(
            actor
                .audit(AuditAction::PushUnsubscribed)
                .target(old.id.to_string())
                .detail(format!(
                    "{}: the same browser subscribed again for {}",
                    old.name, who.user.username
                )),
        );
    }
    state.store.audit(
        actor
            .audit(AuditAction::PushSubscribed)
            .target(id.to_string())
            .detail(format!("{} ({host})", sub.name)),
    );
    Ok(PushDevice::of(&sub))
}

/// The caller's devices.
pub fn list(state: &AppState, who: &AuthUser) -> Result<Vec<PushDevice>, OpError> {
    Ok(state
        .store
        .push_subscriptions_of(who.user.id)?
        .iter()
        .map(PushDevice::of)
        .collect())
}

/// The caller's device `id`; "not found" for anyone else's.
pub fn mine(state: &AppState, who: &AuthUser, id: &str) -> Result<PushSubscription, OpError> {
    PushSubId::parse(id)
        .and_then(|id| state.store.push_subscription(id).ok().flatten())
        .filter(|s| s.user_id == who.user.id)
        .ok_or_else(|| OpError::NotFound(format!("no device {id:?} of yours")))
}

/// Removes the caller's device `id`.
pub fn remove(state: &AppState, actor: &Actor, who: &AuthUser, id: &str) -> Result<(), OpError> {
    let sub = mine(state, who, id)?;
    state.store.delete_push_subscription(sub.id)?;
    state.store.audit(
        actor
            .audit(AuditAction::PushUnsubscribed)
            .target(sub.id.to_string())
            .detail(sub.name),
    );
    Ok(())
}

/// Pushes a test notification to the caller's device `id`.
pub async fn test(state: &AppState, who: &AuthUser, id: &str) -> Result<(), OpError> {
    let sub = mine(state, who, id)?;
    super::test_push(state, &sub)
        .await
        .map_err(|e| OpError::Conflict(format!("the push service did not take it: {e}")))
}

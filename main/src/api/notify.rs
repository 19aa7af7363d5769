//! Notifications: `/api/v1/push/key` (main's VAPID public key), `/push/subscriptions` (the caller's devices:
//! subscribe, list, remove, test), `/notifications/prefs` (which kinds, workspaces, quiet hours) and the
//! workspaces' webhooks: `/workspaces/:id/webhooks`, `/webhooks/:id` (change, delete, `test`, `deliveries`,
//! `deliveries/:delivery/retry`), for the workspace's admins.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::extract::Writer;
use super::{ApiError, Body, Path};
use crate::auth::Approved;
use crate::ops::notify::prefs;
use crate::ops::notify::subscriptions::{self, NewPushSubscription, PushDevice};
use crate::ops::notify::webhooks::{
    self, DeliveryView, NewWebhook, WebhookCreated, WebhookPatch, WebhookView,
};
use crate::ops::workspaces;
use crate::state::AppState;
use crate::store::{AuditAction, NotifyPrefs};

/// Main's VAPID public key.
#[derive(Serialize, ts_rs::TS)]
pub struct PushKey {
    /// base64url; the browser's `applicationServerKey`.
    pub public_key: String,
}

/// The answer to a test push.
#[derive(Serialize, ts_rs::TS)]
pub struct PushTested {
    /// The push service took it.
    pub sent: bool,
}

/// `GET /push/key`.
pub async fn key(State(state): State<AppState>, Approved(_): Approved) -> Json<PushKey> {
    Json(PushKey {
        public_key: subscriptions::public_key(&state),
    })
}

/// `GET /push/subscriptions`: the caller's devices.
pub async fn devices(
    State(state): State<AppState>,
    Approved(who): Approved,
) -> Result<Json<Vec<PushDevice>>, ApiError> {
    Ok(Json(subscriptions::list(&state, &who)?))
}

/// `POST /push/subscriptions`: subscribes this browser (201).
pub async fn subscribe(
    State(state): State<AppState>,
    w: Writer,
    Body(body): Body<NewPushSubscription>,
) -> Result<(StatusCode, Json<PushDevice>), ApiError> {
    let device = subscriptions::subscribe(&state, &w.actor, &w.who, body)?;
    Ok((StatusCode::CREATED, Json(device)))
}

/// `DELETE /push/subscriptions/:id`: 204.
pub async fn unsubscribe(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    subscriptions::remove(&state, &w.actor, &w.who, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /push/subscriptions/:id/test`: a test notification to that device.
pub async fn test_device(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
) -> Result<Json<PushTested>, ApiError> {
    subscriptions::test(&state, &w.who, &id).await?;
    Ok(Json(PushTested { sent: true }))
}

/// `GET /notifications/prefs`.
pub async fn get_prefs(
    State(state): State<AppState>,
    Approved(who): Approved,
) -> Result<Json<NotifyPrefs>, ApiError> {
    Ok(Json(prefs::get(&state, &who)?))
}

/// `PUT /notifications/prefs`.
pub async fn put_prefs(
    State(state): State<AppState>,
    w: Writer,
    Body(body): Body<NotifyPrefs>,
) -> Result<Json<NotifyPrefs>, ApiError> {
    let saved = prefs::set(&state, &w.who, body)?;
    state
        .store
        .audit(w.actor.audit(AuditAction::NotifyPrefsChanged));
    Ok(Json(saved))
}

/// `GET /workspaces/:id/webhooks` (workspace admin).
pub async fn list_webhooks(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(ws): Path<String>,
) -> Result<Json<Vec<WebhookView>>, ApiError> {
    let access = workspaces::access(&state, &who.user, &ws)?;
    Ok(Json(webhooks::list(&state, &access)?))
}

/// `POST /workspaces/:id/webhooks` (workspace admin): 201 with the secret main made, shown once.
pub async fn create_webhook(
    State(state): State<AppState>,
    w: Writer,
    Path(ws): Path<String>,
    Body(body): Body<NewWebhook>,
) -> Result<(StatusCode, Json<WebhookCreated>), ApiError> {
    let access = workspaces::access(&state, &w.who.user, &ws)?;
    let made = webhooks::create(&state, &w.actor, &w.who.user, &access, body)?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// `PATCH /webhooks/:id`.
pub async fn update_webhook(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(body): Body<WebhookPatch>,
) -> Result<Json<WebhookView>, ApiError> {
    let (hook, _) = webhooks::admin_of(&state, &w.who.user, &id)?;
    Ok(Json(webhooks::update(&state, &w.actor, hook, body)?))
}

/// `DELETE /webhooks/:id`: 204.
pub async fn delete_webhook(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (hook, _) = webhooks::admin_of(&state, &w.who.user, &id)?;
    webhooks::delete(&state, &w.actor, &hook)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /webhooks/:id/test`: queues a test event (202).
pub async fn test_webhook(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let (hook, _) = webhooks::admin_of(&state, &w.who.user, &id)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(webhooks::send_test(&state, &w.who.user, &hook)?),
    ))
}

/// `GET /webhooks/:id/deliveries`: the newest first.
pub async fn deliveries(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<Vec<DeliveryView>>, ApiError> {
    let (hook, _) = webhooks::admin_of(&state, &who.user, &id)?;
    Ok(Json(webhooks::deliveries(&state, &hook)?))
}

/// `POST /webhooks/:id/deliveries/:delivery/retry`: a finished delivery tried again at once (202).
pub async fn retry_delivery(
    State(state): State<AppState>,
    w: Writer,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let (hook, _) = webhooks::admin_of(&state, &w.who.user, &id)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(webhooks::retry(&state, &hook, &delivery)?),
    ))
}

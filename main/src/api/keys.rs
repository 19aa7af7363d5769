//! `/api/v1/auth/me/keys`: a user's SSH public keys. Keys of admins (and the creator) open the SSH admin
//! console; a key is a person's or a node's, never both.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vibebridge_tunnel::keys;

use super::{ApiError, Body};
use crate::AppState;
use crate::api::Path;
use crate::auth::Approved;
use crate::store::{AuditEvent, SshKey, rfc3339};

/// A key as the API shows it.
#[derive(Serialize)]
pub struct KeyView {
    id: String,
    fingerprint: String,
    public_key: String,
    comment: String,
    added_at: String,
}

impl From<&SshKey> for KeyView {
    fn from(k: &SshKey) -> Self {
        KeyView {
            id: k.id.clone(),
            fingerprint: k.fingerprint.clone(),
            public_key: k.public_key.clone(),
            comment: k.comment.clone(),
            added_at: rfc3339(k.added_at),
        }
    }
}

/// `{"key": "<OpenSSH public key line>"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddKey {
    key: String,
}

/// `GET /api/v1/auth/me/keys`.
pub async fn list(
    State(state): State<AppState>,
    Approved(who): Approved,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    let keys = state.store.ssh_keys_of(who.user.id)?;
    Ok(Json(keys.iter().map(KeyView::from).collect()))
}

/// `POST /api/v1/auth/me/keys`.
pub async fn add(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Approved(who): Approved,
    Body(body): Body<AddKey>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    let line = body.key.trim();
    let parsed = keys::parse_public(line).map_err(|e| {
        ApiError::BadRequest(format!(
            "{e:#}; paste one line of a .pub file, e.g. \"ssh-ed25519 AAAA… you@laptop\""
        ))
    })?;
    let fingerprint = keys::fingerprint(&parsed);
    if state
        .config
        .auth
        .admin_keys
        .iter()
        .filter_map(|k| keys::parse_public(k).ok())
        .any(|k| keys::fingerprint(&k) == fingerprint)
    {
        return Err(ApiError::Conflict(format!(
            "SSH key {fingerprint} is already an admin key in main's config (auth.admin_keys)"
        )));
    }
    let comment: String = String::from_utf8_lossy(AsRef::<[u8]>::as_ref(parsed.comment()))
        .chars()
        .take(200)
        .collect();
    let key = state.store.add_ssh_key(
        who.user.id,
        keys::public_openssh(&parsed),
        fingerprint.clone(),
        comment,
    )?;
    state.store.audit(
        AuditEvent::new(format!("user:{}", who.user.username), "ssh_key.added")
            .target(who.user.username.clone())
            .source(Some(peer))
            .detail(fingerprint),
    );
    Ok((StatusCode::CREATED, Json(KeyView::from(&key))))
}

/// `DELETE /api/v1/auth/me/keys/{id}`.
pub async fn remove(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key = state
        .store
        .remove_ssh_key(who.user.id, &id)?
        .ok_or_else(|| ApiError::NotFound(format!("you have no SSH key {id:?}")))?;
    state.store.audit(
        AuditEvent::new(format!("user:{}", who.user.username), "ssh_key.removed")
            .target(who.user.username.clone())
            .source(Some(peer))
            .detail(key.fingerprint.clone()),
    );
    Ok(Json(serde_json::json!({ "removed": key.id })))
}

//! `/api/v1/auth/me/keys`: a user's SSH public keys. Keys of admins (and the creator) open the SSH admin
//! console; a key is a person's or a node's, never both.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vibebridge_tunnel::keys;

use super::bodies::KeyRemoved;
use super::{ApiError, Body};
use crate::api::Path;
use crate::auth::Approved;
use crate::auth::jwt::TokenKind;
use crate::ops::Actor;
use crate::state::AppState;
use crate::store::{AuditAction, SshKey, rfc3339};

/// A key as the API shows it.
#[derive(Serialize, ts_rs::TS)]
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

/// The SSHSIG namespace a key's proof is signed in (`ssh-keygen -Y sign -n …`).
pub const PROOF_NAMESPACE: &str = "vibebridge-key";

/// How long a challenge may be signed and used.
const PROOF_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// `{"key": "<OpenSSH public key line>", "challenge", "signature"}`: the challenge from
/// `POST …/keys/challenge`, signed with the key's private half (an SSHSIG, as `ssh-keygen -Y sign`
/// writes it).
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct AddKey {
    key: String,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    signature: Option<String>,
}

/// A challenge to sign, and how.
#[derive(Serialize, ts_rs::TS)]
pub struct KeyChallenge {
    challenge: String,
    namespace: String,
    /// The command that signs it with `~/.ssh/id_ed25519` (use the key being added).
    command: String,
}

/// `POST /api/v1/auth/me/keys/challenge`: something only the holder of a private key can sign. A key is
/// added only with the challenge signed by it, so nobody can claim someone else's public key.
pub async fn challenge(
    State(state): State<AppState>,
    Approved(who): Approved,
) -> Result<Json<KeyChallenge>, ApiError> {
    let challenge = state.jwt.issue(
        &who.user.id.to_string(),
        &keys::random_hex(8),
        TokenKind::KeyProof,
        PROOF_TTL,
    )?;
    let command = format!(
        "printf '%s' '{challenge}' | ssh-keygen -Y sign -n {PROOF_NAMESPACE} -f ~/.ssh/id_ed25519"
    );
    Ok(Json(KeyChallenge {
        challenge,
        namespace: PROOF_NAMESPACE.into(),
        command,
    }))
}

/// Checks `signature` is `key`'s SSHSIG over a live challenge issued to `who`.
fn check_proof(
    state: &AppState,
    who: &crate::auth::AuthUser,
    key: &russh::keys::PublicKey,
    challenge: Option<&str>,
    signature: Option<&str>,
) -> Result<(), ApiError> {
    let how = "get a challenge from POST /api/v1/auth/me/keys/challenge, sign it with this key's private half \
               (printf '%s' CHALLENGE | ssh-keygen -Y sign -n vibebridge-key -f KEY), and send both with the key";
    let (Some(challenge), Some(signature)) = (challenge, signature) else {
        return Err(ApiError::BadRequest(format!(
            "a key is added only with proof that you hold its private key: {how}"
        )));
    };
    state
        .jwt
        .verify(challenge, TokenKind::KeyProof)
        .filter(|c| c.sub == who.user.id.to_string())
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "the challenge is not one main gave you, or it expired (10 min); {how}"
            ))
        })?;
    let sig = russh::keys::ssh_key::SshSig::from_pem(signature.trim()).map_err(|e| {
        ApiError::BadRequest(format!(
            "the signature is not an SSH signature (-----BEGIN SSH SIGNATURE-----…): {e}; {how}"
        ))
    })?;
    key.verify(PROOF_NAMESPACE, challenge.as_bytes(), &sig)
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "the signature does not prove you hold this key ({e}); {how}"
            ))
        })
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
    check_proof(
        &state,
        &who,
        &parsed,
        body.challenge.as_deref(),
        body.signature.as_deref(),
    )?;
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
        Actor::user(who.user.username.clone(), Some(peer))
            .audit(AuditAction::SshKeyAdded)
            .target(who.user.username.clone())
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
) -> Result<Json<KeyRemoved>, ApiError> {
    let key = state
        .store
        .remove_ssh_key(who.user.id, &id)?
        .ok_or_else(|| ApiError::NotFound(format!("you have no SSH key {id:?}")))?;
    state.store.audit(
        Actor::user(who.user.username.clone(), Some(peer))
            .audit(AuditAction::SshKeyRemoved)
            .target(who.user.username.clone())
            .detail(key.fingerprint.clone()),
    );
    Ok(Json(KeyRemoved { removed: key.id }))
}

//! Workspaces' outgoing webhooks: made, changed and removed by the workspace's admins, as they show them (never
//! a URL or secret), their deliveries, a test event and a retry by hand. Queueing and delivering are
//! [`super::deliver`].

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::workspaces::Access;
use crate::notify::hooks;
use crate::ops::{Actor, OpError};
use crate::state::AppState;
use crate::store::{
    AuditAction, DeliveryState, NoticeKind, Webhook, WebhookDelivery, WebhookId, WebhookKind,
    WorkspaceRole, now_ms, rfc3339,
};

/// Deliveries listed per webhook.
const LISTED: usize = 50;
/// Webhooks per workspace, at most.
const MAX_HOOKS: usize = 20;

/// Body of `POST /workspaces/{ws}/webhooks`.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Name.
    pub name: String,
    /// Receiver kind.
    pub kind: WebhookKind,
    /// The receiver's URL (for ntfy, the topic's: `https://ntfy.sh/my-topic`).
    pub url: String,
    /// The kinds sent (absent: all).
    #[serde(default)]
    #[ts(optional)]
    pub events: Option<Vec<NoticeKind>>,
    /// Generic: the HMAC secret (absent: main makes one and shows it once). ntfy: an access token.
    #[serde(default)]
    #[ts(optional)]
    pub secret: Option<String>,
}

/// Body of `PATCH /webhooks/{id}`.
#[derive(Debug, Default, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    /// Name.
    #[serde(default)]
    #[ts(optional)]
    pub name: Option<String>,
    /// URL.
    #[serde(default)]
    #[ts(optional)]
    pub url: Option<String>,
    /// Kinds sent.
    #[serde(default)]
    #[ts(optional)]
    pub events: Option<Vec<NoticeKind>>,
    /// Sending.
    #[serde(default)]
    #[ts(optional)]
    pub enabled: Option<bool>,
    /// A new secret (`""`: none).
    #[serde(default)]
    #[ts(optional)]
    pub secret: Option<String>,
}

/// A receiver's answer as shown.
#[derive(Debug, Serialize, Deserialize, ts_rs::TS)]
#[ts(rename = "DeliveryResponse")]
pub struct DeliveryResponseView {
    /// When.
    pub at: String,
    /// HTTP status.
    pub status: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
    /// The start of the body.
    pub body: String,
    /// How long it took.
    pub duration_ms: u64,
}

/// A delivery as shown.
#[derive(Debug, Serialize, Deserialize, ts_rs::TS)]
#[ts(rename = "WebhookDelivery")]
pub struct DeliveryView {
    /// Id.
    pub id: String,
    /// The webhook.
    pub webhook_id: WebhookId,
    /// Event name.
    pub event: String,
    /// Where it is.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// Queued at.
    pub created_at: String,
    /// Next attempt.
    pub next_attempt_at: Option<String>,
    /// The last answer.
    pub last_response: Option<DeliveryResponseView>,
}

impl DeliveryView {
    /// The view of `d`.
    pub fn of(d: &WebhookDelivery) -> DeliveryView {
        DeliveryView {
            id: d.id.to_string(),
            webhook_id: d.webhook_id,
            event: d.event.clone(),
            state: d.state,
            attempts: d.attempts,
            created_at: rfc3339(d.created_at),
            next_attempt_at: d.next_attempt_at.map(rfc3339),
            last_response: d.last_response.as_ref().map(|r| DeliveryResponseView {
                at: rfc3339(r.at),
                status: r.status,
                error: r.error.clone(),
                body: r.body.clone(),
                duration_ms: r.duration_ms,
            }),
        }
    }
}

/// A webhook as shown (never its URL or secret).
#[derive(Debug, Serialize, Deserialize, ts_rs::TS)]
#[ts(rename = "Webhook")]
pub struct WebhookView {
    /// Id.
    pub id: WebhookId,
    /// Its workspace.
    #[ts(type = "string")]
    pub workspace_id: crate::store::WorkspaceId,
    /// Name.
    pub name: String,
    /// Receiver kind.
    pub kind: WebhookKind,
    /// Scheme and host of the URL.
    pub url_hint: String,
    /// Kinds sent.
    pub events: Vec<NoticeKind>,
    /// Sending.
    pub enabled: bool,
    /// Has a secret (generic) or token (ntfy).
    pub has_secret: bool,
    /// Made at.
    pub created_at: String,
    /// The newest delivery.
    pub last_delivery: Option<DeliveryView>,
    /// Deliveries waiting for an attempt.
    pub pending: usize,
}

/// The answer to creating a webhook: the generic secret main made, shown this once.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct WebhookCreated {
    /// The webhook.
    pub webhook: WebhookView,
    /// The signing secret when main made it; never shown again.
    pub secret: Option<String>,
}

/// The view of `hook` with its newest delivery.
pub fn view(state: &AppState, hook: &Webhook) -> Result<WebhookView, OpError> {
    let (last, pending) = state.store.deliveries_of(hook.id, 1)?;
    Ok(WebhookView {
        id: hook.id,
        workspace_id: hook.workspace_id,
        name: hook.name.clone(),
        kind: hook.kind,
        url_hint: hook.url_hint.clone(),
        events: hook.events.clone(),
        enabled: hook.enabled,
        has_secret: hook.secret.is_some(),
        created_at: rfc3339(hook.created_at),
        last_delivery: last.first().map(DeliveryView::of),
        pending,
    })
}

/// `scheme://host[:port]/…` of a URL, for showing.
fn hint(url: &reqwest::Url) -> String {
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{}{port}/…",
        url.scheme(),
        url.host_str().unwrap_or_default()
    )
}

/// Checks a receiver URL for `kind`; the parsed URL.
fn check_url(state: &AppState, kind: WebhookKind, url: &str) -> Result<reqwest::Url, OpError> {
    let parsed = reqwest::Url::parse(url.trim())
        .ok()
        .filter(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && url.len() <= 2048
        })
        .ok_or_else(|| OpError::BadRequest(format!("url {url:?} is not an http(s) URL")))?;
    if parsed.username() != "" || parsed.password().is_some() {
        return Err(OpError::BadRequest(
            "url carries a user name or password; use the secret (ntfy: access token) instead"
                .into(),
        ));
    }
    let host = parsed.host_str().unwrap_or_default();
    let local = match hooks::address_literal(host) {
        Some(ip) => hooks::is_local(ip),
        None => host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost"),
    };
    if local && !state.config.notifications.allow_local_webhooks {
        return Err(OpError::BadRequest(format!(
            "url {} is on a local or private address; set notifications.allow_local_webhooks = true in \
             main's config to allow that",
            hint(&parsed)
        )));
    }
    if kind == WebhookKind::Ntfy && hooks::ntfy_split(parsed.as_str()).is_none() {
        return Err(OpError::BadRequest(
            "an ntfy URL names the topic as its last part, e.g. https://ntfy.sh/my-topic (letters, digits, - and _)"
                .into(),
        ));
    }
    Ok(parsed)
}

fn check_name(name: &str) -> Result<String, OpError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(OpError::BadRequest(
            "name must be 1 to 80 characters".into(),
        ));
    }
    Ok(name.to_string())
}

fn seal(state: &AppState, context: &str, plain: &str) -> Result<String, OpError> {
    state
        .notify
        .sealer
        .seal(context, plain)
        .map_err(|e| OpError::Internal(e.context("sealing a webhook secret")))
}

/// A workspace's webhooks (admins).
pub fn list(state: &AppState, access: &Access) -> Result<Vec<WebhookView>, OpError> {
    access.require(WorkspaceRole::Admin, "see webhooks")?;
    state
        .store
        .webhooks_of(access.ws.id)?
        .iter()
        .map(|h| view(state, h))
        .collect()
}

/// Makes a webhook in the workspace.
pub fn create(
    state: &AppState,
    actor: &Actor,
    who: &crate::store::User,
    access: &Access,
    body: NewWebhook,
) -> Result<WebhookCreated, OpError> {
    access.require(WorkspaceRole::Admin, "add webhooks")?;
    let name = check_name(&body.name)?;
    let url = check_url(state, body.kind, &body.url)?;
    if state.store.webhooks_of(access.ws.id)?.len() >= MAX_HOOKS {
        return Err(OpError::Conflict(format!(
            "the workspace has {MAX_HOOKS} webhooks; remove one first"
        )));
    }
    let id = WebhookId::new();
    let (secret, shown) = match (body.kind, body.secret.filter(|s| !s.is_empty())) {
        (WebhookKind::Slack, Some(_)) => {
            return Err(OpError::BadRequest(
                "a Slack webhook has no secret: its URL is the credential".into(),
            ));
        }
        (WebhookKind::Slack, None) | (WebhookKind::Ntfy, None) => (None, None),
        (_, Some(s)) => (Some(s), None),
        (WebhookKind::Generic, None) => {
            let made = format!("whsec_{}", vibebridge_tunnel::keys::random_hex(24));
            (Some(made.clone()), Some(made))
        }
    };
    let hook = Webhook {
        id,
        workspace_id: access.ws.id,
        name,
        kind: body.kind,
        url: seal(state, &Webhook::url_context(id), url.as_str())?,
        url_hint: hint(&url),
        secret: secret
            .map(|s| seal(state, &Webhook::secret_context(id), &s))
            .transpose()?,
        events: body.events.unwrap_or_else(|| NoticeKind::ALL.to_vec()),
        enabled: true,
        created_by: who.id,
        created_at: now_ms(),
    };
    state.store.put_webhook(&hook)?;
    state.store.audit(
        actor
            .audit(AuditAction::WebhookCreated)
            .target(id.to_string())
            .detail(format!(
                "{} ({:?}, {}) in {}",
                hook.name, hook.kind, hook.url_hint, access.ws.settings.key_prefix
            )),
    );
    Ok(WebhookCreated {
        webhook: view(state, &hook)?,
        secret: shown,
    })
}

/// Webhook `id` with its workspace access, for an admin of its workspace.
pub fn admin_of(
    state: &AppState,
    who: &crate::store::User,
    id: &str,
) -> Result<(Webhook, Access), OpError> {
    let hook = WebhookId::parse(id)
        .and_then(|id| state.store.webhook(id).ok().flatten())
        .ok_or_else(|| OpError::NotFound(format!("no webhook {id:?}")))?;
    let access = super::super::workspaces::access(state, who, &hook.workspace_id.to_string())
        .map_err(|_| OpError::NotFound(format!("no webhook {id:?}")))?;
    access.require(WorkspaceRole::Admin, "manage webhooks")?;
    Ok((hook, access))
}

/// Changes a webhook.
pub fn update(
    state: &AppState,
    actor: &Actor,
    hook: Webhook,
    patch: WebhookPatch,
) -> Result<WebhookView, OpError> {
    let name = patch.name.as_deref().map(check_name).transpose()?;
    let url = patch
        .url
        .as_deref()
        .map(|u| check_url(state, hook.kind, u))
        .transpose()?;
    let url = url
        .map(|u| {
            Ok::<_, OpError>((
                seal(state, &Webhook::url_context(hook.id), u.as_str())?,
                hint(&u),
            ))
        })
        .transpose()?;
    let secret = match patch.secret {
        Some(s) if hook.kind == WebhookKind::Slack && !s.is_empty() => {
            return Err(OpError::BadRequest("a Slack webhook has no secret".into()));
        }
        Some(s) if s.is_empty() => Some(None),
        Some(s) => Some(Some(seal(state, &Webhook::secret_context(hook.id), &s)?)),
        None => None,
    };
    let hook = state.store.update_webhook(hook.id, |h| {
        if let Some(name) = name.clone() {
            h.name = name;
        }
        if let Some((sealed, hint)) = url.clone() {
            h.url = sealed;
            h.url_hint = hint;
        }
        if let Some(events) = patch.events.clone() {
            h.events = events;
        }
        if let Some(enabled) = patch.enabled {
            h.enabled = enabled;
        }
        if let Some(secret) = secret.clone() {
            h.secret = secret;
        }
        Ok::<_, OpError>(())
    })?;
    state.store.audit(
        actor
            .audit(AuditAction::WebhookUpdated)
            .target(hook.id.to_string())
            .detail(format!("{} (enabled: {})", hook.name, hook.enabled)),
    );
    view(state, &hook)
}

/// Deletes a webhook with its deliveries.
pub fn delete(state: &AppState, actor: &Actor, hook: &Webhook) -> Result<(), OpError> {
    state.store.delete_webhook(hook.id)?;
    state.store.audit(
        actor
            .audit(AuditAction::WebhookDeleted)
            .target(hook.id.to_string())
            .detail(hook.name.clone()),
    );
    Ok(())
}

/// A webhook's newest deliveries.
pub fn deliveries(state: &AppState, hook: &Webhook) -> Result<Vec<DeliveryView>, OpError> {
    let (list, _) = state.store.deliveries_of(hook.id, LISTED)?;
    Ok(list.iter().map(DeliveryView::of).collect())
}

/// Queues a test event for `hook` (the "Send test" button).
pub fn send_test(
    state: &AppState,
    who: &crate::store::User,
    hook: &Webhook,
) -> Result<DeliveryView, OpError> {
    let payload = json!({
        "event": "test",
        "at": rfc3339(now_ms()),
        "workspace_id": hook.workspace_id,
        "title": format!("Test from VibeBridge ({})", hook.name),
        "body": format!("{} sent a test; this webhook works.", who.username),
        "url": "/",
        "link": link(state, "/"),
        "data": {},
    });
    let d = state.store.enqueue_delivery(hook, "test", payload)?;
    state.notify.hooks_due.notify_one();
    Ok(DeliveryView::of(&d))
}

/// Queues delivery `id` of `hook` again at once (a failed one, by hand).
pub fn retry(state: &AppState, hook: &Webhook, id: &str) -> Result<DeliveryView, OpError> {
    let id: u64 = id
        .parse()
        .map_err(|_| OpError::NotFound(format!("no delivery {id:?}")))?;
    let found = state
        .store
        .delivery(id)?
        .filter(|d| d.webhook_id == hook.id);
    let Some(d) = found else {
        return Err(OpError::NotFound(format!(
            "no delivery {id} of this webhook"
        )));
    };
    if d.state == DeliveryState::Pending {
        return Err(OpError::Conflict(
            "the delivery is still being tried".into(),
        ));
    }
    let d = state
        .store
        .update_delivery(d.id, |d| {
            d.state = DeliveryState::Pending;
            d.attempts = 0;
            d.next_attempt_at = Some(now_ms());
        })?
        .ok_or_else(|| OpError::NotFound(format!("no delivery {id}")))?;
    state.notify.hooks_due.notify_one();
    Ok(DeliveryView::of(&d))
}

/// `path` under `notifications.public_url`, or empty without one.
pub(super) fn link(state: &AppState, path: &str) -> String {
    state
        .config
        .notifications
        .public_url
        .as_ref()
        .map(|base| format!("{base}{path}"))
        .unwrap_or_default()
}

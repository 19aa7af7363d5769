//! GitHub's webhook deliveries (`POST /api/v1/github/webhook`): verified, taken once, and turned into a
//! check of the pull requests of the repository they name ([`super::follow::refresh`]).

use serde::Serialize;

use super::super::{Actor, OpError};
use super::follow::refresh;
use crate::state::AppState;
use crate::store::AuditAction;

/// What a webhook delivery did.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct WebhookOutcome {
    /// A delivery id seen before (a replay or a redelivery): nothing done.
    pub duplicate: bool,
    /// Pull requests checked because of it.
    pub pull_requests: u32,
}

/// A webhook delivery: verified against `github.webhook_secret` (HMAC-SHA256 of the exact body), taken
/// once per delivery id, then the pull requests of the repository it names are checked now. The payload
/// only says *which* pull requests to look at; what they are is read from GitHub. Refusals are audited,
/// at most ten a minute per `client` address.
pub fn webhook(
    state: &AppState,
    actor: &Actor,
    client: &str,
    event: Option<&str>,
    delivery: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<WebhookOutcome, OpError> {
    let Some(secret) = state.github.webhook_secret() else {
        return Err(OpError::Forbidden(
            "this main takes no GitHub webhooks: set github.webhook_secret in its config".into(),
        ));
    };
    if !signature.is_some_and(|s| crate::github::webhook_verify(secret, body, s)) {
        if state.github.webhook_refusals.hit(client).is_ok() {
            state.store.audit(
                actor
                    .audit(AuditAction::GithubWebhookRefused)
                    .detail(format!(
                        "bad or missing X-Hub-Signature-256 ({} bytes)",
                        body.len()
                    )),
            );
        }
        return Err(OpError::Forbidden(
            "the delivery's X-Hub-Signature-256 does not match github.webhook_secret".into(),
        ));
    }
    let delivery = delivery
        .filter(|d| !d.is_empty() && d.len() <= 100)
        .ok_or_else(|| OpError::BadRequest("X-GitHub-Delivery is missing".into()))?;
    if !state.store.note_delivery(delivery)? {
        return Ok(WebhookOutcome {
            duplicate: true,
            pull_requests: 0,
        });
    }
    let payload: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| OpError::BadRequest(format!("the delivery is not JSON: {e}")))?;
    if event == Some("ping") {
        return Ok(WebhookOutcome {
            duplicate: false,
            pull_requests: 0,
        });
    }
    let Some(repo_id) = payload.pointer("/repository/id").and_then(|v| v.as_u64()) else {
        return Ok(WebhookOutcome {
            duplicate: false,
            pull_requests: 0,
        });
    };
    let mut count = 0u32;
    for pr in state.store.open_pull_requests()? {
        let same_repo = state
            .store
            .connected_repo(pr.repo_id)?
            .is_some_and(|r| r.github_id == repo_id);
        if same_repo {
            count += 1;
            let state = state.clone();
            tokio::spawn(async move {
                if let Err(e) = refresh(&state, pr.id).await {
                    tracing::debug!(pr = %pr.id, "checking a pull request after a webhook: {e}");
                }
            });
        }
    }
    Ok(WebhookOutcome {
        duplicate: false,
        pull_requests: count,
    })
}

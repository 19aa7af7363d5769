//! Delivering webhooks: every notice of a workspace whose kind a webhook takes is queued for it in the store
//! ([`enqueue`]), and [`run`] delivers the queue: each delivery tried until the receiver answers 2xx, again
//! after a growing delay when it fails or does not answer in time, across restarts (the queue is in the
//! store), and marked failed with its last answer after `notifications.webhook_attempts`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::webhooks::link;
use crate::notify::{Notice, hooks};
use crate::ops::OpError;
use crate::state::AppState;
use crate::store::{DeliveryState, Webhook, now_ms, rfc3339};

/// Delays of the retries, in multiples of `notifications.webhook_retry_base`.
const BACKOFF: [u32; 8] = [1, 3, 12, 60, 180, 360, 1080, 2160];
/// Deliveries in flight at once.
const IN_FLIGHT: usize = 8;

/// Queues `notice` for every enabled webhook of its workspaces that takes its kind.
pub fn enqueue(state: &AppState, notice: &Notice) -> Result<(), OpError> {
    let mut queued = false;
    for ws in &notice.workspaces {
        for hook in state.store.webhooks_of(*ws)? {
            if !hook.enabled || !hook.events.contains(&notice.kind) {
                continue;
            }
            let payload = json!({
                "event": notice.kind.name(),
                "at": rfc3339(notice.at),
                "workspace_id": ws,
                // A restricted task's title and text stay in VibeBridge: a channel's readers are not its people.
                "title": if notice.restricted { "A restricted task changed: open VibeBridge to see it" } else { notice.title.as_str() },
                "body": if notice.restricted { "" } else { notice.body.as_str() },
                "url": notice.url,
                "link": link(state, &notice.url),
                "data": notice.data,
            });
            match state
                .store
                .enqueue_delivery(&hook, notice.kind.name(), payload)
            {
                Ok(_) => queued = true,
                // Deleted meanwhile: the workspace's other webhooks still get it.
                Err(crate::store::StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    if queued {
        state.notify.hooks_due.notify_one();
    }
    Ok(())
}

/// Delivers the queue until main stops: due deliveries at once (a few at a time), then waits for the next
/// one due, a new one queued or an attempt ending. Attempts in flight when main stops are cut short: their
/// deliveries stay pending and go out after the restart.
pub async fn run(state: AppState) {
    let busy: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let gate = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    loop {
        let now = now_ms();
        let (due, next) = match state.store.due_deliveries(now, IN_FLIGHT * 4) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!("reading the webhook queue: {e}");
                (Vec::new(), Some(now + 10_000))
            }
        };
        // Deliveries already being tried come back as due until their attempt ends, which wakes this loop.
        let only_busy = !due.is_empty();
        let mut started = false;
        for d in due {
            if !busy.lock().unwrap_or_else(|e| e.into_inner()).insert(d.id) {
                continue;
            }
            started = true;
            let (busy, gate) = (busy.clone(), gate.clone());
            super::spawn(&state, async move |state: AppState| {
                let _permit = gate.acquire().await;
                deliver(&state, d.id).await;
                busy.lock().unwrap_or_else(|e| e.into_inner()).remove(&d.id);
                state.notify.hooks_due.notify_one();
            });
        }
        let wait = match next {
            _ if only_busy && !started => Duration::from_secs(3600),
            Some(at) => Duration::from_millis(at.saturating_sub(now_ms()).max(10)),
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            () = state.hub.stopped() => return,
            () = state.notify.hooks_due.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// One attempt of delivery `id`, and what follows from its outcome.
async fn deliver(state: &AppState, id: u64) {
    let Ok(Some(d)) = state.store.delivery(id) else {
        return;
    };
    if d.state != DeliveryState::Pending || d.next_attempt_at.is_some_and(|at| at > now_ms()) {
        return;
    }
    let cfg = &state.config.notifications;
    let hook = match state.store.webhook(d.webhook_id) {
        Ok(Some(h)) => h,
        Ok(None) => {
            // Its webhook was deleted while it was queued: nothing left to send it to.
            let _ = state
                .store
                .update_delivery(id, |d| d.state = DeliveryState::Failed);
            return;
        }
        Err(e) => {
            tracing::error!(delivery = id, "reading a delivery's webhook: {e}");
            return;
        }
    };
    let opened = state
        .notify
        .sealer
        .open(&Webhook::url_context(hook.id), &hook.url)
        .and_then(|url| {
            let secret = hook
                .secret
                .as_ref()
                .map(|s| {
                    state
                        .notify
                        .sealer
                        .open(&Webhook::secret_context(hook.id), s)
                })
                .transpose()?;
            Ok((url, secret))
        });
    let response = match (&opened, hook.enabled) {
        (_, false) => hooks::not_attempted("the webhook is disabled".into()),
        (Err(e), _) => hooks::not_attempted(format!(
            "the webhook's stored URL or secret does not open: {e}"
        )),
        (Ok((url, secret)), true) => {
            let target = hooks::Target {
                kind: hook.kind,
                url,
                secret: secret.as_deref(),
            };
            hooks::attempt(
                &state.notify.http,
                &target,
                d.id,
                &d.event,
                &d.payload,
                cfg.webhook_timeout,
                cfg.allow_local_webhooks,
            )
            .await
        }
    };
    let ok = response.error.is_none();
    let give_up = !hook.enabled || opened.is_err();
    let r = state.store.update_delivery(id, |d| {
        d.attempts += 1;
        d.last_response = Some(response.clone());
        if ok {
            d.state = DeliveryState::Delivered;
        } else if give_up || d.attempts >= cfg.webhook_attempts {
            d.state = DeliveryState::Failed;
        } else {
            let step = BACKOFF[usize::try_from(d.attempts - 1)
                .unwrap_or(0)
                .min(BACKOFF.len() - 1)];
            let delay = cfg.webhook_retry_base.saturating_mul(step);
            d.next_attempt_at =
                Some(now_ms() + u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        }
    });
    if let Err(e) = r {
        tracing::error!(delivery = id, "recording a webhook delivery: {e}");
    }
}

//! Workspaces' outgoing webhooks (`webhooks`: id → [`Webhook`], URL and secret sealed; `ws_webhooks`:
//! workspace ‖ id) and their delivery queue (`hook_deliveries`: big-endian id → [`WebhookDelivery`];
//! `hook_log`: webhook ‖ id; `hook_pending`: the same, pending ones only; `hook_due`: next attempt ms ‖ id, pending
//! ones only).

use serde::{Deserialize, Serialize};

use super::workspaces::WorkspaceId;
use super::{Change, NoticeKind, Store, StoreError, UserId, WebhookId, decode, encode, now_ms};

/// What a webhook's receiver speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum WebhookKind {
    /// JSON signed with HMAC-SHA256.
    Generic,
    /// A Slack-compatible incoming webhook.
    Slack,
    /// An ntfy topic.
    Ntfy,
}

/// A workspace's outgoing webhook as stored: URL and secret sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// Id.
    pub id: WebhookId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Name.
    pub name: String,
    /// Receiver kind.
    pub kind: WebhookKind,
    /// The URL, sealed (a Slack URL is itself a credential); context [`Webhook::url_context`].
    pub url: String,
    /// Scheme and host of the URL, for showing.
    pub url_hint: String,
    /// The HMAC secret (generic) or access token (ntfy), sealed; context [`Webhook::secret_context`].
    pub secret: Option<String>,
    /// The kinds sent.
    pub events: Vec<NoticeKind>,
    /// Sending.
    pub enabled: bool,
    /// Who made it.
    pub created_by: UserId,
    /// When.
    pub created_at: u64,
}

impl Webhook {
    /// The sealing context of a webhook's URL.
    pub fn url_context(id: WebhookId) -> String {
        format!("webhook.url:{id}")
    }

    /// The sealing context of a webhook's secret.
    pub fn secret_context(id: WebhookId) -> String {
        format!("webhook.secret:{id}")
    }
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed (or the webhook was disabled meanwhile).
    Failed,
}

/// What the receiver answered to an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryResponse {
    /// When (ms).
    pub at: u64,
    /// HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// Why there was none, or why it counts as failed.
    pub error: Option<String>,
    /// The start of the response body.
    pub body: String,
    /// How long the attempt took.
    pub duration_ms: u64,
}

/// One event to one webhook, queued until delivered or given up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// Id (increasing).
    pub id: u64,
    /// The webhook.
    pub webhook_id: WebhookId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Event name (a [`NoticeKind`] name, or `test`).
    pub event: String,
    /// The event as JSON; each attempt renders it for the receiver's kind.
    pub payload: serde_json::Value,
    /// Where it is.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// Queued at (ms).
    pub created_at: u64,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<u64>,
    /// The last attempt's answer.
    pub last_response: Option<DeliveryResponse>,
}

fn due_key(at: u64, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&at.to_be_bytes());
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

fn pair_key(a: &[u8; 16], b: &[u8]) -> Vec<u8> {
    let mut k = a.to_vec();
    k.extend_from_slice(b);
    k
}

impl Store {
    /// Creates a webhook.
    pub fn put_webhook(&self, hook: &Webhook) -> Result<(), StoreError> {
        self.atomic(|| {
            self.webhooks.insert(hook.id.bytes(), encode(hook))?;
            self.ws_webhooks
                .insert(pair_key(hook.workspace_id.bytes(), hook.id.bytes()), [])?;
            self.durable()?;
            self.changed(Change::Webhook {
                workspace_id: hook.workspace_id,
                webhook_id: hook.id,
            });
            Ok(())
        })
    }

    /// Changes a webhook under the store's lock; "not found" once it was deleted (a change racing a delete
    /// never brings it back). `change` may refuse.
    pub fn update_webhook<E: From<StoreError>>(
        &self,
        id: WebhookId,
        mut change: impl FnMut(&mut Webhook) -> Result<(), E>,
    ) -> Result<Webhook, E> {
        self.atomic(|| {
            let mut hook = self
                .webhook(id)?
                .ok_or_else(|| StoreError::NotFound(format!("webhook {id}")))?;
            change(&mut hook)?;
            self.webhooks
                .insert(id.bytes(), encode(&hook))
                .map_err(StoreError::from)?;
            self.durable().map_err(StoreError::from)?;
            self.changed(Change::Webhook {
                workspace_id: hook.workspace_id,
                webhook_id: id,
            });
            Ok(hook)
        })
    }

    /// A webhook by id.
    pub fn webhook(&self, id: WebhookId) -> Result<Option<Webhook>, StoreError> {
        self.webhooks
            .get(id.bytes())?
            .map(|b| decode("webhooks", &b))
            .transpose()
    }

    /// A workspace's webhooks, oldest first.
    pub fn webhooks_of(&self, ws: WorkspaceId) -> Result<Vec<Webhook>, StoreError> {
        let mut out = Vec::new();
        for item in self.ws_webhooks.scan_prefix(ws.bytes()).keys() {
            let key = item?;
            if let Some(h) = self.webhooks.get(&key[16..])? {
                out.push(decode("webhooks", &h)?);
            }
        }
        Ok(out)
    }

    /// Every webhook (key rotation).
    pub fn all_webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        self.webhooks
            .iter()
            .map(|item| decode("webhooks", &item?.1))
            .collect()
    }

    /// Deletes a webhook with its deliveries; returns it.
    pub fn delete_webhook(&self, id: WebhookId) -> Result<Option<Webhook>, StoreError> {
        self.atomic(|| {
            let hook = self.remove_webhook_records(id)?;
            self.durable()?;
            if let Some(hook) = &hook {
                self.changed(Change::Webhook {
                    workspace_id: hook.workspace_id,
                    webhook_id: id,
                });
            }
            Ok(hook)
        })
    }

    /// Removes a webhook and its deliveries from every tree; the caller holds the lock and flushes.
    pub(super) fn remove_webhook_records(
        &self,
        id: WebhookId,
    ) -> Result<Option<Webhook>, StoreError> {
        let Some(hook) = self.webhook(id)? else {
            return Ok(None);
        };
        for key in self.hook_log.scan_prefix(id.bytes()).keys() {
            let key = key?;
            if let Some(d) = self.hook_deliveries.remove(&key[16..])? {
                let d: WebhookDelivery = decode("hook_deliveries", &d)?;
                if let Some(at) = d.next_attempt_at {
                    self.hook_due.remove(due_key(at, d.id))?;
                }
            }
            self.hook_pending.remove(&key)?;
            self.hook_log.remove(key)?;
        }
        self.ws_webhooks
            .remove(pair_key(hook.workspace_id.bytes(), id.bytes()))?;
        self.webhooks.remove(id.bytes())?;
        Ok(Some(hook))
    }

    /// Removes every webhook of workspace `ws` (it is being deleted); the caller holds the lock and flushes.
    pub(super) fn remove_webhooks_of(&self, ws: WorkspaceId) -> Result<(), StoreError> {
        for key in self.ws_webhooks.scan_prefix(ws.bytes()).keys() {
            let key = key?;
            if let Some(id) = uuid::Uuid::from_slice(&key[16..]).ok().map(WebhookId) {
                self.remove_webhook_records(id)?;
            }
            self.ws_webhooks.remove(key)?;
        }
        Ok(())
    }

    /// Queues a delivery (its id is assigned here), due at once; "not found" when the webhook is gone.
    pub fn enqueue_delivery(
        &self,
        webhook: &Webhook,
        event: &str,
        payload: serde_json::Value,
    ) -> Result<WebhookDelivery, StoreError> {
        self.atomic(|| {
            if self.webhooks.get(webhook.id.bytes())?.is_none() {
                return Err(StoreError::NotFound(format!("webhook {}", webhook.id)));
            }
            let now = now_ms();
            let d = WebhookDelivery {
                id: self.kv.next_id()?,
                webhook_id: webhook.id,
                workspace_id: webhook.workspace_id,
                event: event.to_string(),
                payload: payload.clone(),
                state: DeliveryState::Pending,
                attempts: 0,
                created_at: now,
                next_attempt_at: Some(now),
                last_response: None,
            };
            let log = pair_key(webhook.id.bytes(), &d.id.to_be_bytes());
            self.hook_deliveries
                .insert(d.id.to_be_bytes(), encode(&d))?;
            self.hook_log.insert(&log, [])?;
            self.hook_pending.insert(&log, [])?;
            self.hook_due.insert(due_key(now, d.id), [])?;
            self.durable()?;
            self.changed(Change::Webhook {
                workspace_id: webhook.workspace_id,
                webhook_id: webhook.id,
            });
            Ok(d)
        })
    }

    /// A delivery by id.
    pub fn delivery(&self, id: u64) -> Result<Option<WebhookDelivery>, StoreError> {
        self.hook_deliveries
            .get(id.to_be_bytes())?
            .map(|b| decode("hook_deliveries", &b))
            .transpose()
    }

    /// Pending deliveries due by `now`, earliest first, at most `limit`; and when the next one after them
    /// is due.
    pub fn due_deliveries(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<(Vec<WebhookDelivery>, Option<u64>), StoreError> {
        let mut out = Vec::new();
        for key in self.hook_due.iter().keys() {
            let key = key?;
            let (at, id) = key.split_at(8);
            let at = u64::from_be_bytes(at.try_into().unwrap_or_default());
            if at > now || out.len() == limit {
                return Ok((out, Some(at)));
            }
            let id = u64::from_be_bytes(id.try_into().unwrap_or_default());
            match self.delivery(id)? {
                Some(d) if d.state == DeliveryState::Pending && d.next_attempt_at == Some(at) => {
                    out.push(d)
                }
                // Maybe a stale index entry (its delivery finished, was rescheduled or went with its
                // webhook): checked again under the lock, which every change of a delivery holds.
                _ => self.atomic(|| {
                    let current = self.delivery(id)?;
                    if !current.is_some_and(|d| {
                        d.state == DeliveryState::Pending && d.next_attempt_at == Some(at)
                    }) {
                        self.hook_due.remove(&key)?;
                    }
                    Ok::<_, StoreError>(())
                })?,
            }
        }
        Ok((out, None))
    }

    /// Changes a delivery (an attempt's outcome, a manual retry), keeping the due index in step. Not flushed
    /// to disk by itself (see the body).
    pub fn update_delivery(
        &self,
        id: u64,
        mut f: impl FnMut(&mut WebhookDelivery),
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        self.atomic(|| {
            let Some(mut d) = self.delivery(id)? else {
                return Ok(None);
            };
            let due_before = d.next_attempt_at;
            f(&mut d);
            if d.state != DeliveryState::Pending {
                d.next_attempt_at = None;
            }
            // The record first, then its index entries: a reader that finds an entry finds the record it names.
            self.hook_deliveries.insert(id.to_be_bytes(), encode(&d))?;
            let log = pair_key(d.webhook_id.bytes(), &id.to_be_bytes());
            if d.state == DeliveryState::Pending {
                self.hook_pending.insert(&log, [])?;
            } else {
                self.hook_pending.remove(&log)?;
            }
            if let Some(at) = due_before
                && d.next_attempt_at != Some(at)
            {
                self.hook_due.remove(due_key(at, id))?;
            }
            if let Some(at) = d.next_attempt_at {
                self.hook_due.insert(due_key(at, id), [])?;
            }
            // Not flushed: an outcome lost to a crash only means the delivery is tried once more, which
            // receivers tell by its id (deliveries are at least once). Queueing one is flushed.
            self.changed(Change::Webhook {
                workspace_id: d.workspace_id,
                webhook_id: d.webhook_id,
            });
            Ok(Some(d))
        })
    }

    /// A webhook's deliveries, newest first, at most `limit`; and how many are pending.
    pub fn deliveries_of(
        &self,
        webhook: WebhookId,
        limit: usize,
    ) -> Result<(Vec<WebhookDelivery>, usize), StoreError> {
        let mut out = Vec::new();
        for key in self.hook_log.scan_prefix(webhook.bytes()).keys().rev() {
            if out.len() == limit {
                break;
            }
            let key = key?;
            let id = u64::from_be_bytes(key[16..].try_into().unwrap_or_default());
            if let Some(d) = self.delivery(id)? {
                out.push(d);
            }
        }
        let pending = self.hook_pending.scan_prefix(webhook.bytes()).count();
        Ok((out, pending))
    }

    /// Forgets finished deliveries older than `before` (ms); returns how many.
    pub fn prune_deliveries(&self, before: u64) -> Result<usize, StoreError> {
        let mut gone = 0;
        for item in self.hook_deliveries.iter() {
            let (k, _) = item?;
            let removed = self.atomic(|| {
                let Some(v) = self.hook_deliveries.get(&k)? else {
                    return Ok::<_, StoreError>(false);
                };
                let d: WebhookDelivery = decode("hook_deliveries", &v)?;
                if d.state != DeliveryState::Pending && d.created_at < before {
                    self.hook_deliveries.remove(&k)?;
                    self.hook_log
                        .remove(pair_key(d.webhook_id.bytes(), &d.id.to_be_bytes()))?;
                    return Ok(true);
                }
                Ok(false)
            })?;
            gone += usize::from(removed);
        }
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Proves the queue hands out due deliveries earliest first, keeps a retried one's place by its next
    /// attempt, and drops finished ones from the due index.
    #[test]
    fn deliveries_come_due_in_order_and_leave_when_finished() {
        let (store, dir) = crate::store::temp();
        let hook = Webhook {
            id: WebhookId::new(),
            workspace_id: WorkspaceId::new(),
            name: "h".into(),
            kind: WebhookKind::Generic,
            url: "sealed".into(),
            url_hint: "https://x/…".into(),
            secret: None,
            events: NoticeKind::ALL.to_vec(),
            enabled: true,
            created_by: UserId(uuid::Uuid::now_v7()),
            created_at: 0,
        };
        store.put_webhook(&hook).unwrap();
        let a = store
            .enqueue_delivery(&hook, "test", serde_json::json!({}))
            .unwrap();
        let b = store
            .enqueue_delivery(&hook, "test", serde_json::json!({}))
            .unwrap();
        let far = now_ms() + 60_000;
        let (due, _) = store.due_deliveries(now_ms(), 10).unwrap();
        assert_eq!(due.iter().map(|d| d.id).collect::<Vec<_>>(), [a.id, b.id]);
        store
            .update_delivery(a.id, |d| d.next_attempt_at = Some(far))
            .unwrap();
        store
            .update_delivery(b.id, |d| d.state = DeliveryState::Delivered)
            .unwrap();
        let (due, next) = store.due_deliveries(now_ms(), 10).unwrap();
        assert!(due.is_empty());
        assert_eq!(next, Some(far));
        let (listed, pending) = store.deliveries_of(hook.id, 10).unwrap();
        assert_eq!(
            (listed[0].id, pending),
            (b.id, 1),
            "newest first, one pending"
        );
        store.delete_webhook(hook.id).unwrap();
        assert_eq!(store.due_deliveries(u64::MAX, 10).unwrap(), (vec![], None));
        let _ = std::fs::remove_dir_all(dir);
    }
}

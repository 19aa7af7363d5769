//! Notifications: people's push subscriptions (`push_subs`: id → [`PushSubscription`], keys sealed, with the
//! unique index `push_endpoints`: sha256(endpoint) → id), their preferences (`notify_prefs`: user →
//! [`NotifyPrefs`]) and which notices went out already (`notice_marks`: notice key → when), so none is sent
//! twice, also across a restart. Workspaces' webhooks and their delivery queue are [`super::webhooks`].

use serde::{Deserialize, Serialize};

use super::workspaces::{WorkspaceId, uuid_id};
use super::{Store, StoreError, UserId, decode, encode, now_ms, token_hash};

uuid_id!(
    /// A push subscription's id (UUIDv7): one browser on one device.
    PushSubId
);
uuid_id!(
    /// A webhook's id (UUIDv7).
    WebhookId
);

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A tool call waits for approval.
    Approval,
    /// An agent asks a question.
    Question,
    /// A run's agent finished its turn.
    RunFinished,
    /// A run failed.
    RunFailed,
    /// A task moved to review.
    TaskInReview,
    /// A comment mentions someone.
    Mention,
    /// A node went offline.
    NodeOffline,
}

impl NoticeKind {
    /// Every kind, in the order settings list them.
    pub const ALL: [NoticeKind; 7] = [
        NoticeKind::Approval,
        NoticeKind::Question,
        NoticeKind::RunFinished,
        NoticeKind::RunFailed,
        NoticeKind::TaskInReview,
        NoticeKind::Mention,
        NoticeKind::NodeOffline,
    ];

    /// Stable snake_case name (webhook event names).
    pub fn name(self) -> &'static str {
        match self {
            NoticeKind::Approval => "approval",
            NoticeKind::Question => "question",
            NoticeKind::RunFinished => "run_finished",
            NoticeKind::RunFailed => "run_failed",
            NoticeKind::TaskInReview => "task_in_review",
            NoticeKind::Mention => "mention",
            NoticeKind::NodeOffline => "node_offline",
        }
    }
}

/// One browser's push subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSubscription {
    /// Id.
    pub id: PushSubId,
    /// Whose.
    pub user_id: UserId,
    /// The push service URL to post to (RFC 8030).
    pub endpoint: String,
    /// `{"p256dh","auth"}` of the browser, sealed (context [`PushSubscription::keys_context`]).
    pub keys: String,
    /// What the person calls the device ("Chrome on Android").
    pub name: String,
    /// Subscribed at (ms).
    pub created_at: u64,
    /// The push service last accepted a push then (ms).
    pub last_ok_at: Option<u64>,
    /// Why the last push failed, if it did.
    pub last_error: Option<String>,
}

impl PushSubscription {
    /// The sealing context of a subscription's keys.
    pub fn keys_context(id: PushSubId) -> String {
        format!("push.keys:{id}")
    }
}

/// Quiet hours: no push between `start` and `end` (local time of `time_zone`; may wrap past midnight).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `HH:MM`.
    pub start: String,
    /// `HH:MM`.
    pub end: String,
    /// IANA name, e.g. `Europe/Berlin`.
    pub time_zone: String,
}

/// A person's notification preferences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct NotifyPrefs {
    /// The kinds pushed.
    pub events: Vec<NoticeKind>,
    /// Only these workspaces' notices (`null`: every workspace).
    #[ts(type = "Array<string> | null")]
    pub workspaces: Option<Vec<WorkspaceId>>,
    /// No push in these hours.
    pub quiet_hours: Option<QuietHours>,
}

impl Default for NotifyPrefs {
    fn default() -> Self {
        NotifyPrefs {
            events: NoticeKind::ALL.to_vec(),
            workspaces: None,
            quiet_hours: None,
        }
    }
}

impl Store {
    /// Stores a subscription (new, or an existing one with a renewed endpoint); another with the same
    /// endpoint (the browser subscribed again) is replaced and returned.
    pub fn put_push_subscription(
        &self,
        sub: &PushSubscription,
    ) -> Result<Option<PushSubscription>, StoreError> {
        self.atomic(|| {
            let index = token_hash(&sub.endpoint);
            let old = match self.push_endpoints.get(&index)? {
                Some(id) if id.as_slice() != sub.id.bytes() => {
                    let old = self.push_subs.remove(&id)?;
                    old.map(|b| decode::<PushSubscription>("push_subs", &b))
                        .transpose()?
                }
                _ => None,
            };
            // The same record with a new endpoint (the browser renewed its subscription): the old one's index
            // entry goes.
            if let Some(same) = self.push_subscription(sub.id)?
                && same.endpoint != sub.endpoint
            {
                self.push_endpoints.remove(token_hash(&same.endpoint))?;
            }
            self.push_subs.insert(sub.id.bytes(), encode(sub))?;
            self.push_endpoints.insert(index, sub.id.bytes())?;
            self.durable()?;
            Ok(old)
        })
    }

    /// A subscription by id.
    pub fn push_subscription(&self, id: PushSubId) -> Result<Option<PushSubscription>, StoreError> {
        self.push_subs
            .get(id.bytes())?
            .map(|b| decode("push_subs", &b))
            .transpose()
    }

    /// A person's subscriptions, oldest first.
    pub fn push_subscriptions_of(&self, user: UserId) -> Result<Vec<PushSubscription>, StoreError> {
        let mut out = Vec::new();
        for item in self.push_subs.iter() {
            let (_, v) = item?;
            let s: PushSubscription = decode("push_subs", &v)?;
            if s.user_id == user {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Every subscription (key rotation).
    pub fn all_push_subscriptions(&self) -> Result<Vec<PushSubscription>, StoreError> {
        self.push_subs
            .iter()
            .map(|item| decode("push_subs", &item?.1))
            .collect()
    }

    /// Changes a subscription in place; `None` when it is gone meanwhile.
    pub fn update_push_subscription(
        &self,
        id: PushSubId,
        mut f: impl FnMut(&mut PushSubscription),
    ) -> Result<Option<PushSubscription>, StoreError> {
        self.atomic(|| {
            let Some(mut s) = self.push_subscription(id)? else {
                return Ok(None);
            };
            f(&mut s);
            self.push_subs.insert(id.bytes(), encode(&s))?;
            Ok(Some(s))
        })
    }

    /// Removes a subscription; returns it.
    pub fn delete_push_subscription(
        &self,
        id: PushSubId,
    ) -> Result<Option<PushSubscription>, StoreError> {
        self.atomic(|| {
            let Some(old) = self.push_subs.remove(id.bytes())? else {
                return Ok(None);
            };
            let old: PushSubscription = decode("push_subs", &old)?;
            let index = token_hash(&old.endpoint);
            if self.push_endpoints.get(&index)?.as_deref() == Some(id.bytes().as_slice()) {
                self.push_endpoints.remove(index)?;
            }
            self.durable()?;
            Ok(Some(old))
        })
    }

    /// A person's preferences (the defaults until they set some).
    pub fn notify_prefs(&self, user: UserId) -> Result<NotifyPrefs, StoreError> {
        Ok(self
            .notify_prefs
            .get(user.0.as_bytes())?
            .map(|b| decode("notify_prefs", &b))
            .transpose()?
            .unwrap_or_default())
    }

    /// Sets a person's preferences.
    pub fn put_notify_prefs(&self, user: UserId, prefs: &NotifyPrefs) -> Result<(), StoreError> {
        self.notify_prefs.insert(user.0.as_bytes(), encode(prefs))?;
        self.durable()?;
        Ok(())
    }

    /// Marks notice `key` as sent: `true` the first time only, across restarts and concurrent callers.
    pub fn mark_notice(&self, key: &str) -> Result<bool, StoreError> {
        let now = now_ms().to_be_bytes();
        Ok(self
            .notice_marks
            .compare_and_swap(key.as_bytes(), None, Some(&now[..]))?)
    }

    /// Forgets notice marks older than `before` (ms); returns how many.
    pub fn prune_notice_marks(&self, before: u64) -> Result<usize, StoreError> {
        let mut gone = 0;
        for item in self.notice_marks.iter() {
            let (k, v) = item?;
            let at = u64::from_be_bytes(v.as_slice().try_into().unwrap_or_default());
            if at < before {
                self.notice_marks.remove(k)?;
                gone += 1;
            }
        }
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Proves a notice key is marked once however many threads race for it, and stays marked after the
    /// store is reopened (a restart).
    #[test]
    fn a_notice_is_marked_once_also_after_a_reopen() {
        let (store, dir) = crate::store::temp();
        let winners: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| usize::from(store.mark_notice("approval:a1").unwrap())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(winners, 1);
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert!(!store.mark_notice("approval:a1").unwrap());
        assert!(store.mark_notice("approval:a2").unwrap());
        let _ = std::fs::remove_dir_all(dir);
    }
}

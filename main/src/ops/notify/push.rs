//! Pushing a notice to its recipients' devices: each person's preferences and quiet hours decide, a device
//! that shows the notice's session right now is skipped, a busy push service is tried again a few times, and
//! a subscription the push service says is gone (404, 410) is forgotten. Nothing here is stored to be sent
//! later: a push that cannot go out now is dropped, never replayed after a restart.

use std::time::Duration;

use super::prefs;
use crate::notify::webpush::{self, Keys, Outcome, Urgency};
use crate::notify::{Asked, Notice, PushPayload};
use crate::ops::Actor;
use crate::state::AppState;
use crate::store::{AuditAction, NoticeKind, PushSubscription, now_ms};

/// Attempts of one push when the push service is busy.
const ATTEMPTS: u32 = 3;
/// The longest wait a push service's `Retry-After` gets.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Pushes `notice` to every device of its recipients that wants it.
pub(super) async fn fan_out(state: &AppState, notice: &Notice) {
    let now = now_ms();
    let about = about(state, notice);
    let mut sends = Vec::new();
    for user in &notice.recipients {
        let wanted = match (state.store.user(*user), state.store.notify_prefs(*user)) {
            (Ok(Some(u)), Ok(p)) => {
                !u.disabled
                    && u.role != crate::store::Role::Pending
                    && may_read(&about, &u)
                    && prefs::wants(&p, notice, now)
            }
            _ => false,
        };
        if !wanted {
            continue;
        }
        let subs = match state.store.push_subscriptions_of(*user) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("listing push subscriptions: {e}");
                continue;
            }
        };
        for sub in subs {
            if notice
                .session_id
                .is_some_and(|s| state.notify.presence.shows(sub.id, s))
            {
                tracing::debug!(device = %sub.id, "not pushed: the device shows the session");
                continue;
            }
            sends.push(sub);
        }
    }
    let urgent = matches!(notice.kind, NoticeKind::Approval | NoticeKind::Question);
    let kind = notice.kind.name();
    // An approval's devices are collected as its pushes succeed, so an answer that comes meanwhile (a phone is
    // quick) still updates every device that got it.
    let approval = notice.approval.as_ref();
    if let Some(a) = approval {
        lock(state).insert(
            a.approval_id.clone(),
            Asked {
                sending: true,
                ..Asked::default()
            },
        );
    }
    let pushes = sends.into_iter().map(|sub| async move {
        let payload = PushPayload {
            v: 1,
            id: &notice.key,
            kind,
            title: &notice.title,
            body: &notice.body,
            tag: &notice.tag,
            renotify: true,
            silent: false,
            url: &notice.url,
            at: notice.at,
            device: sub.id,
            approval,
        };
        if !deliver(state, &sub, &payload, urgent).await {
            return;
        }
        let Some(a) = approval else {
            return;
        };
        let answered = {
            let mut asked = lock(state);
            match asked.get_mut(&a.approval_id) {
                Some(e) if e.answered.is_none() => {
                    e.devices.push(sub.id);
                    None
                }
                Some(e) => e.answered,
                None => None,
            }
        };
        if let Some(how) = answered {
            replace(state, &sub, &a.approval_id, a.session_id, how).await;
        }
    });
    futures::future::join_all(pushes).await;
    if let Some(a) = approval {
        let mut asked = lock(state);
        let done = asked.get_mut(&a.approval_id).is_some_and(|e| {
            e.sending = false;
            e.answered.is_some() || e.devices.is_empty()
        });
        if done {
            asked.remove(&a.approval_id);
        }
    }
}

/// What a notice is about, read once for all its recipients: nothing (no task), its task and workspace, or
/// a task that is gone (no one is told).
enum About {
    Nothing,
    Task(Box<crate::store::Task>, Box<crate::store::Workspace>),
    Gone,
}

fn about(state: &AppState, notice: &Notice) -> About {
    let Some(task) = notice.task else {
        return About::Nothing;
    };
    let Ok(Some(task)) = state.store.task(task) else {
        return About::Gone;
    };
    match state.store.workspace(task.workspace_id) {
        Ok(Some(ws)) => About::Task(Box::new(task), Box::new(ws)),
        _ => About::Gone,
    }
}

/// Whether `user` may read what the notice is about now: its task, when it has one (a member removed from
/// the workspace, or one outside a restricted task's people, is not told).
fn may_read(about: &About, user: &crate::store::User) -> bool {
    match about {
        About::Nothing => true,
        About::Gone => false,
        About::Task(task, ws) => crate::ops::workspaces::role_of(user, ws).is_some_and(|role| {
            task.visible_to(user.id, role >= crate::store::WorkspaceRole::Admin)
        }),
    }
}

fn lock(state: &AppState) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Asked>> {
    state.notify.asked.lock().unwrap_or_else(|e| e.into_inner())
}

/// Approval `approval_id` of session `session` was answered (`how`): the devices that were asked get their
/// notification replaced, quietly, by what happened (also those whose push is still going out).
pub async fn resolved(state: &AppState, approval_id: &str, session: uuid::Uuid, how: &'static str) {
    let devices = {
        let mut asked = lock(state);
        let Some(e) = asked.get_mut(approval_id) else {
            return;
        };
        e.answered = Some(how);
        let devices = std::mem::take(&mut e.devices);
        if !e.sending {
            asked.remove(approval_id);
        }
        devices
    };
    for id in devices {
        if let Ok(Some(sub)) = state.store.push_subscription(id) {
            replace(state, &sub, approval_id, session, how).await;
        }
    }
}

/// Replaces approval `approval_id`'s notification on `sub` with `how`, quietly.
async fn replace(
    state: &AppState,
    sub: &PushSubscription,
    approval_id: &str,
    session: uuid::Uuid,
    how: &str,
) {
    let tag = super::events::session_tag(session);
    let url = format!("/sessions/{session}");
    let key = format!("resolved:{approval_id}");
    let payload = PushPayload {
        v: 1,
        id: &key,
        kind: "resolved",
        title: how,
        body: "",
        tag: &tag,
        renotify: false,
        silent: true,
        url: &url,
        at: now_ms(),
        device: sub.id,
        approval: None,
    };
    deliver(state, sub, &payload, false).await;
}

/// Sends a test notification to the caller's device `sub`: `Ok` when the push service took it, else what it
/// said.
pub async fn test_push(state: &AppState, sub: &PushSubscription) -> Result<(), String> {
    let key = format!("test:{}", now_ms());
    let payload = PushPayload {
        v: 1,
        id: &key,
        kind: "test",
        title: "VibeBridge notifications work",
        body: "This device will be told when an agent needs you.",
        tag: "test",
        renotify: true,
        silent: false,
        url: "/settings/notifications",
        at: now_ms(),
        device: sub.id,
        approval: None,
    };
    if deliver(state, sub, &payload, false).await {
        Ok(())
    } else {
        Err(state
            .store
            .push_subscription(sub.id)
            .ok()
            .flatten()
            .and_then(|s| s.last_error)
            .unwrap_or_else(|| "the push service says this device is gone; subscribe again".into()))
    }
}

/// Pushes `payload` to `sub`, trying again while the push service is busy; records the outcome on the
/// subscription (or forgets it when the push service says it is gone). `true` when accepted.
async fn deliver(
    state: &AppState,
    sub: &PushSubscription,
    payload: &PushPayload<'_>,
    urgent: bool,
) -> bool {
    let keys: Keys = match state
        .notify
        .sealer
        .open(&PushSubscription::keys_context(sub.id), &sub.keys)
        .map_err(|e| e.to_string())
        .and_then(|k| serde_json::from_str(&k).map_err(|e| e.to_string()))
    {
        Ok(k) => k,
        Err(e) => {
            record(state, sub, Err(format!("the stored keys do not open: {e}")));
            return false;
        }
    };
    let body = serde_json::to_vec(payload).unwrap_or_default();
    let push = webpush::Push {
        payload: &body,
        ttl: if urgent {
            Duration::from_secs(3600)
        } else {
            Duration::from_secs(4 * 3600)
        },
        urgency: if urgent {
            Urgency::High
        } else {
            Urgency::Normal
        },
        topic: &webpush::topic(payload.tag),
    };
    let mut wait = Duration::from_secs(2);
    for attempt in 1..=ATTEMPTS {
        match webpush::send(
            &state.notify.http,
            &state.notify.vapid,
            &sub.endpoint,
            &keys,
            &push,
        )
        .await
        {
            Outcome::Accepted => {
                record(state, sub, Ok(()));
                return true;
            }
            Outcome::Expired(status) => {
                if let Ok(Some(gone)) = state.store.delete_push_subscription(sub.id) {
                    state.store.audit(
                        Actor::system()
                            .audit(AuditAction::PushUnsubscribed)
                            .target(gone.id.to_string())
                            .detail(format!(
                                "the push service answered {status}: the subscription expired"
                            )),
                    );
                }
                return false;
            }
            Outcome::Failed(why) => {
                record(state, sub, Err(why));
                return false;
            }
            Outcome::Retry { after, reason } => {
                if attempt == ATTEMPTS {
                    record(state, sub, Err(reason));
                    return false;
                }
                tokio::time::sleep(after.unwrap_or(wait).min(MAX_WAIT)).await;
                wait *= 4;
            }
        }
    }
    false
}

fn record(state: &AppState, sub: &PushSubscription, outcome: Result<(), String>) {
    let r = state
        .store
        .update_push_subscription(sub.id, |s| match outcome.clone() {
            Ok(()) => {
                s.last_ok_at = Some(now_ms());
                s.last_error = None;
            }
            Err(e) => s.last_error = Some(e),
        });
    if let Err(e) = r {
        tracing::error!("recording a push's outcome: {e}");
    }
}

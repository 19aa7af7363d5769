//! The notices that come from the session hub and the node registry rather than from an operation: an
//! approval or question asked (and answered, which updates the notification in place), a node that went
//! offline and stayed so for `notifications.node_offline_after`. Also forgets old notice marks and finished
//! deliveries once an hour.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use vibebridge_tunnel::session::Resolution;

use super::{events, resolved};
use crate::registry::NodeEvent;
use crate::state::AppState;
use crate::store::{Change, now_ms};

/// How long notice marks and finished deliveries are kept.
const KEPT: Duration = Duration::from_secs(30 * 24 * 3600);

/// Follows the store's changes and the registry until main stops.
pub async fn run(state: AppState) {
    let mut changes = state.store.changes();
    let mut nodes = state.registry.subscribe();
    let mut prune = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            () = state.hub.stopped() => return,
            _ = prune.tick() => prune_old(&state),
            c = changes.recv() => match c {
                Ok(Change::Approval { approval_id, resolved: None, .. }) => {
                    events::approval_requested(&state, approval_id.as_str());
                }
                Ok(Change::Approval { approval_id, session_id, resolved: Some(how), .. }) => {
                    super::spawn(&state, async move |state: AppState| {
                        resolved(&state, approval_id.as_str(), session_id, answered(&how)).await;
                    });
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    // What was missed may include approvals asked: every pending one is looked at again (a
                    // notice already sent is not sent twice).
                    tracing::warn!("notifications fell {n} changes behind; looking at every pending approval again");
                    for pending in state.store.pending_approvals().unwrap_or_default() {
                        events::approval_requested(&state, pending.approval_id.as_str());
                    }
                }
                Err(RecvError::Closed) => return,
            },
            e = nodes.recv() => match e {
                Ok(NodeEvent::Offline(id)) => {
                    let since = now_ms();
                    offline(&state).insert(id.clone(), since);
                    super::spawn(&state, async move |state: AppState| {
                        tokio::time::sleep(state.config.notifications.node_offline_after).await;
                        let still = offline(&state).get(&id) == Some(&since);
                        if still && state.registry.get(&id).is_none() {
                            offline(&state).remove(&id);
                            events::node_offline(&state, &id, since);
                        }
                    });
                }
                Ok(NodeEvent::Online(id)) => {
                    offline(&state).remove(&id);
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
    }
}

fn offline(state: &AppState) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, u64>> {
    state
        .notify
        .offline_since
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// What a notification says once its approval was answered.
fn answered(how: &Resolution) -> &'static str {
    match how {
        Resolution::Allowed => "Answered: allowed",
        Resolution::Denied => "Answered: denied",
        Resolution::TimedOut => "Nobody answered in time: denied",
        Resolution::Cancelled => "No longer waiting: the turn ended",
    }
}

fn prune_old(state: &AppState) {
    let before = now_ms().saturating_sub(u64::try_from(KEPT.as_millis()).unwrap_or(0));
    if let Err(e) = state.store.prune_notice_marks(before) {
        tracing::warn!("forgetting old notice marks: {e}");
    }
    if let Err(e) = state.store.prune_deliveries(before) {
        tracing::warn!("forgetting old webhook deliveries: {e}");
    }
}

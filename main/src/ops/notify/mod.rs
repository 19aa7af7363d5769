//! Notifications: which notices exist ([`events`]: an approval or question asked, a run's turn finished or
//! failed, a task moved to review, a mention, a node offline), who gets them on which device ([`push`], with
//! each person's [`prefs`] and the devices of [`subscriptions`]), and the workspaces' [`webhooks`] with
//! their delivery queue ([`deliver`]). [`watch`] follows the store and the node registry for the notices that do not come
//! from an operation.
//!
//! Every notice has a key and is sent once: [`emit`] marks it in the store first, so a notice seen again (a
//! node re-announcing its approvals after a reconnect, main restarting) is never pushed twice.

pub mod deliver;
pub mod events;
pub mod prefs;
mod push;
pub mod subscriptions;
pub mod watch;
pub mod webhooks;

use crate::notify::Notice;
use crate::state::AppState;

/// Sends `notice` unless it was sent before: queued for the workspace's webhooks, pushed to its recipients'
/// devices in the background.
pub fn emit(state: &AppState, notice: Notice) {
    match state.store.mark_notice(&notice.key) {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::error!(key = %notice.key, "recording a notice: {e}");
            return;
        }
    }
    if let Err(e) = deliver::enqueue(state, &notice) {
        tracing::error!(key = %notice.key, "queueing webhook deliveries: {e}");
    }
    if notice.recipients.is_empty() || tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    spawn(state, async move |state: AppState| {
        push::fan_out(&state, &notice).await
    });
}

/// Runs `work` in the background until it ends or main stops; main waits for it before closing the store.
pub(crate) fn spawn<F>(state: &AppState, work: impl FnOnce(AppState) -> F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let fut = work(state.clone());
    let hub = state.hub.clone();
    state.notify.tasks.spawn(async move {
        tokio::select! {
            () = hub.stopped() => {}
            () = fut => {}
        }
    });
}

pub use push::{resolved, test_push};

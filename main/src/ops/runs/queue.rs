//! The run queue: starts queued runs once they may start (their node came online, a run of the workspace
//! finished, an in-place run left the working copy) and fails those that waited longer than
//! `runs.queue_timeout`. Oldest first, so runs start in the order they were asked for.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::launch;
use crate::registry::NodeEvent;
use crate::state::AppState;
use crate::store::{Change, RunStatus, now_ms};

/// How often the queue looks for runs that waited too long (a timeout, not a readiness wait).
const TIMEOUT_SWEEP: Duration = Duration::from_secs(30);
/// How often merged and archived runs' work trees are looked at for cleanup.
const CLEANUP_SWEEP: Duration = Duration::from_secs(3600);

/// Runs the queue until main shuts down.
pub async fn run(state: AppState) {
    let mut nodes = state.registry.subscribe();
    let mut changes = state.store.changes();
    let mut sweep = tokio::time::interval(TIMEOUT_SWEEP);
    let mut cleanup = tokio::time::interval(CLEANUP_SWEEP);
    loop {
        let wake = tokio::select! {
            () = state.hub.stopped() => return,
            _ = sweep.tick() => true,
            _ = cleanup.tick() => {
                tokio::select! {
                    () = state.hub.stopped() => return,
                    _ = super::cleanup::sweep(&state, state.config.runs.cleanup_after) => {}
                }
                false
            }
            e = nodes.recv() => matches!(e, Ok(NodeEvent::Online(_)) | Err(RecvError::Lagged(_))),
            c = changes.recv() => match c {
                // A run that stopped working frees a place; a new queued run may start.
                Ok(Change::Run(run)) => !run.status.is_active(),
                Ok(_) => false,
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => return,
            },
        };
        if wake {
            tokio::select! {
                () = state.hub.stopped() => return,
                () = kick(&state) => {}
            }
        }
    }
}

/// Tries every queued run, oldest first.
pub async fn kick(state: &AppState) {
    let queued = match state.store.queued_runs() {
        Ok(q) => q,
        Err(e) => {
            tracing::error!("reading the run queue: {e}");
            return;
        }
    };
    let timeout = state.config.runs.queue_timeout;
    for run in queued {
        let waited = Duration::from_millis(now_ms().saturating_sub(run.created_at));
        if waited > timeout {
            let why = format!(
                "waited longer than runs.queue_timeout ({}) to start{}",
                humantime::format_duration(timeout),
                run.status_message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            );
            match state.store.update_run(run.id, |r| {
                if r.status == RunStatus::Queued {
                    r.status = RunStatus::Failed;
                    r.status_message = Some(why.clone());
                }
                Ok::<_, crate::store::StoreError>(())
            }) {
                Ok(failed) => crate::ops::notify::events::run_moved(state, run.status, &failed),
                Err(e) => tracing::error!(run = %run.id, "failing a run that waited too long: {e}"),
            }
            continue;
        }
        if let Err(e) = launch::try_start(state, run.id).await {
            tracing::warn!(run = %run.id, "starting a queued run: {e}");
        }
    }
}

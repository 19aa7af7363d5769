//! Following runs: a run's session events are folded into the run record and its execution processes,
//! each event exactly once (`Run::applied_seq`), and the task's status follows the work.
//!
//! The tracker reads events from the store, not from the hub's live stream: whatever the hub stored is
//! applied, in order, whether it arrived live, after a tunnel cut or after a main restart. A change of a
//! session wakes it; a missed wake-up (the change feed lagged) or a restart is caught up by looking at every
//! run whose session has events past what the run applied.

use tokio::sync::broadcast::error::RecvError;
use vibebridge_tunnel::run::{ProcessKind, ProcessStatus};
use vibebridge_tunnel::session::{EventBody, SessionEvent, SessionStatus};

use super::super::OpError;
use crate::state::AppState;
use crate::store::{
    ActivityKind, Change, ExecutionProcess, Place, Run, RunStatus, StoreError, TaskStatus,
    UsageRecord, UsageTotals,
};

/// Events read per store page while catching a run up.
const PAGE: usize = 256;

/// What applying events asks of the task.
#[derive(Debug, Default)]
struct Effects {
    /// The run's first agent turn started.
    started: bool,
    /// A turn ended that changed the branch.
    changed: bool,
}

/// Follows every run's session until main shuts down.
pub async fn run(state: AppState) {
    let mut changes = state.store.changes();
    catch_up_all(&state);
    loop {
        let change = tokio::select! {
            () = state.hub.stopped() => return,
            c = changes.recv() => c,
        };
        match change {
            Ok(Change::Session { id, .. }) => {
                if let Ok(Some(run)) = state.store.run_of_session(id)
                    && let Err(e) = apply(&state, run)
                {
                    tracing::error!(session = %id, "following the run: {e}");
                }
            }
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => catch_up_all(&state),
            Err(RecvError::Closed) => return,
        }
    }
}

/// Applies what every run has not applied yet (at start, and after missed changes).
fn catch_up_all(state: &AppState) {
    let runs = match state.store.all_runs() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("listing runs to follow: {e}");
            return;
        }
    };
    for run in runs.into_iter().filter(|r| r.session_id.is_some()) {
        if let Err(e) = apply(state, run) {
            tracing::error!("following a run: {e}");
        }
    }
}

/// Folds the run's unapplied session events into it, then moves its task if the work says so.
pub fn apply(state: &AppState, run: Run) -> Result<(), OpError> {
    let Some(session) = run.session_id else {
        return Ok(());
    };
    let store = &state.store;
    let mut effects = Effects::default();
    let before = run.status;
    let updated = store.update_run(run.id, |r| {
        loop {
            let events = store.session_events(&session, r.applied_seq, PAGE)?;
            if events.is_empty() {
                return Ok::<_, OpError>(());
            }
            for ev in &events {
                fold(store, r, ev, &mut effects)?;
                r.applied_seq = ev.seq;
            }
        }
    })?;
    crate::ops::notify::events::run_moved(state, before, &updated);
    if effects.started {
        automate(state, &updated, TaskStatus::InProgress)?;
    }
    if effects.changed {
        automate(state, &updated, TaskStatus::InReview)?;
    }
    Ok(())
}

/// Applies one event to the run (and its processes).
fn fold(
    store: &crate::store::Store,
    r: &mut Run,
    ev: &SessionEvent,
    effects: &mut Effects,
) -> Result<(), StoreError> {
    match &ev.body {
        EventBody::Status { status, message } => {
            if r.status == RunStatus::Merged {
                return Ok(());
            }
            let (next, keep_message) = match status {
                SessionStatus::Starting => (RunStatus::Running, false),
                SessionStatus::Running => (RunStatus::Running, false),
                SessionStatus::WaitingForApproval => (RunStatus::Waiting, false),
                SessionStatus::Idle | SessionStatus::Completed | SessionStatus::Interrupted => {
                    (RunStatus::Idle, true)
                }
                SessionStatus::Failed => (RunStatus::Failed, true),
                SessionStatus::Stopped => (RunStatus::Stopped, true),
                SessionStatus::Unknown => return Ok(()),
            };
            // A failed setup's reason outlives the session's own final status.
            if !(r.status == RunStatus::Failed && next == RunStatus::Failed) {
                r.status = next;
                if keep_message || message.is_some() {
                    r.status_message = message.clone();
                }
            }
        }
        EventBody::RunPrepared(p) => r.prepared = Some(p.clone()),
        EventBody::ProcessStarted {
            process,
            kind,
            command,
            before_commit,
        } => {
            match kind {
                ProcessKind::Codingagent => {
                    r.turn_usage = UsageTotals::default();
                    effects.started |= r.turns == 0;
                }
                ProcessKind::Devserver => r.dev_server = Some(*process),
                ProcessKind::Setupscript | ProcessKind::Cleanupscript => {}
            }
            store.put_process(&ExecutionProcess {
                run_id: r.id,
                number: *process,
                kind: *kind,
                status: ProcessStatus::Running,
                command: command.clone(),
                exit_code: None,
                message: None,
                before_commit: before_commit.clone(),
                after_commit: None,
                usage: UsageTotals::default(),
                start_seq: ev.seq,
                started_at: ev.at_ms,
                ended_at: None,
            })?;
        }
        EventBody::ProcessEnded {
            process,
            status,
            exit_code,
            after_commit,
            message,
        } => {
            let Some(mut p) = store.process(r.id, *process)? else {
                tracing::warn!(run = %r.id, process, "a process ended that never started; ignored");
                return Ok(());
            };
            p.status = *status;
            p.exit_code = *exit_code;
            p.after_commit = after_commit.clone();
            p.message = message.clone();
            p.ended_at = Some(ev.at_ms);
            match p.kind {
                ProcessKind::Codingagent => {
                    p.usage = std::mem::take(&mut r.turn_usage);
                    p.usage.turns = 1;
                    r.turns += 1;
                    store.put_usage(&UsageRecord {
                        at: ev.at_ms,
                        run_id: r.id,
                        process: p.number,
                        workspace_id: r.workspace_id,
                        task_id: r.task_id,
                        project_id: r.project_id,
                        user_id: r.created_by,
                        node_id: r.node_id.clone(),
                        provider: r.provider,
                        usage: p.usage.clone(),
                    })?;
                    if p.after_commit.is_some() && p.after_commit != p.before_commit {
                        effects.changed = true;
                    }
                }
                // Its end leaves the run's status alone: it runs beside the agent.
                ProcessKind::Devserver if r.dev_server == Some(p.number) => r.dev_server = None,
                ProcessKind::Setupscript if *status != ProcessStatus::Completed => {
                    r.status = RunStatus::Failed;
                    r.status_message = Some(format!(
                        "the setup script failed{}; its output is in process {}",
                        exit_code
                            .map(|c| format!(" (exit {c})"))
                            .unwrap_or_default(),
                        process
                    ));
                }
                _ => {}
            }
            store.put_process(&p)?;
        }
        EventBody::Usage(u) => {
            r.usage.add_usage(u);
            r.turn_usage.add_usage(u);
        }
        EventBody::TurnCompleted { .. } => r.usage.turns += 1,
        EventBody::ApprovalRequested { .. } | EventBody::Question { .. } => {
            r.pending_approvals += 1;
        }
        EventBody::ApprovalResolved { .. } => {
            r.pending_approvals = r.pending_approvals.saturating_sub(1);
        }
        EventBody::AutoCommitted { commit, .. } => {
            r.last_commit = Some(commit.clone());
            r.commit_error = None;
        }
        EventBody::AutoCommitFailed { message } => r.commit_error = Some(message.clone()),
        _ => {}
    }
    Ok(())
}

/// Moves the run's task to `to` when the work says so and no person has put it elsewhere: a run's agent
/// starting its first turn moves it out of the backlog or to-do; a turn with changes moves it to review from there or from in
/// progress; a merge moves it to done unless it was cancelled. A task a person moved anywhere else stays.
pub fn automate(state: &AppState, run: &Run, to: TaskStatus) -> Result<(), OpError> {
    let Some(task) = state.store.task(run.task_id)? else {
        return Ok(());
    };
    let from_ok = match to {
        TaskStatus::InProgress => matches!(task.status, TaskStatus::Backlog | TaskStatus::Todo),
        TaskStatus::InReview => matches!(
            task.status,
            TaskStatus::Backlog | TaskStatus::Todo | TaskStatus::InProgress
        ),
        TaskStatus::Done => !matches!(task.status, TaskStatus::Done | TaskStatus::Cancelled),
        _ => false,
    };
    if !from_ok || task.archived {
        return Ok(());
    }
    let (old, new) = state.store.move_task(task.id, to, &Place::Top)?;
    crate::ops::notify::events::task_moved(state, None, &old, &new);
    state.store.append_activity(
        run.workspace_id,
        task.id,
        None,
        vec![(
            None,
            ActivityKind::Moved {
                from: old.status,
                to: new.status,
            },
        )],
        false,
    )?;
    Ok(())
}

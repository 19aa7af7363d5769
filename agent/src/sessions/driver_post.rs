//! The turn loop's work between turns for task runs: after the CLI says a turn ended, the cleanup script
//! and the commit run while follow-ups queue, and only then does the turn count as done; before the first
//! turn, the setup script.

use tokio::time::Instant;
use vibebridge_tunnel::session::SessionStatus;

use super::{Backend, Deadline, Loop, Post, lp_error};

impl<B: Backend> Loop<B> {
    /// The CLI says the turn ended. A run cleans up and commits before the turn counts as done: returns
    /// false when that work was started (the loop waits for it), true when the turn is done now.
    pub(super) fn turn_ended(&mut self) -> bool {
        let (Some(hooks), Some(process)) = (self.hooks.clone(), self.turn_process.take()) else {
            return true;
        };
        if !self.pending.is_empty() {
            self.pending.clear();
            self.log
                .cancel_pending("the turn ended before the approval was answered");
        }
        self.deadline = None;
        let failed = self.log.last_turn_failed();
        self.post = Some((
            Post::TurnEnd,
            Box::pin(async move {
                hooks.turn_ended(process, failed).await;
                Ok(())
            }),
        ));
        false
    }

    /// Work between turns finished; `Some(error)` ends the session with it.
    pub(super) async fn post_done(&mut self, result: Result<(), String>) -> Option<String> {
        let (what, _) = self.post.take()?;
        match (what, result) {
            (Post::Setup, Err(e)) => Some(e),
            (Post::Setup, Ok(())) => {
                if self.stopping {
                    self.turn_running = false;
                    return None;
                }
                let first = self.first.take().unwrap_or_default();
                self.begin_turn(first).await.err()
            }
            (Post::TurnEnd, _) => {
                if self.turn_done().await {
                    self.turn_running = false;
                    self.stopping = true;
                }
                None
            }
        }
    }

    /// A turn ended: approvals it left are moot; the next queued message starts, or the session idles.
    /// Returns true when the loop should end (a stop was waiting for this).
    pub(super) async fn turn_done(&mut self) -> bool {
        self.turn_running = false;
        if !self.pending.is_empty() {
            self.pending.clear();
            self.log
                .cancel_pending("the turn ended before the approval was answered");
        }
        if self.stopping {
            return true;
        }
        if let Some(next) = self.queue.pop_front() {
            // Recorded as a user message before it leaves the queue on disk: a crash between the two
            // reports it twice rather than not at all.
            let started = self.start_turn(next).await;
            if let Err(e) = self.save_queue() {
                tracing::error!(session = %self.log.id(), "{e}");
            }
            if let Err(e) = started {
                lp_error(&self.log, e);
                return true;
            }
        } else {
            self.log.status(SessionStatus::Idle, None);
            self.deadline = Some((Instant::now() + self.cfg.idle_timeout, Deadline::Idle));
        }
        false
    }
}

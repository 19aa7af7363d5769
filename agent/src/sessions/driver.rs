//! The turn loop every provider shares: follow-ups queued while a turn runs, approvals with ids and
//! timeouts, turn and idle timeouts, and stop (interrupt, then end the process after a grace period).
//! A provider only implements [`Backend`]: start a turn, interrupt, answer an approval, and turn its CLI's
//! output into events.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;
use vibebridge_tunnel::ids::ApprovalId;
use vibebridge_tunnel::reply::ErrorCode;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use vibebridge_tunnel::session::{
    Decision, EventBody, Resolution, SessionOk, SessionReply, SessionStatus, ToolKind,
};

#[path = "driver_post.rs"]
mod post;

use super::log::SessionLog;
use super::run_hooks::RunHooks;
use crate::config::ProviderConfig;
use crate::run_as::RunAs;

/// How long a stopped turn may take to wind down before its process group is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// A request from main to a running session.
pub enum DriverCmd {
    /// A follow-up message.
    Message {
        /// The text.
        text: String,
        /// Answered at once: sent now, or queued behind the running turn.
        reply: oneshot::Sender<SessionReply>,
    },
    /// Interrupt and end.
    Stop {
        /// Answered once the stop has begun.
        reply: oneshot::Sender<SessionReply>,
    },
    /// An approval decision; `reply` is `None` when the approval timed out.
    Decide {
        /// The approval.
        approval_id: ApprovalId,
        /// Allow or deny.
        decision: Decision,
        /// Denial reason or answer.
        message: Option<String>,
        /// Where to answer.
        reply: Option<oneshot::Sender<SessionReply>>,
    },
}

/// Everything a backend needs to start its CLI.
pub struct Launch {
    /// The session's log.
    pub log: Arc<SessionLog>,
    /// The provider's config section.
    pub cfg: ProviderConfig,
    /// The CLI binary.
    pub program: PathBuf,
    /// Working directory (canonical, inside the roots).
    pub cwd: PathBuf,
    /// Directory for the raw JSONL files of this session.
    pub raw_dir: PathBuf,
    /// Requested model.
    pub model: Option<String>,
    /// Requested permission mode / approval policy.
    pub permission_mode: Option<String>,
    /// The CLI's conversation id to resume, if this is not the first execution.
    pub resume: Option<String>,
    /// The user the CLI runs as (`execution.run_as`).
    pub run_as: Option<RunAs>,
    /// What a task run does around the turns (setup, processes, cleanup, commit); `None` for a plain session.
    pub hooks: Option<Arc<RunHooks>>,
    /// Follow-ups that wait behind the first message (restored after an agent restart).
    pub queued: Vec<String>,
}

impl Launch {
    /// Path of the raw stdout copy for execution number `n`.
    pub fn raw_path(&self, n: u32, provider: &str) -> PathBuf {
        self.raw_dir.join(format!("{n:04}-{provider}.jsonl"))
    }
}

/// What the human is asked.
pub enum Ask {
    /// Permission to run a tool.
    Approval {
        /// Provider call id.
        call_id: Option<String>,
        /// Tool name.
        tool: String,
        /// What it does.
        kind: ToolKind,
        /// One line for the UI.
        title: String,
        /// The tool input.
        input: Value,
    },
    /// A question to answer.
    Question {
        /// The question(s) as the CLI gave them.
        questions: Value,
    },
}

/// What one step of reading the CLI's output produced (events are already appended to the log).
pub enum Step<P> {
    /// Nothing the loop must act on.
    Continue,
    /// The turn ended.
    TurnDone,
    /// The CLI waits for a human; `P` is what the backend needs to answer it.
    Ask(P, Ask),
    /// The CLI's output ended (the process is exiting).
    Exited,
}

/// One provider CLI, as the turn loop drives it.
pub trait Backend {
    /// What the backend keeps to answer an approval.
    type Pending: Send;
    /// Sends a user message, starting a turn.
    fn send_message(&mut self, text: &str) -> impl Future<Output = Result<(), String>> + Send;
    /// Interrupts the running turn.
    fn interrupt(&mut self) -> impl Future<Output = Result<(), String>> + Send;
    /// Answers an approval.
    fn answer(
        &mut self,
        pending: Self::Pending,
        decision: Decision,
        message: Option<&str>,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// Reads and normalises the CLI's next output. Must be cancel-safe.
    fn step(&mut self) -> impl Future<Output = Step<Self::Pending>> + Send;
    /// Ends the CLI (SIGTERM to its group, SIGKILL after `grace`); `None` if no process was running.
    fn shutdown(&mut self, grace: Duration) -> impl Future<Output = Option<ExitStatus>> + Send;
    /// What the CLI last wrote to stderr.
    fn stderr_tail(&self) -> String;
}

/// How a driver ended.
pub struct Exit {
    /// The session's final status.
    pub status: SessionStatus,
    /// Why, for humans.
    pub message: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Deadline {
    Turn,
    Idle,
    Stop,
}

/// Most follow-ups queued behind a running turn, and their total bytes: a client cannot grow the queue
/// without bound.
const MAX_QUEUED: usize = 32;
const MAX_QUEUED_BYTES: usize = 8 << 20;

/// Work between turns that the loop waits for while it still answers commands.
enum Post {
    /// The run's setup script; the first turn starts after it.
    Setup,
    /// The run's cleanup and commit after a turn.
    TurnEnd,
}

/// What a [`Post`] step resolves to.
type PostFuture = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

struct Loop<B: Backend> {
    backend: B,
    hooks: Option<Arc<RunHooks>>,
    /// Run work in progress between turns; `turn_running` stays true meanwhile, so follow-ups queue.
    post: Option<(Post, PostFuture)>,
    /// The first message, held while the setup script runs.
    first: Option<String>,
    /// The running turn's process number (runs).
    turn_process: Option<u32>,
    log: Arc<SessionLog>,
    cfg: ProviderConfig,
    queue: VecDeque<String>,
    pending: HashMap<ApprovalId, B::Pending>,
    turn_running: bool,
    stopping: bool,
    deadline: Option<(Instant, Deadline)>,
    timeouts: mpsc::WeakSender<DriverCmd>,
}

/// Runs a session until its CLI ends, sending `first` as the opening message.
pub async fn run<B: Backend>(
    backend: B,
    launch: &Launch,
    first: String,
    mut cmds: mpsc::Receiver<DriverCmd>,
    timeouts: mpsc::WeakSender<DriverCmd>,
) -> Exit {
    let mut lp = Loop {
        backend,
        hooks: launch.hooks.clone(),
        post: None,
        first: None,
        turn_process: None,
        log: launch.log.clone(),
        cfg: launch.cfg.clone(),
        queue: launch.queued.iter().cloned().collect(),
        pending: HashMap::new(),
        turn_running: false,
        stopping: false,
        deadline: None,
        timeouts,
    };
    // `first` is already in the log: the session recorded it before saying it was taken. A run sets up first.
    match lp.hooks.clone() {
        Some(hooks) => {
            lp.first = Some(first);
            lp.turn_running = true;
            lp.post = Some((Post::Setup, Box::pin(hooks.setup())));
        }
        None => {
            if let Err(e) = lp.begin_turn(first).await {
                return lp.finish(Some(e), false).await;
            }
        }
    }
    let mut idle_expired = false;
    loop {
        let deadline = lp.deadline;
        let sleep = async {
            match deadline {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let post = async {
            match lp.post.as_mut() {
                Some((_, f)) => f.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = post => {
                if let Some(e) = lp.post_done(result).await {
                    return lp.finish(Some(e), false).await;
                }
                if lp.stopping && !lp.turn_running {
                    break;
                }
            }
            step = lp.backend.step() => match step {
                Step::Continue => {}
                Step::TurnDone => {
                    if lp.turn_ended() && lp.turn_done().await {
                        break;
                    }
                }
                Step::Ask(p, ask) => lp.ask(p, ask),
                Step::Exited => break,
            },
            cmd = cmds.recv() => match cmd {
                Some(cmd) => {
                    if lp.command(cmd).await {
                        break;
                    }
                }
                // The manager dropped us (agent shutdown).
                None => break,
            },
            () = sleep => match deadline.map(|(_, d)| d) {
                Some(Deadline::Turn) => {
                    lp.log.append(EventBody::Error {
                        message: format!(
                            "the turn ran longer than turn_timeout ({}); interrupting it",
                            humantime::format_duration(lp.cfg.turn_timeout)
                        ),
                    });
                    lp.deadline = None;
                    if let Err(e) = lp.backend.interrupt().await {
                        break lp_error(&lp.log, e);
                    }
                }
                Some(Deadline::Idle) => {
                    idle_expired = true;
                    break;
                }
                Some(Deadline::Stop) | None => break,
            },
        }
    }
    lp.finish(None, idle_expired).await
}

fn lp_error(log: &SessionLog, message: String) {
    log.append(EventBody::Error { message });
}

impl<B: Backend> Loop<B> {
    async fn start_turn(&mut self, text: String) -> Result<(), String> {
        self.log
            .append(EventBody::UserMessage { text: text.clone() });
        self.begin_turn(text).await
    }

    /// Starts a turn whose user message is already in the log.
    async fn begin_turn(&mut self, text: String) -> Result<(), String> {
        self.log.status(SessionStatus::Running, None);
        self.turn_running = true;
        if let Some(hooks) = &self.hooks {
            self.turn_process = Some(hooks.turn_started().await);
        }
        self.deadline = Some((Instant::now() + self.cfg.turn_timeout, Deadline::Turn));
        self.backend.send_message(&text).await
    }

    fn ask(&mut self, pending: B::Pending, ask: Ask) {
        let approval_id = ApprovalId::from(uuid::Uuid::now_v7().to_string());
        self.log.append(match ask {
            Ask::Approval {
                call_id,
                tool,
                kind,
                title,
                input,
            } => EventBody::ApprovalRequested {
                approval_id: approval_id.clone(),
                call_id,
                tool,
                kind,
                title,
                input,
            },
            Ask::Question { questions } => EventBody::Question {
                approval_id: approval_id.clone(),
                questions,
            },
        });
        self.pending.insert(approval_id.clone(), pending);
        self.log.status(SessionStatus::WaitingForApproval, None);
        // A human may take hours; the turn timeout does not run while they decide.
        if matches!(self.deadline, Some((_, Deadline::Turn))) {
            self.deadline = None;
        }
        let (timeouts, after) = (self.timeouts.clone(), self.cfg.approval_timeout);
        tokio::spawn(
            async move {
                tokio::time::sleep(after).await;
                if let Some(tx) = timeouts.upgrade() {
                    let _ = tx
                        .send(DriverCmd::Decide {
                            approval_id,
                            decision: Decision::Deny,
                            message: Some(format!(
                                "nobody answered within approval_timeout ({})",
                                humantime::format_duration(after)
                            )),
                            reply: None,
                        })
                        .await;
                }
            }
            .instrument(tracing::Span::current()),
        );
    }

    /// Handles a command; returns true when the loop should end.
    async fn command(&mut self, cmd: DriverCmd) -> bool {
        match cmd {
            DriverCmd::Message { text, reply } => {
                if self.stopping {
                    let _ = reply.send(SessionReply::err(
                        ErrorCode::BadRequest,
                        "the session is stopping; send the message again once it has stopped",
                    ));
                    return false;
                }
                if self.turn_running {
                    let bytes: usize =
                        self.queue.iter().map(String::len).sum::<usize>() + text.len();
                    if self.queue.len() >= MAX_QUEUED || bytes > MAX_QUEUED_BYTES {
                        let _ = reply.send(SessionReply::err(
                            ErrorCode::QueueFull,
                            format!(
                                "{} follow-ups already wait behind the running turn (at most {MAX_QUEUED}, \
                                 {} MiB); wait for the turn to finish, or stop it",
                                self.queue.len(),
                                MAX_QUEUED_BYTES >> 20
                            ),
                        ));
                        return false;
                    }
                    // In the session record on disk before main hears it was taken, like any message.
                    self.queue.push_back(text);
                    if let Err(e) = self.save_queue() {
                        self.queue.pop_back();
                        let _ = reply.send(SessionReply::err(ErrorCode::Internal, e));
                        return false;
                    }
                    let _ = reply.send(match self.log.sync_message().await {
                        Ok(()) => SessionReply::Ok(SessionOk::QUEUED),
                        Err(e) => SessionReply::err(ErrorCode::Internal, e),
                    });
                    return false;
                }
                // On disk before main hears it was taken, so a crash cannot lose an acknowledged message.
                // A CLI that cannot take the turn ends the loop; a disk that cannot store it does not (the
                // turn goes on, its events wait in memory).
                let (result, failed) = match self.start_turn(text).await {
                    Ok(()) => (self.log.sync_message().await, false),
                    Err(e) => (Err(e), true),
                };
                let _ = reply.send(match result {
                    Ok(()) => SessionReply::Ok(SessionOk::TAKEN),
                    Err(e) => SessionReply::err(ErrorCode::Internal, e),
                });
                failed
            }
            DriverCmd::Stop { reply } => {
                let _ = reply.send(SessionReply::Ok(SessionOk::TAKEN));
                self.queue.clear();
                self.log.drop_queued("the session was stopped");
                if let Some((what, post)) = self.post.take() {
                    // Dropping the script's future kills its process group.
                    drop(post);
                    if let Some(hooks) = &self.hooks {
                        hooks.kill_open("stopped by a user");
                    }
                    if matches!(what, Post::TurnEnd) {
                        self.turn_process = None;
                    }
                    self.stopping = true;
                    return true;
                }
                if !self.turn_running {
                    self.stopping = true;
                    return true;
                }
                if self.stopping {
                    return false;
                }
                self.stopping = true;
                self.deadline = Some((Instant::now() + STOP_GRACE, Deadline::Stop));
                if let Err(e) = self.backend.interrupt().await {
                    lp_error(&self.log, e);
                    return true;
                }
                false
            }
            DriverCmd::Decide {
                approval_id,
                decision,
                message,
                reply,
            } => {
                let Some(pending) = self.pending.remove(&approval_id) else {
                    if let Some(reply) = reply {
                        let _ = reply.send(SessionReply::err(
                            ErrorCode::NotFound,
                            format!("no pending approval {approval_id} in this session (already answered, or its turn ended)"),
                        ));
                    }
                    return false;
                };
                let timed_out = reply.is_none();
                let result = self
                    .backend
                    .answer(pending, decision, message.as_deref())
                    .await;
                self.log.append(EventBody::ApprovalResolved {
                    approval_id,
                    resolution: match (timed_out, decision) {
                        (true, _) => Resolution::TimedOut,
                        (false, Decision::Allow) => Resolution::Allowed,
                        (false, Decision::Deny) => Resolution::Denied,
                    },
                    message,
                });
                if self.pending.is_empty() && self.turn_running {
                    self.log.status(SessionStatus::Running, None);
                    self.deadline = Some((Instant::now() + self.cfg.turn_timeout, Deadline::Turn));
                }
                let failed = result.is_err();
                match (reply, result) {
                    (Some(reply), Ok(())) => {
                        let _ = reply.send(SessionReply::Ok(SessionOk::TAKEN));
                    }
                    (Some(reply), Err(e)) => {
                        let _ = reply.send(SessionReply::err(ErrorCode::Internal, e));
                    }
                    (None, Err(e)) => lp_error(&self.log, e),
                    (None, Ok(())) => {}
                }
                failed
            }
        }
    }

    /// Writes the queue into the session record, so a crash does not lose an accepted follow-up.
    fn save_queue(&self) -> Result<(), String> {
        let queued: Vec<String> = self.queue.iter().cloned().collect();
        self.log
            .update_meta(|m| m.queued = queued)
            .map(drop)
            .map_err(|e| format!("storing the queued message: {e:#}"))
    }

    /// Ends the CLI and decides the final status.
    async fn finish(mut self, error: Option<String>, idle_expired: bool) -> Exit {
        self.queue.clear();
        self.log.drop_queued("the CLI ended before their turn");
        let exit = self.backend.shutdown(STOP_GRACE).await;
        if let Some(hooks) = &self.hooks {
            // A turn or script the end cut short; its work stays in the work tree.
            hooks.kill_open(if self.stopping {
                "stopped by a user"
            } else {
                "the session ended while it ran"
            });
        }
        let clean = exit.is_none_or(|s| s.success());
        let (status, message) = if self.stopping {
            (
                SessionStatus::Stopped,
                Some("stopped by a user".to_string()),
            )
        } else if let Some(e) = error {
            (SessionStatus::Failed, Some(e))
        } else if idle_expired {
            (
                SessionStatus::Completed,
                Some(format!(
                    "idle for idle_timeout ({}); the next message resumes it",
                    humantime::format_duration(self.cfg.idle_timeout)
                )),
            )
        } else if clean && !self.turn_running {
            (SessionStatus::Completed, None)
        } else {
            let tail = self.backend.stderr_tail();
            let mut message = format!(
                "the CLI exited unexpectedly ({})",
                super::process::describe(exit)
            );
            if !tail.is_empty() {
                message.push_str(": ");
                message.push_str(&tail);
            }
            (SessionStatus::Failed, Some(message))
        };
        Exit { status, message }
    }
}

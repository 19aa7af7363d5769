//! Agent sessions on the wire: the one event model both providers are normalised into, and the frames of the
//! four session stream kinds.
//!
//! - [`Open::SessionStart`](crate::protocol::Open::SessionStart): main → node, one request, one
//!   [`SessionReply`].
//! - [`Open::SessionCommand`](crate::protocol::Open::SessionCommand): main → node, one [`SessionCommand`],
//!   one [`SessionReply`].
//! - [`Open::SessionAttach`](crate::protocol::Open::SessionAttach): main → node; the node sends every
//!   stored event after `after_seq` as [`AttachFrame::Event`], then live events as they happen, then
//!   [`AttachFrame::End`] once the CLI process has exited and everything it produced was sent; or just
//!   [`AttachFrame::NotFound`] when it has no such session. A node whose store ends before `after_seq`
//!   continues numbering after it.
//! - [`Open::SessionsLive`](crate::protocol::Open::SessionsLive): main → node; the node answers
//!   [`LiveSessions`], and main stops those it has no record of.
//!
//! Sequence numbers start at 1 and are contiguous per session. The node assigns them; main stores events
//! under the node's numbers, so a re-attach from main's last seq never loses or doubles an event.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use crate::ids::{ApprovalId, SessionId};
use crate::reply::Reply;
use crate::run::{ProcessKind, ProcessStatus, RunPrepared, RunSpec};

/// The coding-agent CLIs a session can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Claude Code (`claude`).
    Claude,
    /// OpenAI Codex (`codex`).
    Codex,
}

impl Provider {
    /// The CLI's name, also the provider's name in configs and the API.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Claude => "claude",
            Provider::Codex => "codex",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// The CLI is being started.
    Starting,
    /// A turn is in progress.
    Running,
    /// A turn is blocked on a human decision (approval or question).
    WaitingForApproval,
    /// The CLI is alive and waiting for the next message.
    Idle,
    /// The CLI ended normally; a new message resumes the conversation.
    Completed,
    /// The CLI failed (could not start, crashed, or the API failed).
    Failed,
    /// A user stopped it.
    Stopped,
    /// The agent restarted under it; a new message resumes it through the CLI's own resume.
    Interrupted,
    /// Main's own state: it asked the node to start the session and lost the answer (a timeout, a cut link),
    /// so the CLI may or may not run. Main keeps the session and learns its state when it re-attaches.
    Unknown,
}

impl SessionStatus {
    /// True while a CLI process is (or is about to be) alive for the session.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            SessionStatus::Starting
                | SessionStatus::Running
                | SessionStatus::WaitingForApproval
                | SessionStatus::Idle
                | SessionStatus::Unknown
        )
    }

    /// Stable snake_case name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            SessionStatus::Starting => "starting",
            SessionStatus::Running => "running",
            SessionStatus::WaitingForApproval => "waiting_for_approval",
            SessionStatus::Idle => "idle",
            SessionStatus::Completed => "completed",
            SessionStatus::Failed => "failed",
            SessionStatus::Stopped => "stopped",
            SessionStatus::Interrupted => "interrupted",
            SessionStatus::Unknown => "unknown",
        }
    }
}

/// What a tool call does, for rendering and approval policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    /// Reads a file.
    FileRead,
    /// Creates or changes a file (with a diff when known).
    FileEdit,
    /// Runs a shell command (with output and exit code).
    Command,
    /// Searches files or names (grep, glob).
    Search,
    /// Fetches or searches the web.
    Web,
    /// Calls a tool of an MCP server.
    Mcp,
    /// Anything else (sub-agents, todo lists…).
    Other,
}

/// Where a tool call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    /// Waiting for a human to allow it.
    PendingApproval,
    /// Running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// A human (or a timeout) refused it.
    Denied,
}

/// A human's answer to an approval request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Let the tool run.
    Allow,
    /// Refuse it; the agent is told why.
    Deny,
}

/// How an approval ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// A human allowed it.
    Allowed,
    /// A human denied it.
    Denied,
    /// Nobody answered within the node's `approval_timeout`; treated as denied.
    TimedOut,
    /// The turn or the CLI ended first (stop, crash, agent restart).
    Cancelled,
}

/// Token counts and cost of one turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct Usage {
    /// Input tokens, including cached ones.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Input tokens served from the provider's cache.
    #[serde(default)]
    pub cached_input_tokens: u64,
    /// Cost in US dollars when the CLI reports one (Claude computes it from list prices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// One normalised thing that happened in a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    /// The session changed state.
    Status {
        /// New state.
        status: SessionStatus,
        /// Why, for humans (the error that failed it, "stopped by alice"…).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The CLI told us its own id for the conversation (used to resume it) and the model in use.
    ProviderSession {
        /// Claude's `session_id` or Codex's thread id.
        provider_session_id: String,
        /// Model the CLI reports, when it does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
    },
    /// A message a person sent to the agent.
    UserMessage {
        /// The text.
        text: String,
    },
    /// A piece of assistant text as it streams; the complete text follows as [`EventBody::AssistantMessage`]
    /// with the same `message_id`.
    AssistantDelta {
        /// Groups deltas with their message.
        message_id: String,
        /// The new text.
        text: String,
    },
    /// A complete block of assistant text.
    AssistantMessage {
        /// Provider message id (blocks of one API message share it).
        message_id: String,
        /// The text.
        text: String,
    },
    /// Model reasoning, shown collapsed.
    Thinking {
        /// The reasoning text (may be a summary).
        text: String,
    },
    /// The agent called a tool.
    ToolCall {
        /// Provider id of the call; [`EventBody::ToolResult`] and approvals refer to it.
        call_id: String,
        /// Tool name as the CLI names it (`Bash`, `Write`, `commandExecution`…).
        name: String,
        /// What it does.
        kind: ToolKind,
        /// One line for the UI: the command, the file path, the query.
        title: String,
        /// The tool's input as the CLI gave it.
        input: Value,
        /// Where it is.
        status: ToolStatus,
    },
    /// A tool call finished (or was refused).
    ToolResult {
        /// The call this ends.
        call_id: String,
        /// How it ended.
        status: ToolStatus,
        /// Output text (command output, tool result), when any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<String>,
        /// Exit code of a command, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i64>,
        /// Unified diff of a file change, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        diff: Option<String>,
    },
    /// The agent wants permission to run a tool; answer through the approvals endpoint.
    ApprovalRequested {
        /// Id to answer with.
        approval_id: ApprovalId,
        /// The tool call it is about, when the CLI says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_id: Option<String>,
        /// Tool name.
        tool: String,
        /// What the tool does.
        kind: ToolKind,
        /// One line for the UI.
        title: String,
        /// The tool's input.
        input: Value,
    },
    /// The agent asks the user a question; answer through the approvals endpoint with `allow` and the
    /// answer as `message`, or `deny` to decline.
    Question {
        /// Id to answer with.
        approval_id: ApprovalId,
        /// The question(s) as the CLI gave them.
        questions: Value,
    },
    /// An approval or question was answered (or timed out, or became moot).
    ApprovalResolved {
        /// The approval.
        approval_id: ApprovalId,
        /// How it ended.
        resolution: Resolution,
        /// The reason given with a denial, or the answer to a question.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Tokens and cost of one turn.
    Usage(Usage),
    /// A turn ended.
    TurnCompleted {
        /// The turn ended in an error (API failure, interrupted…).
        is_error: bool,
        /// Why it ended, as the CLI says (`completed`, `aborted_tools`, `interrupted`, `api_error`…).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The CLI's final result text, when it gives one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<String>,
    },
    /// Something went wrong; the session may go on.
    Error {
        /// What happened and, where we know, what to do.
        message: String,
    },
    /// Where a run works; the first event of a run's session.
    RunPrepared(RunPrepared),
    /// An execution process of a run started (numbered from 1 in the order they start).
    ProcessStarted {
        /// Its number in the run.
        process: u32,
        /// What it is.
        kind: ProcessKind,
        /// The script it runs, for scripts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        /// HEAD of the work tree when it started.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before_commit: Option<String>,
    },
    /// Output of a script process (stdout and stderr, as they come).
    ProcessOutput {
        /// The process.
        process: u32,
        /// The text.
        text: String,
    },
    /// An execution process ended.
    ProcessEnded {
        /// The process.
        process: u32,
        /// How.
        status: ProcessStatus,
        /// Its exit code, when it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i64>,
        /// HEAD of the work tree when it ended (after the turn's commit, for a turn).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_commit: Option<String>,
        /// Why it failed or was killed, for humans.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// What a turn left uncommitted was committed to the run's branch.
    AutoCommitted {
        /// The new commit.
        commit: String,
        /// Its message's first line.
        summary: String,
        /// Files it changed.
        files: u32,
    },
    /// Committing what a turn left failed; the work stays in the work tree.
    AutoCommitFailed {
        /// What failed and what to do.
        message: String,
    },
    /// A CLI record this version does not normalise, kept verbatim so nothing is lost.
    Raw {
        /// Which CLI produced it.
        provider: Provider,
        /// The line as the CLI printed it.
        line: String,
    },
}

impl EventBody {
    /// The SSE event name (the hosted seed's vocabulary): `status`, `log`, `tool_call`, `tool_result`,
    /// `error` or `complete`.
    pub fn sse_name(&self) -> &'static str {
        match self {
            EventBody::Status { .. } | EventBody::ProviderSession { .. } => "status",
            EventBody::ToolCall { .. }
            | EventBody::ApprovalRequested { .. }
            | EventBody::Question { .. } => "tool_call",
            EventBody::ToolResult { .. } | EventBody::ApprovalResolved { .. } => "tool_result",
            EventBody::Error { .. } | EventBody::AutoCommitFailed { .. } => "error",
            EventBody::TurnCompleted { .. } => "complete",
            EventBody::UserMessage { .. }
            | EventBody::AssistantDelta { .. }
            | EventBody::AssistantMessage { .. }
            | EventBody::Thinking { .. }
            | EventBody::Usage(_)
            | EventBody::RunPrepared(_)
            | EventBody::ProcessStarted { .. }
            | EventBody::ProcessOutput { .. }
            | EventBody::ProcessEnded { .. }
            | EventBody::AutoCommitted { .. }
            | EventBody::Raw { .. } => "log",
        }
    }
}

/// An event with its place in the session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct SessionEvent {
    /// 1-based, contiguous per session.
    pub seq: u64,
    /// When the node recorded it, ms since the Unix epoch.
    pub at_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub body: EventBody,
}

/// Store key of one event: the session's 16 UUID bytes, then the big-endian seq, so a range scan over a
/// session's keys is its history in order. Both the node's and main's stores use it.
pub fn event_key(session: &[u8; 16], seq: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(session);
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// The seq of a key made by [`event_key`]; `None` for a key of another shape.
pub fn event_key_seq(key: &[u8]) -> Option<u64> {
    let seq: [u8; 8] = key.get(16..24)?.try_into().ok()?;
    (key.len() == 24).then(|| u64::from_be_bytes(seq))
}

/// Main → node: start a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartSession {
    /// Main's id for the session (a UUID); the node keys its store by it.
    pub session_id: SessionId,
    /// Absolute working directory on the node; must lie inside the node's roots.
    pub path: String,
    /// Which CLI.
    pub provider: Provider,
    /// Model to ask the CLI for; default: the CLI's own default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Claude: `--permission-mode`; Codex: the approval policy (`untrusted`, `on-request`, `never`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<String>,
    /// The first message.
    pub prompt: String,
    /// The session is a run of a task: prepare its work tree first (then `path` is ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Box<RunSpec>>,
}

/// Main → node: act on an existing session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum SessionCommand {
    /// A follow-up message; queued while a turn runs; resumes the CLI if it is not running.
    Message {
        /// The text.
        text: String,
    },
    /// Interrupt the turn and end the CLI.
    Stop,
    /// Answer an approval or question.
    Decide {
        /// The approval.
        approval_id: ApprovalId,
        /// Allow or deny.
        decision: Decision,
        /// Reason for a denial, or the answer to a question.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Start or stop a run's dev server (its project's `dev` script), a `devserver` process of the run that
    /// runs beside the turns, whether or not the CLI runs, until stopped.
    DevServer {
        /// Start it (refused while one runs), or stop it (refused when none runs).
        start: bool,
    },
}

/// Node → main: the answer to a start or a command: [`SessionOk`] or a refusal (nothing changed).
pub type SessionReply = Reply<SessionOk>;

/// A start or command the node took.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOk {
    /// For a message: it waits behind the running turn.
    #[serde(default)]
    pub queued: bool,
    /// For the start of a run: where it works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Box<RunPrepared>>,
}

impl SessionOk {
    /// Taken (and, for a message, sent to the CLI).
    pub const TAKEN: SessionOk = SessionOk {
        queued: false,
        run: None,
    };
    /// A message waiting behind the running turn.
    pub const QUEUED: SessionOk = SessionOk {
        queued: true,
        run: None,
    };
}

/// Node → main on an attach stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "frame", rename_all = "snake_case")]
pub enum AttachFrame {
    /// The next event.
    Event(SessionEvent),
    /// The CLI process ended and every event it produced was sent; re-attach after the next message.
    End,
    /// The node has no session by that id (it never started it, or lost its store).
    NotFound,
}

/// Node → main, the one frame on a [`Open::SessionsLive`](crate::protocol::Open::SessionsLive) stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSessions {
    /// Sessions whose CLI runs (or is starting) on the node, or whose run's dev server runs there.
    pub session_ids: Vec<SessionId>,
    /// Every session the node has, with the last seq in its store: main attaches those it holds fewer
    /// events of (a main that crashed lost the tail it had not written out yet). Absent from older agents.
    #[serde(default)]
    pub heads: Vec<SessionHead>,
}

/// A session and the seq of its last stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionHead {
    /// The session.
    pub session_id: SessionId,
    /// Its last stored seq.
    pub last_seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves an event key gives back its seq, and a key of another shape gives none.
    #[test]
    fn event_key_round_trips_its_seq() {
        let key = event_key(&[7; 16], 0x0102_0304_0506_0708);
        assert_eq!(event_key_seq(&key), Some(0x0102_0304_0506_0708));
        assert_eq!(event_key_seq(&key[..23]), None);
        assert_eq!(event_key_seq(&[0; 25]), None);
    }

    /// Proves events flatten into one tagged JSON object, the shape browsers and the store see.
    #[test]
    fn event_json_is_flat_and_tagged() {
        let ev = SessionEvent {
            seq: 7,
            at_ms: 1,
            body: EventBody::Status {
                status: SessionStatus::WaitingForApproval,
                message: None,
            },
        };
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"seq":7,"at_ms":1,"type":"status","status":"waiting_for_approval"})
        );
        let back: SessionEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, ev);
        let usage: SessionEvent = serde_json::from_str(
            r#"{"seq":1,"at_ms":2,"type":"usage","input_tokens":3,"output_tokens":4}"#,
        )
        .unwrap();
        assert_eq!(
            usage.body,
            EventBody::Usage(Usage {
                input_tokens: 3,
                output_tokens: 4,
                ..Usage::default()
            })
        );
    }
}

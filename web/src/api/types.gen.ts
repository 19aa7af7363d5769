// Generated from the Rust definitions by vibebridge_main::api::types; do not edit.
// Regenerate: VB_UPDATE_TYPES=1 cargo test -p vibebridge-tests --test types

export type JsonValue = number | string | boolean | Array<JsonValue> | { [key in string]: JsonValue } | null;

export type ErrorCode = "bad_request" | "internal" | "not_found" | "capability_disabled" | "read_only" | "too_large" | "path_not_found" | "path_outside_roots" | "hidden_denied" | "protected_state" | "permission_denied" | "hard_linked" | "already_exists" | "changed_on_node" | "wrong_kind" | "not_empty" | "range_not_satisfiable" | "not_a_repository" | "unknown_ref" | "git_conflict" | "nothing_to_commit" | "provider_unavailable" | "too_many_sessions" | "queue_full" | "too_many_terminals" | "forbidden" | "unauthorized" | "conflict" | "stale" | "profile_required" | "method_not_allowed" | "length_required" | "node_offline" | "request_timeout" | "too_many_requests" | "server_busy" | "too_many_connections" | "version_mismatch" | "identity_mismatch" | "duplicate_link" | "bad_frame" | "too_many_subscriptions" | "logged_out" | "access_lost" | "slow_consumer" | "github_not_connected" | "github_reconnect" | "github_rate_limited" | "github_failed" | "unknown";

export type NodeId = string;

export type SessionId = string;

export type ApprovalId = string;

export type Provider = "claude" | "codex";

export type SessionStatus = "starting" | "running" | "waiting_for_approval" | "idle" | "completed" | "failed" | "stopped" | "interrupted" | "unknown";

export type ToolKind = "file_read" | "file_edit" | "command" | "search" | "web" | "mcp" | "other";

export type ToolStatus = "pending_approval" | "running" | "succeeded" | "failed" | "denied";

export type Decision = "allow" | "deny";

export type Resolution = "allowed" | "denied" | "timed_out" | "cancelled";

export type Usage = { 
/**
 * Input tokens, including cached ones.
 */
input_tokens: number, 
/**
 * Output tokens.
 */
output_tokens: number, 
/**
 * Input tokens served from the provider's cache.
 */
cached_input_tokens: number, 
/**
 * Cost in US dollars when the CLI reports one (Claude computes it from list prices).
 */
cost_usd?: number | null, };

export type EventBody = { "type": "status", 
/**
 * New state.
 */
status: SessionStatus, 
/**
 * Why, for humans (the error that failed it, "stopped by alice"…).
 */
message?: string | null, } | { "type": "provider_session", 
/**
 * Claude's `session_id` or Codex's thread id.
 */
provider_session_id: string, 
/**
 * Model the CLI reports, when it does.
 */
model?: string | null, } | { "type": "user_message", 
/**
 * The text.
 */
text: string, } | { "type": "assistant_delta", 
/**
 * Groups deltas with their message.
 */
message_id: string, 
/**
 * The new text.
 */
text: string, } | { "type": "assistant_message", 
/**
 * Provider message id (blocks of one API message share it).
 */
message_id: string, 
/**
 * The text.
 */
text: string, } | { "type": "thinking", 
/**
 * The reasoning text (may be a summary).
 */
text: string, } | { "type": "tool_call", 
/**
 * Provider id of the call; [`EventBody::ToolResult`] and approvals refer to it.
 */
call_id: string, 
/**
 * Tool name as the CLI names it (`Bash`, `Write`, `commandExecution`…).
 */
name: string, 
/**
 * What it does.
 */
kind: ToolKind, 
/**
 * One line for the UI: the command, the file path, the query.
 */
title: string, 
/**
 * The tool's input as the CLI gave it.
 */
input: JsonValue, 
/**
 * Where it is.
 */
status: ToolStatus, } | { "type": "tool_result", 
/**
 * The call this ends.
 */
call_id: string, 
/**
 * How it ended.
 */
status: ToolStatus, 
/**
 * Output text (command output, tool result), when any.
 */
output?: string | null, 
/**
 * Exit code of a command, when known.
 */
exit_code?: number | null, 
/**
 * Unified diff of a file change, when known.
 */
diff?: string | null, } | { "type": "approval_requested", 
/**
 * Id to answer with.
 */
approval_id: ApprovalId, 
/**
 * The tool call it is about, when the CLI says.
 */
call_id?: string | null, 
/**
 * Tool name.
 */
tool: string, 
/**
 * What the tool does.
 */
kind: ToolKind, 
/**
 * One line for the UI.
 */
title: string, 
/**
 * The tool's input.
 */
input: JsonValue, } | { "type": "question", 
/**
 * Id to answer with.
 */
approval_id: ApprovalId, 
/**
 * The question(s) as the CLI gave them.
 */
questions: JsonValue, } | { "type": "approval_resolved", 
/**
 * The approval.
 */
approval_id: ApprovalId, 
/**
 * How it ended.
 */
resolution: Resolution, 
/**
 * The reason given with a denial, or the answer to a question.
 */
message?: string | null, } | { "type": "usage" } & Usage | { "type": "turn_completed", 
/**
 * The turn ended in an error (API failure, interrupted…).
 */
is_error: boolean, 
/**
 * Why it ended, as the CLI says (`completed`, `aborted_tools`, `interrupted`, `api_error`…).
 */
reason?: string | null, 
/**
 * The CLI's final result text, when it gives one.
 */
result?: string | null, } | { "type": "error", 
/**
 * What happened and, where we know, what to do.
 */
message: string, } | { "type": "run_prepared" } & RunPrepared | { "type": "process_started", 
/**
 * Its number in the run.
 */
process: number, 
/**
 * What it is.
 */
kind: ProcessKind, 
/**
 * The script it runs, for scripts.
 */
command?: string | null, 
/**
 * HEAD of the work tree when it started.
 */
before_commit?: string | null, } | { "type": "process_output", 
/**
 * The process.
 */
process: number, 
/**
 * The text.
 */
text: string, } | { "type": "process_ended", 
/**
 * The process.
 */
process: number, 
/**
 * How.
 */
status: ProcessStatus, 
/**
 * Its exit code, when it had one.
 */
exit_code?: number | null, 
/**
 * HEAD of the work tree when it ended (after the turn's commit, for a turn).
 */
after_commit?: string | null, 
/**
 * Why it failed or was killed, for humans.
 */
message?: string | null, } | { "type": "auto_committed", 
/**
 * The new commit.
 */
commit: string, 
/**
 * Its message's first line.
 */
summary: string, 
/**
 * Files it changed.
 */
files: number, } | { "type": "auto_commit_failed", 
/**
 * What failed and what to do.
 */
message: string, } | { "type": "raw", 
/**
 * Which CLI produced it.
 */
provider: Provider, 
/**
 * The line as the CLI printed it.
 */
line: string, };

export type SessionEvent = { 
/**
 * 1-based, contiguous per session.
 */
seq: number, 
/**
 * When the node recorded it, ms since the Unix epoch.
 */
at_ms: number, } & ({ "type": "status", 
/**
 * New state.
 */
status: SessionStatus, 
/**
 * Why, for humans (the error that failed it, "stopped by alice"…).
 */
message?: string | null, } | { "type": "provider_session", 
/**
 * Claude's `session_id` or Codex's thread id.
 */
provider_session_id: string, 
/**
 * Model the CLI reports, when it does.
 */
model?: string | null, } | { "type": "user_message", 
/**
 * The text.
 */
text: string, } | { "type": "assistant_delta", 
/**
 * Groups deltas with their message.
 */
message_id: string, 
/**
 * The new text.
 */
text: string, } | { "type": "assistant_message", 
/**
 * Provider message id (blocks of one API message share it).
 */
message_id: string, 
/**
 * The text.
 */
text: string, } | { "type": "thinking", 
/**
 * The reasoning text (may be a summary).
 */
text: string, } | { "type": "tool_call", 
/**
 * Provider id of the call; [`EventBody::ToolResult`] and approvals refer to it.
 */
call_id: string, 
/**
 * Tool name as the CLI names it (`Bash`, `Write`, `commandExecution`…).
 */
name: string, 
/**
 * What it does.
 */
kind: ToolKind, 
/**
 * One line for the UI: the command, the file path, the query.
 */
title: string, 
/**
 * The tool's input as the CLI gave it.
 */
input: JsonValue, 
/**
 * Where it is.
 */
status: ToolStatus, } | { "type": "tool_result", 
/**
 * The call this ends.
 */
call_id: string, 
/**
 * How it ended.
 */
status: ToolStatus, 
/**
 * Output text (command output, tool result), when any.
 */
output?: string | null, 
/**
 * Exit code of a command, when known.
 */
exit_code?: number | null, 
/**
 * Unified diff of a file change, when known.
 */
diff?: string | null, } | { "type": "approval_requested", 
/**
 * Id to answer with.
 */
approval_id: ApprovalId, 
/**
 * The tool call it is about, when the CLI says.
 */
call_id?: string | null, 
/**
 * Tool name.
 */
tool: string, 
/**
 * What the tool does.
 */
kind: ToolKind, 
/**
 * One line for the UI.
 */
title: string, 
/**
 * The tool's input.
 */
input: JsonValue, } | { "type": "question", 
/**
 * Id to answer with.
 */
approval_id: ApprovalId, 
/**
 * The question(s) as the CLI gave them.
 */
questions: JsonValue, } | { "type": "approval_resolved", 
/**
 * The approval.
 */
approval_id: ApprovalId, 
/**
 * How it ended.
 */
resolution: Resolution, 
/**
 * The reason given with a denial, or the answer to a question.
 */
message?: string | null, } | { "type": "usage" } & Usage | { "type": "turn_completed", 
/**
 * The turn ended in an error (API failure, interrupted…).
 */
is_error: boolean, 
/**
 * Why it ended, as the CLI says (`completed`, `aborted_tools`, `interrupted`, `api_error`…).
 */
reason?: string | null, 
/**
 * The CLI's final result text, when it gives one.
 */
result?: string | null, } | { "type": "error", 
/**
 * What happened and, where we know, what to do.
 */
message: string, } | { "type": "run_prepared" } & RunPrepared | { "type": "process_started", 
/**
 * Its number in the run.
 */
process: number, 
/**
 * What it is.
 */
kind: ProcessKind, 
/**
 * The script it runs, for scripts.
 */
command?: string | null, 
/**
 * HEAD of the work tree when it started.
 */
before_commit?: string | null, } | { "type": "process_output", 
/**
 * The process.
 */
process: number, 
/**
 * The text.
 */
text: string, } | { "type": "process_ended", 
/**
 * The process.
 */
process: number, 
/**
 * How.
 */
status: ProcessStatus, 
/**
 * Its exit code, when it had one.
 */
exit_code?: number | null, 
/**
 * HEAD of the work tree when it ended (after the turn's commit, for a turn).
 */
after_commit?: string | null, 
/**
 * Why it failed or was killed, for humans.
 */
message?: string | null, } | { "type": "auto_committed", 
/**
 * The new commit.
 */
commit: string, 
/**
 * Its message's first line.
 */
summary: string, 
/**
 * Files it changed.
 */
files: number, } | { "type": "auto_commit_failed", 
/**
 * What failed and what to do.
 */
message: string, } | { "type": "raw", 
/**
 * Which CLI produced it.
 */
provider: Provider, 
/**
 * The line as the CLI printed it.
 */
line: string, });

export type Role = "pending" | "user" | "admin" | "creator";

export type UserView = { id: string, username: string, role: Role, disabled: boolean, 
/**
 * Full name commits are authored with (`None` until the user sets a profile).
 */
name: string | null, 
/**
 * Email commits are authored with.
 */
email: string | null, created_at: string, };

export type PasswordChange = { current_password: string, new_password: string, };

export type AddKey = { key: string, challenge: string | null, signature: string | null, };

export type KeyChallenge = { challenge: string, namespace: string, 
/**
 * The command that signs it with `~/.ssh/id_ed25519` (use the key being added).
 */
command: string, };

export type ProviderInfo = { 
/**
 * `claude` or `codex`.
 */
name: string, 
/**
 * What `<cli> --version` printed, trimmed; `None` if the binary ran but printed nothing usable.
 */
version: string | null, 
/**
 * Absolute path of the binary that was found.
 */
path: string, };

export type NodeFlagKind = "cloned_key";

export type NodeFlagView = { kind: NodeFlagKind, message: string, at: string, };

export type NodeView = { id: string, name: string, online: boolean, connected_at: string | null, last_heartbeat: string | null, last_seen: string | null, address: string | null, hostname: string | null, os: string | null, labels: Array<string>, capabilities: Array<string>, providers: Array<ProviderInfo>, agent_version: string | null, protocol_version: number | null, fingerprint: string, owner: string | null, members: Array<string>, enrolled_at: string, 
/**
 * A problem the node's owner and admins must look at (shown to them only).
 */
flag: NodeFlagView | null, };

export type TokenView = { id: string, token: string, expires_at: string, main_host_key: string, join_command: string, };

export type UsageTotals = { 
/**
 * Input tokens over all turns.
 */
input_tokens: number, 
/**
 * Output tokens over all turns.
 */
output_tokens: number, 
/**
 * Cached input tokens over all turns.
 */
cached_input_tokens: number, 
/**
 * Cost in US dollars, where the CLI reports it.
 */
cost_usd: number, 
/**
 * Completed turns.
 */
turns: number, };

export type SessionView = { id: string, node_id: string, node_online: boolean, path: string, provider: Provider, model: string | null, permission_mode: string | null, title: string, status: SessionStatus, status_message: string | null, provider_session_id: string | null, reported_model: string | null, usage: UsageTotals, last_seq: number, pending_approvals: number, owner: string, created_at: string, updated_at: string, };

export type ApprovalKind = "approval" | "question";

export type PendingApproval = { 
/**
 * Id to answer with.
 */
approval_id: ApprovalId, 
/**
 * Its session.
 */
session_id: string, 
/**
 * The session's owner.
 */
owner: string, 
/**
 * The session's node.
 */
node_id: string, 
/**
 * A tool call to allow, or a question to answer.
 */
kind: ApprovalKind, 
/**
 * The requesting event (`approval_requested` or `question`), as stored.
 */
event: SessionEvent, 
/**
 * When it was asked, ms since epoch.
 */
requested_at: number, };

export type ApprovalView = { session_title: string, provider: Provider | null, node_online: boolean, requested: string, 
/**
 * Id to answer with.
 */
approval_id: ApprovalId, 
/**
 * Its session.
 */
session_id: string, 
/**
 * The session's owner.
 */
owner: string, 
/**
 * The session's node.
 */
node_id: string, 
/**
 * A tool call to allow, or a question to answer.
 */
kind: ApprovalKind, 
/**
 * The requesting event (`approval_requested` or `question`), as stored.
 */
event: SessionEvent, 
/**
 * When it was asked, ms since epoch.
 */
requested_at: number, };

export type Topic = "approvals" | "nodes" | "sessions" | "users" | "workspaces" | "github";

export type ApprovalChange = "created" | "answered" | "timed_out" | "cancelled";

export type NodeChange = "online" | "offline" | "heartbeat" | "updated";

export type ClientFrame = { "type": "subscribe", 
/**
 * The session.
 */
session_id: string, 
/**
 * The last seq the browser has (0: from the start).
 */
after_seq: number, } | { "type": "unsubscribe", 
/**
 * The session.
 */
session_id: string, } | { "type": "watch", 
/**
 * The topics (`[]`: none).
 */
topics: Array<Topic>, 
/**
 * The workspace (id or key prefix) whose tasks, projects and comments to receive (absent: none).
 */
workspace?: string, } | { "type": "presence", 
/**
 * The push subscription id this browser got when it subscribed (absent: none).
 */
device?: string, 
/**
 * The session on screen (absent: none).
 */
session_id?: string, 
/**
 * Whether the tab is visible.
 */
visible: boolean, } | { "type": "ping" };

export type ServerFrame = { "type": "subscribed", 
/**
 * The session.
 */
session_id: string, 
/**
 * Events after this seq follow.
 */
after_seq: number, } | { "type": "event", 
/**
 * The session.
 */
session_id: string, 
/**
 * The event.
 */
event: SessionEvent, } | { "type": "unsubscribed", 
/**
 * The session.
 */
session_id: string, } | { "type": "watching", 
/**
 * The topics.
 */
topics: Array<Topic>, 
/**
 * The workspace whose board changes follow.
 */
workspace_id?: WorkspaceId, } | { "type": "approval", 
/**
 * What happened.
 */
change: ApprovalChange, 
/**
 * The approval.
 */
approval_id: ApprovalId, 
/**
 * Its session.
 */
session_id: SessionId, } | { "type": "node", 
/**
 * What happened.
 */
change: NodeChange, 
/**
 * The node.
 */
node_id: string, 
/**
 * When, for a heartbeat (RFC 3339).
 */
at?: string, } | { "type": "session", 
/**
 * The session.
 */
session_id: string, } | { "type": "user", 
/**
 * The user.
 */
user_id: string, } | { "type": "workspace", 
/**
 * The workspace.
 */
workspace_id: WorkspaceId, 
/**
 * It was deleted (or the receiver no longer belongs to it).
 */
removed: boolean, } | { "type": "task", 
/**
 * The workspace.
 */
workspace_id: WorkspaceId, 
/**
 * The task.
 */
task_id: TaskId, 
/**
 * The task now; absent when it was deleted or is no longer visible to the receiver.
 */
task?: TaskView, } | { "type": "task_notes", 
/**
 * The workspace.
 */
workspace_id: WorkspaceId, 
/**
 * The task.
 */
task_id: TaskId, } | { "type": "run", 
/**
 * The workspace.
 */
workspace_id: WorkspaceId, 
/**
 * The task.
 */
task_id: TaskId, 
/**
 * The run now.
 */
run: Run, } | { "type": "review_comments", 
/**
 * The workspace.
 */
workspace_id: WorkspaceId, 
/**
 * The task.
 */
task_id: TaskId, 
/**
 * The run.
 */
run_id: RunId, } | { "type": "pull_request", 
/**
 * The workspace.
 */
workspace_id: WorkspaceId, 
/**
 * The task.
 */
task_id: TaskId, 
/**
 * The pull request now.
 */
pull_request: PullRequest, } | { "type": "github" } | { "type": "webhook", 
/**
 * The workspace.
 */
workspace_id: WorkspaceId, 
/**
 * The webhook.
 */
webhook_id: WebhookId, 
/**
 * The webhook now; absent once deleted.
 */
webhook?: Webhook, } | { "type": "projects", 
/**
 * The workspace.
 */
workspace_id: WorkspaceId, } | { "type": "resync" } | { "type": "pong" } | { "type": "error", 
/**
 * The session it is about, if any.
 */
session_id?: string, 
/**
 * Stable code: `bad_frame`, `not_found`, `too_many_subscriptions`, `logged_out`, `access_lost`.
 */
code: ErrorCode, 
/**
 * What went wrong and what to send instead.
 */
message: string, };

export type EntryKind = "file" | "dir" | "symlink" | "other";

export type Entry = { 
/**
 * Its name.
 */
name: string, 
/**
 * Its absolute path, as listed (a symlink keeps its own path).
 */
path: string, 
/**
 * What it is; a symlink to something inside the roots shows as what it points to.
 */
kind: EntryKind, 
/**
 * Whether the entry itself is a symlink.
 */
link: boolean, 
/**
 * Size in bytes (of the target, for a followed symlink).
 */
size: number, 
/**
 * Last modification, milliseconds since the Unix epoch.
 */
modified_ms: number | null, 
/**
 * Unix permission bits, e.g. `0o644`.
 */
mode: number, 
/**
 * Changes whenever the content may have: pass it back as `if_match` to write only over what was read.
 */
etag: string, };

export type DirListing = { 
/**
 * The directory listed (resolved); `None` when the listing is the node's roots.
 */
path: string | null, 
/**
 * The directory above, when it is still inside a root; `None` at a root (go back to the roots).
 */
parent: string | null, 
/**
 * Directories first, then files, each sorted by name.
 */
entries: Array<Entry>, 
/**
 * More than [`MAX_ENTRIES`] existed; the rest were left out.
 */
truncated: boolean, };

export type FileState = "unmodified" | "added" | "modified" | "deleted" | "renamed" | "type_changed" | "untracked" | "conflicted";

export type StatusEntry = { 
/**
 * Path relative to the work tree.
 */
path: string, 
/**
 * Previous path of a staged rename.
 */
orig_path: string | null, 
/**
 * HEAD → index.
 */
staged: FileState, 
/**
 * Index → work tree.
 */
unstaged: FileState, };

export type GitStatus = { 
/**
 * Absolute path of the work tree.
 */
workdir: string, 
/**
 * Current branch's short name; `None` when HEAD is detached.
 */
branch: string | null, 
/**
 * HEAD's commit id; `None` in a repository without commits.
 */
head: string | null, 
/**
 * The branch's upstream, e.g. `origin/main`.
 */
upstream: string | null, 
/**
 * Commits on the branch and not on its upstream.
 */
ahead: number, 
/**
 * Commits on the upstream and not on the branch.
 */
behind: number, 
/**
 * Changed, untracked and conflicted paths, sorted by path.
 */
entries: Array<StatusEntry>, 
/**
 * More than [`MAX_STATUS_ENTRIES`] existed.
 */
truncated: boolean, };

export type FileDiff = { 
/**
 * Path (the new one, for a rename).
 */
path: string, 
/**
 * Previous path of a rename.
 */
orig_path: string | null, 
/**
 * What happened to it.
 */
state: FileState, 
/**
 * Binary content: no patch, no line counts.
 */
binary: boolean, 
/**
 * Lines added.
 */
additions: number, 
/**
 * Lines removed.
 */
deletions: number, 
/**
 * Unified diff (`@@` hunks with 3 lines of context, no `diff --git` header); empty for binary
 * files and for files past [`MAX_DIFF_BYTES`].
 */
patch: string, };

export type GitDiff = { 
/**
 * Files, sorted by path.
 */
files: Array<FileDiff>, 
/**
 * Patches were left out past [`MAX_DIFF_BYTES`].
 */
truncated: boolean, };

export type CommitInfo = { 
/**
 * Full id.
 */
id: string, 
/**
 * Parent ids.
 */
parents: Array<string>, 
/**
 * Author name.
 */
author_name: string, 
/**
 * Author email.
 */
author_email: string, 
/**
 * Author time, seconds since the Unix epoch.
 */
time: number, 
/**
 * First line of the message.
 */
summary: string, 
/**
 * The whole message.
 */
message: string, };

export type GitLog = { 
/**
 * The commits of this page.
 */
commits: Array<CommitInfo>, 
/**
 * `skip` for the next page; `None` at the end of history.
 */
next_skip: number | null, };

export type BranchInfo = { 
/**
 * Short name: `main`, or `origin/main` for a remote-tracking branch.
 */
name: string, 
/**
 * A remote-tracking branch.
 */
remote: boolean, 
/**
 * HEAD points at it.
 */
current: boolean, 
/**
 * The commit it points at.
 */
target: string, 
/**
 * Its upstream (local branches only).
 */
upstream: string | null, };

export type BranchList = { 
/**
 * Local branches, then remote-tracking ones, each sorted by name.
 */
branches: Array<BranchInfo>, };

export type ErrorDetail = { 
/**
 * Stable machine-readable reason (main's, or the node's passed through).
 */
code: ErrorCode, 
/**
 * What is wrong and what to do.
 */
message: string, 
/**
 * With `stale`: the record as it is now.
 */
current?: JsonValue, };

export type ErrorBody = { 
/**
 * What went wrong.
 */
error: ErrorDetail, };

export type Health = { 
/**
 * Always `ok` when main answers.
 */
status: string, 
/**
 * Main's version.
 */
version: string, 
/**
 * Nodes with a live link now.
 */
nodes_online: number, 
/**
 * `active` (serving) or `standby` (another main sharing the database serves): what a load balancer
 * routes by.
 */
role: string, 
/**
 * This main's name (host name and process id).
 */
main: string, 
/**
 * `sled` or `postgres`.
 */
database: string, 
/**
 * Milliseconds since the database last answered this main (0 on sled).
 */
lag_ms: number, 
/**
 * The lead's epoch while this main is active on PostgreSQL (it grows with every takeover; 0 on sled and
 * on a standby).
 */
epoch: number, };

export type AuthStatus = { 
/**
 * Whether any account exists (if not, the UI offers the creator's sign-up).
 */
has_users: boolean, };

export type Credentials = { username: string, password: string, 
/**
 * Only for the first account when it is not created from main's own machine.
 */
setup_code?: string, };

export type RefreshBody = { refresh_token?: string, };

export type Profile = { name: string, email: string, };

export type LoggedIn = { 
/**
 * Who is logged in.
 */
user: UserView, 
/**
 * Bearer token for API clients that do not keep cookies.
 */
access_token: string, 
/**
 * Seconds until `access_token` expires.
 */
expires_in: number, };

export type LoggedOut = { 
/**
 * Always true.
 */
ok: boolean, };

export type LoginsEnded = { 
/**
 * Logins (this one included) that ended.
 */
ended: number, };

export type PasswordChanged = { 
/**
 * Other logins of the user that ended with the change.
 */
ended_other_logins: number, };

export type KeyView = { id: string, fingerprint: string, public_key: string, comment: string, added_at: string, };

export type KeyRemoved = { 
/**
 * The key's id.
 */
removed: string, };

export type AuditEvent = { 
/**
 * `user:<name>`, `node:<id>` or `system`.
 */
actor: string, 
/**
 * Dotted action name, e.g. `auth.login_failed`, `node.enrolled`.
 */
action: string, 
/**
 * What it was done to.
 */
target: string | null, 
/**
 * Remote address.
 */
source: string | null, 
/**
 * Extra context (never secrets).
 */
detail: string | null, };

export type AuditEntryView = { seq: number, at: string, 
/**
 * `user:<name>`, `node:<id>` or `system`.
 */
actor: string, 
/**
 * Dotted action name, e.g. `auth.login_failed`, `node.enrolled`.
 */
action: string, 
/**
 * What it was done to.
 */
target: string | null, 
/**
 * Remote address.
 */
source: string | null, 
/**
 * Extra context (never secrets).
 */
detail: string | null, };

export type RoleChange = { role: Role, };

export type TokenRequest = { 
/**
 * How long the token is valid, e.g. `"1h"` (default `auth.node_token_ttl`, at most 30 days).
 */
ttl?: string | null, };

export type NodeMember = { username: string, };

export type NodeRevoked = { 
/**
 * The node's id.
 */
revoked: string, 
/**
 * Whether it had a live link, now cut.
 */
was_online: boolean, };

export type NewSession = { node_id: string, path: string, provider: Provider, model?: string, permission_mode?: string, prompt: string, };

export type SessionListQuery = { node?: string, provider?: Provider, status?: SessionStatus, };

export type NewMessage = { text: string, };

export type MessageAccepted = { 
/**
 * Always true: the node took it.
 */
accepted: boolean, 
/**
 * It waits behind the running turn.
 */
queued: boolean, };

export type StopRequested = { 
/**
 * Always true: the node is stopping the session.
 */
stopping: boolean, 
/**
 * When main asked (RFC 3339).
 */
requested_at: string, };

export type EventsQuery = { after: number, limit?: number, };

export type EventsPage = { 
/**
 * Events after the page's `after`, oldest first.
 */
events: Array<SessionEvent>, 
/**
 * The `after` of the next page.
 */
next_after: number, 
/**
 * The session's last seq now.
 */
last_seq: number, 
/**
 * Whether more events follow this page.
 */
more: boolean, };

export type StreamError = { 
/**
 * Always `error`.
 */
type: string, 
/**
 * Why the stream ended (`slow_consumer`).
 */
code: ErrorCode, 
/**
 * What to do.
 */
message: string, };

export type ApprovalDecision = { decision: Decision, message?: string, 
/**
 * The push subscription answering (a notification's Allow or Deny): the audit names the device.
 */
device?: string, };

export type Decided = { 
/**
 * The approval.
 */
approval_id: ApprovalId, 
/**
 * Always true: the node has the decision.
 */
decided: boolean, };

export type AuditPage = { before?: number, limit?: number, };

export type FsListQuery = { path?: string, dirs_only: boolean, };

export type FsPathQuery = { path: string, };

export type FsCreate = { path: string, dir: boolean, };

export type FsRename = { from: string, to: string, overwrite: boolean, };

export type FsDelete = { path: string, recursive: boolean, };

export type FsUploadQuery = { path: string, overwrite: boolean, };

export type Deleted = { 
/**
 * The path that was deleted.
 */
deleted: string, };

export type GitRepoQuery = { repo: string, };

export type GitDiffQuery = { repo: string, staged: boolean, path?: string, rev?: string, };

export type GitLogQuery = { repo: string, rev?: string, skip: number, limit?: number, };

export type GitNewBranch = { repo: string, name: string, start?: string, checkout: boolean, };

export type GitCheckout = { repo: string, branch: string, };

export type GitPaths = { repo: string, paths: Array<string>, };

export type GitCommit = { repo: string, message: string, };

export type Committed = { 
/**
 * The new commit's id.
 */
id: string, };

export type TerminalQuery = { terminal_id: string, cols: number, rows: number, };

export type TerminalClientFrame = { "type": "resize", 
/**
 * Columns.
 */
cols: number, 
/**
 * Rows.
 */
rows: number, } | { "type": "close" };

export type TerminalServerFrame = { "type": "attached", 
/**
 * A new shell was started (false: reattached to a running one).
 */
created: boolean, 
/**
 * The shell.
 */
shell: string, } | { "type": "exit", 
/**
 * Its exit code (128 + signal when killed).
 */
code: number, } | { "type": "error", 
/**
 * What happened and what to do.
 */
message: string, };

export type WorkspaceId = string;

export type ProjectId = string;

export type TaskId = string;

export type CommentId = string;

export type WorkspaceRole = "viewer" | "member" | "admin" | "owner";

export type TaskStatus = "backlog" | "todo" | "in_progress" | "in_review" | "done" | "cancelled";

export type Priority = "none" | "low" | "medium" | "high" | "urgent";

export type StatusName = { 
/**
 * The category.
 */
status: TaskStatus, 
/**
 * What the workspace calls it.
 */
name: string, };

export type AgentDefaults = { 
/**
 * `claude` or `codex`.
 */
provider?: string, 
/**
 * The model, as the CLI names it.
 */
model?: string, 
/**
 * The CLI's permission mode.
 */
permission_mode?: string, };

export type WorkspaceSettings = { 
/**
 * Task keys are `<prefix>-<number>`: 1–10 capital letters or digits, starting with a letter.
 */
key_prefix: string, 
/**
 * The name shown for each status, in board order.
 */
status_names: Array<StatusName>, 
/**
 * Defaults for runs.
 */
agent: AgentDefaults, 
/**
 * Runs of this workspace at once (more wait, queued); 0 means no limit.
 */
run_concurrency: number, 
/**
 * Put before every run's prompt.
 */
prompt_prefix: string, 
/**
 * The message of the commit made after each turn of a run: `{key}`, `{title}` and `{turn}` are filled in.
 */
run_commit_message: string, };

export type PromptTemplate = { 
/**
 * The name used after `@` (letters, digits, `-`, `_`).
 */
name: string, 
/**
 * The text it stands for (Markdown).
 */
body: string, 
/**
 * Last change, ms since epoch.
 */
updated_at: number, };

export type ProjectScripts = { 
/**
 * Run in a new worktree before the agent starts (install dependencies…).
 */
setup: string, 
/**
 * Run when a run ends.
 */
cleanup: string, 
/**
 * Starts the project's dev server.
 */
dev: string, };

export type Project = { 
/**
 * Id.
 */
id: ProjectId, 
/**
 * Its workspace.
 */
workspace_id: WorkspaceId, 
/**
 * Display name.
 */
name: string, 
/**
 * The node the repository is on.
 */
node_id: string, 
/**
 * The repository's work tree on that node (absolute, inside the node's roots).
 */
repo_path: string, 
/**
 * The branch runs start from and merge into.
 */
base_branch: string, 
/**
 * Scripts.
 */
scripts: ProjectScripts, 
/**
 * Globs of untracked files copied into each run's worktree (e.g. `.env`).
 */
copy_files: Array<string>, 
/**
 * A run's branch name; `{key}` and `{slug}` are replaced (default `vb/{key}-{slug}`).
 */
branch_template: string, 
/**
 * The GitHub repository it is a clone of: runs fetch the base from it first, and push and open pull
 * requests there.
 */
github_repo?: ConnectedRepoId, 
/**
 * Who created it.
 */
created_by: string, 
/**
 * When, ms since epoch.
 */
created_at: number, 
/**
 * Last change, ms since epoch.
 */
updated_at: number, };

export type Task = { 
/**
 * Id.
 */
id: TaskId, 
/**
 * Its workspace.
 */
workspace_id: WorkspaceId, 
/**
 * Its project, if any.
 */
project_id?: ProjectId, 
/**
 * The number in its key (`WEB-42` → 42).
 */
number: number, 
/**
 * Title.
 */
title: string, 
/**
 * Description, Markdown.
 */
description: string, 
/**
 * Status category.
 */
status: TaskStatus, 
/**
 * Priority.
 */
priority: Priority, 
/**
 * Assigned users.
 */
assignees: string[], 
/**
 * Labels.
 */
labels: Array<string>, 
/**
 * The parent task, for a subtask.
 */
parent?: TaskId, 
/**
 * Due date, `YYYY-MM-DD`.
 */
due?: string, 
/**
 * Position key within its status column (ordered as bytes).
 */
position: string, 
/**
 * Who created it (`None` for imported tasks whose creator had no account).
 */
created_by?: string, 
/**
 * When, ms since epoch.
 */
created_at: number, 
/**
 * Last change, ms since epoch.
 */
updated_at: number, 
/**
 * Off the board (kept, searchable, restorable).
 */
archived: boolean, 
/**
 * When set, only these members (and the workspace's admins) see the task.
 */
restricted_to?: string[], 
/**
 * Bumped by every change; an edit naming an older version is refused.
 */
version: number, };

export type Comment = { 
/**
 * Id.
 */
id: CommentId, 
/**
 * The task.
 */
task_id: TaskId, 
/**
 * Who wrote it (`None`: imported from someone without an account here).
 */
author?: string, 
/**
 * The author's name when they have no account here (imports).
 */
author_name?: string, 
/**
 * Markdown.
 */
body: string, 
/**
 * Members named with `@name` in the body.
 */
mentions: string[], 
/**
 * When, ms since epoch.
 */
created_at: number, 
/**
 * Last edit, ms since epoch.
 */
edited_at?: number, };

export type ActivityKind = { "type": "created" } | { "type": "moved", 
/**
 * From.
 */
from: TaskStatus, 
/**
 * To.
 */
to: TaskStatus, } | { "type": "assigned", 
/**
 * Newly assigned.
 */
added: string[], 
/**
 * No longer assigned.
 */
removed: string[], } | { "type": "edited", 
/**
 * Which (`title`, `description`, `priority`…).
 */
fields: Array<string>, } | { "type": "commented", 
/**
 * The comment.
 */
comment_id: CommentId, } | { "type": "archived", 
/**
 * Archived (true) or restored.
 */
archived: boolean, } | { "type": "imported", 
/**
 * What was imported from.
 */
source: string, 
/**
 * What it said.
 */
note: string, };

export type Activity = { 
/**
 * Order within the task.
 */
seq: number, 
/**
 * The task.
 */
task_id: TaskId, 
/**
 * When, ms since epoch.
 */
at: number, 
/**
 * Who (`None`: main itself, or an import).
 */
actor?: string, 
/**
 * What happened.
 */
kind: ActivityKind, };

export type NewWorkspace = { 
/**
 * Display name (1–100 characters).
 */
name: string, 
/**
 * Task key prefix: 1–10 capital letters or digits, starting with a letter (`WEB`).
 */
key_prefix: string, };

export type SettingsPatch = { 
/**
 * New display name.
 */
name?: string, 
/**
 * New key prefix (existing tasks' keys follow it).
 */
key_prefix?: string, 
/**
 * New display names of statuses (those listed).
 */
status_names?: Array<StatusName>, 
/**
 * Run defaults.
 */
agent?: AgentDefaults, 
/**
 * Runs at once (0: no limit).
 */
run_concurrency?: number, 
/**
 * Put before every run's prompt.
 */
prompt_prefix?: string, 
/**
 * The message of a run's turn commit (`{key}`, `{title}`, `{turn}` filled in).
 */
run_commit_message?: string, };

export type MemberView = { 
/**
 * User id.
 */
user_id: string, 
/**
 * Username (what `@mentions` and filters use).
 */
username: string, 
/**
 * Full name, when set.
 */
name?: string, 
/**
 * Role here.
 */
role: WorkspaceRole, 
/**
 * Joined, RFC 3339.
 */
added_at: string, };

export type WorkspaceView = { 
/**
 * Id.
 */
id: WorkspaceId, 
/**
 * Name.
 */
name: string, 
/**
 * Settings.
 */
settings: WorkspaceSettings, 
/**
 * The caller's effective role.
 */
role: WorkspaceRole, 
/**
 * Members.
 */
members: Array<MemberView>, 
/**
 * Created, RFC 3339.
 */
created_at: string, 
/**
 * Last changed, RFC 3339.
 */
updated_at: string, };

export type DeleteQuery = { 
/**
 * The workspace's exact name.
 */
confirm: string, };

export type WorkspaceDeleted = { 
/**
 * The deleted workspace.
 */
deleted: WorkspaceId, };

export type MemberBody = { 
/**
 * The user's name.
 */
username: string, 
/**
 * Their role (default `member`).
 */
role?: WorkspaceRole, };

export type TemplateBody = { 
/**
 * Markdown.
 */
body: string, };

export type BoardQuery = { 
/**
 * Words that must all appear in the key, title, description or labels (case-insensitive).
 */
q?: string, 
/**
 * An assignee's username, or `none` for unassigned tasks.
 */
assignee?: string, 
/**
 * A label.
 */
label?: string, 
/**
 * A priority.
 */
priority?: Priority, 
/**
 * A project.
 */
project?: ProjectId, 
/**
 * One column only (for the next page of a column).
 */
status?: TaskStatus, 
/**
 * Continue a column after this cursor (from `next`).
 */
after?: string, 
/**
 * Tasks per column (default 50, at most 500).
 */
limit?: number, };

export type Column = { 
/**
 * Its status.
 */
status: TaskStatus, 
/**
 * What the workspace calls it.
 */
name: string, 
/**
 * The page of tasks, in order.
 */
tasks: Array<TaskView>, 
/**
 * Tasks in the column (before filters and access).
 */
total: number, 
/**
 * Cursor of the next page (`after`), when there is one.
 */
next?: string, };

export type Board = { 
/**
 * Columns in board order (or the one asked for).
 */
columns: Array<Column>, };

export type TaskListQuery = { 
/**
 * Words that must all appear.
 */
q?: string, 
/**
 * An assignee's username, or `none`.
 */
assignee?: string, 
/**
 * A label.
 */
label?: string, 
/**
 * A priority.
 */
priority?: Priority, 
/**
 * A project.
 */
project?: ProjectId, 
/**
 * One status.
 */
status?: TaskStatus, 
/**
 * Tasks per page (default 50, at most 500).
 */
limit?: number, 
/**
 * Archived tasks instead of the board's.
 */
archived?: boolean, 
/**
 * Tasks to skip.
 */
offset?: number, };

export type TaskPage = { 
/**
 * The tasks.
 */
tasks: Array<TaskView>, 
/**
 * Matching tasks in all.
 */
total: number, };

export type NewProject = { 
/**
 * Display name (default: the repository directory's name).
 */
name?: string, 
/**
 * The node.
 */
node_id: string, 
/**
 * A directory in the repository's work tree on that node (absolute).
 */
repo_path: string, 
/**
 * The branch runs start from (default: the repository's current branch).
 */
base_branch?: string, 
/**
 * Scripts.
 */
scripts?: ProjectScripts, 
/**
 * Globs of untracked files copied into each run's worktree.
 */
copy_files?: Array<string>, 
/**
 * A run's branch name (default `vb/{key}-{slug}`).
 */
branch_template?: string, 
/**
 * The workspace's connected GitHub repository this is a clone of.
 */
github_repo?: ConnectedRepoId, };

export type ProjectPatch = { 
/**
 * Display name.
 */
name?: string, 
/**
 * Base branch (checked on the node).
 */
base_branch?: string, 
/**
 * Scripts.
 */
scripts?: ProjectScripts, 
/**
 * Globs.
 */
copy_files?: Array<string>, 
/**
 * Branch template.
 */
branch_template?: string, };

export type ProjectView = { 
/**
 * The caller may use its node (start runs, open its files).
 */
can_run: boolean, 
/**
 * Id.
 */
id: ProjectId, 
/**
 * Its workspace.
 */
workspace_id: WorkspaceId, 
/**
 * Display name.
 */
name: string, 
/**
 * The node the repository is on.
 */
node_id: string, 
/**
 * The repository's work tree on that node (absolute, inside the node's roots).
 */
repo_path: string, 
/**
 * The branch runs start from and merge into.
 */
base_branch: string, 
/**
 * Scripts.
 */
scripts: ProjectScripts, 
/**
 * Globs of untracked files copied into each run's worktree (e.g. `.env`).
 */
copy_files: Array<string>, 
/**
 * A run's branch name; `{key}` and `{slug}` are replaced (default `vb/{key}-{slug}`).
 */
branch_template: string, 
/**
 * The GitHub repository it is a clone of: runs fetch the base from it first, and push and open pull
 * requests there.
 */
github_repo?: ConnectedRepoId, 
/**
 * Who created it.
 */
created_by: string, 
/**
 * When, ms since epoch.
 */
created_at: number, 
/**
 * Last change, ms since epoch.
 */
updated_at: number, };

export type ProjectDeleted = { 
/**
 * The deleted project.
 */
deleted: ProjectId, };

export type RunChip = { 
/**
 * The run.
 */
id: RunId, 
/**
 * Which agent.
 */
provider: Provider, 
/**
 * Where it is.
 */
status: RunStatus, 
/**
 * Approvals and questions waiting for a person: the card says "needs attention".
 */
pending_approvals: number, 
/**
 * Its pull request on GitHub.
 */
pull_request?: PrChip, };

export type TaskView = { 
/**
 * `WEB-42`.
 */
key: string, 
/**
 * Subtasks.
 */
subtasks: number, 
/**
 * Its latest runs (at most [`RUN_CHIPS`]), newest first: what the card shows of them.
 */
runs: Array<RunChip>, 
/**
 * The GitHub issue it was imported from.
 */
issue?: IssueLink, 
/**
 * Id.
 */
id: TaskId, 
/**
 * Its workspace.
 */
workspace_id: WorkspaceId, 
/**
 * Its project, if any.
 */
project_id?: ProjectId, 
/**
 * The number in its key (`WEB-42` → 42).
 */
number: number, 
/**
 * Title.
 */
title: string, 
/**
 * Description, Markdown.
 */
description: string, 
/**
 * Status category.
 */
status: TaskStatus, 
/**
 * Priority.
 */
priority: Priority, 
/**
 * Assigned users.
 */
assignees: string[], 
/**
 * Labels.
 */
labels: Array<string>, 
/**
 * The parent task, for a subtask.
 */
parent?: TaskId, 
/**
 * Due date, `YYYY-MM-DD`.
 */
due?: string, 
/**
 * Position key within its status column (ordered as bytes).
 */
position: string, 
/**
 * Who created it (`None` for imported tasks whose creator had no account).
 */
created_by?: string, 
/**
 * When, ms since epoch.
 */
created_at: number, 
/**
 * Last change, ms since epoch.
 */
updated_at: number, 
/**
 * Off the board (kept, searchable, restorable).
 */
archived: boolean, 
/**
 * When set, only these members (and the workspace's admins) see the task.
 */
restricted_to?: string[], 
/**
 * Bumped by every change; an edit naming an older version is refused.
 */
version: number, };

export type Edge = "top" | "bottom";

export type NewTask = { 
/**
 * Title (1–500 characters).
 */
title: string, 
/**
 * Markdown.
 */
description?: string, 
/**
 * Status (default `todo`).
 */
status?: TaskStatus, 
/**
 * Priority (default `none`).
 */
priority?: Priority, 
/**
 * Usernames of members to assign.
 */
assignees?: Array<string>, 
/**
 * Labels.
 */
labels?: Array<string>, 
/**
 * The parent task (id or key).
 */
parent?: string, 
/**
 * Due date, `YYYY-MM-DD`.
 */
due?: string, 
/**
 * The project.
 */
project_id?: ProjectId, 
/**
 * Usernames of the only members (besides admins) who see it.
 */
restricted_to?: Array<string>, 
/**
 * `top` (default) or `bottom` of its column.
 */
place?: Edge, };

export type TaskPatch = { 
/**
 * The version the editor saw; a newer task refuses the edit (409 with the current task).
 */
version: number, 
/**
 * Title.
 */
title?: string, 
/**
 * Markdown.
 */
description?: string, 
/**
 * Status (to the top of its column).
 */
status?: TaskStatus, 
/**
 * Priority.
 */
priority?: Priority, 
/**
 * Usernames (replaces the list).
 */
assignees?: Array<string>, 
/**
 * Labels (replaces the list).
 */
labels?: Array<string>, 
/**
 * Parent (id or key), `null` for none.
 */
parent?: string | null, 
/**
 * Due date, `null` for none.
 */
due?: string | null, 
/**
 * Project, `null` for none.
 */
project_id?: string | null, 
/**
 * Archived or not.
 */
archived?: boolean, 
/**
 * Usernames who alone (with admins) see it; `null` for everyone in the workspace.
 */
restricted_to?: string[] | null, };

export type MoveTask = { 
/**
 * The column.
 */
status: TaskStatus, 
/**
 * The task it should follow (absent: first, unless `before` is given).
 */
after?: TaskId, 
/**
 * The task it should precede.
 */
before?: TaskId, };

export type TaskDeleted = { 
/**
 * The deleted task.
 */
deleted: TaskId, };

export type CommentBody = { 
/**
 * Markdown.
 */
body: string, };

export type CommentDeleted = { 
/**
 * The deleted comment.
 */
deleted: CommentId, };

export type AttachmentId = string;

export type Attachment = { 
/**
 * Id.
 */
id: AttachmentId, 
/**
 * The task.
 */
task_id: TaskId, 
/**
 * File name (no directories).
 */
filename: string, 
/**
 * MIME type (`application/octet-stream` when unknown).
 */
content_type: string, 
/**
 * Bytes.
 */
size: number, 
/**
 * When, ms since epoch.
 */
created_at: number, };

export type ExportMember = { 
/**
 * Username.
 */
username: string, 
/**
 * Role.
 */
role: WorkspaceRole, };

export type ExportProject = { 
/**
 * Name.
 */
name: string, 
/**
 * Node id.
 */
node_id: string, 
/**
 * Repository path on the node.
 */
repo_path: string, 
/**
 * Base branch.
 */
base_branch: string, 
/**
 * Scripts.
 */
scripts: ProjectScripts, 
/**
 * Globs copied into worktrees.
 */
copy_files: Array<string>, 
/**
 * Branch template.
 */
branch_template: string, 
/**
 * Creator's username.
 */
created_by?: string, 
/**
 * Created, ms since epoch.
 */
created_at: number, };

export type ExportComment = { 
/**
 * Author's username (or name, for an imported author without an account).
 */
author?: string, 
/**
 * Markdown.
 */
body: string, 
/**
 * Created, ms since epoch.
 */
created_at: number, 
/**
 * Edited, ms since epoch.
 */
edited_at?: number, };

export type ExportActivity = { 
/**
 * When, ms since epoch.
 */
at: number, 
/**
 * Who.
 */
actor?: string, 
/**
 * What, as the store has it, with user ids and comment ids replaced (see `people`, `comment`).
 */
kind: ActivityKind, 
/**
 * Usernames of the user ids in `kind`, in the order they appear.
 */
people: Array<string>, 
/**
 * For a `commented` entry, the comment's index in the task's `comments`.
 */
comment?: number, };

export type ExportAttachment = { 
/**
 * File name.
 */
filename: string, 
/**
 * MIME type.
 */
content_type: string, 
/**
 * The bytes, standard base64.
 */
base64: string, 
/**
 * Added, ms since epoch.
 */
created_at: number, };

export type ExportTask = { 
/**
 * Its number (the key is the prefix and this).
 */
number: number, 
/**
 * Title.
 */
title: string, 
/**
 * Markdown.
 */
description: string, 
/**
 * Status.
 */
status: TaskStatus, 
/**
 * Priority.
 */
priority: Priority, 
/**
 * Assignees' usernames.
 */
assignees: Array<string>, 
/**
 * Labels.
 */
labels: Array<string>, 
/**
 * The parent's number.
 */
parent?: number, 
/**
 * Due date.
 */
due?: string, 
/**
 * Index in `projects`.
 */
project?: number, 
/**
 * Position key in its column.
 */
position: string, 
/**
 * Creator's username.
 */
created_by?: string, 
/**
 * Created, ms since epoch.
 */
created_at: number, 
/**
 * Last change, ms since epoch.
 */
updated_at: number, 
/**
 * Archived.
 */
archived: boolean, 
/**
 * Usernames who alone (with admins) see it.
 */
restricted_to?: Array<string>, 
/**
 * Comments, oldest first.
 */
comments: Array<ExportComment>, 
/**
 * Activity, oldest first.
 */
activity: Array<ExportActivity>, 
/**
 * Files, base64.
 */
attachments: Array<ExportAttachment>, };

export type WorkspaceExport = { 
/**
 * Always `vibebridge.workspace`.
 */
format: string, 
/**
 * The document's version.
 */
version: number, 
/**
 * The workspace's name.
 */
name: string, 
/**
 * Its settings.
 */
settings: WorkspaceSettings, 
/**
 * Members by username.
 */
members: Array<ExportMember>, 
/**
 * Projects.
 */
projects: Array<ExportProject>, 
/**
 * Prompt templates.
 */
templates: Array<PromptTemplate>, 
/**
 * Tasks, by number.
 */
tasks: Array<ExportTask>, };

export type ImportCounts = { 
/**
 * Projects.
 */
projects: number, 
/**
 * Tasks.
 */
tasks: number, 
/**
 * Comments.
 */
comments: number, 
/**
 * Activity entries.
 */
activity: number, 
/**
 * Attachments.
 */
attachments: number, };

export type SkippedItem = { 
/**
 * What (`ISS-3 (Web)`, `project Web`, `person Bob`).
 */
item: string, 
/**
 * Why, and what was done instead.
 */
reason: string, };

export type ImportReport = { 
/**
 * `vibebridge`, `vibe_kanban_zip` or `vibe_kanban_db`.
 */
format: string, 
/**
 * What was created.
 */
created: ImportCounts, 
/**
 * Names in the file that matched members here.
 */
matched_people: Array<string>, 
/**
 * Names that matched no member (their tasks are unassigned, with a note in the activity).
 */
unmatched_people: Array<string>, 
/**
 * What was not brought in, or not as it was, and why.
 */
skipped: Array<SkippedItem>, };

export type RunMode = { "mode": "worktree", 
/**
 * The branch: `{key}` and `{slug}` are filled in, and `-2`, `-3`… added while the name is taken.
 */
branch_template: string, 
/**
 * Carry the working copy's uncommitted work in as a baseline commit.
 */
carry: boolean, } | { "mode": "in_place" } | { "mode": "existing", 
/**
 * The branch to work on.
 */
branch?: string, 
/**
 * An existing worktree (absolute path) of the project's repository.
 */
path?: string, };

export type RunPrepared = { 
/**
 * The work tree (absolute).
 */
path: string, 
/**
 * Its branch; `None` when the work tree's HEAD is detached.
 */
branch: string | null, 
/**
 * The branch it merges into.
 */
base_branch: string, 
/**
 * The commit it started from.
 */
base_commit: string, 
/**
 * The commit of carried uncommitted work, when there was any.
 */
baseline_commit?: string, 
/**
 * Files carried in.
 */
carried_files: number, 
/**
 * Files copied in by `copy_files`.
 */
copied_files: number, 
/**
 * The run's `VB_PORT`, unique among the node's runs.
 */
port: number, };

export type ProcessKind = "setupscript" | "codingagent" | "cleanupscript" | "devserver";

export type ProcessStatus = "running" | "completed" | "failed" | "killed";

export type RunId = string;

export type RunStatus = "queued" | "starting" | "running" | "waiting" | "idle" | "failed" | "stopped" | "merged";

export type Run = { 
/**
 * Id.
 */
id: RunId, 
/**
 * Its workspace.
 */
workspace_id: WorkspaceId, 
/**
 * Its task.
 */
task_id: TaskId, 
/**
 * The project (repository) it works in.
 */
project_id: ProjectId, 
/**
 * The node of the project.
 */
node_id: string, 
/**
 * The session of its agent turns, once started.
 */
session_id: string | null, 
/**
 * Who started it.
 */
created_by: string, 
/**
 * Which agent.
 */
provider: Provider, 
/**
 * Model asked for.
 */
model: string | null, 
/**
 * Permission mode asked for.
 */
permission_mode: string | null, 
/**
 * Where it works.
 */
mode: RunMode, 
/**
 * The branch it starts from and merges into.
 */
base_branch: string, 
/**
 * Where its branch starts and what it is compared and rebased against instead of `base_branch`:
 * `origin/<base>`, fetched from GitHub just before, for a project on GitHub.
 */
start_point?: string, 
/**
 * The first message to the agent.
 */
prompt: string, 
/**
 * Where the node prepared it, once it did.
 */
prepared: RunPrepared | null, 
/**
 * Where it is.
 */
status: RunStatus, 
/**
 * Why, for humans (the failure, who stopped it, why it waits).
 */
status_message: string | null, 
/**
 * Approvals and questions waiting for a person.
 */
pending_approvals: number, 
/**
 * Agent turns finished.
 */
turns: number, 
/**
 * The last commit made on its branch after a turn.
 */
last_commit: string | null, 
/**
 * Why committing after the last turn failed (the work stays in the work tree).
 */
commit_error: string | null, 
/**
 * Tokens and cost of its turns.
 */
usage: UsageTotals, 
/**
 * How it was merged, once it was.
 */
merged: MergeInfo | null, 
/**
 * Whether its work tree is on the node.
 */
worktree: WorktreeState, 
/**
 * Its dev server's process while it runs.
 */
dev_server: number | null, 
/**
 * Its branch as last pushed to GitHub.
 */
pushed?: PushInfo, 
/**
 * The last session event applied to this record: events are applied exactly once, and a main that
 * crashed before writing the record applies the rest when it sees the session again.
 */
applied_seq: number, 
/**
 * Created, ms since the epoch.
 */
created_at: number, 
/**
 * When the node was first asked to start it.
 */
started_at: number | null, 
/**
 * When it last changed.
 */
updated_at: number, };

export type ExecutionProcess = { 
/**
 * Its run.
 */
run_id: RunId, 
/**
 * Its number in the run, from 1, in the order they started.
 */
number: number, 
/**
 * What it is.
 */
kind: ProcessKind, 
/**
 * How it is doing.
 */
status: ProcessStatus, 
/**
 * The script it runs.
 */
command: string | null, 
/**
 * Exit code, once it ended with one.
 */
exit_code: number | null, 
/**
 * Why it failed or was killed.
 */
message: string | null, 
/**
 * HEAD when it started.
 */
before_commit: string | null, 
/**
 * HEAD when it ended.
 */
after_commit: string | null, 
/**
 * Tokens and cost (agent turns).
 */
usage: UsageTotals, 
/**
 * Seq of the session event that started it (its output follows in the session's events).
 */
start_seq: number, 
/**
 * Started, ms since the epoch.
 */
started_at: number, 
/**
 * Ended, ms since the epoch.
 */
ended_at: number | null, };

export type NewRun = { 
/**
 * The project (default: the task's).
 */
project_id?: string, 
/**
 * Which agent (default: the workspace's default, else `claude`).
 */
provider?: Provider, 
/**
 * Model (default: the workspace's default).
 */
model?: string, 
/**
 * Permission mode (default: the workspace's default).
 */
permission_mode?: string, 
/**
 * The branch to start from and merge into (default: the project's).
 */
base_branch?: string, 
/**
 * `worktree` (default), `in_place` or `existing`.
 */
mode?: NewRunMode, 
/**
 * `worktree`: the branch's exact name instead of the project's template; `existing`: the branch to adopt.
 */
branch?: string, 
/**
 * `existing`: a worktree of the repository to adopt.
 */
path?: string, 
/**
 * `worktree`: carry the working copy's uncommitted work in as a baseline commit.
 */
carry_uncommitted?: boolean, 
/**
 * The first message (default: the task's title and description, after the workspace's prompt prefix).
 */
prompt?: string, };

export type NewRunMode = "worktree" | "in_place" | "existing";

export type RunDetail = { 
/**
 * The run.
 */
run: Run, 
/**
 * The task's key.
 */
task_key: string, 
/**
 * Its execution processes, in order.
 */
processes: Array<ExecutionProcess>, };

export type MergeInfo = { 
/**
 * The base branch's new commit.
 */
commit: string, 
/**
 * The branch it went into.
 */
into: string, 
/**
 * How.
 */
strategy: MergeStrategy, 
/**
 * Who merged it.
 */
by: string, 
/**
 * When, ms since the epoch.
 */
at: number, 
/**
 * Merged on GitHub through this pull request number (not on the node).
 */
pull_request?: number, };

export type WorktreeState = "present" | "removed" | "missing";

export type ReviewCommentId = string;

export type DiffSide = "new" | "old";

export type ReviewComment = { 
/**
 * Id.
 */
id: ReviewCommentId, 
/**
 * The run.
 */
run_id: RunId, 
/**
 * Who wrote it.
 */
author: string, 
/**
 * The file, relative to the work tree.
 */
path: string, 
/**
 * The line number on `side`.
 */
line: number, 
/**
 * Which side `line` counts on.
 */
side: DiffSide, 
/**
 * The line's text when the comment was written.
 */
code: string, 
/**
 * Markdown.
 */
body: string, 
/**
 * The line no longer reads `code` in the run's latest diff.
 */
outdated: boolean, 
/**
 * When it was sent to the agent, ms since the epoch.
 */
sent_at: number | null, 
/**
 * Written, ms since the epoch.
 */
created_at: number, 
/**
 * Last edited, ms since the epoch.
 */
edited_at: number | null, };

export type MergeStrategy = "squash" | "merge_commit" | "fast_forward";

export type RunDiff = { 
/**
 * The merge base of the run's HEAD and its base branch.
 */
merge_base: string, 
/**
 * The run's HEAD.
 */
head: string, 
/**
 * Commits on the run's branch that the base does not have.
 */
ahead: number, 
/**
 * Commits on the base that the run's branch does not have.
 */
behind: number, 
/**
 * Changed files (committed or not, untracked included), sorted by path.
 */
files: Array<FileDiff>, 
/**
 * Patches were left out past [`MAX_DIFF_BYTES`].
 */
truncated: boolean, };

export type WorktreeEntry = { 
/**
 * Its directory.
 */
path: string, 
/**
 * Its branch (`None`: detached HEAD).
 */
branch: string | null, 
/**
 * Its HEAD commit.
 */
head: string | null, 
/**
 * The repository's own working copy (never removed).
 */
main: boolean, 
/**
 * Git lists it but its directory is gone.
 */
missing: boolean, 
/**
 * Changed or untracked files in it.
 */
dirty_files: number, 
/**
 * Commits of its branch that no other branch or remote has.
 */
unique_commits: number, };

export type Removal = { 
/**
 * The worktree was removed.
 */
removed: boolean, 
/**
 * Its branch was deleted.
 */
branch_deleted: boolean, 
/**
 * Why it (or its branch) was kept.
 */
kept_because?: string, };

export type RunReview = { 
/**
 * The diff against the merge base.
 */
diff: RunDiff, 
/**
 * Every comment of the run, oldest first (`outdated` as of this diff).
 */
comments: Array<ReviewComment>, };

export type NewReviewComment = { 
/**
 * The file, relative to the work tree.
 */
path: string, 
/**
 * The line number on `side`.
 */
line: number, 
/**
 * Which side (default: the run's).
 */
side?: DiffSide, 
/**
 * The line's text as the reviewer saw it.
 */
code: string, 
/**
 * Markdown.
 */
body: string, };

export type ReviewCommentPatch = { 
/**
 * The new text.
 */
body: string, };

export type ReviewSent = { 
/**
 * Comments sent.
 */
sent: number, 
/**
 * The follow-up waits behind the agent's running turn.
 */
queued: boolean, };

export type MergeRun = { 
/**
 * How (default: squash).
 */
strategy?: MergeStrategy, 
/**
 * The commit message (default: `<task title> (<key>)`).
 */
message?: string, 
/**
 * Delete the run's branch once its changes are in the base (default: keep it).
 */
delete_branch?: boolean, };

export type DiffQuery = { 
/**
 * Only this file.
 */
path?: string, };

export type TaskSession = { 
/**
 * The task (id or key).
 */
task_id: string, 
/**
 * `claude` (or `claude-code`) or `codex`.
 */
executor: string, 
/**
 * The project (the seed's repository; default: the task's).
 */
repo_id?: string, 
/**
 * The new branch's exact name (default: the project's template).
 */
branch?: string, 
/**
 * The first message (default: from the task).
 */
prompt?: string, 
/**
 * Model.
 */
model?: string, 
/**
 * Permission mode.
 */
permission_mode?: string, };

export type SessionRequest = TaskSession | NewSession;

export type TaskSessionStarted = { 
/**
 * The session of the run's agent; absent while the run waits to start.
 */
session?: SessionView, 
/**
 * The run's branch, once its work tree is prepared.
 */
branch?: string, 
/**
 * The run.
 */
run: Run, };

export type ProjectWorktree = { 
/**
 * The run working in it, if one is known.
 */
run_id?: string, 
/**
 * Its directory.
 */
path: string, 
/**
 * Its branch (`None`: detached HEAD).
 */
branch: string | null, 
/**
 * Its HEAD commit.
 */
head: string | null, 
/**
 * The repository's own working copy (never removed).
 */
main: boolean, 
/**
 * Git lists it but its directory is gone.
 */
missing: boolean, 
/**
 * Changed or untracked files in it.
 */
dirty_files: number, 
/**
 * Commits of its branch that no other branch or remote has.
 */
unique_commits: number, };

export type CleanupRun = { 
/**
 * Remove it even with uncommitted changes or commits on no other branch (they stay on its branch;
 * uncommitted changes are gone).
 */
force?: boolean, };

export type DevServerRequest = { 
/**
 * Start the dev server (refused while it runs), or stop it (refused when it does not run).
 */
start: boolean, };

export type UsageGroup = "day" | "run" | "task" | "project" | "workspace" | "user" | "node" | "provider";

export type UsageQuery = { 
/**
 * Grouping (default `day`).
 */
group_by?: UsageGroup, 
/**
 * First day (`YYYY-MM-DD`, UTC; default 30 days ago).
 */
from?: string, 
/**
 * Last day, included (`YYYY-MM-DD`, UTC; default today).
 */
to?: string, 
/**
 * Only this workspace (id or key prefix).
 */
workspace?: string, };

export type UsageRow = { 
/**
 * The group's id (a day, a run id, a username…).
 */
key: string, 
/**
 * What people call it (a task key and title, a project's name…).
 */
label: string, 
/**
 * Tokens and cost; `turns` counts agent turns.
 */
usage: UsageTotals, };

export type UsageReport = { 
/**
 * How rows are grouped.
 */
group_by: UsageGroup, 
/**
 * First day covered.
 */
from: string, 
/**
 * Last day covered.
 */
to: string, 
/**
 * One row per group: days in order, the rest by cost, highest first.
 */
rows: Array<UsageRow>, 
/**
 * Everything in the range.
 */
total: UsageTotals, };

export type PushInfo = { 
/**
 * The commit pushed.
 */
commit: string, 
/**
 * The branch on GitHub.
 */
remote_branch: string, 
/**
 * Who pushed (whose token).
 */
by: string, 
/**
 * When, ms since the epoch.
 */
at: number, };

export type PrChip = { 
/**
 * Number.
 */
number: number, 
/**
 * Page.
 */
url: string, 
/**
 * Open, draft, merged, closed.
 */
state: PrState, 
/**
 * Checks of its head.
 */
checks: ChecksState, 
/**
 * Reviews.
 */
review: ReviewDecision, };

export type ConnectionKind = "oauth" | "device" | "token";

export type ConnectionHealth = { "state": "ok" } | { "state": "reconnect", 
/**
 * Why.
 */
reason: string, };

export type DeviceFlow = { "state": "waiting", 
/**
 * What to type.
 */
user_code: string, 
/**
 * Where.
 */
verification_uri: string, 
/**
 * Until when (ms).
 */
expires_at: number, } | { "state": "failed", 
/**
 * Why.
 */
reason: string, };

export type GithubAccount = { 
/**
 * GitHub login.
 */
login: string, 
/**
 * GitHub's user id.
 */
github_user_id: number, 
/**
 * How it was made.
 */
kind: ConnectionKind, 
/**
 * Granted scopes (none listed for fine-grained tokens).
 */
scopes: Array<string>, 
/**
 * Working, or why it must be reconnected.
 */
health: ConnectionHealth, 
/**
 * When the access token expires (ms); it is refreshed before then when GitHub gave a refresh token.
 */
expires_at?: number, 
/**
 * GitHub's rate limit is spent until then (ms).
 */
rate_limited_until?: number, 
/**
 * Connected at (ms).
 */
connected_at: number, };

export type GithubStatus = { 
/**
 * The connected account, if any.
 */
account?: GithubAccount, 
/**
 * A device flow in progress (or just failed).
 */
device?: DeviceFlow, 
/**
 * "Connect GitHub" (web flow) is available: the OAuth app and its secret are configured.
 */
web_flow: boolean, 
/**
 * The device flow is available: the OAuth app is configured.
 */
device_flow: boolean, 
/**
 * GitHub's web site (for links: token settings, the repository pages).
 */
web_url: string, };

export type ConnectStart = { 
/**
 * Where to send the browser.
 */
redirect_url: string, };

export type PastedToken = { 
/**
 * A fine-grained (or classic) personal access token.
 */
token: string, };

export type Disconnected = { 
/**
 * The grant was revoked on GitHub (OAuth connections); a pasted token must be revoked by hand.
 */
revoked: boolean, 
/**
 * What to do, if anything.
 */
note?: string, };

export type ConnectedRepoId = string;

export type ConnectedRepo = { 
/**
 * Id.
 */
id: ConnectedRepoId, 
/**
 * Its workspace.
 */
workspace_id: WorkspaceId, 
/**
 * GitHub's repository id.
 */
github_id: number, 
/**
 * Owner login.
 */
owner: string, 
/**
 * Name.
 */
name: string, 
/**
 * `owner/name`.
 */
full_name: string, 
/**
 * Default branch.
 */
default_branch: string, 
/**
 * Private.
 */
private: boolean, 
/**
 * Web page.
 */
html_url: string, 
/**
 * HTTPS clone URL.
 */
clone_url: string, 
/**
 * Who connected it.
 */
connected_by: string, 
/**
 * When (ms).
 */
created_at: number, };

export type GithubRepo = { 
/**
 * GitHub's id (what `POST /github/repos/:id/connect` takes).
 */
id: number, 
/**
 * Owner login.
 */
owner: string, 
/**
 * Name.
 */
name: string, 
/**
 * `owner/name`.
 */
full_name: string, 
/**
 * Private.
 */
private: boolean, 
/**
 * Default branch.
 */
default_branch: string, 
/**
 * Description.
 */
description?: string, 
/**
 * Page.
 */
html_url: string, 
/**
 * Last update.
 */
updated_at?: string, };

export type RepoQuery = { 
/**
 * Words that must all appear in `owner/name` or the description.
 */
q?: string, 
/**
 * 1-based page (default 1).
 */
page?: number, 
/**
 * Page size, 1–100 (default 30).
 */
per_page?: number, };

export type RepoPage = { 
/**
 * The repositories, most recently updated first.
 */
repos: Array<GithubRepo>, 
/**
 * This page.
 */
page: number, 
/**
 * Matching repositories in all.
 */
total: number, 
/**
 * Another page follows.
 */
has_more: boolean, };

export type ConnectRepo = { 
/**
 * The workspace.
 */
workspace_id: string, };

export type RepoProject = { 
/**
 * The node.
 */
node_id: string, 
/**
 * A new directory inside the node's roots to clone into, or (with `link`) an existing clone.
 */
path: string, 
/**
 * Use an existing clone at `path` (its `origin` must be this repository) instead of cloning.
 */
link?: boolean, 
/**
 * Display name (default: the repository's name).
 */
name?: string, 
/**
 * Base branch (default: the repository's default branch).
 */
base_branch?: string, };

export type ImportIssues = { 
/**
 * The project the new tasks belong to.
 */
project_id?: ProjectId, };

export type IssuesImported = { 
/**
 * Keys of the tasks created.
 */
created: Array<string>, 
/**
 * Issues already imported before.
 */
already: number, 
/**
 * Open issues read.
 */
open: number, };

export type IssueLink = { 
/**
 * The task.
 */
task_id: TaskId, 
/**
 * The repository.
 */
repo_id: ConnectedRepoId, 
/**
 * `owner/name`.
 */
repo_full_name: string, 
/**
 * Issue number.
 */
number: number, 
/**
 * Issue page.
 */
url: string, };

export type PullRequestId = string;

export type PrState = "open" | "draft" | "merged" | "closed";

export type ChecksState = "none" | "pending" | "success" | "failure";

export type FailedCheck = { 
/**
 * Its name.
 */
name: string, 
/**
 * `failure`, `timed_out`, `cancelled`, `action_required`.
 */
conclusion: string, 
/**
 * Title and summary of its output, shortened.
 */
summary: string, 
/**
 * Its page.
 */
url?: string, };

export type ChecksSummary = { 
/**
 * Overall.
 */
state: ChecksState, 
/**
 * Passed.
 */
passed: number, 
/**
 * Failed.
 */
failed: number, 
/**
 * Still running.
 */
pending: number, 
/**
 * The failed ones.
 */
failing: Array<FailedCheck>, };

export type ReviewDecision = "none" | "commented" | "changes_requested" | "approved";

export type PullRequest = { 
/**
 * Id.
 */
id: PullRequestId, 
/**
 * Workspace.
 */
workspace_id: WorkspaceId, 
/**
 * Task.
 */
task_id: TaskId, 
/**
 * Run.
 */
run_id: RunId, 
/**
 * Repository.
 */
repo_id: ConnectedRepoId, 
/**
 * `owner/name`.
 */
repo_full_name: string, 
/**
 * Number.
 */
number: number, 
/**
 * Page.
 */
url: string, 
/**
 * Title.
 */
title: string, 
/**
 * Head branch.
 */
head_branch: string, 
/**
 * Base branch.
 */
base_branch: string, 
/**
 * Head commit.
 */
head_sha: string, 
/**
 * State.
 */
state: PrState, 
/**
 * Checks of the head commit.
 */
checks: ChecksSummary, 
/**
 * Reviews.
 */
review: ReviewDecision, 
/**
 * Line comments from reviewers.
 */
review_comments: number, 
/**
 * Review comments and failed checks go to the run's agent by themselves.
 */
autofix: boolean, 
/**
 * Rounds sent to the agent (by hand or by auto-fix).
 */
rounds: number, 
/**
 * The newest review comment id already sent to the agent.
 */
sent_comment: number, 
/**
 * The newest review id already sent.
 */
sent_review: number, 
/**
 * The head commit whose failed checks were sent.
 */
sent_checks_sha?: string, 
/**
 * Who opened it (whose token follows it).
 */
created_by: string, 
/**
 * Why following it is paused (rate limit, reconnect), if it is.
 */
note?: string, 
/**
 * Last checked (ms).
 */
polled_at?: number, 
/**
 * When merged (ms).
 */
merged_at?: number, 
/**
 * Created (ms).
 */
created_at: number, 
/**
 * Last change (ms).
 */
updated_at: number, };

export type NewPullRequest = { 
/**
 * Title (default: the task's title).
 */
title?: string, 
/**
 * Body (default: the task's description, the run's last answer, `Fixes #N`).
 */
body?: string, 
/**
 * Open it as a draft.
 */
draft?: boolean, 
/**
 * Send review comments and failed checks to the agent by itself (at most `github.autofix_rounds`).
 */
autofix?: boolean, };

export type PullRequestPatch = { 
/**
 * Auto-fix on or off.
 */
autofix?: boolean, };

export type ReviewAddressed = { 
/**
 * Review comments and reviews sent.
 */
comments: number, 
/**
 * Failed checks sent.
 */
checks: number, 
/**
 * The follow-up waits behind the agent's running turn.
 */
queued: boolean, 
/**
 * The pull request now.
 */
pull_request: PullRequest, };

export type WebhookOutcome = { 
/**
 * A delivery id seen before (a replay or a redelivery): nothing done.
 */
duplicate: boolean, 
/**
 * Pull requests checked because of it.
 */
pull_requests: number, };

export type NoticeKind = "approval" | "question" | "run_finished" | "run_failed" | "task_in_review" | "mention" | "node_offline";

export type PushSubId = string;

export type WebhookId = string;

export type QuietHours = { 
/**
 * `HH:MM`.
 */
start: string, 
/**
 * `HH:MM`.
 */
end: string, 
/**
 * IANA name, e.g. `Europe/Berlin`.
 */
time_zone: string, };

export type NotifyPrefs = { 
/**
 * The kinds pushed.
 */
events: Array<NoticeKind>, 
/**
 * Only these workspaces' notices (`null`: every workspace).
 */
workspaces: Array<string> | null, 
/**
 * No push in these hours.
 */
quiet_hours: QuietHours | null, };

export type WebhookKind = "generic" | "slack" | "ntfy";

export type DeliveryState = "pending" | "delivered" | "failed";

export type PushKeys = { 
/**
 * Its P-256 public key, uncompressed, base64url.
 */
p256dh: string, 
/**
 * Its 16-byte authentication secret, base64url.
 */
auth: string, };

export type PushKey = { 
/**
 * base64url; the browser's `applicationServerKey`.
 */
public_key: string, };

export type PushTested = { 
/**
 * The push service took it.
 */
sent: boolean, };

export type NewPushSubscription = { 
/**
 * The push service URL.
 */
endpoint: string, 
/**
 * The browser's keys.
 */
keys: PushKeys, 
/**
 * What to call the device.
 */
name?: string, 
/**
 * The endpoint this subscription renews (the service worker's `pushsubscriptionchange`): that device of
 * the caller's keeps its id and name.
 */
replaces?: string, 
/**
 * `PushSubscription.expirationTime` (ignored; the push service says when it is gone).
 */
expirationTime?: number | null, };

export type PushDevice = { 
/**
 * Id; the browser keeps it to name itself.
 */
id: PushSubId, 
/**
 * Name.
 */
name: string, 
/**
 * The push service's host.
 */
endpoint_host: string, 
/**
 * Subscribed at.
 */
created_at: string, 
/**
 * The push service last took a push then.
 */
last_ok_at: string | null, 
/**
 * Why the last push failed.
 */
last_error: string | null, };

export type NewWebhook = { 
/**
 * Name.
 */
name: string, 
/**
 * Receiver kind.
 */
kind: WebhookKind, 
/**
 * The receiver's URL (for ntfy, the topic's: `https://ntfy.sh/my-topic`).
 */
url: string, 
/**
 * The kinds sent (absent: all).
 */
events?: Array<NoticeKind>, 
/**
 * Generic: the HMAC secret (absent: main makes one and shows it once). ntfy: an access token.
 */
secret?: string, };

export type WebhookPatch = { 
/**
 * Name.
 */
name?: string, 
/**
 * URL.
 */
url?: string, 
/**
 * Kinds sent.
 */
events?: Array<NoticeKind>, 
/**
 * Sending.
 */
enabled?: boolean, 
/**
 * A new secret (`""`: none).
 */
secret?: string, };

export type DeliveryResponse = { 
/**
 * When.
 */
at: string, 
/**
 * HTTP status.
 */
status: number | null, 
/**
 * Why it failed.
 */
error: string | null, 
/**
 * The start of the body.
 */
body: string, 
/**
 * How long it took.
 */
duration_ms: number, };

export type WebhookDelivery = { 
/**
 * Id.
 */
id: string, 
/**
 * The webhook.
 */
webhook_id: WebhookId, 
/**
 * Event name.
 */
event: string, 
/**
 * Where it is.
 */
state: DeliveryState, 
/**
 * Attempts made.
 */
attempts: number, 
/**
 * Queued at.
 */
created_at: string, 
/**
 * Next attempt.
 */
next_attempt_at: string | null, 
/**
 * The last answer.
 */
last_response: DeliveryResponse | null, };

export type Webhook = { 
/**
 * Id.
 */
id: WebhookId, 
/**
 * Its workspace.
 */
workspace_id: string, 
/**
 * Name.
 */
name: string, 
/**
 * Receiver kind.
 */
kind: WebhookKind, 
/**
 * Scheme and host of the URL.
 */
url_hint: string, 
/**
 * Kinds sent.
 */
events: Array<NoticeKind>, 
/**
 * Sending.
 */
enabled: boolean, 
/**
 * Has a secret (generic) or token (ntfy).
 */
has_secret: boolean, 
/**
 * Made at.
 */
created_at: string, 
/**
 * The newest delivery.
 */
last_delivery: WebhookDelivery | null, 
/**
 * Deliveries waiting for an attempt.
 */
pending: number, };

export type WebhookCreated = { 
/**
 * The webhook.
 */
webhook: Webhook, 
/**
 * The signing secret when main made it; never shown again.
 */
secret: string | null, };


//! The sled store: the one module that owns main's database. Typed records as JSON, one tree per noun.
//!
//! Trees: `users` (id → [`User`]), `usernames` (name → id), `nodes` (id → [`NodeRecord`]), `node_keys`
//! (key fingerprint → node id), `node_tokens` (sha256(token) → [`NodeToken`]), `auth_sessions`
//! (sid → [`AuthSession`]), `audit` (big-endian seq → [`AuditEntry`]), `meta` (schema version, secrets),
//! `agent_sessions` (session UUID → [`SessionRecord`]), `session_events` (UUID ‖ big-endian seq → event),
//! `approvals` (approval id → [`PendingApproval`]), `ssh_keys` (fingerprint → [`SshKey`]). The work model:
//! `workspaces`, `key_prefixes`, `prompt_templates` ([`workspaces`]), `projects`, `tasks` with the indexes
//! `task_order`, `task_archive`, `task_numbers`, `task_children`, `column_counts`, `child_counts` ([`tasks`]), `task_comments` and
//! `task_activity`, `task_attachments` with their bytes in `task_files` ([`task_notes`]). Runs: `runs`, `task_runs`,
//! `session_runs`, `run_queue`, `run_processes` ([`runs`]), `run_comments` ([`review`]), `usage_records` ([`usage`]). GitHub: `gh_connections`, `gh_oauth_states`, `gh_repos`,
//! `gh_repo_names`, `issue_links`, `repo_issues`, `gh_deliveries` ([`github`]); `pull_requests`, `run_pulls`,
//! `pull_numbers`, `pull_tags` ([`pull_requests`]). Notifications: `push_subs`, `push_endpoints`, `notify_prefs`,
//! `notice_marks` ([`notify`]); `webhooks`, `ws_webhooks`, `hook_deliveries`, `hook_log`, `hook_pending`,
//! `hook_due` ([`webhooks`]).

mod agent_sessions;
mod audit;
mod changes;
pub mod copy;
mod github;
pub mod kv;
mod logins;
mod nodes;
mod notify;
mod projects;
mod pull_requests;
pub mod rank;
mod review;
mod runs;
mod ssh_keys;
mod task;
mod task_index;
mod task_notes;
mod tasks;
mod tokens;
mod usage;
mod users;
mod webhooks;
mod workspaces;

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::{Serialize, de::DeserializeOwned};

use kv::{Backend, Kv, KvError, Tree};

pub use agent_sessions::{ApplyError, ApprovalKind, PendingApproval, SessionRecord, UsageTotals};
pub use audit::{AuditAction, AuditEntry, AuditEvent};
pub use changes::{Change, WorkspaceChange};
pub use github::{
    ConnectedRepo, ConnectedRepoId, ConnectionHealth, ConnectionKind, GithubConnection, IssueLink,
    OAuthState,
};
pub use logins::{AuthSession, Rotation};
pub use nodes::{NodeFlag, NodeFlagKind, NodeRecord};
pub use notify::{NoticeKind, NotifyPrefs, PushSubId, PushSubscription, QuietHours, WebhookId};
pub use projects::{Project, ProjectId, ProjectScripts};
pub use pull_requests::{
    ChecksState, ChecksSummary, FailedCheck, PrState, PrTags, PullRequest, PullRequestId,
    ReviewDecision,
};
pub use review::{DiffSide, ReviewComment, ReviewCommentId};
pub use runs::{ExecutionProcess, MergeInfo, PushInfo, Run, RunId, RunStatus, WorktreeState};
pub use ssh_keys::SshKey;
pub use task_notes::{Activity, ActivityKind, Attachment, AttachmentId, Comment, CommentId};
pub use tasks::{Cursor, Place, Priority, Task, TaskId};
pub use tokens::{NodeToken, token_hash, tokens_match};
pub use usage::UsageRecord;
pub use users::{Role, User, UserId};
pub use webhooks::{DeliveryResponse, DeliveryState, Webhook, WebhookDelivery, WebhookKind};
pub use workspaces::{
    AgentDefaults, DEFAULT_RUN_COMMIT_MESSAGE, Member, PromptTemplate, StatusName, TaskStatus,
    Workspace, WorkspaceId, WorkspaceRole, WorkspaceSettings,
};

#[cfg(test)]
pub(crate) use agent_sessions::test_session;

/// Version of the on-disk layout; a store written by a newer version is refused.
pub const SCHEMA_VERSION: u32 = 1;

/// Trees the active main never holds in memory on PostgreSQL: they grow without bound, and are read a page
/// at a time (a session's events, logs, comments, deliveries).
pub const UNHELD: &[&str] = &[
    "audit",
    "session_events",
    "task_comments",
    "task_activity",
    "task_attachments",
    "task_files",
    "run_processes",
    "run_comments",
    "usage_records",
    "gh_deliveries",
    "hook_deliveries",
    "hook_log",
];

/// Every tree the store keeps (what `store copy` moves).
pub const TREES: &[&str] = &[
    "users",
    "usernames",
    "nodes",
    "node_keys",
    "node_tokens",
    "auth_sessions",
    "audit",
    "meta",
    "agent_sessions",
    "session_events",
    "approvals",
    "ssh_keys",
    "workspaces",
    "key_prefixes",
    "prompt_templates",
    "projects",
    "tasks",
    "task_order",
    "task_archive",
    "task_numbers",
    "task_children",
    "column_counts",
    "child_counts",
    "task_comments",
    "task_activity",
    "task_attachments",
    "task_files",
    "runs",
    "task_runs",
    "session_runs",
    "run_queue",
    "run_processes",
    "run_comments",
    "usage_records",
    "gh_connections",
    "gh_oauth_states",
    "gh_repos",
    "gh_repo_names",
    "pull_requests",
    "run_pulls",
    "pull_numbers",
    "pull_tags",
    "issue_links",
    "repo_issues",
    "gh_deliveries",
    "push_subs",
    "push_endpoints",
    "notify_prefs",
    "webhooks",
    "ws_webhooks",
    "hook_deliveries",
    "hook_log",
    "hook_pending",
    "hook_due",
    "notice_marks",
];

/// Store failures callers branch on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] KvError),
    /// A record could not be decoded (corruption or a bug).
    #[error("corrupt record in {tree}: {source}")]
    Corrupt {
        /// Tree name.
        tree: &'static str,
        /// Decode error.
        source: serde_json::Error,
    },
    /// A unique name is taken.
    #[error("{0} already exists")]
    Conflict(String),
    /// The record does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A value the store cannot accept (an exhausted position key space…).
    #[error("{0}")]
    Invalid(String),
    /// An edit named a version of the task that is no longer current; here is the current one.
    #[error("task {} changed since you loaded it (now version {})", .0.id, .0.version)]
    Stale(Box<Task>),
}

/// Handle to main's database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    kv: Arc<Kv>,
    users: Tree,
    usernames: Tree,
    nodes: Tree,
    node_keys: Tree,
    node_tokens: Tree,
    auth_sessions: Tree,
    audit: Tree,
    meta: Tree,
    agent_sessions: Tree,
    session_events: Tree,
    approvals: Tree,
    ssh_keys: Tree,
    workspaces: Tree,
    key_prefixes: Tree,
    prompt_templates: Tree,
    projects: Tree,
    tasks: Tree,
    task_order: Tree,
    task_archive: Tree,
    task_numbers: Tree,
    task_children: Tree,
    column_counts: Tree,
    child_counts: Tree,
    task_comments: Tree,
    task_activity: Tree,
    task_attachments: Tree,
    task_files: Tree,
    runs: Tree,
    task_runs: Tree,
    session_runs: Tree,
    run_queue: Tree,
    run_processes: Tree,
    run_comments: Tree,
    usage_records: Tree,
    gh_connections: Tree,
    gh_oauth_states: Tree,
    gh_repos: Tree,
    gh_repo_names: Tree,
    pull_requests: Tree,
    run_pulls: Tree,
    pull_numbers: Tree,
    pull_tags: Tree,
    issue_links: Tree,
    repo_issues: Tree,
    gh_deliveries: Tree,
    push_subs: Tree,
    push_endpoints: Tree,
    notify_prefs: Tree,
    webhooks: Tree,
    ws_webhooks: Tree,
    hook_deliveries: Tree,
    hook_log: Tree,
    hook_pending: Tree,
    hook_due: Tree,
    notice_marks: Tree,
    /// New audit entries for live followers (bounded, never blocks a writer).
    audit_feed: tokio::sync::broadcast::Sender<std::sync::Arc<AuditEntry>>,
    /// What changed, for the browser's live topics (bounded, never blocks a writer).
    changes: tokio::sync::broadcast::Sender<Change>,
}

impl Store {
    /// Opens (or creates) the database at `path` and checks its schema version.
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        Store::on(Backend::sled(path)?)
    }

    /// A store over `backend`, its schema version checked.
    pub fn on(backend: Backend) -> anyhow::Result<Store> {
        let kv = Kv::holding_all_but(backend, UNHELD);
        let tree = |name: &'static str| {
            debug_assert!(TREES.contains(&name), "tree {name} is missing from TREES");
            kv.tree(name)
        };
        let store = Store {
            users: tree("users"),
            usernames: tree("usernames"),
            nodes: tree("nodes"),
            node_keys: tree("node_keys"),
            node_tokens: tree("node_tokens"),
            auth_sessions: tree("auth_sessions"),
            audit: tree("audit"),
            meta: tree("meta"),
            agent_sessions: tree("agent_sessions"),
            session_events: tree("session_events"),
            approvals: tree("approvals"),
            ssh_keys: tree("ssh_keys"),
            workspaces: tree("workspaces"),
            key_prefixes: tree("key_prefixes"),
            prompt_templates: tree("prompt_templates"),
            projects: tree("projects"),
            tasks: tree("tasks"),
            task_order: tree("task_order"),
            task_archive: tree("task_archive"),
            task_numbers: tree("task_numbers"),
            task_children: tree("task_children"),
            column_counts: tree("column_counts"),
            child_counts: tree("child_counts"),
            task_comments: tree("task_comments"),
            task_activity: tree("task_activity"),
            task_attachments: tree("task_attachments"),
            task_files: tree("task_files"),
            runs: tree("runs"),
            task_runs: tree("task_runs"),
            session_runs: tree("session_runs"),
            run_queue: tree("run_queue"),
            run_processes: tree("run_processes"),
            run_comments: tree("run_comments"),
            usage_records: tree("usage_records"),
            gh_connections: tree("gh_connections"),
            gh_oauth_states: tree("gh_oauth_states"),
            gh_repos: tree("gh_repos"),
            gh_repo_names: tree("gh_repo_names"),
            pull_requests: tree("pull_requests"),
            run_pulls: tree("run_pulls"),
            pull_numbers: tree("pull_numbers"),
            pull_tags: tree("pull_tags"),
            issue_links: tree("issue_links"),
            repo_issues: tree("repo_issues"),
            gh_deliveries: tree("gh_deliveries"),
            push_subs: tree("push_subs"),
            push_endpoints: tree("push_endpoints"),
            notify_prefs: tree("notify_prefs"),
            webhooks: tree("webhooks"),
            ws_webhooks: tree("ws_webhooks"),
            hook_deliveries: tree("hook_deliveries"),
            hook_log: tree("hook_log"),
            hook_pending: tree("hook_pending"),
            hook_due: tree("hook_due"),
            notice_marks: tree("notice_marks"),
            kv,
            audit_feed: audit::feed(),
            changes: changes::feed(),
        };
        store.check_schema()?;
        Ok(store)
    }

    fn check_schema(&self) -> anyhow::Result<()> {
        match self.meta.get("schema_version")? {
            None => {
                self.meta
                    .insert("schema_version", SCHEMA_VERSION.to_be_bytes())?;
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_slice())
                    .map(u32::from_be_bytes)
                    .unwrap_or(u32::MAX);
                if found > SCHEMA_VERSION {
                    bail!(
                        "database {} has schema version {found}, newer than this binary's {SCHEMA_VERSION}; \
                         run a newer vibebridge or restore a backup",
                        self.kv.backend().describe()
                    );
                }
            }
        }
        Ok(())
    }

    /// Reads a secret from `meta`, generating and persisting it on first use.
    pub fn meta_secret(
        &self,
        name: &str,
        generate: impl FnOnce() -> String,
    ) -> anyhow::Result<String> {
        // Generated once: a second main starting at the same moment finds the first one's value.
        let (mut generate, mut fresh) = (Some(generate), None::<String>);
        let value = self.atomic(|| -> anyhow::Result<String> {
            if let Some(v) = self.meta.get(name)? {
                return String::from_utf8(v).context("meta secret is not UTF-8");
            }
            let value = match (&fresh, generate.take()) {
                (Some(v), _) => v.clone(),
                (None, Some(generate)) => fresh.insert(generate()).clone(),
                (None, None) => bail!("meta secret {name}: generator lost"),
            };
            self.meta.insert(name, value.as_bytes())?;
            Ok(value)
        })?;
        self.durable()?;
        Ok(value)
    }

    /// A value of `meta` (a sealed secret) as stored, if set.
    pub fn meta_value(&self, name: &str) -> anyhow::Result<Option<String>> {
        self.meta
            .get(name)?
            .map(|v| String::from_utf8(v.to_vec()).context("meta value is not UTF-8"))
            .transpose()
    }

    /// Replaces a value of `meta` (re-sealing a secret with a new key).
    pub fn set_meta_value(&self, name: &str, value: &str) -> anyhow::Result<()> {
        self.meta.insert(name, value.as_bytes())?;
        self.durable()?;
        Ok(())
    }

    /// Takes the next leader epoch (`meta/leader_epoch`, big-endian) for a main that just won the lead: the
    /// previous leader's writes, fenced by the epoch before, fail from now on.
    pub fn bump_leader_epoch(&self) -> Result<u64, StoreError> {
        let epoch = self.atomic(|| {
            let now = self
                .meta
                .get(kv::postgres::EPOCH_KEY)?
                .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                .map_or(0, u64::from_be_bytes);
            self.meta
                .insert(kv::postgres::EPOCH_KEY, (now + 1).to_be_bytes())?;
            Ok::<_, StoreError>(now + 1)
        })?;
        self.durable()?;
        Ok(epoch)
    }

    /// This main leads under `epoch` (PostgreSQL): its writes are fenced by it, and it holds the trees it
    /// reads in memory, all but [`UNHELD`] (see [`kv::Kv::lead`]). Nothing on sled.
    pub fn lead(&self, epoch: u64) {
        self.kv.lead(epoch);
    }

    /// This main no longer leads: it stops reading from memory (another main may write from now on).
    pub fn step_down(&self) {
        self.kv.step_down();
    }

    /// Flushes everything to disk (on shutdown).
    pub fn flush(&self) -> anyhow::Result<()> {
        self.durable()?;
        Ok(())
    }

    /// Flushes to disk (fsync) without stalling the async runtime (a slow or hung disk then delays only the
    /// request that needs durability, never the whole of main); inside a unit of work, once it commits.
    fn durable(&self) -> Result<(), KvError> {
        self.kv.durable()
    }

    /// Runs `f` as one unit of work: its writes land together or not at all, guarded by what it read, and it
    /// runs again when another main changed that first (see [`kv::unit`]).
    fn atomic<T, E: From<StoreError>>(&self, f: impl FnMut() -> Result<T, E>) -> Result<T, E> {
        self.kv.atomic(f, |e| E::from(StoreError::Db(e)))
    }

    /// What the store runs on (`sled:PATH` or a PostgreSQL URL without its password).
    pub fn describe(&self) -> String {
        self.kv.backend().describe()
    }

    /// The backend (for `store copy` and the leader lock).
    pub fn backend(&self) -> &Backend {
        self.kv.backend()
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own plain records to JSON cannot fail (no maps with non-string keys).
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt { tree, source })
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// RFC 3339 form of a millisecond timestamp, for API responses.
pub fn rfc3339(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
pub(crate) fn temp() -> (Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "vb-store-{}",
        vibebridge_tunnel::keys::random_hex(8)
    ));
    (Store::open(&dir).unwrap(), dir)
}

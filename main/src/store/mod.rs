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
mod github;
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
use std::sync::Mutex;

use anyhow::{Context, bail};
use serde::{Serialize, de::DeserializeOwned};

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

/// Version of the on-disk layout; a store written by a newer version is refused.
pub const SCHEMA_VERSION: u32 = 1;

/// Store failures callers branch on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sled::Error),
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
    db: sled::Db,
    users: sled::Tree,
    usernames: sled::Tree,
    nodes: sled::Tree,
    node_keys: sled::Tree,
    node_tokens: sled::Tree,
    auth_sessions: sled::Tree,
    audit: sled::Tree,
    meta: sled::Tree,
    agent_sessions: sled::Tree,
    session_events: sled::Tree,
    approvals: sled::Tree,
    ssh_keys: sled::Tree,
    workspaces: sled::Tree,
    key_prefixes: sled::Tree,
    prompt_templates: sled::Tree,
    projects: sled::Tree,
    tasks: sled::Tree,
    task_order: sled::Tree,
    task_archive: sled::Tree,
    task_numbers: sled::Tree,
    task_children: sled::Tree,
    column_counts: sled::Tree,
    child_counts: sled::Tree,
    task_comments: sled::Tree,
    task_activity: sled::Tree,
    task_attachments: sled::Tree,
    task_files: sled::Tree,
    runs: sled::Tree,
    task_runs: sled::Tree,
    session_runs: sled::Tree,
    run_queue: sled::Tree,
    run_processes: sled::Tree,
    run_comments: sled::Tree,
    usage_records: sled::Tree,
    gh_connections: sled::Tree,
    gh_oauth_states: sled::Tree,
    gh_repos: sled::Tree,
    gh_repo_names: sled::Tree,
    pull_requests: sled::Tree,
    run_pulls: sled::Tree,
    pull_numbers: sled::Tree,
    pull_tags: sled::Tree,
    issue_links: sled::Tree,
    repo_issues: sled::Tree,
    gh_deliveries: sled::Tree,
    push_subs: sled::Tree,
    push_endpoints: sled::Tree,
    notify_prefs: sled::Tree,
    webhooks: sled::Tree,
    ws_webhooks: sled::Tree,
    hook_deliveries: sled::Tree,
    hook_log: sled::Tree,
    hook_pending: sled::Tree,
    hook_due: sled::Tree,
    notice_marks: sled::Tree,
    /// New audit entries for live followers (bounded, never blocks a writer).
    audit_feed: tokio::sync::broadcast::Sender<std::sync::Arc<AuditEntry>>,
    /// What changed, for the browser's live topics (bounded, never blocks a writer).
    changes: tokio::sync::broadcast::Sender<Change>,
    /// Serialises multi-tree writes (user creation, enrolment) so invariants hold without sled transactions.
    write_lock: std::sync::Arc<Mutex<()>>,
}

impl Store {
    /// Opens (or creates) the database at `path` and checks its schema version.
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        let db = sled::Config::new().path(path).open().with_context(|| {
            format!(
                "opening database {} (is another main using it?)",
                path.display()
            )
        })?;
        let store = Store {
            users: db.open_tree("users")?,
            usernames: db.open_tree("usernames")?,
            nodes: db.open_tree("nodes")?,
            node_keys: db.open_tree("node_keys")?,
            node_tokens: db.open_tree("node_tokens")?,
            auth_sessions: db.open_tree("auth_sessions")?,
            audit: db.open_tree("audit")?,
            meta: db.open_tree("meta")?,
            agent_sessions: db.open_tree("agent_sessions")?,
            session_events: db.open_tree("session_events")?,
            approvals: db.open_tree("approvals")?,
            ssh_keys: db.open_tree("ssh_keys")?,
            workspaces: db.open_tree("workspaces")?,
            key_prefixes: db.open_tree("key_prefixes")?,
            prompt_templates: db.open_tree("prompt_templates")?,
            projects: db.open_tree("projects")?,
            tasks: db.open_tree("tasks")?,
            task_order: db.open_tree("task_order")?,
            task_archive: db.open_tree("task_archive")?,
            task_numbers: db.open_tree("task_numbers")?,
            task_children: db.open_tree("task_children")?,
            column_counts: db.open_tree("column_counts")?,
            child_counts: db.open_tree("child_counts")?,
            task_comments: db.open_tree("task_comments")?,
            task_activity: db.open_tree("task_activity")?,
            task_attachments: db.open_tree("task_attachments")?,
            task_files: db.open_tree("task_files")?,
            runs: db.open_tree("runs")?,
            task_runs: db.open_tree("task_runs")?,
            session_runs: db.open_tree("session_runs")?,
            run_queue: db.open_tree("run_queue")?,
            run_processes: db.open_tree("run_processes")?,
            run_comments: db.open_tree("run_comments")?,
            usage_records: db.open_tree("usage_records")?,
            gh_connections: db.open_tree("gh_connections")?,
            gh_oauth_states: db.open_tree("gh_oauth_states")?,
            gh_repos: db.open_tree("gh_repos")?,
            gh_repo_names: db.open_tree("gh_repo_names")?,
            pull_requests: db.open_tree("pull_requests")?,
            run_pulls: db.open_tree("run_pulls")?,
            pull_numbers: db.open_tree("pull_numbers")?,
            pull_tags: db.open_tree("pull_tags")?,
            issue_links: db.open_tree("issue_links")?,
            repo_issues: db.open_tree("repo_issues")?,
            gh_deliveries: db.open_tree("gh_deliveries")?,
            push_subs: db.open_tree("push_subs")?,
            push_endpoints: db.open_tree("push_endpoints")?,
            notify_prefs: db.open_tree("notify_prefs")?,
            webhooks: db.open_tree("webhooks")?,
            ws_webhooks: db.open_tree("ws_webhooks")?,
            hook_deliveries: db.open_tree("hook_deliveries")?,
            hook_log: db.open_tree("hook_log")?,
            hook_pending: db.open_tree("hook_pending")?,
            hook_due: db.open_tree("hook_due")?,
            notice_marks: db.open_tree("notice_marks")?,
            db,
            audit_feed: audit::feed(),
            changes: changes::feed(),
            write_lock: Default::default(),
        };
        store.check_schema(path)?;
        Ok(store)
    }

    fn check_schema(&self, path: &Path) -> anyhow::Result<()> {
        match self.meta.get("schema_version")? {
            None => {
                self.meta
                    .insert("schema_version", SCHEMA_VERSION.to_be_bytes().to_vec())?;
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .unwrap_or(u32::MAX);
                if found > SCHEMA_VERSION {
                    bail!(
                        "database {} has schema version {found}, newer than this binary's {SCHEMA_VERSION}; \
                         run a newer vibebridge or restore a backup",
                        path.display()
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
        let _guard = self.lock();
        if let Some(v) = self.meta.get(name)? {
            return String::from_utf8(v.to_vec()).context("meta secret is not UTF-8");
        }
        let value = generate();
        self.meta.insert(name, value.as_bytes())?;
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

    /// Flushes everything to disk (on shutdown).
    pub fn flush(&self) -> anyhow::Result<()> {
        self.durable()?;
        Ok(())
    }

    /// Flushes to disk (fsync) without stalling the async runtime: on a multi-thread runtime the flush runs
    /// in `block_in_place`, so the worker's other tasks move to another thread while the disk answers (a
    /// slow or hung disk then delays only the request that needs durability, never the whole of main).
    fn durable(&self) -> Result<(), sled::Error> {
        let on_worker = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if on_worker {
            tokio::task::block_in_place(|| self.db.flush()).map(drop)
        } else {
            self.db.flush().map(drop)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A poisoned lock only means another writer panicked; the data itself is in sled.
        self.write_lock.lock().unwrap_or_else(|e| e.into_inner())
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

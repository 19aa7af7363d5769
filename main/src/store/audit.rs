//! The append-only audit log: who did what, when, from where; and its live feed for followers.
//!
//! Followers (`audit tail --follow`) get new entries from a bounded broadcast channel, never from a sled
//! watcher: sled's subscriber queue blocks the writer when a follower stops reading, which would block every
//! audit write (logins included) on the async runtime. A follower that falls behind is told how many entries
//! it missed instead.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::{Store, StoreError, decode, encode, now_ms};

/// Declares [`AuditAction`]: each action once, with the dotted name the log stores.
macro_rules! audit_actions {
    ($($variant:ident => $name:literal,)*) => {
        /// Every action the audit log records. Stored (and shown) by its dotted name, e.g. `node.revoked`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditAction {
            $(#[doc = concat!("`", $name, "`")] $variant,)*
        }

        impl AuditAction {
            /// Every action.
            pub const ALL: &[AuditAction] = &[$(AuditAction::$variant,)*];

            /// The dotted name stored in the log.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $name,)*
                }
            }
        }
    };
}

audit_actions! {
    AuthRegistered => "auth.registered",
    AuthSetupRefused => "auth.setup_refused",
    AuthLogin => "auth.login",
    AuthLoginFailed => "auth.login_failed",
    AuthLogout => "auth.logout",
    AuthLogoutAll => "auth.logout_all",
    AuthRefreshReused => "auth.refresh_reused",
    AuthPasswordChanged => "auth.password_changed",
    AuthPasswordChangeFailed => "auth.password_change_failed",
    UserApproved => "user.approved",
    UserRoleChanged => "user.role_changed",
    UserDisabled => "user.disabled",
    SshKeyAdded => "ssh_key.added",
    SshKeyRemoved => "ssh_key.removed",
    NodeTokenCreated => "node_token.created",
    NodeEnrolled => "node.enrolled",
    NodeEnrollRefused => "node.enroll_refused",
    NodeConnected => "node.connected",
    NodeDisconnected => "node.disconnected",
    NodeRefused => "node.refused",
    NodeKeyCloned => "node.key_cloned",
    NodeRevoked => "node.revoked",
    NodeMemberAdded => "node.member_added",
    NodeMemberRemoved => "node.member_removed",
    SessionCreated => "session.created",
    SessionStopped => "session.stopped",
    SessionApproval => "session.approval",
    TerminalOpened => "terminal.opened",
    FsCreated => "fs.created",
    FsRenamed => "fs.renamed",
    FsDeleted => "fs.deleted",
    FsWritten => "fs.written",
    FsUploaded => "fs.uploaded",
    GitBranchCreated => "git.branch_created",
    GitCheckedOut => "git.checked_out",
    GitDiscarded => "git.discarded",
    GitCommitted => "git.committed",
    WorkspaceCreated => "workspace.created",
    WorkspaceUpdated => "workspace.updated",
    WorkspaceDeleted => "workspace.deleted",
    WorkspaceMemberAdded => "workspace.member_added",
    WorkspaceMemberRole => "workspace.member_role",
    WorkspaceMemberRemoved => "workspace.member_removed",
    WorkspaceLeft => "workspace.left",
    WorkspaceTemplateChanged => "workspace.template_changed",
    WorkspaceImported => "workspace.imported",
    WorkspaceExported => "workspace.exported",
    ProjectCreated => "project.created",
    ProjectUpdated => "project.updated",
    ProjectDeleted => "project.deleted",
    TaskDeleted => "task.deleted",
    TaskAccessChanged => "task.access_changed",
    RunStarted => "run.started",
    RunStopped => "run.stopped",
    RunDevServer => "run.dev_server",
    RunRebased => "run.rebased",
    RunMerged => "run.merged",
    RunReviewSent => "run.review_sent",
    RunCleanedUp => "run.cleaned_up",
    GithubConnected => "github.connected",
    GithubDisconnected => "github.disconnected",
    GithubTokenUsed => "github.token_used",
    GithubRepoConnected => "github.repo_connected",
    GithubRepoDisconnected => "github.repo_disconnected",
    GithubIssuesImported => "github.issues_imported",
    GithubWebhookRefused => "github.webhook_refused",
    PullRequestCreated => "pull_request.created",
    PullRequestMerged => "pull_request.merged",
    PullRequestReviewSent => "pull_request.review_sent",
    SecretsRotated => "secrets.rotated",
    PushSubscribed => "push.subscribed",
    PushUnsubscribed => "push.unsubscribed",
    NotifyPrefsChanged => "notifications.prefs_changed",
    WebhookCreated => "webhook.created",
    WebhookUpdated => "webhook.updated",
    WebhookDeleted => "webhook.deleted",
    ConsoleLogin => "console.login",
    ConsoleRefused => "console.refused",
    ConsoleUsersApprove => "console.users.approve",
    ConsoleUsersSetRole => "console.users.set_role",
    ConsoleUsersDisable => "console.users.disable",
    ConsoleNodesRevoke => "console.nodes.revoke",
    ConsoleTokensCreate => "console.tokens.create",
    ConsoleTokensRevoke => "console.tokens.revoke",
    ConsoleSessionsStop => "console.sessions.stop",
    ConsoleRunsStop => "console.runs.stop",
    ConsoleApprovalsAllowed => "console.approvals.allowed",
    ConsoleApprovalsDenied => "console.approvals.denied",
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to record; [`Store::audit`] adds the sequence number and time.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ts_rs::TS)]
pub struct AuditEvent {
    /// `user:<name>`, `node:<id>` or `system`.
    pub actor: String,
    /// Dotted action name, e.g. `auth.login_failed`, `node.enrolled`.
    pub action: String,
    /// What it was done to.
    pub target: Option<String>,
    /// Remote address.
    pub source: Option<String>,
    /// Extra context (never secrets).
    pub detail: Option<String>,
}

/// A recorded event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Monotonic sequence number.
    pub seq: u64,
    /// When, ms since epoch.
    pub at: u64,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
}

impl AuditEvent {
    /// An event by `actor` (spelled by `ops::Actor`) doing `action`.
    pub fn new(actor: impl Into<String>, action: AuditAction) -> Self {
        AuditEvent {
            actor: actor.into(),
            action: action.as_str().to_string(),
            ..Default::default()
        }
    }

    /// Sets the target.
    pub fn target(mut self, t: impl Into<String>) -> Self {
        self.target = Some(t.into());
        self
    }

    /// Sets the source address.
    pub fn source(mut self, s: Option<impl ToString>) -> Self {
        self.source = s.map(|s| s.to_string());
        self
    }

    /// Sets the detail.
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
}

/// Entries the live audit feed keeps for followers that are behind.
pub const AUDIT_FEED: usize = 1024;

/// The sending side of the live audit feed, created with the store.
pub(super) fn feed() -> broadcast::Sender<Arc<AuditEntry>> {
    broadcast::channel(AUDIT_FEED).0
}

impl Store {
    /// Appends an event. Failures are logged, never fatal: the action already happened.
    pub fn audit(&self, event: AuditEvent) {
        if let Err(e) = self.try_audit(event) {
            tracing::error!("could not write audit entry: {e}");
        }
    }

    fn try_audit(&self, event: AuditEvent) -> Result<(), StoreError> {
        let seq = self.kv.next_id()?;
        let entry = AuditEntry {
            seq,
            at: now_ms(),
            event,
        };
        tracing::info!(actor = %entry.event.actor, action = %entry.event.action, target = ?entry.event.target, source = ?entry.event.source, "audit");
        self.audit.insert(seq.to_be_bytes(), encode(&entry))?;
        // Never blocks: a follower that lags loses the oldest entries and is told so.
        let feed = self.audit_feed.clone();
        self.kv.after_commit(move || {
            let _ = feed.send(Arc::new(entry));
        });
        Ok(())
    }

    /// New audit entries as they are written. The channel is bounded ([`AUDIT_FEED`] entries): a receiver
    /// that falls further behind gets `Lagged(n)` and goes on with newer entries; writers never wait for it.
    pub fn follow_audit(&self) -> broadcast::Receiver<Arc<AuditEntry>> {
        self.audit_feed.subscribe()
    }

    /// Up to `limit` entries older than `before` (all if `None`), newest first.
    pub fn audit_page(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let end = before.unwrap_or(u64::MAX).to_be_bytes();
        self.audit
            .range(..end)
            .rev()
            .take(limit)
            .map(|kv| decode("audit", &kv?.1))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves a follower that never reads neither blocks audit writes nor holds more than the feed's bound:
    /// it is told how many entries it missed, then gets the newest ones.
    #[test]
    fn stalled_follower_does_not_block_writes() {
        let (store, dir) = crate::store::temp();
        let mut stalled = store.follow_audit();
        let n = AUDIT_FEED * 3;
        let (done_tx, done) = std::sync::mpsc::channel();
        let writer = store.clone();
        std::thread::spawn(move || {
            for i in 0..n {
                writer.audit(
                    AuditEvent::new("system", AuditAction::NodeTokenCreated).detail(format!("{i}")),
                );
            }
            let _ = done_tx.send(());
        });
        if done
            .recv_timeout(std::time::Duration::from_secs(20))
            .is_err()
        {
            // Dropping the store would wait for the blocked writer; fail instead of hanging.
            std::mem::forget(store);
            panic!("audit writes blocked behind a follower that does not read");
        }
        assert_eq!(store.audit_page(None, n + 1).unwrap().len(), n);
        match stalled.try_recv() {
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                assert_eq!(missed as usize, n - AUDIT_FEED);
            }
            other => panic!("expected a lag report, got {other:?}"),
        }
        let next = stalled.try_recv().unwrap();
        assert_eq!(
            next.event.detail.as_deref(),
            Some(&*format!("{}", n - AUDIT_FEED))
        );
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Proves entries come back newest first and page with `before`.
    #[test]
    fn append_and_page() {
        let (store, dir) = crate::store::temp();
        for i in 0..5 {
            store.audit(
                AuditEvent::new("system", AuditAction::NodeTokenCreated).detail(format!("{i}")),
            );
        }
        let page = store.audit_page(None, 3).unwrap();
        let details: Vec<_> = page
            .iter()
            .map(|e| e.event.detail.clone().unwrap())
            .collect();
        assert_eq!(details, ["4", "3", "2"]);
        let rest = store.audit_page(Some(page[2].seq), 10).unwrap();
        assert_eq!(rest.len(), 2);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

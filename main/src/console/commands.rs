//! The admin console's commands: who is at the console, what a command answers, the command list, the
//! dispatch from words to a command (the commands themselves are in `cmd_*.rs`) and completion. Answers are
//! plain text (default) or JSON (`--json`), shared by exec mode (`ssh main -p 2222 CMD`) and the interactive
//! console.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;
use vibebridge_tunnel::session::{Decision, SessionStatus};

use super::format::kv;
use super::words::Args;
use crate::ops::{Actor, OpError};
use crate::state::AppState;
use crate::store::{AuditAction, User};

/// Who is at the console.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Name for the audit log and the prompt.
    pub name: String,
    /// The user behind the key (`None` for a config key before any creator exists).
    pub user: Option<User>,
    /// `SHA256:…` of the key they logged in with.
    pub key: String,
}

impl Admin {
    /// The console principal for a person's key: `Ok(None)` for a key that is nobody's, `Err` with why for
    /// a key whose person may not use the console. Keys in `auth.admin_keys` act as the creator.
    pub fn for_key(state: &AppState, fingerprint: &str) -> Result<Option<Admin>, String> {
        let from_config = state
            .config
            .auth
            .admin_keys
            .iter()
            .filter_map(|k| vibebridge_tunnel::keys::parse_public(k).ok())
            .any(|k| vibebridge_tunnel::keys::fingerprint(&k) == fingerprint);
        if from_config {
            let creator = state.store.creator().ok().flatten();
            return Ok(Some(Admin {
                name: creator
                    .as_ref()
                    .map(|u| u.username.clone())
                    .unwrap_or_else(|| "config-admin".into()),
                user: creator,
                key: fingerprint.to_string(),
            }));
        }
        let Some(key) = state.store.ssh_key(fingerprint).ok().flatten() else {
            return Ok(None);
        };
        match state.store.user(key.user).ok().flatten() {
            Some(u) if u.role.is_admin() && !u.disabled => Ok(Some(Admin {
                name: u.username.clone(),
                user: Some(u),
                key: fingerprint.to_string(),
            })),
            Some(u) => Err(format!(
                "key {fingerprint} belongs to {} (role {}{}), who may not use the console",
                u.username,
                u.role.as_str(),
                if u.disabled { ", disabled" } else { "" }
            )),
            None => Err(format!("key {fingerprint} belongs to a deleted user")),
        }
    }
}

impl Admin {
    /// Whether this admin may still use the console: the key is still theirs (or in `auth.admin_keys`), and
    /// they are still an enabled admin. Checked before every command, completion and during follows.
    pub fn still_allowed(&self, state: &AppState) -> bool {
        matches!(Admin::for_key(state, &self.key), Ok(Some(_)))
    }
}

/// What a console user is told once their access has ended.
pub const ACCESS_ENDED: &str =
    "your console access has ended (key removed, role changed or account disabled)";

/// Everything a command needs.
pub struct Ctx<'a> {
    /// Main's state.
    pub state: &'a AppState,
    /// The admin.
    pub admin: &'a Admin,
    /// Their address.
    pub peer: SocketAddr,
}

/// A finished command's answer.
#[derive(Debug)]
pub struct Reply {
    /// Plain-text form.
    pub text: String,
    /// JSON form.
    pub json: Value,
    /// Exit status: 0 ok, 1 failed, 2 usage error.
    pub code: u32,
}

impl Reply {
    pub(super) fn ok(text: String, json: Value) -> Reply {
        Reply {
            text,
            json,
            code: 0,
        }
    }

    pub(super) fn error(code: u32, message: String) -> Reply {
        Reply {
            json: json!({"error": message}),
            text: format!("error: {}\n", super::format::escape(&message)),
            code,
        }
    }
}

impl From<OpError> for Reply {
    fn from(e: OpError) -> Reply {
        if let OpError::Internal(cause) = &e {
            tracing::error!("console command failed: {cause:#}");
        }
        Reply::error(1, e.to_string())
    }
}

/// What a command produced.
pub enum Outcome {
    /// A complete answer.
    Done(Reply),
    /// Follow something live until interrupted, starting with `backlog`.
    Follow {
        /// What to print first.
        backlog: Reply,
        /// What to follow.
        what: Follow,
    },
}

/// A live feed.
pub enum Follow {
    /// A session's events after a seq.
    Session {
        /// The session.
        id: Uuid,
        /// Last seq already printed.
        after: u64,
    },
    /// New audit entries.
    Audit,
}

/// Every command with its usage line, for `help` and completion.
pub const COMMANDS: &[(&str, &[&str], &str)] = &[
    ("help", &[], "help                          this list"),
    (
        "status",
        &[],
        "status                        version, uptime, nodes, sessions, pending approvals",
    ),
    (
        "nodes",
        &["list", "show", "revoke"],
        "nodes list | show ID | revoke ID",
    ),
    (
        "tokens",
        &["create", "list", "revoke"],
        "tokens create [--ttl 1h] [--uses N] | list | revoke ID",
    ),
    (
        "sessions",
        &["list", "show", "stop", "tail"],
        "sessions list [--node ID] [--status S] | show ID | stop ID | tail ID",
    ),
    (
        "approvals",
        &["list", "allow", "deny"],
        "approvals list | allow ID | deny ID [--message M]",
    ),
    (
        "users",
        &["list", "approve", "set-role", "disable", "keys"],
        "users list | approve NAME | set-role NAME ROLE | disable NAME | keys NAME",
    ),
    ("audit", &["tail"], "audit tail [-n N] [--follow]"),
    (
        "workspaces",
        &["list", "show"],
        "workspaces list | show KEY",
    ),
    (
        "tasks",
        &["list", "show"],
        "tasks list [--workspace KEY] [--status S] | show KEY-N",
    ),
    (
        "runs",
        &["list", "show", "stop"],
        "runs list KEY-N | show RUN | stop RUN",
    ),
    (
        "exit",
        &[],
        "exit                          leave the console (also Ctrl-D)",
    ),
];

impl Ctx<'_> {
    /// The admin at this console, from their address, as operations take them.
    pub(super) fn actor(&self) -> Actor {
        Actor::console(self.admin.name.clone(), Some(self.peer))
    }

    /// Records a console command in the audit log, with the admin and their address.
    pub(super) fn audit(&self, action: AuditAction, target: &str, detail: Option<String>) {
        let detail = match detail {
            Some(d) => format!("via SSH console; {d}"),
            None => "via SSH console".to_string(),
        };
        self.state
            .store
            .audit(self.actor().audit(action).target(target).detail(detail));
    }

    /// Runs one command line (already split into words; `--json` still among them).
    pub async fn run(&self, words: &[String]) -> Outcome {
        let Some((cmd, rest)) = words.split_first() else {
            return Outcome::Done(Reply::ok(String::new(), Value::Null));
        };
        // Checked again for every command: an admin demoted, disabled or whose key was removed while
        // connected loses the console at their next command.
        if !self.admin.still_allowed(self.state) {
            return Outcome::Done(Reply::error(1, ACCESS_ENDED.into()));
        }
        let args = match Args::parse(rest) {
            Ok(a) => a,
            Err(e) => return Outcome::Done(Reply::error(2, format!("{e}; try `help`"))),
        };
        let sub = args.positional.first().map(String::as_str).unwrap_or("");
        let result = match (cmd.as_str(), sub) {
            ("help", _) => Ok(Outcome::Done(help())),
            ("status", _) => self.status(),
            ("nodes", "list") => self.nodes_list(),
            ("nodes", "show") => self.nodes_show(&args),
            ("nodes", "revoke") => self.nodes_revoke(&args),
            ("tokens", "create") => self.tokens_create(&args),
            ("tokens", "list") => self.tokens_list(),
            ("tokens", "revoke") => self.tokens_revoke(&args),
            ("workspaces", "list") => self.workspaces_list(&args),
            ("workspaces", "show") => self.workspaces_show(&args),
            ("tasks", "list") => self.tasks_list(&args),
            ("tasks", "show") => self.tasks_show(&args),
            ("runs", "list") => self.runs_list(&args),
            ("runs", "show") => self.runs_show(&args),
            ("runs", "stop") => self.runs_stop(&args).await,
            ("sessions", "list") => self.sessions_list(&args),
            ("sessions", "show") => self.sessions_show(&args),
            ("sessions", "stop") => self.sessions_stop(&args).await,
            ("sessions", "tail") => self.sessions_tail(&args),
            ("approvals", "list") => self.approvals_list(),
            ("approvals", "allow") => self.approvals_decide(&args, Decision::Allow).await,
            ("approvals", "deny") => self.approvals_decide(&args, Decision::Deny).await,
            ("users", "list") => self.users_list(),
            ("users", "approve") => self.users_approve(&args),
            ("users", "set-role") => self.users_set_role(&args),
            ("users", "disable") => self.users_disable(&args),
            ("users", "keys") => self.users_keys(&args),
            ("audit", "tail") => self.audit_tail(&args),
            (c, _) => match COMMANDS.iter().find(|(name, _, _)| name == &c) {
                Some((_, _, usage)) => Err(Reply::error(2, format!("usage: {usage}"))),
                None => Err(Reply::error(
                    2,
                    format!("unknown command {c:?}; type `help` for the list"),
                )),
            },
        };
        match result {
            Ok(outcome) => outcome,
            Err(reply) => Outcome::Done(reply),
        }
    }

    fn status(&self) -> Result<Outcome, Reply> {
        let store = &self.state.store;
        let nodes = store.nodes().map_err(OpError::from)?;
        let sessions = store.agent_sessions().map_err(OpError::from)?;
        let running = sessions
            .iter()
            .filter(|s| {
                matches!(
                    s.status,
                    SessionStatus::Starting
                        | SessionStatus::Running
                        | SessionStatus::WaitingForApproval
                )
            })
            .count();
        let pending = store.pending_approvals().map_err(OpError::from)?.len();
        let uptime = Duration::from_secs(self.state.started_at.elapsed().as_secs());
        let online = self.state.registry.online();
        let standing = &self.state.standing;
        let json = json!({
            "version": env!("CARGO_PKG_VERSION"),
            "main": standing.main_id,
            "role": standing.role().as_str(),
            "database": standing.database,
            "lag_ms": standing.lag_ms(),
            "uptime_secs": uptime.as_secs(),
            "nodes_online": online,
            "nodes_total": nodes.len(),
            "sessions_running": running,
            "sessions_total": sessions.len(),
            "pending_approvals": pending,
        });
        let text = kv(&[
            ("version", env!("CARGO_PKG_VERSION").to_string()),
            (
                "main",
                format!("{} ({})", standing.main_id, standing.role().as_str()),
            ),
            (
                "database",
                format!(
                    "{} (answered {} ms ago)",
                    standing.database,
                    standing.lag_ms()
                ),
            ),
            ("uptime", humantime::format_duration(uptime).to_string()),
            ("nodes", format!("{online} online / {} total", nodes.len())),
            (
                "sessions",
                format!("{running} running / {} total", sessions.len()),
            ),
            ("approvals", format!("{pending} pending")),
        ]);
        Ok(Outcome::Done(Reply::ok(text, json)))
    }
}

fn help() -> Reply {
    let mut text = String::from("Commands (add --json for machine output):\n");
    for (_, _, usage) in COMMANDS {
        text.push_str("  ");
        text.push_str(usage);
        text.push('\n');
    }
    text.push_str(
        "Tab completes commands and ids; Up/Down walk the history; Ctrl-C stops a tail.\n",
    );
    let json = COMMANDS
        .iter()
        .map(|(name, subs, usage)| json!({"command": name, "subcommands": subs, "usage": usage}))
        .collect();
    Reply::ok(text, Value::Array(json))
}

/// Completion candidates for the word being typed, given the words before it; none once `admin` has lost
/// the console (completion lists node ids, users and approvals).
pub fn complete(state: &AppState, admin: &Admin, before: &[String], partial: &str) -> Vec<String> {
    if !admin.still_allowed(state) {
        return Vec::new();
    }
    let candidates: Vec<String> = match before {
        [] => COMMANDS.iter().map(|(c, _, _)| c.to_string()).collect(),
        [cmd] => COMMANDS
            .iter()
            .find(|(c, _, _)| c == cmd)
            .map(|(_, subs, _)| subs.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
        [cmd, sub, ..] => match (cmd.as_str(), sub.as_str()) {
            ("nodes", "show" | "revoke") => state
                .store
                .nodes()
                .map(|n| n.into_iter().map(|n| n.id).collect())
                .unwrap_or_default(),
            ("sessions", "show" | "stop" | "tail") => state
                .store
                .agent_sessions()
                .map(|s| s.into_iter().map(|s| s.id.to_string()).collect())
                .unwrap_or_default(),
            ("approvals", "allow" | "deny") => state
                .store
                .pending_approvals()
                .map(|a| a.into_iter().map(|a| a.approval_id.into()).collect())
                .unwrap_or_default(),
            ("users", _) if before.len() == 2 => state
                .store
                .users()
                .map(|u| u.into_iter().map(|u| u.username).collect())
                .unwrap_or_default(),
            ("users", "set-role") => ["admin", "user", "pending"].map(String::from).into(),
            ("tokens", "revoke") => state
                .store
                .node_tokens()
                .map(|t| t.into_iter().map(|t| t.id).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        },
    };
    // A candidate with control characters is left out: it could not be typed, and inserted into the line
    // it would be echoed raw to the terminal.
    let mut out: Vec<String> = candidates
        .into_iter()
        .filter(|c| c.starts_with(partial))
        .filter(|c| matches!(super::format::escape(c), std::borrow::Cow::Borrowed(_)))
        .collect();
    out.sort();
    out.dedup();
    out
}

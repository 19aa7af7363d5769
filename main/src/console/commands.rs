//! The admin console's commands: parsing a line into words, running a command against main's state, and
//! answering in plain text (default) or JSON (`--json`). Shared by exec mode (`ssh main -p 2222 CMD`) and the
//! interactive console.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;
use vibebridge_tunnel::session::{Decision, SessionCommand, SessionStatus};

use crate::AppState;
use crate::api::ApiError;
use crate::store::{AuditEntry, AuditEvent, User, rfc3339};

/// Who is at the console.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Name for the audit log and the prompt.
    pub name: String,
    /// The user behind the key (`None` for a config key before any creator exists).
    pub user: Option<User>,
}

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
    fn ok(text: String, json: Value) -> Reply {
        Reply {
            text,
            json,
            code: 0,
        }
    }

    fn error(code: u32, message: String) -> Reply {
        Reply {
            json: json!({"error": message}),
            text: format!("error: {message}\n"),
            code,
        }
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Reply {
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
        "exit",
        &[],
        "exit                          leave the console (also Ctrl-D)",
    ),
];

/// Splits a command line into words: whitespace separates, single and double quotes group, backslash
/// escapes the next character.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let (mut words, mut cur, mut in_word) = (Vec::new(), String::new(), false);
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                cur.push(chars.next().ok_or("a trailing backslash escapes nothing")?);
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Parsed flags and positional words of one command.
struct Args {
    positional: Vec<String>,
    flags: Vec<(String, Option<String>)>,
}

/// Flags that take a value.
const VALUE_FLAGS: &[&str] = &["--ttl", "--uses", "--node", "--status", "--message", "-n"];

impl Args {
    fn parse(words: &[String]) -> Result<Args, String> {
        let (mut positional, mut flags) = (Vec::new(), Vec::new());
        let mut it = words.iter();
        while let Some(w) = it.next() {
            if w.starts_with('-') && w.len() > 1 {
                let (name, inline) = match w.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (w.clone(), None),
                };
                let value = if VALUE_FLAGS.contains(&name.as_str()) {
                    match inline {
                        Some(v) => Some(v),
                        None => Some(it.next().cloned().ok_or(format!("{name} needs a value"))?),
                    }
                } else {
                    inline
                };
                flags.push((name, value));
            } else {
                positional.push(w.clone());
            }
        }
        Ok(Args { positional, flags })
    }

    fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, _)| n == name)
    }

    fn check_flags(&self, allowed: &[&str]) -> Result<(), String> {
        match self
            .flags
            .iter()
            .find(|(n, _)| !allowed.contains(&n.as_str()))
        {
            Some((n, _)) => Err(format!("unknown option {n}")),
            None => Ok(()),
        }
    }

    fn id(&self, i: usize, what: &str) -> Result<&str, String> {
        self.positional
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("missing {what}"))
    }
}

/// Formats rows as an aligned table.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.iter().map(|h| h.to_uppercase()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    if rows.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

fn kv(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

impl Ctx<'_> {
    /// Records a console command in the audit log, with the admin and their address.
    fn audit(&self, action: &str, target: &str, detail: Option<String>) {
        let detail = match detail {
            Some(d) => format!("via SSH console; {d}"),
            None => "via SSH console".to_string(),
        };
        self.state.store.audit(
            AuditEvent::new(format!("admin:{}", self.admin.name), action)
                .target(target)
                .source(Some(self.peer))
                .detail(detail),
        );
    }

    /// Runs one command line (already split into words; `--json` still among them).
    pub async fn run(&self, words: &[String]) -> Outcome {
        let Some((cmd, rest)) = words.split_first() else {
            return Outcome::Done(Reply::ok(String::new(), Value::Null));
        };
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
        let nodes = store.nodes().map_err(ApiError::from)?;
        let sessions = store.agent_sessions().map_err(ApiError::from)?;
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
        let pending = store.pending_approvals().map_err(ApiError::from)?.len();
        let uptime = Duration::from_secs(self.state.started_at.elapsed().as_secs());
        let online = self.state.registry.online();
        let json = json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_secs": uptime.as_secs(),
            "nodes_online": online,
            "nodes_total": nodes.len(),
            "sessions_running": running,
            "sessions_total": sessions.len(),
            "pending_approvals": pending,
        });
        let text = kv(&[
            ("version", env!("CARGO_PKG_VERSION").to_string()),
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

    fn node_json(&self, n: &crate::store::NodeRecord) -> Value {
        let link = self.state.registry.get(&n.id);
        let hello = link
            .as_ref()
            .map(|l| l.hello.clone())
            .or(n.last_hello.clone());
        json!({
            "id": n.id,
            "name": hello.as_ref().map(|h| h.name.clone()).unwrap_or(n.id.clone()),
            "online": link.is_some(),
            "address": link.as_ref().and_then(|l| l.remote).map(|a| a.to_string()),
            "hostname": hello.as_ref().map(|h| h.hostname.clone()),
            "os": hello.as_ref().map(|h| h.os.clone()),
            "agent_version": hello.as_ref().map(|h| h.agent_version.clone()),
            "providers": hello.as_ref().map(|h| h.providers.iter().map(|p| format!("{} {}", p.name, p.version.clone().unwrap_or_default())).collect::<Vec<_>>()).unwrap_or_default(),
            "labels": hello.as_ref().map(|h| h.labels.clone()).unwrap_or_default(),
            "fingerprint": n.fingerprint,
            "last_seen": n.last_seen.map(rfc3339),
            "enrolled_at": rfc3339(n.enrolled_at),
        })
    }

    fn nodes_list(&self) -> Result<Outcome, Reply> {
        let nodes = self.state.store.nodes().map_err(ApiError::from)?;
        let list: Vec<Value> = nodes.iter().map(|n| self.node_json(n)).collect();
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|n| {
                vec![
                    n["id"].as_str().unwrap_or_default().to_string(),
                    if n["online"] == true {
                        "online"
                    } else {
                        "offline"
                    }
                    .to_string(),
                    n["hostname"].as_str().unwrap_or("-").to_string(),
                    n["agent_version"].as_str().unwrap_or("-").to_string(),
                    n["last_seen"].as_str().unwrap_or("-").to_string(),
                ]
            })
            .collect();
        let text = table(&["id", "state", "hostname", "agent", "last seen"], &rows);
        Ok(Outcome::Done(Reply::ok(text, Value::Array(list))))
    }

    fn node(&self, args: &Args) -> Result<crate::store::NodeRecord, Reply> {
        let id = args.id(1, "node id").map_err(|e| Reply::error(2, e))?;
        self.state
            .store
            .node(id)
            .map_err(ApiError::from)?
            .ok_or_else(|| Reply::error(1, format!("no node {id:?}; `nodes list` shows them")))
    }

    fn nodes_show(&self, args: &Args) -> Result<Outcome, Reply> {
        let node = self.node(args)?;
        let j = self.node_json(&node);
        let text = j
            .as_object()
            .map(|o| {
                let pairs: Vec<(&str, String)> = o
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str(),
                            match v {
                                Value::String(s) => s.clone(),
                                Value::Null => "-".into(),
                                other => other.to_string(),
                            },
                        )
                    })
                    .collect();
                kv(&pairs)
            })
            .unwrap_or_default();
        Ok(Outcome::Done(Reply::ok(text, j)))
    }

    fn nodes_revoke(&self, args: &Args) -> Result<Outcome, Reply> {
        let node = self.node(args)?;
        let was_online =
            crate::api::nodes::revoke_node(self.state, &self.admin.name, Some(self.peer), &node)?;
        self.audit("console.nodes.revoke", &node.id, None);
        Ok(Outcome::Done(Reply::ok(
            format!(
                "revoked node {}{}\n",
                node.id,
                if was_online { "; its link was cut" } else { "" }
            ),
            json!({"revoked": node.id, "was_online": was_online}),
        )))
    }

    fn tokens_create(&self, args: &Args) -> Result<Outcome, Reply> {
        args.check_flags(&["--ttl", "--uses", "--json"])
            .map_err(|e| Reply::error(2, e))?;
        let ttl = match args.flag("--ttl") {
            Some(t) => humantime::parse_duration(t)
                .map_err(|e| Reply::error(2, format!("--ttl {t:?}: {e} (e.g. 30m, 1h, 2days)")))?,
            None => self.state.config.auth.node_token_ttl,
        };
        let uses = match args.flag("--uses") {
            Some(u) => u
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| Reply::error(2, format!("--uses {u:?}: a number from 1 to 1000")))?,
            None => 1,
        };
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let owner = self.admin.user.as_ref().map(|u| u.id);
        let (token, rec) = self
            .state
            .store
            .create_node_token_uses(owner, ttl_ms, uses)
            .map_err(ApiError::from)?;
        self.audit(
            "console.tokens.create",
            &rec.id,
            Some(format!(
                "ttl {}, uses {uses}",
                humantime::format_duration(ttl)
            )),
        );
        let join = self.state.join_command(&token);
        Ok(Outcome::Done(Reply::ok(
            format!(
                "token    {token}\nid       {}\nexpires  {}\nuses     {uses}\n\nOn the new machine:\n  {join}\n",
                rec.id,
                rfc3339(rec.expires_at)
            ),
            json!({"token": token, "id": rec.id, "expires_at": rfc3339(rec.expires_at), "uses": uses, "join_command": join}),
        )))
    }

    fn tokens_list(&self) -> Result<Outcome, Reply> {
        let tokens = self.state.store.node_tokens().map_err(ApiError::from)?;
        let list: Vec<Value> = tokens
            .iter()
            .map(|t| json!({"id": t.id, "created_at": rfc3339(t.created_at), "expires_at": rfc3339(t.expires_at), "uses_left": t.uses_left}))
            .collect();
        let rows: Vec<Vec<String>> = tokens
            .iter()
            .map(|t| vec![t.id.clone(), rfc3339(t.expires_at), t.uses_left.to_string()])
            .collect();
        Ok(Outcome::Done(Reply::ok(
            table(&["id", "expires", "uses left"], &rows),
            Value::Array(list),
        )))
    }

    fn tokens_revoke(&self, args: &Args) -> Result<Outcome, Reply> {
        let id = args.id(1, "token id").map_err(|e| Reply::error(2, e))?;
        match self
            .state
            .store
            .revoke_node_token(id)
            .map_err(ApiError::from)?
        {
            Some(t) => {
                self.audit("console.tokens.revoke", &t.id, None);
                Ok(Outcome::Done(Reply::ok(
                    format!("revoked token {}\n", t.id),
                    json!({"revoked": t.id}),
                )))
            }
            None => Err(Reply::error(
                1,
                format!("no token {id:?}; `tokens list` shows them"),
            )),
        }
    }

    fn session_json(&self, s: &crate::store::SessionRecord) -> Value {
        json!({
            "id": s.id, "node_id": s.node_id, "provider": s.provider, "status": s.status,
            "status_message": s.status_message, "path": s.path, "title": s.title,
            "provider_session_id": s.provider_session_id, "usage": s.usage, "last_seq": s.last_seq,
            "created_at": rfc3339(s.created_at), "updated_at": rfc3339(s.updated_at),
        })
    }

    fn session(&self, args: &Args) -> Result<crate::store::SessionRecord, Reply> {
        let id = args.id(1, "session id").map_err(|e| Reply::error(2, e))?;
        let not_found =
            || Reply::error(1, format!("no session {id:?}; `sessions list` shows them"));
        let uuid = Uuid::parse_str(id).map_err(|_| not_found())?;
        self.state
            .store
            .agent_session(&uuid)
            .map_err(ApiError::from)?
            .ok_or_else(not_found)
    }

    fn sessions_list(&self, args: &Args) -> Result<Outcome, Reply> {
        args.check_flags(&["--node", "--status", "--json"])
            .map_err(|e| Reply::error(2, e))?;
        let status = match args.flag("--status") {
            Some(s) => Some(
                serde_json::from_value::<SessionStatus>(json!(s))
                    .map_err(|_| Reply::error(2, format!("--status {s:?}: one of starting, running, waiting_for_approval, idle, completed, failed, stopped, interrupted")))?,
            ),
            None => None,
        };
        let sessions: Vec<_> = self
            .state
            .store
            .agent_sessions()
            .map_err(ApiError::from)?
            .into_iter()
            .filter(|s| args.flag("--node").is_none_or(|n| s.node_id == n))
            .filter(|s| status.is_none_or(|st| s.status == st))
            .collect();
        let rows: Vec<Vec<String>> = sessions
            .iter()
            .map(|s| {
                vec![
                    s.id.to_string(),
                    s.node_id.clone(),
                    s.provider.to_string(),
                    s.status.name().to_string(),
                    s.title.chars().take(40).collect(),
                ]
            })
            .collect();
        Ok(Outcome::Done(Reply::ok(
            table(&["id", "node", "provider", "status", "title"], &rows),
            Value::Array(sessions.iter().map(|s| self.session_json(s)).collect()),
        )))
    }

    fn sessions_show(&self, args: &Args) -> Result<Outcome, Reply> {
        let s = self.session(args)?;
        let text = kv(&[
            ("id", s.id.to_string()),
            ("node", s.node_id.clone()),
            ("provider", s.provider.to_string()),
            ("status", s.status.name().to_string()),
            ("message", s.status_message.clone().unwrap_or("-".into())),
            ("path", s.path.clone()),
            ("title", s.title.clone()),
            (
                "provider id",
                s.provider_session_id.clone().unwrap_or("-".into()),
            ),
            (
                "usage",
                format!(
                    "{} in / {} out tokens, ${:.4}, {} turns",
                    s.usage.input_tokens, s.usage.output_tokens, s.usage.cost_usd, s.usage.turns
                ),
            ),
            ("events", s.last_seq.to_string()),
            ("created", rfc3339(s.created_at)),
            ("updated", rfc3339(s.updated_at)),
        ]);
        Ok(Outcome::Done(Reply::ok(text, self.session_json(&s))))
    }

    async fn sessions_stop(&self, args: &Args) -> Result<Outcome, Reply> {
        let s = self.session(args)?;
        crate::api::sessions::command(self.state, &s, SessionCommand::Stop).await?;
        self.audit("console.sessions.stop", &s.id.to_string(), None);
        Ok(Outcome::Done(Reply::ok(
            format!("stopping session {}\n", s.id),
            json!({"stopping": s.id}),
        )))
    }

    fn sessions_tail(&self, args: &Args) -> Result<Outcome, Reply> {
        let s = self.session(args)?;
        let after = s.last_seq.saturating_sub(20);
        let events = self
            .state
            .store
            .session_events(&s.id, after, 20)
            .map_err(ApiError::from)?;
        let last = events.last().map(|e| e.seq).unwrap_or(after);
        let text: String = events.iter().map(event_line).collect();
        let json = Value::Array(
            events
                .iter()
                .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
                .collect(),
        );
        Ok(Outcome::Follow {
            backlog: Reply::ok(text, json),
            what: Follow::Session {
                id: s.id,
                after: last,
            },
        })
    }

    fn approvals_list(&self) -> Result<Outcome, Reply> {
        let pending = self
            .state
            .store
            .pending_approvals()
            .map_err(ApiError::from)?;
        let rows: Vec<Vec<String>> = pending
            .iter()
            .map(|a| {
                vec![
                    a.approval_id.clone(),
                    a.session_id.to_string(),
                    a.node_id.clone(),
                    a.kind.clone(),
                    a.event["title"]
                        .as_str()
                        .or(a.event["tool"].as_str())
                        .unwrap_or("-")
                        .chars()
                        .take(50)
                        .collect(),
                ]
            })
            .collect();
        Ok(Outcome::Done(Reply::ok(
            table(&["id", "session", "node", "kind", "what"], &rows),
            serde_json::to_value(&pending).unwrap_or(Value::Null),
        )))
    }

    async fn approvals_decide(&self, args: &Args, decision: Decision) -> Result<Outcome, Reply> {
        args.check_flags(&["--message", "--json"])
            .map_err(|e| Reply::error(2, e))?;
        let id = args.id(1, "approval id").map_err(|e| Reply::error(2, e))?;
        let pending = self
            .state
            .store
            .pending_approval(id)
            .map_err(ApiError::from)?
            .ok_or_else(|| {
                Reply::error(
                    1,
                    format!("no pending approval {id:?}; `approvals list` shows them"),
                )
            })?;
        let session = self
            .state
            .store
            .agent_session(&pending.session_id)
            .map_err(ApiError::from)?
            .ok_or_else(|| Reply::error(1, "the approval's session is gone".into()))?;
        crate::api::sessions::decide_approval(
            self.state,
            &self.admin.name,
            Some(self.peer),
            &session,
            &pending,
            decision,
            args.flag("--message").map(str::to_string),
        )
        .await?;
        let word = match decision {
            Decision::Allow => "allowed",
            Decision::Deny => "denied",
        };
        self.audit(&format!("console.approvals.{word}"), id, None);
        Ok(Outcome::Done(Reply::ok(
            format!("{word} {id}\n"),
            json!({"approval_id": id, "decision": word}),
        )))
    }

    fn users_list(&self) -> Result<Outcome, Reply> {
        let users = self.state.store.users().map_err(ApiError::from)?;
        let rows: Vec<Vec<String>> = users
            .iter()
            .map(|u| {
                vec![
                    u.username.clone(),
                    u.role.as_str().to_string(),
                    if u.disabled { "disabled" } else { "active" }.to_string(),
                    rfc3339(u.created_at),
                ]
            })
            .collect();
        let json = users
            .iter()
            .map(|u| json!({"id": u.id.to_string(), "username": u.username, "role": u.role, "disabled": u.disabled, "created_at": rfc3339(u.created_at)}))
            .collect();
        Ok(Outcome::Done(Reply::ok(
            table(&["user", "role", "state", "created"], &rows),
            Value::Array(json),
        )))
    }

    fn user_reply(&self, verb: &str, u: &User) -> Outcome {
        Outcome::Done(Reply::ok(
            format!(
                "{} is now {}{}\n",
                u.username,
                u.role.as_str(),
                if u.disabled { " (disabled)" } else { "" }
            ),
            json!({"username": u.username, "role": u.role, "disabled": u.disabled, "done": verb}),
        ))
    }

    fn users_approve(&self, args: &Args) -> Result<Outcome, Reply> {
        let name = args.id(1, "user name").map_err(|e| Reply::error(2, e))?;
        let u =
            crate::api::users::approve_user(self.state, &self.admin.name, Some(self.peer), name)?;
        self.audit("console.users.approve", name, None);
        Ok(self.user_reply("approved", &u))
    }

    fn users_set_role(&self, args: &Args) -> Result<Outcome, Reply> {
        let name = args.id(1, "user name").map_err(|e| Reply::error(2, e))?;
        let role = args
            .id(2, "role (admin, user or pending)")
            .map_err(|e| Reply::error(2, e))?;
        let u = crate::api::users::set_user_role(
            self.state,
            &self.admin.name,
            Some(self.peer),
            name,
            role,
        )?;
        self.audit("console.users.set_role", name, Some(format!("role {role}")));
        Ok(self.user_reply("set-role", &u))
    }

    fn users_disable(&self, args: &Args) -> Result<Outcome, Reply> {
        let name = args.id(1, "user name").map_err(|e| Reply::error(2, e))?;
        if self.admin.user.as_ref().is_some_and(|u| u.username == name) {
            return Err(Reply::error(1, "you cannot disable yourself".into()));
        }
        let u =
            crate::api::users::disable_user(self.state, &self.admin.name, Some(self.peer), name)?;
        self.audit("console.users.disable", name, None);
        Ok(self.user_reply("disabled", &u))
    }

    fn users_keys(&self, args: &Args) -> Result<Outcome, Reply> {
        let name = args.id(1, "user name").map_err(|e| Reply::error(2, e))?;
        let user = crate::api::users::find_user(self.state, name)?;
        let keys = self
            .state
            .store
            .ssh_keys_of(user.id)
            .map_err(ApiError::from)?;
        let rows: Vec<Vec<String>> = keys
            .iter()
            .map(|k| vec![k.id.clone(), k.fingerprint.clone(), k.comment.clone()])
            .collect();
        let json = keys
            .iter()
            .map(|k| json!({"id": k.id, "fingerprint": k.fingerprint, "comment": k.comment, "added_at": rfc3339(k.added_at)}))
            .collect();
        Ok(Outcome::Done(Reply::ok(
            table(&["id", "fingerprint", "comment"], &rows),
            Value::Array(json),
        )))
    }

    fn audit_tail(&self, args: &Args) -> Result<Outcome, Reply> {
        args.check_flags(&["-n", "--follow", "-f", "--json"])
            .map_err(|e| Reply::error(2, e))?;
        let n = match args.flag("-n") {
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| Reply::error(2, format!("-n {v:?}: a number from 1 to 10000")))?,
            None => 20,
        };
        let mut entries = self
            .state
            .store
            .audit_page(None, n)
            .map_err(ApiError::from)?;
        entries.reverse();
        let text: String = entries.iter().map(audit_line).collect();
        let json = serde_json::to_value(&entries).unwrap_or(Value::Null);
        let backlog = Reply::ok(text, json);
        if args.has("--follow") || args.has("-f") {
            Ok(Outcome::Follow {
                backlog,
                what: Follow::Audit,
            })
        } else {
            Ok(Outcome::Done(backlog))
        }
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

/// One line for a session event.
pub fn event_line(ev: &vibebridge_tunnel::session::SessionEvent) -> String {
    use vibebridge_tunnel::session::EventBody as E;
    let what = match &ev.body {
        E::Status { status, message } => format!(
            "status {}{}",
            status.name(),
            message
                .as_ref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        ),
        E::ProviderSession {
            provider_session_id,
            ..
        } => format!("provider session {provider_session_id}"),
        E::UserMessage { text } => format!("user: {text}"),
        E::AssistantDelta { text, .. } => format!("…{text}"),
        E::AssistantMessage { text, .. } => format!("assistant: {text}"),
        E::Thinking { text } => format!("thinking: {text}"),
        E::ToolCall { name, title, .. } => format!("tool {name}: {title}"),
        E::ToolResult {
            status, exit_code, ..
        } => format!(
            "tool result {status:?}{}",
            exit_code
                .map(|c| format!(" (exit {c})"))
                .unwrap_or_default()
        ),
        E::ApprovalRequested {
            approval_id, title, ..
        } => format!("APPROVAL {approval_id}: {title}"),
        E::Question { approval_id, .. } => format!("QUESTION {approval_id}"),
        E::ApprovalResolved {
            approval_id,
            resolution,
            ..
        } => format!("approval {approval_id} {resolution:?}"),
        E::Usage(u) => format!("usage {} in / {} out", u.input_tokens, u.output_tokens),
        E::TurnCompleted {
            is_error, reason, ..
        } => format!(
            "turn completed{}{}",
            if *is_error { " with an error" } else { "" },
            reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        E::Error { message } => format!("ERROR {message}"),
        E::Raw { line, .. } => format!("raw {}", line.chars().take(120).collect::<String>()),
    };
    let one_line: String = what.replace(['\r', '\n'], " ").chars().take(300).collect();
    format!("#{:<5} {one_line}\n", ev.seq)
}

/// One line for an audit entry.
pub fn audit_line(e: &AuditEntry) -> String {
    format!(
        "{}  {:<28} {:<24} {}{}{}\n",
        rfc3339(e.at),
        e.event.action,
        e.event.actor,
        e.event.target.clone().unwrap_or_default(),
        e.event
            .source
            .as_ref()
            .map(|s| format!(" from {s}"))
            .unwrap_or_default(),
        e.event
            .detail
            .as_ref()
            .map(|d| format!(" — {d}"))
            .unwrap_or_default(),
    )
}

/// Completion candidates for the word being typed, given the words before it.
pub fn complete(state: &AppState, before: &[String], partial: &str) -> Vec<String> {
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
                .map(|a| a.into_iter().map(|a| a.approval_id).collect())
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
    let mut out: Vec<String> = candidates
        .into_iter()
        .filter(|c| c.starts_with(partial))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Proves quoting and escaping split the way a shell user expects, and bad quoting is an error.
    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(
            split_words(r#"approvals deny a1 --message "not that file" x\ y 'q "t"'"#).unwrap(),
            [
                "approvals",
                "deny",
                "a1",
                "--message",
                "not that file",
                "x y",
                "q \"t\""
            ]
        );
        assert!(split_words("say \"unterminated").is_err());
        assert!(split_words("").unwrap().is_empty());
    }

    // Proves value flags take the next word or an inline value and unknown flags are refused.
    #[test]
    fn flags_parse() {
        let words: Vec<String> = ["create", "--ttl", "2h", "--uses=3"]
            .map(String::from)
            .into();
        let a = Args::parse(&words).unwrap();
        assert_eq!((a.flag("--ttl"), a.flag("--uses")), (Some("2h"), Some("3")));
        assert!(a.check_flags(&["--ttl"]).is_err());
        assert!(Args::parse(&["--ttl".to_string()]).is_err());
    }
}

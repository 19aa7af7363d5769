//! Console commands for agent sessions and approvals: `sessions list|show|stop|tail`,
//! `approvals list|allow|deny`.

use uuid::Uuid;
use vibebridge_tunnel::session::{Decision, EventBody, SessionStatus};

use serde_json::{Value, json};

use super::commands::Follow;
use super::commands::{Ctx, Outcome, Reply};
use super::format::{escape, event_line, kv, table};
use super::words::Args;
use crate::ops::{OpError, approvals, sessions};
use crate::store::rfc3339;
use crate::store::{ApprovalKind, AuditAction};

impl Ctx<'_> {
    pub(super) fn session_json(&self, s: &crate::store::SessionRecord) -> Value {
        json!({
            "id": s.id, "node_id": s.node_id, "provider": s.provider, "status": s.status,
            "status_message": s.status_message, "path": s.path, "title": s.title,
            "provider_session_id": s.provider_session_id, "usage": s.usage, "last_seq": s.last_seq,
            "created_at": rfc3339(s.created_at), "updated_at": rfc3339(s.updated_at),
        })
    }

    pub(super) fn session(&self, args: &Args) -> Result<crate::store::SessionRecord, Reply> {
        let id = args.id(1, "session id").map_err(|e| Reply::error(2, e))?;
        let not_found =
            || Reply::error(1, format!("no session {id:?}; `sessions list` shows them"));
        let uuid = Uuid::parse_str(id).map_err(|_| not_found())?;
        self.state
            .store
            .agent_session(&uuid)
            .map_err(OpError::from)?
            .ok_or_else(not_found)
    }

    pub(super) fn sessions_list(&self, args: &Args) -> Result<Outcome, Reply> {
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
            .map_err(OpError::from)?
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

    pub(super) fn sessions_show(&self, args: &Args) -> Result<Outcome, Reply> {
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

    pub(super) async fn sessions_stop(&self, args: &Args) -> Result<Outcome, Reply> {
        let s = self.session(args)?;
        sessions::stop(self.state, &self.actor(), &s).await?;
        self.audit(AuditAction::ConsoleSessionsStop, &s.id.to_string(), None);
        Ok(Outcome::Done(Reply::ok(
            format!("stopping session {}\n", s.id),
            json!({"stopping": s.id}),
        )))
    }

    pub(super) fn sessions_tail(&self, args: &Args) -> Result<Outcome, Reply> {
        let s = self.session(args)?;
        let after = s.last_seq.saturating_sub(20);
        let events = self
            .state
            .store
            .session_events(&s.id, after, 20)
            .map_err(OpError::from)?;
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

    pub(super) fn approvals_list(&self) -> Result<Outcome, Reply> {
        let pending = self
            .state
            .store
            .pending_approvals()
            .map_err(OpError::from)?;
        let rows: Vec<Vec<String>> = pending
            .iter()
            .map(|a| {
                vec![
                    a.approval_id.to_string(),
                    a.session_id.to_string(),
                    a.node_id.clone(),
                    match a.kind {
                        ApprovalKind::Approval => "approval".into(),
                        ApprovalKind::Question => "question".into(),
                    },
                    match &a.event.body {
                        EventBody::ApprovalRequested { title, .. } => title.as_str(),
                        EventBody::Question { .. } => "a question",
                        _ => "-",
                    }
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

    pub(super) async fn approvals_decide(
        &self,
        args: &Args,
        decision: Decision,
    ) -> Result<Outcome, Reply> {
        args.check_flags(&["--message", "--json"])
            .map_err(|e| Reply::error(2, e))?;
        let id = args.id(1, "approval id").map_err(|e| Reply::error(2, e))?;
        let pending = self
            .state
            .store
            .pending_approval(id)
            .map_err(OpError::from)?
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
            .map_err(OpError::from)?
            .ok_or_else(|| Reply::error(1, "the approval's session is gone".into()))?;
        approvals::decide(
            self.state,
            &self.actor(),
            &session,
            &pending,
            decision,
            args.flag("--message").map(str::to_string),
            None,
        )
        .await?;
        let (word, action) = match decision {
            Decision::Allow => ("allowed", AuditAction::ConsoleApprovalsAllowed),
            Decision::Deny => ("denied", AuditAction::ConsoleApprovalsDenied),
        };
        self.audit(action, id, None);
        Ok(Outcome::Done(Reply::ok(
            format!("{word} {}\n", escape(id)),
            json!({"approval_id": id, "decision": word}),
        )))
    }
}

//! Console commands for people and the audit log: `users list|approve|set-role|disable|keys`,
//! `audit tail [-n N] [--follow]`.

use serde_json::{Value, json};

use super::commands::Follow;
use super::commands::{Ctx, Outcome, Reply};
use super::format::{audit_line, escape, table};
use super::words::Args;
use crate::ops::{OpError, users};
use crate::store::AuditAction;
use crate::store::User;
use crate::store::rfc3339;

impl Ctx<'_> {
    pub(super) fn users_list(&self) -> Result<Outcome, Reply> {
        let users = self.state.store.users().map_err(OpError::from)?;
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

    pub(super) fn user_reply(&self, verb: &str, u: &User) -> Outcome {
        Outcome::Done(Reply::ok(
            format!(
                "{} is now {}{}\n",
                escape(&u.username),
                u.role.as_str(),
                if u.disabled { " (disabled)" } else { "" }
            ),
            json!({"username": u.username, "role": u.role, "disabled": u.disabled, "done": verb}),
        ))
    }

    pub(super) fn users_approve(&self, args: &Args) -> Result<Outcome, Reply> {
        let name = args.id(1, "user name").map_err(|e| Reply::error(2, e))?;
        let u = users::approve(self.state, &self.actor(), name)?;
        self.audit(AuditAction::ConsoleUsersApprove, name, None);
        Ok(self.user_reply("approved", &u))
    }

    pub(super) fn users_set_role(&self, args: &Args) -> Result<Outcome, Reply> {
        let name = args.id(1, "user name").map_err(|e| Reply::error(2, e))?;
        let role = args
            .id(2, "role (admin, user or pending)")
            .map_err(|e| Reply::error(2, e))?;
        let u = users::set_role(self.state, &self.actor(), name, role)?;
        self.audit(
            AuditAction::ConsoleUsersSetRole,
            name,
            Some(format!("role {role}")),
        );
        Ok(self.user_reply("set-role", &u))
    }

    pub(super) fn users_disable(&self, args: &Args) -> Result<Outcome, Reply> {
        let name = args.id(1, "user name").map_err(|e| Reply::error(2, e))?;
        if self.admin.user.as_ref().is_some_and(|u| u.username == name) {
            return Err(Reply::error(1, "you cannot disable yourself".into()));
        }
        let u = users::disable(self.state, &self.actor(), name)?;
        self.audit(AuditAction::ConsoleUsersDisable, name, None);
        Ok(self.user_reply("disabled", &u))
    }

    pub(super) fn users_keys(&self, args: &Args) -> Result<Outcome, Reply> {
        let name = args.id(1, "user name").map_err(|e| Reply::error(2, e))?;
        let user = users::find(self.state, name)?;
        let keys = self
            .state
            .store
            .ssh_keys_of(user.id)
            .map_err(OpError::from)?;
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

    pub(super) fn audit_tail(&self, args: &Args) -> Result<Outcome, Reply> {
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
            .map_err(OpError::from)?;
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

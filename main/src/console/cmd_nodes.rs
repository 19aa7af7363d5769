//! Console commands for nodes and register tokens: `nodes list|show|revoke`, `tokens create|list|revoke`.

use serde_json::{Value, json};

use super::commands::{Ctx, Outcome, Reply};
use super::format::{escape, kv, table};
use super::words::Args;
use crate::ops::{OpError, nodes};
use crate::store::AuditAction;
use crate::store::rfc3339;

impl Ctx<'_> {
    pub(super) fn node_json(&self, n: &crate::store::NodeRecord) -> Value {
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

    pub(super) fn nodes_list(&self) -> Result<Outcome, Reply> {
        let nodes = self.state.store.nodes().map_err(OpError::from)?;
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

    pub(super) fn node(&self, args: &Args) -> Result<crate::store::NodeRecord, Reply> {
        let id = args.id(1, "node id").map_err(|e| Reply::error(2, e))?;
        self.state
            .store
            .node(id)
            .map_err(OpError::from)?
            .ok_or_else(|| Reply::error(1, format!("no node {id:?}; `nodes list` shows them")))
    }

    pub(super) fn nodes_show(&self, args: &Args) -> Result<Outcome, Reply> {
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

    pub(super) fn nodes_revoke(&self, args: &Args) -> Result<Outcome, Reply> {
        let node = self.node(args)?;
        let was_online = nodes::revoke(self.state, &self.actor(), &node)?;
        self.audit(AuditAction::ConsoleNodesRevoke, &node.id, None);
        Ok(Outcome::Done(Reply::ok(
            format!(
                "revoked node {}{}\n",
                escape(&node.id),
                if was_online { "; its link was cut" } else { "" }
            ),
            json!({"revoked": node.id, "was_online": was_online}),
        )))
    }

    pub(super) fn tokens_create(&self, args: &Args) -> Result<Outcome, Reply> {
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
            .map_err(OpError::from)?;
        self.audit(
            AuditAction::ConsoleTokensCreate,
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

    pub(super) fn tokens_list(&self) -> Result<Outcome, Reply> {
        let tokens = self.state.store.node_tokens().map_err(OpError::from)?;
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

    pub(super) fn tokens_revoke(&self, args: &Args) -> Result<Outcome, Reply> {
        let id = args.id(1, "token id").map_err(|e| Reply::error(2, e))?;
        match self
            .state
            .store
            .revoke_node_token(id)
            .map_err(OpError::from)?
        {
            Some(t) => {
                self.audit(AuditAction::ConsoleTokensRevoke, &t.id, None);
                Ok(Outcome::Done(Reply::ok(
                    format!("revoked token {}\n", escape(&t.id)),
                    json!({"revoked": t.id}),
                )))
            }
            None => Err(Reply::error(
                1,
                format!("no token {id:?}; `tokens list` shows them"),
            )),
        }
    }
}

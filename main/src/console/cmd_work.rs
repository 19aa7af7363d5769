//! Console commands for the work model: `workspaces list|show`, `tasks list|show`. Read-only: planning
//! happens in the browser; the console is for looking things up (and scripts, with `--json`).

use serde_json::{Value, json};

use super::commands::{Ctx, Outcome, Reply};
use super::format::{kv, table};
use super::words::Args;
use crate::ops::board::BoardQuery;
use crate::ops::workspaces::Access;
use crate::ops::{board, tasks, workspaces};
use crate::store::{TaskStatus, User, rfc3339};

impl Ctx<'_> {
    /// The admin's account, which the work model's operations act as.
    pub(super) fn person(&self) -> Result<&User, Reply> {
        self.admin.user.as_ref().ok_or_else(|| {
            Reply::error(
                1,
                "no account stands behind this key yet; register the first user in the browser"
                    .into(),
            )
        })
    }

    fn workspace_json(&self, access: &Access) -> Value {
        let ws = &access.ws;
        let members: Vec<Value> = ws
            .members
            .iter()
            .map(|m| {
                let name = self
                    .state
                    .store
                    .user(m.user_id)
                    .ok()
                    .flatten()
                    .map_or_else(|| m.user_id.to_string(), |u| u.username);
                json!({"username": name, "role": m.role})
            })
            .collect();
        let counts: Vec<Value> = TaskStatus::ALL
            .into_iter()
            .map(|s| json!({"status": s, "name": ws.settings.status_name(s), "tasks": self.state.store.column_len(ws.id, s)}))
            .collect();
        json!({
            "id": ws.id,
            "name": ws.name,
            "key_prefix": ws.settings.key_prefix,
            "members": members,
            "columns": counts,
            "created_at": rfc3339(ws.created_at),
        })
    }

    pub(super) fn workspaces_list(&self, args: &Args) -> Result<Outcome, Reply> {
        args.check_flags(&["--json"])
            .map_err(|e| Reply::error(2, e))?;
        let all = workspaces::list(self.state, self.person()?)?;
        let list: Vec<Value> = all.iter().map(|a| self.workspace_json(a)).collect();
        let rows: Vec<Vec<String>> = all
            .iter()
            .map(|a| {
                let tasks: usize = TaskStatus::ALL
                    .into_iter()
                    .map(|s| self.state.store.column_len(a.ws.id, s))
                    .sum();
                vec![
                    a.ws.settings.key_prefix.clone(),
                    a.ws.name.clone(),
                    a.ws.members.len().to_string(),
                    tasks.to_string(),
                ]
            })
            .collect();
        let text = table(&["key", "name", "members", "tasks"], &rows);
        Ok(Outcome::Done(Reply::ok(text, Value::Array(list))))
    }

    pub(super) fn workspaces_show(&self, args: &Args) -> Result<Outcome, Reply> {
        let id = args
            .id(1, "workspace key or id")
            .map_err(|e| Reply::error(2, e))?;
        let access = workspaces::access(self.state, self.person()?, id)?;
        let j = self.workspace_json(&access);
        let members = j["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|m| {
                        format!(
                            "{} ({})",
                            m["username"].as_str().unwrap_or(""),
                            m["role"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let columns = j["columns"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|c| format!("{} {}", c["name"].as_str().unwrap_or(""), c["tasks"]))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let text = kv(&[
            ("id", access.ws.id.to_string()),
            ("name", access.ws.name.clone()),
            ("key", access.ws.settings.key_prefix.clone()),
            ("members", members),
            ("columns", columns),
            ("created", rfc3339(access.ws.created_at)),
        ]);
        Ok(Outcome::Done(Reply::ok(text, j)))
    }

    pub(super) fn tasks_list(&self, args: &Args) -> Result<Outcome, Reply> {
        args.check_flags(&["--workspace", "--status", "--json"])
            .map_err(|e| Reply::error(2, e))?;
        let status = match args.flag("--status") {
            Some(s) => Some(TaskStatus::parse(s).ok_or_else(|| {
                Reply::error(
                    2,
                    format!("--status {s:?}: one of backlog, todo, in_progress, in_review, done, cancelled"),
                )
            })?),
            None => None,
        };
        let who = self.person()?;
        let spaces = match args.flag("--workspace") {
            Some(w) => vec![workspaces::access(self.state, who, w)?],
            None => workspaces::list(self.state, who)?,
        };
        let mut list = Vec::new();
        for access in &spaces {
            let q = BoardQuery {
                status,
                limit: Some(tasks::MAX_PAGE),
                ..Default::default()
            };
            let (page, _) = board::list(self.state, who, access, &q, false, 0)?;
            list.extend(page);
        }
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|t| {
                vec![
                    t.key.clone(),
                    t.task.status.as_str().to_string(),
                    format!("{:?}", t.task.priority).to_lowercase(),
                    t.task.title.chars().take(60).collect(),
                ]
            })
            .collect();
        let text = table(&["key", "status", "priority", "title"], &rows);
        let json = serde_json::to_value(&list).unwrap_or_default();
        Ok(Outcome::Done(Reply::ok(text, json)))
    }

    pub(super) fn tasks_show(&self, args: &Args) -> Result<Outcome, Reply> {
        let key = args.id(1, "task key").map_err(|e| Reply::error(2, e))?;
        let who = self.person()?;
        let (access, task) = tasks::find(self.state, who, key)?;
        let view = tasks::view(self.state, &access, task);
        let name_of = |id| {
            self.state
                .store
                .user(id)
                .ok()
                .flatten()
                .map_or_else(|| format!("{id}"), |u| u.username)
        };
        let assignees: Vec<String> = view.task.assignees.iter().map(|u| name_of(*u)).collect();
        let comments = self
            .state
            .store
            .comments(view.task.id)
            .map_err(crate::ops::OpError::from)?;
        let text = kv(&[
            ("key", view.key.clone()),
            ("title", view.task.title.clone()),
            (
                "status",
                access.ws.settings.status_name(view.task.status).to_string(),
            ),
            (
                "priority",
                format!("{:?}", view.task.priority).to_lowercase(),
            ),
            ("assignees", assignees.join(", ")),
            ("labels", view.task.labels.join(", ")),
            ("subtasks", view.subtasks.to_string()),
            ("comments", comments.len().to_string()),
            ("due", view.task.due.clone().unwrap_or_else(|| "-".into())),
            ("updated", rfc3339(view.task.updated_at)),
        ]) + &format!("\n{}\n", view.task.description);
        let mut json = serde_json::to_value(&view).unwrap_or_default();
        json["comments"] = serde_json::to_value(&comments).unwrap_or_default();
        Ok(Outcome::Done(Reply::ok(text, json)))
    }
}

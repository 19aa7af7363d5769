//! Workspaces: who may see one and what each role may do there; creating, configuring and deleting one;
//! its members. (Its prompt templates are [`super::templates`].)
//!
//! Permissions (the seed's): reading needs membership; editing tasks needs `member`; settings, projects and
//! members need `admin`; owners and deletion need `owner`. Instance admins act as a workspace admin
//! everywhere (they see all) without being listed as members. A workspace someone may not read is "not
//! found" to them, so ids do not leak.

use serde::Deserialize;

use super::{Actor, OpError};
use crate::state::AppState;
use crate::store::{
    AgentDefaults, AuditAction, Member, StatusName, User, Workspace, WorkspaceId, WorkspaceRole,
    now_ms,
};

/// A workspace as one user may act in it.
#[derive(Debug, Clone)]
pub struct Access {
    /// The workspace now.
    pub ws: Workspace,
    /// The user's effective role: their membership, or admin for an instance admin.
    pub role: WorkspaceRole,
}

impl Access {
    /// Admin rights here (settings, projects, members, every private task).
    pub fn is_admin(&self) -> bool {
        self.role >= WorkspaceRole::Admin
    }

    /// Refuses unless the role is at least `min`; `what` completes "you need … to …".
    pub fn require(&self, min: WorkspaceRole, what: &str) -> Result<(), OpError> {
        if self.role >= min {
            return Ok(());
        }
        let needed = match min {
            WorkspaceRole::Viewer => "membership",
            WorkspaceRole::Member => "the member role (viewers only read)",
            WorkspaceRole::Admin => "the admin role",
            WorkspaceRole::Owner => "the owner role",
        };
        Err(OpError::Forbidden(format!(
            "you need {needed} in workspace {:?} to {what}",
            self.ws.name
        )))
    }
}

/// The effective role of `who` in `ws`, if they may read it.
pub fn role_of(who: &User, ws: &Workspace) -> Option<WorkspaceRole> {
    let member = ws.role_of(who.id);
    if who.role.is_admin() {
        return Some(member.map_or(WorkspaceRole::Admin, |r| r.max(WorkspaceRole::Admin)));
    }
    member
}

/// The workspace `id` (a UUID or a key prefix such as `WEB`) as `who` may act in it; "not found" when they
/// may not read it.
pub fn access(state: &AppState, who: &User, id: &str) -> Result<Access, OpError> {
    let ws = match WorkspaceId::parse(id) {
        Some(id) => state.store.workspace(id)?,
        None => state.store.workspace_by_prefix(&id.to_ascii_uppercase())?,
    };
    ws.and_then(|ws| role_of(who, &ws).map(|role| Access { ws, role }))
        .ok_or_else(|| OpError::NotFound(format!("no workspace {id:?}")))
}

/// The workspaces `who` may read (instance admins: all), by name.
pub fn list(state: &AppState, who: &User) -> Result<Vec<Access>, OpError> {
    let mut out: Vec<Access> = state
        .store
        .workspaces()?
        .into_iter()
        .filter_map(|ws| role_of(who, &ws).map(|role| Access { ws, role }))
        .collect();
    out.sort_by_key(|a| a.ws.name.to_lowercase());
    Ok(out)
}

/// `{name, key_prefix}`: a new workspace.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspace {
    /// Display name (1–100 characters).
    pub name: String,
    /// Task key prefix: 1–10 capital letters or digits, starting with a letter (`WEB`).
    pub key_prefix: String,
}

/// Creates a workspace owned by `who`.
pub fn create(
    state: &AppState,
    actor: &Actor,
    who: &User,
    new: NewWorkspace,
) -> Result<Workspace, OpError> {
    let name = check_name("name", &new.name, 100)?;
    let prefix = check_prefix(&new.key_prefix)?;
    let ws = state.store.create_workspace(name, prefix, who.id)?;
    state.store.audit(
        actor
            .audit(AuditAction::WorkspaceCreated)
            .target(ws.id.to_string())
            .detail(format!("{} ({})", ws.name, ws.settings.key_prefix)),
    );
    Ok(ws)
}

/// Settings to change; absent fields stay.
#[derive(Debug, Default, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// New display name.
    #[ts(optional)]
    pub name: Option<String>,
    /// New key prefix (existing tasks' keys follow it).
    #[ts(optional)]
    pub key_prefix: Option<String>,
    /// New display names of statuses (those listed).
    #[ts(optional)]
    pub status_names: Option<Vec<StatusName>>,
    /// Run defaults.
    #[ts(optional)]
    pub agent: Option<AgentDefaults>,
    /// Runs at once (0: no limit).
    #[ts(optional)]
    pub run_concurrency: Option<u32>,
    /// Put before every run's prompt.
    #[ts(optional)]
    pub prompt_prefix: Option<String>,
    /// The message of a run's turn commit (`{key}`, `{title}`, `{turn}` filled in).
    #[ts(optional)]
    pub run_commit_message: Option<String>,
}

/// Changes a workspace's name and settings (admin).
pub fn update(
    state: &AppState,
    actor: &Actor,
    access: &Access,
    patch: SettingsPatch,
) -> Result<Workspace, OpError> {
    access.require(WorkspaceRole::Admin, "change its settings")?;
    let name = patch
        .name
        .map(|n| check_name("name", &n, 100))
        .transpose()?;
    let prefix = patch.key_prefix.map(|p| check_prefix(&p)).transpose()?;
    if let Some(names) = &patch.status_names {
        for s in names {
            check_name("status name", &s.name, 40)?;
        }
    }
    if let Some(agent) = &patch.agent {
        check_agent(agent)?;
    }
    if patch
        .prompt_prefix
        .as_ref()
        .is_some_and(|p| p.len() > 20_000)
    {
        return Err(OpError::BadRequest(
            "prompt_prefix is over 20,000 bytes; keep it short and put long text in a template"
                .into(),
        ));
    }
    if let Some(m) = &patch.run_commit_message
        && (m.trim().is_empty() || m.len() > 500 || m.contains('\0'))
    {
        return Err(OpError::BadRequest(format!(
            "run_commit_message must be 1-500 bytes of text, e.g. {:?}",
            crate::store::DEFAULT_RUN_COMMIT_MESSAGE
        )));
    }
    let mut changed = Vec::new();
    let ws = state.store.update_workspace(access.ws.id, |ws| {
        if let Some(name) = name.clone() {
            ws.name = name;
            changed.push("name");
        }
        if let Some(prefix) = prefix.clone() {
            ws.settings.key_prefix = prefix;
            changed.push("key_prefix");
        }
        if let Some(names) = patch.status_names.clone() {
            for s in names {
                if let Some(slot) = ws
                    .settings
                    .status_names
                    .iter_mut()
                    .find(|n| n.status == s.status)
                {
                    slot.name = s.name.trim().to_string();
                }
            }
            changed.push("status_names");
        }
        if let Some(agent) = patch.agent.clone() {
            ws.settings.agent = agent;
            changed.push("agent");
        }
        if let Some(n) = patch.run_concurrency {
            ws.settings.run_concurrency = n;
            changed.push("run_concurrency");
        }
        if let Some(m) = patch.run_commit_message.clone() {
            ws.settings.run_commit_message = m.trim().to_string();
            changed.push("run_commit_message");
        }
        if let Some(p) = patch.prompt_prefix.clone() {
            ws.settings.prompt_prefix = p;
            changed.push("prompt_prefix");
        }
        Ok::<_, OpError>(())
    })?;
    state.store.audit(
        actor
            .audit(AuditAction::WorkspaceUpdated)
            .target(ws.id.to_string())
            .detail(changed.join(", ")),
    );
    Ok(ws)
}

/// Deletes a workspace with everything in it (owner, or an instance admin). `confirm` must be its name.
pub fn delete(
    state: &AppState,
    actor: &Actor,
    who: &User,
    access: &Access,
    confirm: &str,
) -> Result<Workspace, OpError> {
    if !who.role.is_admin() {
        access.require(WorkspaceRole::Owner, "delete it")?;
    }
    if confirm != access.ws.name {
        return Err(OpError::BadRequest(format!(
            "to delete workspace {:?} and all its projects and tasks, send confirm = its exact name",
            access.ws.name
        )));
    }
    let ws = state.store.delete_workspace(access.ws.id)?;
    state.store.audit(
        actor
            .audit(AuditAction::WorkspaceDeleted)
            .target(ws.id.to_string())
            .detail(format!("{} ({})", ws.name, ws.settings.key_prefix)),
    );
    Ok(ws)
}

/// Adds user `username` with `role`, or changes their role (admin; owners only by owners).
pub fn set_member(
    state: &AppState,
    actor: &Actor,
    access: &Access,
    username: &str,
    role: WorkspaceRole,
) -> Result<Workspace, OpError> {
    access.require(WorkspaceRole::Admin, "manage its members")?;
    let user = super::users::find(state, username)?;
    if user.role == crate::store::Role::Pending || user.disabled {
        return Err(OpError::BadRequest(format!(
            "{} cannot join a workspace until an admin approves (or re-enables) their account",
            user.username
        )));
    }
    let current = access.ws.role_of(user.id);
    if (role == WorkspaceRole::Owner || current == Some(WorkspaceRole::Owner))
        && access.role < WorkspaceRole::Owner
    {
        return Err(OpError::Forbidden(
            "only an owner can make someone an owner or change an owner's role".into(),
        ));
    }
    let ws = state.store.update_workspace(access.ws.id, |ws| {
        let owners = ws.owners();
        match ws.members.iter_mut().find(|m| m.user_id == user.id) {
            Some(m) => {
                if m.role == WorkspaceRole::Owner && role != WorkspaceRole::Owner && owners == 1 {
                    return Err(last_owner());
                }
                m.role = role;
            }
            None => ws.members.push(Member {
                user_id: user.id,
                role,
                added_at: now_ms(),
            }),
        }
        Ok(())
    })?;
    let action = if current.is_some() {
        AuditAction::WorkspaceMemberRole
    } else {
        AuditAction::WorkspaceMemberAdded
    };
    state.store.audit(
        actor
            .audit(action)
            .target(ws.id.to_string())
            .detail(format!("{} as {role:?}", user.username).to_lowercase()),
    );
    Ok(ws)
}

/// Removes user `username` (admin; an owner only by an owner; anyone may remove themselves: leaving). The
/// last owner cannot go: make someone else owner first, or delete the workspace.
pub fn remove_member(
    state: &AppState,
    actor: &Actor,
    who: &User,
    access: &Access,
    username: &str,
) -> Result<Workspace, OpError> {
    let user = super::users::find(state, username)?;
    let leaving = user.id == who.id;
    let role = access
        .ws
        .role_of(user.id)
        .ok_or_else(|| OpError::NotFound(format!("{} is not a member", user.username)))?;
    if !leaving {
        access.require(WorkspaceRole::Admin, "remove members")?;
        if role == WorkspaceRole::Owner && access.role < WorkspaceRole::Owner {
            return Err(OpError::Forbidden(
                "only an owner can remove an owner".into(),
            ));
        }
    }
    let ws = state.store.update_workspace(access.ws.id, |ws| {
        if role == WorkspaceRole::Owner && ws.owners() == 1 {
            return Err(last_owner());
        }
        ws.members.retain(|m| m.user_id != user.id);
        Ok(())
    })?;
    let action = if leaving {
        AuditAction::WorkspaceLeft
    } else {
        AuditAction::WorkspaceMemberRemoved
    };
    state.store.audit(
        actor
            .audit(action)
            .target(ws.id.to_string())
            .detail(user.username),
    );
    Ok(ws)
}

fn last_owner() -> OpError {
    OpError::Conflict(
        "a workspace keeps at least one owner: make another member owner first, or delete the workspace"
            .into(),
    )
}

/// A trimmed display name of 1–`max` characters without control characters.
pub fn check_name(field: &str, value: &str, max: usize) -> Result<String, OpError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(OpError::BadRequest(format!(
            "{field} must be 1–{max} characters without control characters"
        )));
    }
    Ok(v.to_string())
}

/// Run defaults: a provider main knows, and a model and permission mode a CLI flag can carry.
fn check_agent(agent: &AgentDefaults) -> Result<(), OpError> {
    if let Some(p) = agent.provider.as_deref()
        && !matches!(p, "claude" | "codex")
    {
        return Err(OpError::BadRequest(format!(
            "agent.provider {p:?} must be \"claude\" or \"codex\" (or absent to ask each time)"
        )));
    }
    for (field, value) in [
        ("model", &agent.model),
        ("permission_mode", &agent.permission_mode),
    ] {
        if let Some(v) = value
            && (v.is_empty()
                || v.len() > 100
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:/[]".contains(c)))
        {
            return Err(OpError::BadRequest(format!(
                "agent.{field} {v:?} must be 1–100 letters, digits or -_.:/[] (as the CLI takes it)"
            )));
        }
    }
    Ok(())
}

fn check_prefix(p: &str) -> Result<String, OpError> {
    let p = p.trim().to_ascii_uppercase();
    let ok = (1..=10).contains(&p.len())
        && p.starts_with(|c: char| c.is_ascii_uppercase())
        && p.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !ok {
        return Err(OpError::BadRequest(format!(
            "key_prefix {p:?} must be 1–10 capital letters or digits, starting with a letter (e.g. WEB)"
        )));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves run defaults take only a known provider and CLI-safe model and mode names.
    #[test]
    fn agent_defaults_are_checked() {
        let ok = AgentDefaults {
            provider: Some("codex".into()),
            model: Some("gpt-5.1-codex".into()),
            permission_mode: Some("on-request".into()),
        };
        assert!(check_agent(&ok).is_ok());
        let bad_provider = AgentDefaults {
            provider: Some("gemini".into()),
            ..AgentDefaults::default()
        };
        assert!(check_agent(&bad_provider).is_err());
        let bad_model = AgentDefaults {
            model: Some("x --dangerously-skip".into()),
            ..AgentDefaults::default()
        };
        assert!(check_agent(&bad_model).is_err());
    }

    /// Proves key prefixes are normalised to capitals and bad ones refused with the rule.
    #[test]
    fn key_prefixes_are_checked() {
        assert_eq!(check_prefix(" web ").unwrap(), "WEB");
        assert!(check_prefix("1AB").is_err());
        assert!(check_prefix("WEB-").is_err());
        assert!(check_prefix("ABCDEFGHIJK").is_err());
    }
}

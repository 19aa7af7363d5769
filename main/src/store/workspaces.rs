//! Workspaces: a team's space for planning work. Members with roles, settings (the task key prefix, status
//! names, agent defaults, run concurrency), prompt templates. `workspaces` holds id → [`Workspace`] (members
//! inside: a workspace has tens of them, not thousands), `key_prefixes` prefix → id (a prefix names one
//! workspace on the whole instance, so `WEB-42` is a key anyone can say), `prompt_templates` workspace id ‖
//! name → [`PromptTemplate`].

use serde::{Deserialize, Serialize};

use super::{Change, Store, StoreError, UserId, decode, encode, now_ms};

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS,
        )]
        #[serde(transparent)]
        #[ts(type = "string")]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                $name(uuid::Uuid::now_v7())
            }

            /// Parses the hyphenated form; `None` for anything else.
            pub fn parse(s: &str) -> Option<Self> {
                uuid::Uuid::parse_str(s).ok().map($name)
            }

            /// The 16 bytes keys are built from.
            pub fn bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}
pub(crate) use uuid_id;

uuid_id!(
    /// A workspace id (UUIDv7).
    WorkspaceId
);

/// A member's role in one workspace. Ordered: `Owner > Admin > Member > Viewer`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceRole {
    /// Reads everything the workspace shows them.
    Viewer,
    /// Creates and edits tasks, comments; runs agents where they may use the node.
    Member,
    /// Also settings, projects and members (but not owners).
    Admin,
    /// Also owners and deleting the workspace.
    Owner,
}

/// A member of a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Member {
    /// The user.
    #[ts(type = "string")]
    pub user_id: UserId,
    /// Their role here.
    pub role: WorkspaceRole,
    /// When they joined, ms since epoch.
    pub added_at: u64,
}

/// The fixed status categories of a task; each workspace names them as it likes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Not planned yet.
    Backlog,
    /// Planned.
    Todo,
    /// Someone (or an agent) is on it.
    InProgress,
    /// Waiting for review.
    InReview,
    /// Finished.
    Done,
    /// Will not be done.
    Cancelled,
}

impl TaskStatus {
    /// Every status, in board order.
    pub const ALL: [TaskStatus; 6] = [
        TaskStatus::Backlog,
        TaskStatus::Todo,
        TaskStatus::InProgress,
        TaskStatus::InReview,
        TaskStatus::Done,
        TaskStatus::Cancelled,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Backlog => "backlog",
            TaskStatus::Todo => "todo",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::InReview => "in_review",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The name a new workspace shows.
    pub fn default_name(self) -> &'static str {
        match self {
            TaskStatus::Backlog => "Backlog",
            TaskStatus::Todo => "To do",
            TaskStatus::InProgress => "In progress",
            TaskStatus::InReview => "In review",
            TaskStatus::Done => "Done",
            TaskStatus::Cancelled => "Cancelled",
        }
    }

    /// Its byte in index keys (board order).
    pub(super) fn byte(self) -> u8 {
        self as u8
    }
}

/// Defaults for the agent runs of a workspace (used by task runs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct AgentDefaults {
    /// `claude` or `codex`.
    #[ts(optional)]
    pub provider: Option<String>,
    /// The model, as the CLI names it.
    #[ts(optional)]
    pub model: Option<String>,
    /// The CLI's permission mode.
    #[ts(optional)]
    pub permission_mode: Option<String>,
}

/// What a workspace's admins set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct WorkspaceSettings {
    /// Task keys are `<prefix>-<number>`: 1–10 capital letters or digits, starting with a letter.
    pub key_prefix: String,
    /// The name shown for each status, in board order.
    pub status_names: Vec<StatusName>,
    /// Defaults for runs.
    #[serde(default)]
    pub agent: AgentDefaults,
    /// Runs of this workspace at once (more wait, queued); 0 means no limit.
    #[serde(default)]
    pub run_concurrency: u32,
    /// Put before every run's prompt.
    #[serde(default)]
    pub prompt_prefix: String,
    /// The message of the commit made after each turn of a run: `{key}`, `{title}` and `{turn}` are filled in.
    #[serde(default = "default_run_commit_message")]
    pub run_commit_message: String,
}

/// The message of a run's turn commit when the workspace sets none.
pub const DEFAULT_RUN_COMMIT_MESSAGE: &str = "{key}: {title} (turn {turn})";

fn default_run_commit_message() -> String {
    DEFAULT_RUN_COMMIT_MESSAGE.to_string()
}

/// A status and its display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct StatusName {
    /// The category.
    pub status: TaskStatus,
    /// What the workspace calls it.
    pub name: String,
}

impl WorkspaceSettings {
    /// A new workspace's settings.
    pub fn new(key_prefix: String) -> Self {
        WorkspaceSettings {
            key_prefix,
            status_names: TaskStatus::ALL
                .into_iter()
                .map(|status| StatusName {
                    status,
                    name: status.default_name().to_string(),
                })
                .collect(),
            agent: AgentDefaults::default(),
            run_concurrency: 0,
            prompt_prefix: String::new(),
            run_commit_message: default_run_commit_message(),
        }
    }

    /// What this workspace calls `status`.
    pub fn status_name(&self, status: TaskStatus) -> &str {
        self.status_names
            .iter()
            .find(|s| s.status == status)
            .map_or(status.default_name(), |s| s.name.as_str())
    }
}

/// A stored workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Workspace {
    /// Id.
    pub id: WorkspaceId,
    /// Display name.
    pub name: String,
    /// Settings.
    pub settings: WorkspaceSettings,
    /// Members (at least one owner).
    pub members: Vec<Member>,
    /// The number the next task gets.
    pub next_number: u64,
    /// Who created it.
    #[ts(type = "string")]
    pub created_by: UserId,
    /// When, ms since epoch.
    pub created_at: u64,
    /// Last change of name, settings or members, ms since epoch.
    pub updated_at: u64,
}

impl Workspace {
    /// `user`'s role here, if a member.
    pub fn role_of(&self, user: UserId) -> Option<WorkspaceRole> {
        self.members
            .iter()
            .find(|m| m.user_id == user)
            .map(|m| m.role)
    }

    /// How many owners it has.
    pub fn owners(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.role == WorkspaceRole::Owner)
            .count()
    }

    /// The key of task `number`.
    pub fn task_key(&self, number: u64) -> String {
        format!("{}-{number}", self.settings.key_prefix)
    }
}

/// A reusable prompt snippet, inserted with `@name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct PromptTemplate {
    /// The name used after `@` (letters, digits, `-`, `_`).
    pub name: String,
    /// The text it stands for (Markdown).
    pub body: String,
    /// Last change, ms since epoch.
    pub updated_at: u64,
}

impl Store {
    /// Creates a workspace owned by `owner`; refused when `key_prefix` names another workspace.
    pub fn create_workspace(
        &self,
        name: String,
        key_prefix: String,
        owner: UserId,
    ) -> Result<Workspace, StoreError> {
        self.atomic(|| {
            if self.key_prefixes.contains_key(key_prefix.as_bytes())? {
                return Err(StoreError::Conflict(format!("key prefix {key_prefix}")));
            }
            let now = now_ms();
            let ws = Workspace {
                id: WorkspaceId::new(),
                name: name.clone(),
                settings: WorkspaceSettings::new(key_prefix.clone()),
                members: vec![Member {
                    user_id: owner,
                    role: WorkspaceRole::Owner,
                    added_at: now,
                }],
                next_number: 1,
                created_by: owner,
                created_at: now,
                updated_at: now,
            };
            self.key_prefixes
                .insert(ws.settings.key_prefix.as_bytes(), ws.id.bytes())?;
            self.workspaces.insert(ws.id.bytes(), encode(&ws))?;
            self.durable()?;
            self.announce_workspace(&ws, false);
            Ok(ws)
        })
    }

    /// A workspace by id.
    pub fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        self.workspaces
            .get(id.bytes())?
            .map(|v| decode("workspaces", &v))
            .transpose()
    }

    /// The workspace whose task keys start with `prefix`.
    pub fn workspace_by_prefix(&self, prefix: &str) -> Result<Option<Workspace>, StoreError> {
        match self.key_prefixes.get(prefix.as_bytes())? {
            Some(id) => match uuid::Uuid::from_slice(&id) {
                Ok(id) => self.workspace(WorkspaceId(id)),
                Err(_) => Ok(None),
            },
            None => Ok(None),
        }
    }

    /// Every workspace.
    pub fn workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        self.workspaces
            .iter()
            .values()
            .map(|v| decode("workspaces", &v?))
            .collect()
    }

    /// Changes a workspace under the store's lock: `change` sees the current record and may refuse (its
    /// error is returned, nothing written). A new key prefix is checked for uniqueness and re-indexed.
    pub fn update_workspace<E: From<StoreError>>(
        &self,
        id: WorkspaceId,
        mut change: impl FnMut(&mut Workspace) -> Result<(), E>,
    ) -> Result<Workspace, E> {
        self.atomic(|| {
            let mut ws = self
                .workspace(id)?
                .ok_or_else(|| StoreError::NotFound(format!("workspace {id}")))?;
            let old_prefix = ws.settings.key_prefix.clone();
            change(&mut ws)?;
            ws.updated_at = now_ms();
            if ws.settings.key_prefix != old_prefix {
                self.move_prefix(id, &old_prefix, &ws.settings.key_prefix)?;
            }
            self.workspaces
                .insert(id.bytes(), encode(&ws))
                .map_err(StoreError::from)?;
            self.durable().map_err(StoreError::from)?;
            self.announce_workspace(&ws, false);
            Ok(ws)
        })
    }

    fn announce_workspace(&self, ws: &Workspace, removed: bool) {
        self.changed(Change::Workspace(std::sync::Arc::new(
            super::changes::WorkspaceChange {
                ws: ws.clone(),
                removed,
            },
        )));
    }

    fn move_prefix(&self, id: WorkspaceId, old: &str, new: &str) -> Result<(), StoreError> {
        if self.key_prefixes.contains_key(new.as_bytes())? {
            return Err(StoreError::Conflict(format!("key prefix {new}")));
        }
        self.key_prefixes.insert(new.as_bytes(), id.bytes())?;
        self.key_prefixes.remove(old.as_bytes())?;
        Ok(())
    }

    /// Takes the next task number of a workspace (under the lock the caller holds).
    pub(super) fn take_task_number(&self, ws: &mut Workspace) -> Result<u64, StoreError> {
        let number = ws.next_number;
        ws.next_number = ws.next_number.checked_add(1).ok_or_else(|| {
            StoreError::Invalid("the workspace has used every task number".into())
        })?;
        self.workspaces.insert(ws.id.bytes(), encode(&*ws))?;
        Ok(number)
    }

    /// Deletes a workspace and everything in it: projects, tasks, comments, activity, templates.
    pub fn delete_workspace(&self, id: WorkspaceId) -> Result<Workspace, StoreError> {
        self.atomic(|| {
            let ws = self
                .workspace(id)?
                .ok_or_else(|| StoreError::NotFound(format!("workspace {id}")))?;
            for task in self.task_ids_of(id)? {
                self.remove_task_records(task)?;
            }
            for project in self.projects_of(id)? {
                self.projects.remove(project.id.bytes())?;
            }
            self.remove_webhooks_of(id)?;
            for tree in [&self.prompt_templates, &self.column_counts] {
                for key in tree.scan_prefix(id.bytes()).keys() {
                    tree.remove(key?)?;
                }
            }
            self.key_prefixes
                .remove(ws.settings.key_prefix.as_bytes())?;
            self.workspaces.remove(id.bytes())?;
            self.durable()?;
            self.announce_workspace(&ws, true);
            Ok(ws)
        })
    }

    /// A workspace's prompt templates, by name.
    pub fn prompt_templates(&self, ws: WorkspaceId) -> Result<Vec<PromptTemplate>, StoreError> {
        self.prompt_templates
            .scan_prefix(ws.bytes())
            .values()
            .map(|v| decode("prompt_templates", &v?))
            .collect()
    }

    /// Creates or replaces a template (`body: None` deletes it). Returns whether one existed.
    pub fn set_prompt_template(
        &self,
        ws: WorkspaceId,
        name: &str,
        body: Option<String>,
    ) -> Result<bool, StoreError> {
        let mut key = ws.bytes().to_vec();
        key.extend_from_slice(name.as_bytes());
        let old = match body {
            Some(body) => {
                let t = PromptTemplate {
                    name: name.to_string(),
                    body,
                    updated_at: now_ms(),
                };
                self.prompt_templates.replace(key, encode(&t))?
            }
            None => self.prompt_templates.remove(key)?,
        };
        self.durable()?;
        if let Some(ws) = self.workspace(ws)? {
            self.announce_workspace(&ws, false);
        }
        Ok(old.is_some())
    }
}

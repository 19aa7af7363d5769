//! Moving a workspace's content in and out: the export (one versioned JSON document, documented in
//! `docs/workspace-export.md`) and the import of our own export, a Vibe Kanban cloud export ZIP or a Vibe
//! Kanban local database. Every format becomes a [`Plan`], and one [`apply`] writes any plan: new ids, task
//! numbers after the workspace's own, parents resolved, people matched by name, one flush, one audit
//! entry, and a [`ImportReport`] of what was created, matched and skipped (nothing is dropped silently).

use std::collections::HashMap;

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::workspaces::Access;
use super::{Actor, OpError};
use crate::state::AppState;
use crate::store::{
    ActivityKind, Attachment, AttachmentId, AuditAction, Comment, CommentId, Member, Priority,
    Project, ProjectId, ProjectScripts, PromptTemplate, Task, TaskId, TaskStatus, User, UserId,
    WorkspaceRole, WorkspaceSettings, now_ms,
};

/// The `format` field of our export.
pub const EXPORT_FORMAT: &str = "vibebridge.workspace";
/// The version of the export this build writes (and the newest it reads).
pub const EXPORT_VERSION: u32 = 1;

/// A workspace's content as one document (`GET /workspaces/:id/export`). People are usernames, tasks are
/// their numbers, projects their index in `projects`, comments their index in `comments`: nothing that only
/// means something inside one instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct WorkspaceExport {
    /// Always `vibebridge.workspace`.
    pub format: String,
    /// The document's version.
    pub version: u32,
    /// The workspace's name.
    pub name: String,
    /// Its settings.
    pub settings: WorkspaceSettings,
    /// Members by username.
    pub members: Vec<ExportMember>,
    /// Projects.
    pub projects: Vec<ExportProject>,
    /// Prompt templates.
    pub templates: Vec<PromptTemplate>,
    /// Tasks, by number.
    pub tasks: Vec<ExportTask>,
}

/// A member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ExportMember {
    /// Username.
    pub username: String,
    /// Role.
    pub role: WorkspaceRole,
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ExportProject {
    /// Name.
    pub name: String,
    /// Node id.
    pub node_id: String,
    /// Repository path on the node.
    pub repo_path: String,
    /// Base branch.
    pub base_branch: String,
    /// Scripts.
    pub scripts: ProjectScripts,
    /// Globs copied into worktrees.
    pub copy_files: Vec<String>,
    /// Branch template.
    pub branch_template: String,
    /// Creator's username.
    #[ts(optional)]
    pub created_by: Option<String>,
    /// Created, ms since epoch.
    pub created_at: u64,
}

/// A task with its comments, activity and attachments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ExportTask {
    /// Its number (the key is the prefix and this).
    pub number: u64,
    /// Title.
    pub title: String,
    /// Markdown.
    pub description: String,
    /// Status.
    pub status: TaskStatus,
    /// Priority.
    pub priority: Priority,
    /// Assignees' usernames.
    pub assignees: Vec<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// The parent's number.
    #[ts(optional)]
    pub parent: Option<u64>,
    /// Due date.
    #[ts(optional)]
    pub due: Option<String>,
    /// Index in `projects`.
    #[ts(optional)]
    pub project: Option<usize>,
    /// Position key in its column.
    pub position: String,
    /// Creator's username.
    #[ts(optional)]
    pub created_by: Option<String>,
    /// Created, ms since epoch.
    pub created_at: u64,
    /// Last change, ms since epoch.
    pub updated_at: u64,
    /// Archived.
    pub archived: bool,
    /// Usernames who alone (with admins) see it.
    #[ts(optional)]
    pub restricted_to: Option<Vec<String>>,
    /// Comments, oldest first.
    pub comments: Vec<ExportComment>,
    /// Activity, oldest first.
    pub activity: Vec<ExportActivity>,
    /// Files, base64.
    pub attachments: Vec<ExportAttachment>,
}

/// A comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ExportComment {
    /// Author's username (or name, for an imported author without an account).
    #[ts(optional)]
    pub author: Option<String>,
    /// Markdown.
    pub body: String,
    /// Created, ms since epoch.
    pub created_at: u64,
    /// Edited, ms since epoch.
    #[ts(optional)]
    pub edited_at: Option<u64>,
}

/// An activity entry; people are usernames, a comment its index in the task's `comments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ExportActivity {
    /// When, ms since epoch.
    pub at: u64,
    /// Who.
    #[ts(optional)]
    pub actor: Option<String>,
    /// What, as the store has it, with user ids and comment ids replaced (see `people`, `comment`).
    pub kind: ActivityKind,
    /// Usernames of the user ids in `kind`, in the order they appear.
    #[serde(default)]
    pub people: Vec<String>,
    /// For a `commented` entry, the comment's index in the task's `comments`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub comment: Option<usize>,
}

/// A file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ExportAttachment {
    /// File name.
    pub filename: String,
    /// MIME type.
    pub content_type: String,
    /// The bytes, standard base64.
    pub base64: String,
    /// Added, ms since epoch.
    pub created_at: u64,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ImportReport {
    /// `vibebridge`, `vibe_kanban_zip` or `vibe_kanban_db`.
    pub format: String,
    /// What was created.
    pub created: ImportCounts,
    /// Names in the file that matched members here.
    pub matched_people: Vec<String>,
    /// Names that matched no member (their tasks are unassigned, with a note in the activity).
    pub unmatched_people: Vec<String>,
    /// What was not brought in, or not as it was, and why.
    pub skipped: Vec<SkippedItem>,
}

/// How many of each were created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ImportCounts {
    /// Projects.
    pub projects: usize,
    /// Tasks.
    pub tasks: usize,
    /// Comments.
    pub comments: usize,
    /// Activity entries.
    pub activity: usize,
    /// Attachments.
    pub attachments: usize,
}

/// Something not imported as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct SkippedItem {
    /// What (`ISS-3 (Web)`, `project Web`, `person Bob`).
    pub item: String,
    /// Why, and what was done instead.
    pub reason: String,
}

/// Content to write into a workspace, from any format.
#[derive(Debug, Default)]
pub struct Plan {
    /// Projects, ready but for their id and workspace.
    pub projects: Vec<Project>,
    /// Templates (replacing same-named ones).
    pub templates: Vec<PromptTemplate>,
    /// Members to add (existing users by username, with their roles), for an admin's import.
    pub members: Vec<ExportMember>,
    /// Settings to take (all but the name and key prefix), for an admin's import.
    pub settings: Option<WorkspaceSettings>,
    /// Tasks in creation order.
    pub tasks: Vec<PlannedTask>,
    /// The report so far (format, people, skipped).
    pub report: ImportReport,
}

/// One task of a plan.
#[derive(Debug, Default)]
pub struct PlannedTask {
    /// The task; `id`, `workspace_id`, `number`, `parent`, `project_id` and (when empty) `position` are set
    /// by [`apply`].
    pub task: Option<Task>,
    /// Its number in the source (kept, after the workspace's own numbers), when the source has numbers.
    pub number: Option<u64>,
    /// Index of the parent in the plan's tasks.
    pub parent: Option<usize>,
    /// Index of the project in the plan's projects.
    pub project: Option<usize>,
    /// Comments (ids and task set by [`apply`]).
    pub comments: Vec<Comment>,
    /// Activity: when, who, what (`Commented` carries the index of the comment in `comments` as its
    /// id's low bits: see [`comment_ref`]).
    pub activity: Vec<(u64, Option<UserId>, ActivityKind)>,
    /// Files.
    pub attachments: Vec<(Attachment, Vec<u8>)>,
}

/// A placeholder comment id standing for the `index`-th comment of a planned task.
pub fn comment_ref(index: usize) -> CommentId {
    CommentId(uuid::Uuid::from_u128(index as u128))
}

/// The export of a workspace (any member may export what they can see; private tasks only when they may
/// see them).
pub fn export(
    state: &AppState,
    actor: &Actor,
    who: &User,
    access: &Access,
) -> Result<WorkspaceExport, OpError> {
    let ws = &access.ws;
    let mut names: HashMap<UserId, String> = HashMap::new();
    let mut name_of = |id: UserId| -> String {
        names
            .entry(id)
            .or_insert_with(|| {
                state
                    .store
                    .user(id)
                    .ok()
                    .flatten()
                    .map_or_else(|| id.to_string(), |u| u.username)
            })
            .clone()
    };
    let mut projects = state.store.projects_of(ws.id)?;
    projects.sort_by(|a, b| (&a.name, a.created_at).cmp(&(&b.name, b.created_at)));
    let project_index: HashMap<ProjectId, usize> = projects
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id, i))
        .collect();
    let mut numbers: HashMap<TaskId, u64> = HashMap::new();
    let mut all = Vec::new();
    for id in state.store.task_ids_of(ws.id)? {
        if let Some(t) = state.store.task(id)?
            && t.visible_to(who.id, access.is_admin())
        {
            numbers.insert(t.id, t.number);
            all.push(t);
        }
    }
    all.sort_by_key(|t| t.number);
    let mut tasks = Vec::with_capacity(all.len());
    for t in all {
        let comments = state.store.comments(t.id)?;
        let comment_index: HashMap<CommentId, usize> = comments
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, i))
            .collect();
        let activity = state
            .store
            .activity(t.id)?
            .into_iter()
            .map(|a| {
                let (kind, people, comment) = portable_kind(a.kind, &mut name_of, &comment_index);
                ExportActivity {
                    at: a.at,
                    actor: a.actor.map(&mut name_of),
                    kind,
                    people,
                    comment,
                }
            })
            .collect();
        let mut attachments = Vec::new();
        for a in state.store.attachments(t.id)? {
            let bytes = state
                .store
                .attachment_bytes(t.id, a.id)?
                .unwrap_or_default();
            attachments.push(ExportAttachment {
                filename: a.filename,
                content_type: a.content_type,
                base64: base64::engine::general_purpose::STANDARD.encode(bytes),
                created_at: a.created_at,
            });
        }
        tasks.push(ExportTask {
            number: t.number,
            title: t.title,
            description: t.description,
            status: t.status,
            priority: t.priority,
            assignees: t.assignees.into_iter().map(&mut name_of).collect(),
            labels: t.labels,
            parent: t.parent.and_then(|p| numbers.get(&p).copied()),
            due: t.due,
            project: t.project_id.and_then(|p| project_index.get(&p).copied()),
            position: t.position,
            created_by: t.created_by.map(&mut name_of),
            created_at: t.created_at,
            updated_at: t.updated_at,
            archived: t.archived,
            restricted_to: t
                .restricted_to
                .map(|ids| ids.into_iter().map(&mut name_of).collect()),
            comments: comments
                .into_iter()
                .map(|c| ExportComment {
                    author: c.author.map(&mut name_of).or(c.author_name),
                    body: c.body,
                    created_at: c.created_at,
                    edited_at: c.edited_at,
                })
                .collect(),
            activity,
            attachments,
        });
    }
    let export = WorkspaceExport {
        format: EXPORT_FORMAT.into(),
        version: EXPORT_VERSION,
        name: ws.name.clone(),
        settings: ws.settings.clone(),
        members: ws
            .members
            .iter()
            .map(|m| ExportMember {
                username: name_of(m.user_id),
                role: m.role,
            })
            .collect(),
        projects: projects
            .into_iter()
            .map(|p| ExportProject {
                name: p.name,
                node_id: p.node_id,
                repo_path: p.repo_path,
                base_branch: p.base_branch,
                scripts: p.scripts,
                copy_files: p.copy_files,
                branch_template: p.branch_template,
                created_by: Some(name_of(p.created_by)),
                created_at: p.created_at,
            })
            .collect(),
        templates: state.store.prompt_templates(ws.id)?,
        tasks,
    };
    state.store.audit(
        actor
            .audit(AuditAction::WorkspaceExported)
            .target(ws.id.to_string())
            .detail(format!("{} tasks", export.tasks.len())),
    );
    Ok(export)
}

/// Replaces the user and comment ids in an activity kind by portable references.
fn portable_kind(
    kind: ActivityKind,
    name_of: &mut impl FnMut(UserId) -> String,
    comments: &HashMap<CommentId, usize>,
) -> (ActivityKind, Vec<String>, Option<usize>) {
    match kind {
        ActivityKind::Assigned { added, removed } => {
            let people = added.iter().chain(&removed).map(|u| name_of(*u)).collect();
            let nil = |v: &Vec<UserId>| vec![UserId(uuid::Uuid::nil()); v.len()];
            let kind = ActivityKind::Assigned {
                added: nil(&added),
                removed: nil(&removed),
            };
            (kind, people, None)
        }
        ActivityKind::Commented { comment_id } => (
            ActivityKind::Commented {
                comment_id: CommentId(uuid::Uuid::nil()),
            },
            Vec::new(),
            comments.get(&comment_id).copied(),
        ),
        other => (other, Vec::new(), None),
    }
}

/// Reads our own export into a plan, matching people by username among the workspace's members.
pub fn plan_own(state: &AppState, access: &Access, doc: &[u8]) -> Result<Plan, OpError> {
    let export: WorkspaceExport = serde_json::from_slice(doc).map_err(|e| {
        OpError::BadRequest(format!(
            "the file is not a VibeBridge workspace export: {e} (line {}, column {}); send the JSON that \
             GET /workspaces/:id/export gave, a Vibe Kanban export ZIP, or a Vibe Kanban db.sqlite",
            e.line(),
            e.column()
        ))
    })?;
    if export.format != EXPORT_FORMAT {
        return Err(OpError::BadRequest(format!(
            "format {:?} is not {EXPORT_FORMAT:?}; send a VibeBridge workspace export",
            export.format
        )));
    }
    if export.version > EXPORT_VERSION {
        return Err(OpError::BadRequest(format!(
            "this export is version {}, newer than this main reads ({EXPORT_VERSION}); upgrade main first",
            export.version
        )));
    }
    let mut people = People::new(state, access);
    if access.is_admin() {
        // The export's members join first (see `add_members`), so they match as people too.
        people.add(state, export.members.iter().map(|m| m.username.as_str()));
    }
    let mut plan = Plan {
        report: ImportReport {
            format: "vibebridge".into(),
            ..Default::default()
        },
        templates: export.templates,
        members: export.members,
        settings: Some(export.settings),
        ..Default::default()
    };
    for p in export.projects {
        let created_by = p
            .created_by
            .as_deref()
            .and_then(|n| people.find(n))
            .unwrap_or(access_user(access));
        plan.projects.push(Project {
            id: ProjectId::new(),
            workspace_id: access.ws.id,
            name: p.name,
            node_id: p.node_id,
            repo_path: p.repo_path,
            base_branch: p.base_branch,
            scripts: p.scripts,
            copy_files: p.copy_files,
            branch_template: p.branch_template,
            created_by,
            created_at: p.created_at,
            updated_at: p.created_at,
        });
    }
    let index: HashMap<u64, usize> = export
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.number, i))
        .collect();
    for t in export.tasks {
        let key = format!("task {}", t.number);
        let assignees = people.all(&t.assignees, &key, &mut plan.report);
        let restricted_to = t
            .restricted_to
            .as_ref()
            .map(|names| people.all(names, &key, &mut plan.report));
        let created_by = t.created_by.as_deref().and_then(|n| people.find(n));
        let comments = t
            .comments
            .into_iter()
            .map(|c| {
                let author = c.author.as_deref().and_then(|n| people.find(n));
                Comment {
                    id: CommentId::new(),
                    task_id: TaskId(uuid::Uuid::nil()),
                    author,
                    author_name: if author.is_none() { c.author } else { None },
                    mentions: Vec::new(),
                    body: c.body,
                    created_at: c.created_at,
                    edited_at: c.edited_at,
                }
            })
            .collect();
        let activity = t
            .activity
            .into_iter()
            .map(|a| {
                let actor = a.actor.as_deref().and_then(|n| people.find(n));
                (
                    a.at,
                    actor,
                    local_kind(a.kind, &a.people, a.comment, &mut people),
                )
            })
            .collect();
        let mut attachments = Vec::new();
        for a in t.attachments {
            match base64::engine::general_purpose::STANDARD.decode(&a.base64) {
                Ok(bytes) => attachments.push((
                    Attachment {
                        id: AttachmentId::new(),
                        task_id: TaskId(uuid::Uuid::nil()),
                        size: bytes.len() as u64,
                        filename: a.filename,
                        content_type: a.content_type,
                        created_at: a.created_at,
                    },
                    bytes,
                )),
                Err(e) => plan.report.skipped.push(SkippedItem {
                    item: format!("{key}: attachment {}", a.filename),
                    reason: format!("its base64 is invalid ({e})"),
                }),
            }
        }
        let parent = t.parent.and_then(|n| index.get(&n).copied());
        if t.parent.is_some() && parent.is_none() {
            plan.report.skipped.push(SkippedItem {
                item: format!("{key}: parent"),
                reason: "the parent task is not in the export; imported without a parent".into(),
            });
        }
        plan.tasks.push(PlannedTask {
            task: Some(Task {
                id: TaskId::new(),
                workspace_id: access.ws.id,
                project_id: None,
                number: 0,
                title: t.title,
                description: t.description,
                status: t.status,
                priority: t.priority,
                assignees,
                labels: t.labels,
                parent: None,
                due: t.due,
                position: t.position,
                created_by,
                created_at: t.created_at,
                updated_at: t.updated_at,
                archived: t.archived,
                restricted_to,
                version: 1,
            }),
            number: Some(t.number),
            parent,
            project: t.project,
            comments,
            activity,
            attachments,
        });
    }
    people.finish(&mut plan.report);
    Ok(plan)
}

fn access_user(access: &Access) -> UserId {
    access
        .ws
        .members
        .iter()
        .find(|m| m.role == WorkspaceRole::Owner)
        .map_or(access.ws.created_by, |m| m.user_id)
}

/// The local form of an exported activity kind.
fn local_kind(
    kind: ActivityKind,
    people_names: &[String],
    comment: Option<usize>,
    people: &mut People,
) -> ActivityKind {
    match kind {
        ActivityKind::Assigned { added, removed } => {
            let mut names = people_names.iter();
            let mut ids = |n: usize| -> Vec<UserId> {
                (0..n)
                    .filter_map(|_| names.next())
                    .map(|name| people.find(name).unwrap_or(UserId(uuid::Uuid::nil())))
                    .collect()
            };
            let added = ids(added.len());
            let removed = ids(removed.len());
            ActivityKind::Assigned { added, removed }
        }
        ActivityKind::Commented { .. } => ActivityKind::Commented {
            comment_id: comment_ref(comment.unwrap_or(usize::MAX >> 1)),
        },
        other => other,
    }
}

/// Matching people named in a file with the workspace's members: by username, full name or email
/// (case-insensitive). Remembers who matched and who did not, for the report.
pub struct People {
    members: Vec<User>,
    matched: Vec<String>,
    unmatched: Vec<String>,
}

impl People {
    /// The workspace's members.
    pub fn new(state: &AppState, access: &Access) -> People {
        let members = access
            .ws
            .members
            .iter()
            .filter_map(|m| state.store.user(m.user_id).ok().flatten())
            .collect();
        People {
            members,
            matched: Vec::new(),
            unmatched: Vec::new(),
        }
    }

    /// Counts the approved users named `usernames` as members too (they are about to join).
    pub fn add<'a>(&mut self, state: &AppState, usernames: impl Iterator<Item = &'a str>) {
        for name in usernames {
            if let Ok(Some(u)) = state.store.user_by_name(name)
                && u.role != crate::store::Role::Pending
                && !u.disabled
                && !self.members.iter().any(|m| m.id == u.id)
            {
                self.members.push(u);
            }
        }
    }

    /// The member named `name`, noting the outcome.
    pub fn find(&mut self, name: &str) -> Option<UserId> {
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        let hit = self.members.iter().find(|u| {
            u.username.eq_ignore_ascii_case(name)
                || u.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
                || u.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(name))
        });
        let list = if hit.is_some() {
            &mut self.matched
        } else {
            &mut self.unmatched
        };
        if !list.iter().any(|n| n == name) {
            list.push(name.to_string());
        }
        hit.map(|u| u.id)
    }

    /// The members among `names`; the others are reported for `item`.
    pub fn all(&mut self, names: &[String], item: &str, report: &mut ImportReport) -> Vec<UserId> {
        let mut out = Vec::new();
        for n in names {
            match self.find(n) {
                Some(id) if !out.contains(&id) => out.push(id),
                Some(_) => {}
                None => report.skipped.push(SkippedItem {
                    item: format!("{item}: {n}"),
                    reason: "no member of this workspace has that name; left unassigned".into(),
                }),
            }
        }
        out
    }

    /// Puts the matched and unmatched names into the report.
    pub fn finish(self, report: &mut ImportReport) {
        report.matched_people = self.matched;
        report.unmatched_people = self.unmatched;
    }
}

/// Adds the export's members who have an account here (an owner only when the importer is one; else admin).
fn add_members(
    state: &AppState,
    who: &User,
    access: &Access,
    members: &[ExportMember],
    report: &mut ImportReport,
) -> Result<(), OpError> {
    let mut added = Vec::new();
    for m in members {
        let user = state
            .store
            .user_by_name(&m.username)?
            .filter(|u| u.role != crate::store::Role::Pending && !u.disabled);
        let Some(user) = user else {
            report.skipped.push(SkippedItem {
                item: format!("member {}", m.username),
                reason: "no approved account with that username here; invite them later".into(),
            });
            continue;
        };
        if access.ws.role_of(user.id).is_some() || user.id == who.id {
            continue;
        }
        let role = if m.role == WorkspaceRole::Owner && access.role < WorkspaceRole::Owner {
            WorkspaceRole::Admin
        } else {
            m.role
        };
        added.push(Member {
            user_id: user.id,
            role,
            added_at: now_ms(),
        });
    }
    if !added.is_empty() {
        state.store.update_workspace(access.ws.id, |ws| {
            for m in added {
                if ws.role_of(m.user_id).is_none() {
                    ws.members.push(m);
                }
            }
            Ok::<_, OpError>(())
        })?;
    }
    Ok(())
}

/// Writes a plan into the workspace (member; projects need admin, or they are skipped).
pub fn apply(
    state: &AppState,
    actor: &Actor,
    who: &User,
    access: &Access,
    mut plan: Plan,
) -> Result<ImportReport, OpError> {
    access.require(WorkspaceRole::Member, "import into it")?;
    let mut report = std::mem::take(&mut plan.report);
    if access.is_admin() {
        add_members(state, who, access, &plan.members, &mut report)?;
        if let Some(settings) = plan.settings.take() {
            state.store.update_workspace(access.ws.id, |ws| {
                let prefix = ws.settings.key_prefix.clone();
                ws.settings = WorkspaceSettings {
                    key_prefix: prefix,
                    ..settings
                };
                Ok::<_, OpError>(())
            })?;
        }
    } else if !plan.members.is_empty() || plan.settings.is_some() {
        report.skipped.push(SkippedItem {
            item: "members and settings".into(),
            reason: "only a workspace admin can import them".into(),
        });
    }
    // Projects.
    let mut project_ids: Vec<Option<ProjectId>> = Vec::new();
    for mut p in plan.projects {
        if !access.is_admin() {
            report.skipped.push(SkippedItem {
                item: format!("project {}", p.name),
                reason: "only a workspace admin can import projects".into(),
            });
            project_ids.push(None);
            continue;
        }
        p.id = ProjectId::new();
        p.workspace_id = access.ws.id;
        state.store.create_project(&p)?;
        project_ids.push(Some(p.id));
        report.created.projects += 1;
    }
    for t in plan.templates {
        if access.is_admin() {
            state
                .store
                .set_prompt_template(access.ws.id, &t.name, Some(t.body))?;
        } else {
            report.skipped.push(SkippedItem {
                item: format!("template @{}", t.name),
                reason: "only a workspace admin can import templates".into(),
            });
        }
    }
    // Numbers: the source's, after the workspace's own; or the next free ones.
    let ws = state
        .store
        .workspace(access.ws.id)?
        .ok_or_else(|| OpError::NotFound(format!("no workspace {}", access.ws.id)))?;
    let offset = ws.next_number - 1;
    let mut next_free = ws.next_number
        + plan
            .tasks
            .iter()
            .filter_map(|t| t.number)
            .max()
            .unwrap_or(0);
    let ids: Vec<TaskId> = plan.tasks.iter().map(|_| TaskId::new()).collect();
    let mut tasks = Vec::with_capacity(plan.tasks.len());
    let mut last_position: HashMap<TaskStatus, Option<String>> = HashMap::new();
    for (i, planned) in plan.tasks.iter_mut().enumerate() {
        let Some(mut task) = planned.task.take() else {
            continue;
        };
        task.id = ids[i];
        task.workspace_id = access.ws.id;
        task.number = match planned.number {
            Some(n) => n + offset,
            None => {
                next_free += 1;
                next_free - 1
            }
        };
        task.parent = planned.parent.map(|p| ids[p]);
        task.project_id = planned
            .project
            .and_then(|p| project_ids.get(p).copied().flatten());
        if task.position.is_empty() || super::rank::validate(&task.position).is_err() {
            let last = match last_position.get(&task.status) {
                Some(p) => p.clone(),
                None => state
                    .store
                    .column(access.ws.id, task.status, None, usize::MAX)?
                    .last()
                    .map(|t| t.position.clone()),
            };
            task.position = super::rank::between(last.as_deref(), None)
                .map_err(|e| OpError::Internal(anyhow::anyhow!("position: {e}")))?;
            last_position.insert(task.status, Some(task.position.clone()));
        }
        task.version = 1;
        tasks.push(task);
    }
    let max_number = tasks.iter().map(|t| t.number).max().unwrap_or(0);
    state.store.update_workspace(access.ws.id, |ws| {
        ws.next_number = ws.next_number.max(max_number + 1);
        Ok::<_, OpError>(())
    })?;
    state.store.insert_tasks(&tasks)?;
    report.created.tasks = tasks.len();
    for (i, planned) in plan.tasks.into_iter().enumerate() {
        let task_id = ids[i];
        let mut comment_ids = Vec::new();
        for mut c in planned.comments {
            c.task_id = task_id;
            comment_ids.push(c.id);
            state.store.put_comment(access.ws.id, &c, false)?;
            report.created.comments += 1;
        }
        let actors: Vec<Option<UserId>> = planned.activity.iter().map(|(_, a, _)| *a).collect();
        let entries: Vec<(Option<u64>, ActivityKind)> = planned
            .activity
            .into_iter()
            .map(|(at, _, kind)| {
                let kind = match kind {
                    ActivityKind::Commented { comment_id } => {
                        let index = comment_id.0.as_u128() as usize;
                        match comment_ids.get(index) {
                            Some(id) => ActivityKind::Commented { comment_id: *id },
                            None => ActivityKind::Commented { comment_id },
                        }
                    }
                    other => other,
                };
                (Some(at), kind)
            })
            .collect();
        report.created.activity += entries.len();
        for ((at, kind), actor) in entries.into_iter().zip(actors) {
            state
                .store
                .append_activity(access.ws.id, task_id, actor, vec![(at, kind)], false)?;
        }
        for (mut a, bytes) in planned.attachments {
            a.task_id = task_id;
            state.store.put_attachment(&a, &bytes)?;
            report.created.attachments += 1;
        }
    }
    state.store.flush_notes()?;
    state.store.audit(
        actor
            .audit(AuditAction::WorkspaceImported)
            .target(access.ws.id.to_string())
            .detail(format!(
                "{}: {} tasks, {} projects, {} skipped, by {}",
                report.format,
                report.created.tasks,
                report.created.projects,
                report.skipped.len(),
                who.username
            )),
    );
    Ok(report)
}

/// The largest file an import takes.
pub const MAX_IMPORT_BYTES: usize = 512 * 1024 * 1024;

/// Imports a file into the workspace, telling its format by its first bytes: a ZIP is a Vibe Kanban cloud
/// export, a SQLite file a Vibe Kanban local database, anything else our own JSON export.
pub async fn import(
    state: &AppState,
    actor: &Actor,
    who: &User,
    access: &Access,
    bytes: bytes::Bytes,
) -> Result<ImportReport, OpError> {
    access.require(WorkspaceRole::Member, "import into it")?;
    let bad = |e: crate::import::vibe_kanban::ImportError| OpError::BadRequest(format!("{e}"));
    let plan = if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        let export = tokio::task::spawn_blocking(move || {
            crate::import::vibe_kanban::read_cloud_export(&bytes, Default::default())
        })
        .await
        .map_err(|e| OpError::Internal(e.into()))?
        .map_err(bad)?;
        super::import_vk::plan_cloud(state, access, export)
    } else if bytes.starts_with(b"SQLite format 3\0") {
        let export = tokio::task::spawn_blocking(move || {
            crate::import::vibe_kanban_local::read_local_db(&bytes, Default::default())
        })
        .await
        .map_err(|e| OpError::Internal(e.into()))?
        .map_err(bad)?;
        super::import_vk::plan_local(access, export)
    } else {
        plan_own(state, access, &bytes)?
    };
    apply(state, actor, who, access, plan)
}

//! Writing a workspace out as one [`WorkspaceExport`].

use std::collections::HashMap;

use base64::Engine;

use super::{
    EXPORT_FORMAT, EXPORT_VERSION, ExportActivity, ExportAttachment, ExportComment, ExportMember,
    ExportProject, ExportTask, WorkspaceExport,
};
use crate::ops::workspaces::Access;
use crate::ops::{Actor, OpError};
use crate::state::AppState;
use crate::store::{ActivityKind, AuditAction, CommentId, ProjectId, TaskId, User, UserId};

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

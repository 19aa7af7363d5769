//! Reading our own export back into a [`Plan`].

use std::collections::HashMap;

use base64::Engine;

use super::{
    EXPORT_FORMAT, EXPORT_VERSION, ImportReport, People, Plan, PlannedTask, SkippedItem,
    WorkspaceExport, comment_ref,
};
use crate::ops::OpError;
use crate::ops::workspaces::Access;
use crate::state::AppState;
use crate::store::{
    ActivityKind, Attachment, AttachmentId, Comment, CommentId, Project, ProjectId, Task, TaskId,
    UserId, WorkspaceRole,
};

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
    let trusted = access.is_admin();
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
            github_repo: None,
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
        // Authorship is taken from the file only from an admin: a member's file cannot make a comment or a
        // task look written by someone else (their names stay, as text).
        let created_by = t
            .created_by
            .as_deref()
            .filter(|_| trusted)
            .and_then(|n| people.find(n));
        let comments = t
            .comments
            .into_iter()
            .map(|c| {
                let author = c
                    .author
                    .as_deref()
                    .filter(|_| trusted)
                    .and_then(|n| people.find(n));
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
                let actor = a
                    .actor
                    .as_deref()
                    .filter(|_| trusted)
                    .and_then(|n| people.find(n));
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

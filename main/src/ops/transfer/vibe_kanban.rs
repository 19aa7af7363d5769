//! Vibe Kanban's data onto a workspace: its cloud export ZIP and its local database, read by
//! [`crate::import`], become a [`Plan`]. Statuses map by name (the workspace's own names count too); people
//! by display name, username or email among the workspace's members; its projects become labels (a
//! VibeBridge project is a repository on a node, which the file does not name), reported so someone can
//! create the project; what has no field here (start and completion dates, the original issue id, attempts)
//! becomes an activity note. Nothing is dropped without a line in the report.

use std::collections::HashMap;

use super::{People, Plan, PlannedTask, SkippedItem};
use crate::import::vibe_kanban::{self as vk, CloudExport};
use crate::import::vibe_kanban_local::{LocalExport, LocalStatus};
use crate::ops::workspaces::Access;
use crate::state::AppState;
use crate::store::{
    ActivityKind, Attachment, AttachmentId, Priority, Task, TaskId, TaskStatus, now_ms,
};

/// The report's `format` for a cloud export.
pub const CLOUD: &str = "vibe_kanban_zip";
/// The report's `format` for a local database.
pub const LOCAL: &str = "vibe_kanban_db";
const SOURCE: &str = "Vibe Kanban";

/// A status named `name` in Vibe Kanban (its defaults, or this workspace's names), case-insensitive.
pub fn status_by_name(access: &Access, name: &str) -> Option<TaskStatus> {
    let n = name.trim().to_lowercase();
    let builtin = match n.as_str() {
        "backlog" => Some(TaskStatus::Backlog),
        "to do" | "todo" => Some(TaskStatus::Todo),
        "in progress" | "inprogress" => Some(TaskStatus::InProgress),
        "in review" | "inreview" => Some(TaskStatus::InReview),
        "done" => Some(TaskStatus::Done),
        "cancelled" | "canceled" => Some(TaskStatus::Cancelled),
        _ => None,
    };
    builtin.or_else(|| {
        TaskStatus::ALL
            .into_iter()
            .find(|s| access.ws.settings.status_name(*s).to_lowercase() == n)
    })
}

/// Milliseconds of an RFC 3339 time (the readers give RFC 3339 or nothing).
fn ms(t: Option<&String>) -> Option<u64> {
    let t = chrono::DateTime::parse_from_rfc3339(t?).ok()?;
    u64::try_from(t.timestamp_millis()).ok()
}

fn note(note: String) -> ActivityKind {
    ActivityKind::Imported {
        source: SOURCE.into(),
        note,
    }
}

fn draft(access: &Access, title: String, description: String, status: TaskStatus) -> Task {
    Task {
        description,
        ..Task::draft(access.ws.id, title, status)
    }
}

/// A cloud export as a plan.
pub fn plan_cloud(state: &AppState, access: &Access, export: CloudExport) -> Plan {
    let mut plan = Plan::default();
    plan.report.format = CLOUD.into();
    let mut people = People::new(state, access);
    // users.csv gives each display name an email, which may match where the name does not.
    let emails: HashMap<String, String> = export
        .users
        .iter()
        .map(|u| (u.name.clone(), u.email.clone()))
        .collect();
    let find = |people: &mut People, name: &str| {
        people.find_or(name, emails.get(name).map(String::as_str))
    };
    for p in &export.projects {
        plan.report.skipped.push(SkippedItem {
            item: format!("project {}", p.name),
            reason: format!(
                "a Vibe Kanban project names no repository; its issues carry the label {:?}. Create a \
                 project on the node that has its repository, then set it on those tasks",
                p.name
            ),
        });
    }
    // Issue ids are unique per project only.
    let index: HashMap<(String, String), usize> = export
        .issues
        .iter()
        .enumerate()
        .map(|(i, is)| ((is.project.clone(), is.id.clone()), i))
        .collect();
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, is) in export.issues.iter().enumerate() {
        by_id.entry(is.id.as_str()).or_default().push(i);
    }
    let now = now_ms();
    for issue in &export.issues {
        let item = format!("{} ({})", issue.id, issue.project);
        let status = if issue.status.trim().is_empty() {
            TaskStatus::Backlog
        } else {
            status_by_name(access, &issue.status).unwrap_or_else(|| {
                plan.report.skipped.push(SkippedItem {
                    item: format!("{item}: status"),
                    reason: format!(
                        "no status here is called {:?}; imported as To do",
                        issue.status
                    ),
                });
                TaskStatus::Todo
            })
        };
        let mut task = draft(
            access,
            issue.title.clone(),
            issue.description.clone(),
            status,
        );
        task.priority = match issue.priority {
            Some(vk::Priority::Urgent) => Priority::Urgent,
            Some(vk::Priority::High) => Priority::High,
            Some(vk::Priority::Medium) => Priority::Medium,
            Some(vk::Priority::Low) => Priority::Low,
            None => Priority::None,
        };
        if !issue.project.is_empty() {
            task.labels.push(issue.project.chars().take(40).collect());
        }
        let mut activity = vec![note(format!(
            "imported from Vibe Kanban issue {} of project {:?}",
            issue.id, issue.project
        ))];
        for name in &issue.assignees {
            match find(&mut people, name) {
                Some(id) if !task.assignees.contains(&id) => task.assignees.push(id),
                Some(_) => {}
                None => {
                    activity.push(note(format!(
                        "was assigned to {name}, who has no account here"
                    )));
                    plan.report.skipped.push(SkippedItem {
                        item: format!("{item}: assignee {name}"),
                        reason: "no member of this workspace has that name; left unassigned".into(),
                    });
                }
            }
        }
        if !issue.creator.is_empty() {
            task.created_by = find(&mut people, &issue.creator);
            if task.created_by.is_none() {
                activity.push(note(format!("created by {}", issue.creator)));
            }
        }
        task.created_at = ms(issue.created.as_ref()).unwrap_or(now);
        task.updated_at = ms(issue.updated.as_ref()).unwrap_or(task.created_at);
        if let Some(due) = &issue.due {
            match crate::ops::tasks::check_due(due.clone()) {
                Ok(d) => task.due = Some(d),
                Err(_) => plan.report.skipped.push(SkippedItem {
                    item: format!("{item}: due date"),
                    reason: format!("{due:?} is not a date"),
                }),
            }
        }
        if let Some(start) = &issue.start {
            activity.push(note(format!("started {start}")));
        }
        if let Some(done) = &issue.completed {
            activity.push(note(format!("completed {done}")));
        }
        let parent = issue.parent.as_ref().and_then(|p| {
            let found = index.get(&(issue.project.clone(), p.clone())).copied();
            if found.is_none() {
                plan.report.skipped.push(SkippedItem {
                    item: format!("{item}: parent {p}"),
                    reason: "the parent issue is not in the export; imported without a parent"
                        .into(),
                });
            }
            found
        });
        let at = task.created_at;
        plan.tasks.push(PlannedTask {
            task: Some(task),
            parent,
            activity: activity.into_iter().map(|k| (at, None, k)).collect(),
            ..Default::default()
        });
    }
    for a in export.attachments {
        let item = format!("{}: attachment {}", a.issue, a.filename);
        let Some(bytes) = a.bytes else {
            plan.report.skipped.push(SkippedItem {
                item,
                reason: "listed in attachments.csv but missing from the archive".into(),
            });
            continue;
        };
        let target = match by_id.get(a.issue.as_str()).map(Vec::as_slice) {
            Some([one]) => *one,
            Some(_) => {
                plan.report.skipped.push(SkippedItem {
                    item,
                    reason:
                        "several projects have an issue with that id, and attachments.csv does not \
                             say which; not imported"
                            .into(),
                });
                continue;
            }
            None => {
                plan.report.skipped.push(SkippedItem {
                    item,
                    reason: "no issue with that id in issues.csv".into(),
                });
                continue;
            }
        };
        let content_type = if a.content_type.is_empty() {
            "application/octet-stream".into()
        } else {
            a.content_type
        };
        plan.tasks[target].attachments.push((
            Attachment {
                id: AttachmentId::new(),
                task_id: TaskId(uuid::Uuid::nil()),
                filename: a.filename,
                content_type,
                size: bytes.len() as u64,
                created_at: now,
            },
            bytes,
        ));
    }
    people.finish(&mut plan.report);
    plan
}

/// A local database as a plan.
pub fn plan_local(access: &Access, export: LocalExport) -> Plan {
    let mut plan = Plan::default();
    plan.report.format = LOCAL.into();
    let names: HashMap<uuid::Uuid, &str> = export
        .projects
        .iter()
        .map(|p| (p.id, p.name.as_str()))
        .collect();
    for p in &export.projects {
        let repo = p
            .git_repo_path
            .as_deref()
            .map(|r| format!(" (its repository was {r})"))
            .unwrap_or_default();
        plan.report.skipped.push(SkippedItem {
            item: format!("project {}", p.name),
            reason: format!(
                "imported as the label {:?} on its tasks{repo}; create a project on the node that has the \
                 repository, then set it on those tasks",
                p.name
            ),
        });
    }
    let index: HashMap<uuid::Uuid, usize> = export
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id, i))
        .collect();
    let mut attempts: HashMap<uuid::Uuid, Vec<String>> = HashMap::new();
    for a in &export.attempts {
        let mut line = String::from("attempt");
        if let Some(e) = &a.executor {
            line.push_str(&format!(" with {e}"));
        }
        if let Some(b) = a.branch.as_deref().filter(|b| !b.is_empty()) {
            line.push_str(&format!(" on branch {b}"));
        }
        if let Some(t) = &a.created_at {
            line.push_str(&format!(", started {t}"));
        }
        attempts.entry(a.task_id).or_default().push(line);
    }
    let orphans = export
        .attempts
        .iter()
        .filter(|a| !index.contains_key(&a.task_id))
        .count();
    if orphans > 0 {
        plan.report.skipped.push(SkippedItem {
            item: format!("{orphans} attempts"),
            reason: "their task is no longer in the database".into(),
        });
    }
    let now = now_ms();
    for t in &export.tasks {
        let status = match t.status {
            LocalStatus::Todo => TaskStatus::Todo,
            LocalStatus::InProgress => TaskStatus::InProgress,
            LocalStatus::InReview => TaskStatus::InReview,
            LocalStatus::Done => TaskStatus::Done,
            LocalStatus::Cancelled => TaskStatus::Cancelled,
        };
        let mut task = draft(access, t.title.clone(), t.description.clone(), status);
        match names.get(&t.project_id) {
            Some(name) => task.labels.push(name.chars().take(40).collect()),
            None => plan.report.skipped.push(SkippedItem {
                item: format!("task {:?}: project", t.title),
                reason: "its project is no longer in the database; imported without a label".into(),
            }),
        }
        task.created_at = ms(t.created_at.as_ref()).unwrap_or(now);
        task.updated_at = ms(t.updated_at.as_ref()).unwrap_or(task.created_at);
        let mut activity = vec![note(format!("imported from Vibe Kanban task {}", t.id))];
        activity.extend(
            attempts
                .remove(&t.id)
                .unwrap_or_default()
                .into_iter()
                .map(note),
        );
        let at = task.created_at;
        plan.tasks.push(PlannedTask {
            task: Some(task),
            parent: t.parent_task.and_then(|p| index.get(&p).copied()),
            activity: activity.into_iter().map(|k| (at, None, k)).collect(),
            ..Default::default()
        });
    }
    plan
}

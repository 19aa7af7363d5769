//! The board and the list view: a workspace's tasks as `who` may see them, in column order, filtered by
//! text, assignee, label, priority and project, a page per column.

use serde::{Deserialize, Serialize};

use super::OpError;
use super::tasks::{DEFAULT_PAGE, MAX_PAGE, TaskView, view};
use super::workspaces::Access;
use crate::state::AppState;
use crate::store::{Cursor, Priority, ProjectId, Task, TaskId, TaskStatus, User, UserId};

/// Filters of the board and the list (all optional; all given must match).
#[derive(Debug, Default, Clone, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct BoardQuery {
    /// Words that must all appear in the key, title, description or labels (case-insensitive).
    #[ts(optional)]
    pub q: Option<String>,
    /// An assignee's username, or `none` for unassigned tasks.
    #[ts(optional)]
    pub assignee: Option<String>,
    /// A label.
    #[ts(optional)]
    pub label: Option<String>,
    /// A priority.
    #[ts(optional)]
    pub priority: Option<Priority>,
    /// A project.
    #[ts(optional)]
    pub project: Option<ProjectId>,
    /// One column only (for the next page of a column).
    #[ts(optional)]
    pub status: Option<TaskStatus>,
    /// Continue a column after this cursor (from `next`).
    #[ts(optional)]
    pub after: Option<String>,
    /// Tasks per column (default 50, at most 500).
    #[ts(optional)]
    pub limit: Option<usize>,
}

/// One column of the board.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct Column {
    /// Its status.
    pub status: TaskStatus,
    /// What the workspace calls it.
    pub name: String,
    /// The page of tasks, in order.
    pub tasks: Vec<TaskView>,
    /// Tasks in the column (before filters and access).
    pub total: u32,
    /// Cursor of the next page (`after`), when there is one.
    #[ts(optional)]
    pub next: Option<String>,
}

/// `GET /workspaces/:id/board`.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct Board {
    /// Columns in board order (or the one asked for).
    pub columns: Vec<Column>,
}

/// The matcher of a query.
struct Filter {
    words: Vec<String>,
    assignee: Option<Option<UserId>>,
    label: Option<String>,
    priority: Option<Priority>,
    project: Option<ProjectId>,
    viewer: UserId,
    admin: bool,
}

impl Filter {
    fn new(state: &AppState, who: &User, access: &Access, q: &BoardQuery) -> Result<Self, OpError> {
        let assignee = match q.assignee.as_deref() {
            None | Some("") => None,
            Some("none") => Some(None),
            Some(name) => Some(Some(
                super::users::find(state, name)
                    .map(|u| u.id)
                    .map_err(|_| OpError::BadRequest(format!("no user {name:?} to filter by")))?,
            )),
        };
        Ok(Filter {
            words: q
                .q
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_lowercase)
                .collect(),
            assignee,
            label: q.label.clone().filter(|l| !l.is_empty()),
            priority: q.priority,
            project: q.project,
            viewer: who.id,
            admin: access.is_admin(),
        })
    }

    fn matches(&self, key: &str, t: &Task) -> bool {
        if !t.visible_to(self.viewer, self.admin) {
            return false;
        }
        let assignee_ok = match self.assignee {
            None => true,
            Some(None) => t.assignees.is_empty(),
            Some(Some(u)) => t.assignees.contains(&u),
        };
        let words_ok = self.words.is_empty() || {
            let hay = format!("{key} {} {} {}", t.title, t.description, t.labels.join(" "))
                .to_lowercase();
            self.words.iter().all(|w| hay.contains(w.as_str()))
        };
        assignee_ok
            && words_ok
            && self.label.as_ref().is_none_or(|l| t.labels.contains(l))
            && self.priority.is_none_or(|p| t.priority == p)
            && self.project.is_none_or(|p| t.project_id == Some(p))
    }
}

/// The board: a page of each column (or of `q.status` after `q.after`).
pub fn board(
    state: &AppState,
    who: &User,
    access: &Access,
    q: &BoardQuery,
) -> Result<Board, OpError> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let filter = Filter::new(state, who, access, q)?;
    let cursor = q.after.as_deref().map(parse_cursor).transpose()?;
    if cursor.is_some() && q.status.is_none() {
        return Err(OpError::BadRequest(
            "`after` continues one column: give its `status` too".into(),
        ));
    }
    let statuses: Vec<TaskStatus> = match q.status {
        Some(s) => vec![s],
        None => TaskStatus::ALL.to_vec(),
    };
    // The columns are read side by side: on PostgreSQL each is a few round trips, which then overlap.
    let pages = std::thread::scope(|s| {
        let readers: Vec<_> = statuses
            .iter()
            .map(|&status| {
                let (filter, cursor) = (&filter, cursor.clone());
                s.spawn(move || {
                    let total = state.store.column_len(access.ws.id, status);
                    page(state, access, filter, status, cursor, limit).map(|p| (p, total))
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|r| {
                r.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect::<Vec<_>>()
    });
    let mut columns = Vec::with_capacity(statuses.len());
    for (status, read) in statuses.into_iter().zip(pages) {
        let ((tasks, next), total) = read?;
        columns.push(Column {
            status,
            name: access.ws.settings.status_name(status).to_string(),
            tasks,
            total: u32::try_from(total).unwrap_or(u32::MAX),
            next,
        });
    }
    Ok(Board { columns })
}

/// Up to `limit` matching tasks of a column after `cursor`, and the cursor of the next page.
fn page(
    state: &AppState,
    access: &Access,
    filter: &Filter,
    status: TaskStatus,
    mut cursor: Option<Cursor>,
    limit: usize,
) -> Result<(Vec<TaskView>, Option<String>), OpError> {
    let mut out = Vec::with_capacity(limit);
    loop {
        // Read a little more than needed, so a filter that skips some rarely needs a second read.
        let batch = state
            .store
            .column(access.ws.id, status, cursor.as_ref(), limit + 1)?;
        let exhausted = batch.len() <= limit;
        for task in batch {
            if out.len() == limit {
                // There is at least one more task after the page.
                let last = cursor.as_ref().map(format_cursor);
                return Ok((super::tasks::views(state, access, out), last));
            }
            cursor = Some((task.position.clone(), task.id));
            if filter.matches(&access.ws.task_key(task.number), &task) {
                out.push(task);
            }
        }
        if exhausted {
            return Ok((super::tasks::views(state, access, out), None));
        }
    }
}

/// The list view: every matching task (archived ones when `archived`), in board order, `offset`/`limit`.
pub fn list(
    state: &AppState,
    who: &User,
    access: &Access,
    q: &BoardQuery,
    archived: bool,
    offset: usize,
) -> Result<(Vec<TaskView>, usize), OpError> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let filter = Filter::new(state, who, access, q)?;
    let tasks: Vec<Task> = if archived {
        state.store.archived_tasks(access.ws.id)?
    } else {
        let mut all = Vec::new();
        for status in TaskStatus::ALL {
            if q.status.is_some_and(|s| s != status) {
                continue;
            }
            all.extend(state.store.column(access.ws.id, status, None, usize::MAX)?);
        }
        all
    };
    let matching: Vec<Task> = tasks
        .into_iter()
        .filter(|t| filter.matches(&access.ws.task_key(t.number), t))
        .collect();
    let total = matching.len();
    let page = matching
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|t| view(state, access, t))
        .collect();
    Ok((page, total))
}

fn format_cursor((pos, id): &Cursor) -> String {
    format!("{pos}.{id}")
}

fn parse_cursor(s: &str) -> Result<Cursor, OpError> {
    s.split_once('.')
        .and_then(|(pos, id)| {
            crate::store::rank::validate(pos).ok()?;
            Some((pos.to_string(), TaskId::parse(id)?))
        })
        .ok_or_else(|| {
            OpError::BadRequest(format!(
                "after {s:?} is not a cursor; pass the `next` of the previous page as it was"
            ))
        })
}

//! A task's fields as main accepts them (title, description, labels, due date, the people named) and the
//! activity entries a change makes of them.

use super::OpError;
use super::workspaces::{Access, check_name};
use crate::state::AppState;
use crate::store::{ActivityKind, Task, UserId};

/// The activity entries `old` → `new` makes.
pub fn diff(old: &Task, new: &Task) -> Vec<(Option<u64>, ActivityKind)> {
    let mut out = Vec::new();
    if old.status != new.status {
        out.push(ActivityKind::Moved {
            from: old.status,
            to: new.status,
        });
    }
    if old.assignees != new.assignees {
        let added: Vec<UserId> = new
            .assignees
            .iter()
            .filter(|u| !old.assignees.contains(u))
            .copied()
            .collect();
        let removed: Vec<UserId> = old
            .assignees
            .iter()
            .filter(|u| !new.assignees.contains(u))
            .copied()
            .collect();
        if !added.is_empty() || !removed.is_empty() {
            out.push(ActivityKind::Assigned { added, removed });
        }
    }
    if old.archived != new.archived {
        out.push(ActivityKind::Archived {
            archived: new.archived,
        });
    }
    let mut fields = Vec::new();
    let pairs: [(&str, bool); 8] = [
        ("title", old.title != new.title),
        ("description", old.description != new.description),
        ("priority", old.priority != new.priority),
        ("labels", old.labels != new.labels),
        ("parent", old.parent != new.parent),
        ("due", old.due != new.due),
        ("project", old.project_id != new.project_id),
        ("access", old.restricted_to != new.restricted_to),
    ];
    for (name, changed) in pairs {
        if changed {
            fields.push(name.to_string());
        }
    }
    if !fields.is_empty() {
        out.push(ActivityKind::Edited { fields });
    }
    out.into_iter().map(|k| (None, k)).collect()
}

/// The user ids of members named by username (or id); a name that is not a member is refused.
pub fn members(
    state: &AppState,
    access: &Access,
    names: Vec<String>,
) -> Result<Vec<UserId>, OpError> {
    if names.len() > 50 {
        return Err(OpError::BadRequest("name at most 50 people".into()));
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let user = super::users::find(state, name.trim_start_matches('@'))
            .ok()
            .filter(|u| access.ws.role_of(u.id).is_some())
            .ok_or_else(|| {
                OpError::BadRequest(format!(
                    "{name:?} is not a member of workspace {:?}; invite them first",
                    access.ws.name
                ))
            })?;
        if !out.contains(&user.id) {
            out.push(user.id);
        }
    }
    Ok(out)
}

pub(super) fn check_description(d: String) -> Result<String, OpError> {
    if d.len() > 200_000 {
        return Err(OpError::BadRequest(
            "description is over 200,000 bytes; attach long material as a file instead".into(),
        ));
    }
    Ok(d)
}

pub(super) fn check_labels(labels: Vec<String>) -> Result<Vec<String>, OpError> {
    if labels.len() > 20 {
        return Err(OpError::BadRequest("a task takes at most 20 labels".into()));
    }
    let mut out: Vec<String> = Vec::with_capacity(labels.len());
    for l in labels {
        let l = check_name("label", &l, 40)?;
        if !out.contains(&l) {
            out.push(l);
        }
    }
    Ok(out)
}

/// A `YYYY-MM-DD` date (an RFC 3339 time is cut to its date).
pub fn check_due(d: String) -> Result<String, OpError> {
    let day = d.get(..10).unwrap_or(&d);
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map(|date| date.format("%Y-%m-%d").to_string())
        .map_err(|_| OpError::BadRequest(format!("due {d:?} is not a date; write YYYY-MM-DD")))
}

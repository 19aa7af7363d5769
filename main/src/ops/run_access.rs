//! Who may see and steer a run's session: the run's workspace decides, not the session's owner. Kept apart
//! from [`super::runs`] so the session operations can ask it without depending on the runs they serve.

use uuid::Uuid;

use super::workspaces::Access;
use crate::state::AppState;
use crate::store::{Run, Task, User, WorkspaceRole};

/// Whether `who` may see a session through the run it belongs to: a member of the run's workspace who may
/// see its task.
pub fn can_see_session(state: &AppState, who: &User, session: Uuid) -> bool {
    let Ok(Some(run)) = state.store.run_of_session(session) else {
        return false;
    };
    readable(state, who, &run).is_some()
}

/// Whether `who` may steer a session through its run (follow-ups, approvals, stop): a member of the
/// workspace who may use the run's node.
pub fn can_steer_session(state: &AppState, who: &User, session: Uuid) -> bool {
    let Ok(Some(run)) = state.store.run_of_session(session) else {
        return false;
    };
    match readable(state, who, &run) {
        Some((access, _)) => access.role >= WorkspaceRole::Member && node_usable(state, who, &run),
        None => false,
    }
}

fn node_usable(state: &AppState, who: &User, run: &Run) -> bool {
    matches!(state.store.node(&run.node_id), Ok(Some(node)) if super::nodes::user_can_see(who, &node))
}

/// The workspace access and task of a run `who` may read.
pub(crate) fn readable(state: &AppState, who: &User, run: &Run) -> Option<(Access, Task)> {
    let access = super::workspaces::access(state, who, &run.workspace_id.to_string()).ok()?;
    let task = state.store.task(run.task_id).ok()??;
    task.visible_to(who.id, access.is_admin())
        .then_some((access, task))
}

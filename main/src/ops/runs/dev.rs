//! A run's dev server: a member allowed on the run's node starts and stops it (`POST /runs/:id/dev`). The
//! node runs the project's `dev` script (as it was when the run started) in the run's work tree, with the
//! run's environment (`VB_PORT`…), as one more execution process of the run (`devserver`), beside the
//! agent's turns and until it is stopped; its process and output come back as the session's events.

use serde::Deserialize;
use vibebridge_tunnel::session::SessionCommand;

use super::visible;
use crate::ops::{Actor, OpError, sessions};
use crate::state::AppState;
use crate::store::{AuditAction, Run, User, WorkspaceRole};

/// Body of `POST /runs/:id/dev`.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct DevServerRequest {
    /// Start the dev server (refused while it runs), or stop it (refused when it does not run).
    pub start: bool,
}

/// Starts or stops the run's dev server; the run.
pub async fn dev_server(
    state: &AppState,
    actor: &Actor,
    who: &User,
    id: &str,
    req: DevServerRequest,
) -> Result<Run, OpError> {
    let (access, task, run) = visible(state, who, id)?;
    access.require(WorkspaceRole::Member, "start or stop dev servers")?;
    let session = super::steerable_session(
        state,
        who,
        &run,
        "the run has not started yet; its dev server can run once its work tree is ready",
    )?;
    sessions::command(
        state,
        &session,
        SessionCommand::DevServer { start: req.start },
    )
    .await?;
    state.store.audit(
        actor
            .audit(AuditAction::RunDevServer)
            .target(access.ws.task_key(task.number))
            .detail(format!(
                "{} the dev server of {}",
                if req.start { "started" } else { "stopped" },
                run.id
            )),
    );
    Ok(run)
}

//! Starting a run's session: the directory main names resolved inside the roots, and the run's work tree
//! prepared (on a blocking thread: git and file copies) with a port no other live run of the node has.

use std::path::PathBuf;

use vibebridge_tunnel::reply::ErrorCode;
use vibebridge_tunnel::run::{RunMode, RunSpec};
use vibebridge_tunnel::session::{SessionReply, SessionStatus};

use super::Sessions;
use super::run_hooks::RunState;
use crate::roots::{PathError, resolve_dir};

impl Sessions {
    /// A directory main named, resolved inside the roots, or the refusal to send.
    pub(super) fn resolve(&self, path: &str) -> Result<PathBuf, SessionReply> {
        resolve_dir(
            &self.inner.config.filesystem.roots,
            &self.inner.config.filesystem.protected,
            path,
        )
        .map_err(|e| match e {
            e @ PathError::OutsideRoots(_) => {
                SessionReply::err(ErrorCode::PathOutsideRoots, e.to_string())
            }
            e @ PathError::Protected(_) => SessionReply::err(e.code(), e.to_string()),
            e => SessionReply::err(ErrorCode::PathNotFound, e.to_string()),
        })
    }

    /// Prepares a run's work tree in the project's working copy `repo`, with a port no other live run of this
    /// node has.
    pub(super) async fn prepare_run(
        &self,
        spec: RunSpec,
        repo: &std::path::Path,
    ) -> Result<RunState, SessionReply> {
        if self.inner.config.filesystem.read_only {
            return Err(SessionReply::err(
                ErrorCode::ReadOnly,
                "this node is read-only (filesystem.read_only = true): runs cannot work here",
            ));
        }
        // An adopted worktree is named by path: it must lie inside the roots like any other path.
        if let RunMode::Existing { path: Some(p), .. } = &spec.mode {
            self.resolve(p)?;
        }
        let taken: Vec<u16> = self
            .inner
            .store
            .all_meta()
            .map(|all| {
                all.iter()
                    .filter(|m| m.status.is_live() || m.status == SessionStatus::Interrupted)
                    .filter_map(|m| m.run.as_ref().map(|r| r.prepared.port))
                    .collect()
            })
            .unwrap_or_default();
        let root = self.inner.config.worktrees_root();
        let (repo, spec2) = (repo.to_path_buf(), spec.clone());
        let prepared = tokio::task::spawn_blocking(move || {
            crate::runs::prepare(&spec2, &repo, &root, &|port| taken.contains(&port))
        })
        .await
        .map_err(|e| SessionReply::err(ErrorCode::Internal, format!("preparing the run: {e}")))?
        .map_err(|e| SessionReply::err(e.code(), e.message().to_string()))?;
        Ok(RunState {
            spec,
            prepared,
            setup_done: false,
            processes: 0,
            turns: 0,
            open: Vec::new(),
            open_kinds: Default::default(),
            dev: None,
        })
    }
}

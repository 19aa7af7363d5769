//! A run's dev server: the project's `dev` script, started and stopped on request (the `dev_server` session
//! command) as a numbered `devserver` process of the run, its output streamed as `process_output` events.
//!
//! It runs beside the agent's turns, never holding up the turn loop, whether or not the CLI runs, with no
//! time limit: until it exits, a person stops it, the session is stopped or the agent shuts down. Then its
//! whole process group gets SIGTERM, then SIGKILL, and its end is recorded as `killed` with the reason.
//! While it runs the session's log counts as serving (see [`SessionLog::serving`]), so main's attach
//! stream stays open and its output reaches main even when no CLI runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;
use vibebridge_tunnel::reply::ErrorCode;
use vibebridge_tunnel::session::{SessionOk, SessionReply};

use super::log::SessionLog;
use super::run_hooks::RunHooks;
use super::store::SessionMeta;
use super::{Sessions, lock};
use crate::runs::script::Stop;

/// The dev servers running on this node, by session.
#[derive(Default)]
pub(super) struct DevServers(Mutex<HashMap<Uuid, Running>>);

/// One running dev server.
struct Running {
    stop: Arc<Stop>,
    /// Cancelled once its end is recorded.
    ended: CancellationToken,
}

impl DevServers {
    /// Asks the dev server of session `id` to stop, if one runs, and waits until its end is recorded;
    /// whether one ran.
    pub(super) async fn stop(&self, id: Uuid, why: &str) -> bool {
        let ended = match lock(&self.0).get(&id) {
            Some(running) => {
                running.stop.stop(why);
                running.ended.clone()
            }
            None => return false,
        };
        ended.cancelled().await;
        true
    }

    /// The sessions whose dev server runs.
    pub(super) fn ids(&self) -> Vec<Uuid> {
        lock(&self.0).keys().copied().collect()
    }
}

impl Sessions {
    /// Starts or stops the dev server of `log`'s run.
    pub(super) async fn dev_server(&self, log: &Arc<SessionLog>, start: bool) -> SessionReply {
        let id = log.id();
        if !start {
            return if self.inner.dev.stop(id, "stopped by a user").await {
                SessionReply::Ok(SessionOk::TAKEN)
            } else {
                SessionReply::err(
                    ErrorCode::Conflict,
                    "the run's dev server is not running; start it first",
                )
            };
        }
        let Some(hooks) = self.run_hooks(log) else {
            return SessionReply::err(
                ErrorCode::BadRequest,
                format!("session {id} is not a run of a task; only a run has a dev server"),
            );
        };
        let Some(script) = hooks.dev_script() else {
            return SessionReply::err(
                ErrorCode::BadRequest,
                "the project has no dev script; set one in the project's scripts",
            );
        };
        let stop = Arc::new(Stop::default());
        let ended = CancellationToken::new();
        {
            let mut running = lock(&self.inner.dev.0);
            if running.contains_key(&id) {
                return SessionReply::err(
                    ErrorCode::Conflict,
                    "the run's dev server is already running; stop it before starting it again",
                );
            }
            running.insert(
                id,
                Running {
                    stop: stop.clone(),
                    ended: ended.clone(),
                },
            );
            // Under the lock, so an ending server cannot clear it after a new one set it.
            log.set_serving(true);
        }
        let this = self.clone();
        let log = log.clone();
        let shutdown = self.inner.shutdown.clone();
        self.inner.drivers.spawn(
            async move {
                let run = hooks.dev_server(&script, &stop);
                tokio::pin!(run);
                let end = tokio::select! {
                    end = &mut run => end,
                    () = shutdown.cancelled() => {
                        stop.stop("the agent shut down");
                        run.await
                    }
                };
                tracing::info!(status = ?end.status, "dev server ended");
                {
                    let mut running = lock(&this.inner.dev.0);
                    running.remove(&id);
                    log.set_serving(false);
                }
                ended.cancel();
            }
            .instrument(tracing::info_span!("dev_server", session = %id)),
        );
        SessionReply::Ok(SessionOk::TAKEN)
    }

    /// The run hooks of `log`'s session, when it is a run.
    pub(super) fn run_hooks(&self, log: &Arc<SessionLog>) -> Option<Arc<RunHooks>> {
        RunHooks::new(
            log.clone(),
            self.root_dir().join(log.id().to_string()),
            self.inner.config.runs.script_timeout,
            self.inner.config.execution.user.clone(),
        )
    }

    /// At the agent's start: a session that was not live may still have had its dev server running (it
    /// died with the agent); its process is reported killed.
    pub(super) fn end_stale_dev_server(&self, meta: &SessionMeta) -> anyhow::Result<()> {
        if meta.run.as_ref().is_none_or(|r| r.open.is_empty()) {
            return Ok(());
        }
        if let Some(log) = self.log_for(meta.id)?
            && let Some(hooks) = self.run_hooks(&log)
        {
            hooks.kill_stale("the agent restarted while it ran");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vibebridge_tunnel::run::{ProcessStatus, RunMode, RunPrepared, RunSpec};
    use vibebridge_tunnel::session::EventBody;

    use super::*;
    use crate::sessions::run_hooks::RunState;

    /// A scratch run's log working in `dir`, whose dev script prints `up` and sleeps.
    fn run_log(dir: &std::path::Path) -> Arc<SessionLog> {
        let log = Arc::new(SessionLog::scratch());
        let spec = RunSpec {
            run_id: "run-1".into(),
            task_key: "ABC-1".into(),
            task_title: "Serve".into(),
            repo: dir.display().to_string(),
            base_branch: "main".into(),
            start_point: None,
            mode: RunMode::InPlace,
            copy_files: Vec::new(),
            setup_script: String::new(),
            cleanup_script: String::new(),
            dev_script: "echo up; exec sleep 1000".into(),
            commit_message: None,
        };
        let prepared = RunPrepared {
            path: dir.display().to_string(),
            branch: None,
            base_branch: "main".into(),
            base_commit: "0".repeat(40),
            baseline_commit: None,
            carried_files: 0,
            copied_files: 0,
            port: 4242,
        };
        log.update_meta(|m| {
            m.run = Some(Box::new(RunState {
                spec,
                prepared,
                setup_done: true,
                processes: 0,
                turns: 0,
                open: Vec::new(),
                open_kinds: Default::default(),
                dev: None,
            }));
        })
        .unwrap();
        log
    }

    /// Proves the dev server outlives the scripts' time limit and a CLI's end (which closes the run's other
    /// open processes, not its), and a stop ends it as killed with the stop's reason, closing its process.
    #[tokio::test]
    async fn a_clis_end_leaves_the_dev_server_running_until_stopped() {
        let dir = std::env::temp_dir().join(format!("vb-dev-server-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = run_log(&dir);
        let hooks = RunHooks::new(
            log.clone(),
            dir.join("raw"),
            Duration::from_millis(100),
            None,
        )
        .unwrap();
        let script = hooks.dev_script().unwrap();
        let stop = Stop::default();
        let mut events = log.subscribe();
        let running = hooks.dev_server(&script, &stop);
        let steer = async {
            loop {
                if let EventBody::ProcessOutput { text, .. } = events.recv().await.unwrap().body
                    && text.contains("up")
                {
                    break;
                }
            }
            // Past the scripts' time limit, and through a CLI's end.
            tokio::time::sleep(Duration::from_millis(400)).await;
            hooks.kill_open("the session ended while it ran");
            let run = log.meta().run.unwrap();
            assert_eq!((run.open, run.dev), (vec![1], Some(1)));
            stop.stop("stopped by a user");
        };
        let (end, ()) = tokio::time::timeout(Duration::from_secs(30), async {
            tokio::join!(running, steer)
        })
        .await
        .unwrap();
        assert_eq!(end.status, ProcessStatus::Killed, "{end:?}");
        assert_eq!(end.message.as_deref(), Some("stopped by a user"));
        let run = log.meta().run.unwrap();
        assert!(run.open.is_empty() && run.dev.is_none(), "{run:?}");
        let ended: Vec<EventBody> = log
            .events_after(0, 100)
            .unwrap()
            .into_iter()
            .map(|e| e.body)
            .filter(|b| matches!(b, EventBody::ProcessEnded { .. }))
            .collect();
        assert!(
            matches!(
                ended.as_slice(),
                [EventBody::ProcessEnded {
                    process: 1,
                    status: ProcessStatus::Killed,
                    ..
                }]
            ),
            "{ended:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

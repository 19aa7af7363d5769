//! What a run's session does around its agent turns: the setup script before the first turn, a numbered
//! `codingagent` process per turn, the cleanup script after each turn, and a commit of whatever the turn
//! left uncommitted on the run's branch. Every step is a session event (`process_*`, `auto_committed`…),
//! stored like the agent's own, so main rebuilds the run's processes from the session's history. The dev
//! server (the sibling `dev_server` module) is one more such process, started on request.
//!
//! Process numbers and whether setup ran are kept in the session's record on disk, so an agent restart
//! neither repeats the setup nor reuses a number; a process the restart cut short is reported killed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use vibebridge_tunnel::run::{ProcessKind, ProcessStatus};
use vibebridge_tunnel::session::EventBody;

use super::log::SessionLog;
use crate::git::turn_commit;
use crate::run_as::RunAs;
use crate::runs::script::{Script, Stop, run_script};

pub use super::store::RunState;

/// The hooks of one run's session. Cheap to share.
pub struct RunHooks {
    log: Arc<SessionLog>,
    cwd: PathBuf,
    env: Vec<(String, String)>,
    raw_dir: PathBuf,
    script_timeout: Duration,
    run_as: Option<RunAs>,
}

impl RunHooks {
    /// Hooks for the run of `log`'s session (its record must hold a [`RunState`]).
    pub fn new(
        log: Arc<SessionLog>,
        raw_dir: PathBuf,
        script_timeout: Duration,
        run_as: Option<RunAs>,
    ) -> Option<Arc<RunHooks>> {
        let run = log.meta().run?;
        Some(Arc::new(RunHooks {
            cwd: PathBuf::from(&run.prepared.path),
            env: vibebridge_tunnel::run::run_env(&run.spec, &run.prepared),
            log,
            raw_dir,
            script_timeout,
            run_as,
        }))
    }

    /// The environment every process of the run gets.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    fn state(&self) -> Option<RunState> {
        self.log.meta().run.map(|r| *r)
    }

    /// Gives the next process number and records it open (as the dev server's, for one).
    fn open(&self, kind: ProcessKind) -> u32 {
        let mut number = 0;
        let saved = self.log.update_meta(|m| {
            if let Some(run) = m.run.as_mut() {
                run.processes += 1;
                number = run.processes;
                run.open.push(number);
                run.open_kinds.insert(number, kind);
                if kind == ProcessKind::Devserver {
                    run.dev = Some(number);
                }
            }
        });
        if let Err(e) = saved {
            tracing::error!(session = %self.log.id(), "recording a run process: {e:#}");
        }
        number
    }

    fn close(&self, number: u32, body: EventBody) {
        self.log.append(body);
        let saved = self.log.update_meta(|m| {
            if let Some(run) = m.run.as_mut() {
                run.open.retain(|n| *n != number);
                run.open_kinds.remove(&number);
                if run.dev == Some(number) {
                    run.dev = None;
                }
            }
        });
        if let Err(e) = saved {
            tracing::error!(session = %self.log.id(), "recording a run process's end: {e:#}");
        }
    }

    /// Reports processes a CLI's end or a stop cut short as killed; a running dev server is left alone.
    pub fn kill_open(&self, why: &str) {
        self.kill(why, false);
    }

    /// Reports every process a restart of the agent cut short as killed, the dev server's too.
    pub fn kill_stale(&self, why: &str) {
        self.kill(why, true);
    }

    fn kill(&self, why: &str, dev_too: bool) {
        let Some(state) = self.state() else {
            return;
        };
        let cut: Vec<u32> = state
            .open
            .iter()
            .copied()
            .filter(|n| dev_too || state.dev != Some(*n))
            .collect();
        let started = if cut.is_empty() {
            Default::default()
        } else {
            self.started_in_log()
        };
        for number in cut {
            if !started.contains(&number) {
                // Numbered, then the agent died before recording its start: record it now, so the run's
                // processes stay numbered 1..=n with a start and an end each.
                self.log.append(EventBody::ProcessStarted {
                    process: number,
                    kind: state
                        .open_kinds
                        .get(&number)
                        .copied()
                        .unwrap_or(ProcessKind::Codingagent),
                    command: None,
                    before_commit: None,
                });
            }
            self.close(
                number,
                EventBody::ProcessEnded {
                    process: number,
                    status: ProcessStatus::Killed,
                    exit_code: None,
                    after_commit: None,
                    message: Some(why.to_string()),
                },
            );
        }
    }

    /// The numbers of the processes whose start is in the session's log.
    fn started_in_log(&self) -> std::collections::HashSet<u32> {
        let mut out = std::collections::HashSet::new();
        let mut after = 0;
        loop {
            let page = match self.log.events_after(after, 1000) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(session = %self.log.id(), "reading the log for process starts: {e:#}");
                    return out;
                }
            };
            let Some(last) = page.last() else {
                return out;
            };
            after = last.seq;
            out.extend(page.iter().filter_map(|ev| match &ev.body {
                EventBody::ProcessStarted { process, .. } => Some(*process),
                _ => None,
            }));
        }
    }

    /// Runs the setup script once per run; `Err` with what to tell the user when it failed.
    pub async fn setup(self: Arc<Self>) -> Result<(), String> {
        let Some(state) = self.state() else {
            return Ok(());
        };
        if state.setup_done {
            return Ok(());
        }
        if !state.spec.setup_script.trim().is_empty() {
            let end = self
                .script(ProcessKind::Setupscript, &state.spec.setup_script, None)
                .await;
            if end.status != ProcessStatus::Completed {
                return Err(format!(
                    "the setup script {}; the agent did not start. Its output is above; fix the project's setup \
                     script (or the work tree) and start a new run",
                    end.message.unwrap_or_else(|| "failed".into())
                ));
            }
        }
        self.log
            .update_meta(|m| {
                if let Some(run) = m.run.as_mut() {
                    run.setup_done = true;
                }
            })
            .map_err(|e| format!("recording that setup ran: {e:#}"))?;
        Ok(())
    }

    /// The project's dev script, when it has one.
    pub fn dev_script(&self) -> Option<String> {
        self.state()
            .map(|s| s.spec.dev_script)
            .filter(|s| !s.trim().is_empty())
    }

    /// Runs the dev server as a `devserver` process of the run: no time limit, until it exits or `stop`.
    pub async fn dev_server(&self, script: &str, stop: &Stop) -> crate::runs::ScriptEnd {
        self.script(ProcessKind::Devserver, script, Some(stop))
            .await
    }

    /// Runs one script as a process of the run, its output streamed as events and kept in a log file. Only
    /// a dev server runs without a time limit.
    async fn script(
        &self,
        kind: ProcessKind,
        script: &str,
        stop: Option<&Stop>,
    ) -> crate::runs::ScriptEnd {
        let number = self.open(kind);
        let before = head(&self.cwd).await;
        self.log.append(EventBody::ProcessStarted {
            process: number,
            kind,
            command: Some(script.to_string()),
            before_commit: before,
        });
        let log = self.log.clone();
        let mut output = move |text: String| {
            log.append(EventBody::ProcessOutput {
                process: number,
                text,
            });
        };
        let end = run_script(
            Script {
                script,
                cwd: &self.cwd,
                env: &self.env,
                log_path: self
                    .raw_dir
                    .join(format!("{number:04}-{}.log", kind.name())),
                timeout: (kind != ProcessKind::Devserver).then_some(self.script_timeout),
                run_as: self.run_as.as_ref(),
                stop,
            },
            &mut output,
        )
        .await;
        let after = head(&self.cwd).await;
        self.close(
            number,
            EventBody::ProcessEnded {
                process: number,
                status: end.status,
                exit_code: end.exit_code,
                after_commit: after,
                message: end.message.clone(),
            },
        );
        end
    }

    /// A turn is starting: its `codingagent` process. Returns its number.
    pub async fn turn_started(&self) -> u32 {
        let number = self.open(ProcessKind::Codingagent);
        let _ = self.log.update_meta(|m| {
            if let Some(run) = m.run.as_mut() {
                run.turns += 1;
            }
        });
        let before = head(&self.cwd).await;
        self.log.append(EventBody::ProcessStarted {
            process: number,
            kind: ProcessKind::Codingagent,
            command: None,
            before_commit: before,
        });
        number
    }

    /// A turn ended: the cleanup script, then the commit of what is left, then the turn's process ends.
    pub async fn turn_ended(self: Arc<Self>, process: u32, failed: bool) {
        let Some(state) = self.state() else {
            return;
        };
        if !state.spec.cleanup_script.trim().is_empty() {
            self.script(ProcessKind::Cleanupscript, &state.spec.cleanup_script, None)
                .await;
        }
        if let Some(template) = &state.spec.commit_message {
            let message = template.replace("{turn}", &state.turns.to_string());
            let cwd = self.cwd.clone();
            let committed =
                match tokio::task::spawn_blocking(move || turn_commit::commit_all(&cwd, &message))
                    .await
                {
                    Ok(r) => r.map_err(|e| e.message().to_string()),
                    Err(e) => Err(format!("the commit task failed: {e}")),
                };
            match committed {
                Ok(Some(c)) => {
                    self.log.append(EventBody::AutoCommitted {
                        commit: c.id,
                        summary: c.summary,
                        files: c.files,
                    });
                }
                Ok(None) => {}
                Err(message) => {
                    self.log.append(EventBody::AutoCommitFailed {
                        message: format!(
                            "{message}; the turn's changes stay uncommitted in {}",
                            self.cwd.display()
                        ),
                    });
                }
            }
        }
        let after = head(&self.cwd).await;
        self.close(
            process,
            EventBody::ProcessEnded {
                process,
                status: if failed {
                    ProcessStatus::Failed
                } else {
                    ProcessStatus::Completed
                },
                exit_code: None,
                after_commit: after,
                message: failed.then(|| "the turn ended with an error".to_string()),
            },
        );
    }
}

/// HEAD of the work tree at `cwd`, if it has one (git runs off the async threads).
async fn head(cwd: &Path) -> Option<String> {
    let cwd = cwd.to_path_buf();
    tokio::task::spawn_blocking(move || turn_commit::head(&cwd))
        .await
        .ok()
        .flatten()
}

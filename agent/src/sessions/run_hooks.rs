//! What a run's session does around its agent turns: the setup script before the first turn, a numbered
//! `codingagent` process per turn, the cleanup script after each turn, and a commit of whatever the turn
//! left uncommitted on the run's branch. Every step is a session event (`process_*`, `auto_committed`…),
//! stored like the agent's own, so main rebuilds the run's processes from the session's history.
//!
//! Process numbers and whether setup ran are kept in the session's record on disk, so an agent restart
//! neither repeats the setup nor reuses a number; a process the restart cut short is reported killed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vibebridge_tunnel::run::{ProcessKind, ProcessStatus, RunPrepared, RunSpec};
use vibebridge_tunnel::session::EventBody;

use super::log::SessionLog;
use crate::git::cli::{bounded, git};
use crate::run_as::RunAs;
use crate::runs::script::{Script, run_script};

/// Longest one git command of the turn's commit may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(300);

/// A run's state in its session record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    /// What main asked for.
    pub spec: RunSpec,
    /// Where it works.
    pub prepared: RunPrepared,
    /// The setup script ran to success (or there is none).
    #[serde(default)]
    pub setup_done: bool,
    /// Processes started so far (the last number given).
    #[serde(default)]
    pub processes: u32,
    /// Agent turns started so far.
    #[serde(default)]
    pub turns: u32,
    /// Processes started and not yet reported ended.
    #[serde(default)]
    pub open: Vec<u32>,
}

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

    /// Gives the next process number and records it open.
    fn open(&self) -> u32 {
        let mut number = 0;
        let saved = self.log.update_meta(|m| {
            if let Some(run) = m.run.as_mut() {
                run.processes += 1;
                number = run.processes;
                run.open.push(number);
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
            }
        });
        if let Err(e) = saved {
            tracing::error!(session = %self.log.id(), "recording a run process's end: {e:#}");
        }
    }

    /// Reports processes a restart or a stop cut short as killed.
    pub fn kill_open(&self, why: &str) {
        for number in self.state().map(|s| s.open).unwrap_or_default() {
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
                .script(ProcessKind::Setupscript, &state.spec.setup_script)
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

    /// Runs one script as a process of the run, its output streamed as events and kept in a log file.
    async fn script(&self, kind: ProcessKind, script: &str) -> crate::runs::ScriptEnd {
        let number = self.open();
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
                timeout: self.script_timeout,
                run_as: self.run_as.as_ref(),
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
        let number = self.open();
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
            self.script(ProcessKind::Cleanupscript, &state.spec.cleanup_script)
                .await;
        }
        if let Some(template) = &state.spec.commit_message {
            let message = template.replace("{turn}", &state.turns.to_string());
            let cwd = self.cwd.clone();
            let committed = tokio::task::spawn_blocking(move || commit_all(&cwd, &message))
                .await
                .unwrap_or_else(|e| Err(format!("the commit task failed: {e}")));
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

/// HEAD of the work tree at `cwd`, if it has one.
async fn head(cwd: &Path) -> Option<String> {
    let cwd = cwd.to_path_buf();
    tokio::task::spawn_blocking(move || {
        git_text(&cwd, &["rev-parse", "--verify", "--quiet", "HEAD"]).ok()
    })
    .await
    .ok()
    .flatten()
}

fn git_text(cwd: &Path, args: &[&str]) -> Result<String, String> {
    let out = bounded(git(cwd, args), GIT_TIMEOUT, 16 << 20)
        .map_err(|e| format!("running git {}: {e}", args.join(" ")))?
        .ok_or_else(|| format!("git {} did not finish in time", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            out.stderr.trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A commit made after a turn.
struct Made {
    id: String,
    summary: String,
    files: u32,
}

/// Commits everything in the work tree (new files too; ignored ones not). `None` when nothing changed.
fn commit_all(cwd: &Path, message: &str) -> Result<Option<Made>, String> {
    git_text(cwd, &["add", "--all"])?;
    let staged = git_text(cwd, &["diff", "--cached", "--name-only", "-z"])?;
    let files = staged.split('\0').filter(|f| !f.is_empty()).count();
    if files == 0 {
        return Ok(None);
    }
    // The repository's own identity when it has one; else the commit is VibeBridge's.
    let mut args: Vec<&str> = Vec::new();
    if git_text(cwd, &["config", "user.email"]).is_err() {
        args.extend([
            "-c",
            "user.name=VibeBridge",
            "-c",
            "user.email=vibebridge@localhost",
        ]);
    }
    args.extend(["commit", "--quiet", "-m", message]);
    git_text(cwd, &args).map_err(|e| format!("committing the turn's changes: {e}"))?;
    let id = git_text(cwd, &["rev-parse", "HEAD"])?;
    Ok(Some(Made {
        id,
        summary: message.lines().next().unwrap_or_default().to_string(),
        files: u32::try_from(files).unwrap_or(u32::MAX),
    }))
}

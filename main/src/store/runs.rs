//! Task runs and their execution processes. `runs` holds id → [`Run`]; `task_runs` task id ‖ run id → ()
//! lists a task's runs in the order they were made; `session_runs` session UUID → run id finds the run a
//! session's events belong to; `run_queue` created-at ‖ run id → () holds the runs waiting to start, oldest
//! first; `run_processes` run id ‖ big-endian number → [`ExecutionProcess`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vibebridge_tunnel::run::{ProcessKind, ProcessStatus, RunMode, RunPrepared};
use vibebridge_tunnel::session::Provider;

use super::workspaces::uuid_id;
use super::{
    Change, ProjectId, Store, StoreError, TaskId, UsageTotals, UserId, WorkspaceId, decode, encode,
    now_ms,
};

uuid_id!(
    /// A run id (UUIDv7).
    RunId
);

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting to start: its node is offline, the workspace runs its limit, or another run works in place
    /// in the same working copy (`queued_reason` says which).
    Queued,
    /// Main asked the node to start it.
    Starting,
    /// The setup script or an agent turn is running.
    Running,
    /// The agent waits for a person (an approval or a question).
    Waiting,
    /// The agent finished its turn; the run waits for review or a follow-up.
    Idle,
    /// It could not start, its setup failed, or its agent failed.
    Failed,
    /// A person stopped it.
    Stopped,
    /// Its branch was merged into the base.
    Merged,
}

impl RunStatus {
    /// Stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Starting => "starting",
            RunStatus::Running => "running",
            RunStatus::Waiting => "waiting",
            RunStatus::Idle => "idle",
            RunStatus::Failed => "failed",
            RunStatus::Stopped => "stopped",
            RunStatus::Merged => "merged",
        }
    }

    /// Counts against the workspace's run concurrency: it is starting or working.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            RunStatus::Starting | RunStatus::Running | RunStatus::Waiting
        )
    }
}

/// How a run was merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct MergeInfo {
    /// The base branch's new commit.
    pub commit: String,
    /// The branch it went into.
    pub into: String,
    /// How.
    pub strategy: vibebridge_tunnel::git::MergeStrategy,
    /// Who merged it.
    #[ts(type = "string")]
    pub by: UserId,
    /// When, ms since the epoch.
    #[ts(type = "number")]
    pub at: u64,
    /// Merged on GitHub through this pull request number (not on the node).
    #[serde(default)]
    #[ts(optional, type = "number")]
    pub pull_request: Option<u64>,
}

/// A run's branch as pushed to GitHub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct PushInfo {
    /// The commit pushed.
    pub commit: String,
    /// The branch on GitHub.
    pub remote_branch: String,
    /// Who pushed (whose token).
    #[ts(type = "string")]
    pub by: UserId,
    /// When, ms since the epoch.
    #[ts(type = "number")]
    pub at: u64,
}

impl Run {
    /// What the run's branch is compared and rebased against: its start point (a fetched remote branch)
    /// when it has one, else its base branch.
    pub fn compare_base(&self) -> &str {
        self.start_point.as_deref().unwrap_or(&self.base_branch)
    }
}

/// Whether a run's work tree is on its node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum WorktreeState {
    /// It is there (or the run has none yet).
    #[default]
    Present,
    /// It was removed on purpose (after a merge, by cleanup or by a person); its branch may remain.
    Removed,
    /// It vanished without VibeBridge removing it; it can be made again from its branch.
    Missing,
}

/// A run: one attempt at a task, by one agent, on one node, on its own branch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct Run {
    /// Id.
    pub id: RunId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its task.
    pub task_id: TaskId,
    /// The project (repository) it works in.
    pub project_id: ProjectId,
    /// The node of the project.
    pub node_id: String,
    /// The session of its agent turns, once started.
    #[ts(type = "string | null")]
    pub session_id: Option<Uuid>,
    /// Who started it.
    #[ts(type = "string")]
    pub created_by: UserId,
    /// Which agent.
    pub provider: Provider,
    /// Model asked for.
    pub model: Option<String>,
    /// Permission mode asked for.
    pub permission_mode: Option<String>,
    /// Where it works.
    pub mode: RunMode,
    /// The branch it starts from and merges into.
    pub base_branch: String,
    /// Where its branch starts and what it is compared and rebased against instead of `base_branch`:
    /// `origin/<base>`, fetched from GitHub just before, for a project on GitHub.
    #[serde(default)]
    #[ts(optional)]
    pub start_point: Option<String>,
    /// The first message to the agent.
    pub prompt: String,
    /// Where the node prepared it, once it did.
    pub prepared: Option<RunPrepared>,
    /// Where it is.
    pub status: RunStatus,
    /// Why, for humans (the failure, who stopped it, why it waits).
    pub status_message: Option<String>,
    /// Approvals and questions waiting for a person.
    pub pending_approvals: u32,
    /// Agent turns finished.
    pub turns: u32,
    /// The last commit made on its branch after a turn.
    pub last_commit: Option<String>,
    /// Why committing after the last turn failed (the work stays in the work tree).
    pub commit_error: Option<String>,
    /// Tokens and cost of its turns.
    pub usage: UsageTotals,
    /// How it was merged, once it was.
    #[serde(default)]
    pub merged: Option<MergeInfo>,
    /// Whether its work tree is on the node.
    #[serde(default)]
    pub worktree: WorktreeState,
    /// Its dev server's process while it runs.
    #[serde(default)]
    pub dev_server: Option<u32>,
    /// Its branch as last pushed to GitHub.
    #[serde(default)]
    #[ts(optional)]
    pub pushed: Option<PushInfo>,
    /// Tokens and cost of the running turn, moved to its process when it ends.
    #[serde(default)]
    #[ts(skip)]
    pub turn_usage: UsageTotals,
    /// The last session event applied to this record: events are applied exactly once, and a main that
    /// crashed before writing the record applies the rest when it sees the session again.
    #[serde(default)]
    #[ts(type = "number")]
    pub applied_seq: u64,
    /// Created, ms since the epoch.
    #[ts(type = "number")]
    pub created_at: u64,
    /// When the node was first asked to start it.
    #[ts(type = "number | null")]
    pub started_at: Option<u64>,
    /// When it last changed.
    #[ts(type = "number")]
    pub updated_at: u64,
}

/// One process of a run: the setup script, an agent turn, the cleanup script, the dev server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct ExecutionProcess {
    /// Its run.
    pub run_id: RunId,
    /// Its number in the run, from 1, in the order they started.
    pub number: u32,
    /// What it is.
    pub kind: ProcessKind,
    /// How it is doing.
    pub status: ProcessStatus,
    /// The script it runs.
    pub command: Option<String>,
    /// Exit code, once it ended with one.
    #[ts(type = "number | null")]
    pub exit_code: Option<i64>,
    /// Why it failed or was killed.
    pub message: Option<String>,
    /// HEAD when it started.
    pub before_commit: Option<String>,
    /// HEAD when it ended.
    pub after_commit: Option<String>,
    /// Tokens and cost (agent turns).
    pub usage: UsageTotals,
    /// Seq of the session event that started it (its output follows in the session's events).
    #[ts(type = "number")]
    pub start_seq: u64,
    /// Started, ms since the epoch.
    #[ts(type = "number")]
    pub started_at: u64,
    /// Ended, ms since the epoch.
    #[ts(type = "number | null")]
    pub ended_at: Option<u64>,
}

fn pair(a: &[u8; 16], b: &[u8; 16]) -> [u8; 32] {
    let mut key = [0; 32];
    key[..16].copy_from_slice(a);
    key[16..].copy_from_slice(b);
    key
}

fn queue_key(run: &Run) -> [u8; 24] {
    let mut key = [0; 24];
    key[..8].copy_from_slice(&run.created_at.to_be_bytes());
    key[8..].copy_from_slice(run.id.bytes());
    key
}

fn process_key(run: RunId, number: u32) -> [u8; 20] {
    let mut key = [0; 20];
    key[..16].copy_from_slice(run.bytes());
    key[16..].copy_from_slice(&number.to_be_bytes());
    key
}

impl Store {
    /// Stores a new run (queued or starting).
    pub fn insert_run(&self, run: &Run) -> Result<(), StoreError> {
        self.atomic(|| {
            self.write_run(run, None)?;
            self.task_runs
                .insert(pair(run.task_id.bytes(), run.id.bytes()), [])?;
            self.durable()?;
            self.changed(Change::Run(std::sync::Arc::new(run.clone())));
            Ok(())
        })
    }

    /// Writes `run` and keeps the queue and session indexes in step with it (`old`: as it was).
    fn write_run(&self, run: &Run, old: Option<&Run>) -> Result<(), StoreError> {
        self.runs.insert(run.id.bytes(), encode(run))?;
        match (old.map(|o| o.status), run.status) {
            (Some(RunStatus::Queued), RunStatus::Queued) => {}
            (_, RunStatus::Queued) => {
                self.run_queue.insert(queue_key(run), [])?;
            }
            (Some(RunStatus::Queued), _) => {
                self.run_queue.remove(queue_key(run))?;
            }
            _ => {}
        }
        if let Some(sid) = run.session_id
            && old.and_then(|o| o.session_id) != Some(sid)
        {
            self.session_runs.insert(sid.as_bytes(), run.id.bytes())?;
        }
        Ok(())
    }

    /// A run by id.
    pub fn run(&self, id: RunId) -> Result<Option<Run>, StoreError> {
        self.runs
            .get(id.bytes())?
            .map(|v| decode("runs", &v))
            .transpose()
    }

    /// The run a session belongs to, if any.
    pub fn run_of_session(&self, session: Uuid) -> Result<Option<Run>, StoreError> {
        let Some(id) = self.session_runs.get(session.as_bytes())? else {
            return Ok(None);
        };
        let id = Uuid::from_slice(&id).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.run(RunId(id))
    }

    /// A task's runs, oldest first.
    pub fn runs_of_task(&self, task: TaskId) -> Result<Vec<Run>, StoreError> {
        let mut out = Vec::new();
        for key in self.task_runs.scan_prefix(task.bytes()).keys() {
            let key = key?;
            let id =
                Uuid::from_slice(&key[16..]).map_err(|e| StoreError::Invalid(e.to_string()))?;
            if let Some(run) = self.run(RunId(id))? {
                out.push(run);
            }
        }
        Ok(out)
    }

    /// Each task's runs (at most `limit` each, oldest first), in two reads whatever the number of tasks.
    pub fn runs_of_tasks(
        &self,
        tasks: &[TaskId],
        limit: usize,
    ) -> Result<Vec<Vec<Run>>, StoreError> {
        let prefixes: Vec<Vec<u8>> = tasks.iter().map(|t| t.bytes().to_vec()).collect();
        let per_task = self.task_runs.scan_prefixes(&prefixes, limit)?;
        let ids: Vec<Vec<u8>> = per_task
            .iter()
            .flatten()
            .map(|(k, _)| k.get(16..).unwrap_or_default().to_vec())
            .collect();
        let mut runs = self.runs.get_many(&ids)?.into_iter();
        let mut out = Vec::with_capacity(tasks.len());
        for entries in per_task {
            let mut mine = Vec::with_capacity(entries.len());
            for _ in entries {
                if let Some(v) = runs.next().flatten() {
                    mine.push(decode("runs", &v)?);
                }
            }
            out.push(mine);
        }
        Ok(out)
    }

    /// Runs waiting to start, oldest first.
    pub fn queued_runs(&self) -> Result<Vec<Run>, StoreError> {
        let mut out = Vec::new();
        for key in self.run_queue.iter().keys() {
            let key = key?;
            let id = Uuid::from_slice(&key[8..]).map_err(|e| StoreError::Invalid(e.to_string()))?;
            if let Some(run) = self.run(RunId(id))? {
                out.push(run);
            }
        }
        Ok(out)
    }

    /// Every run (the scheduler's count of active runs, the usage report).
    pub fn all_runs(&self) -> Result<Vec<Run>, StoreError> {
        self.runs
            .iter()
            .values()
            .map(|v| decode("runs", &v?))
            .collect()
    }

    /// Changes a run under the store's lock; `change` may refuse. Publishes the run as it is after.
    pub fn update_run<E: From<StoreError>>(
        &self,
        id: RunId,
        mut change: impl FnMut(&mut Run) -> Result<(), E>,
    ) -> Result<Run, E> {
        self.atomic(|| {
            let old = self
                .run(id)?
                .ok_or_else(|| StoreError::NotFound(format!("run {id}")))?;
            let mut run = old.clone();
            change(&mut run)?;
            if run == old {
                return Ok(run);
            }
            // Bookkeeping alone (events applied, the running turn's usage) is not news for anyone watching.
            let shown = |r: &Run| Run {
                applied_seq: 0,
                turn_usage: UsageTotals::default(),
                usage: UsageTotals {
                    turns: r.usage.turns,
                    ..UsageTotals::default()
                },
                ..r.clone()
            };
            let news = shown(&run) != shown(&old);
            run.updated_at = now_ms();
            self.write_run(&run, Some(&old))?;
            if news {
                self.changed(Change::Run(std::sync::Arc::new(run.clone())));
            }
            Ok(run)
        })
    }

    /// A run's processes, in order.
    pub fn processes(&self, run: RunId) -> Result<Vec<ExecutionProcess>, StoreError> {
        self.run_processes
            .scan_prefix(run.bytes())
            .values()
            .map(|v| decode("run_processes", &v?))
            .collect()
    }

    /// One process of a run.
    pub fn process(&self, run: RunId, number: u32) -> Result<Option<ExecutionProcess>, StoreError> {
        self.run_processes
            .get(process_key(run, number))?
            .map(|v| decode("run_processes", &v))
            .transpose()
    }

    /// Writes a process record (new or changed).
    pub fn put_process(&self, p: &ExecutionProcess) -> Result<(), StoreError> {
        self.run_processes
            .insert(process_key(p.run_id, p.number), encode(p))?;
        Ok(())
    }
}

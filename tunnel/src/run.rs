//! Task runs on the wire: what main asks a node to prepare when a session is a run of a task, and what the
//! node answers.
//!
//! A run is a session with a [`RunSpec`] in its [`StartSession`](crate::session::StartSession). Before the
//! CLI starts, the node prepares the run's work tree (a new worktree on its own branch, the project's own
//! working copy, or an existing branch or worktree), copies the project's `copy_files` in, and picks a port.
//! It answers with [`RunPrepared`] and records the same as the session's first event, so main learns it even
//! when the answer is lost. Then the setup script, every agent turn and the cleanup script after each turn
//! run as numbered execution processes, reported as `process_*` session events, and after each turn the
//! node commits what was left uncommitted to the run's branch. The project's dev server runs as one more
//! such process when a person starts it ([`SessionCommand::DevServer`](crate::session::SessionCommand)),
//! beside the turns, until it is stopped.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Most files carried from the project's working copy into a new worktree.
pub const CARRY_MAX_FILES: usize = 2_000;
/// Most bytes carried from the project's working copy into a new worktree.
pub const CARRY_MAX_BYTES: u64 = 200 * 1024 * 1024;

/// Where a run works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum RunMode {
    /// A new branch in a new worktree under the node's `worktrees.root` (the default).
    Worktree {
        /// The branch: `{key}` and `{slug}` are filled in, and `-2`, `-3`… added while the name is taken.
        branch_template: String,
        /// Carry the working copy's uncommitted work in as a baseline commit.
        #[serde(default)]
        carry: bool,
    },
    /// The project's own working copy, on whatever it has checked out.
    InPlace,
    /// Adopt an existing branch (checked out into a new worktree) or an existing worktree of the repository.
    Existing {
        /// The branch to work on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        branch: Option<String>,
        /// An existing worktree (absolute path) of the project's repository.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        path: Option<String>,
    },
}

impl RunMode {
    /// Stable snake_case name.
    pub fn name(&self) -> &'static str {
        match self {
            RunMode::Worktree { .. } => "worktree",
            RunMode::InPlace => "in_place",
            RunMode::Existing { .. } => "existing",
        }
    }
}

/// Main → node, inside a session start: the session is a run of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Main's id of the run.
    pub run_id: String,
    /// The task's key (`WEB-42`).
    pub task_key: String,
    /// The task's title (for the branch's slug).
    pub task_title: String,
    /// The project's working copy on the node (absolute, inside the roots).
    pub repo: String,
    /// The branch the run starts from and merges back into.
    pub base_branch: String,
    /// Where a new branch starts instead of `base_branch` (a project on GitHub: `origin/main`, just
    /// fetched); its diff and rebase are against it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_point: Option<String>,
    /// Where it works.
    pub mode: RunMode,
    /// Globs (relative to the working copy) of files copied into a new worktree, never overwriting.
    #[serde(default)]
    pub copy_files: Vec<String>,
    /// Shell script run in the work tree before the first turn; empty for none.
    #[serde(default)]
    pub setup_script: String,
    /// Shell script run in the work tree after each turn; empty for none.
    #[serde(default)]
    pub cleanup_script: String,
    /// Shell script of the run's dev server, started and stopped on request; empty for none.
    #[serde(default)]
    pub dev_script: String,
    /// Message of the commit made after each turn (`{turn}` is the turn's number); `None`: no such commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_message: Option<String>,
}

/// Node → main: where a run works (the answer to its start, and its first event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RunPrepared {
    /// The work tree (absolute).
    pub path: String,
    /// Its branch; `None` when the work tree's HEAD is detached.
    pub branch: Option<String>,
    /// The branch it merges into.
    pub base_branch: String,
    /// The commit it started from.
    pub base_commit: String,
    /// The commit of carried uncommitted work, when there was any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub baseline_commit: Option<String>,
    /// Files carried in.
    #[serde(default)]
    pub carried_files: u32,
    /// Files copied in by `copy_files`.
    #[serde(default)]
    pub copied_files: u32,
    /// The run's `VB_PORT`, unique among the node's runs.
    pub port: u16,
}

/// What an execution process of a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum ProcessKind {
    /// The project's setup script, before the first turn.
    Setupscript,
    /// One agent turn.
    Codingagent,
    /// The project's cleanup script, after each turn.
    Cleanupscript,
    /// The project's dev server.
    Devserver,
}

impl ProcessKind {
    /// Stable name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            ProcessKind::Setupscript => "setupscript",
            ProcessKind::Codingagent => "codingagent",
            ProcessKind::Cleanupscript => "cleanupscript",
            ProcessKind::Devserver => "devserver",
        }
    }
}

/// How an execution process is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ProcessStatus {
    /// Still running.
    Running,
    /// Ended with success.
    Completed,
    /// Ended with an error or a non-zero exit.
    Failed,
    /// Stopped by a person, a timeout or the agent's end.
    Killed,
}

/// The environment every process of a run gets.
pub fn run_env(spec: &RunSpec, prepared: &RunPrepared) -> Vec<(String, String)> {
    vec![
        ("VB_TASK_KEY".into(), spec.task_key.clone()),
        ("VB_RUN_ID".into(), spec.run_id.clone()),
        (
            "VB_BRANCH".into(),
            prepared.branch.clone().unwrap_or_default(),
        ),
        ("VB_BASE_BRANCH".into(), prepared.base_branch.clone()),
        ("VB_PORT".into(), prepared.port.to_string()),
    ]
}

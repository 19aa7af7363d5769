//! A run's state in its session's record: what main asked for, where it works, and its numbered processes.

use serde::{Deserialize, Serialize};
use vibebridge_tunnel::run::{ProcessKind, RunPrepared, RunSpec};

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
    /// What each open process is, so one whose start never reached the log (the agent died between
    /// numbering it and recording it) can still be reported, started and ended, without a gap in the numbers.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub open_kinds: std::collections::BTreeMap<u32, ProcessKind>,
    /// The dev server's process while it runs (it outlives the CLI, so a CLI's end leaves it open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<u32>,
}

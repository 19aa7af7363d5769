//! Usage records (the seed's `usage_records`): the tokens and cost of each agent turn of a run, with what it
//! rolls up by. `usage_records` holds ended-at ms ‖ run id ‖ process number → [`UsageRecord`], so a time range
//! is one range scan; a record is written once per turn, and writing it again (a replayed event) changes
//! nothing.

use serde::{Deserialize, Serialize};
use vibebridge_tunnel::session::Provider;

use super::{
    ProjectId, RunId, Store, StoreError, TaskId, UsageTotals, UserId, WorkspaceId, decode, encode,
};

/// The usage of one agent turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// When the turn ended, ms since the epoch.
    pub at: u64,
    /// The run.
    pub run_id: RunId,
    /// The turn's process number in the run.
    pub process: u32,
    /// The run's workspace.
    pub workspace_id: WorkspaceId,
    /// The run's task.
    pub task_id: TaskId,
    /// The run's project.
    pub project_id: ProjectId,
    /// Who started the run.
    pub user_id: UserId,
    /// Where it ran.
    pub node_id: String,
    /// Which agent.
    pub provider: Provider,
    /// Tokens and cost.
    pub usage: UsageTotals,
}

fn key(at: u64, run: RunId, process: u32) -> [u8; 28] {
    let mut k = [0; 28];
    k[..8].copy_from_slice(&at.to_be_bytes());
    k[8..24].copy_from_slice(run.bytes());
    k[24..].copy_from_slice(&process.to_be_bytes());
    k
}

impl Store {
    /// Records a turn's usage (again: the same record, unchanged).
    pub fn put_usage(&self, r: &UsageRecord) -> Result<(), StoreError> {
        self.usage_records
            .insert(key(r.at, r.run_id, r.process), encode(r))?;
        Ok(())
    }

    /// Usage records of turns that ended in `[from, to)`, oldest first; `keep` filters them while scanning.
    pub fn usage_between(
        &self,
        from: u64,
        to: u64,
        mut keep: impl FnMut(&UsageRecord) -> bool,
    ) -> Result<Vec<UsageRecord>, StoreError> {
        let mut out = Vec::new();
        let start = from.to_be_bytes();
        let end = to.to_be_bytes();
        for v in self.usage_records.range(start..end).values() {
            let r: UsageRecord = decode("usage_records", &v?)?;
            if keep(&r) {
                out.push(r);
            }
        }
        Ok(out)
    }
}

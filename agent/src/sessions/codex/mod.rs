//! Codex: `codex app-server` (JSON-RPC over stdio: initialize → thread/start or thread/resume →
//! turn/start; approvals arrive as server requests; turn/interrupt), and `codex exec --json` as the
//! fallback when the app-server cannot start (one process per turn; it cannot ask, so it runs only sessions
//! whose approval policy loses nothing by that, and refuses the others).
//!
//! `turn/interrupt` alone leaves a running command alive, so a stop ends the app-server (its whole process
//! group); the next message resumes the thread in a new one.

mod app_server;
mod exec;
mod items;
#[cfg(test)]
mod proptests;

pub use app_server::{AppServer, PendingRequest, StartError};
pub use exec::Exec;

use serde_json::Value;
use vibebridge_tunnel::session::{EventBody, Provider, ToolStatus};

pub(super) fn raw(line: &str) -> EventBody {
    EventBody::Raw {
        provider: Provider::Codex,
        line: line.to_string(),
    }
}

pub(super) fn not_json(line: &str, e: &serde_json::Error) -> EventBody {
    let shown: String = line.chars().take(200).collect();
    EventBody::Error {
        message: format!("codex printed a line that is not JSON ({e}): {shown}"),
    }
}

pub(super) fn change_paths(changes: &Value) -> String {
    changes
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["path"].as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn item_status(status: &str, exit_code: Option<i64>) -> ToolStatus {
    match status {
        "declined" => ToolStatus::Denied,
        "failed" => ToolStatus::Failed,
        _ if exit_code.is_some_and(|c| c != 0) => ToolStatus::Failed,
        _ => ToolStatus::Succeeded,
    }
}

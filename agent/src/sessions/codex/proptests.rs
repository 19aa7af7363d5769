//! Property tests of the codex item parsers: any JSON shaped like codex's items becomes events (or
//! none), never a panic.

use proptest::prelude::*;

use super::items::{item_completed, tool_call};
use crate::proptests::record;

const KEYS: &[&str] = &[
    "type",
    "id",
    "item",
    "command",
    "commandExecution",
    "fileChange",
    "mcpToolCall",
    "webSearch",
    "agentMessage",
    "reasoning",
    "changes",
    "path",
    "kind",
    "diff",
    "status",
    "exitCode",
    "aggregatedOutput",
    "text",
    "server",
    "tool",
    "query",
    "result",
    "error",
    "method",
    "params",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    /// Proves codex's item parsers take any item without panicking.
    #[test]
    fn any_codex_item(value in record(KEYS)) {
        let _ = tool_call(&value);
        let _ = item_completed(&value);
        let _ = super::change_paths(&value);
    }
}

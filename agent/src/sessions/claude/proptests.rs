//! Property tests of the claude record parser: any line, and any JSON shaped like claude's records,
//! becomes events or an error event, never a panic.

use proptest::prelude::*;

use super::records::Normaliser;
use crate::proptests::record;

const KEYS: &[&str] = &[
    "type",
    "subtype",
    "text",
    "result",
    "is_error",
    "id",
    "content",
    "usage",
    "message",
    "input",
    "tool_use_id",
    "tool_name",
    "request_id",
    "request",
    "response",
    "control_request",
    "control_response",
    "can_use_tool",
    "tool_use",
    "tool_result",
    "thinking",
    "delta",
    "text_delta",
    "stream_event",
    "system",
    "user",
    "assistant",
    "session_id",
    "status",
    "file_path",
    "error",
    "total_cost_usd",
    "name",
    "old_string",
    "new_string",
    "command",
    "edits",
    "todos",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    /// Proves claude's stdout parser takes any line, JSON or not, without panicking.
    #[test]
    fn any_claude_line(value in record(KEYS), text in ".{0,80}") {
        let mut n = Normaliser::default();
        let _ = n.line(&value.to_string());
        let _ = n.line(&text);
        let _ = n.line(&format!("{{\"type\":{}}}", value));
    }
}

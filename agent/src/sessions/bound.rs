//! Keeps every session event small enough for one tunnel frame: big strings (tool input, output, diffs, raw
//! lines, message text) are cut on a char boundary with a marker saying how much was cut. An event too big
//! for a frame could never be streamed to main, and every event after it would wait behind it forever.
//! The raw JSONL log of the CLI keeps the full text.

use serde_json::Value;
use vibebridge_tunnel::session::EventBody;

/// An event may use this share of `tunnel.max_frame_bytes` (1 MiB by default): half, so the frame's own
/// wrapping, and main's re-wrapping for the browser, always fit.
pub fn event_budget(max_frame: usize) -> usize {
    max_frame / 2
}

/// The first per-string cap tried: a quarter of the frame limit (256 KiB at the default 1 MiB). If the
/// event is still over budget (several big strings), the cap halves down to [`MIN_FIELD`].
fn first_field_cap(max_frame: usize) -> usize {
    max_frame / 4
}

/// Strings are never cut below this many bytes.
const MIN_FIELD: usize = 64;

/// What a cut string ends with.
fn marker(cut: usize) -> String {
    format!("… [truncated {cut} bytes; full output in the raw log]")
}

/// Cuts `body`'s big strings until its JSON fits [`event_budget`]`(max_frame)`. Returns the bytes cut
/// (0: the event was small enough as it was).
pub fn bound(body: &mut EventBody, max_frame: usize) -> usize {
    let budget = event_budget(max_frame);
    let before = json_len(body);
    if before <= budget {
        return 0;
    }
    let original = body.clone();
    let mut cap = first_field_cap(max_frame).max(MIN_FIELD);
    loop {
        let mut cut = original.clone();
        for_each_text(&mut cut, &mut |s| cut_string(s, cap), &mut |v| {
            for_each_string(v, &mut |s| cut_string(s, cap))
        });
        let fits = json_len(&cut) <= budget;
        *body = cut;
        if fits || cap <= MIN_FIELD {
            break;
        }
        cap = (cap / 2).max(MIN_FIELD);
    }
    if json_len(body) > budget {
        // Many small pieces (a huge array, thousands of keys): a JSON value goes whole.
        for_each_text(body, &mut |_| {}, &mut |v| {
            let len = json_len(v);
            *v = Value::String(format!(
                "[{len} bytes of JSON left out; full input in the raw log]"
            ));
        });
    }
    if json_len(body) > budget {
        *body = EventBody::Error {
            message: format!(
                "an event of {before} bytes did not fit the {budget}-byte event budget and was left out; \
                 the raw log keeps its content"
            ),
        };
    }
    before.saturating_sub(json_len(body))
}

/// Cuts `s` to at most `cap` bytes (on a char boundary) plus a marker, when that makes it shorter.
fn cut_string(s: &mut String, cap: usize) {
    if s.len() <= cap {
        return;
    }
    let mut end = cap;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mark = marker(s.len() - end);
    if end + mark.len() >= s.len() {
        return;
    }
    s.truncate(end);
    s.push_str(&mark);
}

/// Calls `text` on every free-text string field of `body` and `json` on every JSON value field. Ids,
/// names and enums are left alone: they are short, and the UI and main match on them.
fn for_each_text(
    body: &mut EventBody,
    text: &mut dyn FnMut(&mut String),
    json: &mut dyn FnMut(&mut Value),
) {
    match body {
        EventBody::Status { message, .. } | EventBody::ApprovalResolved { message, .. } => {
            message.iter_mut().for_each(text);
        }
        EventBody::ProviderSession { .. }
        | EventBody::Usage(_)
        | EventBody::RunPrepared(_)
        | EventBody::AutoCommitted { .. } => {}
        EventBody::ProcessStarted { command, .. } => command.iter_mut().for_each(text),
        EventBody::ProcessEnded { message, .. } => message.iter_mut().for_each(text),
        EventBody::UserMessage { text: t }
        | EventBody::ProcessOutput { text: t, .. }
        | EventBody::AutoCommitFailed { message: t }
        | EventBody::AssistantDelta { text: t, .. }
        | EventBody::AssistantMessage { text: t, .. }
        | EventBody::Thinking { text: t }
        | EventBody::Error { message: t }
        | EventBody::Raw { line: t, .. } => text(t),
        EventBody::ToolCall { title, input, .. }
        | EventBody::ApprovalRequested { title, input, .. } => {
            text(title);
            json(input);
        }
        EventBody::ToolResult { output, diff, .. } => {
            output.iter_mut().for_each(&mut *text);
            diff.iter_mut().for_each(text);
        }
        EventBody::TurnCompleted { result, .. } => result.iter_mut().for_each(text),
        EventBody::Question { questions, .. } => json(questions),
    }
}

/// Calls `f` on every string inside `v` (not on object keys).
fn for_each_string(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter_mut().for_each(|i| for_each_string(i, f)),
        Value::Object(map) => map.values_mut().for_each(|i| for_each_string(i, f)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Length of `v` as JSON, without building the JSON.
fn json_len<T: serde::Serialize + ?Sized>(v: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, v) {
        Ok(()) => count.0,
        // Not serialisable at all: treat as too big, so it is replaced.
        Err(_) => usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use vibebridge_tunnel::frame::DEFAULT_MAX_FRAME;
    use vibebridge_tunnel::session::{ToolKind, ToolStatus};

    use super::*;

    const MIB: usize = 1024 * 1024;

    /// Proves a 3 MiB file write is cut below the frame limit, on a char boundary, with the marker.
    #[test]
    fn big_tool_input_is_cut_with_a_marker() {
        // 'é' is two bytes, so a cut at an odd byte offset would split one.
        let content = format!("x{}", "é".repeat(3 * MIB / 2));
        let mut body = EventBody::ToolCall {
            call_id: "toolu_1".into(),
            name: "Write".into(),
            kind: ToolKind::FileEdit,
            title: "big.txt".into(),
            input: json!({"file_path": "/r/big.txt", "content": content}),
            status: ToolStatus::Running,
        };
        let cut = bound(&mut body, DEFAULT_MAX_FRAME);
        assert!(cut > 2 * MIB, "{cut}");
        assert!(json_len(&body) <= event_budget(DEFAULT_MAX_FRAME));
        let EventBody::ToolCall { input, call_id, .. } = &body else {
            panic!("still a tool call: {body:?}");
        };
        assert_eq!(call_id, "toolu_1");
        assert_eq!(input["file_path"], "/r/big.txt");
        let kept = input["content"].as_str().unwrap();
        let (head, tail) = kept.split_once('…').unwrap();
        assert!(content.starts_with(head) && head.len() > 100 * 1024);
        let dropped = content.len() - head.len();
        assert_eq!(
            tail,
            format!(" [truncated {dropped} bytes; full output in the raw log]")
        );
    }

    /// Proves an event with several big strings still fits, and small events are left untouched.
    #[test]
    fn many_big_strings_fit_and_small_events_stay() {
        let edits: Vec<Value> = (0..20)
            .map(|_| json!({"old_string": "a".repeat(MIB), "new_string": "b".repeat(MIB)}))
            .collect();
        let mut body = EventBody::ApprovalRequested {
            approval_id: "ap".into(),
            call_id: None,
            tool: "MultiEdit".into(),
            kind: ToolKind::FileEdit,
            title: "f".into(),
            input: json!({"edits": edits}),
        };
        assert!(bound(&mut body, DEFAULT_MAX_FRAME) > 0);
        assert!(json_len(&body) <= event_budget(DEFAULT_MAX_FRAME));

        let mut small = EventBody::ToolResult {
            call_id: "c".into(),
            status: ToolStatus::Succeeded,
            output: Some("ok".into()),
            exit_code: Some(0),
            diff: Some("+x".repeat(1000)),
        };
        let before = small.clone();
        assert_eq!(bound(&mut small, DEFAULT_MAX_FRAME), 0);
        assert_eq!(small, before);
    }

    /// Proves JSON with no big string (a huge array of numbers) is replaced by a note, not left too big.
    #[test]
    fn huge_json_without_big_strings_is_left_out() {
        let mut body = EventBody::Question {
            approval_id: "q".into(),
            questions: json!((0..300_000).collect::<Vec<u32>>()),
        };
        assert!(bound(&mut body, DEFAULT_MAX_FRAME) > 0);
        assert!(json_len(&body) <= event_budget(DEFAULT_MAX_FRAME));
        let EventBody::Question { questions, .. } = &body else {
            panic!("still a question: {body:?}");
        };
        assert!(questions.as_str().unwrap().contains("left out"));
    }
}

//! A scripted stand-in for `claude -p --input-format stream-json --output-format stream-json`, for the
//! session benchmark: for each user message `count=N interval_us=U` it prints an init record, N assistant
//! text records whose text is the wall-clock time (ns since the Unix epoch) at which the line was written,
//! then a result record. Lets the benchmark time the event path from provider stdout onwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, Write};
use std::time::Duration;
use vibebridge_tests::bench::now_ns;

fn field(text: &str, key: &str) -> u64 {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if v["type"] != "user" {
            continue;
        }
        let text = v["message"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        let (count, interval) = (field(text, "count"), field(text, "interval_us"));
        writeln!(
            out,
            r#"{{"type":"system","subtype":"init","session_id":"bench-{}","model":"bench"}}"#,
            std::process::id()
        )
        .unwrap();
        for i in 0..count {
            writeln!(
                out,
                r#"{{"type":"assistant","message":{{"id":"m{i}","content":[{{"type":"text","text":"{}"}}]}}}}"#,
                now_ns()
            )
            .unwrap();
            out.flush().unwrap();
            if interval > 0 {
                std::thread::sleep(Duration::from_micros(interval));
            }
        }
        writeln!(
            out,
            r#"{{"type":"result","subtype":"success","is_error":false,"terminal_reason":"completed","result":"done","usage":{{"input_tokens":1,"output_tokens":{count}}}}}"#
        )
        .unwrap();
        out.flush().unwrap();
    }
}

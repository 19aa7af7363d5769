//! How the console prints: aligned tables, key/value blocks, and one line per session event or audit entry.
//! Everything printed passes through [`escape`]: names, titles, audit fields and agent output are chosen by
//! users, nodes or anonymous callers, and a terminal obeys the control characters in them (erase lines, move
//! the cursor, set the clipboard with OSC 52).

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::store::{AuditEntry, rfc3339};

/// Whether `c` would be acted on by a terminal rather than shown: C0 controls, DEL, C1 controls (ESC and
/// CSI start every escape sequence), and the Unicode controls that reorder or break lines (bidi overrides
/// and isolates, line and paragraph separators).
fn is_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2028}' | '\u{2029}' | '\u{2066}'..='\u{2069}')
}

/// Makes untrusted text safe to print: every control character (see [`is_control`]) becomes a visible
/// escape (`\n`, `\t`, `\r`, `\x1b`, `\u{9b}`), so an escape sequence prints as text and does nothing.
/// With `keep_newlines`, `\n` stays a line break (for whole answers whose fields are already escaped).
pub fn escape_text(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| is_control(c) && !(keep_newlines && c == '\n'))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_control(c) && u32::from(c) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if is_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// One field (a name, a title, an audit detail) made safe to print on one line: [`escape_text`] with
/// line breaks escaped too, so a field cannot forge a line of its own.
pub fn escape(field: &str) -> Cow<'_, str> {
    escape_text(field, false)
}

/// JSON output made safe to print: serde_json escapes C0 inside strings but leaves DEL and C1 raw, and
/// stored event JSON comes from nodes. Every such character becomes `\uXXXX`, which is the same JSON
/// (they can only occur inside strings); the trailing line break is kept.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(|c| is_control(c) && c != '\n') {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_control(c) && c != '\n' {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Formats rows as an aligned table, every cell escaped.
pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<Cow<'_, str>>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| escape(cell)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[Cow<'_, str>]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<w$}  ");
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let headers: Vec<Cow<'_, str>> = headers
        .iter()
        .map(|h| Cow::Owned(escape(h).to_uppercase()))
        .collect();
    let mut out = line(&headers);
    for row in &rows {
        out.push_str(&line(row));
    }
    if rows.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

/// Formats `key  value` lines, aligned, every value escaped.
pub(super) fn kv(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{:<width$}  {}\n", escape(k), escape(v)))
        .collect()
}

/// One line for a session event.
pub fn event_line(ev: &vibebridge_tunnel::session::SessionEvent) -> String {
    use vibebridge_tunnel::session::EventBody as E;
    let what = match &ev.body {
        E::Status { status, message } => format!(
            "status {}{}",
            status.name(),
            message
                .as_ref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        ),
        E::ProviderSession {
            provider_session_id,
            ..
        } => format!("provider session {provider_session_id}"),
        E::UserMessage { text } => format!("user: {text}"),
        E::AssistantDelta { text, .. } => format!("…{text}"),
        E::AssistantMessage { text, .. } => format!("assistant: {text}"),
        E::Thinking { text } => format!("thinking: {text}"),
        E::ToolCall { name, title, .. } => format!("tool {name}: {title}"),
        E::ToolResult {
            status, exit_code, ..
        } => format!(
            "tool result {status:?}{}",
            exit_code
                .map(|c| format!(" (exit {c})"))
                .unwrap_or_default()
        ),
        E::ApprovalRequested {
            approval_id, title, ..
        } => format!("APPROVAL {approval_id}: {title}"),
        E::Question { approval_id, .. } => format!("QUESTION {approval_id}"),
        E::ApprovalResolved {
            approval_id,
            resolution,
            ..
        } => format!("approval {approval_id} {resolution:?}"),
        E::Usage(u) => format!("usage {} in / {} out", u.input_tokens, u.output_tokens),
        E::TurnCompleted {
            is_error, reason, ..
        } => format!(
            "turn completed{}{}",
            if *is_error { " with an error" } else { "" },
            reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        E::Error { message } => format!("ERROR {message}"),
        E::RunPrepared(p) => format!(
            "run works in {} on {}",
            p.path,
            p.branch.as_deref().unwrap_or("a detached HEAD")
        ),
        E::ProcessStarted { process, kind, .. } => {
            format!("process {process} {} started", kind.name())
        }
        E::ProcessOutput { process, text } => format!("[{process}] {text}"),
        E::ProcessEnded {
            process,
            status,
            exit_code,
            ..
        } => format!(
            "process {process} {status:?}{}",
            exit_code
                .map(|c| format!(" (exit {c})"))
                .unwrap_or_default()
        ),
        E::AutoCommitted {
            commit, summary, ..
        } => {
            format!(
                "committed {}: {summary}",
                commit.get(..10).unwrap_or(commit)
            )
        }
        E::AutoCommitFailed { message } => format!("COMMIT FAILED {message}"),
        E::Raw { line, .. } => format!("raw {}", line.chars().take(120).collect::<String>()),
    };
    let one_line: String = escape(&what.replace(['\r', '\n'], " "))
        .chars()
        .take(300)
        .collect();
    format!("#{:<5} {one_line}\n", ev.seq)
}

/// One line for an audit entry, every field escaped: the actor and target of a failed login, for one,
/// are whatever an anonymous caller typed as a username.
pub fn audit_line(e: &AuditEntry) -> String {
    let ev = &e.event;
    format!(
        "{}  {:<28} {:<24} {}{}{}\n",
        rfc3339(e.at),
        escape(&ev.action),
        escape(&ev.actor),
        escape(ev.target.as_deref().unwrap_or_default()),
        ev.source
            .as_deref()
            .map(|s| format!(" from {}", escape(s)))
            .unwrap_or_default(),
        ev.detail
            .as_deref()
            .map(|d| format!(" — {}", escape(d)))
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Actor;
    use crate::store::AuditAction;
    use vibebridge_tunnel::session::{EventBody, SessionEvent};

    /// Attack strings a user, node or anonymous caller can plant: OSC 52 (set the clipboard), erase line +
    /// cursor up, a C1 CSI, DEL, a bidi override, and a line break forging a line of its own.
    const ATTACKS: &[&str] = &[
        "\x1b]52;c;SGVsbG8=\x07",
        "\x1b[2K\x1b[1A",
        "\u{9b}2K",
        "x\x7f",
        "\u{202e}evil",
        "a\nFAKE LINE",
    ];

    /// No character a terminal would act on, apart from the line breaks the renderer itself wrote.
    fn assert_inert(out: &str, lines: usize) {
        assert!(
            !out.chars().any(|c| is_control(c) && c != '\n'),
            "control character printed raw: {out:?}"
        );
        assert_eq!(out.lines().count(), lines, "a field forged a line: {out:?}");
    }

    /// Proves every console renderer (table, key/value, event line, audit line, JSON) prints each attack
    /// string as visible text, keeping its own line structure.
    #[test]
    fn every_renderer_escapes_control_characters() {
        for attack in ATTACKS {
            let rows = vec![vec![attack.to_string(), format!("t{attack}")]];
            assert_inert(&table(&["user", "title"], &rows), 2);
            assert_inert(&kv(&[("title", attack.to_string())]), 1);
            for body in [
                EventBody::UserMessage {
                    text: attack.to_string(),
                },
                EventBody::Error {
                    message: attack.to_string(),
                },
            ] {
                let ev = SessionEvent {
                    seq: 1,
                    at_ms: 0,
                    body,
                };
                assert_inert(&event_line(&ev), 1);
            }
            let entry = AuditEntry {
                seq: 1,
                at: 0,
                event: Actor::user(*attack, Some(attack))
                    .audit(AuditAction::AuthLoginFailed)
                    .target(*attack)
                    .detail(*attack),
            };
            assert_inert(&audit_line(&entry), 1);
            let json = format!("{}\n", serde_json::json!({ "title": attack }));
            let safe = escape_json(&json);
            assert_inert(&safe, 1);
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&safe).unwrap()["title"],
                *attack,
                "escaping changed the JSON's meaning"
            );
        }
    }

    /// Proves the escapes are visible and exact, harmless text passes unchanged (and unallocated), and
    /// escaping twice changes nothing more.
    #[test]
    fn escapes_are_visible_and_stable() {
        assert_eq!(escape("\x1b]52;c;SGVsbG8=\x07"), "\\x1b]52;c;SGVsbG8=\\x07");
        assert_eq!(
            escape("a\r\n\tb\u{9b}\u{202e}"),
            "a\\r\\n\\tb\\u{9b}\\u{202e}"
        );
        assert_eq!(escape_text("two\nlines\x1b", true), "two\nlines\\x1b");
        assert!(matches!(escape("ünïcode /path-1"), Cow::Borrowed(_)));
        let once = escape("\x1b[2K").into_owned();
        assert_eq!(escape(&once), once);
    }
}

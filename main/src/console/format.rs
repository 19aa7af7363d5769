//! How the console prints: aligned tables, key/value blocks, and one line per session event or audit entry.

use crate::store::{AuditEntry, rfc3339};

/// Formats rows as an aligned table.
pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.iter().map(|h| h.to_uppercase()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    if rows.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

pub(super) fn kv(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
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
        E::Raw { line, .. } => format!("raw {}", line.chars().take(120).collect::<String>()),
    };
    let one_line: String = what.replace(['\r', '\n'], " ").chars().take(300).collect();
    format!("#{:<5} {one_line}\n", ev.seq)
}

/// One line for an audit entry.
pub fn audit_line(e: &AuditEntry) -> String {
    format!(
        "{}  {:<28} {:<24} {}{}{}\n",
        rfc3339(e.at),
        e.event.action,
        e.event.actor,
        e.event.target.clone().unwrap_or_default(),
        e.event
            .source
            .as_ref()
            .map(|s| format!(" from {s}"))
            .unwrap_or_default(),
        e.event
            .detail
            .as_ref()
            .map(|d| format!(" — {d}"))
            .unwrap_or_default(),
    )
}

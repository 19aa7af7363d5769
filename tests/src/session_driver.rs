//! A simulated user driving one session turn after turn over main's API: it answers every approval with
//! allow, sends the next message once the last one's turn has settled, and retries while main is away.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::Api;

/// The polling interval of conditions the suite waits on.
pub async fn tick() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

fn settled(status: &str) -> bool {
    matches!(
        status,
        "idle" | "interrupted" | "failed" | "stopped" | "completed"
    )
}

/// A turn of `provider` that streams text and runs one command, which asks an approval.
pub fn prompt(provider: &str, n: u64, last: bool) -> String {
    let text = if last {
        "final".to_string()
    } else {
        format!("done {n}")
    };
    match provider {
        "claude" => format!(
            "Turn {n}. [[thinking:planning {n}]] [[shell:echo step {n}]] [[slow:5]] [[text:{text}]]"
        ),
        _ => format!("Turn {n}. [[shell:echo step {n}]] [[text:{text}]]"),
    }
}

/// Drives one session: answers its approvals, sends the next message once the last one's turn settled.
/// Once `stop` is set it sends one last message and returns when that turn has settled as `idle`.
pub async fn drive(
    api: Arc<Api>,
    id: String,
    provider: &'static str,
    stop: Arc<AtomicBool>,
    turns: Arc<AtomicU64>,
) {
    let mut sent: Option<u64> = None;
    let mut last_sent = false;
    let mut n = 1;
    loop {
        tick().await;
        let Ok((200, s)) = api
            .try_call(
                reqwest::Method::GET,
                &format!("/api/v1/sessions/{id}"),
                None,
            )
            .await
        else {
            continue;
        };
        let (status, last_seq) = (
            s["status"].as_str().unwrap().to_string(),
            s["last_seq"].as_u64().unwrap(),
        );
        if s["pending_approvals"].as_u64().unwrap_or(0) > 0 {
            if let Ok((200, list)) = api
                .try_call(reqwest::Method::GET, "/api/v1/approvals", None)
                .await
            {
                for a in list
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|a| a["session_id"] == id.as_str())
                {
                    let path = format!(
                        "/api/v1/sessions/{id}/approvals/{}",
                        a["approval_id"].as_str().unwrap()
                    );
                    let _ = api
                        .try_call(
                            reqwest::Method::POST,
                            &path,
                            Some(json!({"decision": "allow"})),
                        )
                        .await;
                }
            }
            continue;
        }
        let done = sent.is_none_or(|at| last_seq > at + 1);
        if !(settled(&status) && done) {
            continue;
        }
        if last_sent && status == "idle" {
            return;
        }
        let last = stop.load(Ordering::SeqCst);
        let body = json!({ "text": prompt(provider, n, last) });
        if let Ok((202, _)) = api
            .try_call(
                reqwest::Method::POST,
                &format!("/api/v1/sessions/{id}/messages"),
                Some(body),
            )
            .await
        {
            sent = Some(last_seq);
            last_sent = last;
            n += 1;
            turns.fetch_add(1, Ordering::SeqCst);
        }
    }
}

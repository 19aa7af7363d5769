//! A simulated user driving one session turn after turn over main's API: it answers every approval with
//! allow, sends the next message once the last one's turn has settled, and retries while main is away.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// What a driver counts.
#[derive(Default)]
pub struct DriveStats {
    /// Messages main accepted (202).
    pub turns: AtomicU64,
    /// Every message main accepted (202): the session and the text. Each must be a `user_message` of the
    /// session's final history ([`crate::fault_world::World::missing_messages`]).
    pub accepted: Mutex<Vec<(String, String)>>,
    /// Times a driver presumed its message lost during the run (no `user_message` yet and the session
    /// `interrupted` since, which a main still catching up also shows) and sent the next one.
    pub resent: AtomicU64,
}

/// Main's events of session `id` after `after`, or `None` while main is away.
async fn events_after(api: &Api, id: &str, after: u64) -> Option<Vec<serde_json::Value>> {
    let path = format!("/api/v1/sessions/{id}/events?after={after}&limit=1000");
    match api.try_call(reqwest::Method::GET, &path, None).await {
        Ok((200, page)) => page["events"].as_array().cloned(),
        _ => None,
    }
}

/// Where the last message stands, judged from main's events after it was sent.
enum Sent {
    /// Its turn has not settled yet (or main is away).
    Waiting,
    /// Its `user_message` is stored and a settled status followed it.
    Settled,
    /// It never became an event and the session was interrupted since: the agent lost it.
    Lost,
}

async fn where_is(api: &Api, id: &str, text: &str, at: u64) -> Sent {
    let Some(after) = events_after(api, id, at).await else {
        return Sent::Waiting;
    };
    let is_settled =
        |e: &serde_json::Value| e["type"] == "status" && e["status"].as_str().is_some_and(settled);
    match after
        .iter()
        .position(|e| e["type"] == "user_message" && e["text"] == text)
    {
        Some(i) if after[i..].iter().any(is_settled) => Sent::Settled,
        Some(_) => Sent::Waiting,
        None if after
            .iter()
            .any(|e| e["type"] == "status" && e["status"] == "interrupted") =>
        {
            Sent::Lost
        }
        None => Sent::Waiting,
    }
}

/// Drives one session: answers its approvals, sends the next message once the last one's turn settled
/// (again, counted, if the agent lost it). Once `stop` is set it sends one last message and returns when
/// that turn has settled as `idle`.
pub async fn drive(
    api: Arc<Api>,
    id: String,
    provider: &'static str,
    stop: Arc<AtomicBool>,
    stats: Arc<DriveStats>,
) {
    // The message in flight: its text, main's last seq when it was sent, and whether it is the last one.
    let mut sent: Option<(String, u64, bool)> = None;
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
        if !settled(&status) {
            continue;
        }
        if let Some((text, at, last)) = &sent {
            match where_is(&api, &id, text, *at).await {
                Sent::Waiting => continue,
                // Presumed lost (it may still be on its way to main): send the next one. Whether any
                // accepted message was really lost is judged at the end, on the final history.
                Sent::Lost => {
                    stats.resent.fetch_add(1, Ordering::SeqCst);
                }
                Sent::Settled if *last && status == "idle" => return,
                Sent::Settled => {}
            }
        }
        let last = stop.load(Ordering::SeqCst);
        let text = prompt(provider, n, last);
        if let Ok((202, _)) = api
            .try_call(
                reqwest::Method::POST,
                &format!("/api/v1/sessions/{id}/messages"),
                Some(json!({ "text": text })),
            )
            .await
        {
            stats
                .accepted
                .lock()
                .unwrap()
                .push((id.clone(), text.clone()));
            sent = Some((text, last_seq, last));
            n += 1;
            stats.turns.fetch_add(1, Ordering::SeqCst);
        }
    }
}

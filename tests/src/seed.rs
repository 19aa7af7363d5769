//! Sessions written straight into main's store (no node, no CLI), for tests of access and of followers, and
//! for benchmarks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use uuid::Uuid;
use vibebridge_main::Store;
use vibebridge_main::store::{SessionRecord, UsageTotals, UserId};
use vibebridge_tunnel::session::{EventBody, Provider, SessionEvent, SessionStatus};

/// Stores an idle session of `owner` on `node` with no events, the way main records a started one; its id.
pub fn session_on(store: &Store, owner: UserId, node: &str) -> Uuid {
    let id = Uuid::now_v7();
    store
        .insert_agent_session(&SessionRecord {
            id,
            owner,
            node_id: node.into(),
            path: "/w".into(),
            provider: Provider::Claude,
            model: None,
            permission_mode: None,
            title: "seeded".into(),
            status: SessionStatus::Idle,
            status_message: None,
            provider_session_id: None,
            reported_model: None,
            usage: UsageTotals::default(),
            last_seq: 0,
            created_at: 0,
            updated_at: 0,
            node_fingerprint: None,
        })
        .unwrap();
    id
}

/// Stores an idle session of `owner` on node `n0` holding `count` assistant messages of `size` bytes of
/// text each; its id.
pub fn session(store: &Store, owner: UserId, count: u64, size: usize) -> Uuid {
    let id = session_on(store, owner, "n0");
    let text = "x".repeat(size);
    for seq in 1..=count {
        let ev = SessionEvent {
            seq,
            at_ms: seq,
            body: EventBody::AssistantMessage {
                message_id: format!("m{seq}"),
                text: text.clone(),
            },
        };
        store.apply_session_events(&id, vec![ev]).unwrap();
    }
    id
}

/// Waits (up to [`crate::WAIT`]) until `cond` holds, checking every 20 ms; panics with `what` otherwise.
pub async fn until(what: &str, cond: impl Fn() -> bool) {
    let waited = tokio::time::timeout(crate::WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting until {what}");
}

//! Tests of the agent-session store: event application, holes, approvals index, revocation.

#![allow(clippy::unwrap_used)]
use super::*;
use serde_json::Value;
use vibebridge_tunnel::ids::ApprovalId;
use vibebridge_tunnel::session::{Resolution, ToolKind};

fn ev(seq: u64, body: EventBody) -> SessionEvent {
    SessionEvent {
        seq,
        at_ms: seq,
        body,
    }
}

/// Stores a fresh session on `node`; its id.
fn session(store: &Store, node: &str) -> Uuid {
    test_session(store, node)
}

fn ask(approval_id: &str) -> EventBody {
    EventBody::ApprovalRequested {
        approval_id: approval_id.into(),
        call_id: None,
        tool: "Bash".into(),
        kind: ToolKind::Command,
        title: "ls".into(),
        input: Value::Null,
    }
}

fn resolved(approval_id: &str) -> EventBody {
    EventBody::ApprovalResolved {
        approval_id: approval_id.into(),
        resolution: Resolution::Allowed,
        message: None,
    }
}

/// Proves events are stored once under the node's seqs (overlaps skipped, gaps refused) and that the
/// record and the approvals index follow them.
#[test]
fn events_apply_once_in_order() {
    let (store, dir) = crate::store::temp();
    let id = session(&store, "n1");
    let running = EventBody::Status {
        status: SessionStatus::Running,
        message: None,
    };
    let fresh = store
        .apply_session_events(&id, vec![ev(1, running.clone()), ev(2, ask("a1"))])
        .unwrap();
    assert_eq!(fresh.len(), 2);
    assert_eq!(store.pending_approvals().unwrap().len(), 1);
    // A re-attach overlap is skipped, a gap refused.
    let fresh = store
        .apply_session_events(&id, vec![ev(2, running.clone())])
        .unwrap();
    assert!(fresh.is_empty());
    assert!(matches!(
        store.apply_session_events(&id, vec![ev(4, running)]),
        Err(ApplyError::Gap { last: 2, got: 4 })
    ));
    store
        .apply_session_events(&id, vec![ev(3, resolved("a1"))])
        .unwrap();
    assert!(store.pending_approvals().unwrap().is_empty());
    let rec = store.agent_session(&id).unwrap().unwrap();
    assert_eq!((rec.last_seq, rec.status), (3, SessionStatus::Running));
    assert_eq!(store.session_events(&id, 1, 10).unwrap().len(), 2);
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Proves a hole is filled with error events naming the lost seqs, and an absurd one is refused.
#[test]
fn holes_are_filled_with_error_events() {
    let (store, dir) = crate::store::temp();
    let id = session(&store, "n1");
    store
        .apply_session_events(&id, vec![ev(1, ask("a1"))])
        .unwrap();
    let filled = store.fill_session_hole(&id, 1, 4).unwrap();
    assert_eq!(filled.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    assert!(matches!(&filled[0].body, EventBody::Error { message } if message.contains("2..=3")));
    store
        .apply_session_events(&id, vec![ev(4, resolved("a1"))])
        .unwrap();
    assert_eq!(store.agent_session(&id).unwrap().unwrap().last_seq, 4);
    assert!(matches!(
        store.fill_session_hole(&id, 4, u64::MAX),
        Err(ApplyError::HoleTooLarge { .. })
    ));
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Proves revoking a node drops its sessions' pending approvals (nobody can answer them) and keeps others'.
#[test]
fn revoking_a_node_drops_its_pending_approvals() {
    let (store, dir) = crate::store::temp();
    for (node, fp) in [("n1", "SHA256:a"), ("n2", "SHA256:b")] {
        store
            .enroll_node(node, format!("ssh-ed25519 {fp}"), fp.into(), None, None)
            .unwrap();
    }
    let (gone, kept) = (session(&store, "n1"), session(&store, "n2"));
    store
        .apply_session_events(&gone, vec![ev(1, ask("a1"))])
        .unwrap();
    store
        .apply_session_events(&kept, vec![ev(1, ask("a2"))])
        .unwrap();
    store.remove_node("n1").unwrap().unwrap();
    let left: Vec<ApprovalId> = store
        .pending_approvals()
        .unwrap()
        .into_iter()
        .map(|a| a.approval_id)
        .collect();
    assert_eq!(left, ["a2"]);
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Proves a session cannot replace or clear another session's pending approval by reusing its id.
#[test]
fn approval_ids_stay_with_their_session() {
    let (store, dir) = crate::store::temp();
    let (mine, theirs) = (session(&store, "n1"), session(&store, "n2"));
    store
        .apply_session_events(&mine, vec![ev(1, ask("a1"))])
        .unwrap();
    store
        .apply_session_events(&theirs, vec![ev(1, ask("a1"))])
        .unwrap();
    let owner = |store: &Store| store.pending_approval("a1").unwrap().map(|a| a.session_id);
    assert_eq!(owner(&store), Some(mine));
    store
        .apply_session_events(&theirs, vec![ev(2, resolved("a1"))])
        .unwrap();
    assert_eq!(owner(&store), Some(mine));
    store
        .apply_session_events(&mine, vec![ev(2, resolved("a1"))])
        .unwrap();
    assert_eq!(owner(&store), None);
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Proves a page stops at its byte budget (but always holds one event), so a page of large events
/// stays small whatever the count asked for.
#[test]
fn pages_are_bounded_by_bytes() {
    let (store, dir) = crate::store::temp();
    let id = session(&store, "n1");
    let big = |seq| {
        ev(
            seq,
            EventBody::AssistantMessage {
                message_id: "m".into(),
                text: "x".repeat(100_000),
            },
        )
    };
    store
        .apply_session_events(&id, (1..=10).map(big).collect())
        .unwrap();
    let seqs = |p: Vec<SessionEvent>| p.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(store.session_events_page(&id, 0, 256, 250_000).unwrap()),
        [1, 2]
    );
    assert_eq!(
        seqs(store.session_events_page(&id, 4, 256, 1000).unwrap()),
        [5]
    );
    assert_eq!(store.session_events(&id, 0, 256).unwrap().len(), 10);
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}

//! Agent sessions as main stores them: the record, the event log (the node's seqs, append-only), and the
//! index of pending approvals for the needs-attention inbox.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use vibebridge_tunnel::session::{EventBody, Provider, SessionEvent, SessionStatus};

use super::{Store, StoreError, UserId, decode, encode, now_ms};

/// Running totals of a session's usage.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ts_rs::TS)]
pub struct UsageTotals {
    /// Input tokens over all turns.
    pub input_tokens: u64,
    /// Output tokens over all turns.
    pub output_tokens: u64,
    /// Cached input tokens over all turns.
    pub cached_input_tokens: u64,
    /// Cost in US dollars, where the CLI reports it.
    pub cost_usd: f64,
    /// Completed turns.
    pub turns: u64,
}

/// A session as main knows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Session id (UUID v7).
    pub id: Uuid,
    /// Who started it.
    pub owner: UserId,
    /// Node it runs on.
    pub node_id: String,
    /// Working directory on the node (as the node resolved it once started).
    pub path: String,
    /// Which CLI.
    pub provider: Provider,
    /// Requested model.
    pub model: Option<String>,
    /// Requested permission mode / approval policy.
    pub permission_mode: Option<String>,
    /// The first prompt, shortened, as a title.
    pub title: String,
    /// Last known status.
    pub status: SessionStatus,
    /// The message that came with the last status.
    pub status_message: Option<String>,
    /// The CLI's own conversation id.
    pub provider_session_id: Option<String>,
    /// Model the CLI reported.
    pub reported_model: Option<String>,
    /// Usage so far.
    pub usage: UsageTotals,
    /// Seq of the last stored event.
    pub last_seq: u64,
    /// Created, ms since epoch.
    pub created_at: u64,
    /// Last event, ms since epoch.
    pub updated_at: u64,
}

/// An approval or question waiting for a human.
#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct PendingApproval {
    /// Id to answer with.
    pub approval_id: String,
    /// Its session.
    pub session_id: Uuid,
    /// The session's owner.
    #[ts(type = "string")]
    pub owner: UserId,
    /// The session's node.
    pub node_id: String,
    /// `approval` or `question`.
    pub kind: String,
    /// The requesting event, as stored.
    pub event: Value,
    /// When it was asked, ms since epoch.
    pub requested_at: u64,
}

fn event_key(id: &Uuid, seq: u64) -> [u8; 24] {
    vibebridge_tunnel::session::event_key(id.as_bytes(), seq)
}

/// Why events could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The node sent a seq that does not follow the last stored one; re-attach from `last_seq`.
    #[error("event seq {got} does not follow stored seq {last}")]
    Gap {
        /// Last stored seq.
        last: u64,
        /// Seq received.
        got: u64,
    },
}

impl From<sled::Error> for ApplyError {
    fn from(e: sled::Error) -> Self {
        ApplyError::Store(StoreError::Db(e))
    }
}

impl Store {
    /// Stores a new session.
    pub fn insert_agent_session(&self, rec: &SessionRecord) -> Result<(), StoreError> {
        self.agent_sessions.insert(rec.id.as_bytes(), encode(rec))?;
        Ok(())
    }

    /// Removes a session that never started (the node refused it) with its events.
    pub fn remove_agent_session(&self, id: &Uuid) -> Result<(), StoreError> {
        let _guard = self.lock();
        self.agent_sessions.remove(id.as_bytes())?;
        for item in self.session_events.scan_prefix(id.as_bytes()) {
            let (k, _) = item?;
            self.session_events.remove(k)?;
        }
        Ok(())
    }

    /// One session.
    pub fn agent_session(&self, id: &Uuid) -> Result<Option<SessionRecord>, StoreError> {
        self.agent_sessions
            .get(id.as_bytes())?
            .map(|v| decode("agent_sessions", &v))
            .transpose()
    }

    /// Every session, newest first.
    pub fn agent_sessions(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.agent_sessions.iter().rev() {
            let (_, v) = item?;
            out.push(decode("agent_sessions", &v)?);
        }
        Ok(out)
    }

    /// Stored events after `after`, oldest first, at most `limit`.
    pub fn session_events(
        &self,
        id: &Uuid,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SessionEvent>, StoreError> {
        self.session_events_page(id, after, limit, usize::MAX)
    }

    /// Stored events after `after`, oldest first: at most `limit` events, and no more than `max_bytes` of
    /// stored JSON (but always the first event, whatever its size). A page's memory is bounded by bytes, not
    /// by a count of events that may each be as large as a tunnel frame.
    pub fn session_events_page(
        &self,
        id: &Uuid,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<SessionEvent>, StoreError> {
        let start = event_key(id, after.saturating_add(1));
        let end = event_key(id, u64::MAX);
        let (mut out, mut bytes) = (Vec::new(), 0usize);
        for item in self.session_events.range(start..=end).take(limit) {
            let (_, v) = item?;
            if !out.is_empty() && bytes.saturating_add(v.len()) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(v.len());
            out.push(decode("session_events", &v)?);
        }
        Ok(out)
    }

    /// Appends events that arrived from the node. Events at or below the stored `last_seq` are skipped (a
    /// re-attach overlap); anything else must follow it exactly. Returns the events that were new.
    pub fn apply_session_events(
        &self,
        id: &Uuid,
        events: Vec<SessionEvent>,
    ) -> Result<Vec<SessionEvent>, ApplyError> {
        let _guard = self.lock();
        let mut rec = self
            .agent_session(id)?
            .ok_or_else(|| StoreError::NotFound(format!("session {id}")))?;
        let mut fresh = Vec::new();
        for ev in events {
            if ev.seq <= rec.last_seq {
                continue;
            }
            if ev.seq != rec.last_seq + 1 {
                self.agent_sessions.insert(id.as_bytes(), encode(&rec))?;
                return Err(ApplyError::Gap {
                    last: rec.last_seq,
                    got: ev.seq,
                });
            }
            self.session_events
                .insert(event_key(id, ev.seq), encode(&ev))?;
            self.index_event(&mut rec, &ev)?;
            rec.last_seq = ev.seq;
            rec.updated_at = now_ms();
            fresh.push(ev);
        }
        self.agent_sessions.insert(id.as_bytes(), encode(&rec))?;
        Ok(fresh)
    }

    /// Folds one event into the record and the approvals index.
    fn index_event(&self, rec: &mut SessionRecord, ev: &SessionEvent) -> Result<(), StoreError> {
        match &ev.body {
            EventBody::Status { status, message } => {
                rec.status = *status;
                rec.status_message = message.clone();
            }
            EventBody::ProviderSession {
                provider_session_id,
                model,
            } => {
                rec.provider_session_id = Some(provider_session_id.clone());
                if model.is_some() {
                    rec.reported_model = model.clone();
                }
            }
            EventBody::Usage(u) => {
                rec.usage.input_tokens += u.input_tokens;
                rec.usage.output_tokens += u.output_tokens;
                rec.usage.cached_input_tokens += u.cached_input_tokens;
                rec.usage.cost_usd += u.cost_usd.unwrap_or(0.0);
            }
            EventBody::TurnCompleted { .. } => rec.usage.turns += 1,
            EventBody::ApprovalRequested { approval_id, .. }
            | EventBody::Question { approval_id, .. } => {
                let pending = PendingApproval {
                    approval_id: approval_id.clone(),
                    session_id: rec.id,
                    owner: rec.owner,
                    node_id: rec.node_id.clone(),
                    kind: if matches!(ev.body, EventBody::Question { .. }) {
                        "question".into()
                    } else {
                        "approval".into()
                    },
                    event: serde_json::to_value(ev).unwrap_or(Value::Null),
                    requested_at: ev.at_ms,
                };
                // Ids come from the node: one node must not replace another session's approval.
                match self.approval_session(approval_id)? {
                    Some(other) if other != rec.id => tracing::warn!(
                        session = %rec.id, %other, approval_id,
                        "ignored an approval whose id another session already uses"
                    ),
                    _ => {
                        self.approvals
                            .insert(approval_id.as_bytes(), encode(&pending))?;
                    }
                }
            }
            EventBody::ApprovalResolved { approval_id, .. }
                if self.approval_session(approval_id)? == Some(rec.id) =>
            {
                self.approvals.remove(approval_id.as_bytes())?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The session a pending approval belongs to.
    fn approval_session(&self, approval_id: &str) -> Result<Option<Uuid>, StoreError> {
        Ok(self.pending_approval(approval_id)?.map(|a| a.session_id))
    }

    /// A pending approval by id.
    pub fn pending_approval(
        &self,
        approval_id: &str,
    ) -> Result<Option<PendingApproval>, StoreError> {
        self.approvals
            .get(approval_id.as_bytes())?
            .map(|v| decode("approvals", &v))
            .transpose()
    }

    /// Every pending approval, oldest first.
    pub fn pending_approvals(&self) -> Result<Vec<PendingApproval>, StoreError> {
        let mut out: Vec<PendingApproval> = Vec::new();
        for item in self.approvals.iter() {
            let (_, v) = item?;
            out.push(decode("approvals", &v)?);
        }
        out.sort_by_key(|a| a.requested_at);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
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
        let id = Uuid::now_v7();
        store
            .insert_agent_session(&SessionRecord {
                id,
                owner: UserId(Uuid::now_v7()),
                node_id: node.into(),
                path: "/w".into(),
                provider: Provider::Claude,
                model: None,
                permission_mode: None,
                title: "t".into(),
                status: SessionStatus::Starting,
                status_message: None,
                provider_session_id: None,
                reported_model: None,
                usage: UsageTotals::default(),
                last_seq: 0,
                created_at: 0,
                updated_at: 0,
            })
            .unwrap();
        id
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
}

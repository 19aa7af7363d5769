//! Agent sessions as main stores them: the record, the event log (the node's seqs, append-only), and the
//! index of pending approvals for the needs-attention inbox.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vibebridge_tunnel::ids::ApprovalId;
use vibebridge_tunnel::session::{EventBody, Provider, SessionEvent, SessionStatus};

use super::{Change, Store, StoreError, UserId, decode, encode, now_ms};

/// Running totals of a session's usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ts_rs::TS)]
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

impl UsageTotals {
    /// Adds one turn's reported usage (its tokens and cost; turns are counted where turns end).
    pub fn add_usage(&mut self, u: &vibebridge_tunnel::session::Usage) {
        self.input_tokens += u.input_tokens;
        self.output_tokens += u.output_tokens;
        self.cached_input_tokens += u.cached_input_tokens;
        self.cost_usd += u.cost_usd.unwrap_or(0.0);
    }

    /// Adds other totals, turns included.
    pub fn add(&mut self, o: &UsageTotals) {
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cached_input_tokens += o.cached_input_tokens;
        self.cost_usd += o.cost_usd;
        self.turns += o.turns;
    }
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
    /// Fingerprint of the node's key when the session started: a node re-enrolled under the same id (a new
    /// key) does not inherit it. `None` in records from before it was kept.
    #[serde(default)]
    pub node_fingerprint: Option<String>,
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

/// What a pending approval asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalKind {
    /// Allow or deny a tool call.
    Approval,
    /// Answer a question.
    Question,
}

/// An approval or question waiting for a human.
#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct PendingApproval {
    /// Id to answer with.
    pub approval_id: ApprovalId,
    /// Its session.
    pub session_id: Uuid,
    /// The session's owner.
    #[ts(type = "string")]
    pub owner: UserId,
    /// The session's node.
    pub node_id: String,
    /// A tool call to allow, or a question to answer.
    pub kind: ApprovalKind,
    /// The requesting event (`approval_requested` or `question`), as stored.
    pub event: SessionEvent,
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
    /// A node claimed a hole longer than [`MAX_HOLE`] events: broken, not lost events.
    #[error("node sent seq {got} after stored seq {last}: a hole longer than {MAX_HOLE} events")]
    HoleTooLarge {
        /// Last stored seq.
        last: u64,
        /// Seq received.
        got: u64,
    },
}

/// The longest hole in a node's seqs that main fills with stand-in error events.
pub const MAX_HOLE: u64 = 10_000;

impl From<super::KvError> for ApplyError {
    fn from(e: super::KvError) -> Self {
        ApplyError::Store(StoreError::Db(e))
    }
}

impl Store {
    /// Stores a new session, on disk before it returns: the node is asked to start it next, and a main that
    /// crashed and forgot it would stop the CLI as one nobody knows.
    pub fn insert_agent_session(&self, rec: &SessionRecord) -> Result<(), StoreError> {
        self.agent_sessions.insert(rec.id.as_bytes(), encode(rec))?;
        self.durable()?;
        self.changed(session_change(rec));
        Ok(())
    }

    /// Removes a session that never started (the node refused it) with its events.
    pub fn remove_agent_session(&self, id: &Uuid) -> Result<(), StoreError> {
        self.atomic(|| {
            let Some(rec) = self.agent_session(id)? else {
                return Ok(());
            };
            self.agent_sessions.remove(id.as_bytes())?;
            for item in self.session_events.scan_prefix(id.as_bytes()) {
                let (k, _) = item?;
                self.session_events.remove(k)?;
            }
            self.changed(session_change(&rec));
            Ok(())
        })
    }

    /// Sets a session's status without an event (main's own knowledge, e.g. `unknown` after a lost start
    /// answer, `failed` when the node has no such session). Returns the record, if the session exists.
    pub fn set_session_status(
        &self,
        id: &Uuid,
        status: SessionStatus,
        message: Option<String>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.atomic(|| {
            let Some(mut rec) = self.agent_session(id)? else {
                return Ok(None);
            };
            rec.status = status;
            rec.status_message = message.clone();
            rec.updated_at = now_ms();
            self.agent_sessions.insert(id.as_bytes(), encode(&rec))?;
            self.changed(session_change(&rec));
            Ok(Some(rec))
        })
    }

    /// Whether `rec` runs on the node now enrolled under its node id: `false` when the node was revoked, or
    /// re-enrolled with another key since the session started.
    pub fn session_node_current(&self, rec: &SessionRecord) -> Result<bool, StoreError> {
        Ok(self.node(&rec.node_id)?.is_some_and(|node| {
            rec.node_fingerprint
                .as_ref()
                .is_none_or(|f| *f == node.fingerprint)
        }))
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
        // One event first: events may be as large as a tunnel frame, and the page stops at `max_bytes`.
        for item in self
            .session_events
            .range(start..=end)
            .first_page(1)
            .take(limit)
        {
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
        self.atomic(|| {
            let mut rec = self
                .agent_session(id)?
                .ok_or_else(|| StoreError::NotFound(format!("session {id}")))?;
            let mut fresh = Vec::new();
            let mut changes = Vec::new();
            let result = (|| {
                for ev in events.clone() {
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
                    self.index_event(&mut rec, &ev, &mut changes)?;
                    rec.last_seq = ev.seq;
                    rec.updated_at = now_ms();
                    fresh.push(ev);
                }
                self.agent_sessions.insert(id.as_bytes(), encode(&rec))?;
                Ok(())
            })();
            // What was stored before a gap is announced too.
            if !changes.is_empty() {
                self.changed(session_change(&rec));
            }
            for change in changes {
                self.changed(change);
            }
            result.map(|()| fresh)
        })
    }

    /// Stands in for events the node lost: each seq after `last` and before `got` gets an error event saying
    /// so, so the log stays contiguous and followers see the hole reported. Returns the stand-ins stored.
    pub fn fill_session_hole(
        &self,
        id: &Uuid,
        last: u64,
        got: u64,
    ) -> Result<Vec<SessionEvent>, ApplyError> {
        let hole = got.saturating_sub(last).saturating_sub(1);
        if hole > MAX_HOLE {
            return Err(ApplyError::HoleTooLarge { last, got });
        }
        let at_ms = now_ms();
        let stand_ins = (last + 1..got)
            .map(|seq| SessionEvent {
                seq,
                at_ms,
                body: EventBody::Error {
                    message: format!(
                        "event {seq} was lost on the node before it reached main (events {}..={} are missing)",
                        last + 1,
                        got - 1
                    ),
                },
            })
            .collect();
        self.apply_session_events(id, stand_ins)
    }

    /// Folds one event into the record and the approvals index; adds the approvals it requested or
    /// resolved to `changes` (and anything the session list shows: status, usage, a turn, an approval
    /// makes `changes` non-empty).
    fn index_event(
        &self,
        rec: &mut SessionRecord,
        ev: &SessionEvent,
        changes: &mut Vec<Change>,
    ) -> Result<(), StoreError> {
        let approval = |approval_id: &ApprovalId, resolved| Change::Approval {
            approval_id: approval_id.clone(),
            session_id: rec.id,
            owner: rec.owner,
            node_id: rec.node_id.clone(),
            resolved,
        };
        match &ev.body {
            EventBody::Status { status, message } => {
                rec.status = *status;
                rec.status_message = message.clone();
                changes.push(session_change(rec));
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
            EventBody::Usage(u) => rec.usage.add_usage(u),
            EventBody::TurnCompleted { .. } => {
                rec.usage.turns += 1;
                changes.push(session_change(rec));
            }
            // A run's session works in the work tree the node prepared.
            EventBody::RunPrepared(p) => {
                rec.path = p.path.clone();
                changes.push(session_change(rec));
            }
            // A run follows these (`ops::runs::track`).
            EventBody::ProcessStarted { .. }
            | EventBody::ProcessEnded { .. }
            | EventBody::AutoCommitted { .. }
            | EventBody::AutoCommitFailed { .. } => changes.push(session_change(rec)),
            EventBody::ApprovalRequested { approval_id, .. }
            | EventBody::Question { approval_id, .. } => {
                let pending = PendingApproval {
                    approval_id: approval_id.clone(),
                    session_id: rec.id,
                    owner: rec.owner,
                    node_id: rec.node_id.clone(),
                    kind: if matches!(ev.body, EventBody::Question { .. }) {
                        ApprovalKind::Question
                    } else {
                        ApprovalKind::Approval
                    },
                    event: ev.clone(),
                    requested_at: ev.at_ms,
                };
                // Ids come from the node: one node must not replace another session's approval.
                match self.approval_session(approval_id)? {
                    Some(other) if other != rec.id => tracing::warn!(
                        session = %rec.id, %other, %approval_id,
                        "ignored an approval whose id another session already uses"
                    ),
                    _ => {
                        self.approvals
                            .insert(approval_id.as_bytes(), encode(&pending))?;
                        changes.push(approval(approval_id, None));
                    }
                }
            }
            EventBody::ApprovalResolved {
                approval_id,
                resolution,
                ..
            } if self.approval_session(approval_id)? == Some(rec.id) => {
                self.approvals.remove(approval_id.as_bytes())?;
                changes.push(approval(approval_id, Some(*resolution)));
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

/// The change a session list shows for `rec`.
fn session_change(rec: &SessionRecord) -> Change {
    Change::Session {
        id: rec.id,
        owner: rec.owner,
        node_id: rec.node_id.clone(),
    }
}

/// Stores a fresh session of a new owner on `node` with no events, as main records a started one (for tests);
/// its id.
#[cfg(test)]
pub(crate) fn test_session(store: &Store, node: &str) -> Uuid {
    let id = Uuid::now_v7();
    #[allow(clippy::unwrap_used)]
    store
        .insert_agent_session(&SessionRecord {
            id,
            owner: UserId(Uuid::now_v7()),
            node_id: node.into(),
            node_fingerprint: None,
            path: "/w".into(),
            provider: Provider::Claude,
            model: None,
            permission_mode: None,
            title: "t".into(),
            status: SessionStatus::Starting,
            status_message: None,
            provider_session_id: None,
            reported_model: None,
            usage: super::UsageTotals::default(),
            last_seq: 0,
            created_at: 0,
            updated_at: 0,
        })
        .unwrap();
    id
}

#[cfg(test)]
#[path = "agent_sessions_tests.rs"]
mod tests;

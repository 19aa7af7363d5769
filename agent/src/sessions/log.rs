//! One session's event log: assigns sequence numbers, bounds each event to fit a tunnel frame, stores it,
//! fans it out to attached streams, and keeps the session record (status, provider id, pending approvals)
//! in step. An event leaves the node only once it is on disk: attach streams wait on [`SessionLog::sync`]
//! before sending, so after a crash the node never reuses a seq main already has.
//!
//! Should the store still end before main's copy (a restored backup, a write that failed), the node continues
//! after main's last seq: [`SessionLog::catch_up_to`].

use std::collections::BTreeSet;
use std::sync::Mutex;

use tokio::sync::{broadcast, watch};
use uuid::Uuid;
use vibebridge_tunnel::ids::ApprovalId;
use vibebridge_tunnel::session::{EventBody, Resolution, SessionEvent, SessionStatus};

use super::store::{AgentStore, SessionMeta};

struct State {
    meta: SessionMeta,
    /// Approvals requested and not yet resolved.
    pending: BTreeSet<ApprovalId>,
    /// Last seq that may have reached main before this log was loaded: later ones were written by this
    /// process and were sent only once stored.
    base: u64,
    /// Store ticket of the last event write.
    ticket: u64,
}

/// The log of one session. Shared by its driver and every attach stream.
pub struct SessionLog {
    id: Uuid,
    store: AgentStore,
    state: Mutex<State>,
    live: broadcast::Sender<SessionEvent>,
    alive: watch::Sender<bool>,
    serving: watch::Sender<bool>,
    /// `tunnel.max_frame_bytes`: every event is cut to fit one frame (see [`super::bound`]).
    max_frame: usize,
}

/// How long a message's sender waits for a disk that refuses writes before being told (see
/// [`SessionLog::sync_message`]); shorter than main's wait for a node's answer.
pub const MESSAGE_STORE_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl SessionLog {
    /// A log for `meta`, whose pending approvals are found by replaying its stored events. Events are
    /// bounded to fit a `max_frame`-byte tunnel frame.
    pub fn load(
        store: AgentStore,
        mut meta: SessionMeta,
        max_frame: usize,
    ) -> anyhow::Result<SessionLog> {
        let mut pending = BTreeSet::new();
        let mut after = 0;
        loop {
            let page = store.events_after(&meta.id, after, 1024)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for ev in &page {
                track_pending(&mut pending, &ev.body);
            }
        }
        // The record is written after its event: a crash between them leaves it one behind.
        meta.last_seq = meta.last_seq.max(after);
        let base = meta.last_seq;
        Ok(SessionLog {
            id: meta.id,
            store,
            state: Mutex::new(State {
                meta,
                pending,
                base,
                ticket: 0,
            }),
            live: broadcast::channel(4096).0,
            alive: watch::channel(false).0,
            serving: watch::channel(false).0,
            max_frame,
        })
    }

    /// A Claude session's log in a throwaway store (tests).
    #[cfg(test)]
    pub fn scratch() -> SessionLog {
        let meta = SessionMeta::new_claude(Uuid::now_v7());
        let store = AgentStore::temporary();
        store
            .put_meta(&meta)
            .expect("a temporary store takes a record");
        SessionLog::load(store, meta, vibebridge_tunnel::frame::DEFAULT_MAX_FRAME)
            .expect("an empty store loads")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// A copy of the session record.
    pub fn meta(&self) -> SessionMeta {
        self.lock().meta.clone()
    }

    /// Allocates the next execution number (names the raw JSONL file of a CLI process).
    pub fn next_execution(&self) -> u32 {
        self.update_meta(|m| m.executions += 1)
            .map(|m| m.executions)
            .unwrap_or(0)
    }

    /// Changes the record (not its event-derived fields) and persists it.
    pub fn update_meta(&self, f: impl FnOnce(&mut SessionMeta)) -> anyhow::Result<SessionMeta> {
        let mut st = self.lock();
        f(&mut st.meta);
        self.store.put_meta(&st.meta)?;
        Ok(st.meta.clone())
    }

    /// Appends an event: cut to fit a frame, next seq, stored, then published to attach streams (which send
    /// it once [`SessionLog::sync`] says it is on disk). A store failure is logged and the event is still
    /// published, so a full disk degrades durability rather than stopping a running agent; main reports the
    /// hole it leaves.
    pub fn append(&self, body: EventBody) -> SessionEvent {
        let mut st = self.lock();
        self.append_locked(&mut st, body, now_ms())
    }

    fn append_locked(&self, st: &mut State, mut body: EventBody, at_ms: u64) -> SessionEvent {
        let cut = super::bound::bound(&mut body, self.max_frame);
        if cut > 0 {
            tracing::debug!(session = %self.id, "cut {cut} bytes from an event to fit a tunnel frame");
        }
        let event = SessionEvent {
            seq: st.meta.last_seq + 1,
            at_ms,
            body,
        };
        st.meta.observe(&event);
        track_pending(&mut st.pending, &event.body);
        // The store derives the record's status, provider id and last seq from the event itself.
        match self.store.put_event(&self.id, &event) {
            Ok(ticket) => st.ticket = ticket,
            Err(e) => tracing::error!(session = %self.id, "storing event {}: {e:#}", event.seq),
        }
        let _ = self.live.send(event.clone());
        event
    }

    /// Waits until every event appended so far is on disk (see [`AgentStore::sync`]).
    pub async fn sync(&self) -> anyhow::Result<()> {
        let ticket = self.lock().ticket;
        self.store.sync(ticket).await
    }

    /// Retries a store operation until it succeeds: a store that cannot write (a full disk) holds its caller
    /// (an attach stream, a message's answer) rather than failing it; the store keeps the events in memory
    /// meanwhile and the caller goes on once the store has room and everything appended is on disk. Ends
    /// when the caller's future is dropped.
    pub async fn until_stored<T, F, Fut>(&self, op: F) -> T
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<T>>,
    {
        let mut backoff = vibebridge_tunnel::backoff::Backoff::new(
            std::time::Duration::from_millis(50),
            std::time::Duration::from_secs(2),
        );
        let mut failing = false;
        loop {
            match op().await {
                Ok(v) => {
                    if failing {
                        tracing::info!(session = %self.id, "the session store works again; going on");
                    }
                    return v;
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(session = %self.id, "the session store failed; holding until it works: {e:#}");
                        failing = true;
                    }
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }

    /// Waits until a message just appended is on disk ([`SessionLog::until_stored`]), for at most
    /// [`MESSAGE_STORE_WAIT`]: main is told a message was taken only once a crash cannot lose it. After that
    /// the error says the CLI has the message, so nobody sends it twice.
    pub async fn sync_message(&self) -> Result<(), String> {
        tokio::time::timeout(MESSAGE_STORE_WAIT, self.until_stored(|| self.sync()))
            .await
            .map_err(|_| {
                format!(
                    "the node's disk refused to store the message for {} s (is it full?). The CLI has the \
                     message and works on it, do not send it again; its events are kept in memory and reach \
                     you once the node's disk has room",
                    MESSAGE_STORE_WAIT.as_secs()
                )
            })
    }

    /// Makes the log continue after `main_last` when main already has events past the log's end: the node's
    /// store lost events main received (a restored backup, a failed write). Events this process appended
    /// with seqs main already holds never reached main; they move after an error event that reports the
    /// loss, so main gets them under fresh seqs and no seq means two things.
    pub fn catch_up_to(&self, main_last: u64) -> anyhow::Result<()> {
        let mut st = self.lock();
        let last = st.meta.last_seq;
        if main_last <= last {
            return Ok(());
        }
        let mut own = Vec::new();
        let mut after = st.base;
        loop {
            let page = self.store.events_after(&self.id, after, 1024)?;
            let Some(end) = page.last().map(|e| e.seq) else {
                break;
            };
            after = end;
            own.extend(page);
        }
        if let Some(first) = own.first() {
            self.store.remove_events(&self.id, first.seq..=last)?;
        }
        tracing::warn!(
            session = %self.id,
            "the node's store ends at seq {last} but main has {main_last}; continuing after main's, \
             moving {} newer events",
            own.len()
        );
        st.meta.last_seq = main_last;
        st.base = main_last;
        self.append_locked(
            &mut st,
            EventBody::Error {
                message: format!(
                    "the node's session store ended at event {last} while main already had {main_last} \
                     (the node lost recent events, e.g. a crash or a restored backup); the node continues \
                     after main's events"
                ),
            },
            now_ms(),
        );
        for ev in own {
            self.append_locked(&mut st, ev.body, ev.at_ms);
        }
        Ok(())
    }

    /// Reports the follow-ups still queued in the record as not sent (with their text, so nothing typed is
    /// lost) and empties the queue: the turn they waited for will not come.
    pub fn drop_queued(&self, why: &str) {
        let queued = std::mem::take(&mut self.lock().meta.queued);
        if queued.is_empty() {
            return;
        }
        let mut message = format!(
            "{} follow-up{} queued behind the running turn {} not sent ({why}); send again what is still wanted:",
            queued.len(),
            if queued.len() == 1 { "" } else { "s" },
            if queued.len() == 1 { "was" } else { "were" },
        );
        for (i, text) in queued.iter().enumerate() {
            message.push_str(&format!("\n\n{}. {text}", i + 1));
        }
        self.append(EventBody::Error { message });
        if let Err(e) = self.update_meta(|_| {}) {
            tracing::error!(session = %self.id, "storing the emptied queue: {e:#}");
        }
    }

    /// Appends a status change unless the session is already in that status.
    pub fn status(&self, status: SessionStatus, message: Option<String>) {
        if self.lock().meta.status != status || message.is_some() {
            self.append(EventBody::Status { status, message });
        }
    }

    /// Resolves every pending approval as cancelled (the CLI that asked is gone).
    pub fn cancel_pending(&self, why: &str) {
        let pending: Vec<ApprovalId> = self.lock().pending.iter().cloned().collect();
        for approval_id in pending {
            self.append(EventBody::ApprovalResolved {
                approval_id,
                resolution: Resolution::Cancelled,
                message: Some(why.to_string()),
            });
        }
    }

    /// Number of unresolved approvals.
    pub fn pending_count(&self) -> usize {
        self.lock().pending.len()
    }

    /// Live events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.live.subscribe()
    }

    /// Stored events after `after`.
    pub fn events_after(&self, after: u64, limit: usize) -> anyhow::Result<Vec<SessionEvent>> {
        self.store.events_after(&self.id, after, limit)
    }

    /// Whether the last turn ended in an error, judged by its `turn_completed` among the latest events.
    pub fn last_turn_failed(&self) -> bool {
        let last = self.meta().last_seq;
        self.events_after(last.saturating_sub(32), 32)
            .unwrap_or_default()
            .iter()
            .rev()
            .find_map(|ev| match &ev.body {
                EventBody::TurnCompleted { is_error, .. } => Some(*is_error),
                _ => None,
            })
            .unwrap_or(false)
    }

    /// Whether a driver (a CLI process or its turn loop) is running for the session.
    pub fn alive(&self) -> watch::Receiver<bool> {
        self.alive.subscribe()
    }

    /// Marks the driver started or ended.
    pub fn set_alive(&self, alive: bool) {
        self.alive.send_replace(alive);
    }

    /// Whether the run's dev server runs: its output keeps coming whether or not a driver runs.
    pub fn serving(&self) -> watch::Receiver<bool> {
        self.serving.subscribe()
    }

    /// Marks the dev server started or ended.
    pub fn set_serving(&self, serving: bool) {
        self.serving.send_replace(serving);
    }
}

fn track_pending(pending: &mut BTreeSet<ApprovalId>, body: &EventBody) {
    match body {
        EventBody::ApprovalRequested { approval_id, .. }
        | EventBody::Question { approval_id, .. } => {
            pending.insert(approval_id.clone());
        }
        EventBody::ApprovalResolved { approval_id, .. } => {
            pending.remove(approval_id);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use vibebridge_tunnel::frame::DEFAULT_MAX_FRAME;

    use super::*;

    fn text(t: &str) -> EventBody {
        EventBody::AssistantMessage {
            message_id: "m".into(),
            text: t.into(),
        }
    }

    /// The same session loaded afresh from `log`'s store, as after an agent restart.
    fn reload(log: &SessionLog) -> SessionLog {
        SessionLog::load(log.store.clone(), log.meta(), DEFAULT_MAX_FRAME).unwrap()
    }

    /// Proves a store that ends before main's last seq continues after it, its unsent events moved past an error.
    #[tokio::test]
    async fn store_behind_main_continues_after_mains_seq() {
        let before = SessionLog::scratch();
        before.append(text("a"));
        before.append(text("b"));
        before.sync().await.unwrap();
        let log = reload(&before);
        log.append(text("after restart"));
        // Main has 1..=5: the node lost 3..=5 and wrote its own 3.
        log.catch_up_to(5).unwrap();
        let events = log.events_after(2, 100).unwrap();
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [6, 7]);
        assert!(
            matches!(&events[0].body, EventBody::Error { message } if message.contains("main already had 5"))
        );
        assert_eq!(events[1].body, text("after restart"));
        log.catch_up_to(5).unwrap();
        assert_eq!(log.append(text("next")).seq, 8);
        assert_eq!(reload(&log).meta().last_seq, 8);
    }

    /// Proves a record written one event behind its log (a crash between the two writes) loads at the log's end.
    #[tokio::test]
    async fn load_takes_the_last_seq_from_the_events() {
        let log = SessionLog::scratch();
        log.append(text("a"));
        let stale = log.meta();
        let ev = SessionEvent {
            seq: 2,
            at_ms: 0,
            body: text("b"),
        };
        log.store.put_event(&log.id, &ev).unwrap();
        // What the node tells main it has, too, comes from the events.
        assert_eq!(log.store.last_event_seq(&log.id).unwrap(), 2);
        assert_eq!(log.store.last_event_seq(&Uuid::now_v7()).unwrap(), 0);
        let log = SessionLog::load(log.store.clone(), stale, DEFAULT_MAX_FRAME).unwrap();
        assert_eq!(log.append(text("c")).seq, 3);
    }

    /// Proves concurrent syncs all return once a flush covers them (group commit leadership hands over).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_syncs_all_finish() {
        let log = std::sync::Arc::new(SessionLog::scratch());
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let log = log.clone();
                tokio::spawn(async move {
                    log.append(text(&i.to_string()));
                    log.sync().await
                })
            })
            .collect();
        let all = async {
            for t in tasks {
                t.await.unwrap().unwrap();
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(20), all)
            .await
            .expect("every sync finished");
        let durable = *log.store.commit_durable();
        assert!(durable >= log.lock().ticket);
    }
}

//! One attach stream: the node's events of a session, read ahead of the store by a task of their own, stored
//! in as few units of work as their seqs allow, and published.
//!
//! Events are stored, then published, except plain output (messages, tool calls and results, process output:
//! see [`shown_before_stored`]), which the reader publishes as it arrives, whatever the store is doing. The
//! node wrote every event to its own log before sending it, and an attach resumes after the last seq main
//! stored, so an event shown but not stored (main died, the database failed) is sent and stored again, never
//! lost; followers track the seq they showed, so nothing is doubled. This keeps the database's round trip
//! (PostgreSQL's commit, and the one before it still in flight) off the path from the CLI to the browser.
//! Events main indexes wait for their commit, and so does everything after them: followers see seqs in
//! order, each once ([`Shown`]). Output already shown lingers up to [`LINGER`] for the events that follow it,
//! so a chatty session is stored in a few commits a second rather than one per event.

use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::AbortOnDropHandle;
use uuid::Uuid;
use vibebridge_tunnel::frame::read_sized_frame;
use vibebridge_tunnel::mux::TunnelStream;
use vibebridge_tunnel::protocol::Open;
use vibebridge_tunnel::session::{AttachFrame, EventBody, SessionEvent, SessionStatus};

use super::{SessionHub, lock};

/// How many frames, and about how many bytes of them, an attach stream is read ahead of the store.
const FRAMES_AHEAD: usize = 64;
const BYTES_AHEAD: usize = 4 << 20;
/// At most this many events, or about [`BATCH_BYTES`] of them, are stored in one unit of work.
const BATCH_EVENTS: usize = 256;
const BATCH_BYTES: usize = 4 << 20;

/// How long output already shown may wait for more events to be stored with it.
const LINGER: std::time::Duration = std::time::Duration::from_millis(5);

/// What the attach stream's reader passes on: a frame and its size, the stream's clean end, or why it broke.
type AttachRead = Result<Option<(AttachFrame, usize)>, String>;

/// The events gathered for one unit of work, and what ended the gathering.
#[derive(Default)]
struct Gathered {
    events: Vec<SessionEvent>,
    bytes: usize,
    /// The byte shares of the frames taken (see [`read_attach_frames`]).
    shares: Vec<OwnedSemaphorePermit>,
    /// An event that did not fit, with its byte share: the next unit starts with it.
    held: Option<(AttachRead, Option<OwnedSemaphorePermit>)>,
    /// What is not an event (the end, an error, the channel closing), handled once the events are stored.
    last: Option<AttachRead>,
}

impl Gathered {
    /// A frame from the reader's channel, its share kept; the channel closed reads as the stream closing.
    fn received(&mut self, frame: Option<(AttachRead, OwnedSemaphorePermit)>) -> AttachRead {
        let (frame, share) = frame.unzip();
        self.shares.extend(share);
        frame.unwrap_or(Ok(None))
    }

    /// Takes one frame, just [`received`](Gathered::received); false when the unit is complete (full, or the
    /// frame is not an event).
    fn take(&mut self, frame: AttachRead) -> bool {
        match frame {
            Ok(Some((AttachFrame::Event(ev), size))) => {
                if !self.events.is_empty()
                    && (self.events.len() >= BATCH_EVENTS || self.bytes + size > BATCH_BYTES)
                {
                    let share = self.shares.pop();
                    self.held = Some((Ok(Some((AttachFrame::Event(ev), size))), share));
                    return false;
                }
                self.bytes += size;
                self.events.push(ev);
                true
            }
            other => {
                self.last = Some(other);
                false
            }
        }
    }
}

/// The newest seq of one attach's session published to followers. The reader (plain output as it arrives)
/// and the store loop (the rest, once stored) both publish under it, each only what comes after it, so
/// followers see the session's events in seq order and each once.
struct Shown {
    hub: SessionHub,
    id: Uuid,
    seq: Mutex<u64>,
}

impl Shown {
    /// Publishes `ev` at once if it is plain output and the next seq to show.
    fn early(&self, ev: &SessionEvent) {
        let mut seq = lock(&self.seq);
        if ev.seq == seq.saturating_add(1) && shown_before_stored(&ev.body) {
            self.hub
                .inner
                .live
                .publish(self.id, std::slice::from_ref(ev));
            *seq = ev.seq;
        }
    }

    /// Whether every one of `events` has been shown.
    fn covers(&self, events: &[SessionEvent]) -> bool {
        let seq = *lock(&self.seq);
        events.iter().all(|e| e.seq <= seq)
    }

    /// Publishes what of `events` (stored, in seq order) has not been shown yet. When all of them had been
    /// shown, followers that registered since read them from the store (see `Windows::stored`).
    fn stored(&self, events: &[SessionEvent]) {
        let mut seq = lock(&self.seq);
        let rest: Vec<SessionEvent> = events.iter().filter(|e| e.seq > *seq).cloned().collect();
        let live = &self.hub.inner.live;
        match (events.first(), events.last(), rest.last()) {
            (_, _, Some(last)) => {
                live.publish(self.id, &rest);
                *seq = last.seq;
            }
            (Some(first), Some(top), None) => live.stored(self.id, first.seq, top.seq),
            _ => {}
        }
    }
}

/// Reads an attach stream's frames into `tx` until a frame that is not an event, the end, or an error (each
/// passed on last), showing plain output on the way (see [`Shown::early`]). Each frame holds its size's share
/// of [`BYTES_AHEAD`] until the attach loop is done with it, so what waits in the channel stays near that (a
/// frame larger than all of it waits for the rest).
async fn read_attach_frames(
    mut stream: TunnelStream,
    max: usize,
    shown: Arc<Shown>,
    tx: tokio::sync::mpsc::Sender<(AttachRead, OwnedSemaphorePermit)>,
) {
    let ahead = Arc::new(Semaphore::new(BYTES_AHEAD));
    loop {
        let read = read_sized_frame::<AttachFrame, _>(&mut stream, max)
            .await
            .map_err(|e| format!("attach stream: {e}"));
        let more = matches!(read, Ok(Some((AttachFrame::Event(_), _))));
        if let Ok(Some((AttachFrame::Event(ev), _))) = &read {
            shown.early(ev);
        }
        let size = match &read {
            Ok(Some((_, size))) => (*size).clamp(1, BYTES_AHEAD),
            _ => 1,
        };
        let Ok(share) = ahead.clone().acquire_many_owned(size as u32).await else {
            return;
        };
        if tx.send((read, share)).await.is_err() || !more {
            return;
        }
    }
}

impl SessionHub {
    /// Follows one attach stream until `End` (Ok) or until it breaks (Err).
    pub(super) async fn attach_once(&self, id: Uuid, node: &str) -> Result<(), String> {
        let max = self.inner.max_frame_bytes;
        let store = &self.inner.store;
        let rec = store
            .agent_session(&id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "session deleted".to_string())?;
        if !store
            .session_node_current(&rec)
            .map_err(|e| e.to_string())?
        {
            // Whatever now answers to this node id is not the machine the session ran on.
            if rec.status.is_live() {
                store
                    .set_session_status(
                        &id,
                        SessionStatus::Failed,
                        Some(format!(
                            "node {node} was revoked or re-enrolled since this session started there"
                        )),
                    )
                    .map_err(|e| e.to_string())?;
            }
            return Err(format!(
                "node {node} is not the enrolment this session ran on"
            ));
        }
        let mut after = rec.last_seq;
        let open = Open::SessionAttach {
            session_id: id.into(),
            after_seq: after,
        };
        let (link, stream) = self.open(node, &open).await?;
        let shown = Arc::new(Shown {
            hub: self.clone(),
            id,
            seq: Mutex::new(after),
        });
        // Frames are read by a task of their own, so plain output is shown while a commit is in flight and
        // every event already waiting is stored in one unit of work (`read_frame` is not cancel-safe; a
        // channel is).
        let (tx, mut frames) = tokio::sync::mpsc::channel(FRAMES_AHEAD);
        let reader = read_attach_frames(stream, max, shown.clone(), tx);
        let _reader = AbortOnDropHandle::new(tokio::spawn(reader));
        // A frame taken from the channel that did not fit the batch before.
        let mut held = None;
        loop {
            let mut batch = Gathered::default();
            let first = match held.take() {
                Some((frame, share)) => {
                    batch.shares.extend(share);
                    frame
                }
                None => tokio::select! {
                    frame = frames.recv() => batch.received(frame),
                    () = link.cancelled() => return Err("the node's link ended".into()),
                    () = link.mux.closed() => return Err("the node's link ended".into()),
                },
            };
            let mut more = batch.take(first);
            while more {
                let Ok(frame) = frames.try_recv() else { break };
                let frame = batch.received(Some(frame));
                more = batch.take(frame);
            }
            // Plain output the reader could not show (it came while an event before it was being stored) is
            // shown now, before its own commit.
            for ev in &batch.events {
                shown.early(ev);
            }
            // Output already shown waits a little for what follows it, so a chatty session is stored in a
            // few units a second rather than one per event (like PostgreSQL's own commit_delay); not when
            // the reader is short of byte shares to send more.
            let until = tokio::time::Instant::now() + LINGER;
            while more && batch.bytes < BYTES_AHEAD / 2 && shown.covers(&batch.events) {
                let Ok(frame) = tokio::time::timeout_at(until, frames.recv()).await else {
                    break;
                };
                let frame = batch.received(frame);
                more = batch.take(frame);
            }
            if !batch.events.is_empty() {
                // The followers the reader just woke write their frames first; the commit's CPU comes after.
                tokio::task::yield_now().await;
                after = self.store_events(&shown, after, std::mem::take(&mut batch.events))?;
            }
            held = batch.held;
            let last = batch.last;
            // The byte shares of the frames taken are given back now they are stored.
            drop(batch.shares);
            match last {
                None | Some(Ok(Some((AttachFrame::Event(_), _)))) => {}
                Some(Err(e)) => return Err(e),
                Some(Ok(Some((AttachFrame::End, _)))) => return Ok(()),
                Some(Ok(Some((AttachFrame::NotFound, _)))) => {
                    tracing::warn!(session = %id, node, "the node has no such session; marking it failed");
                    self.inner
                        .store
                        .set_session_status(
                            &id,
                            SessionStatus::Failed,
                            Some(
                                "the node has no such session: it never started it (or lost its store)"
                                    .into(),
                            ),
                        )
                        .map_err(|e| e.to_string())?;
                    return Ok(());
                }
                Some(Ok(None)) => return Err("the node closed the attach stream".into()),
            }
        }
    }

    /// Stores and publishes events from the node in as few units as their seqs allow, `last` being the last
    /// seq stored; returns the last seq stored after them. A hole in the seqs starts a new unit.
    fn store_events(
        &self,
        shown: &Shown,
        mut last: u64,
        events: Vec<SessionEvent>,
    ) -> Result<u64, String> {
        let mut run: Vec<SessionEvent> = Vec::new();
        // The highest seq stored or in `run`.
        let mut top = last;
        for ev in events {
            if ev.seq > top.saturating_add(1) && !run.is_empty() {
                last = self.store_run(shown, last, std::mem::take(&mut run))?;
            }
            top = top.max(ev.seq);
            run.push(ev);
        }
        if !run.is_empty() {
            last = self.store_run(shown, last, run)?;
        }
        Ok(last)
    }

    /// Stores and publishes contiguous events from the node, `last` being the last seq stored; returns the
    /// last seq stored after them. A hole before them (events the node lost) is reported with stand-in error
    /// events and the stream goes on: a hole must not stop the session's attach.
    fn store_run(&self, shown: &Shown, last: u64, run: Vec<SessionEvent>) -> Result<u64, String> {
        let store = &self.inner.store;
        let (Some(first), Some(top)) =
            (run.first().map(|e| e.seq), run.iter().map(|e| e.seq).max())
        else {
            return Ok(last);
        };
        if first > last.saturating_add(1) {
            tracing::warn!(
                session = %shown.id,
                "the node sent seq {first} after stored seq {last}: events {}..={} were lost; storing \
                 error events in their place",
                last + 1,
                first - 1
            );
            let filled = store
                .fill_session_hole(&shown.id, last, first)
                .map_err(|e| e.to_string())?;
            shown.stored(&filled);
        }
        let fresh = store
            .apply_session_events(&shown.id, run)
            .map_err(|e| format!("storing events {first}..={top}: {e}"))?;
        shown.stored(&fresh);
        Ok(last.max(top))
    }
}

/// Whether an event may reach browsers before main has stored it: plain output, which main only keeps. Events
/// main indexes (status, approvals and questions, usage, turns, a run's processes and commits) are shown once
/// stored, so what they announce exists when a browser acts on it. Every kind is named, so a new one is
/// decided here.
fn shown_before_stored(body: &EventBody) -> bool {
    match body {
        EventBody::UserMessage { .. }
        | EventBody::AssistantDelta { .. }
        | EventBody::AssistantMessage { .. }
        | EventBody::Thinking { .. }
        | EventBody::ToolCall { .. }
        | EventBody::ToolResult { .. }
        | EventBody::ProcessOutput { .. }
        | EventBody::Error { .. }
        | EventBody::Raw { .. } => true,
        EventBody::Status { .. }
        | EventBody::ProviderSession { .. }
        | EventBody::ApprovalRequested { .. }
        | EventBody::Question { .. }
        | EventBody::ApprovalResolved { .. }
        | EventBody::Usage(_)
        | EventBody::TurnCompleted { .. }
        | EventBody::RunPrepared(_)
        | EventBody::ProcessStarted { .. }
        | EventBody::ProcessEnded { .. }
        | EventBody::AutoCommitted { .. }
        | EventBody::AutoCommitFailed { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use futures::StreamExt;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::registry::NodeRegistry;
    use crate::store::Store;

    fn said(seq: u64) -> SessionEvent {
        SessionEvent {
            seq,
            at_ms: seq,
            body: EventBody::AssistantMessage {
                message_id: format!("m{seq}"),
                text: format!("text {seq}"),
            },
        }
    }

    /// A browser that starts following after plain output was shown but before it was stored gets it once it
    /// is stored, without waiting for the session's next event, and then the next event once.
    #[tokio::test]
    async fn a_follower_registered_between_show_and_store_gets_the_output_once_stored() {
        let dir = std::env::temp_dir().join(format!("vb-attach-test-{}", Uuid::now_v7()));
        let store = Store::open(&dir).unwrap();
        let id = crate::store::test_session(&store, "n0");
        let hub = SessionHub::new(
            store.clone(),
            NodeRegistry::default(),
            1 << 20,
            CancellationToken::new(),
        );
        let shown = Shown {
            hub: hub.clone(),
            id,
            seq: Mutex::new(0),
        };
        // Shown while nobody follows, so it is in no window.
        shown.early(&said(1));
        let (tx, mut got) = tokio::sync::mpsc::unbounded_channel();
        let mut follow = Box::pin(hub.follow(id, 0));
        let _follower = AbortOnDropHandle::new(tokio::spawn(async move {
            while let Some(ev) = follow.next().await {
                if tx.send(ev.seq).is_err() {
                    return;
                }
            }
        }));
        // On this one-thread runtime the follower's first poll runs to its wait: registered, the store read
        // (nothing stored yet), the window empty.
        while hub.followers(id) == 0 {
            tokio::task::yield_now().await;
        }
        let fresh = store.apply_session_events(&id, vec![said(1)]).unwrap();
        shown.stored(&fresh);
        let first = tokio::time::timeout(std::time::Duration::from_secs(30), got.recv()).await;
        assert_eq!(
            first.unwrap(),
            Some(1),
            "the stored output reaches the follower"
        );
        shown.early(&said(2));
        assert_eq!(got.recv().await, Some(2), "then the next event, once");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Live events for followers: each new event is serialised once into a shared window per followed session,
//! bounded by bytes, and [`follow`] reads stored events, then the window, without ever holding more than one
//! catch-up page (bounded by bytes) per follower. A follower that stops reading pins nothing in the window:
//! it only falls behind, and catches up from the store when it reads again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::watch;
use uuid::Uuid;
use vibebridge_tunnel::session::SessionEvent;

use super::{SessionHub, lock};

/// Most events a session's window keeps.
const WINDOW_EVENTS: usize = 1024;
/// Most bytes of serialised events a session's window keeps (the newest event is always kept).
const WINDOW_BYTES: usize = 4 * 1024 * 1024;
/// Most events one catch-up page reads from the store.
const PAGE_EVENTS: usize = 256;
/// Most bytes of stored events one catch-up page holds (at least one event, whatever its size).
pub const PAGE_BYTES: usize = 256 * 1024;

/// An event ready for followers: serialised once, shared by all of them.
#[derive(Debug)]
pub struct LiveEvent {
    /// The session.
    pub session_id: Uuid,
    /// Its seq.
    pub seq: u64,
    /// The SSE event name.
    pub name: &'static str,
    /// The browser WebSocket frame for it, built once and shared (refcounted) by every follower; the event's
    /// own JSON is a slice of it ([`LiveEvent::json`]), so an event is held in memory once.
    pub ws_frame: Utf8Bytes,
    json: std::ops::Range<usize>,
}

impl LiveEvent {
    /// Wraps a stored event.
    pub fn new(session_id: Uuid, ev: &SessionEvent) -> LiveEvent {
        let prefix = format!(r#"{{"type":"event","session_id":"{session_id}","event":"#);
        let mut buf = prefix.into_bytes();
        let start = buf.len();
        if serde_json::to_writer(&mut buf, ev).is_err() {
            buf.extend_from_slice(b"null");
        }
        let end = buf.len();
        buf.push(b'}');
        let frame = String::from_utf8(buf).unwrap_or_default();
        let json = if frame.len() > end { start..end } else { 0..0 };
        LiveEvent {
            session_id,
            seq: ev.seq,
            name: ev.body.sse_name(),
            ws_frame: frame.into(),
            json,
        }
    }

    /// The event as JSON (what SSE and the console send).
    pub fn json(&self) -> &str {
        self.ws_frame.as_str().get(self.json.clone()).unwrap_or("")
    }

    /// Bytes it holds.
    pub fn size(&self) -> usize {
        self.ws_frame.len()
    }
}

/// The newest events of one followed session, contiguous in seq, and the seq of the newest.
struct Window {
    recent: VecDeque<Arc<LiveEvent>>,
    bytes: usize,
    newest: watch::Sender<u64>,
}

/// What the window holds for the seq a follower wants next.
enum Next {
    /// The event.
    Event(Arc<LiveEvent>),
    /// It has left the window, or never entered it (or the window is empty): read it from the store.
    Gone,
    /// Not published yet.
    Later,
}

/// The windows of every session someone follows.
#[derive(Default)]
pub(super) struct Windows {
    map: Mutex<HashMap<Uuid, Window>>,
}

impl Windows {
    /// Registers a follower of `id`: its receiver changes whenever the session publishes.
    fn subscribe(&self, id: Uuid) -> watch::Receiver<u64> {
        lock(&self.map)
            .entry(id)
            .or_insert_with(|| Window {
                recent: VecDeque::new(),
                bytes: 0,
                newest: watch::channel(0).0,
            })
            .newest
            .subscribe()
    }

    /// Followers registered on `id`.
    pub(super) fn followers(&self, id: Uuid) -> usize {
        lock(&self.map)
            .get(&id)
            .map_or(0, |w| w.newest.receiver_count())
    }

    /// Adds stored events to the session's window (if anyone follows it) and wakes its followers.
    pub(super) fn publish(&self, id: Uuid, events: &[SessionEvent]) {
        let mut map = lock(&self.map);
        let Some(w) = map.get_mut(&id) else { return };
        if w.newest.receiver_count() == 0 {
            map.remove(&id);
            return;
        }
        for ev in events {
            if w.recent.back().is_some_and(|b| b.seq + 1 != ev.seq) {
                w.recent.clear();
                w.bytes = 0;
            }
            let live = Arc::new(LiveEvent::new(id, ev));
            w.bytes += live.size();
            w.recent.push_back(live);
            while w.recent.len() > 1 && (w.bytes > WINDOW_BYTES || w.recent.len() > WINDOW_EVENTS) {
                if let Some(old) = w.recent.pop_front() {
                    w.bytes -= old.size();
                }
            }
        }
        if let Some(last) = events.last() {
            w.newest.send_replace(last.seq);
        }
    }

    /// Wakes the followers of `id` unless its window holds every event `first..=top`, which were shown before
    /// they were stored and now are: a follower that registered after they were shown can read them from the
    /// store only, and nothing else would wake it until the session's next event.
    pub(super) fn stored(&self, id: Uuid, first: u64, top: u64) {
        let map = lock(&self.map);
        let Some(w) = map.get(&id) else { return };
        let held = w.recent.front().is_some_and(|f| f.seq <= first)
            && w.recent.back().is_some_and(|b| b.seq >= top);
        if !held {
            w.newest.send_modify(|_| {});
        }
    }

    fn next(&self, id: Uuid, want: u64) -> Next {
        let map = lock(&self.map);
        let Some(w) = map.get(&id) else {
            return Next::Later;
        };
        match (w.recent.front(), w.recent.back()) {
            (Some(front), Some(back)) if want >= front.seq && want <= back.seq => {
                let i = usize::try_from(want - front.seq).unwrap_or(usize::MAX);
                w.recent.get(i).cloned().map_or(Next::Gone, Next::Event)
            }
            (Some(front), _) if want < front.seq => Next::Gone,
            // Nothing published since the window opened: what was published before it is in the store.
            (None, _) => Next::Gone,
            _ => Next::Later,
        }
    }
}

/// Where a follower is: its registration, the last seq it yielded, the stored page it is yielding (read
/// ahead, converted one event at a time), and whether it has caught up with the store.
struct Follow {
    hub: SessionHub,
    id: Uuid,
    rx: Option<watch::Receiver<u64>>,
    last: u64,
    page: VecDeque<SessionEvent>,
    caught_up: bool,
}

/// Stored events of session `id` after `after`, then live ones, in seq order with none missing or doubled;
/// ends when the hub stops.
pub(super) fn follow(
    hub: SessionHub,
    id: Uuid,
    after: u64,
) -> impl futures::Stream<Item = Arc<LiveEvent>> + Send + use<> {
    let start = Follow {
        hub,
        id,
        rx: None,
        last: after,
        page: VecDeque::new(),
        caught_up: false,
    };
    futures::stream::unfold(start, |mut f| async move {
        loop {
            if let Some(ev) = f.page.pop_front() {
                return Some((Arc::new(LiveEvent::new(f.id, &ev)), f));
            }
            let windows = f.hub.inner.live.clone();
            let rx = f.rx.get_or_insert_with(|| windows.subscribe(f.id));
            // Marked seen before the store is read: a wake after this point (an event stored, or published
            // past one only the store has) makes the wait below return at once.
            rx.borrow_and_update();
            let mut store_empty = false;
            if !f.caught_up {
                // Catch up from the store (after registering, so nothing falls between).
                match f
                    .hub
                    .inner
                    .store
                    .session_events_page(&f.id, f.last, PAGE_EVENTS, PAGE_BYTES)
                {
                    Ok(page) if !page.is_empty() => {
                        f.last = page.last().map_or(f.last, |e| e.seq);
                        f.page = page.into();
                        continue;
                    }
                    Ok(_) => (f.caught_up, store_empty) = (true, true),
                    Err(e) => {
                        tracing::error!(session = %f.id, "reading events: {e}");
                        return None;
                    }
                }
            }
            match windows.next(f.id, f.last + 1) {
                Next::Event(ev) => {
                    f.last = ev.seq;
                    return Some((ev, f));
                }
                // The store has every published event; a store that has not (should not happen) is waited on.
                Next::Gone if !store_empty => {
                    f.caught_up = false;
                    continue;
                }
                Next::Gone | Next::Later => {}
            }
            let changed = tokio::select! {
                () = f.hub.stopped() => return None,
                changed = rx.changed() => changed,
            };
            if changed.is_err() {
                // The window went away: register again and re-check the store.
                (f.rx, f.caught_up) = (None, false);
            }
        }
    })
}

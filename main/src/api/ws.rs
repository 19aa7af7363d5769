//! `GET /api/v1/ws`: the browser's live channel. Authenticated at the upgrade (cookie or bearer).
//!
//! Client → main, JSON text frames:
//! - `{"type":"subscribe","session_id":"…","after_seq":N}`: stored events after N, then live ones;
//!   re-subscribing replaces the previous subscription of that session (however its id is spelled: ids are
//!   parsed and answered in their canonical form).
//! - `{"type":"unsubscribe","session_id":"…"}`
//! - `{"type":"watch","topics":["approvals","nodes","sessions","users"]}`: the live topics to receive
//!   (replaces the previous list; `[]` stops them), see [`super::topics`].
//! - `{"type":"ping"}`
//!
//! Main → client: `{"type":"subscribed","session_id","after_seq"}`,
//! `{"type":"event","session_id","event":{…}}` (in seq order, none missing or doubled),
//! `{"type":"unsubscribed","session_id"}`, `{"type":"watching","topics"}`, the topic frames
//! `{"type":"approval","change","approval_id","session_id"}`, `{"type":"node","change","node_id","at"?}`,
//! `{"type":"session","session_id"}`, `{"type":"user","user_id"}` and `{"type":"resync"}` (refetch every
//! watched topic), `{"type":"pong"}`, and `{"type":"error","code","message"}` for a bad frame or a refused
//! subscription; an error never closes the connection.
//!
//! Limits: a user holds at most `server.live_connections_per_user` live connections (429
//! `too_many_connections` at the upgrade), a connection follows at most [`MAX_SUBSCRIPTIONS`] sessions
//! (`too_many_subscriptions`), and a reader that takes nothing for `server.slow_consumer_timeout` is cut: the
//! connection closes with code 1013 and a reason starting `slow_consumer`. What waits for a reader is bounded
//! by bytes ([`super::live::OUTBOX_BYTES`]); followers read the store only as the reader takes events.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;
use tracing::Instrument;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vibebridge_tunnel::reply::ErrorCode;

use super::frames::{ClientFrame, ServerFrame, Topic, Watched, error, json_frame, send};
use super::live::{OutboxReceiver, OutboxSender, outbox};
use super::topics;
use crate::auth::{Approved, AuthUser};
use crate::ops::sessions;
use crate::quota::LiveGuard;
use crate::state::AppState;

/// Largest frame a browser may send.
const MAX_CLIENT_FRAME: usize = 64 * 1024;
/// Sessions one connection may follow at once.
pub const MAX_SUBSCRIPTIONS: usize = 32;
/// How long a closing frame may take to leave before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Upgrades to the live channel.
pub async fn upgrade(
    State(state): State<AppState>,
    Approved(who): Approved,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, super::ApiError> {
    // The cookie would authenticate a foreign page too; only pages main served may connect.
    if !super::guard::same_origin(&headers) {
        return Err(super::ApiError::Forbidden(
            "the live channel opens only from pages served by this main (Origin does not match Host)"
                .into(),
        ));
    }
    let guard = state
        .live
        .open(who.user.id)
        .map_err(super::ApiError::TooManyConnections)?;
    Ok(ws
        .max_message_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| serve(state, who, guard, socket)))
}

/// Writes queued frames to the socket until the outbox ends or a write makes no progress for `timeout`;
/// then the connection is closed, with code 1013 and a `slow_consumer` reason in the latter case (and `cut`
/// is cancelled so the connection's reader stops too).
async fn write_out(
    mut sink: SplitSink<WebSocket, Message>,
    mut outbox: OutboxReceiver<Message>,
    timeout: Duration,
    cut: CancellationToken,
) {
    let slow = 'out: loop {
        let Some((msg, room)) = outbox.recv().await else {
            break false;
        };
        // Everything already queued goes out with one flush (one syscall under load, not one per event).
        let mut next = Some((msg, room));
        while let Some((msg, room)) = next.take() {
            match tokio::time::timeout(timeout, sink.feed(msg)).await {
                Ok(Ok(())) => drop(room),
                Ok(Err(_)) => break 'out false,
                Err(_) => break 'out true,
            }
            next = outbox.try_recv();
        }
        match tokio::time::timeout(timeout, sink.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break false,
            Err(_) => break true,
        }
    };
    cut.cancel();
    let close = slow.then(|| CloseFrame {
        code: close_code::AGAIN,
        reason: format!(
            "slow_consumer: nothing was read for {}s; reconnect and subscribe from your last seq",
            timeout.as_secs()
        )
        .into(),
    });
    if slow {
        tracing::info!("cut a live connection whose reader took nothing for {timeout:?}");
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(close))).await;
}

async fn serve(state: AppState, who: AuthUser, guard: LiveGuard, socket: WebSocket) {
    let (sink, mut incoming) = socket.split();
    let (out, outbox) = outbox::<Message>();
    let cut = CancellationToken::new();
    let timeout = state.config.server.slow_consumer_timeout;
    let writer = tokio::spawn(write_out(sink, outbox, timeout, cut.clone()));
    let (watched, watching) = tokio::sync::watch::channel(Watched::default());
    let span = tracing::info_span!("ws_topics", user = %who.user.username);
    let forwarder = tokio::spawn(
        topics::forward(state.clone(), who.clone(), watching, out.clone()).instrument(span),
    );
    let id = NEXT_CONN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // What this tab shows is forgotten however the connection ends (a panic included).
    let _presence = PresenceGuard(state.notify.clone(), id);
    let mut conn = Conn {
        id,
        state,
        who: who.clone(),
        out,
        subs: HashMap::new(),
        watched,
    };
    {
        let login_lost = super::live::access_lost(conn.state.clone(), &who, |_, _| true);
        tokio::pin!(login_lost);
        // Main stopping ends the socket too (its task is the upgrade's, not the HTTP server's, so nothing else
        // would); the browser reconnects to whichever main serves next.
        let hub = conn.state.hub.clone();
        loop {
            let msg = tokio::select! {
                msg = incoming.next() => msg,
                () = cut.cancelled() => break,
                () = hub.stopped() => break,
                () = &mut login_lost => {
                    conn.error(None, ErrorCode::LoggedOut, "logged out; log in again".into()).await;
                    break;
                }
            };
            match msg {
                Some(Ok(Message::Text(text))) => conn.on_text(&text).await,
                Some(Ok(Message::Binary(_))) => {
                    let why = "binary frames are not understood; send JSON text frames";
                    conn.error(None, ErrorCode::BadFrame, why.into()).await;
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            }
        }
    }
    // Everything holding main's state ends before the connection stops counting: main, stopping, waits for
    // its live connections to reach none before it closes the store.
    forwarder.abort();
    let _ = forwarder.await;
    for (_, task) in conn.subs.drain() {
        task.abort();
        let _ = task.await;
    }
    drop(conn);
    let _ = writer.await;
    drop(guard);
}

/// Forgets what a connection's tab shows when dropped.
struct PresenceGuard(std::sync::Arc<crate::notify::Notifier>, u64);

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        self.0.presence.gone(self.1);
    }
}

/// Numbers live connections for what their tabs show ([`crate::notify::presence`]).
static NEXT_CONN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// One live connection: who holds it, its outbox, its session followers and its watched topics.
struct Conn {
    id: u64,
    state: AppState,
    who: AuthUser,
    out: OutboxSender<Message>,
    subs: HashMap<Uuid, JoinHandle<()>>,
    watched: tokio::sync::watch::Sender<Watched>,
}

impl Conn {
    async fn send(&self, frame: ServerFrame) {
        send(&self.out, json_frame(frame)).await;
    }

    async fn error(&self, session_id: Option<String>, code: ErrorCode, message: String) {
        send(&self.out, error(session_id, code, message)).await;
    }

    /// Acts on one text frame from the browser.
    async fn on_text(&mut self, text: &str) {
        match serde_json::from_str::<ClientFrame>(text) {
            Ok(ClientFrame::Ping) => self.send(ServerFrame::Pong).await,
            Ok(ClientFrame::Unsubscribe { session_id }) => self.unsubscribe(session_id).await,
            Ok(ClientFrame::Subscribe {
                session_id,
                after_seq,
            }) => self.subscribe(session_id, after_seq).await,
            Ok(ClientFrame::Watch { topics, workspace }) => self.watch(topics, workspace).await,
            Ok(ClientFrame::Presence {
                device,
                session_id,
                visible,
            }) => self.presence(device, session_id, visible).await,
            Err(e) => {
                let why = format!(
                    "bad frame ({e}); expected {{\"type\":\"subscribe\",\"session_id\":…,\"after_seq\":N}}, \
                     {{\"type\":\"unsubscribe\",\"session_id\":…}}, {{\"type\":\"watch\",\"topics\":[…]}}, \
                     {{\"type\":\"presence\",\"device\":…,\"session_id\":…,\"visible\":true}} or {{\"type\":\"ping\"}}"
                );
                self.error(None, ErrorCode::BadFrame, why).await;
            }
        }
    }

    /// Records what the tab shows; a device that is not the caller's is refused and nothing is recorded.
    async fn presence(&mut self, device: Option<String>, session: Option<String>, visible: bool) {
        let device = match device {
            None => None,
            Some(d) => match crate::ops::notify::subscriptions::mine(&self.state, &self.who, &d) {
                Ok(sub) => Some(sub.id),
                Err(e) => {
                    self.state.notify.presence.gone(self.id);
                    return self.error(None, ErrorCode::NotFound, e.to_string()).await;
                }
            },
        };
        let session = session
            .and_then(|s| Uuid::parse_str(&s).ok())
            .filter(|_| visible);
        self.state.notify.presence.set(self.id, device, session);
    }

    /// Replaces what the connection watches; a workspace the user may not read is refused (not found) and
    /// nothing changes.
    async fn watch(&mut self, topics: Vec<Topic>, workspace: Option<String>) {
        let workspace_id = match workspace {
            Some(id) => match self
                .state
                .store
                .user(self.who.user.id)
                .map_err(crate::ops::OpError::from)
                .and_then(|u| {
                    let user =
                        u.ok_or_else(|| crate::ops::OpError::NotFound("no such user".into()))?;
                    crate::ops::workspaces::access(&self.state, &user, &id)
                }) {
                Ok(access) => Some(access.ws.id),
                Err(e) => {
                    let e = super::ApiError::from(e);
                    return self.error(None, e.code(), e.to_string()).await;
                }
            },
            None => None,
        };
        let topics: BTreeSet<Topic> = topics.into_iter().collect();
        self.watched.send_replace(Watched {
            topics: topics.clone(),
            workspace: workspace_id,
        });
        let topics = topics.into_iter().collect();
        self.send(ServerFrame::Watching {
            topics,
            workspace_id,
        })
        .await;
    }

    async fn unsubscribe(&mut self, session_id: String) {
        let Ok(id) = Uuid::parse_str(&session_id) else {
            let why = format!("no session {session_id:?}; session ids are UUIDs");
            return self.error(Some(session_id), ErrorCode::NotFound, why).await;
        };
        if let Some(task) = self.subs.remove(&id) {
            task.abort();
        }
        let session_id = id.to_string();
        self.send(ServerFrame::Unsubscribed { session_id }).await;
    }

    async fn subscribe(&mut self, session_id: String, after_seq: u64) {
        let session = match sessions::visible(&self.state, &self.who, &session_id) {
            Ok(s) => s,
            Err(e) => {
                let e = super::ApiError::from(e);
                return self.error(Some(session_id), e.code(), e.to_string()).await;
            }
        };
        // One follower per session, whatever spelling of its id the browser used.
        let id = session.id;
        self.subs.retain(|_, task| !task.is_finished());
        if let Some(old) = self.subs.remove(&id) {
            old.abort();
        } else if self.subs.len() >= MAX_SUBSCRIPTIONS {
            let why = format!(
                "this connection already follows {MAX_SUBSCRIPTIONS} sessions, the most one may; \
                 unsubscribe from one first"
            );
            return self
                .error(Some(id.to_string()), ErrorCode::TooManySubscriptions, why)
                .await;
        }
        let subscribed = ServerFrame::Subscribed {
            session_id: id.into(),
            after_seq,
        };
        self.send(subscribed).await;
        let follower = follow(
            self.state.clone(),
            self.who.clone(),
            id,
            after_seq,
            self.out.clone(),
        );
        let span = tracing::info_span!("ws_follow", session = %id, user = %self.who.user.username);
        self.subs
            .insert(id, tokio::spawn(follower.instrument(span)));
    }
}

/// One subscription: queues the session's events for the browser, reading the next one only once the
/// outbox has room, until the connection ends or the user loses access.
async fn follow(state: AppState, who: AuthUser, id: Uuid, after: u64, out: OutboxSender<Message>) {
    let session_id = id.to_string();
    let events = state.hub.follow(id, after);
    futures::pin_mut!(events);
    let lost = super::live::access_lost(state.clone(), &who, |st, w| {
        sessions::visible(st, w, &session_id).is_ok()
    });
    tokio::pin!(lost);
    loop {
        let ev = tokio::select! {
            // Nothing is read (from the store or the live window) for a browser that is not reading.
            ev = async { out.ready().await.ok()?; events.next().await } => ev,
            () = &mut lost => {
                let why = "you no longer have access to this session".to_string();
                send(&out, error(Some(session_id.clone()), ErrorCode::AccessLost, why)).await;
                return;
            }
        };
        let Some(ev) = ev else { return };
        if out
            .send(Message::Text(ev.ws_frame.clone()), ev.size())
            .await
            .is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use vibebridge_tunnel::session::{EventBody, SessionEvent};

    /// Proves the event frame built once per event (LiveEvent) has exactly the shape ServerFrame documents,
    /// so the generated TypeScript type describes what browsers really receive.
    #[test]
    fn live_event_frame_is_a_server_frame() {
        let id = uuid::Uuid::now_v7();
        let ev = SessionEvent {
            seq: 3,
            at_ms: 9,
            body: EventBody::UserMessage { text: "hi".into() },
        };
        let live = crate::hub::LiveEvent::new(id, &ev);
        assert_eq!(
            serde_json::from_str::<SessionEvent>(live.json()).unwrap(),
            ev
        );
        match serde_json::from_str::<ServerFrame>(&live.ws_frame).unwrap() {
            ServerFrame::Event { session_id, event } => {
                assert_eq!((session_id, event), (id.to_string(), ev));
            }
            _ => panic!("not an event frame: {}", live.ws_frame.as_str()),
        }
    }
}

//! `GET /api/v1/ws`: the browser's live channel. Authenticated at the upgrade (cookie or bearer).
//!
//! Client → main, JSON text frames:
//! - `{"type":"subscribe","session_id":"…","after_seq":N}`: stored events after N, then live ones;
//!   re-subscribing replaces the previous subscription of that session (however its id is spelled: ids are
//!   parsed and answered in their canonical form).
//! - `{"type":"unsubscribe","session_id":"…"}`
//! - `{"type":"ping"}`
//!
//! Main → client: `{"type":"subscribed","session_id","after_seq"}`,
//! `{"type":"event","session_id","event":{…}}` (in seq order, none missing or doubled),
//! `{"type":"unsubscribed","session_id"}`, `{"type":"pong"}`, and `{"type":"error","code","message"}` for a bad
//! frame or a refused subscription; an error never closes the connection.
//!
//! Limits: a user holds at most `server.live_connections_per_user` live connections (429
//! `too_many_connections` at the upgrade), a connection follows at most [`MAX_SUBSCRIPTIONS`] sessions
//! (`too_many_subscriptions`), and a reader that takes nothing for `server.slow_consumer_timeout` is cut: the
//! connection closes with code 1013 and a reason starting `slow_consumer`. What waits for a reader is bounded
//! by bytes ([`super::live::OUTBOX_BYTES`]); followers read the store only as the reader takes events.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vibebridge_tunnel::session::SessionEvent;

use super::live::{OutboxReceiver, OutboxSender, outbox};
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

/// Browser → main.
#[derive(Deserialize, ts_rs::TS)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Stored events after `after_seq`, then live ones.
    Subscribe {
        /// The session.
        session_id: String,
        /// The last seq the browser has (0: from the start).
        #[serde(default)]
        after_seq: u64,
    },
    /// Stop following a session.
    Unsubscribe {
        /// The session.
        session_id: String,
    },
    /// Answered with `pong`.
    Ping,
}

/// Main → browser.
#[derive(Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// A subscription started; events follow.
    Subscribed {
        /// The session.
        session_id: String,
        /// Events after this seq follow.
        after_seq: u64,
    },
    /// The next event of a session (built once per event by [`crate::sessions::LiveEvent`]).
    Event {
        /// The session.
        session_id: String,
        /// The event.
        event: SessionEvent,
    },
    /// A subscription ended.
    Unsubscribed {
        /// The session.
        session_id: String,
    },
    /// The answer to a ping.
    Pong,
    /// A bad frame or a refused subscription; the connection stays open.
    Error {
        /// The session it is about, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        session_id: Option<String>,
        /// Stable code: `bad_frame`, `not_found`, `too_many_subscriptions`, `logged_out`, `access_lost`.
        code: String,
        /// What went wrong and what to send instead.
        message: String,
    },
}

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

fn json_frame(frame: ServerFrame) -> Message {
    Message::Text(serde_json::to_string(&frame).unwrap_or_default().into())
}

fn error(session_id: Option<String>, code: &str, message: String) -> Message {
    json_frame(ServerFrame::Error {
        session_id,
        code: code.into(),
        message,
    })
}

/// Queues a frame for the browser; false once the connection is gone.
async fn send(out: &OutboxSender<Message>, msg: Message) -> bool {
    let size = match &msg {
        Message::Text(t) => t.len(),
        _ => 0,
    };
    out.send(msg, size).await.is_ok()
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
    let mut subs: HashMap<Uuid, JoinHandle<()>> = HashMap::new();
    let login_lost = super::live::access_lost(state.clone(), &who, |_, _| true);
    tokio::pin!(login_lost);
    loop {
        let msg = tokio::select! {
            msg = incoming.next() => msg,
            () = cut.cancelled() => break,
            () = &mut login_lost => {
                send(&out, error(None, "logged_out", "logged out; log in again".into())).await;
                break;
            }
        };
        let Some(Ok(msg)) = msg else { break };
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => break,
            Message::Binary(_) => {
                let why = "binary frames are not understood; send JSON text frames";
                send(&out, error(None, "bad_frame", why.into())).await;
                continue;
            }
            _ => continue,
        };
        let frame = match serde_json::from_str::<ClientFrame>(&text) {
            Ok(f) => f,
            Err(e) => {
                let why = format!(
                    "bad frame ({e}); expected {{\"type\":\"subscribe\",\"session_id\":…,\"after_seq\":N}}, \
                     {{\"type\":\"unsubscribe\",\"session_id\":…}} or {{\"type\":\"ping\"}}"
                );
                send(&out, error(None, "bad_frame", why)).await;
                continue;
            }
        };
        match frame {
            ClientFrame::Ping => {
                send(&out, json_frame(ServerFrame::Pong)).await;
            }
            ClientFrame::Unsubscribe { session_id } => {
                let Ok(id) = Uuid::parse_str(&session_id) else {
                    let why = format!("no session {session_id:?}; session ids are UUIDs");
                    send(&out, error(Some(session_id), "not_found", why)).await;
                    continue;
                };
                if let Some(task) = subs.remove(&id) {
                    task.abort();
                }
                let session_id = id.to_string();
                send(&out, json_frame(ServerFrame::Unsubscribed { session_id })).await;
            }
            ClientFrame::Subscribe {
                session_id,
                after_seq,
            } => {
                let session = match sessions::visible(&state, &who, &session_id) {
                    Ok(s) => s,
                    Err(e) => {
                        let e = super::ApiError::from(e);
                        send(&out, error(Some(session_id), e.code(), e.to_string())).await;
                        continue;
                    }
                };
                // One follower per session, whatever spelling of its id the browser used.
                let id = session.id;
                subs.retain(|_, task| !task.is_finished());
                if let Some(old) = subs.remove(&id) {
                    old.abort();
                } else if subs.len() >= MAX_SUBSCRIPTIONS {
                    let why = format!(
                        "this connection already follows {MAX_SUBSCRIPTIONS} sessions, the most one may; \
                         unsubscribe from one first"
                    );
                    send(
                        &out,
                        error(Some(id.to_string()), "too_many_subscriptions", why),
                    )
                    .await;
                    continue;
                }
                let subscribed = ServerFrame::Subscribed {
                    session_id: id.to_string(),
                    after_seq,
                };
                send(&out, json_frame(subscribed)).await;
                let follower = follow(state.clone(), who.clone(), id, after_seq, out.clone());
                subs.insert(id, tokio::spawn(follower));
            }
        }
    }
    for (_, task) in subs {
        task.abort();
    }
    drop(out);
    let _ = writer.await;
    drop(guard);
}

/// One subscription: queues the session's events for the browser, reading the next one only once the
/// outbox has room, until the connection ends or the user loses access.
async fn follow(state: AppState, who: AuthUser, id: Uuid, after: u64, out: OutboxSender<Message>) {
    let session_id = id.to_string();
    let events = state.sessions.follow(id, after);
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
                send(&out, error(Some(session_id.clone()), "access_lost", why)).await;
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
    use vibebridge_tunnel::session::EventBody;

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
        let live = crate::sessions::LiveEvent::new(id, &ev);
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

//! `GET /api/v1/ws`: the browser's live channel. Authenticated at the upgrade (cookie or bearer).
//!
//! Client → main, JSON text frames:
//! - `{"type":"subscribe","session_id":"…","after_seq":N}`: stored events after N, then live ones;
//!   re-subscribing replaces the previous subscription of that session.
//! - `{"type":"unsubscribe","session_id":"…"}`
//! - `{"type":"ping"}`
//!
//! Main → client: `{"type":"subscribed","session_id","after_seq"}`,
//! `{"type":"event","session_id","event":{…}}` (in seq order, none missing or doubled),
//! `{"type":"unsubscribed","session_id"}`, `{"type":"pong"}`, and `{"type":"error","message"}` for a bad
//! frame; a bad frame never closes the connection.

use std::collections::HashMap;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vibebridge_tunnel::session::SessionEvent;

use super::sessions::visible_session;
use crate::AppState;
use crate::auth::{self, Approved, AuthUser};

/// Largest frame a browser may send.
const MAX_CLIENT_FRAME: usize = 64 * 1024;
/// Sessions one connection may follow at once.
const MAX_SUBSCRIPTIONS: usize = 256;
/// Outgoing frames buffered per connection before subscriptions wait for the browser.
const OUTBOX: usize = 1024;

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
    Ok(ws
        .max_message_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| serve(state, who, socket)))
}

fn json_frame(frame: ServerFrame) -> Message {
    Message::Text(serde_json::to_string(&frame).unwrap_or_default().into())
}

fn error(session_id: Option<String>, message: String) -> Message {
    json_frame(ServerFrame::Error {
        session_id,
        message,
    })
}

async fn serve(state: AppState, who: AuthUser, socket: WebSocket) {
    let (mut sink, mut incoming) = socket.split();
    let (out, mut outbox) = mpsc::channel::<Message>(OUTBOX);
    let writer = tokio::spawn(async move {
        // Everything already queued goes out with one flush (one syscall under load, not one per event).
        'out: while let Some(msg) = outbox.recv().await {
            if sink.feed(msg).await.is_err() {
                break;
            }
            while let Ok(more) = outbox.try_recv() {
                if sink.feed(more).await.is_err() {
                    break 'out;
                }
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut subs: HashMap<String, JoinHandle<()>> = HashMap::new();
    let login_lost = auth::access_lost(state.clone(), &who, |_, _| true);
    tokio::pin!(login_lost);
    loop {
        let msg = tokio::select! {
            msg = incoming.next() => msg,
            () = &mut login_lost => {
                let _ = out.send(error(None, "logged out; log in again".into())).await;
                break;
            }
        };
        let Some(Ok(msg)) = msg else { break };
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => break,
            Message::Binary(_) => {
                let _ = out
                    .send(error(
                        None,
                        "binary frames are not understood; send JSON text frames".into(),
                    ))
                    .await;
                continue;
            }
            _ => continue,
        };
        let frame = match serde_json::from_str::<ClientFrame>(&text) {
            Ok(f) => f,
            Err(e) => {
                let _ = out
                    .send(error(None, format!(
                        "bad frame ({e}); expected {{\"type\":\"subscribe\",\"session_id\":…,\"after_seq\":N}}, \
                         {{\"type\":\"unsubscribe\",\"session_id\":…}} or {{\"type\":\"ping\"}}"
                    )))
                    .await;
                continue;
            }
        };
        match frame {
            ClientFrame::Ping => {
                let _ = out.send(json_frame(ServerFrame::Pong)).await;
            }
            ClientFrame::Unsubscribe { session_id } => {
                if let Some(task) = subs.remove(&session_id) {
                    task.abort();
                }
                let _ = out
                    .send(json_frame(ServerFrame::Unsubscribed { session_id }))
                    .await;
            }
            ClientFrame::Subscribe {
                session_id,
                after_seq,
            } => {
                let session = match visible_session(&state, &who, &session_id) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = out.send(error(Some(session_id), e.to_string())).await;
                        continue;
                    }
                };
                if !subs.contains_key(&session_id) && subs.len() >= MAX_SUBSCRIPTIONS {
                    let _ = out
                        .send(error(None, format!(
                            "at most {MAX_SUBSCRIPTIONS} subscriptions per connection; unsubscribe first"
                        )))
                        .await;
                    continue;
                }
                if let Some(old) = subs.remove(&session_id) {
                    old.abort();
                }
                let _ = out
                    .send(json_frame(ServerFrame::Subscribed {
                        session_id: session_id.clone(),
                        after_seq,
                    }))
                    .await;
                let (state, out, who) = (state.clone(), out.clone(), who.clone());
                subs.insert(
                    session_id.clone(),
                    tokio::spawn(async move {
                        let events = state.sessions.follow(session.id, after_seq);
                        futures::pin_mut!(events);
                        let lost = auth::access_lost(state.clone(), &who, |st, w| {
                            visible_session(st, w, &session_id).is_ok()
                        });
                        tokio::pin!(lost);
                        loop {
                            tokio::select! {
                                ev = events.next() => match ev {
                                    Some(ev) => {
                                        if out.send(Message::Text(ev.ws_frame.clone())).await.is_err() {
                                            break;
                                        }
                                    }
                                    None => break,
                                },
                                () = &mut lost => {
                                    let why = "you no longer have access to this session".to_string();
                                    let _ = out.send(error(Some(session_id.clone()), why)).await;
                                    break;
                                }
                            }
                        }
                    }),
                );
            }
        }
    }
    for (_, task) in subs {
        task.abort();
    }
    drop(out);
    let _ = writer.await;
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
        match serde_json::from_str::<ServerFrame>(&live.ws_frame).unwrap() {
            ServerFrame::Event { session_id, event } => {
                assert_eq!((session_id, event), (id.to_string(), ev));
            }
            _ => panic!("not an event frame: {}", live.ws_frame.as_str()),
        }
    }
}

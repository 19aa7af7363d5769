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
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::sessions::{follow, visible_session};
use crate::AppState;
use crate::auth::{Approved, AuthUser};

/// Largest frame a browser may send.
const MAX_CLIENT_FRAME: usize = 64 * 1024;
/// Sessions one connection may follow at once.
const MAX_SUBSCRIPTIONS: usize = 256;
/// Outgoing frames buffered per connection before subscriptions wait for the browser.
const OUTBOX: usize = 1024;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientFrame {
    Subscribe {
        session_id: String,
        #[serde(default)]
        after_seq: u64,
    },
    Unsubscribe {
        session_id: String,
    },
    Ping,
}

/// Upgrades to the live channel.
pub async fn upgrade(
    State(state): State<AppState>,
    Approved(who): Approved,
    ws: WebSocketUpgrade,
) -> Response {
    ws.max_message_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| serve(state, who, socket))
}

fn json_frame(value: serde_json::Value) -> Message {
    Message::Text(value.to_string().into())
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
    while let Some(Ok(msg)) = incoming.next().await {
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => break,
            Message::Binary(_) => {
                let _ = out
                    .send(json_frame(serde_json::json!({"type": "error",
                        "message": "binary frames are not understood; send JSON text frames"})))
                    .await;
                continue;
            }
            _ => continue,
        };
        let frame = match serde_json::from_str::<ClientFrame>(&text) {
            Ok(f) => f,
            Err(e) => {
                let _ = out
                    .send(json_frame(serde_json::json!({"type": "error", "message": format!(
                        "bad frame ({e}); expected {{\"type\":\"subscribe\",\"session_id\":…,\"after_seq\":N}}, \
                         {{\"type\":\"unsubscribe\",\"session_id\":…}} or {{\"type\":\"ping\"}}"
                    )})))
                    .await;
                continue;
            }
        };
        match frame {
            ClientFrame::Ping => {
                let _ = out
                    .send(json_frame(serde_json::json!({"type": "pong"})))
                    .await;
            }
            ClientFrame::Unsubscribe { session_id } => {
                if let Some(task) = subs.remove(&session_id) {
                    task.abort();
                }
                let _ = out
                    .send(json_frame(
                        serde_json::json!({"type": "unsubscribed", "session_id": session_id}),
                    ))
                    .await;
            }
            ClientFrame::Subscribe {
                session_id,
                after_seq,
            } => {
                let session = match visible_session(&state, &who, &session_id) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = out
                            .send(json_frame(serde_json::json!({"type": "error",
                                "session_id": session_id, "message": e.to_string()})))
                            .await;
                        continue;
                    }
                };
                if !subs.contains_key(&session_id) && subs.len() >= MAX_SUBSCRIPTIONS {
                    let _ = out
                        .send(json_frame(serde_json::json!({"type": "error", "message": format!(
                            "at most {MAX_SUBSCRIPTIONS} subscriptions per connection; unsubscribe first"
                        )})))
                        .await;
                    continue;
                }
                if let Some(old) = subs.remove(&session_id) {
                    old.abort();
                }
                let _ = out
                    .send(json_frame(serde_json::json!({"type": "subscribed",
                        "session_id": session_id, "after_seq": after_seq})))
                    .await;
                let (state, out) = (state.clone(), out.clone());
                subs.insert(
                    session_id,
                    tokio::spawn(async move {
                        let events = follow(state, session.id, after_seq);
                        futures::pin_mut!(events);
                        while let Some(ev) = events.next().await {
                            if out.send(Message::Text(ev.ws_frame.clone())).await.is_err() {
                                break;
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

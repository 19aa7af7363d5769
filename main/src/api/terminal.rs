//! `GET /api/v1/nodes/:id/terminal?terminal_id=&cols=&rows=` (WebSocket): a web terminal on a node.
//!
//! Keystrokes go browser → main as binary frames, output comes back as binary frames; text frames carry
//! control: browser → main [`TerminalClientFrame`] (`resize`, `close`), main → browser
//! [`TerminalServerFrame`] (`attached`, `exit`, `error`). Main relays over one `terminal` tunnel stream
//! ([`vibebridge_tunnel::terminal`]). The terminal id is the browser's (a UUID kept per tab); opening the
//! same id again reattaches to the running shell with its recent output. Only users allowed on the node may
//! open one, only its starter may reattach, and a browser page from another origin may not open one at all.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;
use vibebridge_tunnel::frame::read_frame;
use vibebridge_tunnel::mux::TunnelStream;
use vibebridge_tunnel::protocol::Open;
use vibebridge_tunnel::terminal::{
    OpenTerminal, TermFrame, TerminalAttached, TerminalClientFrame, TerminalReply,
    TerminalServerFrame,
};

use super::ApiError;
use crate::api::{Path, Query};
use crate::auth::{Approved, AuthUser};
use crate::ops::{Actor, nodes};
use crate::state::AppState;
use crate::store::{AuditAction, AuditEvent};

/// Largest frame a browser may send (a big paste).
const MAX_CLIENT_FRAME: usize = 1024 * 1024;
/// How long main waits for the node to attach.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(15);

/// The query of the upgrade request.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct TerminalQuery {
    terminal_id: String,
    #[serde(default = "default_cols")]
    cols: u16,
    #[serde(default = "default_rows")]
    rows: u16,
}

fn default_cols() -> u16 {
    80
}

fn default_rows() -> u16 {
    24
}

/// Upgrades to a terminal WebSocket.
pub async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Query(q): Query<TerminalQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let node = nodes::visible(&state, &who, &id)?;
    if !super::guard::same_origin(&headers) {
        return Err(ApiError::Forbidden(
            "terminals open only from pages served by this main (Origin does not match Host)"
                .into(),
        ));
    }
    if uuid::Uuid::parse_str(&q.terminal_id).is_err() {
        return Err(ApiError::BadRequest("terminal_id must be a UUID".into()));
    }
    if !(1..=1000).contains(&q.cols) || !(1..=1000).contains(&q.rows) {
        return Err(ApiError::BadRequest(
            "cols and rows must be between 1 and 1000".into(),
        ));
    }
    let open = OpenTerminal {
        terminal_id: q.terminal_id,
        owner: who.user.id.to_string(),
        cols: q.cols,
        rows: q.rows,
    };
    tracing::debug!(node.id = %node.id, terminal = %open.terminal_id, user = %who.user.username, "terminal requested");
    let audit = Actor::of(&who, Some(peer))
        .audit(AuditAction::TerminalOpened)
        .target(node.id.clone())
        .detail(format!("terminal {}", open.terminal_id));
    Ok(ws
        .max_message_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| relay(state, who, node.id, open, socket, audit)))
}

fn text(frame: &TerminalServerFrame) -> Message {
    Message::Text(serde_json::to_string(frame).unwrap_or_default().into())
}

/// Relays one terminal socket; `audit` is recorded when the node starts a new shell for it. When `who`
/// loses the node (removed, logged out, disabled), the shell is closed, not just left.
async fn relay(
    state: AppState,
    who: AuthUser,
    node: String,
    open: OpenTerminal,
    socket: WebSocket,
    audit: AuditEvent,
) {
    let span = tracing::info_span!("terminal", node = %node, terminal = %open.terminal_id);
    let (mut sink, incoming) = socket.split();
    let (stream, attached) = match attach(&state, &node, open, audit).await {
        Ok(attached) => attached,
        Err(message) => {
            let _ = sink
                .send(text(&TerminalServerFrame::Error { message }))
                .await;
            let _ = sink.close().await;
            return;
        }
    };
    if sink.send(text(&attached)).await.is_err() {
        return;
    }
    let (rd, wr) = tokio::io::split(stream);
    // One writer owns the socket; output and error messages queue to it.
    let (out, outbox) = mpsc::channel::<Message>(256);
    let writer = tokio::spawn(write_socket(sink, outbox).instrument(span.clone()));
    let down = tokio::spawn(node_to_browser(rd, out.clone()).instrument(span.clone()));
    browser_to_node(&state, &who, &node, incoming, wr, &out, down)
        .instrument(span)
        .await;
    drop(out);
    let _ = writer.await;
}

/// Opens the terminal stream and waits for the node to attach it: the stream and the `attached` frame for
/// the browser, or what to tell the browser instead.
async fn attach(
    state: &AppState,
    node: &str,
    open: OpenTerminal,
    audit: AuditEvent,
) -> Result<(TunnelStream, TerminalServerFrame), String> {
    let mut stream = state
        .registry
        .open(node, &Open::Terminal(open))
        .await
        .map_err(|e| format!("{e}; try again once the node is online"))?;
    let max = state.config.tunnel.max_frame_bytes;
    let reply = tokio::time::timeout(
        ATTACH_TIMEOUT,
        read_frame::<TerminalReply, _>(&mut stream, max),
    )
    .await;
    match reply {
        Ok(Ok(Some(TerminalReply::Ok(TerminalAttached { created, shell })))) => {
            if created {
                state.store.audit(audit);
            }
            Ok((stream, TerminalServerFrame::Attached { created, shell }))
        }
        Ok(Ok(Some(TerminalReply::Err { message, .. }))) => Err(message),
        Err(_) => Err("the node did not attach the terminal within 15 s".to_string()),
        Ok(Err(e)) => Err(format!("terminal stream: {e}")),
        Ok(Ok(None)) => {
            Err("the node closed the terminal without answering (an older agent?)".to_string())
        }
    }
}

/// Writes queued messages to the browser until the queue ends or a close goes out.
async fn write_socket(
    mut sink: SplitSink<WebSocket, Message>,
    mut outbox: mpsc::Receiver<Message>,
) {
    while let Some(msg) = outbox.recv().await {
        let last = matches!(&msg, Message::Close(_));
        if sink.send(msg).await.is_err() || last {
            break;
        }
    }
    let _ = sink.close().await;
}

/// Forwards the shell's output to the browser until it exits, another tab takes the terminal over, or the
/// node is lost; then closes the browser's socket.
async fn node_to_browser(mut rd: ReadHalf<TunnelStream>, out: mpsc::Sender<Message>) {
    loop {
        let msg = match TermFrame::read(&mut rd).await {
            Ok(Some(TermFrame::Data(bytes))) => Message::Binary(bytes.into()),
            Ok(Some(TermFrame::Exit(code))) => {
                let _ = out.send(text(&TerminalServerFrame::Exit { code })).await;
                break;
            }
            Ok(Some(_)) => continue,
            Ok(None) => {
                let message = "this terminal was opened somewhere else".into();
                let _ = out
                    .send(text(&TerminalServerFrame::Error { message }))
                    .await;
                break;
            }
            Err(e) => {
                let message = format!("lost the node ({e}); reconnecting reattaches the shell");
                let _ = out
                    .send(text(&TerminalServerFrame::Error { message }))
                    .await;
                break;
            }
        };
        if out.send(msg).await.is_err() {
            break;
        }
    }
    let _ = out.send(Message::Close(None)).await;
}

/// Forwards keystrokes, resizes and a close from the browser to the node until either side ends or `who`
/// loses the node (then the shell is closed). Ending our half tells the node the browser left; it keeps
/// the shell for its grace period.
async fn browser_to_node(
    state: &AppState,
    who: &AuthUser,
    node: &str,
    mut incoming: SplitStream<WebSocket>,
    mut wr: WriteHalf<TunnelStream>,
    out: &mpsc::Sender<Message>,
    mut down: JoinHandle<()>,
) {
    let node_id = node.to_string();
    let lost = super::live::access_lost(state.clone(), who, move |st, w| {
        nodes::visible(st, w, &node_id).is_ok()
    });
    tokio::pin!(lost);
    loop {
        let msg = tokio::select! {
            _ = &mut down => break,
            msg = incoming.next() => msg,
            () = &mut lost => {
                let message = "your access to this node ended; the shell was closed".to_string();
                let _ = out.send(text(&TerminalServerFrame::Error { message })).await;
                let _ = TermFrame::Close.write(&mut wr).await;
                break;
            }
        };
        let frame = match msg {
            Some(Ok(Message::Binary(bytes))) => TermFrame::Data(bytes.to_vec()),
            Some(Ok(Message::Text(t))) => match client_frame(&t) {
                Ok(frame) => frame,
                Err(message) => {
                    let _ = out
                        .send(text(&TerminalServerFrame::Error { message }))
                        .await;
                    continue;
                }
            },
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => continue,
        };
        let close = frame == TermFrame::Close;
        if frame.write(&mut wr).await.is_err() || close {
            break;
        }
    }
    let _ = wr.shutdown().await;
    down.abort();
}

/// A text frame from the browser as the frame for the node, or what is wrong with it.
fn client_frame(t: &str) -> Result<TermFrame, String> {
    match serde_json::from_str::<TerminalClientFrame>(t) {
        Ok(TerminalClientFrame::Resize { cols, rows }) => Ok(TermFrame::Resize { cols, rows }),
        Ok(TerminalClientFrame::Close) => Ok(TermFrame::Close),
        Err(e) => Err(format!(
            "bad frame ({e}); send keystrokes as binary frames, or \
             {{\"type\":\"resize\",\"cols\":N,\"rows\":N}} / {{\"type\":\"close\"}}"
        )),
    }
}

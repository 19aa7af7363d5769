//! Serves the streams main opens to this node, by the kind named in their `Open` header.

use tokio::io::{AsyncWriteExt, BufReader};
use vibebridge_tunnel::TunnelConfig;
use vibebridge_tunnel::frame::{write_answer, write_frame};
use vibebridge_tunnel::git::GitReply;
use vibebridge_tunnel::mux::{TunnelStream, accept_header};
use vibebridge_tunnel::protocol::Open;
use vibebridge_tunnel::reply::{ErrorCode, Reply};

use crate::config::NodeConfig;
use crate::sessions::Sessions;
use crate::terminals::Terminals;

/// What inbound streams are served with. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    /// Agent sessions.
    pub sessions: Sessions,
    /// Web terminals.
    pub terminals: Terminals,
    /// The node's config (filesystem roots and guardrails).
    pub config: std::sync::Arc<NodeConfig>,
}

/// Handles one inbound stream to completion.
pub async fn serve(mut stream: TunnelStream, cfg: TunnelConfig, services: Services) {
    let sessions = services.sessions;
    let open = match accept_header(&mut stream, cfg.max_frame_bytes, cfg.open_timeout).await {
        Ok(open) => open,
        Err(e) => {
            tracing::warn!("dropping stream with a bad header: {e}");
            return;
        }
    };
    if let Err((code, message)) = crate::policy::admit(&services.config, &open) {
        tracing::info!(
            kind = open.kind(),
            "stream refused by the node's policy: {message}"
        );
        return refuse(stream, &open, code, message, cfg.max_frame_bytes).await;
    }
    match open {
        Open::Echo => echo(stream).await,
        Open::Control => tracing::warn!("main opened a control stream; only the node does that"),
        Open::SessionStart(req) => {
            let reply = sessions.start(req).await;
            answer(stream, &reply, cfg.max_frame_bytes).await;
        }
        Open::SessionCommand {
            session_id,
            command,
        } => {
            let reply = sessions.command(&session_id, command).await;
            answer(stream, &reply, cfg.max_frame_bytes).await;
        }
        Open::SessionAttach {
            session_id,
            after_seq,
        } => sessions.attach(stream, &session_id, after_seq).await,
        Open::SessionsLive => {
            let live = sessions.live_ids();
            answer(stream, &live, cfg.max_frame_bytes).await;
        }
        Open::Fs(req) => {
            let fs = std::sync::Arc::new(services.config.filesystem.clone());
            crate::fs::serve(stream, fs, req, cfg.max_frame_bytes).await
        }
        Open::Git(req) => {
            let config = services.config.clone();
            let reply =
                tokio::task::spawn_blocking(move || crate::git::handle(&config.filesystem, req))
                    .await
                    .unwrap_or_else(|e| {
                        GitReply::err(
                            ErrorCode::Internal,
                            format!("the git operation failed: {e}"),
                        )
                    });
            if let Err(e) = write_answer(&mut stream, &reply, cfg.max_frame_bytes).await {
                tracing::debug!("could not deliver a git answer: {e}");
            }
            let _ = stream.shutdown().await;
        }
        Open::Terminal(open) => {
            services
                .terminals
                .serve(stream, open, cfg.max_frame_bytes)
                .await
        }
    }
}

/// Answers a stream the policy refused with the refusal every request kind shares, then closes it.
async fn refuse(
    mut stream: TunnelStream,
    open: &Open,
    code: ErrorCode,
    message: String,
    max: usize,
) {
    let answers = !matches!(
        open,
        Open::Control | Open::Echo | Open::SessionAttach { .. } | Open::SessionsLive
    );
    if answers {
        // Every request stream's answer is a `Reply<T>`, whose refusal is the same whatever `T` is.
        let reply: Reply<()> = Reply::err(code, message);
        if let Err(e) = write_frame(&mut stream, &reply, max).await {
            tracing::debug!("could not deliver a refusal: {e}");
        }
    }
    let _ = stream.shutdown().await;
}

/// Writes the one reply frame of a request stream and closes it.
async fn answer<T: serde::Serialize>(mut stream: TunnelStream, reply: &T, max: usize) {
    if let Err(e) = write_frame(&mut stream, reply, max).await {
        tracing::debug!("could not deliver a session reply: {e}");
    }
    let _ = stream.shutdown().await;
}

/// Sends every byte back until main closes its side.
async fn echo(stream: TunnelStream) {
    let (read, mut write) = tokio::io::split(stream);
    let mut read = BufReader::with_capacity(64 * 1024, read);
    if let Err(e) = tokio::io::copy_buf(&mut read, &mut write).await {
        tracing::debug!("echo stream ended: {e}");
    }
    let _ = write.shutdown().await;
}

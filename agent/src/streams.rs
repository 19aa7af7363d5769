//! Serves the streams main opens to this node, by the kind named in their `Open` header.

use tokio::io::{AsyncWriteExt, BufReader};
use vibebridge_tunnel::TunnelConfig;
use vibebridge_tunnel::mux::{TunnelStream, accept_header};
use vibebridge_tunnel::protocol::Open;

/// Handles one inbound stream to completion.
pub async fn serve(mut stream: TunnelStream, cfg: TunnelConfig) {
    let open = match accept_header(&mut stream, cfg.max_frame_bytes, cfg.open_timeout).await {
        Ok(open) => open,
        Err(e) => {
            tracing::warn!("dropping stream with a bad header: {e}");
            return;
        }
    };
    match open {
        Open::Echo => echo(stream).await,
        Open::Control => tracing::warn!("main opened a control stream; only the node does that"),
    }
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

//! The HTTP server loop: the API router over hyper, with what `axum::serve` leaves out: a deadline for
//! each request's headers (a client trickling header bytes cannot hold a connection for ever), a cap on
//! open connections (`server.max_connections`), TCP_NODELAY, and a graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::config::ServerConfig;

/// How long open connections get to finish their current request once shutdown begins.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown`, then lets open requests finish (for at most [`DRAIN`]).
pub async fn serve(
    listener: &TcpListener,
    app: Router,
    cfg: &ServerConfig,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    let connections = TaskTracker::new();
    loop {
        // Past the cap, newcomers wait in the kernel's listen queue rather than take memory here.
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and similar: log, breathe, keep serving.
                    tracing::warn!("http accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Nagle on loopback delays small WebSocket/SSE frames by the peer's delayed ACK (40 ms).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY on an HTTP connection: {e}");
        }
        let service =
            app.clone()
                .map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req
                });
        let service = hyper_util::service::TowerToHyperService::new(service);
        let header_timeout = cfg.header_timeout;
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _permit = permit;
            // hyper's header deadline starts with the first byte; a client that sends none gets the same.
            let mut first = [0u8; 1];
            let peeked = tokio::select! {
                p = tokio::time::timeout(header_timeout, tcp.peek(&mut first)) => p,
                // Main stopping does not wait for a client that has not asked anything yet.
                _ = shutdown.cancelled() => return,
            };
            if !matches!(peeked, Ok(Ok(1))) {
                tracing::debug!(%peer, "no request within server.header_timeout; closing");
                return;
            }
            // HTTP/1 only, without hyper-util's version sniffing: that waits for up to 24 bytes of an
            // HTTP/2 preface with no deadline, so a client sending one byte would hold its slot for ever.
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    tokio::time::timeout(DRAIN, conn.as_mut()).await.unwrap_or(Ok(()))
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, "http connection ended: {e}");
            }
        });
    }
    connections.close();
    let _ = tokio::time::timeout(DRAIN, connections.wait()).await;
}

//! The yamux driver: one task owns a yamux connection and keeps polling it, handing out streams.
//!
//! yamux 0.14 has no control handle and moves no bytes unless someone polls the connection, so a single
//! task polls inbound streams, outbound open requests and shutdown together. It never waits on a stream's
//! reader or writer, so a slow stream cannot stall the others (yamux flow control holds that stream back).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::config::TunnelConfig;
use crate::frame::{self, FrameError};
use crate::protocol::Open;

pub use yamux::Mode;

/// A multiplexed stream, usable with tokio's I/O traits.
pub type TunnelStream = Compat<yamux::Stream>;

/// Each yamux stream's initial receive window.
const STREAM_WINDOW: usize = 256 * 1024;
/// Payload size yamux splits writes into (256 KiB stalls, 16 KiB costs throughput).
const SPLIT_SEND_SIZE: usize = 64 * 1024;
/// Inbound streams accepted by the driver but not yet taken by the application.
const INBOUND_BACKLOG: usize = 64;

/// Why a stream could not be opened or started.
#[derive(Debug, thiserror::Error)]
pub enum MuxError {
    /// The link is gone.
    #[error("tunnel link is closed")]
    Closed,
    /// yamux refused (e.g. the stream limit is reached).
    #[error("could not open stream: {0}")]
    Yamux(#[from] yamux::ConnectionError),
    /// The open or its first frame took longer than `tunnel.open_timeout`.
    #[error("stream open timed out after {0:?}")]
    Timeout(Duration),
    /// The `Open` header could not be exchanged.
    #[error("stream header: {0}")]
    Frame(#[from] FrameError),
}

type OpenReply = oneshot::Sender<Result<yamux::Stream, yamux::ConnectionError>>;

/// Opens streams on a running connection. Cheap to clone; when every handle is dropped the driver closes
/// the connection.
#[derive(Clone, Debug)]
pub struct MuxHandle {
    open_tx: mpsc::Sender<OpenReply>,
    closed: CancellationToken,
    shutdown: CancellationToken,
    open_timeout: Duration,
    max_frame: usize,
}

impl MuxHandle {
    /// Opens a stream and sends its `Open` header, within `tunnel.open_timeout`.
    pub async fn open(&self, header: &Open) -> Result<TunnelStream, MuxError> {
        let fut = async {
            let (tx, rx) = oneshot::channel();
            self.open_tx.send(tx).await.map_err(|_| MuxError::Closed)?;
            let stream = rx.await.map_err(|_| MuxError::Closed)??;
            let mut stream = stream.compat();
            frame::write_frame(&mut stream, header, self.max_frame).await?;
            Ok(stream)
        };
        tokio::time::timeout(self.open_timeout, fut)
            .await
            .map_err(|_| MuxError::Timeout(self.open_timeout))?
    }

    /// Resolves once the connection has ended, for whatever reason.
    pub fn closed(&self) -> WaitForCancellationFutureOwned {
        self.closed.clone().cancelled_owned()
    }

    /// True once the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Asks the driver to close the connection (idempotent).
    pub fn close(&self) {
        self.shutdown.cancel();
    }
}

/// Reads the `Open` header of an inbound stream within `timeout`.
pub async fn accept_header(
    stream: &mut TunnelStream,
    max_frame: usize,
    timeout: Duration,
) -> Result<Open, MuxError> {
    match tokio::time::timeout(timeout, frame::read_frame::<Open, _>(stream, max_frame)).await {
        Err(_) => Err(MuxError::Timeout(timeout)),
        Ok(Ok(Some(open))) => Ok(open),
        Ok(Ok(None)) => Err(MuxError::Frame(FrameError::Truncated)),
        Ok(Err(e)) => Err(MuxError::Frame(e)),
    }
}

/// The yamux configuration for a link: stream limit, windows and write split size.
fn yamux_config(cfg: &TunnelConfig) -> yamux::Config {
    let mut y = yamux::Config::default();
    // yamux asserts window >= streams * 256 KiB after each setter: with the default 1 GiB window any
    // stream count up to 4096 (the config limit) may be set first, and then the window lowered to fit.
    // The window also bounds what the SSH channel pump may buffer (see `ssh::channel_io`).
    let window = (cfg.max_streams * STREAM_WINDOW).max(64 * 1024 * 1024);
    y.set_max_num_streams(cfg.max_streams);
    y.set_max_connection_receive_window(Some(window));
    y.set_split_send_size(SPLIT_SEND_SIZE);
    y
}

/// Starts the driver task over `io`. Returns the handle for opening streams and the receiver of streams the
/// peer opened. The driver stops when the peer closes, the I/O fails, [`MuxHandle::close`] is called or
/// every handle is dropped; then [`MuxHandle::closed`] resolves.
pub fn spawn<T>(io: T, mode: Mode, cfg: &TunnelConfig) -> (MuxHandle, mpsc::Receiver<TunnelStream>)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = yamux::Connection::new(io.compat(), yamux_config(cfg), mode);
    let (open_tx, open_rx) = mpsc::channel(INBOUND_BACKLOG);
    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_BACKLOG);
    let closed = CancellationToken::new();
    let shutdown = CancellationToken::new();
    let handle = MuxHandle {
        open_tx,
        closed: closed.clone(),
        shutdown: shutdown.clone(),
        open_timeout: cfg.open_timeout,
        max_frame: cfg.max_frame_bytes,
    };
    tokio::spawn(async move {
        match drive(conn, open_rx, inbound_tx, shutdown).await {
            Ok(()) => tracing::debug!("tunnel connection closed"),
            Err(e) => tracing::debug!("tunnel connection ended: {e}"),
        }
        closed.cancel();
    });
    (handle, inbound_rx)
}

/// Why the poll loop stopped.
enum Exit {
    Ended(Result<(), yamux::ConnectionError>),
    Close,
}

async fn drive<T>(
    mut conn: yamux::Connection<T>,
    mut open_rx: mpsc::Receiver<OpenReply>,
    inbound_tx: mpsc::Sender<TunnelStream>,
    shutdown: CancellationToken,
) -> Result<(), yamux::ConnectionError>
where
    T: futures::AsyncRead + futures::AsyncWrite + Unpin,
{
    let mut pending: VecDeque<OpenReply> = VecDeque::new();
    let mut handles_gone = false;
    let stop = shutdown.cancelled();
    tokio::pin!(stop);

    let exit = poll_fn(|cx| {
        if stop.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Exit::Close);
        }
        while !handles_gone {
            match open_rx.poll_recv(cx) {
                Poll::Ready(Some(reply)) => pending.push_back(reply),
                Poll::Ready(None) => handles_gone = true,
                Poll::Pending => break,
            }
        }
        if handles_gone && pending.is_empty() {
            return Poll::Ready(Exit::Close);
        }
        while let Some(front) = pending.front() {
            if front.is_closed() {
                pending.pop_front();
                continue;
            }
            match conn.poll_new_outbound(cx) {
                Poll::Ready(result) => {
                    let failed = result.is_err();
                    if let Some(reply) = pending.pop_front() {
                        let _ = reply.send(result);
                    }
                    if failed {
                        break;
                    }
                }
                Poll::Pending => break,
            }
        }
        loop {
            match conn.poll_next_inbound(cx) {
                Poll::Ready(Some(Ok(stream))) => match inbound_tx.try_send(stream.compat()) {
                    Ok(()) => {}
                    // Dropping the stream resets it: the peer sees a refused stream, not a hang.
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::warn!("inbound stream backlog full; resetting a new stream")
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                },
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Exit::Ended(Err(e))),
                Poll::Ready(None) => return Poll::Ready(Exit::Ended(Ok(()))),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await;

    match exit {
        Exit::Ended(result) => result,
        Exit::Close => {
            // Best effort: tell the peer, but never hang on a dead transport.
            let close = poll_fn(|cx| conn.poll_close(cx));
            match tokio::time::timeout(Duration::from_secs(2), close).await {
                Ok(result) => result,
                Err(_) => Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // Proves a stream opened on one side arrives on the other with its header and bytes intact, in both
    // directions, over an in-memory pipe.
    #[tokio::test]
    async fn open_accept_and_echo_over_duplex() {
        let cfg = TunnelConfig::default();
        let (a, b) = tokio::io::duplex(64 * 1024);
        let (client, _client_in) = spawn(a, Mode::Client, &cfg);
        let (_server, mut server_in) = spawn(b, Mode::Server, &cfg);

        let mut out = client.open(&Open::Echo).await.unwrap();
        out.write_all(b"ping").await.unwrap();
        out.flush().await.unwrap();

        let mut inb = server_in.recv().await.unwrap();
        let header = accept_header(&mut inb, cfg.max_frame_bytes, cfg.open_timeout)
            .await
            .unwrap();
        assert_eq!(header, Open::Echo);
        let mut buf = [0u8; 4];
        inb.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        inb.write_all(b"pong").await.unwrap();
        inb.flush().await.unwrap();
        out.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
    }

    // Proves closing one side ends the connection on both and makes later opens fail cleanly.
    #[tokio::test]
    async fn close_is_seen_by_both_sides() {
        let cfg = TunnelConfig::default();
        let (a, b) = tokio::io::duplex(64 * 1024);
        let (client, _ci) = spawn(a, Mode::Client, &cfg);
        let (server, _si) = spawn(b, Mode::Server, &cfg);
        client.close();
        client.closed().await;
        server.closed().await;
        assert!(server.open(&Open::Echo).await.is_err());
    }

    // Proves a stream that never reads does not stall another stream on the same connection.
    #[tokio::test]
    async fn stalled_reader_does_not_block_other_streams() {
        let cfg = TunnelConfig::default();
        let (a, b) = tokio::io::duplex(256 * 1024);
        let (client, _ci) = spawn(a, Mode::Client, &cfg);
        let (_server, mut si) = spawn(b, Mode::Server, &cfg);

        // Stream 1: the writer fills the window; the server side never reads it.
        let mut stalled = client.open(&Open::Echo).await.unwrap();
        let writer = tokio::spawn(async move {
            let chunk = vec![7u8; 64 * 1024];
            loop {
                if stalled.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        });
        let _held = si.recv().await.unwrap();

        // Stream 2 still carries 4 MiB while stream 1 is blocked.
        let mut live = client.open(&Open::Echo).await.unwrap();
        let mut live_in = si.recv().await.unwrap();
        accept_header(&mut live_in, cfg.max_frame_bytes, cfg.open_timeout)
            .await
            .unwrap();
        let payload = vec![3u8; 4 * 1024 * 1024];
        let send = payload.clone();
        let w = tokio::spawn(async move {
            live.write_all(&send).await.unwrap();
            live.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        live_in.read_to_end(&mut got).await.unwrap();
        w.await.unwrap();
        assert_eq!(got, payload);
        writer.abort();
    }
}

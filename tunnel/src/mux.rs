//! The yamux driver: one task owns a yamux connection and keeps polling it, handing out streams.
//!
//! yamux 0.14 has no control handle and moves no bytes unless someone polls the connection, so a single
//! task polls inbound streams, outbound open requests and shutdown together. It never waits on a stream's
//! reader or writer, so a slow stream cannot stall the others (yamux flow control holds that stream back).
//!
//! yamux reports a dead connection to its streams as a clean end-of-file, and leaves the streams of a
//! connection closed locally pending forever; [`TunnelStream`] turns both into errors, so a reader can tell a
//! finished stream from a lost link and nothing waits on a link that is gone.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, oneshot};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::config::TunnelConfig;
use crate::frame::{self, FrameError};
use crate::protocol::Open;

pub use yamux::Mode;

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
    /// The link already carries as many streams as `tunnel.max_streams` allows; the link itself is fine.
    #[error(
        "the link already carries its limit of {0} streams (tunnel.max_streams); \
         wait for a stream to close or raise the limit"
    )]
    StreamLimit(usize),
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

type OpenReply = oneshot::Sender<Result<TunnelStream, MuxError>>;

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
    ///
    /// Fails with [`MuxError::StreamLimit`] when this end already has `tunnel.max_streams` streams open
    /// (the peer's control stream counts); the link stays up.
    pub async fn open(&self, header: &Open) -> Result<TunnelStream, MuxError> {
        let fut = async {
            let (tx, rx) = oneshot::channel();
            self.open_tx.send(tx).await.map_err(|_| MuxError::Closed)?;
            let mut stream = rx.await.map_err(|_| MuxError::Closed)??;
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

/// Streams yamux itself allows beyond `tunnel.max_streams`. yamux 0.14 tears the whole connection down
/// when its own limit is reached, whether by opening or by accepting a stream, so the driver enforces
/// `tunnel.max_streams` and yamux's limit only has to absorb streams dropped but not yet retired and a
/// peer configured with a higher limit.
const YAMUX_HEADROOM: usize = 64;

/// The yamux configuration for a link: stream limit, windows and write split size.
fn yamux_config(cfg: &TunnelConfig) -> yamux::Config {
    let mut y = yamux::Config::default();
    // yamux asserts window >= streams * 256 KiB after each setter, so first a window that fits both the
    // default 512 streams and ours, then our stream count, then the window that fits it exactly.
    // The window also bounds what the SSH channel pump may buffer (see `ssh::channel_io`).
    let streams = cfg.max_streams + YAMUX_HEADROOM;
    let window = (streams * STREAM_WINDOW).max(64 * 1024 * 1024);
    y.set_max_connection_receive_window(Some(window.max(512 * STREAM_WINDOW)));
    y.set_max_num_streams(streams);
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
    let fate = Arc::new(LinkFate {
        max_streams: cfg.max_streams,
        ..LinkFate::default()
    });
    let io = Watched {
        io,
        fate: fate.clone(),
    };
    let conn = yamux::Connection::new(io.compat(), yamux_config(cfg), mode);
    let (open_tx, open_rx) = mpsc::channel(INBOUND_BACKLOG);
    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_BACKLOG);
    let closed = fate.closed.clone();
    let shutdown = CancellationToken::new();
    let handle = MuxHandle {
        open_tx,
        closed: closed.clone(),
        shutdown: shutdown.clone(),
        open_timeout: cfg.open_timeout,
        max_frame: cfg.max_frame_bytes,
    };
    tokio::spawn(async move {
        match drive(conn, open_rx, inbound_tx, fate, shutdown).await {
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
    fate: Arc<LinkFate>,
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
        loop {
            // Inbound first: this also retires dropped streams, so a slot freed just before an open is
            // free for that open.
            loop {
                match conn.poll_next_inbound(cx) {
                    Poll::Ready(Some(Ok(stream))) => {
                        let stream = TunnelStream::new(stream, fate.clone());
                        if fate.live.load(Ordering::Relaxed) > fate.max_streams {
                            // Dropping it resets it: the peer's opener gets an error, the link stays.
                            tracing::warn!(
                                limit = fate.max_streams,
                                "peer opened more streams than tunnel.max_streams; resetting one"
                            );
                            continue;
                        }
                        match inbound_tx.try_send(stream) {
                            Ok(()) => {}
                            // Dropping the stream resets it: the peer sees a refused stream, not a hang.
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                tracing::warn!(
                                    "inbound stream backlog full; resetting a new stream"
                                )
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => {}
                        }
                    }
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Exit::Ended(Err(e))),
                    Poll::Ready(None) => return Poll::Ready(Exit::Ended(Ok(()))),
                    Poll::Pending => break,
                }
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
            let mut opened = false;
            while let Some(front) = pending.front() {
                if front.is_closed() {
                    pending.pop_front();
                    continue;
                }
                // Checked here, never by yamux: hitting yamux's own limit would end the link.
                let result = if fate.live.load(Ordering::Relaxed) >= fate.max_streams {
                    Err(MuxError::StreamLimit(fate.max_streams))
                } else {
                    match conn.poll_new_outbound(cx) {
                        Poll::Ready(Ok(stream)) => {
                            opened = true;
                            Ok(TunnelStream::new(stream, fate.clone()))
                        }
                        Poll::Ready(Err(yamux::ConnectionError::Closed)) => Err(MuxError::Closed),
                        Poll::Ready(Err(e)) => Err(MuxError::Yamux(e)),
                        Poll::Pending => break,
                    }
                };
                // Errors go to each waiting opener in turn; every turn takes one request off the queue.
                if let Some(reply) = pending.pop_front() {
                    let _ = reply.send(result);
                }
            }
            // A new stream's command queue is only watched once the connection is polled again.
            if !opened {
                return Poll::Pending;
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

/// How a link ended, shared by its driver, its transport and its streams; and how many streams it has.
#[derive(Debug, Default)]
struct LinkFate {
    /// Streams of this link not yet dropped, both directions (the control stream counts).
    live: AtomicUsize,
    /// `tunnel.max_streams`.
    max_streams: usize,
    /// The transport under yamux failed or reached end-of-file. Set by [`Watched`] before yamux sees it,
    /// so a stream woken by yamux's teardown already finds it.
    transport_lost: AtomicBool,
    /// Cancelled once the driver has stopped, for whatever reason.
    closed: CancellationToken,
}

impl LinkFate {
    fn ended(&self) -> bool {
        self.transport_lost.load(Ordering::Acquire) || self.closed.is_cancelled()
    }

    fn lose(&self) {
        self.transport_lost.store(true, Ordering::Release);
    }
}

fn link_lost() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "tunnel link lost")
}

/// The transport as yamux sees it: records end-of-file and errors in the link's [`LinkFate`].
struct Watched<T> {
    io: T,
    fate: Arc<LinkFate>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let asked = buf.remaining() > 0;
        let result = Pin::new(&mut self.io).poll_read(cx, buf);
        match &result {
            Poll::Ready(Ok(())) if asked && buf.filled().len() == before => self.fate.lose(),
            Poll::Ready(Err(_)) => self.fate.lose(),
            _ => {}
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Err(_)) = &result {
            self.fate.lose();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.io).poll_flush(cx);
        if let Poll::Ready(Err(_)) = &result {
            self.fate.lose();
        }
        result
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.io).poll_shutdown(cx);
        if let Poll::Ready(Err(_)) = &result {
            self.fate.lose();
        }
        result
    }
}

type LinkWaiter = Option<Pin<Box<WaitForCancellationFutureOwned>>>;

/// A multiplexed stream, usable with tokio's I/O traits.
///
/// End-of-file means the peer closed its side of this stream. When the link goes away instead (transport
/// cut, heartbeat timeout, local close), a read with nothing left in the buffer and every write fail with
/// `ConnectionAborted` ("tunnel link lost"), and a stream the peer reset fails with `ConnectionReset`; none of
/// them waits forever. Bytes that arrived before the end are still read first.
pub struct TunnelStream {
    inner: Compat<yamux::Stream>,
    fate: Arc<LinkFate>,
    /// Wake a pending reader or writer when the link ends; separate, as they may be different tasks.
    read_waiter: LinkWaiter,
    write_waiter: LinkWaiter,
    /// Our side is closed (FIN sent), so a fully closed stream may also be the peer's FIN.
    fin_sent: bool,
}

impl std::fmt::Debug for TunnelStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelStream")
            .field("id", &self.inner.get_ref().id())
            .field("fin_sent", &self.fin_sent)
            .finish()
    }
}

impl TunnelStream {
    fn new(stream: yamux::Stream, fate: Arc<LinkFate>) -> Self {
        fate.live.fetch_add(1, Ordering::Relaxed);
        TunnelStream {
            inner: stream.compat(),
            fate,
            read_waiter: None,
            write_waiter: None,
            fin_sent: false,
        }
    }

    /// True when yamux's end-of-file is the peer's FIN rather than a reset or the link's end. yamux shows a
    /// FIN as `RecvClosed` while our side is open; a reset or a torn-down link shows as `Closed`, which is
    /// also what a FIN looks like after our own, so then the link decides.
    fn clean_eof(&self) -> bool {
        !self.inner.get_ref().is_closed() || (self.fin_sent && !self.fate.ended())
    }

    /// The error for a read or write that cannot complete because the stream or link is gone.
    fn gone(&self) -> io::Error {
        if self.fate.ended() {
            link_lost()
        } else {
            io::Error::new(
                io::ErrorKind::ConnectionReset,
                "tunnel stream reset by the peer",
            )
        }
    }
}

impl Drop for TunnelStream {
    fn drop(&mut self) {
        self.fate.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Registers `cx` to be woken when the link ends; true if it has ended.
fn link_ended(waiter: &mut LinkWaiter, fate: &LinkFate, cx: &mut Context<'_>) -> bool {
    let wait = waiter.get_or_insert_with(|| Box::pin(fate.closed.clone().cancelled_owned()));
    wait.as_mut().poll(cx).is_ready() || fate.transport_lost.load(Ordering::Acquire)
}

impl AsyncRead for TunnelStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let asked = buf.remaining() > 0;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if asked && buf.filled().len() == before && !this.clean_eof() => {
                Poll::Ready(Err(this.gone()))
            }
            Poll::Ready(Err(e)) if this.fate.ended() => {
                tracing::trace!("stream read failed on an ended link: {e}");
                Poll::Ready(Err(link_lost()))
            }
            Poll::Pending if link_ended(&mut this.read_waiter, &this.fate, cx) => {
                Poll::Ready(Err(link_lost()))
            }
            other => other,
        }
    }
}

impl TunnelStream {
    /// The common shape of the write-side calls: pass results through, explain errors, and fail rather
    /// than wait once the link has ended.
    fn write_side<R>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match result {
            Poll::Ready(Err(e)) => {
                tracing::trace!("stream write failed: {e}");
                Poll::Ready(Err(self.gone()))
            }
            Poll::Pending if link_ended(&mut self.write_waiter, &self.fate, cx) => {
                Poll::Ready(Err(link_lost()))
            }
            other => other,
        }
    }
}

impl AsyncWrite for TunnelStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.write_side(cx, result)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        this.write_side(cx, result)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_shutdown(cx);
        if let Poll::Ready(Ok(())) = result {
            this.fin_sent = true;
        }
        this.write_side(cx, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Proves a stream's header and bytes arrive intact on the other side, both ways, over an in-memory pipe.
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

    /// Proves closing one side ends the connection on both and makes later opens fail cleanly.
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

    /// A transport that fails at once, in both directions, when `kill` is cancelled: a cut cable.
    struct Killable {
        io: tokio::io::DuplexStream,
        killed: Pin<Box<WaitForCancellationFutureOwned>>,
    }

    impl Killable {
        fn new(io: tokio::io::DuplexStream, kill: &CancellationToken) -> Self {
            Killable {
                io,
                killed: Box::pin(kill.clone().cancelled_owned()),
            }
        }

        fn cut(&mut self, cx: &mut Context<'_>) -> bool {
            self.killed.as_mut().poll(cx).is_ready()
        }
    }

    fn cut_error() -> io::Error {
        io::Error::new(io::ErrorKind::ConnectionReset, "cut")
    }

    impl AsyncRead for Killable {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if self.cut(cx) {
                return Poll::Ready(Err(cut_error()));
            }
            Pin::new(&mut self.io).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Killable {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.cut(cx) {
                return Poll::Ready(Err(cut_error()));
            }
            Pin::new(&mut self.io).poll_write(cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            if self.cut(cx) {
                return Poll::Ready(Err(cut_error()));
            }
            Pin::new(&mut self.io).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.io).poll_shutdown(cx)
        }
    }

    /// Fails the test if `task` has not finished within 20 s (a hang guard, not a timing check).
    async fn finish<T>(task: tokio::task::JoinHandle<T>, what: &str) -> T {
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .unwrap_or_else(|_| panic!("{what} hung"))
            .unwrap()
    }

    /// Proves a transport dying under load fails every stream's reads and writes on both ends: no EOF, no hang.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dead_transport_fails_every_stream_on_both_ends() {
        const STREAMS: usize = 16;
        let cfg = TunnelConfig::default();
        let kill = CancellationToken::new();
        let (a, b) = tokio::io::duplex(256 * 1024);
        let (client, _ci) = spawn(Killable::new(a, &kill), Mode::Client, &cfg);
        let (_server, mut si) = spawn(Killable::new(b, &kill), Mode::Server, &cfg);

        let echoes = tokio::spawn(async move {
            let mut echoes = Vec::new();
            for _ in 0..STREAMS {
                let mut s = si.recv().await.unwrap();
                accept_header(&mut s, cfg.max_frame_bytes, cfg.open_timeout)
                    .await
                    .unwrap();
                echoes.push(tokio::spawn(async move {
                    let (mut r, mut w) = tokio::io::split(s);
                    tokio::io::copy(&mut r, &mut w).await
                }));
            }
            echoes
        });

        let (flowing_tx, mut flowing) = mpsc::channel(STREAMS);
        let mut writers = Vec::new();
        let mut readers = Vec::new();
        for _ in 0..STREAMS {
            let s = client.open(&Open::Echo).await.unwrap();
            let (mut r, mut w) = tokio::io::split(s);
            writers.push(tokio::spawn(async move {
                let chunk = vec![9u8; 16 * 1024];
                loop {
                    w.write_all(&chunk).await?;
                }
                #[allow(unreachable_code)]
                Ok::<(), io::Error>(())
            }));
            let flowing = flowing_tx.clone();
            readers.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut total = 0usize;
                loop {
                    let n = r.read(&mut buf).await?;
                    if n == 0 {
                        return Ok(total);
                    }
                    total += n;
                    if total >= 128 * 1024 && total - n < 128 * 1024 {
                        let _ = flowing.send(()).await;
                    }
                }
            }));
        }
        for _ in 0..STREAMS {
            flowing.recv().await.unwrap();
        }
        kill.cancel();

        for (i, w) in writers.into_iter().enumerate() {
            let end = finish(w, &format!("writer {i}")).await;
            assert!(end.is_err(), "writer {i} ended without an error");
        }
        for (i, r) in readers.into_iter().enumerate() {
            let end: io::Result<usize> = finish(r, &format!("reader {i}")).await;
            let err = end.expect_err(&format!("reader {i} saw a clean end-of-file"));
            assert_eq!(
                err.kind(),
                io::ErrorKind::ConnectionAborted,
                "reader {i}: {err}"
            );
        }
        for (i, e) in finish(echoes, "accepting").await.into_iter().enumerate() {
            let end = finish(e, &format!("node-side stream {i}")).await;
            assert!(end.is_err(), "node-side stream {i} ended cleanly: {end:?}");
        }
        client.closed().await;
    }

    /// Proves a local close fails reads waiting on both ends, while a finished stream still reads a clean EOF.
    #[tokio::test]
    async fn local_close_fails_waiting_streams() {
        let cfg = TunnelConfig::default();
        let (a, b) = tokio::io::duplex(64 * 1024);
        let (client, _ci) = spawn(a, Mode::Client, &cfg);
        let (_server, mut si) = spawn(b, Mode::Server, &cfg);

        // A finished stream: the peer's FIN is a clean end-of-file.
        let mut done = client.open(&Open::Echo).await.unwrap();
        let mut done_in = si.recv().await.unwrap();
        accept_header(&mut done_in, cfg.max_frame_bytes, cfg.open_timeout)
            .await
            .unwrap();
        done_in.shutdown().await.unwrap();
        let mut rest = Vec::new();
        done.read_to_end(&mut rest).await.unwrap();

        let mut waiting = client.open(&Open::Echo).await.unwrap();
        let mut waiting_in = si.recv().await.unwrap();
        accept_header(&mut waiting_in, cfg.max_frame_bytes, cfg.open_timeout)
            .await
            .unwrap();
        let near = tokio::spawn(async move { waiting.read(&mut [0u8; 16]).await });
        let far = tokio::spawn(async move { waiting_in.read(&mut [0u8; 16]).await });
        client.close();
        let err = finish(near, "local reader").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted, "{err}");
        assert!(finish(far, "remote reader").await.is_err());
    }

    /// Proves opening beyond `max_streams` fails with an error naming the limit and the setting, the link
    /// keeps working, and closing a stream frees its slot.
    #[tokio::test]
    async fn stream_limit_is_a_clear_error_and_the_link_stays_up() {
        let small = TunnelConfig {
            max_streams: 4,
            ..TunnelConfig::default()
        };
        let cfg = TunnelConfig::default();
        let (a, b) = tokio::io::duplex(64 * 1024);
        let (client, _ci) = spawn(a, Mode::Client, &small);
        let (_server, mut si) = spawn(b, Mode::Server, &cfg);
        tokio::spawn(async move {
            while let Some(mut s) = si.recv().await {
                tokio::spawn(async move {
                    accept_header(&mut s, cfg.max_frame_bytes, cfg.open_timeout).await?;
                    let (mut r, mut w) = tokio::io::split(s);
                    tokio::io::copy(&mut r, &mut w)
                        .await
                        .map_err(FrameError::Io)?;
                    w.shutdown().await.map_err(FrameError::Io)?;
                    Ok::<_, MuxError>(())
                });
            }
        });

        let mut open = Vec::new();
        for _ in 0..4 {
            open.push(client.open(&Open::Echo).await.unwrap());
        }
        let err = client.open(&Open::Echo).await.unwrap_err();
        assert!(matches!(err, MuxError::StreamLimit(4)), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("limit of 4") && msg.contains("tunnel.max_streams"),
            "{msg}"
        );
        assert!(!client.is_closed());

        for s in &mut open {
            s.write_all(b"still here").await.unwrap();
            let mut back = [0u8; 10];
            s.read_exact(&mut back).await.unwrap();
            assert_eq!(&back, b"still here");
        }
        let mut first = open.remove(0);
        first.shutdown().await.unwrap();
        first.read_to_end(&mut Vec::new()).await.unwrap();
        drop(first);
        let mut again = client.open(&Open::Echo).await.unwrap();
        again.write_all(b"x").await.unwrap();
        let mut back = [0u8; 1];
        again.read_exact(&mut back).await.unwrap();
    }

    /// Proves streams a peer opens past our `max_streams` are reset; the link and the other streams work on.
    #[tokio::test]
    async fn streams_beyond_the_accepting_limit_are_reset_and_the_link_stays_up() {
        let cfg = TunnelConfig::default();
        let small = TunnelConfig {
            max_streams: 2,
            ..TunnelConfig::default()
        };
        let (a, b) = tokio::io::duplex(64 * 1024);
        let (client, _ci) = spawn(a, Mode::Client, &cfg);
        let (_server, mut si) = spawn(b, Mode::Server, &small);
        tokio::spawn(async move {
            while let Some(mut s) = si.recv().await {
                tokio::spawn(async move {
                    accept_header(&mut s, cfg.max_frame_bytes, cfg.open_timeout).await?;
                    let (mut r, mut w) = tokio::io::split(s);
                    tokio::io::copy(&mut r, &mut w)
                        .await
                        .map_err(FrameError::Io)?;
                    Ok::<_, MuxError>(())
                });
            }
        });
        let mut within = Vec::new();
        for _ in 0..2 {
            let mut s = client.open(&Open::Echo).await.unwrap();
            s.write_all(b"ok").await.unwrap();
            s.read_exact(&mut [0u8; 2]).await.unwrap();
            within.push(s);
        }
        let mut beyond = client.open(&Open::Echo).await.unwrap();
        let err = beyond.read(&mut [0u8; 1]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        assert!(!client.is_closed());
        for s in &mut within {
            s.write_all(b"ok").await.unwrap();
            s.read_exact(&mut [0u8; 2]).await.unwrap();
        }
    }

    /// Proves a stream that never reads does not stall another stream on the same connection.
    #[tokio::test]
    async fn stalled_reader_does_not_block_other_streams() {
        const WAIT: Duration = Duration::from_secs(20);
        let cfg = TunnelConfig::default();
        let (a, b) = tokio::io::duplex(256 * 1024);
        let (client, _ci) = spawn(a, Mode::Client, &cfg);
        let (_server, mut si) = spawn(b, Mode::Server, &cfg);

        // Stream 1 offers many windows' worth; the server side never reads it, so its writer must block.
        let mut stalled = client.open(&Open::Echo).await.unwrap();
        let (progress_tx, mut progress) = tokio::sync::watch::channel(0usize);
        let writer = tokio::spawn(async move {
            let chunk = vec![7u8; 64 * 1024];
            let mut sent = 0usize;
            while sent < 32 * STREAM_WINDOW {
                match stalled.write(&chunk).await {
                    Ok(n) if n > 0 => sent += n,
                    _ => break,
                }
                progress_tx.send_replace(sent);
            }
        });
        let _held = tokio::time::timeout(WAIT, si.recv())
            .await
            .expect("stream 1 never arrived")
            .unwrap();
        // The open header took a few bytes of the window.
        let filled = *tokio::time::timeout(WAIT, progress.wait_for(|s| *s >= STREAM_WINDOW - 1024))
            .await
            .expect("stream 1 never filled its window")
            .unwrap();
        // A quiet spell with the window full: stream 1 is blocked, not merely slow.
        assert!(
            tokio::time::timeout(Duration::from_millis(200), progress.changed())
                .await
                .is_err(),
            "stream 1 kept writing past its window ({filled} bytes, then {})",
            *progress.borrow()
        );
        assert!(!writer.is_finished(), "stream 1's writer was not blocked");

        // Stream 2 still carries 4 MiB while stream 1 is blocked.
        let transfer = async {
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
            assert!(got == payload, "stream 2's bytes differ");
        };
        tokio::time::timeout(WAIT, transfer)
            .await
            .expect("stream 2 stalled behind stream 1");
        assert!(
            !writer.is_finished(),
            "the stalled stream should still be blocked"
        );
        assert_eq!(*progress.borrow(), filled, "stream 1 moved while stalled");
        writer.abort();
    }
}

//! SSH tuning and plumbing shared by both ends: socket options, russh configs, channel → byte stream.
//!
//! The numbers come from a proof of concept on this machine class (see DESIGN.md, Tunnel): AES-GCM before
//! chacha20, 256 KiB packets, a 2 MiB window, 16-message channel buffers and a 512 KiB write buffer took one
//! stream from 489 MB/s to 929 MB/s.

use std::borrow::Cow;
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use russh::{ChannelId, ChannelMsg, MethodKind, MethodSet, Preferred, cipher};
use tokio::io::{AsyncRead, AsyncWrite, BufReader, BufWriter, Join, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::config::TunnelConfig;

/// SSH channel window.
const WINDOW: u32 = 2 * 1024 * 1024;
/// Largest SSH packet main accepts on a channel.
const SERVER_PACKET: u32 = 256 * 1024;
/// Largest SSH packet a node accepts (russh's client logs an error above 65535).
const CLIENT_PACKET: u32 = 65535;
/// Messages buffered per channel before backpressure reaches the TCP stream.
const CHANNEL_BUFFER: usize = 16;
/// Write buffer in front of the channel: yamux writes header and body separately.
const WRITE_BUFFER: usize = 512 * 1024;

/// How long every real authentication failure on main takes, measured from the attempt: timing then tells a
/// prober nothing, and guessing register tokens is slow. Main's SSH handler applies it (see
/// [`server_config`]).
pub const AUTH_REJECTION_TIME: Duration = Duration::from_secs(1);

/// AES-GCM first: with AES-NI it is 40–60 % faster than chacha20-poly1305 here.
const CIPHERS: &[cipher::Name] = &[
    cipher::AES_128_GCM,
    cipher::AES_256_GCM,
    cipher::CHACHA20_POLY1305,
];

fn preferred() -> Preferred {
    Preferred {
        cipher: Cow::Borrowed(CIPHERS),
        ..Preferred::default()
    }
}

/// Read buffer in front of the SSH socket (see [`buffered`]). Small on purpose: main holds one per node
/// (16 KiB put main's RSS with 1,000 nodes 16 MB higher), and the packets it saves a `recv` on, keystrokes,
/// echoes and control frames, are far smaller.
const SOCKET_READ_BUFFER: usize = 2 * 1024;

/// The tunnel socket as russh should read it. russh reads every packet with two `read_exact` calls (the
/// first cipher block, then the rest); straight off the socket that is two `recv` system calls per
/// packet, with a buffer in front one for a small packet. Reads larger than the buffer bypass it.
pub fn buffered(socket: TcpStream) -> BufReader<TcpStream> {
    BufReader::with_capacity(SOCKET_READ_BUFFER, socket)
}

/// Sets TCP_NODELAY (yamux writes header and body separately; Nagle turns that into 40+ ms round trips),
/// TCP_USER_TIMEOUT (unacknowledged data fails the socket after `dead_after`) and TCP keepalive.
pub fn tune_socket(socket: &TcpStream, cfg: &TunnelConfig) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    let sock = socket2::SockRef::from(socket);
    sock.set_tcp_user_timeout(Some(cfg.dead_after))?;
    let probe = cfg.heartbeat_interval.max(Duration::from_secs(1));
    sock.set_tcp_keepalive(
        &socket2::TcpKeepalive::new()
            .with_time(probe)
            .with_interval(probe)
            .with_retries(3),
    )?;
    Ok(())
}

fn keepalive_max(cfg: &TunnelConfig) -> usize {
    let n = cfg.dead_after.as_millis() / cfg.heartbeat_interval.as_millis().max(1);
    usize::try_from(n).unwrap_or(3).max(2)
}

/// russh server configuration for main's SSH endpoint.
///
/// russh's own `auth_rejection_time` is zero: russh would also hold back the *partial success* that asks a
/// new node's verified key for its register token, so every enrolment would wait a second. Instead the
/// handler delays each real rejection (unknown or mismatched key, wrong token) to [`AUTH_REJECTION_TIME`]
/// after the attempt began. What russh still rejects by itself (the `none` probe, a bad signature, methods
/// main does not offer) reveals nothing about nodes or tokens.
pub fn server_config(
    host_key: russh::keys::PrivateKey,
    cfg: &TunnelConfig,
) -> russh::server::Config {
    russh::server::Config {
        keys: vec![host_key],
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        window_size: WINDOW,
        maximum_packet_size: SERVER_PACKET,
        channel_buffer_size: CHANNEL_BUFFER,
        preferred: preferred(),
        max_auth_attempts: 6,
        auth_rejection_time: Duration::ZERO,
        auth_rejection_time_initial: None,
        // Keepalives and heartbeats keep a healthy link busy; this only reaps the truly silent.
        inactivity_timeout: Some(cfg.dead_after * 2),
        keepalive_interval: Some(cfg.heartbeat_interval),
        keepalive_max: keepalive_max(cfg),
        nodelay: true,
        ..Default::default()
    }
}

/// russh client configuration for a node dialling main.
pub fn client_config(cfg: &TunnelConfig) -> russh::client::Config {
    russh::client::Config {
        window_size: WINDOW,
        maximum_packet_size: CLIENT_PACKET,
        channel_buffer_size: CHANNEL_BUFFER,
        preferred: preferred(),
        inactivity_timeout: Some(cfg.dead_after * 2),
        keepalive_interval: Some(cfg.heartbeat_interval),
        keepalive_max: keepalive_max(cfg),
        nodelay: true,
        ..Default::default()
    }
}

/// An SSH channel as the byte stream yamux runs over: an always-drained reader and a buffered writer.
pub type ChannelIo = Join<ChannelReader, BufWriter<Pin<Box<dyn AsyncWrite + Send>>>>;

/// Wraps an SSH channel as the byte stream yamux runs over.
///
/// Reading is done by a pump task that never stops draining the channel. yamux stops reading its socket
/// while a reply (a pong) waits for the write side, and russh stops processing *all* incoming packets,
/// window adjusts included, once a channel's queue is full; with both ends in that state each waits for
/// the other's window adjust forever. The pump breaks that cycle. What it buffers is bounded by the yamux
/// receive windows this end granted (`yamux_config`), since the peer can send no stream data beyond them.
pub fn channel_io<S>(channel: russh::Channel<S>) -> ChannelIo
where
    S: From<(ChannelId, ChannelMsg)> + Send + Sync + 'static,
{
    let (mut read_half, write_half) = channel.split();
    let writer: Pin<Box<dyn AsyncWrite + Send>> = Box::pin(write_half.make_writer());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(msg) = read_half.wait().await {
            let data = match msg {
                ChannelMsg::Data { data } => data,
                ChannelMsg::Eof | ChannelMsg::Close => break,
                _ => continue,
            };
            if tx.send(data).is_err() {
                break;
            }
        }
    });
    tokio::io::join(
        ChannelReader {
            rx,
            buf: Bytes::new(),
        },
        BufWriter::with_capacity(WRITE_BUFFER, writer),
    )
}

/// The read side of [`ChannelIo`]: bytes the pump took off the SSH channel.
pub struct ChannelReader {
    rx: mpsc::UnboundedReceiver<Bytes>,
    buf: Bytes,
}

impl AsyncRead for ChannelReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        while self.buf.is_empty() {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => self.buf = chunk,
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = self.buf.len().min(out.remaining());
        out.put_slice(&self.buf.split_to(n));
        Poll::Ready(Ok(()))
    }
}

//! A TCP proxy that can freeze its live connections (bytes stop flowing but sockets stay open: what a
//! half-open link, a NAT dropping state or a pulled cable, looks like to both ends) or cut them (both
//! sockets closed at once: a peer or middlebox going away), or freeze only what the client sends (answers lost
//! on the way back while requests still arrive). New connections go to a target that can change, so a
//! restarted server behind it keeps its address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A running proxy.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicU64>,
    target: Arc<std::sync::Mutex<SocketAddr>>,
    freeze: Arc<std::sync::Mutex<CancellationToken>>,
    cut: Arc<std::sync::Mutex<CancellationToken>>,
    freeze_up: Arc<std::sync::Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1:0 forwarding to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let freeze = Arc::new(std::sync::Mutex::new(CancellationToken::new()));
        let cut = Arc::new(std::sync::Mutex::new(CancellationToken::new()));
        let freeze_up = Arc::new(std::sync::Mutex::new(CancellationToken::new()));
        let accepted = Arc::new(AtomicU64::new(0));
        let target = Arc::new(std::sync::Mutex::new(target));
        let stop = CancellationToken::new();
        let to = target.clone();
        let (f, c, a, s) = (freeze.clone(), cut.clone(), accepted.clone(), stop.clone());
        let fu = freeze_up.clone();
        tokio::spawn(async move {
            loop {
                let (client, _) = tokio::select! {
                    _ = s.cancelled() => return,
                    c = listener.accept() => match c { Ok(c) => c, Err(_) => return },
                };
                a.fetch_add(1, Ordering::SeqCst);
                let upstream = *to.lock().unwrap();
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let frozen = f.lock().unwrap().clone();
                let up_frozen = fu.lock().unwrap().clone();
                let cut = c.lock().unwrap().clone();
                let stop = s.clone();
                tokio::spawn(async move {
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let up = pump(cr, sw, frozen.clone(), up_frozen);
                    let down = pump(sr, cw, frozen.clone(), CancellationToken::new());
                    // Returning drops both sockets: each end sees its connection closed.
                    tokio::select! {
                        _ = async { tokio::join!(up, down) } => {}
                        _ = cut.cancelled() => {}
                        _ = stop.cancelled() => {}
                    }
                });
            }
        });
        Proxy {
            addr,
            accepted,
            target,
            freeze,
            cut,
            freeze_up,
            stop,
        }
    }

    /// Sends new connections to `target` (a restarted server on new ports); open ones stay as they are.
    pub fn retarget(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = target;
    }

    /// Freezes every connection open now: their bytes stop, their sockets stay open. New connections flow.
    pub fn freeze_existing(&self) {
        let mut f = self.freeze.lock().unwrap();
        f.cancel();
        *f = CancellationToken::new();
    }

    /// Freezes what the client sends on every connection open now; what the target sends still flows. New
    /// connections flow both ways.
    pub fn freeze_upstream_existing(&self) {
        let mut f = self.freeze_up.lock().unwrap();
        f.cancel();
        *f = CancellationToken::new();
    }

    /// Closes both sockets of every connection open now. New connections flow.
    pub fn cut_existing(&self) {
        let mut c = self.cut.lock().unwrap();
        c.cancel();
        *c = CancellationToken::new();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: CancellationToken,
    also_frozen: CancellationToken,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let is_frozen = || frozen.is_cancelled() || also_frozen.is_cancelled();
    loop {
        let n = tokio::select! {
            _ = frozen.cancelled() => {
                // Hold both halves open and silent until the proxy stops.
                std::future::pending::<()>().await;
                return;
            }
            _ = also_frozen.cancelled() => {
                std::future::pending::<()>().await;
                return;
            }
            n = from.read(&mut buf) => match n { Ok(0) | Err(_) => return, Ok(n) => n },
        };
        if is_frozen() || to.write_all(&buf[..n]).await.is_err() {
            if is_frozen() {
                std::future::pending::<()>().await;
            }
            return;
        }
    }
}

//! A fake webhook receiver for main's outgoing webhooks: it records every request (path, lower-case
//! headers, the raw body bytes, when it arrived) before answering, and answers by a script
//! ([`FakeReceiver::set_script`]): each request takes the next [`Reply`], the last one repeating. A
//! [`Reply::Hang`] never answers until [`FakeReceiver::release`] (then 200) or until the receiver is dropped;
//! [`FakeReceiver::hanging`] counts the requests held that way whose client is still there.
//!
//! Tests wait on what arrived with [`FakeReceiver::wait_for`], which follows a `tokio::sync::watch` (no
//! polling) and fails the test after [`HOOK_WAIT`] saying what it waited for and what came.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long [`FakeReceiver::wait_for`] waits before failing the test.
pub const HOOK_WAIT: Duration = Duration::from_secs(60);

/// How the receiver answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// This status with this body (`text/plain`).
    Status(u16, String),
    /// No answer: the request is held until [`FakeReceiver::release`] (then 200 `released`), until its
    /// client gives up, or until the receiver is dropped.
    Hang,
}

impl Reply {
    /// `200 ok`.
    pub fn ok() -> Reply {
        Reply::Status(200, "ok".into())
    }
}

/// One request the receiver got, as it arrived (recorded before it is answered).
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST` (anything else is recorded too).
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Headers by lower-case name (repeated ones joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// The body as sent.
    pub body: Bytes,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// A header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The body as JSON; `Null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// What the receiver has seen, behind its watch.
#[derive(Debug, Default, Clone)]
struct Seen {
    received: Vec<Received>,
    hanging: usize,
}

struct Inner {
    seen: watch::Sender<Seen>,
    /// The script and how many replies of it were used.
    script: Mutex<(Vec<Reply>, usize)>,
    /// Bumped by [`FakeReceiver::release`]: requests hung before it answer.
    released: watch::Sender<u64>,
    shutdown: CancellationToken,
}

/// The receiver on 127.0.0.1; dropping it stops the server (hung requests end with a 503).
pub struct FakeReceiver {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

impl FakeReceiver {
    /// Starts the receiver on a fresh port, answering `200 ok` to everything.
    pub async fn start() -> FakeReceiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the fake webhook receiver");
        let addr = listener.local_addr().expect("the receiver's address");
        let inner = Arc::new(Inner {
            seen: watch::Sender::new(Seen::default()),
            script: Mutex::new((vec![Reply::ok()], 0)),
            released: watch::Sender::new(0),
            shutdown: CancellationToken::new(),
        });
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(16 << 20))
            .with_state(inner.clone());
        let stop = inner.shutdown.clone().cancelled_owned();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await;
        });
        FakeReceiver { addr, inner }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Where the receiver listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The replies from now on, used in order, the last one repeating (an empty script answers `200 ok`).
    pub fn set_script(&self, replies: Vec<Reply>) {
        *self.inner.script.lock().unwrap_or_else(|e| e.into_inner()) = (replies, 0);
    }

    /// Answers every request hung so far with `200 released`; later [`Reply::Hang`]s hang again.
    pub fn release(&self) {
        self.inner.released.send_modify(|n| *n += 1);
    }

    /// Every request received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.inner.seen.borrow().received.clone()
    }

    /// The requests now held by [`Reply::Hang`] whose client is still waiting.
    pub fn hanging(&self) -> usize {
        self.inner.seen.borrow().hanging
    }

    /// Waits until `pred` holds for the requests received so far and returns them; panics after
    /// [`HOOK_WAIT`] with `what` and what was received.
    pub async fn wait_for(&self, pred: impl Fn(&[Received]) -> bool, what: &str) -> Vec<Received> {
        let mut rx = self.inner.seen.subscribe();
        let seen = tokio::time::timeout(HOOK_WAIT, async {
            rx.wait_for(|s| pred(&s.received))
                .await
                .map(|s| s.received.clone())
        })
        .await;
        match seen {
            Ok(Ok(received)) => received,
            _ => panic!(
                "fake webhook receiver: {what}: not seen within {HOOK_WAIT:?}; received: {:#?}",
                self.received()
                    .iter()
                    .map(|r| (&r.path, &r.headers, String::from_utf8_lossy(&r.body)))
                    .collect::<Vec<_>>()
            ),
        }
    }

    /// Waits until exactly `n` requests are hung with their client still waiting; panics after
    /// [`HOOK_WAIT`] with `what`.
    pub async fn wait_hanging(&self, n: usize, what: &str) {
        let mut rx = self.inner.seen.subscribe();
        let seen = tokio::time::timeout(HOOK_WAIT, async {
            rx.wait_for(|s| s.hanging == n).await.map(|_| ())
        })
        .await;
        if !matches!(seen, Ok(Ok(()))) {
            panic!(
                "fake webhook receiver: {what}: {} requests hang after {HOOK_WAIT:?}, expected {n}",
                self.hanging()
            );
        }
    }
}

impl Drop for FakeReceiver {
    fn drop(&mut self) {
        self.inner.shutdown.cancel();
    }
}

/// Counts a hung request out however its hang ends (released, client gone, receiver stopped).
struct HangGuard<'a>(&'a Inner);

impl Drop for HangGuard<'_> {
    fn drop(&mut self) {
        self.0
            .seen
            .send_modify(|s| s.hanging = s.hanging.saturating_sub(1));
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut map = BTreeMap::<String, String>::new();
    for (name, value) in &headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        map.entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let received = Received {
        method: method.to_string(),
        path: uri.path().to_string(),
        headers: map,
        body,
        at: Instant::now(),
    };
    let reply = {
        let mut script = inner.script.lock().unwrap_or_else(|e| e.into_inner());
        let (replies, used) = &mut *script;
        let reply = replies
            .get((*used).min(replies.len().saturating_sub(1)))
            .cloned()
            .unwrap_or_else(Reply::ok);
        *used += 1;
        reply
    };
    // Subscribed before the request is visible, so a release that follows its arrival is not missed.
    let mut released = inner.released.subscribe();
    let hung_at = *released.borrow_and_update();
    inner.seen.send_modify(|s| {
        s.received.push(received);
        if reply == Reply::Hang {
            s.hanging += 1;
        }
    });
    match reply {
        Reply::Status(code, body) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, body).into_response()
        }
        Reply::Hang => {
            let _guard = HangGuard(&inner);
            tokio::select! {
                r = released.wait_for(|n| *n > hung_at) => match r {
                    Ok(_) => (StatusCode::OK, "released").into_response(),
                    Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "receiver stopped").into_response(),
                },
                () = inner.shutdown.cancelled() => {
                    (StatusCode::SERVICE_UNAVAILABLE, "receiver stopped").into_response()
                }
            }
        }
    }
}

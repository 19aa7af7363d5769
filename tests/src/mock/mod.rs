//! Mock model APIs that the real `claude` and `codex` CLIs talk to in tests, and the isolated environment
//! (HOME, config dirs, TMPDIR, git identity) each CLI run gets.
//!
//! The reply to a model request is scripted by directives inside the user's prompt:
//!
//! | directive | reply |
//! | --- | --- |
//! | `[[tool:NAME {json}]]` | one call of tool NAME with that input (Claude `tool_use`, Codex `function_call`) |
//! | `[[shell:CMD]]` | one call of the shell tool: Claude `Bash {"command"}`, Codex `exec_command {"cmd"}` (or `shell_command` / `shell`, whichever the request offers) |
//! | `[[patch:PATCH]]` | Codex: one `apply_patch` custom tool call whose freeform input is PATCH (Claude says it has no such tool) |
//! | `[[thinking:T]]` | a thinking block (Claude) / reasoning summary item (Codex) at the start of the first reply |
//! | `[[text:T]]` | the final text (instead of `MOCK REPLY: …` / `MOCK DONE: …`) |
//! | `[[http_error:N]]` | HTTP status N with an API-shaped error body, for the first request of the prompt |
//! | `[[gate:NAME]]` | the stream starts (keep-alive pings) but the reply is held until [`MockServer::release`]; see [`MockServer::wait_held`] |
//! | `[[slow:MS]]` | the final text arrives in several deltas, MS milliseconds apart |
//!
//! Calls are made one per reply, in the order written; after the last tool result the reply is the final text,
//! `MOCK DONE: <last tool output>` unless `[[text:…]]` says otherwise. A prompt without directives gets
//! `MOCK REPLY: <prompt>`. The prompt is the last user text that the CLI did not inject itself (texts starting
//! with `<`, such as `<system-reminder>` and `<environment_context>`, are the CLI's), so prompts written by tests
//! must not start with `<`. A released gate stays open, so later replies to the same prompt are not held, and
//! releasing before the request arrives is fine.

pub mod anthropic;
mod env;
pub mod github;
mod github_api;
mod github_git;
pub mod hooks;
pub mod openai;
pub mod push;
mod script;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use anthropic::MockAnthropic;
pub use env::{CliEnv, claude_bin, codex_bin, node_modules};
pub use github::FakeGithub;
pub use openai::MockOpenAi;
pub(crate) use script::{Call, Reply, Turn, injected};

/// How long the mock helpers wait for a CLI to do something before failing the test. Generous: the CLIs start
/// in about a second, but the whole suite shares two cores.
pub const CLI_WAIT: Duration = Duration::from_secs(90);

/// How often a held (gated) stream sends a keep-alive.
const KEEPALIVE: Duration = Duration::from_secs(2);

/// One HTTP request a mock received.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// `POST`, `GET`, `HEAD`…
    pub method: String,
    /// The path without the query, e.g. `/v1/messages`.
    pub path: String,
    /// The query string, e.g. `beta=true`.
    pub query: Option<String>,
    /// Headers, names lower-case (repeated headers joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// The JSON body; `Null` when empty, a string when not JSON.
    pub body: Value,
    /// Whether this is a model call (`POST /v1/messages` or `POST /v1/responses`).
    pub model: bool,
}

impl LoggedRequest {
    /// A header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// The part both mocks share: the request log, gates and shutdown. [`MockAnthropic`] and [`MockOpenAi`]
/// dereference to it. Dropping the mock stops the server and ends held streams.
pub struct MockServer {
    addr: SocketAddr,
    core: Arc<Core>,
}

impl MockServer {
    /// Binds 127.0.0.1:0 and serves `routes` (plus a logging fallback) until dropped.
    async fn start(routes: Router<Arc<Core>>) -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let core = Arc::new(Core {
            log: Mutex::new(Vec::new()),
            model_requests: watch::Sender::new(0),
            gates: watch::Sender::new(Gates::default()),
            disconnects: watch::Sender::new(0),
            shutdown: CancellationToken::new(),
        });
        let app = routes
            .fallback(unknown)
            .layer(DefaultBodyLimit::max(64 << 20))
            .with_state(core.clone());
        let stop = core.shutdown.clone().cancelled_owned();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await;
        });
        MockServer { addr, core }
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.core.log.lock().unwrap().clone()
    }

    /// The model calls received so far.
    pub fn model_requests(&self) -> Vec<LoggedRequest> {
        self.requests().into_iter().filter(|r| r.model).collect()
    }

    /// Waits until at least `n` model calls have arrived (they are logged before any reply, so a request held
    /// at a gate counts); returns them. Panics after [`CLI_WAIT`].
    pub async fn wait_for_requests(&self, n: usize) -> Vec<LoggedRequest> {
        let mut rx = self.core.model_requests.subscribe();
        let seen = tokio::time::timeout(CLI_WAIT, async {
            rx.wait_for(|c| *c >= n).await.map(|_| ())
        })
        .await;
        if seen.is_err() {
            panic!(
                "the mock got {} model requests in {CLI_WAIT:?}, expected {n}",
                *self.core.model_requests.borrow()
            );
        }
        self.model_requests()
    }

    /// Opens gate `name`: held replies continue, later ones are not held.
    pub fn release(&self, name: &str) {
        self.core.gates.send_modify(|g| {
            g.released.insert(name.to_string());
        });
    }

    /// Waits until a reply is being held at gate `name` (its stream has started). Panics after [`CLI_WAIT`].
    pub async fn wait_held(&self, name: &str) {
        let mut rx = self.core.gates.subscribe();
        let held = rx.wait_for(|g| g.held.get(name).is_some_and(|n| *n > 0));
        let held = tokio::time::timeout(CLI_WAIT, async { held.await.map(|_| ()) }).await;
        assert!(
            held.is_ok(),
            "no reply was held at gate {name:?} within {CLI_WAIT:?}"
        );
    }

    /// How many streamed replies lost their client before the end (an interrupted or killed CLI, a cut link).
    pub fn disconnects(&self) -> usize {
        *self.core.disconnects.borrow()
    }

    /// Waits until at least `n` streamed replies have lost their client. Panics after [`CLI_WAIT`].
    pub async fn wait_disconnects(&self, n: usize) {
        let mut rx = self.core.disconnects.subscribe();
        let gone = tokio::time::timeout(CLI_WAIT, async {
            rx.wait_for(|c| *c >= n).await.map(|_| ())
        })
        .await;
        assert!(
            gone.is_ok(),
            "{} streams lost their client within {CLI_WAIT:?}, expected {n}",
            self.disconnects()
        );
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.core.shutdown.cancel();
    }
}

/// State shared by the server's handlers.
pub(crate) struct Core {
    log: Mutex<Vec<LoggedRequest>>,
    model_requests: watch::Sender<usize>,
    gates: watch::Sender<Gates>,
    disconnects: watch::Sender<usize>,
    shutdown: CancellationToken,
}

#[derive(Default)]
struct Gates {
    released: HashSet<String>,
    held: HashMap<String, usize>,
}

/// The client went away (or the mock is shutting down): stop producing the reply.
pub(crate) struct Gone;

impl Core {
    /// Logs a request (before it is answered) and returns the logged form.
    pub(crate) fn record(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        model: bool,
    ) -> LoggedRequest {
        let mut map = BTreeMap::<String, String>::new();
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            map.entry(name.as_str().to_string())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
        };
        let req = LoggedRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            headers: map,
            body,
            model,
        };
        self.log.lock().unwrap().push(req.clone());
        if model {
            self.model_requests.send_modify(|n| *n += 1);
        }
        req
    }

    /// Holds the reply at each gate in turn until it is released, sending keep-alives on `sse` meanwhile.
    pub(crate) async fn hold(&self, gates: &[String], sse: Option<&Sse>) -> Result<(), Gone> {
        for gate in gates {
            let mut rx = self.gates.subscribe();
            if rx.borrow().released.contains(gate) {
                continue;
            }
            self.gates
                .send_modify(|g| *g.held.entry(gate.clone()).or_default() += 1);
            let _held = HeldGuard { core: self, gate };
            let released = async { rx.wait_for(|g| g.released.contains(gate)).await.map(|_| ()) };
            tokio::pin!(released);
            let mut ping = tokio::time::interval(KEEPALIVE);
            ping.tick().await;
            loop {
                tokio::select! {
                    r = &mut released => match r {
                        Ok(_) => break,
                        Err(_) => return Err(Gone),
                    },
                    _ = ping.tick() => if let Some(s) = sse {
                        s.keepalive().await?;
                    },
                    _ = closed(sse) => return Err(Gone),
                    _ = self.shutdown.cancelled() => return Err(Gone),
                }
            }
        }
        Ok(())
    }

    /// Counts a streamed reply whose client vanished.
    pub(crate) fn disconnected(&self) {
        self.disconnects.send_modify(|n| *n += 1);
    }
}

/// Un-counts a held reply however the hold ends (released, client gone, handler future dropped).
struct HeldGuard<'a> {
    core: &'a Core,
    gate: &'a str,
}

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        self.core.gates.send_modify(|g| {
            if let Some(n) = g.held.get_mut(self.gate) {
                *n = n.saturating_sub(1);
            }
        });
    }
}

async fn closed(sse: Option<&Sse>) {
    match sse {
        Some(s) => s.tx.closed().await,
        None => std::future::pending().await,
    }
}

/// Logs requests nobody expects and answers 404, so a test can see what a CLI tried.
async fn unknown(
    axum::extract::State(core): axum::extract::State<Arc<Core>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    core.record(&method, &uri, &headers, &body, false);
    (StatusCode::NOT_FOUND, "mock: no such endpoint").into_response()
}

/// The writing end of a server-sent-events response body.
pub(crate) struct Sse {
    tx: mpsc::Sender<Bytes>,
    keepalive: &'static str,
}

impl Sse {
    /// A writer and the streaming response reading from it; `keepalive` is sent raw while a reply is held.
    pub(crate) fn open(keepalive: &'static str) -> (Sse, Response) {
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
        });
        let response = (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            Body::from_stream(stream),
        )
            .into_response();
        (Sse { tx, keepalive }, response)
    }

    /// Sends one event: `event: NAME` and the JSON as `data:`.
    pub(crate) async fn event(&self, name: &str, data: &Value) -> Result<(), Gone> {
        self.raw(format!("event: {name}\ndata: {data}\n\n")).await
    }

    async fn keepalive(&self) -> Result<(), Gone> {
        self.raw(self.keepalive.to_string()).await
    }

    async fn raw(&self, text: String) -> Result<(), Gone> {
        self.tx.send(Bytes::from(text)).await.map_err(|_| Gone)
    }
}

/// A fresh id with a recognisable prefix, e.g. `toolu_mock_3f2a…`.
pub(crate) fn mock_id(prefix: &str) -> String {
    format!("{prefix}_mock_{}", vibebridge_tunnel::keys::random_hex(10))
}

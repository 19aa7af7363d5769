//! End-to-end harness: main and agents in-process on 127.0.0.1:0, plus helpers the tests share
//! (temporary directories, a fast tunnel config, a pausable TCP proxy, an HTTP client).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod bench;
pub mod browser_fx;
pub mod console;
pub mod e2e;
pub mod fault_fx;
pub mod fault_runs;
pub mod fault_world;
pub mod github_fx;
pub mod hooks_fx;
pub mod mock;
pub mod pg;
pub mod proxy;
pub mod push_fx;
pub mod rbac_fx;
pub mod rbac_work;
pub mod run_fx;
pub mod seed;
pub mod session_driver;
pub mod session_fx;
pub mod store_suite;
pub mod work_fx;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vibebridge_agent::{Agent, LinkState, LinkStatus, NodeConfig};
use vibebridge_main::{AppState, Listeners, Main, MainConfig};
use vibebridge_tunnel::TunnelConfig;
use vibebridge_tunnel::config::Secret;

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system temp dir.
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "vb-{tag}-{}",
            vibebridge_tunnel::keys::random_hex(6)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Logs to the test's stderr when `VB_TEST_LOG` is set (an `EnvFilter`, e.g. `debug,russh=warn`), for
/// debugging a failing test; silent otherwise.
pub fn init_test_logging() {
    if let Ok(filter) = std::env::var("VB_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// Liveness intervals short enough for tests (dead links found in about a second).
pub fn fast_tunnel() -> TunnelConfig {
    TunnelConfig {
        heartbeat_interval: Duration::from_millis(200),
        dead_after: Duration::from_millis(1200),
        handshake_timeout: Duration::from_secs(10),
        open_timeout: Duration::from_secs(10),
        ..TunnelConfig::default()
    }
}

/// A fresh ed25519 key and its OpenSSH public line.
pub fn ssh_key() -> (russh::keys::PrivateKey, String) {
    let key = russh::keys::PrivateKey::random(
        &mut vibebridge_tunnel::keys::rng(),
        russh::keys::Algorithm::Ed25519,
    )
    .expect("generating an ed25519 key");
    let line = vibebridge_tunnel::keys::public_openssh(key.public_key());
    (key, line)
}

/// `key`'s SSH signature (SSHSIG, PEM) over `message` in `namespace`, as `ssh-keygen -Y sign` writes it.
pub fn sshsig(key: &russh::keys::PrivateKey, namespace: &str, message: &str) -> String {
    key.sign(namespace, russh::keys::HashAlg::Sha512, message.as_bytes())
        .expect("signing")
        .to_pem(russh::keys::ssh_key::LineEnding::LF)
        .expect("encoding a signature")
}

/// How long tests wait for a state change before failing.
pub const WAIT: Duration = Duration::from_secs(20);

/// A main running in-process.
pub struct TestMain {
    /// HTTP address.
    pub http: SocketAddr,
    /// SSH address.
    pub ssh: SocketAddr,
    /// Host key fingerprint.
    pub fingerprint: String,
    /// Shared state (store, registry).
    pub state: AppState,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl TestMain {
    /// Starts main with its state in `dir`, on fresh ports.
    pub async fn start(dir: &Path) -> TestMain {
        Self::start_with(dir, None, |_| {}).await
    }

    /// Starts main with its state in `dir`; on `ssh` if given (restart tests), and a config tweak.
    pub async fn start_with(
        dir: &Path,
        ssh: Option<SocketAddr>,
        tweak: impl FnOnce(&mut MainConfig),
    ) -> TestMain {
        init_test_logging();
        let mut config = MainConfig::default();
        config.database.path = dir.join("main");
        config.tunnel = fast_tunnel();
        tweak(&mut config);
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ssh = TcpListener::bind(ssh.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap()))
            .await
            .unwrap();
        let (http_addr, ssh_addr) = (http.local_addr().unwrap(), ssh.local_addr().unwrap());
        let main = Main::open(config).unwrap();
        main.set_ssh_public_addr(ssh_addr.to_string());
        let state = main.state().clone();
        let fingerprint = main.host_key_fingerprint().to_string();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(main.serve(Listeners { http, ssh }, shutdown.clone()));
        // On PostgreSQL main stands by until it wins the lead (at once, when it is alone).
        tokio::time::timeout(WAIT, state.standing.until_active())
            .await
            .expect("main did not become active");
        TestMain {
            http: http_addr,
            ssh: ssh_addr,
            fingerprint,
            state,
            shutdown,
            task,
        }
    }

    /// A one-time register token owned by the creator.
    pub fn token(&self) -> String {
        self.state.store.create_node_token(None, 600_000).unwrap().0
    }

    /// The audit actions whose target is `target`, oldest first.
    pub fn audit_actions(&self, target: &str) -> Vec<String> {
        let mut v: Vec<_> = self
            .state
            .store
            .audit_page(None, 1000)
            .unwrap()
            .into_iter()
            .filter(|e| e.event.target.as_deref() == Some(target))
            .map(|e| e.event.action)
            .collect();
        v.reverse();
        v
    }

    /// `http://addr/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// Waits until `node_id` is online (registered), returning its link generation.
    pub async fn wait_online(&self, node_id: &str) -> u64 {
        self.wait_link(node_id, |_| true).await
    }

    /// Waits until `node_id` has a link satisfying `pred`.
    pub async fn wait_link(&self, node_id: &str, pred: impl Fn(u64) -> bool) -> u64 {
        let mut events = self.state.registry.subscribe();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(link) = self.state.registry.get(node_id)
                && pred(link.generation)
            {
                return link.generation;
            }
            tokio::time::timeout_at(deadline, events.recv())
                .await
                .unwrap_or_else(|_| panic!("node {node_id} did not come online"))
                .ok();
        }
    }

    /// Waits until `node_id` is offline.
    pub async fn wait_offline(&self, node_id: &str) {
        let mut events = self.state.registry.subscribe();
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.state.registry.get(node_id).is_some() {
            tokio::time::timeout_at(deadline, events.recv())
                .await
                .unwrap_or_else(|_| panic!("node {node_id} did not go offline"))
                .ok();
        }
    }

    /// Stops main and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// Sends SIGTERM to `child` and waits (up to [`WAIT`]) for it to end; `what` names it in the panic otherwise.
pub async fn sigterm_and_wait(child: &mut tokio::process::Child, what: &str) {
    let pid = nix::unistd::Pid::from_raw(child.id().expect("the process still runs") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap_or_else(|_| panic!("{what} did not end on SIGTERM"))
        .unwrap();
}

/// An agent running in-process.
pub struct TestNode {
    /// The agent.
    pub agent: Agent,
    shutdown: CancellationToken,
}

impl TestNode {
    /// A node config for `main_addr`, state in `dir`, with a fast tunnel and quick reconnects.
    pub fn config(dir: &Path, id: &str, main_addr: SocketAddr) -> NodeConfig {
        let mut c = NodeConfig::default();
        c.node.id = Some(id.into());
        c.node.main_addr = main_addr.to_string();
        c.database.path = dir.join(format!("node-{id}"));
        c.tunnel = fast_tunnel();
        c.reconnect.min = Duration::from_millis(50);
        c.reconnect.max = Duration::from_millis(500);
        c.reconnect.auth_failure_min = Duration::from_millis(200);
        c.reconnect.auth_failure_max = Duration::from_secs(1);
        c
    }

    /// A node config dialling `addr` (main's SSH port, or a proxy in front of it), pinned to `main`'s host
    /// key, with a fresh one-time register token: a node that enrols on its first connection.
    pub fn enrolling(dir: &Path, id: &str, main: &TestMain, addr: SocketAddr) -> NodeConfig {
        let mut c = Self::config(dir, id, addr);
        c.node.main_host_key = Some(main.fingerprint.clone());
        c.node.register_token = Some(Secret::new(main.token()));
        c
    }

    /// Starts a node pinned to `main`, enrolling with `token` if given.
    pub fn start_for(dir: &Path, id: &str, main: &TestMain, token: Option<String>) -> TestNode {
        let mut c = Self::config(dir, id, main.ssh);
        c.node.main_host_key = Some(main.fingerprint.clone());
        c.node.register_token = token.map(Secret::new);
        Self::start(c)
    }

    /// Starts a node from a config.
    pub fn start(config: NodeConfig) -> TestNode {
        let shutdown = CancellationToken::new();
        let agent = Agent::start(config, None, shutdown.clone()).unwrap();
        TestNode { agent, shutdown }
    }

    /// Waits for the link to reach `state`; panics with the last status otherwise.
    pub async fn wait(&self, state: LinkState) -> LinkStatus {
        let mut rx = self.agent.status();
        match vibebridge_agent::link::wait_for(&mut rx, state, WAIT).await {
            Ok(s) => s,
            Err(last) => panic!("node never reached {state:?}; last status {last:?}"),
        }
    }

    /// Waits for the link to leave `state`.
    pub async fn wait_not(&self, state: LinkState) -> LinkStatus {
        let mut rx = self.agent.status();
        let got = tokio::time::timeout(WAIT, rx.wait_for(|s| s.state != state)).await;
        got.expect("status never changed")
            .expect("agent gone")
            .clone()
    }

    /// Stops the node and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.agent.join().await;
    }
}

/// The `vb_refresh` cookie's value in a response's `Set-Cookie` headers.
pub fn refresh_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("vb_refresh="))
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
        .filter(|v| !v.is_empty())
}

/// A JSON HTTP client that keeps a Bearer token.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    /// Bearer token, once logged in.
    pub token: Option<String>,
    /// The refresh token of the last login, from its `Set-Cookie` (main never puts it in a body).
    pub refresh: Option<String>,
}

impl Api {
    /// A client for `main`.
    pub fn new(main: &TestMain) -> Api {
        Api::at(&format!("http://{}", main.http))
    }

    /// A client for the main at `base` (`http://host:port`), e.g. one running in another process.
    pub fn at(base: &str) -> Api {
        Api {
            client: reqwest::Client::new(),
            base: base.to_string(),
            token: None,
            refresh: None,
        }
    }

    /// A request with the token applied, for raw bodies, headers and streamed responses.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.client.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Sends a request; returns status and JSON body (`null` when empty).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.try_call(method, path, body).await.unwrap()
    }

    /// [`Api::call`] for a main that may be away (restarting, or behind a cut link): transport errors are
    /// returned, not panics.
    pub async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), reqwest::Error> {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        ))
    }

    /// GET.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// Registers (or logs in, if `register` is false) and keeps the access token.
    pub async fn auth(
        &mut self,
        register: bool,
        user: &str,
        password: &str,
    ) -> (u16, serde_json::Value) {
        let path = if register {
            "/api/v1/auth/register"
        } else {
            "/api/v1/auth/login"
        };
        let resp = self
            .request(reqwest::Method::POST, path)
            .json(&serde_json::json!({ "username": user, "password": password }))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        self.refresh = refresh_cookie(resp.headers());
        let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
        if let Some(t) = body["access_token"].as_str() {
            self.token = Some(t.to_string());
        }
        (status, body)
    }
}

/// A reader of main's server-sent events (`GET /api/v1/sessions/{id}/stream`), one parsed event at a time.
pub struct SseReader {
    resp: reqwest::Response,
    buf: String,
}

impl SseReader {
    /// Opens the stream of session `id` after `after` with `api`'s token.
    pub async fn open(api: &Api, id: &str, after: u64) -> SseReader {
        Self::try_open(api, id, after)
            .await
            .unwrap_or_else(|e| panic!("opening the event stream of {id}: {e}"))
    }

    /// [`SseReader::open`] for a main that may be away: a transport error or a status other than 200 is
    /// returned.
    pub async fn try_open(api: &Api, id: &str, after: u64) -> Result<SseReader, String> {
        let resp = api
            .request(
                reqwest::Method::GET,
                &format!("/api/v1/sessions/{id}/stream?after={after}"),
            )
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status() != 200 {
            return Err(format!("status {}", resp.status()));
        }
        Ok(SseReader {
            resp,
            buf: String::new(),
        })
    }

    /// The next event: `(name, data as JSON)`; `None` when the stream ends.
    pub async fn next(&mut self) -> Option<(String, serde_json::Value)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut name, mut data) = (String::from("message"), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if data.is_empty() {
                    continue; // keep-alive comment
                }
                return Some((name, serde_json::from_str(&data).unwrap()));
            }
            let chunk = self.resp.chunk().await.ok()??;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads events until one satisfies `pred` (within `timeout`), returning every event read, the match last.
    pub async fn until(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        let mut seen = Vec::new();
        let found = tokio::time::timeout(timeout, async {
            while let Some((_, ev)) = self.next().await {
                let hit = pred(&ev);
                seen.push(ev);
                if hit {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(found, Ok(true)),
            "no matching event within {timeout:?}; saw {seen:#?}"
        );
        seen
    }
}

/// A WebSocket to main, as `tokio-tungstenite` gives it.
pub type WsSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket to main's `path` (under `api`'s base, `http` becoming `ws`) with `api`'s bearer token and
/// an `Origin` header if given.
pub async fn ws_connect(
    api: &Api,
    path: &str,
    origin: Option<&str>,
) -> Result<WsSocket, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("{}{path}", api.base.replacen("http://", "ws://", 1));
    let mut req = url.into_client_request()?;
    let headers = req.headers_mut();
    if let Some(t) = &api.token {
        headers.insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    if let Some(o) = origin {
        headers.insert("origin", o.parse().unwrap());
    }
    let (socket, _) = tokio_tungstenite::connect_async(req).await?;
    Ok(socket)
}

/// The next JSON text frame of `ws`, skipping other frames; panics after [`WAIT`] or if the socket ends.
pub async fn next_json(ws: &mut WsSocket) -> serde_json::Value {
    use futures::StreamExt;
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no WebSocket frame in time")
            .expect("WebSocket closed")
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// A client of main's browser WebSocket (`GET /api/v1/ws`), speaking JSON text frames.
pub struct WsClient {
    socket: WsSocket,
}

impl WsClient {
    /// Connects with `api`'s bearer token.
    pub async fn connect(api: &Api) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
        Ok(WsClient {
            socket: ws_connect(api, "/api/v1/ws", None).await?,
        })
    }

    /// Sends one JSON text frame (or any text, to test bad input).
    pub async fn send_text(&mut self, text: &str) {
        use futures::SinkExt;
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
            .await
            .unwrap();
    }

    /// The next message of any kind; `None` once the connection has ended (or after [`WAIT`]).
    pub async fn recv(&mut self) -> Option<tokio_tungstenite::tungstenite::Message> {
        self.recv_within(WAIT).await
    }

    /// The next message of any kind; `None` once the connection has ended (or after `wait`).
    pub async fn recv_within(
        &mut self,
        wait: Duration,
    ) -> Option<tokio_tungstenite::tungstenite::Message> {
        use futures::StreamExt;
        tokio::time::timeout(wait, self.socket.next())
            .await
            .ok()??
            .ok()
    }

    /// The next JSON text frame; panics after [`WAIT`] or if the connection ends.
    pub async fn next(&mut self) -> serde_json::Value {
        next_json(&mut self.socket).await
    }

    /// The first JSON text frame that satisfies `pred`, skipping the others; panics as [`WsClient::next`].
    pub async fn until(&mut self, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        loop {
            let frame = self.next().await;
            if pred(&frame) {
                return frame;
            }
        }
    }
}

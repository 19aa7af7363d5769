//! A fake Web Push service (the browser vendor's push server) for main's push notifications.
//!
//! Every POST to a subscription's endpoint is checked the way a real push service and browser would, with an
//! implementation independent of main's Rust crates: `tests/push/webpush.py` verifies the VAPID token
//! (RFC 8292: `Authorization: vapid t=<ES256 JWT>, k=<public key>`, `aud` the endpoint's origin, `exp` at most
//! 24 h ahead, a `mailto:`/`https:` `sub`) with Python's `cryptography`, and decrypts the `aes128gcm` body
//! (RFC 8291, one record keyed by the subscription's P-256 key and auth secret) with `http_ece`, the reference
//! code of RFC 8188's author. The RFC 8030 headers are checked here: `TTL` is required, `Urgency` and `Topic`
//! must be well-formed. A push that passes is answered as [`FakePushService::set_answer`] says (201 Created with
//! a `Location` by default); a VAPID failure gets 403, a bad header or payload 400, a body over 4096 bytes 413.
//! Everything is recorded, in order, for [`FakePushService::received`] and [`FakePushService::wait_for`].
//!
//! The Python lives in the venv `scripts/test.sh` makes at `target/push-venv` (override with `VB_PUSH_PYTHON`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use vibebridge_tunnel::keys::{fill_random, random_hex};

/// How long [`FakePushService::wait_for`] waits before failing the test.
pub const PUSH_WAIT: Duration = Duration::from_secs(60);

/// A browser's push subscription, as `PushSubscription.toJSON()` gives it to main.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    /// `http://127.0.0.1:PORT/push/<id>`.
    pub endpoint: String,
    /// The subscription's P-256 public key: base64url (unpadded) of the 65-byte uncompressed point.
    pub p256dh: String,
    /// The 16-byte auth secret, base64url (unpadded).
    pub auth: String,
}

/// How the fake answers a valid push to an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Answer {
    /// 201 Created with a `Location` (the message's resource), as RFC 8030 §5 says.
    #[default]
    Created,
    /// 410 Gone: the subscription expired or the user revoked it.
    Gone,
    /// 404 Not Found: the push service does not know the subscription.
    NotFound,
    /// 429 Too Many Requests with `Retry-After: <secs>`.
    TooMany {
        /// The `Retry-After` value in seconds.
        retry_after_secs: u64,
    },
    /// 500 Internal Server Error.
    Error,
}

/// One request the fake received (normally a push to a subscription's endpoint), as checked and answered.
#[derive(Debug, Clone)]
pub struct Received {
    /// The endpoint URL posted to.
    pub endpoint: String,
    /// The status answered.
    pub status: u16,
    /// The `TTL` header (seconds), when it was a valid number.
    pub ttl: Option<u64>,
    /// The `Urgency` header as sent.
    pub urgency: Option<String>,
    /// The `Topic` header as sent.
    pub topic: Option<String>,
    /// The decrypted payload: JSON when it parses, else a JSON string of the (lossy UTF-8) text.
    pub payload: Option<Value>,
    /// The VAPID JWT's claims, once its signature verified.
    pub claims: Option<Value>,
    /// The VAPID `k` parameter (the application server's public key, base64url), once the token verified.
    pub k: Option<String>,
    /// What was wrong, when the request was refused (or could not be checked).
    pub error: Option<String>,
}

/// The fake on 127.0.0.1; dropping it stops the server (requests in flight finish).
pub struct FakePushService {
    inner: Arc<Inner>,
    shutdown: CancellationToken,
}

struct Inner {
    origin: String,
    python: PathBuf,
    subs: Mutex<HashMap<String, Sub>>,
    received: watch::Sender<Vec<Received>>,
}

/// A subscription's browser side: its private key (raw scalar, base64url), auth secret and scripted answer.
struct Sub {
    private_key: String,
    auth: String,
    answer: Answer,
}

impl FakePushService {
    /// Starts the fake on a fresh port; fails when the push test's Python is not installed.
    pub async fn start() -> anyhow::Result<FakePushService> {
        let python = python()?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            origin: format!("http://{addr}"),
            python,
            subs: Mutex::new(HashMap::new()),
            received: watch::Sender::new(Vec::new()),
        });
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone().cancelled_owned();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await;
        });
        Ok(FakePushService { inner, shutdown })
    }

    /// `http://127.0.0.1:PORT`: what a VAPID token's `aud` must be.
    pub fn origin(&self) -> String {
        self.inner.origin.clone()
    }

    /// A new subscription, as a browser would create: a fresh P-256 key pair and auth secret, answered
    /// [`Answer::Created`] until [`FakePushService::set_answer`] says otherwise.
    pub fn subscribe(&self) -> PushSubscription {
        let (private_key, p256dh) = p256_key_pair();
        let mut auth = [0u8; 16];
        fill_random(&mut auth);
        let auth = URL_SAFE_NO_PAD.encode(auth);
        let id = random_hex(12);
        self.inner.subs().insert(
            id.clone(),
            Sub {
                private_key,
                auth: auth.clone(),
                answer: Answer::Created,
            },
        );
        PushSubscription {
            endpoint: format!("{}/push/{id}", self.inner.origin),
            p256dh,
            auth,
        }
    }

    /// How valid pushes to `endpoint` are answered from now on. Panics on an endpoint this fake did not make.
    pub fn set_answer(&self, endpoint: &str, answer: Answer) {
        let id = endpoint
            .strip_prefix(&self.inner.origin)
            .and_then(|p| p.strip_prefix("/push/"));
        let found = id.and_then(|id| self.inner.subs().get_mut(id).map(|s| s.answer = answer));
        assert!(
            found.is_some(),
            "fake push service: no subscription {endpoint}"
        );
    }

    /// Every request received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.inner.received.borrow().clone()
    }

    /// Waits until `pred` holds for the requests received so far and returns them; panics after [`PUSH_WAIT`]
    /// with `what` and what was received.
    pub async fn wait_for(&self, pred: impl Fn(&[Received]) -> bool, what: &str) -> Vec<Received> {
        let mut rx = self.inner.received.subscribe();
        let seen = tokio::time::timeout(PUSH_WAIT, async {
            rx.wait_for(|r| pred(r)).await.map(|r| r.clone())
        })
        .await;
        match seen {
            Ok(Ok(received)) => received,
            _ => panic!(
                "fake push service: {what}: not seen within {PUSH_WAIT:?}; received: {:#?}",
                self.received()
            ),
        }
    }
}

impl Drop for FakePushService {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Inner {
    fn subs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Sub>> {
        self.subs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A fresh P-256 key pair: (the raw 32-byte private scalar, the 65-byte uncompressed public point), both
/// base64url unpadded: the form `webpush.py` takes private keys in and the Push API gives public keys in.
pub fn p256_key_pair() -> (String, String) {
    loop {
        let mut raw = [0u8; 32];
        fill_random(&mut raw);
        // Rejects zero and values at or above the group order (about 2^-32 of draws): draw again.
        if let Ok(secret) = p256::SecretKey::from_slice(&raw) {
            let public = secret.public_key().to_sec1_bytes();
            return (URL_SAFE_NO_PAD.encode(raw), URL_SAFE_NO_PAD.encode(public));
        }
    }
}

/// The Python that has `http_ece` and `cryptography`: `VB_PUSH_PYTHON`, else `target/push-venv/bin/python`.
fn python() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("VB_PUSH_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/push-venv/bin/python");
    if !venv.exists() {
        bail!(
            "{} is missing: run bash scripts/test.sh to install the push test's Python (target/push-venv)",
            venv.display()
        );
    }
    Ok(venv)
}

/// Runs `tests/push/webpush.py MODE` with `input` on stdin and returns the JSON it prints (see the script's
/// docstring for the modes). Fails when the push test's Python is missing or the script crashes.
pub async fn webpush_py(mode: &str, input: &Value) -> anyhow::Result<Value> {
    run_webpush(&python()?, mode, input).await
}

async fn run_webpush(python: &Path, mode: &str, input: &Value) -> anyhow::Result<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("push/webpush.py");
    let mut child = tokio::process::Command::new(python)
        .arg(&script)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawning {} {}", python.display(), script.display()))?;
    // The script reads all of stdin before it writes anything, so writing first cannot deadlock.
    let mut stdin = child.stdin.take().context("webpush.py's stdin")?;
    stdin.write_all(input.to_string().as_bytes()).await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        bail!(
            "webpush.py {mode} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "webpush.py {mode} printed no JSON: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// What `webpush.py verify-decrypt` prints.
#[derive(Deserialize)]
struct Verdict {
    ok: bool,
    #[serde(default)]
    stage: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    plaintext_b64: Option<String>,
    #[serde(default)]
    claims: Option<Value>,
    #[serde(default)]
    k: Option<String>,
}

/// A refusal: the status and why.
type Refusal = (StatusCode, String);

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let mut rec = Received {
        endpoint: format!("{}{}", inner.origin, uri.path()),
        status: 0,
        ttl: text("ttl").and_then(|t| t.trim().parse().ok()),
        urgency: text("urgency"),
        topic: text("topic"),
        payload: None,
        claims: None,
        k: None,
        error: None,
    };
    let response = match check(&inner, &method, &uri, &headers, &body, &mut rec).await {
        Ok(answer) => answer_response(&inner, answer),
        Err((status, why)) => {
            rec.error = Some(why.clone());
            (status, why).into_response()
        }
    };
    rec.status = response.status().as_u16();
    inner.received.send_modify(|r| r.push(rec));
    response
}

/// Checks one push; fills in what it learnt and returns the endpoint's answer, or why it is refused.
async fn check(
    inner: &Inner,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    rec: &mut Received,
) -> Result<Answer, Refusal> {
    let sub = uri.path().strip_prefix("/push/").and_then(|id| {
        inner
            .subs()
            .get(id)
            .map(|s| (s.private_key.clone(), s.auth.clone(), s.answer))
    });
    let Some((private_key, auth, answer)) = sub else {
        return Err((StatusCode::NOT_FOUND, "no such subscription".into()));
    };
    if method != Method::POST {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} on a push endpoint"),
        ));
    }
    check_headers(headers, rec)?;
    let header = |name: header::HeaderName| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let input = json!({
        "authorization": header(header::AUTHORIZATION),
        "body_b64": STANDARD.encode(body),
        "private_key_b64": private_key,
        "auth_b64": auth,
        "origin": inner.origin,
        "content_encoding": header(header::CONTENT_ENCODING),
    });
    let verdict = run_webpush(&inner.python, "verify-decrypt", &input)
        .await
        .and_then(|v| Ok(serde_json::from_value::<Verdict>(v)?))
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    rec.claims = verdict.claims;
    rec.k = verdict.k;
    if !verdict.ok {
        let status = match verdict.stage.as_deref() {
            Some("vapid") => StatusCode::FORBIDDEN,
            Some("size") => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        return Err((status, verdict.error.unwrap_or_default()));
    }
    let plaintext = verdict
        .plaintext_b64
        .and_then(|p| STANDARD.decode(p).ok())
        .ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "webpush.py gave no plaintext".to_string(),
        ))?;
    rec.payload = Some(
        serde_json::from_slice(&plaintext)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&plaintext).into_owned())),
    );
    Ok(answer)
}

/// RFC 8030 §5.2–5.4: `TTL` is required (delta-seconds), `Urgency` one of four words, `Topic` at most 32
/// base64url characters.
fn check_headers(headers: &HeaderMap, rec: &Received) -> Result<(), Refusal> {
    let bad = |why: String| Err((StatusCode::BAD_REQUEST, why));
    match (headers.get("ttl"), rec.ttl) {
        (None, _) => return bad("TTL header missing (RFC 8030 §5.2)".into()),
        (Some(v), None) => return bad(format!("TTL {v:?} is not delta-seconds (RFC 8030 §5.2)")),
        _ => {}
    }
    if let Some(u) = &rec.urgency
        && !["very-low", "low", "normal", "high"].contains(&u.as_str())
    {
        return bad(format!(
            "Urgency {u:?} is not very-low|low|normal|high (RFC 8030 §5.3)"
        ));
    }
    if let Some(t) = &rec.topic
        && (t.is_empty()
            || t.len() > 32
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return bad(format!(
            "Topic {t:?} is not 1–32 base64url characters (RFC 8030 §5.4)"
        ));
    }
    Ok(())
}

fn answer_response(inner: &Inner, answer: Answer) -> Response {
    match answer {
        Answer::Created => {
            let location = format!("{}/message/{}", inner.origin, random_hex(8));
            (StatusCode::CREATED, [(header::LOCATION, location)]).into_response()
        }
        Answer::Gone => (
            StatusCode::GONE,
            "push subscription has unsubscribed or expired",
        )
            .into_response(),
        Answer::NotFound => (StatusCode::NOT_FOUND, "push subscription not found").into_response(),
        Answer::TooMany { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            "too many requests",
        )
            .into_response(),
        Answer::Error => (StatusCode::INTERNAL_SERVER_ERROR, "push service error").into_response(),
    }
}

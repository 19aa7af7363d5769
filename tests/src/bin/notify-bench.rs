//! Notifications' sending against plain HTTP to the same local receiver (an axum server on 127.0.0.1 that
//! answers 201 at once and counts requests; no TLS), both through HTTP clients built like main's notifier's
//! (timeout, connect timeout, no redirects, user agent):
//!
//! - push: `notify::webpush::send` (RFC 8291 encryption with a fresh ephemeral key per message and an
//!   ES256 VAPID JWT per request) of a ~300-byte JSON payload against a plain POST of the same plaintext,
//!   `VB_BENCH_N` one after another (median per push and the total, the two alternating request by
//!   request) and `VB_BENCH_N` with 16 in flight (median total of alternating rounds);
//! - webhook queue: `VB_BENCH_N` deliveries of a generic (HMAC-signed) webhook, made through the API of an
//!   in-process main, queued straight into its store and delivered by its worker (8 in flight), timed from
//!   waking the worker until the receiver has counted all of them, and also with the queueing; against
//!   `VB_BENCH_N` equally rendered and signed POSTs straight from reqwest, 8 in flight. Median of
//!   alternating rounds, as deliveries per second.
//!
//! Run: `cargo run --release -p vibebridge-tests --bin notify-bench`.
//! Env: `VB_BENCH_N` (1000), `VB_BENCH_ROUNDS` (5).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;
use vibebridge_main::notify::webpush::{self, Keys, Outcome, Push, Urgency, Vapid};
use vibebridge_main::notify::{PushPayload, hooks};
use vibebridge_main::store::{PushSubId, WorkspaceId, now_ms, rfc3339};
use vibebridge_tests::bench::{env_or, median};
use vibebridge_tests::mock::push::p256_key_pair;
use vibebridge_tests::{Api, TempDir, TestMain};

/// Pushes in flight at once in the concurrent push rows.
const PUSH_IN_FLIGHT: usize = 16;
/// The webhook worker's deliveries in flight (`ops::notify::webhooks`' `IN_FLIGHT`), for the baseline.
const HOOK_IN_FLIGHT: usize = 8;

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// A local receiver answering every request 201 at once; `count` follows how many came.
struct Receiver {
    addr: SocketAddr,
    count: watch::Receiver<u64>,
}

impl Receiver {
    async fn start() -> Receiver {
        let (tx, count) = watch::channel(0u64);
        let tx = Arc::new(tx);
        let app = Router::new().fallback(move |_body: Bytes| {
            let tx = tx.clone();
            async move {
                tx.send_modify(|n| *n += 1);
                StatusCode::CREATED
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, count }
    }

    fn seen(&self) -> u64 {
        *self.count.borrow()
    }

    /// Waits (on the watch, no polling) until `n` requests have come in all.
    async fn wait_for(&self, n: u64) {
        let mut rx = self.count.clone();
        tokio::time::timeout(Duration::from_secs(120), rx.wait_for(|c| *c >= n))
            .await
            .unwrap_or_else(|_| panic!("the receiver saw {} of {n} requests", self.seen()))
            .unwrap();
    }
}

/// An HTTP client with the settings of main's notifier (`notify::Notifier::new`).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("VibeBridge-Notify/1")
        .build()
        .unwrap()
}

/// What the product sends per push and what the baseline sends instead.
struct PushCase {
    http: reqwest::Client,
    vapid: Vapid,
    endpoint: String,
    keys: Keys,
    payload: Vec<u8>,
    topic: String,
}

impl PushCase {
    async fn product(&self) {
        let push = Push {
            payload: &self.payload,
            ttl: Duration::from_secs(3600),
            urgency: Urgency::High,
            topic: &self.topic,
        };
        let out = webpush::send(&self.http, &self.vapid, &self.endpoint, &self.keys, &push).await;
        assert_eq!(out, Outcome::Accepted);
    }

    async fn baseline(&self) {
        let r = self
            .http
            .post(&self.endpoint)
            .header("Content-Type", "application/json")
            .body(self.payload.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        r.bytes().await.unwrap();
    }
}

/// The event JSON a webhook delivery carries (as `ops::notify::webhooks::enqueue` builds it).
fn hook_event(ws: &str, i: usize) -> Value {
    json!({
        "event": "run_finished",
        "at": rfc3339(now_ms()),
        "workspace_id": ws,
        "title": format!("WEB-{i}: run finished"),
        "body": "The agent finished its turn: 3 files changed, tests pass.",
        "url": format!("/w/WEB/tasks/WEB-{i}"),
        "link": "",
        "data": {"task": uuid::Uuid::now_v7(), "run": uuid::Uuid::now_v7()},
    })
}

/// One webhook request as the worker renders it for a generic receiver (`notify::hooks`), sent straight.
async fn baseline_hook(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    delivery: u64,
    event: &Value,
) {
    let mut body = json!({ "delivery": delivery.to_string() });
    body.as_object_mut()
        .unwrap()
        .extend(event.as_object().unwrap().clone());
    let body = serde_json::to_vec(&body).unwrap();
    let ts = now_ms() / 1000;
    let r = http
        .post(url)
        .timeout(Duration::from_secs(10))
        .header("Content-Type", "application/json")
        .header("X-VibeBridge-Event", "run_finished")
        .header("X-VibeBridge-Delivery", delivery.to_string())
        .header("X-VibeBridge-Timestamp", ts.to_string())
        .header(
            "X-VibeBridge-Signature-256",
            hooks::signature(secret, ts, &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    r.bytes().await.unwrap();
}

#[tokio::main]
async fn main() {
    let n = env_or::<usize>("VB_BENCH_N", 1000);
    let rounds = env_or::<usize>("VB_BENCH_ROUNDS", 5);
    let receiver = Receiver::start().await;

    // Push: one VAPID key, one browser subscription, one realistic payload.
    let vapid = Vapid::from_pkcs8(Vapid::generate().unwrap(), "mailto:bench@example.com").unwrap();
    let (_, p256dh) = p256_key_pair();
    let mut auth = [0u8; 16];
    vibebridge_tunnel::keys::fill_random(&mut auth);
    let keys = Keys {
        p256dh,
        auth: B64URL.encode(auth),
    };
    keys.check().unwrap();
    // A run's turn finished, as `ops::notify::push` sends it (an approval's adds its `approval` object).
    let session = uuid::Uuid::now_v7();
    let tag = format!("session:{session}");
    let url = format!("/sessions/{session}");
    let id = format!("run_finished:{}", uuid::Uuid::now_v7());
    let payload = serde_json::to_vec(&PushPayload {
        v: 1,
        id: &id,
        kind: "run_finished",
        title: "WEB-42 finished its turn",
        body: "3 files changed",
        tag: &tag,
        renotify: true,
        silent: false,
        url: &url,
        at: now_ms(),
        device: PushSubId::new(),
        approval: None,
    })
    .unwrap();
    let case = Arc::new(PushCase {
        http: client(),
        vapid,
        endpoint: format!("http://{}/push/{}", receiver.addr, PushSubId::new()),
        keys,
        topic: webpush::topic(&tag),
        payload,
    });
    eprintln!(
        "push: {} bytes of JSON, {n} sequential and {n} with {PUSH_IN_FLIGHT} in flight…",
        case.payload.len()
    );
    for _ in 0..20 {
        case.product().await;
        case.baseline().await;
    }
    let (mut ours, mut theirs) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let t = Instant::now();
        case.product().await;
        ours.push(t.elapsed());
        let t = Instant::now();
        case.baseline().await;
        theirs.push(t.elapsed());
    }
    let push_seq_total = (
        ours.iter().sum::<Duration>(),
        theirs.iter().sum::<Duration>(),
    );
    let push_seq = (median(ours), median(theirs));
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        futures::stream::iter(0..n)
            .map(|_| {
                let c = case.clone();
                async move { c.product().await }
            })
            .buffer_unordered(PUSH_IN_FLIGHT)
            .collect::<Vec<()>>()
            .await;
        ours.push(t.elapsed());
        let t = Instant::now();
        futures::stream::iter(0..n)
            .map(|_| {
                let c = case.clone();
                async move { c.baseline().await }
            })
            .buffer_unordered(PUSH_IN_FLIGHT)
            .collect::<Vec<()>>()
            .await;
        theirs.push(t.elapsed());
    }
    let push_par = (median(ours), median(theirs));

    // Webhooks: a generic webhook through main's API, deliveries queued straight into its store.
    eprintln!("webhooks: {rounds} rounds of {n} deliveries, worker against reqwest…");
    let dir = TempDir::new("notify-bench");
    let main = TestMain::start_with(dir.path(), None, |c| {
        c.notifications.allow_local_webhooks = true;
    })
    .await;
    let mut api = Api::new(&main);
    assert_eq!(
        api.auth(true, "alice", "correct horse battery").await.0,
        200
    );
    let (s, ws) = api
        .post(
            "/api/v1/workspaces",
            json!({"name": "Web", "key_prefix": "WEB"}),
        )
        .await;
    assert_eq!(s, 200, "{ws}");
    let ws = ws["id"].as_str().unwrap().to_string();
    let hook_url = format!("http://{}/hook", receiver.addr);
    let (s, made) = api
        .post(
            &format!("/api/v1/workspaces/{ws}/webhooks"),
            json!({"name": "Bench", "kind": "generic", "url": hook_url}),
        )
        .await;
    assert_eq!(s, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_string();
    let hook = main
        .state
        .store
        .webhooks_of(WorkspaceId::parse(&ws).unwrap())
        .unwrap()
        .remove(0);
    let events: Vec<Value> = (0..n).map(|i| hook_event(&ws, i)).collect();
    let http = client();
    let (mut delivered, mut queued_and_delivered, mut theirs, mut enqueue) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // VibeBridge: queue (timed per call), wake the worker, wait for the receiver.
        let before = receiver.seen();
        let start = Instant::now();
        for e in &events {
            let t = Instant::now();
            main.state
                .store
                .enqueue_delivery(&hook, "run_finished", e.clone())
                .unwrap();
            enqueue.push(t.elapsed());
        }
        let woken = Instant::now();
        main.state.notify.hooks_due.notify_one();
        receiver.wait_for(before + n as u64).await;
        delivered.push(woken.elapsed());
        queued_and_delivered.push(start.elapsed());
        // Baseline: the same requests straight from reqwest, as many in flight as the worker.
        let before = receiver.seen();
        let t = Instant::now();
        futures::stream::iter(events.iter().enumerate())
            .map(|(i, e)| {
                let (http, url, secret) = (&http, &hook_url, &secret);
                async move { baseline_hook(http, url, secret, (round * n + i) as u64, e).await }
            })
            .buffer_unordered(HOOK_IN_FLIGHT)
            .collect::<Vec<()>>()
            .await;
        theirs.push(t.elapsed());
        assert_eq!(receiver.seen(), before + n as u64);
    }
    let (_, pending) = main.state.store.deliveries_of(hook.id, 0).unwrap();
    let (delivered, queued_and_delivered, theirs) = (
        median(delivered),
        median(queued_and_delivered),
        median(theirs),
    );

    println!();
    println!(
        "Notifications ({n} per row; push {} B of JSON; median of {rounds} rounds where not per push)",
        case.payload.len()
    );
    println!(
        "{:<50}{:>16}{:>16}{:>9}",
        "", "VibeBridge", "baseline", "ratio"
    );
    println!(
        "{:<50}{:>16}{:>16}{:>8.2}x",
        "push, sequential: median per push (vs plain POST)",
        us(push_seq.0),
        us(push_seq.1),
        push_seq.0.as_secs_f64() / push_seq.1.as_secs_f64()
    );
    println!(
        "{:<50}{:>16}{:>16}{:>8.2}x",
        "  total of the sequential pushes",
        ms(push_seq_total.0),
        ms(push_seq_total.1),
        push_seq_total.0.as_secs_f64() / push_seq_total.1.as_secs_f64()
    );
    println!(
        "{:<50}{:>16}{:>16}{:>8.2}x",
        format!("push, {PUSH_IN_FLIGHT} in flight: total (vs plain POST)"),
        ms(push_par.0),
        ms(push_par.1),
        push_par.0.as_secs_f64() / push_par.1.as_secs_f64()
    );
    println!(
        "{:<50}{:>16}{:>16}{:>8.2}x",
        "  per push",
        us(push_par.0 / n as u32),
        us(push_par.1 / n as u32),
        push_par.0.as_secs_f64() / push_par.1.as_secs_f64()
    );
    println!(
        "{:<50}{:>16}{:>16}{:>8.2}x",
        "webhook queue: delivered/s from wake (vs reqwest)",
        format!("{:.0}/s", rate(n, delivered)),
        format!("{:.0}/s", rate(n, theirs)),
        rate(n, delivered) / rate(n, theirs)
    );
    println!(
        "{:<50}{:>16}{:>16}{:>8.2}x",
        "  queued + delivered/s (vs reqwest)",
        format!("{:.0}/s", rate(n, queued_and_delivered)),
        format!("{:.0}/s", rate(n, theirs)),
        rate(n, queued_and_delivered) / rate(n, theirs)
    );
    println!(
        "{:<50}{:>16}{:>16}{:>8.2}x",
        "  total from wake (vs reqwest)",
        ms(delivered),
        ms(theirs),
        delivered.as_secs_f64() / theirs.as_secs_f64()
    );
    println!(
        "{:<50}{:>16}{:>16}{:>8.2}x",
        "  total with queueing (vs reqwest)",
        ms(queued_and_delivered),
        ms(theirs),
        queued_and_delivered.as_secs_f64() / theirs.as_secs_f64()
    );
    println!(
        "{:<50}{:>16}",
        "  enqueue_delivery: median per call",
        us(median(enqueue))
    );
    println!(
        "{:<50}{:>16}",
        "  still pending after the last round", pending
    );
    println!("ratio: VibeBridge / baseline (times: above 1 is slower; rates: below 1 is slower)");
    main.stop().await;
}

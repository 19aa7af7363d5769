//! Browsers for the fault suite: each follows sessions through main over the WebSocket or SSE, reconnects
//! whatever ends its connection, resumes after the last event it has, and records any event out of order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::{Api, SseReader, WsClient};

/// How a browser follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// One WebSocket subscribed to every session.
    Ws,
    /// One SSE stream per session.
    Sse,
}

/// What one browser has seen: per session, its events in the order received, and anything out of order.
#[derive(Default)]
pub struct Seen {
    /// Session id → events received, in order.
    pub events: BTreeMap<String, Vec<Value>>,
    /// Events that did not follow the last one seen (a gap: lost; at or before it: doubled).
    pub anomalies: Vec<String>,
    /// Connections opened (the first one included).
    pub connects: u64,
}

impl Seen {
    fn last(&self, session: &str) -> u64 {
        self.events
            .get(session)
            .and_then(|v| v.last())
            .map_or(0, |e| e["seq"].as_u64().unwrap_or(0))
    }

    fn record(&mut self, who: &str, session: &str, ev: Value) {
        let Some(seq) = ev["seq"].as_u64() else {
            return;
        };
        let last = self.last(session);
        if seq != last + 1 {
            let what = if seq <= last { "doubled" } else { "gap" };
            self.anomalies.push(format!(
                "{who}: session {session}: seq {seq} after {last} ({what})"
            ));
            if seq <= last {
                return;
            }
        }
        self.events.entry(session.to_string()).or_default().push(ev);
    }
}

/// A browser following sessions through main (by way of a proxy that survives main's restarts); it
/// reconnects after anything ends its connection and resumes after the last event it has.
pub struct Browser {
    /// Its name in reports.
    pub name: String,
    /// How it follows.
    pub transport: Transport,
    /// What it has seen.
    pub seen: Arc<Mutex<Seen>>,
    drop_gen: watch::Sender<u64>,
    paused: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Browser {
    /// Starts following `sessions` at `base` with `token`.
    pub fn start(
        name: &str,
        transport: Transport,
        base: &str,
        token: &str,
        sessions: &[String],
    ) -> Browser {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (drop_gen, _) = watch::channel(0);
        let (paused, _) = watch::channel(false);
        let mut api = Api::at(base);
        api.token = Some(token.to_string());
        let api = Arc::new(api);
        let task = match transport {
            Transport::Ws => tokio::spawn(follow_ws(
                name.to_string(),
                api,
                sessions.to_vec(),
                seen.clone(),
                drop_gen.subscribe(),
                paused.subscribe(),
            )),
            Transport::Sse => {
                let tasks: Vec<_> = sessions
                    .iter()
                    .map(|s| {
                        tokio::spawn(follow_sse(
                            name.to_string(),
                            api.clone(),
                            s.clone(),
                            seen.clone(),
                            drop_gen.subscribe(),
                            paused.subscribe(),
                        ))
                    })
                    .collect();
                tokio::spawn(async move {
                    for t in tasks {
                        let _ = t.await;
                    }
                })
            }
        };
        Browser {
            name: name.to_string(),
            transport,
            seen,
            drop_gen,
            paused,
            task,
        }
    }

    /// Drops its connections now (as a closed laptop or a lost Wi-Fi does); it reconnects.
    pub fn drop_connections(&self) {
        self.drop_gen.send_modify(|g| *g += 1);
    }

    /// Stops (`true`) or resumes (`false`) reading: a slow consumer.
    pub fn pause(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    /// The last seq seen of `session`.
    pub fn last(&self, session: &str) -> u64 {
        self.seen.lock().unwrap().last(session)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits while `paused` is set; false once the sender is gone.
async fn while_paused(paused: &mut watch::Receiver<bool>) -> bool {
    while *paused.borrow_and_update() {
        if paused.changed().await.is_err() {
            return false;
        }
    }
    true
}

async fn reconnect_delay(attempt: &mut u32) {
    // A browser's retry backoff, not a wait for readiness: the next connect tells whether main is back.
    let ms = (25u64 << (*attempt).min(4)).min(400);
    *attempt += 1;
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

async fn follow_ws(
    name: String,
    api: Arc<Api>,
    sessions: Vec<String>,
    seen: Arc<Mutex<Seen>>,
    mut drop_gen: watch::Receiver<u64>,
    mut paused: watch::Receiver<bool>,
) {
    use tokio_tungstenite::tungstenite::Message;
    let mut attempt = 0;
    loop {
        drop_gen.borrow_and_update();
        let Ok(mut ws) = WsClient::connect(&api).await else {
            reconnect_delay(&mut attempt).await;
            continue;
        };
        seen.lock().unwrap().connects += 1;
        for s in &sessions {
            let after = seen.lock().unwrap().last(s);
            ws.send_text(
                &json!({"type": "subscribe", "session_id": s, "after_seq": after}).to_string(),
            )
            .await;
        }
        loop {
            if !while_paused(&mut paused).await {
                return;
            }
            let msg = tokio::select! {
                _ = drop_gen.changed() => break,
                _ = paused.changed() => continue,
                m = ws.recv() => m,
            };
            let Some(Message::Text(text)) = msg else {
                if msg.is_none() || matches!(msg, Some(Message::Close(_))) {
                    break;
                }
                continue;
            };
            let frame: Value = serde_json::from_str(&text).unwrap();
            match frame["type"].as_str() {
                Some("event") => {
                    let s = frame["session_id"].as_str().unwrap().to_string();
                    seen.lock()
                        .unwrap()
                        .record(&name, &s, frame["event"].clone());
                    attempt = 0;
                }
                Some("error") => break,
                _ => {}
            }
        }
        reconnect_delay(&mut attempt).await;
    }
}

async fn follow_sse(
    name: String,
    api: Arc<Api>,
    session: String,
    seen: Arc<Mutex<Seen>>,
    mut drop_gen: watch::Receiver<u64>,
    mut paused: watch::Receiver<bool>,
) {
    let mut attempt = 0;
    loop {
        drop_gen.borrow_and_update();
        let after = seen.lock().unwrap().last(&session);
        let Ok(mut sse) = SseReader::try_open(&api, &session, after).await else {
            reconnect_delay(&mut attempt).await;
            continue;
        };
        seen.lock().unwrap().connects += 1;
        loop {
            if !while_paused(&mut paused).await {
                return;
            }
            let next = tokio::select! {
                _ = drop_gen.changed() => break,
                _ = paused.changed() => continue,
                n = sse.next() => n,
            };
            let Some((_, data)) = next else { break };
            seen.lock().unwrap().record(&name, &session, data);
            attempt = 0;
        }
        reconnect_delay(&mut attempt).await;
    }
}

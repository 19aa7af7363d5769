//! Notifications' machinery below the domain layer: [`Notice`] (what happened, for whom), Web Push to one
//! browser ([`webpush`]), what browser tabs show ([`presence`]) and webhook requests ([`hooks`]). Which
//! notices exist and who gets them is decided in `ops::notify`.

pub mod hooks;
pub mod presence;
pub mod webpush;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use uuid::Uuid;

use crate::config::MainConfig;
use crate::secrets::Sealer;
use crate::store::{NoticeKind, PushSubId, Store, TaskId, UserId, WorkspaceId};

/// The approval a notice asks for, answered from the notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalRef {
    /// Its session.
    pub session_id: Uuid,
    /// The approval.
    pub approval_id: String,
}

/// Something that happened that people are told about.
#[derive(Debug, Clone)]
pub struct Notice {
    /// Unique per occurrence: a notice with a key already sent is dropped (`approval:<id>`…).
    pub key: String,
    /// What kind.
    pub kind: NoticeKind,
    /// The workspaces it belongs to (their webhooks get it; preferences may filter on them).
    pub workspaces: Vec<WorkspaceId>,
    /// Who is told.
    pub recipients: Vec<UserId>,
    /// One line.
    pub title: String,
    /// A few lines.
    pub body: String,
    /// Where in the app it is (a path).
    pub url: String,
    /// Notices with the same tag replace each other on a device (one per session, task, node).
    pub tag: String,
    /// The session it is about: not pushed to a device showing it.
    pub session_id: Option<Uuid>,
    /// The task it is about: only people who may read it (then, when it is sent) are told.
    pub task: Option<TaskId>,
    /// The task is restricted to some members: webhooks get the event without its title and text.
    pub restricted: bool,
    /// The approval to answer from the notification.
    pub approval: Option<ApprovalRef>,
    /// Ids for webhook receivers (`task`, `run`, `node`…).
    pub data: serde_json::Value,
    /// When (ms).
    pub at: u64,
}

/// What a service worker receives in a push (JSON).
#[derive(Debug, Serialize)]
pub struct PushPayload<'a> {
    /// Format version.
    pub v: u8,
    /// The notice's key.
    pub id: &'a str,
    /// A [`NoticeKind`] name, `resolved` (an approval was answered elsewhere) or `test`.
    pub kind: &'a str,
    /// Title.
    pub title: &'a str,
    /// Body.
    pub body: &'a str,
    /// Replaces the device's notification with this tag.
    pub tag: &'a str,
    /// Alert again although it replaces one.
    pub renotify: bool,
    /// No sound or vibration.
    pub silent: bool,
    /// Where the app opens.
    pub url: &'a str,
    /// When (ms).
    pub at: u64,
    /// The subscription it was sent to: the service worker names it when it answers.
    pub device: PushSubId,
    /// Allow and Deny answer this.
    pub approval: Option<&'a ApprovalRef>,
}

/// The devices an approval was pushed to, while its pushes go out and until it is answered.
#[derive(Debug, Default)]
pub struct Asked {
    /// Devices whose push service took the approval's push.
    pub devices: Vec<PushSubId>,
    /// How it was answered, once it was (pushes that succeed after that are replaced at once).
    pub answered: Option<&'static str>,
    /// Its pushes are still going out.
    pub sending: bool,
}

/// Notifications' shared state, in `AppState`.
pub struct Notifier {
    /// HTTP client for push services and webhooks (no redirects: a receiver cannot bounce main elsewhere).
    pub http: reqwest::Client,
    /// Seals subscription keys and webhook secrets.
    pub sealer: Arc<Sealer>,
    /// Main's VAPID key.
    pub vapid: webpush::Vapid,
    /// What browser tabs show.
    pub presence: presence::Presence,
    /// Wakes the webhook worker (a delivery was queued).
    pub hooks_due: tokio::sync::Notify,
    /// Which devices were pushed each pending approval, so its answer updates them in place.
    pub asked: Mutex<HashMap<String, Asked>>,
    /// When each node went offline, while it is: a wait for `node_offline_after` tells only if the node has
    /// been offline since that very moment (a node that flapped gets one notice, after a whole wait).
    pub offline_since: Mutex<HashMap<String, u64>>,
    /// Pushes and waits in flight: main waits for them to end (they end when it stops) before it closes
    /// the store.
    pub tasks: tokio_util::task::TaskTracker,
}

/// The store's name of the sealed VAPID key.
const VAPID_META: &str = "vapid_key";

impl Notifier {
    /// Loads main's VAPID key from the store (generated and sealed there on first start).
    pub fn new(
        config: &MainConfig,
        store: &Store,
        sealer: Arc<Sealer>,
    ) -> anyhow::Result<Notifier> {
        // Generated once, sealed, and from then on the same for every start (browsers' subscriptions are
        // bound to it). Made before it is needed, so a failure stores nothing.
        let sealed = match store.meta_value(VAPID_META)? {
            Some(v) => v,
            None => {
                let fresh = sealer.seal(VAPID_META, &B64.encode(webpush::Vapid::generate()?))?;
                store.meta_secret(VAPID_META, || fresh)?
            }
        };
        let der = sealer
            .open(VAPID_META, &sealed)
            .map_err(|e| anyhow::anyhow!("main's VAPID key in the store does not open: {e}"))
            .and_then(|b64| {
                B64.decode(b64)
                    .context("main's VAPID key in the store is not base64")
            })?;
        let vapid = webpush::Vapid::from_pkcs8(der, &config.notifications.vapid_subject)?;
        // No proxy from the environment: a proxy would resolve receivers' names itself, past `PublicOnly`.
        let mut http = reqwest::Client::builder().no_proxy();
        if !config.notifications.allow_local_webhooks {
            http = http.dns_resolver(Arc::new(hooks::PublicOnly));
        }
        let http = http
            .timeout(config.notifications.webhook_timeout)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("VibeBridge-Notify/1")
            .build()
            .context("building the HTTP client for notifications")?;
        Ok(Notifier {
            http,
            sealer,
            vapid,
            presence: presence::Presence::default(),
            hooks_due: tokio::sync::Notify::new(),
            asked: Mutex::default(),
            offline_since: Mutex::default(),
            tasks: tokio_util::task::TaskTracker::new(),
        })
    }

    /// The store's key name of the sealed VAPID key (rotation re-seals it).
    pub const VAPID_META: &'static str = VAPID_META;
}

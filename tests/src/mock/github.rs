//! A fake GitHub (Enterprise Server layout) for main's GitHub integration: OAuth web flow with PKCE, device
//! flow, refresh-token rotation, the REST endpoints main uses (under `/api/v3`, see [`super::github_api`]),
//! git smart HTTP through the real `git http-backend` (see [`super::github_git`]) and signed webhooks.
//!
//! Behaviour follows real GitHub where it matters to a client: token errors come back as HTTP 200 with
//! `{"error"}`, every API answer carries the `x-ratelimit-*` headers and a weak ETag, `If-None-Match` gives a
//! 304 that costs no rate limit, private repositories are 404 to outsiders, issues and pull requests share
//! their numbers, pagination goes through `Link` headers.
//!
//! The server runs on the tokio runtime that started it. Git clients a test runs against it must not block that
//! runtime (use `tokio::process::Command`, not `std::process::Command`, inside a current-thread test).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::github_git as git;
use crate::TempDir;

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Logged {
    /// `GET`, `POST`…
    pub method: String,
    /// The path without the query, e.g. `/api/v3/user`.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The status answered.
    pub status: u16,
    /// Whether an `Authorization` header came with it.
    pub had_auth: bool,
    /// The raw `Authorization` header value.
    pub authorization: Option<String>,
}

/// A fake GitHub on 127.0.0.1; repositories live in a temporary directory. Dropping it stops the server
/// (graceful: idle connections close, requests in flight finish) and the webhook worker.
pub struct FakeGithub {
    inner: Arc<Inner>,
    shutdown: CancellationToken,
    hooks: tokio::task::JoinHandle<()>,
}

/// What the server's handlers share with the [`FakeGithub`] handle.
pub(super) struct Inner {
    /// `http://127.0.0.1:PORT`.
    pub(super) web: String,
    /// GIT_PROJECT_ROOT: `owner/name.git` below it (lower case).
    pub(super) root: TempDir,
    state: Mutex<St>,
    http: reqwest::Client,
    delivered: watch::Sender<usize>,
    /// Webhooks to deliver, in order, by one worker task.
    queue: mpsc::UnboundedSender<(String, Value)>,
}

/// A user or an organisation.
pub(super) struct Account {
    pub(super) id: u64,
    pub(super) login: String,
    pub(super) org: bool,
    /// Organisation members (lower-case logins).
    pub(super) members: BTreeSet<String>,
}

/// An access token (PAT or OAuth).
pub(super) struct Token {
    pub(super) login: String,
    /// The OAuth app that issued it; `None` for a PAT.
    pub(super) client: Option<String>,
    pub(super) dead: bool,
    /// Issued with `expires_in` (an OAuth token while expiring tokens are on).
    pub(super) expires: bool,
}

struct Refresh {
    login: String,
    client: String,
    spent: bool,
}

struct Code {
    client: String,
    redirect_uri: String,
    challenge: Option<String>,
    login: String,
    created: Instant,
    used: bool,
}

enum DeviceState {
    Pending,
    Approved(String),
    Denied,
    Done,
}

struct Device {
    device_code: String,
    user_code: String,
    client: String,
    created: Instant,
    interval: u64,
    last_poll: Option<Instant>,
    state: DeviceState,
}

/// A repository's metadata; its git data is in the bare repository.
pub(super) struct Repo {
    pub(super) id: u64,
    pub(super) owner: String,
    pub(super) name: String,
    pub(super) private: bool,
    pub(super) collaborators: BTreeSet<String>,
    pub(super) created: u64,
    pub(super) updated: u64,
    /// Issues and pull requests, by number − 1.
    pub(super) items: Vec<Item>,
    pub(super) checks: Vec<Check>,
    pub(super) statuses: Vec<Status>,
}

/// An issue, or a pull request when `pr` is set.
pub(super) struct Item {
    pub(super) id: u64,
    pub(super) number: u64,
    pub(super) title: String,
    pub(super) body: String,
    pub(super) labels: Vec<String>,
    pub(super) user: String,
    pub(super) created: u64,
    pub(super) updated: u64,
    pub(super) closed: Option<u64>,
    pub(super) pr: Option<Pr>,
}

/// The pull-request part of an [`Item`].
pub(super) struct Pr {
    pub(super) head_ref: String,
    pub(super) head_sha: String,
    pub(super) base_ref: String,
    pub(super) draft: bool,
    pub(super) merged: Option<(u64, String)>,
    pub(super) reviews: Vec<Review>,
    pub(super) comments: Vec<ReviewComment>,
}

pub(super) struct Review {
    pub(super) id: u64,
    pub(super) login: String,
    pub(super) state: String,
    pub(super) body: String,
    pub(super) at: u64,
    pub(super) commit: String,
}

pub(super) struct ReviewComment {
    pub(super) id: u64,
    pub(super) login: String,
    pub(super) path: String,
    pub(super) line: u64,
    pub(super) body: String,
    pub(super) commit: String,
    pub(super) at: u64,
    pub(super) review: u64,
}

pub(super) struct Check {
    pub(super) id: u64,
    pub(super) sha: String,
    pub(super) name: String,
    pub(super) status: String,
    pub(super) conclusion: Option<String>,
    pub(super) summary: String,
    pub(super) started: u64,
    pub(super) completed: Option<u64>,
}

/// A commit status (the older statuses API many CI systems report through).
pub(super) struct Status {
    pub(super) id: u64,
    pub(super) sha: String,
    pub(super) context: String,
    pub(super) state: String,
    pub(super) description: String,
}

/// All mutable state, behind one `std` mutex that is never held across an await.
pub(super) struct St {
    pub(super) accounts: BTreeMap<String, Account>,
    pub(super) repos: BTreeMap<String, Repo>,
    pub(super) tokens: HashMap<String, Token>,
    refresh: HashMap<String, Refresh>,
    codes: HashMap<String, Code>,
    devices: Vec<Device>,
    signed_in: Option<String>,
    expiring: bool,
    device_interval: u64,
    pub(super) limited_until: Option<u64>,
    /// Rate-limit window per user id (0 = anonymous): (reset epoch, used).
    pub(super) usage: HashMap<u64, (u64, u64)>,
    hook: Option<(String, String)>,
    deliveries: Vec<(String, String, u16)>,
    log: Vec<Logged>,
    next_account: u64,
    next_repo: u64,
    pub(super) next_object: u64,
}

impl St {
    /// A fresh id for PRs, issues, reviews, comments, check runs.
    pub(super) fn object_id(&mut self) -> u64 {
        self.next_object += 1;
        self.next_object
    }

    pub(super) fn account(&self, login: &str) -> Option<&Account> {
        self.accounts.get(&login.to_lowercase())
    }

    pub(super) fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos.get(&repo_key(owner, name))
    }

    pub(super) fn repo_mut(&mut self, owner: &str, name: &str) -> Option<&mut Repo> {
        self.repos.get_mut(&repo_key(owner, name))
    }

    /// The live token's user and whether it is an OAuth token.
    pub(super) fn token_user(&self, token: &str) -> Option<(String, bool)> {
        let t = self.tokens.get(token).filter(|t| !t.dead)?;
        Some((t.login.clone(), t.client.is_some()))
    }

    /// `(admin, push, pull)` of `login` (None = anonymous) on `repo`.
    pub(super) fn permissions(&self, repo: &Repo, login: Option<&str>) -> (bool, bool, bool) {
        let login = login.map(str::to_lowercase);
        let Some(login) = login else {
            return (false, false, !repo.private);
        };
        if repo.owner.to_lowercase() == login {
            return (true, true, true);
        }
        let member = self
            .account(&repo.owner)
            .is_some_and(|a| a.org && a.members.contains(&login));
        if member || repo.collaborators.contains(&login) {
            return (false, true, true);
        }
        (false, false, !repo.private)
    }

    /// The user JSON GitHub embeds everywhere.
    pub(super) fn user_json(&self, web: &str, login: &str) -> Value {
        let (id, login, org) = self
            .account(login)
            .map_or((0, login.to_string(), false), |a| {
                (a.id, a.login.clone(), a.org)
            });
        json!({
            "login": login,
            "id": id,
            "node_id": format!("U_fake{id}"),
            "avatar_url": format!("{web}/avatars/u/{id}"),
            "html_url": format!("{web}/{login}"),
            "type": if org { "Organization" } else { "User" },
            "site_admin": false,
        })
    }

    /// Repository JSON; `permissions` for `viewer` when given.
    pub(super) fn repo_json(&self, web: &str, repo: &Repo, viewer: Option<Option<&str>>) -> Value {
        let full = format!("{}/{}", repo.owner, repo.name);
        let mut v = json!({
            "id": repo.id,
            "node_id": format!("R_fake{}", repo.id),
            "name": repo.name,
            "full_name": full,
            "owner": self.user_json(web, &repo.owner),
            "private": repo.private,
            "visibility": if repo.private { "private" } else { "public" },
            "default_branch": "main",
            "html_url": format!("{web}/{full}"),
            "clone_url": format!("{web}/{full}.git"),
            "url": format!("{web}/api/v3/repos/{full}"),
            "description": null,
            "fork": false,
            "archived": false,
            "created_at": iso(repo.created),
            "updated_at": iso(repo.updated),
            "pushed_at": iso(repo.updated),
        });
        if let Some(viewer) = viewer {
            let (admin, push, pull) = self.permissions(repo, viewer);
            v["permissions"] = json!({"admin": admin, "maintain": admin, "push": push, "triage": push, "pull": pull});
        }
        v
    }

    /// Pull request JSON. `branches` gives the base's current commit; `mergeable` is included when `Some`
    /// (the single-PR endpoint computes it, lists leave it out like GitHub).
    pub(super) fn pr_json(
        &self,
        web: &str,
        repo: &Repo,
        item: &Item,
        branches: &HashMap<String, String>,
        mergeable: Option<Option<bool>>,
    ) -> Value {
        let full = format!("{}/{}", repo.owner, repo.name);
        let n = item.number;
        let pr = item.pr.as_ref();
        let head_ref = pr.map_or("", |p| &p.head_ref);
        let base_ref = pr.map_or("", |p| &p.base_ref);
        let merged = pr.and_then(|p| p.merged.as_ref());
        let repo_json = self.repo_json(web, repo, None);
        let mut v = json!({
            "id": item.id,
            "node_id": format!("PR_fake{}", item.id),
            "number": n,
            "url": format!("{web}/api/v3/repos/{full}/pulls/{n}"),
            "html_url": format!("{web}/{full}/pull/{n}"),
            "issue_url": format!("{web}/api/v3/repos/{full}/issues/{n}"),
            "state": if item.closed.is_some() { "closed" } else { "open" },
            "locked": false,
            "title": item.title,
            "body": item.body,
            "user": self.user_json(web, &item.user),
            "labels": item.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
            "draft": pr.is_some_and(|p| p.draft),
            "merged": merged.is_some(),
            "merged_at": merged.map(|m| iso(m.0)),
            "merge_commit_sha": merged.map(|m| m.1.clone()),
            "closed_at": item.closed.map(iso),
            "created_at": iso(item.created),
            "updated_at": iso(item.updated),
            "head": {
                "label": format!("{}:{head_ref}", repo.owner),
                "ref": head_ref,
                "sha": pr.map_or("", |p| &p.head_sha),
                "user": self.user_json(web, &repo.owner),
                "repo": repo_json,
            },
            "base": {
                "label": format!("{}:{base_ref}", repo.owner),
                "ref": base_ref,
                "sha": branches.get(base_ref).cloned().unwrap_or_default(),
                "user": self.user_json(web, &repo.owner),
                "repo": repo_json,
            },
        });
        if let Some(m) = mergeable {
            v["mergeable"] = json!(m);
            v["mergeable_state"] = json!(match m {
                Some(true) => "clean",
                Some(false) => "dirty",
                None => "unknown",
            });
        }
        v
    }

    /// Issue JSON (pull requests carry a `pull_request` key, like GitHub's issues endpoints).
    pub(super) fn issue_json(&self, web: &str, repo: &Repo, item: &Item) -> Value {
        let full = format!("{}/{}", repo.owner, repo.name);
        let n = item.number;
        let kind = if item.pr.is_some() { "pull" } else { "issues" };
        let mut v = json!({
            "id": item.id,
            "node_id": format!("I_fake{}", item.id),
            "number": n,
            "url": format!("{web}/api/v3/repos/{full}/issues/{n}"),
            "html_url": format!("{web}/{full}/{kind}/{n}"),
            "title": item.title,
            "body": item.body,
            "state": if item.closed.is_some() { "closed" } else { "open" },
            "labels": item.labels.iter().map(|l| json!({"name": l, "color": "ededed"})).collect::<Vec<_>>(),
            "user": self.user_json(web, &item.user),
            "comments": 0,
            "closed_at": item.closed.map(iso),
            "created_at": iso(item.created),
            "updated_at": iso(item.updated),
        });
        if let Some(pr) = &item.pr {
            v["draft"] = json!(pr.draft);
            v["pull_request"] = json!({
                "url": format!("{web}/api/v3/repos/{full}/pulls/{n}"),
                "html_url": format!("{web}/{full}/pull/{n}"),
                "merged_at": pr.merged.as_ref().map(|m| iso(m.0)),
            });
        }
        v
    }
}

/// Lower-case `owner/name`, the key of [`St::repos`] (GitHub names are case-insensitive).
pub(super) fn repo_key(owner: &str, name: &str) -> String {
    format!("{owner}/{name}").to_lowercase()
}

/// Seconds since the epoch.
pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `2026-01-02T03:04:05Z`.
pub(super) fn iso(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `application/x-www-form-urlencoded` (or a query string) decoded into pairs.
pub(super) fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k, true), decode(v, true))
        })
        .collect()
}

/// Percent-decodes a path segment (`+` stays).
pub(super) fn percent_decode(s: &str) -> String {
    decode(s, false)
}

fn decode(s: &str, plus: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but unreserved characters.
pub(super) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Encodes pairs as a form / query string.
pub(super) fn encode_form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of `key` in decoded pairs.
pub(super) fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `(user, password)` of an HTTP Basic `Authorization` value.
pub(super) fn basic(auth: &str) -> Option<(String, String)> {
    let (scheme, rest) = auth.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (u, p) = raw.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// A JSON response.
pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// base64url without padding of SHA-256, the PKCE S256 transform.
fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// `sha256=<hex>` of the HMAC-SHA256 of `body` under `secret`, GitHub's `X-Hub-Signature-256`.
pub fn webhook_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any size");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn random_alnum(n: usize) -> String {
    vibebridge_tunnel::keys::random_hex(n.div_ceil(2))[..n].to_string()
}

impl FakeGithub {
    /// The OAuth app's client id.
    pub const CLIENT_ID: &str = "Iv1.fakeclient";
    /// The OAuth app's client secret.
    pub const CLIENT_SECRET: &str = "fake-client-secret-0123456789";

    /// Starts the fake on a fresh port of 127.0.0.1.
    pub async fn start() -> anyhow::Result<FakeGithub> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let (queue, mut queued) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            web: format!("http://{addr}"),
            root: TempDir::new("fake-github"),
            state: Mutex::new(St {
                accounts: BTreeMap::new(),
                repos: BTreeMap::new(),
                tokens: HashMap::new(),
                refresh: HashMap::new(),
                codes: HashMap::new(),
                devices: Vec::new(),
                signed_in: None,
                expiring: true,
                device_interval: 5,
                limited_until: None,
                usage: HashMap::new(),
                hook: None,
                deliveries: Vec::new(),
                log: Vec::new(),
                next_account: 999,
                next_repo: 4999,
                next_object: 1_000_000,
            }),
            http: reqwest::Client::new(),
            delivered: watch::Sender::new(0),
            queue,
        });
        let weak = Arc::downgrade(&inner);
        let hooks = tokio::spawn(async move {
            while let Some((event, payload)) = queued.recv().await {
                let Some(inner) = weak.upgrade() else { break };
                let _ = inner.deliver(&event, payload).await;
            }
        });
        let app = Router::new()
            .fallback(handle)
            .layer(axum::extract::DefaultBodyLimit::max(512 << 20))
            .with_state(inner.clone());
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone().cancelled_owned();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await;
        });
        Ok(FakeGithub {
            inner,
            shutdown,
            hooks,
        })
    }

    /// `http://127.0.0.1:PORT`: the web (OAuth, git) base.
    pub fn web_url(&self) -> String {
        self.inner.web.clone()
    }

    /// `http://127.0.0.1:PORT/api/v3`: the REST base (GitHub Enterprise Server layout).
    pub fn api_url(&self) -> String {
        format!("{}/api/v3", self.inner.web)
    }

    fn st(&self) -> MutexGuard<'_, St> {
        self.inner.st()
    }

    /// Adds a user (or returns the existing one's id); ids start at 1000.
    pub fn add_user(&self, login: &str) -> u64 {
        self.st().add_account(login, false)
    }

    /// Adds an organisation with these members (users are created as needed).
    pub fn add_org(&self, org: &str, members: &[&str]) {
        let mut st = self.st();
        st.add_account(org, true);
        for m in members {
            st.add_account(m, false);
        }
        if let Some(a) = st.accounts.get_mut(&org.to_lowercase()) {
            a.members.extend(members.iter().map(|m| m.to_lowercase()));
        }
    }

    /// A personal access token (`github_pat_…`, fine-grained: no `x-oauth-scopes`) for `login`; no expiry.
    pub fn issue_token(&self, login: &str) -> String {
        let token = format!("github_pat_{}_{}", random_alnum(22), random_alnum(59));
        let mut st = self.st();
        st.add_account(login, false);
        st.tokens.insert(
            token.clone(),
            Token {
                login: login.to_string(),
                client: None,
                dead: false,
                expires: false,
            },
        );
        token
    }

    /// Who is signed in on the authorize page.
    pub fn authorize_as(&self, login: &str) {
        let mut st = self.st();
        st.add_account(login, false);
        st.signed_in = Some(login.to_string());
    }

    /// Whether OAuth tokens come with `expires_in` and a `refresh_token` (default true).
    pub fn set_expiring_tokens(&self, on: bool) {
        self.st().expiring = on;
    }

    /// The device flow's polling interval for new device codes (default 5 s).
    pub fn set_device_interval(&self, secs: u64) {
        self.st().device_interval = secs;
    }

    /// Approves the device code shown as `user_code` for `login`; false if no pending code has it.
    pub fn approve_device(&self, user_code: &str, login: &str) -> bool {
        let mut st = self.st();
        st.add_account(login, false);
        match st.devices.iter_mut().find(|d| {
            d.user_code.eq_ignore_ascii_case(user_code) && matches!(d.state, DeviceState::Pending)
        }) {
            Some(d) => {
                d.state = DeviceState::Approved(login.to_string());
                true
            }
            None => false,
        }
    }

    /// Denies the device code shown as `user_code`; false if no pending code has it.
    pub fn deny_device(&self, user_code: &str) -> bool {
        let mut st = self.st();
        match st.devices.iter_mut().find(|d| {
            d.user_code.eq_ignore_ascii_case(user_code) && matches!(d.state, DeviceState::Pending)
        }) {
            Some(d) => {
                d.state = DeviceState::Denied;
                true
            }
            None => false,
        }
    }

    /// Creates `owner/name` (owner: a user or org added before) as a bare repository with one commit on `main`
    /// holding `files` (fixed author and date, so the commit id only depends on the files); returns its id.
    pub fn create_repo(
        &self,
        owner: &str,
        name: &str,
        private: bool,
        files: &[(&str, &str)],
    ) -> anyhow::Result<u64> {
        let owner = {
            let st = self.st();
            if st.repo(owner, name).is_some() {
                anyhow::bail!("{owner}/{name} exists");
            }
            st.account(owner)
                .with_context(|| format!("unknown owner {owner}: add_user or add_org first"))?
                .login
                .clone()
        };
        git::init_bare(&self.bare_path(&owner, name), files)?;
        let mut st = self.st();
        st.next_repo += 1;
        let id = st.next_repo;
        let t = now();
        st.repos.insert(
            repo_key(&owner, name),
            Repo {
                id,
                owner,
                name: name.to_string(),
                private,
                collaborators: BTreeSet::new(),
                created: t,
                updated: t,
                items: Vec::new(),
                checks: Vec::new(),
                statuses: Vec::new(),
            },
        );
        Ok(id)
    }

    /// Gives `login` collaborator (push) access to `owner/name`.
    pub fn grant(&self, owner: &str, name: &str, login: &str) {
        let mut st = self.st();
        st.add_account(login, false);
        if let Some(r) = st.repo_mut(owner, name) {
            r.collaborators.insert(login.to_lowercase());
        }
    }

    /// The commit `branch` points at in the bare repository.
    pub fn branch_commit(&self, owner: &str, name: &str, branch: &str) -> Option<String> {
        git::branches(&self.bare_path(owner, name)).remove(branch)
    }

    /// The bare repository of `owner/name`.
    pub fn bare_path(&self, owner: &str, name: &str) -> PathBuf {
        self.inner.bare_path(owner, name)
    }

    /// Revokes one token (access, PAT or refresh).
    pub fn revoke(&self, token: &str) {
        let mut st = self.st();
        if let Some(t) = st.tokens.get_mut(token) {
            t.dead = true;
        }
        if let Some(r) = st.refresh.get_mut(token) {
            r.spent = true;
        }
    }

    /// Expires every expiring OAuth access token issued so far: they get 401, their refresh tokens keep
    /// working. PATs and tokens issued while [`FakeGithub::set_expiring_tokens`] was off never expire.
    pub fn expire_all_tokens(&self) {
        for t in self.st().tokens.values_mut().filter(|t| t.expires) {
            t.dead = true;
        }
    }

    /// `Some(n)`: every API call answers 403 rate-limited until now + n seconds (then normal again); `None`:
    /// normal now.
    pub fn set_rate_limited(&self, for_secs: Option<u64>) {
        self.st().limited_until = for_secs.map(|n| now() + n);
    }

    /// Creates or updates check run `check` on commit `sha` (delivers `check_run` created / completed).
    #[allow(clippy::too_many_arguments)]
    pub fn set_check_run(
        &self,
        owner: &str,
        name: &str,
        sha: &str,
        check: &str,
        status: &str,
        conclusion: Option<&str>,
        summary: &str,
    ) {
        let mut events = Vec::new();
        {
            let mut st = self.st();
            let id = st.object_id();
            let t = now();
            let Some(repo) = st.repo_mut(owner, name) else {
                return;
            };
            let completed = (status == "completed").then_some(t);
            let existing = repo
                .checks
                .iter()
                .position(|c| c.sha == sha && c.name == check);
            let index = match existing {
                Some(i) => {
                    let c = &mut repo.checks[i];
                    c.status = status.to_string();
                    c.conclusion = conclusion.map(str::to_string);
                    c.summary = summary.to_string();
                    c.completed = completed;
                    i
                }
                None => {
                    repo.checks.push(Check {
                        id,
                        sha: sha.to_string(),
                        name: check.to_string(),
                        status: status.to_string(),
                        conclusion: conclusion.map(str::to_string),
                        summary: summary.to_string(),
                        started: t,
                        completed,
                    });
                    events.push("created");
                    repo.checks.len() - 1
                }
            };
            if completed.is_some() {
                events.push("completed");
            }
            let _ = index;
        }
        let payloads: Vec<(String, Value)> = events
            .into_iter()
            .filter_map(|action| {
                let payload = self.inner.check_payload(owner, name, sha, check, action)?;
                Some(("check_run".to_string(), payload))
            })
            .collect();
        self.inner.emit(payloads);
    }

    /// Sets commit status `context` of `sha` (`pending`, `success`, `failure`, `error`) through the
    /// statuses API (delivers a `status` webhook).
    pub fn set_status(
        &self,
        owner: &str,
        name: &str,
        sha: &str,
        context: &str,
        state: &str,
        description: &str,
    ) {
        let payload = {
            let mut st = self.st();
            let id = st.object_id();
            let Some(repo) = st.repo_mut(owner, name) else {
                return;
            };
            repo.statuses.push(Status {
                id,
                sha: sha.to_string(),
                context: context.to_string(),
                state: state.to_string(),
                description: description.to_string(),
            });
            let repo = st.repo(owner, name).unwrap_or_else(|| unreachable!());
            json!({
                "id": id,
                "sha": sha,
                "context": context,
                "state": state,
                "description": description,
                "repository": st.repo_json(&self.inner.web, repo, None),
                "sender": st.user_json(&self.inner.web, &repo.owner),
            })
        };
        self.inner.emit(vec![("status".to_string(), payload)]);
    }

    /// Adds a review (`APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`) on PR `number` at its head commit
    /// (delivers `pull_request_review` submitted).
    pub fn add_review(
        &self,
        owner: &str,
        name: &str,
        number: u64,
        login: &str,
        state: &str,
        body: &str,
    ) {
        let id = {
            let mut st = self.st();
            st.add_account(login, false);
            let id = st.object_id();
            let Some(pr) = st.pr_mut(owner, name, number) else {
                return;
            };
            let commit = pr.head_sha.clone();
            pr.reviews.push(Review {
                id,
                login: login.to_string(),
                state: state.to_string(),
                body: body.to_string(),
                at: now(),
                commit,
            });
            id
        };
        if let Some(mut payload) = self
            .inner
            .pr_payload(owner, name, number, "submitted", login)
        {
            let st = self.st();
            if let Some(r) = st
                .repo(owner, name)
                .and_then(|r| r.items.get(number as usize - 1))
                .and_then(|i| i.pr.as_ref())
                .and_then(|p| p.reviews.iter().find(|r| r.id == id))
            {
                let mut review =
                    super::github_api::review_json(&st, &self.inner.web, owner, name, number, r);
                // Webhooks spell the state in lower case, the REST API in upper case.
                review["state"] = json!(state.to_lowercase());
                payload["review"] = review;
            }
            drop(st);
            self.inner
                .emit(vec![("pull_request_review".to_string(), payload)]);
        }
    }

    /// Adds a review comment on `path` line `line` of PR `number` (like GitHub, a single comment makes a
    /// `COMMENTED` review with an empty body); returns the comment id. Delivers `pull_request_review_comment`
    /// created.
    #[allow(clippy::too_many_arguments)]
    pub fn add_review_comment(
        &self,
        owner: &str,
        name: &str,
        number: u64,
        login: &str,
        path: &str,
        line: u64,
        body: &str,
    ) -> u64 {
        let id = {
            let mut st = self.st();
            st.add_account(login, false);
            let review = st.object_id();
            let id = st.object_id();
            let Some(pr) = st.pr_mut(owner, name, number) else {
                return 0;
            };
            let commit = pr.head_sha.clone();
            let t = now();
            pr.reviews.push(Review {
                id: review,
                login: login.to_string(),
                state: "COMMENTED".to_string(),
                body: String::new(),
                at: t,
                commit: commit.clone(),
            });
            pr.comments.push(ReviewComment {
                id,
                login: login.to_string(),
                path: path.to_string(),
                line,
                body: body.to_string(),
                commit,
                at: t,
                review,
            });
            id
        };
        if let Some(mut payload) = self.inner.pr_payload(owner, name, number, "created", login) {
            let st = self.st();
            if let Some(c) = st
                .repo(owner, name)
                .and_then(|r| r.items.get(number as usize - 1))
                .and_then(|i| i.pr.as_ref())
                .and_then(|p| p.comments.iter().find(|c| c.id == id))
            {
                payload["comment"] =
                    super::github_api::comment_json(&st, &self.inner.web, owner, name, number, c);
            }
            drop(st);
            self.inner
                .emit(vec![("pull_request_review_comment".to_string(), payload)]);
        }
        id
    }

    /// Merges PR `number` in the bare repository (a real merge commit on the base branch), marks it closed and
    /// merged, delivers `pull_request` closed (merged true); returns the merge commit.
    pub fn merge_pr(&self, owner: &str, name: &str, number: u64) -> anyhow::Result<String> {
        let (base, head, title, head_ref) = {
            let st = self.st();
            let item = st
                .repo(owner, name)
                .and_then(|r| r.items.get((number as usize).wrapping_sub(1)))
                .context("no such pull request")?;
            let pr = item.pr.as_ref().context("not a pull request")?;
            anyhow::ensure!(item.closed.is_none(), "pull request is closed");
            (
                pr.base_ref.clone(),
                pr.head_sha.clone(),
                item.title.clone(),
                pr.head_ref.clone(),
            )
        };
        let message = format!("Merge pull request #{number} from {owner}/{head_ref}\n\n{title}");
        let sha = git::merge(&self.bare_path(owner, name), &base, &head, &message)?;
        let sender = {
            let mut st = self.st();
            let t = now();
            let repo = st.repo_mut(owner, name).context("repository gone")?;
            repo.updated = t;
            let owner_login = repo.owner.clone();
            let item = &mut repo.items[number as usize - 1];
            item.closed = Some(t);
            item.updated = t;
            if let Some(pr) = item.pr.as_mut() {
                pr.merged = Some((t, sha.clone()));
            }
            owner_login
        };
        if let Some(payload) = self
            .inner
            .pr_payload(owner, name, number, "closed", &sender)
        {
            self.inner.emit(vec![("pull_request".to_string(), payload)]);
        }
        Ok(sha)
    }

    /// Closes PR (or issue) `number` without merging; a PR delivers `pull_request` closed (merged false).
    pub fn close_pr(&self, owner: &str, name: &str, number: u64) {
        let sender = {
            let mut st = self.st();
            let t = now();
            let Some(repo) = st.repo_mut(owner, name) else {
                return;
            };
            let owner_login = repo.owner.clone();
            let Some(item) = repo.items.get_mut((number as usize).wrapping_sub(1)) else {
                return;
            };
            if item.closed.is_some() {
                return;
            }
            item.closed = Some(t);
            item.updated = t;
            if item.pr.is_none() {
                return;
            }
            owner_login
        };
        if let Some(payload) = self
            .inner
            .pr_payload(owner, name, number, "closed", &sender)
        {
            self.inner.emit(vec![("pull_request".to_string(), payload)]);
        }
    }

    /// Marks draft PR `number` ready for review (delivers `pull_request` ready_for_review).
    pub fn mark_ready(&self, owner: &str, name: &str, number: u64) {
        let sender = {
            let mut st = self.st();
            let Some(repo) = st.repo(owner, name) else {
                return;
            };
            let owner_login = repo.owner.clone();
            let Some(pr) = st.pr_mut(owner, name, number).filter(|p| p.draft) else {
                return;
            };
            pr.draft = false;
            owner_login
        };
        if let Some(payload) =
            self.inner
                .pr_payload(owner, name, number, "ready_for_review", &sender)
        {
            self.inner.emit(vec![("pull_request".to_string(), payload)]);
        }
    }

    /// Opens an issue (numbered together with the PRs, like GitHub); returns its number, 0 if no such repo.
    pub fn add_issue(
        &self,
        owner: &str,
        name: &str,
        title: &str,
        body: &str,
        labels: &[&str],
    ) -> u64 {
        let mut st = self.st();
        let id = st.object_id();
        let Some(repo) = st.repo_mut(owner, name) else {
            return 0;
        };
        let number = repo.items.len() as u64 + 1;
        let t = now();
        let user = repo.owner.clone();
        repo.items.push(Item {
            id,
            number,
            title: title.to_string(),
            body: body.to_string(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            user,
            created: t,
            updated: t,
            closed: None,
            pr: None,
        });
        number
    }

    /// PR `number` as `GET /repos/{owner}/{name}/pulls/{number}` returns it.
    pub fn pr(&self, owner: &str, name: &str, number: u64) -> Option<Value> {
        self.inner.pr_full(owner, name, number)
    }

    /// Every PR of `owner/name` (any state), newest first, as the list endpoint returns them.
    pub fn pulls(&self, owner: &str, name: &str) -> Vec<Value> {
        let branches = git::branches(&self.bare_path(owner, name));
        let st = self.st();
        let Some(repo) = st.repo(owner, name) else {
            return Vec::new();
        };
        repo.items
            .iter()
            .rev()
            .filter(|i| i.pr.is_some())
            .map(|i| st.pr_json(&self.inner.web, repo, i, &branches, None))
            .collect()
    }

    /// From now on state changes deliver webhooks to `url`, signed with `secret`.
    pub fn set_webhook(&self, url: &str, secret: &str) {
        self.st().hook = Some((url.to_string(), secret.to_string()));
    }

    /// Delivers one signed webhook now; returns the HTTP status the receiver answered.
    pub async fn deliver(&self, event: &str, payload: Value) -> anyhow::Result<u16> {
        self.inner.deliver(event, payload).await
    }

    /// The webhook deliveries so far: `(event, delivery id, status)`; status 0 when the receiver was unreachable.
    pub fn deliveries(&self) -> Vec<(String, String, u16)> {
        self.st().deliveries.clone()
    }

    /// Waits (up to 20 s) until at least `n` webhook deliveries have finished; returns them all.
    pub async fn wait_deliveries(&self, n: usize) -> Vec<(String, String, u16)> {
        let mut rx = self.inner.delivered.subscribe();
        let done = tokio::time::timeout(Duration::from_secs(20), async {
            rx.wait_for(|c| *c >= n).await.map(|_| ())
        })
        .await;
        assert!(
            done.is_ok(),
            "only {} webhook deliveries within 20 s, expected {n}",
            *self.inner.delivered.borrow()
        );
        self.deliveries()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Logged> {
        self.st().log.clone()
    }

    /// How many requests had `method` and a path starting with `path_prefix`.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.st()
            .log
            .iter()
            .filter(|l| l.method.eq_ignore_ascii_case(method) && l.path.starts_with(path_prefix))
            .count()
    }
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.hooks.abort();
    }
}

impl St {
    fn add_account(&mut self, login: &str, org: bool) -> u64 {
        if let Some(a) = self.account(login) {
            return a.id;
        }
        self.next_account += 1;
        let id = self.next_account;
        self.accounts.insert(
            login.to_lowercase(),
            Account {
                id,
                login: login.to_string(),
                org,
                members: BTreeSet::new(),
            },
        );
        id
    }

    /// Revokes every access and refresh token of `login` issued through OAuth app `client`.
    pub(super) fn revoke_app(&mut self, login: &str, client: &str) {
        for t in self.tokens.values_mut() {
            if t.login == login && t.client.as_deref() == Some(client) {
                t.dead = true;
            }
        }
        for r in self.refresh.values_mut() {
            if r.login == login && r.client == client {
                r.spent = true;
            }
        }
    }

    pub(super) fn pr_mut(&mut self, owner: &str, name: &str, number: u64) -> Option<&mut Pr> {
        self.repo_mut(owner, name)?
            .items
            .get_mut((number as usize).wrapping_sub(1))?
            .pr
            .as_mut()
    }

    /// A new OAuth access token (and refresh token when expiring) for `login`; the token endpoint's answer.
    fn grant_tokens(&mut self, login: &str, client: &str) -> Vec<(&'static str, Value)> {
        let access = format!("ghu_{}", random_alnum(36));
        self.tokens.insert(
            access.clone(),
            Token {
                login: login.to_string(),
                client: Some(client.to_string()),
                dead: false,
                expires: self.expiring,
            },
        );
        let mut out = vec![
            ("access_token", json!(access)),
            ("token_type", json!("bearer")),
            ("scope", json!("repo,read:org")),
        ];
        if self.expiring {
            let refresh = format!("ghr_{}", random_alnum(76));
            self.refresh.insert(
                refresh.clone(),
                Refresh {
                    login: login.to_string(),
                    client: client.to_string(),
                    spent: false,
                },
            );
            out.push(("expires_in", json!(28_800)));
            out.push(("refresh_token", json!(refresh)));
            out.push(("refresh_token_expires_in", json!(15_811_200)));
        }
        out
    }
}

impl Inner {
    pub(super) fn st(&self) -> MutexGuard<'_, St> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn bare_path(&self, owner: &str, name: &str) -> PathBuf {
        self.root
            .path()
            .join(owner.to_lowercase())
            .join(format!("{}.git", name.to_lowercase()))
    }

    /// The single-PR JSON, `mergeable` computed for an open PR.
    pub(super) fn pr_full(&self, owner: &str, name: &str, number: u64) -> Option<Value> {
        let bare = self.bare_path(owner, name);
        let branches = git::branches(&bare);
        let (open_heads, base) = {
            let st = self.st();
            let item = st
                .repo(owner, name)?
                .items
                .get((number as usize).wrapping_sub(1))?;
            let pr = item.pr.as_ref()?;
            (
                item.closed.is_none().then(|| pr.head_sha.clone()),
                pr.base_ref.clone(),
            )
        };
        let mergeable = match (open_heads, branches.get(&base)) {
            (Some(head), Some(base)) => git::mergeable(&bare, base, &head),
            _ => None,
        };
        let st = self.st();
        let repo = st.repo(owner, name)?;
        let item = repo.items.get(number as usize - 1)?;
        Some(st.pr_json(&self.web, repo, item, &branches, Some(mergeable)))
    }

    /// A `pull_request`-style payload (`action`, `number`, `pull_request`, `repository`, `sender`).
    pub(super) fn pr_payload(
        &self,
        owner: &str,
        name: &str,
        number: u64,
        action: &str,
        sender: &str,
    ) -> Option<Value> {
        self.st().hook.as_ref()?;
        let pr = self.pr_full(owner, name, number)?;
        let st = self.st();
        let repo = st.repo(owner, name)?;
        Some(json!({
            "action": action,
            "number": number,
            "pull_request": pr,
            "repository": st.repo_json(&self.web, repo, None),
            "sender": st.user_json(&self.web, sender),
        }))
    }

    fn check_payload(
        &self,
        owner: &str,
        name: &str,
        sha: &str,
        check: &str,
        action: &str,
    ) -> Option<Value> {
        let st = self.st();
        st.hook.as_ref()?;
        let repo = st.repo(owner, name)?;
        let c = repo
            .checks
            .iter()
            .find(|c| c.sha == sha && c.name == check)?;
        let mut run = super::github_api::check_json(&self.web, repo, c);
        run["pull_requests"] = repo
            .items
            .iter()
            .filter(|i| i.closed.is_none())
            .filter_map(|i| Some((i.number, i.pr.as_ref()?)))
            .filter(|(_, p)| p.head_sha == sha)
            .map(|(n, p)| {
                json!({
                    "number": n,
                    "head": {"ref": p.head_ref, "sha": p.head_sha},
                    "base": {"ref": p.base_ref},
                })
            })
            .collect();
        Some(json!({
            "action": action,
            "check_run": run,
            "repository": st.repo_json(&self.web, repo, None),
            "sender": st.user_json(&self.web, &repo.owner),
        }))
    }

    /// Queues `events` for delivery (when a webhook is configured); one worker delivers everything in order.
    pub(super) fn emit(&self, events: Vec<(String, Value)>) {
        if self.st().hook.is_none() {
            return;
        }
        for e in events {
            let _ = self.queue.send(e);
        }
    }

    async fn deliver(&self, event: &str, payload: Value) -> anyhow::Result<u16> {
        let (url, secret) = self.st().hook.clone().context("no webhook configured")?;
        let body = payload.to_string();
        let id = uuid::Uuid::now_v7().to_string();
        let sent = self
            .http
            .post(&url)
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", &id)
            .header("X-GitHub-Hook-ID", "424242")
            .header(
                "X-Hub-Signature-256",
                webhook_signature(&secret, body.as_bytes()),
            )
            .header("User-Agent", "GitHub-Hookshot/fake")
            .header("Content-Type", "application/json")
            .body(body)
            .timeout(Duration::from_secs(20))
            .send()
            .await;
        let status = sent.as_ref().map_or(0, |r| r.status().as_u16());
        self.st().deliveries.push((event.to_string(), id, status));
        self.delivered.send_modify(|n| *n += 1);
        Ok(sent?.status().as_u16())
    }

    /// After a push: moves `head.sha` of open PRs whose head branch moved; delivers `synchronize`.
    fn pushed(&self, owner: &str, name: &str, pusher: &str) {
        let branches = git::branches(&self.bare_path(owner, name));
        let moved: Vec<(u64, String, String)> = {
            let mut st = self.st();
            let t = now();
            let Some(repo) = st.repo_mut(owner, name) else {
                return;
            };
            repo.updated = t;
            let mut moved = Vec::new();
            for item in repo.items.iter_mut().filter(|i| i.closed.is_none()) {
                let Some(pr) = item.pr.as_mut() else { continue };
                if let Some(sha) = branches.get(&pr.head_ref)
                    && *sha != pr.head_sha
                {
                    moved.push((item.number, pr.head_sha.clone(), sha.clone()));
                    pr.head_sha = sha.clone();
                    item.updated = t;
                }
            }
            moved
        };
        let events = moved
            .into_iter()
            .filter_map(|(n, before, after)| {
                let mut p = self.pr_payload(owner, name, n, "synchronize", pusher)?;
                p["before"] = json!(before);
                p["after"] = json!(after);
                Some(("pull_request".to_string(), p))
            })
            .collect();
        self.emit(events);
    }
}

/// Every request: dispatched by path, answered, logged with its status.
async fn handle(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 512 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let q = query.clone().unwrap_or_default();
    let response = if let Some(rest) = path.strip_prefix("/api/v3") {
        super::github_api::api(&inner, &parts.method, rest, &q, &parts.headers, &body).await
    } else {
        web(&inner, &parts.method, &path, &q, &parts.headers, body).await
    };
    inner.st().log.push(Logged {
        method: parts.method.to_string(),
        path,
        query,
        status: response.status().as_u16(),
        had_auth: authorization.is_some(),
        authorization,
    });
    response
}

/// The non-API side: OAuth pages and endpoints, git smart HTTP.
async fn web(
    inner: &Arc<Inner>,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let form = || {
        let mut pairs = parse_form(query);
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.contains("json"));
        if is_json {
            if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&body) {
                for (k, v) in map {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    pairs.push((k, v));
                }
            }
        } else {
            pairs.extend(parse_form(&String::from_utf8_lossy(&body)));
        }
        pairs
    };
    match (method, path) {
        (&Method::GET, "/login/oauth/authorize") => authorize_page(inner, &parse_form(query)),
        (&Method::POST, "/login/oauth/authorize") => authorize_submit(inner, &form()),
        (&Method::POST, "/login/oauth/access_token") => {
            let answer = access_token(inner, &form(), headers);
            token_answer(headers, answer)
        }
        (&Method::POST, "/login/device/code") => device_code(inner, &form(), headers),
        (&Method::GET, "/login/device") => Html(
            "<!doctype html><title>Device activation</title><h1>Device activation</h1>\
             <form><input name=user_code placeholder=XXXX-XXXX><button>Continue</button></form>",
        )
        .into_response(),
        _ => git_http(inner, method, path, query, headers, body).await,
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn authorize_page(inner: &Inner, q: &[(String, String)]) -> Response {
    if param(q, "client_id") != Some(FakeGithub::CLIENT_ID) {
        let page = "<!doctype html><title>Page not found</title><h1>404 - page not found</h1>";
        return (StatusCode::NOT_FOUND, Html(page)).into_response();
    }
    if param(q, "code_challenge").is_some() && param(q, "code_challenge_method") != Some("S256") {
        let page = "<!doctype html><h1>code_challenge_method must be S256</h1>";
        return (StatusCode::BAD_REQUEST, Html(page)).into_response();
    }
    let Some(login) = inner.st().signed_in.clone() else {
        let page = "<!doctype html><title>Sign in to GitHub</title><h1>Sign in to GitHub</h1>";
        return Html(page).into_response();
    };
    let hidden: String = [
        "client_id",
        "redirect_uri",
        "state",
        "scope",
        "code_challenge",
        "code_challenge_method",
    ]
    .iter()
    .filter_map(|k| {
        let v = param(q, k)?;
        Some(format!(
            "<input type=\"hidden\" name=\"{k}\" value=\"{}\">\n",
            html_escape(v)
        ))
    })
    .collect();
    let login = html_escape(&login);
    Html(format!(
        "<!doctype html>\n<html><head><title>Authorize VibeBridge</title></head><body>\n\
         <h1>Authorize VibeBridge</h1>\n<p>Signed in as <strong id=\"login\">{login}</strong></p>\n\
         <form method=\"post\" action=\"/login/oauth/authorize\">\n{hidden}\
         <button id=\"authorize\" type=\"submit\">Authorize</button>\n</form>\n</body></html>\n"
    ))
    .into_response()
}

fn authorize_submit(inner: &Inner, f: &[(String, String)]) -> Response {
    let bad =
        |msg: &str| (StatusCode::BAD_REQUEST, Html(format!("<h1>{msg}</h1>"))).into_response();
    if param(f, "client_id") != Some(FakeGithub::CLIENT_ID) {
        return (StatusCode::NOT_FOUND, Html("<h1>404</h1>")).into_response();
    }
    let Some(redirect_uri) = param(f, "redirect_uri").filter(|r| !r.is_empty()) else {
        return bad("redirect_uri is required");
    };
    let challenge = param(f, "code_challenge").filter(|c| !c.is_empty());
    if challenge.is_some() && param(f, "code_challenge_method") != Some("S256") {
        return bad("code_challenge_method must be S256");
    }
    let mut st = inner.st();
    let Some(login) = st.signed_in.clone() else {
        return bad("nobody is signed in");
    };
    let code = random_alnum(20);
    st.codes.insert(
        code.clone(),
        Code {
            client: FakeGithub::CLIENT_ID.to_string(),
            redirect_uri: redirect_uri.to_string(),
            challenge: challenge.map(str::to_string),
            login,
            created: Instant::now(),
            used: false,
        },
    );
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let mut location = format!("{redirect_uri}{sep}code={code}");
    if let Some(state) = param(f, "state") {
        location.push_str(&format!("&state={}", encode(state)));
    }
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

type TokenAnswer = Vec<(&'static str, Value)>;

fn token_error(error: &'static str, description: &str) -> TokenAnswer {
    vec![
        ("error", json!(error)),
        ("error_description", json!(description)),
        (
            "error_uri",
            json!(format!(
                "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#{}",
                error.replace('_', "-")
            )),
        ),
    ]
}

/// Client credentials from the body or HTTP Basic.
fn client_creds(f: &[(String, String)], headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(basic);
    let id = param(f, "client_id")
        .map(str::to_string)
        .or_else(|| basic.as_ref().map(|b| b.0.clone()));
    let secret = param(f, "client_secret")
        .map(str::to_string)
        .or_else(|| basic.map(|b| b.1));
    (id, secret)
}

fn access_token(inner: &Inner, f: &[(String, String)], headers: &HeaderMap) -> TokenAnswer {
    let (client_id, secret) = client_creds(f, headers);
    let client_ok = client_id.as_deref() == Some(FakeGithub::CLIENT_ID);
    let secret_ok = client_ok && secret.as_deref() == Some(FakeGithub::CLIENT_SECRET);
    let bad_client = || {
        token_error(
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        )
    };
    let mut st = inner.st();
    match param(f, "grant_type").unwrap_or("authorization_code") {
        "authorization_code" => {
            if !secret_ok {
                return bad_client();
            }
            let bad_code = || {
                token_error(
                    "bad_verification_code",
                    "The code passed is incorrect or expired.",
                )
            };
            let Some(code) = param(f, "code").and_then(|c| st.codes.get_mut(c)) else {
                return bad_code();
            };
            if code.used
                || code.created.elapsed() > Duration::from_secs(600)
                || Some(code.client.as_str()) != client_id.as_deref()
            {
                return bad_code();
            }
            if let Some(uri) = param(f, "redirect_uri")
                && uri != code.redirect_uri
            {
                return token_error(
                    "redirect_uri_mismatch",
                    "The redirect_uri MUST match the registered callback URL for this application.",
                );
            }
            if let Some(challenge) = &code.challenge {
                let verified = param(f, "code_verifier").is_some_and(|v| s256(v) == *challenge);
                if !verified {
                    return token_error(
                        "bad_verification_code",
                        "The code_verifier does not match the code_challenge supplied in the authorization request.",
                    );
                }
            }
            code.used = true;
            let login = code.login.clone();
            st.grant_tokens(&login, FakeGithub::CLIENT_ID)
        }
        "refresh_token" => {
            if !secret_ok {
                return bad_client();
            }
            let Some(refresh) = param(f, "refresh_token")
                .and_then(|r| st.refresh.get_mut(r))
                .filter(|r| !r.spent && r.client == FakeGithub::CLIENT_ID)
            else {
                return token_error(
                    "bad_refresh_token",
                    "The refresh token passed is incorrect or expired.",
                );
            };
            refresh.spent = true;
            let login = refresh.login.clone();
            st.grant_tokens(&login, FakeGithub::CLIENT_ID)
        }
        "urn:ietf:params:oauth:grant-type:device_code" => {
            if !client_ok {
                return bad_client();
            }
            let code = param(f, "device_code").unwrap_or_default();
            let Some(device) = st.devices.iter_mut().find(|d| d.device_code == code) else {
                return token_error(
                    "incorrect_device_code",
                    "The device_code provided is not valid.",
                );
            };
            if device.client != FakeGithub::CLIENT_ID {
                return bad_client();
            }
            if device.created.elapsed() > Duration::from_secs(900) {
                return token_error("expired_token", "The device_code has expired.");
            }
            let too_fast = device
                .last_poll
                .is_some_and(|t| t.elapsed() < Duration::from_secs(device.interval));
            device.last_poll = Some(Instant::now());
            let login = match &device.state {
                DeviceState::Denied => {
                    return token_error("access_denied", "The authorization request was denied.");
                }
                DeviceState::Done => {
                    return token_error(
                        "bad_verification_code",
                        "The device_code has already been used.",
                    );
                }
                _ if too_fast => {
                    device.interval += 5;
                    let mut answer = token_error(
                        "slow_down",
                        "Too many requests have been made in the same timeframe.",
                    );
                    answer.push(("interval", json!(device.interval)));
                    return answer;
                }
                DeviceState::Pending => {
                    return token_error(
                        "authorization_pending",
                        "The authorization request is still pending.",
                    );
                }
                DeviceState::Approved(login) => login.clone(),
            };
            device.state = DeviceState::Done;
            st.grant_tokens(&login, FakeGithub::CLIENT_ID)
        }
        _ => token_error("unsupported_grant_type", "The grant type is not supported."),
    }
}

/// Whether the client asked for JSON (`Accept: application/json`); GitHub answers form-encoded otherwise.
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
}

/// The token endpoint's answer, always HTTP 200 (errors included, like GitHub).
fn token_answer(headers: &HeaderMap, answer: TokenAnswer) -> Response {
    if wants_json(headers) {
        let map: serde_json::Map<String, Value> = answer
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        return json_response(StatusCode::OK, &Value::Object(map));
    }
    let pairs: Vec<(&str, String)> = answer
        .iter()
        .map(|(k, v)| (*k, v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect();
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        encode_form(&refs),
    )
        .into_response()
}

fn device_code(inner: &Inner, f: &[(String, String)], headers: &HeaderMap) -> Response {
    if param(f, "client_id") != Some(FakeGithub::CLIENT_ID) {
        // GitHub answers an unknown client_id with 404 here.
        return json_response(StatusCode::NOT_FOUND, &json!({"error": "Not Found"}));
    }
    let device_code = random_alnum(40);
    let hex = vibebridge_tunnel::keys::random_hex(4).to_uppercase();
    let letters: String = hex
        .bytes()
        .take(4)
        .map(|b| (b'A' + b % 26) as char)
        .collect();
    let user_code = format!("{letters}-{}", &hex[4..]);
    let mut st = inner.st();
    let interval = st.device_interval;
    st.devices.push(Device {
        device_code: device_code.clone(),
        user_code: user_code.clone(),
        client: FakeGithub::CLIENT_ID.to_string(),
        created: Instant::now(),
        interval,
        last_poll: None,
        state: DeviceState::Pending,
    });
    drop(st);
    let answer = vec![
        ("device_code", json!(device_code)),
        ("user_code", json!(user_code)),
        (
            "verification_uri",
            json!(format!("{}/login/device", inner.web)),
        ),
        ("expires_in", json!(900)),
        ("interval", json!(interval)),
    ];
    token_answer(headers, answer)
}

/// Git smart HTTP: `/{owner}/{name}[.git]/(info/refs|git-upload-pack|git-receive-pack|…)`.
async fn git_http(
    inner: &Arc<Inner>,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "Not Found").into_response();
    let segs: Vec<&str> = path.trim_start_matches('/').splitn(3, '/').collect();
    let [owner, name, rest] = segs.as_slice() else {
        return not_found();
    };
    let name = name.strip_suffix(".git").unwrap_or(name);
    let push = *rest == "git-receive-pack"
        || (*rest == "info/refs"
            && param(&parse_form(query), "service") == Some("git-receive-pack"));
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(basic);
    let unauthorized = || {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"GitHub\"")],
            "Invalid username or token. Password authentication is not supported for Git operations.\n",
        )
            .into_response()
    };
    let (login, perms) = {
        let st = inner.st();
        let Some(repo) = st.repo(owner, name) else {
            return if auth.is_some() {
                (StatusCode::NOT_FOUND, "Repository not found.\n").into_response()
            } else {
                unauthorized()
            };
        };
        let login = match &auth {
            Some((_, password)) => match st.token_user(password) {
                Some((login, _)) => Some(login),
                None => return unauthorized(),
            },
            None => None,
        };
        (login.clone(), st.permissions(repo, login.as_deref()))
    };
    let (_, can_push, can_pull) = perms;
    if login.is_none() && (push || !can_pull) {
        return unauthorized();
    }
    if !can_pull {
        return (StatusCode::NOT_FOUND, "Repository not found.\n").into_response();
    }
    if push && !can_push {
        let msg = format!(
            "Permission to {owner}/{name}.git denied to {}.\n",
            login.as_deref().unwrap_or_default()
        );
        return (StatusCode::FORBIDDEN, msg).into_response();
    }
    let path_info = format!(
        "/{}/{}.git/{rest}",
        owner.to_lowercase(),
        name.to_lowercase()
    );
    let response = git::http_backend(
        inner.root.path(),
        &path_info,
        method,
        query,
        headers,
        body,
        login.as_deref(),
    )
    .await;
    if *rest == "git-receive-pack" && response.status().is_success() {
        inner.pushed(owner, name, login.as_deref().unwrap_or_default());
    }
    response
}

/// Builds a body-less response with `status`, for 304s.
pub(super) fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

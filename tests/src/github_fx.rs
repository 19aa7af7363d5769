//! The GitHub test fixture: the task-run fixture ([`RunFx`]: main, node `n1` with the real CLIs against the
//! mock model APIs, alice, workspace `WEB`) with main pointed at a fake GitHub ([`FakeGithub`]: REST, OAuth
//! and real git over smart HTTP) that knows user `octo` and repository `acme/web`, plus the steps every
//! GitHub test begins with: connecting alice's account through the OAuth web flow, connecting the
//! repository to the workspace, and cloning it onto the node as a project.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};

use crate::mock::FakeGithub;
use crate::run_fx::RunFx;

/// The webhook secret the fixture's main and fake GitHub share.
pub const WEBHOOK_SECRET: &str = "whsec-test-0123456789";

/// Main, a node and a fake GitHub.
pub struct GithubFx {
    /// The run fixture.
    pub rf: RunFx,
    /// The fake GitHub.
    pub gh: FakeGithub,
}

/// Main's `[github]` for `gh`: its URLs and OAuth app (client secret and webhook secret sealed as the
/// config requires), polling every `poll`.
pub fn configure(config: &mut vibebridge_main::MainConfig, gh: &FakeGithub, poll: Duration) {
    config.github.api_url = gh.api_url();
    config.github.web_url = gh.web_url();
    config.github.client_id = Some(FakeGithub::CLIENT_ID.into());
    config.github.poll_interval = poll;
    std::fs::create_dir_all(&config.database.path).unwrap();
    config.github.client_secret = Some(
        vibebridge_main::rotate::seal_config_value(
            config,
            "github.client_secret",
            FakeGithub::CLIENT_SECRET,
        )
        .unwrap(),
    );
    config.github.webhook_secret = Some(
        vibebridge_main::rotate::seal_config_value(config, "github.webhook_secret", WEBHOOK_SECRET)
            .unwrap(),
    );
}

impl GithubFx {
    /// The fixture; main polls open pull requests every `poll`, and the fake delivers webhooks to main
    /// when `webhooks`.
    pub async fn new(tag: &str, poll: Duration, webhooks: bool) -> GithubFx {
        Self::with(tag, poll, webhooks, |_| {}).await
    }

    /// [`GithubFx::new`] with main's config changed by `tweak` afterwards.
    pub async fn with(
        tag: &str,
        poll: Duration,
        webhooks: bool,
        tweak: impl FnOnce(&mut vibebridge_main::MainConfig),
    ) -> GithubFx {
        let gh = FakeGithub::start().await.unwrap();
        gh.add_user("octo");
        gh.add_org("acme", &["octo"]);
        gh.authorize_as("octo");
        gh.create_repo(
            "acme",
            "web",
            true,
            &[("README.md", "# web\n"), ("src/app.txt", "hello\n")],
        )
        .unwrap();
        let rf = RunFx::with_main(tag, json!({}), |c| {
            configure(c, &gh, poll);
            tweak(c);
        })
        .await;
        if webhooks {
            gh.set_webhook(
                &format!("http://{}/api/v1/github/webhook", rf.fx.main.http),
                WEBHOOK_SECRET,
            );
        }
        GithubFx { rf, gh }
    }

    /// Alice connects `octo` with a personal access token.
    pub async fn connect_token(&self) {
        let pat = self.gh.issue_token("octo");
        let (s, acct) = self
            .rf
            .fx
            .api
            .post("/api/v1/github/token", json!({"token": pat}))
            .await;
        assert_eq!(s, 200, "{acct}");
    }

    /// Alice connects `octo` through the OAuth web flow as a browser would: `POST /github/connect` (which
    /// sets the flow's cookie), the fake's authorize page, its form, and main's callback with the flow
    /// cookie but without her login cookie, as after a cross-site redirect. Returns where the callback sent
    /// the browser.
    pub async fn connect_oauth(&self) -> String {
        self.oauth_flow(true).await
    }

    /// The web flow; with `same_browser` false the callback arrives without the flow's cookie (another
    /// browser following a link to someone's flow).
    pub async fn oauth_flow(&self, same_browser: bool) -> String {
        let api = &self.rf.fx.api;
        let origin = format!("http://{}", self.rf.fx.main.http);
        let resp = api
            .request(reqwest::Method::POST, "/api/v1/github/connect")
            .header("Origin", &origin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let flow_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(flow_cookie.contains("SameSite=Lax"), "{flow_cookie}");
        assert!(flow_cookie.contains("HttpOnly"), "{flow_cookie}");
        let flow_cookie = flow_cookie.split(';').next().unwrap().to_string();
        let start: Value = resp.json().await.unwrap();
        let authorize = reqwest::Url::parse(start["redirect_url"].as_str().unwrap()).unwrap();
        let q: std::collections::HashMap<String, String> =
            authorize.query_pairs().into_owned().collect();
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(
            q["redirect_uri"],
            format!("{origin}/api/v1/github/callback")
        );
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = browser.get(authorize.clone()).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let form: Vec<(String, String)> = q.into_iter().collect();
        let back = browser
            .post(format!("{}/login/oauth/authorize", self.gh.web_url()))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(back.status(), 302);
        let callback = back.headers()["location"].to_str().unwrap().to_string();
        assert!(callback.starts_with(&origin), "{callback}");
        let mut req = browser.get(&callback);
        if same_browser {
            req = req.header("Cookie", &flow_cookie);
        }
        let landed = req.send().await.unwrap();
        assert!(landed.status().is_redirection(), "{}", landed.status());
        landed.headers()["location"].to_str().unwrap().to_string()
    }

    /// Connects `acme/web` to the workspace; the connected repository.
    pub async fn connect_repo(&self) -> Value {
        let api = &self.rf.fx.api;
        let (s, page) = api.get("/api/v1/github/repos?q=web").await;
        assert_eq!(s, 200, "{page}");
        let repo = page["repos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["full_name"] == "acme/web")
            .unwrap_or_else(|| panic!("acme/web is not among {page}"))
            .clone();
        let (s, connected) = api
            .post(
                &format!("/api/v1/github/repos/{}/connect", repo["id"]),
                json!({"workspace_id": self.rf.ws}),
            )
            .await;
        assert_eq!(s, 201, "{connected}");
        connected
    }

    /// Clones the connected repository onto the node into `<env>/<dir>`; the project.
    pub async fn clone_project(&self, connected: &Value, dir: &str) -> Value {
        let path = self.rf.fx.env.path().join(dir);
        let (s, project) = self
            .rf
            .fx
            .api
            .post(
                &format!(
                    "/api/v1/github/connected/{}/project",
                    connected["id"].as_str().unwrap()
                ),
                json!({"node_id": "n1", "path": path.display().to_string()}),
            )
            .await;
        assert_eq!(s, 201, "{project}");
        project
    }

    /// A task in `project` titled `title`; its key.
    pub async fn task(&self, project: &Value, title: &str) -> String {
        let (s, t) = self
            .rf
            .fx
            .api
            .post(
                &format!("/api/v1/workspaces/{}/tasks", self.rf.ws),
                json!({"title": title, "project_id": project["id"]}),
            )
            .await;
        assert_eq!(s, 200, "{t}");
        t["key"].as_str().unwrap().to_string()
    }

    /// Waits (on the board's WebSocket) until the pull request of `run` satisfies `pred`; returns it.
    pub async fn until_pr(&mut self, run: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let (s, now) = self
            .rf
            .fx
            .api
            .get(&format!("/api/v1/runs/{run}/pull-request"))
            .await;
        if s == 200 && pred(&now) {
            return now;
        }
        let wait = async {
            loop {
                let live = self
                    .rf
                    .live
                    .as_mut()
                    .expect("the fixture watches the workspace");
                let msg = live.recv_within(crate::mock::CLI_WAIT).await?;
                let tokio_tungstenite::tungstenite::Message::Text(text) = msg else {
                    continue;
                };
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["type"] == "pull_request"
                    && frame["pull_request"]["run_id"] == run
                    && pred(&frame["pull_request"])
                {
                    return Some(frame["pull_request"].clone());
                }
            }
        };
        match tokio::time::timeout(crate::mock::CLI_WAIT, wait).await {
            Ok(Some(pr)) => pr,
            _ => {
                let (_, now) = self
                    .rf
                    .fx
                    .api
                    .get(&format!("/api/v1/runs/{run}/pull-request"))
                    .await;
                panic!("the pull request of run {run} never got there; it is now {now}")
            }
        }
    }
}

impl GithubFx {
    /// Waits (on the board's WebSocket) until task `key` is in column `status`; checks its record first,
    /// so a move pushed before the wait began is not missed.
    pub async fn until_task(&mut self, key: &str, status: &str) {
        let (_, now) = self.rf.fx.api.get(&format!("/api/v1/tasks/{key}")).await;
        if now["status"] == status {
            return;
        }
        let wait = async {
            loop {
                let live = self
                    .rf
                    .live
                    .as_mut()
                    .expect("the fixture watches the workspace");
                let msg = live.recv_within(crate::mock::CLI_WAIT).await?;
                let tokio_tungstenite::tungstenite::Message::Text(text) = msg else {
                    continue;
                };
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["type"] == "task"
                    && frame["task"]["key"] == key
                    && frame["task"]["status"] == status
                {
                    return Some(());
                }
            }
        };
        if tokio::time::timeout(crate::mock::CLI_WAIT, wait)
            .await
            .ok()
            .flatten()
            .is_none()
        {
            let (_, now) = self.rf.fx.api.get(&format!("/api/v1/tasks/{key}")).await;
            panic!("task {key} never reached {status}; it is now {now}");
        }
    }
}

/// Every file under `dir` whose bytes contain `needle` (for proving a token was never written).
pub fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file()
                && let Ok(bytes) = std::fs::read(&p)
                && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
            {
                found.push(p);
            }
        }
    }
    found
}

/// Everything logged in this test process from now on at `debug` and above (main's and the node's
/// tracing), for proving a secret never reaches a log. Call first, before anything logs.
pub fn capture_logs() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    #[derive(Clone)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Sink(buf.clone());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .try_init();
    buf
}

/// The access token main used with GitHub, from the fake's request log (`Authorization: Bearer …`).
pub fn token_used(gh: &FakeGithub) -> String {
    gh.requests()
        .iter()
        .rev()
        .find_map(|l| {
            l.authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "))
                .map(str::to_string)
        })
        .expect("main called GitHub with a token")
}

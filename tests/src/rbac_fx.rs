//! The RBAC matrix fixture (`tests/tests/rbac.rs`): one main and one node shared by every cell, a user of
//! each kind, and requests made as any of them with the matrix's placeholders filled in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use reqwest::Method;
use serde_json::Value;
use vibebridge_main::store::{Role, UserId};

use crate::{Api, TempDir, TestMain, TestNode};

/// The callers, in column order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Who {
    /// No token.
    Anon,
    /// Signed up, not yet approved.
    Pending,
    /// Approved, no access to the node.
    Outsider,
    /// A member of the node.
    Member,
    /// The node's owner (and the session's).
    Owner,
    /// An admin.
    Admin,
    /// The creator.
    Creator,
    /// Approved and a member of the node, then disabled.
    Disabled,
    /// Owner of a node since revoked, and of a session on it; `{node}` and `{session}` are theirs.
    Revoked,
}

/// The matrix's columns, in order.
pub const COLUMNS: [Who; 9] = [
    Who::Anon,
    Who::Pending,
    Who::Outsider,
    Who::Member,
    Who::Owner,
    Who::Admin,
    Who::Creator,
    Who::Disabled,
    Who::Revoked,
];

impl Who {
    /// How the caller is named in reports (and its user's name).
    pub fn name(self) -> &'static str {
        match self {
            Who::Anon => "anonymous",
            Who::Pending => "pending",
            Who::Outsider => "outsider",
            Who::Member => "member",
            Who::Owner => "owner",
            Who::Admin => "admin",
            Who::Creator => "creator",
            Who::Disabled => "disabled",
            Who::Revoked => "revoked",
        }
    }
}

/// One route's row: the route as `vibebridge_main::api::ROUTES` names it, a concrete request for it
/// (placeholders filled per caller by `Fx::fill`) and the expected answer per column.
pub struct Row {
    /// The method.
    pub method: Method,
    /// The route's path pattern.
    pub route: &'static str,
    /// The request's path and query, with placeholders.
    pub path: &'static str,
    /// The request's body (JSON, or file content for `PUT …/fs/…`), with placeholders; empty for none.
    pub body: &'static str,
    /// One letter per column of [`COLUMNS`], space-separated.
    pub expect: &'static str,
    /// Log in afresh for this request (logout would otherwise end the caller's login for later rows).
    pub fresh_login: bool,
}

/// A row.
pub fn r(
    method: Method,
    route: &'static str,
    path: &'static str,
    body: &'static str,
    expect: &'static str,
) -> Row {
    Row {
        method,
        route,
        path,
        body,
        expect,
        fresh_login: false,
    }
}

/// A caller's login.
#[derive(Default, Clone)]
struct Login {
    id: Option<UserId>,
    access: Option<String>,
    refresh: String,
}

/// One main and node shared by every cell.
pub struct Fx {
    _dir: TempDir,
    main: TestMain,
    node: Option<TestNode>,
    root: PathBuf,
    logins: Vec<Login>,
    own_session: String,
    revoked_session: String,
    work: crate::rbac_work::WorkFx,
}

const PASSWORD: &str = "password123";

impl Fx {
    /// Starts main and node `n1` (owned by `owner`, with `member` and `disabled` as members) and signs
    /// up a user of each kind.
    pub async fn start() -> Fx {
        let dir = TempDir::new("rbac");
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        git_repo(&root);
        let main = TestMain::start_with(dir.path(), None, |c| {
            c.auth.login_attempts_per_minute = 10_000
        })
        .await;
        let store = &main.state.store;
        // The creator first: the first sign-up becomes the creator.
        let creator = register(&main, Who::Creator.name()).await;
        let mut logins = Vec::new();
        for who in COLUMNS {
            logins.push(match who {
                Who::Anon => Login::default(),
                Who::Creator => creator.clone(),
                _ => register(&main, who.name()).await,
            });
        }
        register(&main, "target").await;
        let id = |who: Who| logins[who as usize].id.unwrap();
        for who in COLUMNS {
            let role = match who {
                Who::Anon | Who::Pending | Who::Creator => continue,
                Who::Admin => Role::Admin,
                _ => Role::User,
            };
            store.set_role(id(who), role).unwrap();
            store
                .set_profile(id(who), "A Person".into(), "a@example.com".into())
                .unwrap();
        }
        let token = store
            .create_node_token(Some(id(Who::Owner)), 600_000)
            .unwrap()
            .0;
        let mut cfg = TestNode::config(dir.path(), "n1", main.ssh);
        cfg.node.main_host_key = Some(main.fingerprint.clone());
        cfg.node.register_token = Some(vibebridge_tunnel::config::Secret::new(token));
        cfg.filesystem.roots = vec![root.clone()];
        cfg.providers.claude.enabled = false;
        cfg.providers.codex.enabled = false;
        cfg.terminal.grace_period = std::time::Duration::from_millis(100);
        let node = TestNode::start(cfg);
        main.wait_online("n1").await;
        for who in [Who::Member, Who::Disabled] {
            store.set_node_member("n1", id(who), true).unwrap();
        }
        store
            .enroll_node(
                "gone",
                "key".into(),
                "fp-gone".into(),
                Some(id(Who::Revoked)),
                None,
            )
            .unwrap();
        let own_session =
            crate::seed::session_on(&main.state.store, id(Who::Owner), "n1").to_string();
        let revoked_session =
            crate::seed::session_on(&main.state.store, id(Who::Revoked), "gone").to_string();
        store.remove_node("gone").unwrap();
        let target = store.user_by_name("target").unwrap().unwrap().id;
        store.set_role(target, Role::User).unwrap();
        let work = crate::rbac_work::WorkFx::setup(
            store,
            id(Who::Owner),
            id(Who::Member),
            id(Who::Revoked),
            target,
        );
        store.set_disabled(id(Who::Disabled), true).unwrap();
        Fx {
            _dir: dir,
            main,
            node: Some(node),
            root,
            logins,
            own_session,
            revoked_session,
            work,
        }
    }

    /// Puts back what earlier cells may have changed, so each cell starts from the same state.
    fn reset(&self, who: Who) {
        let store = &self.main.state.store;
        let target = store.user_by_name("target").unwrap().unwrap().id;
        store.set_role(target, Role::Pending).unwrap();
        store.set_node_member("n1", target, true).unwrap();
        self.work.reset(store);
        for file in ["mv", "rm"] {
            std::fs::write(self.root.join(format!("{file}-{}.txt", who.name())), "x").unwrap();
        }
    }

    /// `template` with the placeholders of the matrix filled in for `who`.
    fn fill(&self, template: &str, who: Who) -> String {
        let login = &self.logins[who as usize];
        let revoked = who == Who::Revoked;
        let mut out = template
            .replace("{node}", if revoked { "gone" } else { "n1" })
            .replace("{root}", &self.root.display().to_string())
            .replace("{who}", who.name())
            .replace("{refresh}", &login.refresh)
            .replace("{uuid}", &uuid::Uuid::now_v7().to_string())
            .replace(
                "{session}",
                if revoked {
                    &self.revoked_session
                } else {
                    &self.own_session
                },
            );
        let (username, password) = match who {
            Who::Anon => ("nobody", "wrong-password"),
            _ => (who.name(), PASSWORD),
        };
        out = out
            .replace("{username}", username)
            .replace("{password}", password);
        if out.contains("{pubkey}") {
            // A new key, proven: the challenge main would give this caller, signed by the key.
            let (key, line) = crate::ssh_key();
            let user = login.id.map(|u| u.to_string()).unwrap_or_default();
            let challenge = self
                .main
                .state
                .jwt
                .issue(
                    &user,
                    "proof",
                    vibebridge_main::auth::jwt::TokenKind::KeyProof,
                    std::time::Duration::from_secs(600),
                )
                .unwrap();
            let signature = crate::sshsig(&key, "vibebridge-key", &challenge);
            out = out
                .replace("{pubkey}", &line)
                .replace("{challenge}", &challenge)
                .replace("{signature}", &signature.replace('\n', "\\n"));
        }
        if out.contains("{key}") {
            let key = match login.id {
                Some(user) => {
                    let (line, fingerprint) = public_key();
                    let store = &self.main.state.store;
                    store
                        .add_ssh_key(user, line, fingerprint, String::new())
                        .unwrap()
                        .id
                }
                None => "0123456789ab".into(),
            };
            out = out.replace("{key}", &key);
        }
        out = self
            .work
            .fill(&self.main.state.store, &out, login.id, &self.root);
        if out.contains("{spare}") {
            let spare = if revoked {
                "gone".to_string()
            } else {
                self.spare_node(who)
            };
            out = out.replace("{spare}", &spare);
        }
        out
    }

    /// A node like `n1` (same owner and members), offline, for a request that revokes it.
    fn spare_node(&self, who: Who) -> String {
        let store = &self.main.state.store;
        let id = format!("spare-{}", who.name());
        let owner = self.logins[Who::Owner as usize].id;
        store
            .enroll_node(&id, "key".into(), format!("fp-{id}"), owner, None)
            .unwrap();
        for m in [Who::Member, Who::Disabled] {
            store
                .set_node_member(&id, self.logins[m as usize].id.unwrap(), true)
                .unwrap();
        }
        id
    }

    /// A new login of `who`'s user (the same user, another login session).
    fn fresh_token(&self, who: Who) -> Option<String> {
        let user = self.logins[who as usize].id?;
        let state = &self.main.state;
        let sid = state.store.create_auth_session(user, 600_000).unwrap();
        let ttl = std::time::Duration::from_secs(600);
        Some(
            state
                .jwt
                .issue(
                    &user.to_string(),
                    &sid,
                    vibebridge_main::auth::jwt::TokenKind::Access,
                    ttl,
                )
                .unwrap(),
        )
    }

    /// Makes `row`'s request as `who`: the status and the error body (`null` on success).
    pub async fn call(&self, row: &Row, who: Who) -> (u16, Value) {
        self.reset(who);
        let path = self.fill(row.path, who);
        let token = if row.fresh_login {
            self.fresh_token(who)
        } else {
            self.logins[who as usize].access.clone()
        };
        if row.route.ends_with("/ws") || row.route.ends_with("/terminal") {
            return self.upgrade(&path, token).await;
        }
        let mut api = Api::new(&self.main);
        api.token = token;
        let mut req = api.request(row.method.clone(), &path);
        if !row.body.is_empty() {
            let body = self.fill(row.body, who);
            req = if row.method == Method::PUT && row.route.contains("/fs/") {
                req.body(body) // file content
            } else {
                req.header("content-type", "application/json").body(body)
            };
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        if status < 400 {
            return (status, Value::Null); // not read: an event stream or download stays open
        }
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A WebSocket upgrade to `path` with `token`: 101, or the refusal's status and body.
    async fn upgrade(&self, path: &str, token: Option<String>) -> (u16, Value) {
        use tokio_tungstenite::tungstenite::Error;
        let mut api = Api::new(&self.main);
        api.token = token;
        match crate::ws_connect(&api, path, None).await {
            Ok(_) => (101, Value::Null),
            Err(Error::Http(resp)) => {
                let body = resp.body().as_deref().unwrap_or_default();
                (
                    resp.status().as_u16(),
                    serde_json::from_slice(body).unwrap_or(Value::Null),
                )
            }
            Err(e) => panic!("upgrade {path}: {e}"),
        }
    }
}

/// Signs `name` up (password [`PASSWORD`]) and keeps its tokens.
async fn register(main: &TestMain, name: &str) -> Login {
    let mut api = Api::new(main);
    let (status, body) = api.auth(true, name, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    Login {
        id: Some(UserId(
            body["user"]["id"].as_str().unwrap().parse().unwrap(),
        )),
        access: api.token,
        refresh: api.refresh.clone().unwrap(),
    }
}

/// A fresh ed25519 public key: its OpenSSH line and fingerprint.
fn public_key() -> (String, String) {
    let (key, line) = crate::ssh_key();
    (line, vibebridge_tunnel::keys::fingerprint(key.public_key()))
}

/// A git repository on branch `main` with `readme.txt` committed.
pub fn git_repo(root: &std::path::Path) {
    std::fs::write(root.join("readme.txt"), "hello\n").unwrap();
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "readme.txt"][..],
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "initial",
        ][..],
    ] {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .status()
            .expect("git is installed");
        assert!(status.success(), "git {args:?}");
    }
}

impl Fx {
    /// Stops the node and main.
    pub async fn stop(mut self) {
        self.node.take().unwrap().stop().await;
        self.main.stop().await;
    }
}

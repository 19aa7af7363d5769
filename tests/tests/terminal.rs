//! Web terminals and the directory picker through main: a real shell on a PTY on the node, relayed
//! browser WebWsSocket → main → tunnel stream → PTY; reattach with scrollback, close, the grace period,
//! authorisation per node and per starter, and clear errors for bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use vibebridge_tests::{Api, TempDir, TestMain, TestNode, WAIT, WsSocket, next_json, ws_connect};

struct Fx {
    _dir: TempDir,
    root: std::path::PathBuf,
    main: TestMain,
    node: Option<TestNode>,
    alice: Api,
}

async fn fixture(tag: &str, grace: Duration) -> Fx {
    fixture_with(tag, grace, |_| {}).await
}

async fn fixture_with(
    tag: &str,
    grace: Duration,
    tweak: impl FnOnce(&mut vibebridge_agent::NodeConfig),
) -> Fx {
    let dir = TempDir::new(tag);
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("proj/src")).unwrap();
    std::fs::create_dir_all(dir.path().join("outside")).unwrap();
    let main = TestMain::start(dir.path()).await;
    let mut alice = Api::new(&main);
    alice.auth(true, "alice", "correct horse battery").await;
    let mut cfg = TestNode::enrolling(dir.path(), "n1", &main, main.ssh);
    cfg.filesystem.roots = vec![root.clone()];
    // bash without the machine's rc files: the test must not depend on (or wait for) the user's ~/.bashrc.
    let shell = dir.path().join("shell.sh");
    std::fs::write(&shell, "#!/bin/sh\nexec /bin/bash --norc --noprofile\n").unwrap();
    std::fs::set_permissions(&shell, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    cfg.terminal.default_shell = Some(shell);
    cfg.terminal.grace_period = grace;
    cfg.terminal.scrollback_bytes = 64 * 1024;
    tweak(&mut cfg);
    let node = TestNode::start(cfg);
    main.wait_online("n1").await;
    Fx {
        _dir: dir,
        root,
        main,
        node: Some(node),
        alice,
    }
}

/// Opens a terminal WebWsSocket as `api`'s user; `Err` carries the HTTP status of a refused upgrade.
async fn open(api: &Api, node: &str, query: &str, origin: Option<&str>) -> Result<WsSocket, u16> {
    let path = format!("/api/v1/nodes/{node}/terminal?{query}");
    match ws_connect(api, &path, origin).await {
        Ok(s) => Ok(s),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("connect: {e}"),
    }
}

fn query(id: &str) -> String {
    format!("terminal_id={id}&cols=100&rows=30")
}

/// Reads output until it contains `needle`; returns everything read.
async fn read_until(ws: &mut WsSocket, needle: &str) -> String {
    let mut seen = String::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(msg) = ws.next().await {
            match msg.unwrap() {
                Message::Binary(b) => seen.push_str(&String::from_utf8_lossy(&b)),
                Message::Text(t) => seen.push_str(&format!("\n[text {t}]\n")),
                Message::Close(_) => return false,
                _ => {}
            }
            if seen.contains(needle) {
                return true;
            }
        }
        false
    })
    .await;
    assert!(
        matches!(found, Ok(true)),
        "never saw {needle:?}; got {seen:?}"
    );
    seen
}

/// Waits for bash's first prompt: keys typed before readline is up may be flushed by its terminal set-up.
async fn wait_prompt(ws: &mut WsSocket) {
    read_until(ws, "\x1b[?2004h").await;
}

async fn type_line(ws: &mut WsSocket, line: &str) {
    ws.send(Message::Binary(format!("{line}\r").into_bytes().into()))
        .await
        .unwrap();
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Polls until `pid` is gone (the shell is ended asynchronously), failing after [`WAIT`].
async fn wait_gone(pid: u32) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while alive(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "shell {pid} still alive"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn shell_pid(ws: &mut WsSocket) -> u32 {
    // The echoed command line shows `$$` and `$((40+2))`; only the shell's output has digits in both places.
    type_line(ws, "echo pid-$$-$((40+2))").await;
    let out = read_until(ws, "-42\r\n").await;
    let end = out.rfind("-42\r\n").unwrap();
    let start = out[..end].rfind("pid-").unwrap() + 4;
    out[start..end].parse().unwrap()
}

/// Proves a shell runs commands, resizes, survives its socket closing (reattach shows its recent output and the
/// same process), and ends at once when the user closes it.
#[tokio::test]
async fn terminal_runs_resizes_reattaches_and_closes() {
    let fx = fixture("term-run", Duration::from_secs(60)).await;
    let id = uuid_like();
    let mut ws = open(&fx.alice, "n1", &query(&id), None).await.unwrap();
    let hello = next_json(&mut ws).await;
    assert_eq!(
        (hello["type"].as_str(), hello["created"].as_bool()),
        (Some("attached"), Some(true)),
        "{hello}"
    );
    type_line(&mut ws, "echo vb-$((6*7))").await;
    read_until(&mut ws, "vb-42\r\n").await;
    let pid = shell_pid(&mut ws).await;
    type_line(&mut ws, "pwd").await;
    read_until(
        &mut ws,
        &std::fs::canonicalize(&fx.root)
            .unwrap()
            .display()
            .to_string(),
    )
    .await;
    ws.send(Message::Text(
        r#"{"type":"resize","cols":132,"rows":41}"#.into(),
    ))
    .await
    .unwrap();
    type_line(&mut ws, "stty size").await;
    read_until(&mut ws, "41 132").await;
    ws.close(None).await.unwrap();

    let mut again = open(&fx.alice, "n1", &query(&id), None).await.unwrap();
    let hello = next_json(&mut again).await;
    assert_eq!(hello["created"], false, "{hello}");
    read_until(&mut again, "vb-42").await; // the scrollback
    assert_eq!(
        shell_pid(&mut again).await,
        pid,
        "reattached to another shell"
    );

    again
        .send(Message::Text(r#"{"type":"close"}"#.into()))
        .await
        .unwrap();
    wait_gone(pid).await;
    // The id now starts a fresh shell.
    let mut fresh = open(&fx.alice, "n1", &query(&id), None).await.unwrap();
    assert_eq!(next_json(&mut fresh).await["created"], true);
    wait_prompt(&mut fresh).await;
    type_line(&mut fresh, "exit 3").await;
    let exit = loop {
        let f = next_json(&mut fresh).await;
        if f["type"] == "exit" {
            break f;
        }
    };
    assert_eq!(exit["code"], 3);
    // Starting a shell is audited (twice here: the first shell and the fresh one), reattaching is not.
    let (_, audit) = fx.alice.get("/api/v1/audit?limit=100").await;
    let opened: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "terminal.opened")
        .collect();
    assert_eq!(opened.len(), 2, "{audit}");
    assert_eq!(opened[0]["target"], "n1");
    fx.node.unwrap().stop().await;
    fx.main.stop().await;
}

/// Proves a terminal whose browser went away is ended after the grace period, and a reattach within it keeps it.
#[tokio::test]
async fn abandoned_terminal_ends_after_grace_period() {
    const GRACE: Duration = Duration::from_millis(1500);
    let fx = fixture("term-grace", GRACE).await;
    let id = uuid_like();
    let mut ws = open(&fx.alice, "n1", &query(&id), None).await.unwrap();
    next_json(&mut ws).await;
    wait_prompt(&mut ws).await;
    let pid = shell_pid(&mut ws).await;
    drop(ws); // no close frame, no Close: like a tab that vanished
    let first_drop = std::time::Instant::now();

    // Back straight away: the same shell, and it outlives the grace period that started at the first drop.
    let mut again = open(&fx.alice, "n1", &query(&id), None).await.unwrap();
    let hello = next_json(&mut again).await;
    assert_eq!(
        (hello["type"].as_str(), hello["created"].as_bool()),
        (Some("attached"), Some(false)),
        "{hello}"
    );
    assert!(
        first_drop.elapsed() < GRACE,
        "reattach took {:?}, not within the grace period",
        first_drop.elapsed()
    );
    assert_eq!(
        shell_pid(&mut again).await,
        pid,
        "reattached to another shell"
    );
    // Waiting out a timer, not readiness: the first grace period must not end the reattached shell.
    tokio::time::sleep(GRACE.saturating_sub(first_drop.elapsed()) + Duration::from_millis(500))
        .await;
    assert_eq!(
        shell_pid(&mut again).await,
        pid,
        "the shell ended although a browser was attached"
    );

    drop(again);
    let started = std::time::Instant::now();
    wait_gone(pid).await;
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "ended after {:?}, before the grace period",
        started.elapsed()
    );
    fx.node.unwrap().stop().await;
    fx.main.stop().await;
}

/// Proves only users allowed on the node open terminals, only the starter reattaches, foreign origins and bad
/// parameters are refused with clear errors, and bad frames are answered without ending the shell.
#[tokio::test]
async fn terminal_authorisation_and_bad_input() {
    let fx = fixture("term-auth", Duration::from_secs(60)).await;
    let mut bob = Api::new(&fx.main);
    bob.auth(true, "bob", "password456").await;
    fx.alice.post("/api/v1/users/bob/approve", json!({})).await;
    let id = uuid_like();
    assert_eq!(open(&bob, "n1", &query(&id), None).await.err(), Some(404));
    assert_eq!(
        open(&fx.alice, "nope", &query(&id), None).await.err(),
        Some(404)
    );
    assert_eq!(
        open(&fx.alice, "n1", &query(&id), Some("http://evil.example"))
            .await
            .err(),
        Some(403)
    );
    let same = format!("http://{}", fx.main.http);
    assert!(
        open(&fx.alice, "n1", &query(&uuid_like()), Some(&same))
            .await
            .is_ok()
    );
    for bad in [
        "terminal_id=../../x",
        "terminal_id=&cols=1",
        &format!("terminal_id={id}&cols=0"),
        &format!("terminal_id={id}&rows=5000"),
    ] {
        assert_eq!(
            open(&fx.alice, "n1", bad, None).await.err(),
            Some(400),
            "{bad}"
        );
    }

    let mut ws = open(&fx.alice, "n1", &query(&id), None).await.unwrap();
    next_json(&mut ws).await;
    wait_prompt(&mut ws).await;
    ws.send(Message::Text("not json".into())).await.unwrap();
    let err = next_json(&mut ws).await;
    assert_eq!(err["type"], "error");
    assert!(err["message"].as_str().unwrap().contains("resize"), "{err}");
    type_line(&mut ws, "echo still-$((1+1))").await;
    read_until(&mut ws, "still-2").await;

    // Bob, now a member of the node, may open his own terminals but not attach to alice's.
    let (code, _) = fx
        .alice
        .post("/api/v1/nodes/n1/members", json!({"username": "bob"}))
        .await;
    assert_eq!(code, 200);
    let mut theirs = open(&bob, "n1", &query(&id), None).await.unwrap();
    let refused = next_json(&mut theirs).await;
    assert_eq!(refused["type"], "error");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("another user"),
        "{refused}"
    );
    let mut own = open(&bob, "n1", &query(&uuid_like()), None).await.unwrap();
    assert_eq!(next_json(&mut own).await["created"], true);
    fx.node.unwrap().stop().await;
    fx.main.stop().await;
}

/// Proves a member removed from the node loses their open terminal at once: told why, shell ended.
#[tokio::test]
async fn removed_member_loses_open_terminal() {
    let fx = fixture("term-removed", Duration::from_secs(60)).await;
    let mut bob = Api::new(&fx.main);
    bob.auth(true, "bob", "password456").await;
    fx.alice.post("/api/v1/users/bob/approve", json!({})).await;
    let (code, body) = fx
        .alice
        .post("/api/v1/nodes/n1/members", json!({"username": "bob"}))
        .await;
    assert_eq!(code, 200, "{body}");
    let mut ws = open(&bob, "n1", &query(&uuid_like()), None).await.unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "attached");
    wait_prompt(&mut ws).await;
    let pid = shell_pid(&mut ws).await;

    assert_eq!(fx.alice.delete("/api/v1/nodes/n1/members/bob").await.0, 200);
    let seen = read_until(&mut ws, "your access to this node ended").await;
    assert!(seen.contains("\"type\":\"error\""), "{seen}");
    // Closed, not detached: the 60 s grace period does not apply.
    wait_gone(pid).await;
    fx.node.unwrap().stop().await;
    fx.main.stop().await;
}

/// Proves the directory picker lists only directories inside the node's roots, refuses paths outside them by
/// code, hides other users' nodes, and says when the node is offline.
#[tokio::test]
async fn directory_listing_stays_inside_roots() {
    let mut fx = fixture("fs-list", Duration::from_secs(60)).await;
    let (code, roots) = fx.alice.get("/api/v1/nodes/n1/fs/list").await;
    assert_eq!(code, 200, "{roots}");
    let root = std::fs::canonicalize(&fx.root)
        .unwrap()
        .display()
        .to_string();
    assert_eq!(roots["entries"][0]["path"], root.as_str());
    let (code, top) = fx
        .alice
        .get(&format!("/api/v1/nodes/n1/fs/list?path={root}"))
        .await;
    assert_eq!(code, 200, "{top}");
    assert_eq!(top["entries"].as_array().unwrap().len(), 1);
    assert_eq!(top["entries"][0]["name"], "proj");
    assert_eq!(top["parent"], Value::Null);
    let (code, err) = fx
        .alice
        .get(&format!("/api/v1/nodes/n1/fs/list?path={root}/../outside"))
        .await;
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (403, Some("path_outside_roots")),
        "{err}"
    );
    let (code, err) = fx.alice.get("/api/v1/nodes/n1/fs/list?path=relative").await;
    assert_eq!(code, 400, "{err}");
    let mut bob = Api::new(&fx.main);
    bob.auth(true, "bob", "password456").await;
    fx.alice.post("/api/v1/users/bob/approve", json!({})).await;
    assert_eq!(bob.get("/api/v1/nodes/n1/fs/list").await.0, 404);
    fx.node.take().unwrap().stop().await;
    fx.main.wait_offline("n1").await;
    let (code, err) = fx.alice.get("/api/v1/nodes/n1/fs/list").await;
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (503, Some("node_offline")),
        "{err}"
    );
    fx.main.stop().await;
}

/// Proves `execution.run_as` starts shells as that user, with its groups and no capabilities, to whom the agent's key is unreadable (needs root).
#[tokio::test]
async fn run_as_shell_cannot_read_the_agent_state() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: switching users cannot be tested here");
        return;
    }
    let fx = fixture_with("term-runas", Duration::from_secs(60), |c| {
        c.execution.run_as = Some("nobody".into());
    })
    .await;
    let key = fx._dir.path().join("node-n1").join("node_ed25519_key");
    assert!(key.exists());
    let mut ws = open(&fx.alice, "n1", &query(&uuid_like()), None)
        .await
        .unwrap();
    wait_prompt(&mut ws).await;
    type_line(&mut ws, "echo uid-$(id -u)-$((40+2))").await;
    read_until(&mut ws, "uid-65534-42").await;
    // Only the user's own groups, and no capabilities at all (none to inherit, none ambient).
    type_line(&mut ws, "echo groups-$(id -G | tr ' ' _)-$((40+2))").await;
    read_until(&mut ws, "groups-65534-42").await;
    type_line(
        &mut ws,
        "echo caps-$(grep -cE '^Cap(Inh|Prm|Eff|Amb):\\s+0+$' /proc/self/status)-$((40+2))",
    )
    .await;
    read_until(&mut ws, "caps-4-42").await;
    type_line(
        &mut ws,
        &format!(
            "cat {} >/dev/null 2>&1 || echo denied-$((40+2))",
            key.display()
        ),
    )
    .await;
    read_until(&mut ws, "denied-42").await;
    type_line(
        &mut ws,
        "echo token-${VIBEBRIDGE_REGISTER_TOKEN:-unset}-$((40+2))",
    )
    .await;
    read_until(&mut ws, "token-unset-42").await;
    drop(ws);
    fx.node.unwrap().stop().await;
    fx.main.stop().await;
}

fn uuid_like() -> String {
    let h = vibebridge_tunnel::keys::random_hex(16);
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

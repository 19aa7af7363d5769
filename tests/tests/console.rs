//! The admin console (`ssh main -p 2222`) driven with the real OpenSSH client: exec mode with `--json` for
//! every command, an interactive PTY session, and the refusals (unknown key, node key, non-admin key).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use serde_json::{Value, json};
use vibebridge_tests::console::{Pty, add_key, exec, exec_as, fixture, json_of, keypair};
use vibebridge_tests::mock::{CLI_WAIT, CliEnv, MockAnthropic, claude_bin};
use vibebridge_tests::{Api, SseReader};
use vibebridge_tunnel::keys;

/// Proves every console command works in exec mode with `--json` (parsed and checked), that errors exit
/// non-zero with a message, and that state changes are audited with the admin's name and address.
#[tokio::test]
async fn exec_mode_commands_with_json() {
    let fx = fixture("exec", |_| {}).await;
    let (main, key) = (&fx.main, fx.key.as_path());

    let status = json_of(main, key, "status").await;
    assert_eq!(
        (
            status["nodes_online"].as_u64(),
            status["nodes_total"].as_u64()
        ),
        (Some(1), Some(1)),
        "{status}"
    );
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));

    let nodes = json_of(main, key, "nodes list").await;
    assert_eq!(
        (nodes[0]["id"].as_str(), nodes[0]["online"].as_bool()),
        (Some("n1"), Some(true)),
        "{nodes}"
    );
    let node = json_of(main, key, "nodes show n1").await;
    assert!(node["fingerprint"].as_str().unwrap().starts_with("SHA256:"));

    let token = json_of(main, key, "tokens create --ttl 2h --uses 2").await;
    assert!(
        token["token"].as_str().unwrap().starts_with("vbn_"),
        "{token}"
    );
    assert!(
        token["join_command"]
            .as_str()
            .unwrap()
            .contains("--register-token")
    );
    let tokens = json_of(main, key, "tokens list").await;
    let listed = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == token["id"])
        .unwrap();
    assert_eq!(listed["uses_left"], 2);
    assert!(
        !tokens
            .to_string()
            .contains(token["token"].as_str().unwrap()),
        "a token's secret is listed"
    );
    json_of(
        main,
        key,
        &format!("tokens revoke {}", token["id"].as_str().unwrap()),
    )
    .await;
    assert!(
        json_of(main, key, "tokens list")
            .await
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["id"] != token["id"])
    );

    let mut bob = Api::new(main);
    bob.auth(true, "bob", "another long password").await;
    let users = json_of(main, key, "users list").await;
    assert_eq!(users.as_array().unwrap().len(), 2);
    assert_eq!(
        json_of(main, key, "users approve bob").await["role"],
        "user"
    );
    assert_eq!(
        json_of(main, key, "users set-role bob admin").await["role"],
        "admin"
    );
    assert_eq!(
        json_of(main, key, "users keys alice")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        json_of(main, key, "users disable bob").await["disabled"],
        true
    );
    let (status, body) = bob.get("/api/v1/nodes").await;
    assert_eq!(status, 403, "a disabled user's token still works: {body}");

    assert!(
        json_of(main, key, "sessions list")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        json_of(main, key, "approvals list")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    let help = json_of(main, key, "help").await;
    assert!(help.as_array().unwrap().len() >= 8);

    let audit = json_of(main, key, "audit tail -n 50").await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in [
        "console.login",
        "console.tokens.create",
        "console.users.approve",
        "console.users.disable",
    ] {
        assert!(actions.contains(&want), "{want} not audited: {actions:?}");
    }
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "console.users.disable")
        .unwrap();
    assert_eq!(entry["actor"], "admin:alice");
    assert!(entry["source"].as_str().unwrap().starts_with("127.0.0.1:"));

    let (code, _, err) = exec(main, key, "frobnicate").await;
    assert_eq!(code, 2);
    let (code, out, _) = exec(main, key, "nodes show nope").await;
    assert_eq!(code, 1);
    assert!(out.contains("no node \"nope\""), "{out}{err}");
    let (code, out, _) = exec(main, key, "nodes show nope --json").await;
    assert_eq!(code, 1);
    assert!(serde_json::from_str::<Value>(out.trim()).unwrap()["error"].is_string());
}

/// Proves the session and approval commands act on a real Claude session: an approval listed, allowed from
/// the console (the file is written), an interactive `sessions tail` that follows a reply live, and the
/// session shown, listed by filter and stopped.
#[tokio::test]
async fn sessions_and_approvals_from_the_console() {
    let claude = MockAnthropic::start().await;
    let env = CliEnv::new("console").with_anthropic(&claude);
    let repo = env.git_repo("ws");
    let vars: BTreeMap<String, String> = env.env().into_iter().collect();
    let root = env.path().to_path_buf();
    let fx = fixture("sessions", move |c| {
        c.filesystem.roots = vec![root];
        c.providers.claude.command = Some(claude_bin());
        c.providers.claude.env = vars;
    })
    .await;
    let (main, key) = (&fx.main, fx.key.as_path());
    let target = repo.join("from-console.txt");
    let prompt = format!(
        "Write it [[tool:Write {}]]",
        json!({"file_path": target.display().to_string(), "content": "ok\n"})
    );
    let (status, s) = fx
        .api
        .post(
            "/api/v1/sessions",
            json!({"node_id": "n1", "path": repo.display().to_string(), "provider": "claude", "prompt": prompt}),
        )
        .await;
    assert_eq!(status, 201, "{s}");
    let id = s["id"].as_str().unwrap().to_string();
    let mut sse = SseReader::open(&fx.api, &id, 0).await;
    sse.until(CLI_WAIT, |e| e["type"] == "approval_requested")
        .await;

    let pending = json_of(main, key, "approvals list").await;
    let approval = pending[0]["approval_id"].as_str().unwrap().to_string();
    assert_eq!(pending[0]["session_id"], id.as_str());
    let decided = json_of(main, key, &format!("approvals allow {approval}")).await;
    assert_eq!(decided["decision"], "allowed");
    sse.until(CLI_WAIT, |e| e["type"] == "status" && e["status"] == "idle")
        .await;
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "ok\n");

    // Interactive: `sessions tail` shows the history, then a follow-up's reply live; Ctrl-C ends it.
    let mut pty = Pty::open(main, key, "alice").await;
    pty.send(format!("sessions tail {id}\r").as_bytes()).await;
    pty.expect("(following; Ctrl-C to stop)").await;
    assert!(pty.seen.contains("status idle"), "{}", pty.seen);
    let (status, body) = fx
        .api
        .post(
            &format!("/api/v1/sessions/{id}/messages"),
            json!({"text": "More [[text:tailed live]]"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    pty.expect("assistant: tailed live").await;
    pty.send(b"\x03exit\r").await;
    let seen = pty.seen.clone();
    assert!(pty.wait().await.success(), "{seen}");
    sse.until(CLI_WAIT, |e| e["type"] == "status" && e["status"] == "idle")
        .await;

    let shown = json_of(main, key, &format!("sessions show {id}")).await;
    assert_eq!(shown["status"], "idle");
    let listed = json_of(main, key, "sessions list --node n1 --status idle").await;
    assert_eq!(listed[0]["id"], id.as_str());
    json_of(main, key, &format!("sessions stop {id}")).await;
    sse.until(CLI_WAIT, |e| {
        e["type"] == "status" && e["status"] == "stopped"
    })
    .await;
    drop(claude);
}

/// Proves the interactive console on a PTY (`ssh -tt`): prompt, completion, history, follow, key removal, exit.
#[tokio::test]
async fn interactive_console_on_a_pty() {
    let fx = fixture("pty", |_| {}).await;
    let mut pty = Pty::open(&fx.main, &fx.key, "alice").await;

    pty.send(b"nodes list\r").await;
    pty.expect("online").await;
    assert!(pty.seen.contains("n1"), "{}", pty.seen);

    // Tab completes the command and the node id.
    pty.seen.clear();
    pty.send(b"nod\t").await;
    pty.expect("nodes ").await;
    pty.send(b"sh\tn\t\r").await;
    pty.expect("fingerprint").await;

    // Up arrow recalls the last command.
    pty.seen.clear();
    pty.send(b"\x1b[A\r").await;
    pty.expect("fingerprint").await;

    // A live follow: an audit entry written elsewhere shows up; Ctrl-C returns to the prompt.
    pty.seen.clear();
    pty.send(b"audit tail -n 1 --follow\r").await;
    pty.expect("(following; Ctrl-C to stop)").await;
    fx.main.state.store.audit(
        vibebridge_main::ops::Actor::system()
            .audit(vibebridge_main::store::AuditAction::NodeTokenCreated)
            .target("test.followed"),
    );
    pty.expect("test.followed").await;
    pty.send(b"\x03").await;
    pty.expect("^C").await;
    pty.send(b"status\r").await;
    pty.expect("1 online / 1 total").await;

    // Her key removed while she is connected: the next command is refused.
    let (_, keys) = fx.api.get("/api/v1/auth/me/keys").await;
    let key_id = keys[0]["id"].as_str().unwrap().to_string();
    let removed = fx
        .api
        .delete(&format!("/api/v1/auth/me/keys/{key_id}"))
        .await;
    assert_eq!(removed.0, 200, "{}", removed.1);
    pty.send(b"status\r").await;
    pty.expect("console access has ended").await;

    pty.send(b"exit\r").await;
    let seen = pty.seen.clone();
    let status = pty.wait().await;
    assert!(status.success(), "ssh exited {status:?}; output:\n{seen}");
}

/// Proves the console refuses an unknown key, a node's key, and a non-admin user's key, that a node key
/// cannot be registered as a person's key, and that revoking a node from the console cuts its live link.
#[tokio::test]
async fn refusals_and_revocation() {
    let mut fx = fixture("refuse", |_| {}).await;
    let main = &fx.main;
    let (stranger, _) = keypair(fx.dir.path(), "stranger");
    let (code, _, err) = exec(main, &stranger, "status").await;
    assert_eq!(code, 255, "an unknown key got in: {err}");
    assert!(err.contains("Permission denied"), "{err}");

    // The key the node enrolled with: load_or_generate below must read it, not make a fresh one.
    let node_key = fx.dir.path().join("node-n1/node_ed25519_key");
    assert!(node_key.is_file(), "no node key at {}", node_key.display());
    // As admin the key is refused at authentication; as its own node id it logs in (that is how the node's
    // tunnel connects) but gets no console.
    for (user, refusal) in [
        ("admin", "Permission denied"),
        ("n1", "exec request failed"),
    ] {
        let (code, out, err) = exec_as(main, &node_key, user, "status").await;
        assert_eq!(
            code, 255,
            "a node key opened the console as {user}: {out}{err}"
        );
        assert!(err.contains(refusal), "as {user}: {err}");
        assert!(!out.contains("version"), "as {user}: {out}");
    }
    let node_public = keys::public_openssh(keys::load_or_generate(&node_key).unwrap().public_key());
    let (status, body) = add_key(&fx.api, &node_key, &node_public).await;
    assert_eq!(status, 409, "a node key became a person's key: {body}");
    let (status, _) = fx
        .api
        .post(
            "/api/v1/auth/me/keys",
            json!({"key": "ssh-ed25519 garbage"}),
        )
        .await;
    assert_eq!(status, 400);

    let mut bob = Api::new(main);
    bob.auth(true, "bob", "another long password").await;
    fx.api.post("/api/v1/users/bob/approve", json!({})).await;
    let mut bob = {
        let mut a = Api::new(main);
        a.auth(false, "bob", "another long password").await;
        a
    };
    let (bob_key, bob_public) = keypair(fx.dir.path(), "bob_key");
    let (status, body) = add_key(&bob, &bob_key, &bob_public).await;
    assert_eq!(status, 201, "{body}");
    let (code, _, err) = exec(main, &bob_key, "status").await;
    assert_eq!(code, 255, "a non-admin key opened the console: {err}");
    let (_, keys) = bob.get("/api/v1/auth/me/keys").await;
    let id = keys[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        bob.delete(&format!("/api/v1/auth/me/keys/{id}")).await.0,
        200
    );
    bob.token = None;

    let revoked = json_of(main, &fx.key, "nodes revoke n1").await;
    assert_eq!(revoked["was_online"], true);
    fx.main.wait_offline("n1").await;
    let audit = json_of(&fx.main, &fx.key, "audit tail -n 30").await;
    assert!(audit.to_string().contains("console.refused"), "{audit}");
    fx.node.take().unwrap().stop().await;
}

/// Proves `workspaces list|show` and `tasks list|show` answer from the real `ssh` client, as text and as
/// JSON, with filters and clear errors for unknown keys.
#[tokio::test]
async fn workspaces_and_tasks_from_the_console() {
    let fx = fixture("work", |_| {}).await;
    let (main, key, api) = (&fx.main, fx.key.as_path(), &fx.api);
    let (s, ws) = api
        .post(
            "/api/v1/workspaces",
            json!({"name": "Web", "key_prefix": "WEB"}),
        )
        .await;
    assert_eq!(s, 200, "{ws}");
    for (title, status) in [("Fix login", "todo"), ("Ship it", "done")] {
        let (s, _) = api
            .post(
                "/api/v1/workspaces/WEB/tasks",
                json!({"title": title, "status": status}),
            )
            .await;
        assert_eq!(s, 200);
    }
    let list = json_of(main, key, "workspaces list").await;
    assert_eq!(list[0]["key_prefix"], "WEB", "{list}");
    let show = json_of(main, key, "workspaces show web").await;
    assert_eq!(show["members"][0]["username"], "alice", "{show}");
    let todo = json_of(main, key, "tasks list --workspace WEB --status todo").await;
    let keys: Vec<&str> = todo
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["WEB-1"]);
    let task = json_of(main, key, "tasks show WEB-2").await;
    assert_eq!(
        (task["title"].as_str(), task["status"].as_str()),
        (Some("Ship it"), Some("done"))
    );
    let (code, out, _) = exec(main, key, "tasks list").await;
    assert_eq!(code, 0);
    assert!(out.contains("WEB-1") && out.contains("Fix login"), "{out}");
    let (code, out, _) = exec(main, key, "tasks show NOPE-1").await;
    assert_eq!(code, 1);
    assert!(out.contains("no task"), "{out}");
}

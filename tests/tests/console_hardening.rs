//! Console hardening with the real OpenSSH client: control characters planted in names, titles and audit
//! fields print as text, and an admin who loses access loses their running follows and completion too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;

use serde_json::{Value, json};
use vibebridge_tests::console::{Pty, exec, fixture, read_until, ssh};
use vibebridge_tests::{Api, WAIT};

/// Bytes a terminal acts on in what the console printed, other than its own line editing (`\r`, `\n`,
/// `ESC [ K` erase-to-end and `ESC [ n D` cursor-left): the planted sequences must show as text.
fn raw_controls(out: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, c) in out.char_indices() {
        if c == '\x1b' {
            let rest = &out[at + 1..];
            let own = rest.starts_with("[K")
                || rest
                    .strip_prefix('[')
                    .and_then(|r| r.split_once('D'))
                    .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !own {
                found.push(out[at..].chars().take(12).collect());
            }
        } else if c.is_control() && c != '\n' && c != '\r' {
            found.push(format!("{c:?}"));
        }
    }
    found
}

/// Proves control characters planted by an anonymous login attempt (OSC 52 clipboard write, erase-line,
/// C1 CSI, a forged line) and by a session's title reach the console only as visible text: in `audit
/// tail`, `sessions list|show`, `--json` (which keeps the exact data) and a live `audit tail --follow`.
#[tokio::test]
async fn planted_control_characters_print_as_text() {
    let fx = fixture("escape", |_| {}).await;
    let (main, key) = (&fx.main, fx.key.as_path());
    let osc52 = "\x1b]52;c;SGVsbG8=\x07";
    let erase = "\x1b[2K\x1b[1A\u{9b}2K\nFAKE";
    let anonymous = Api::new(main);
    for name in [osc52, erase] {
        let (status, body) = anonymous
            .post(
                "/api/v1/auth/login",
                json!({"username": name, "password": "whatever it is"}),
            )
            .await;
        assert_eq!(status, 401, "{body}");
    }
    let alice = main.state.store.user_by_name("alice").unwrap().unwrap();
    let id = uuid::Uuid::now_v7();
    let record = serde_json::from_value(json!({
        "id": id, "owner": alice.id, "node_id": "n1", "path": "/srv/\x1b]0;t\x07", "provider": "claude",
        "model": null, "permission_mode": null, "title": format!("fix {osc52}{erase}"), "status": "idle",
        "status_message": erase, "provider_session_id": null, "reported_model": null,
        "usage": {"input_tokens": 0, "output_tokens": 0, "cached_input_tokens": 0, "cost_usd": 0.0, "turns": 0},
        "last_seq": 0, "created_at": 0, "updated_at": 0,
    }))
    .unwrap();
    main.state.store.insert_agent_session(&record).unwrap();

    for command in [
        "audit tail -n 20".to_string(),
        "sessions list".into(),
        format!("sessions show {id}"),
    ] {
        let (code, out, err) = exec(main, key, &command).await;
        assert_eq!(code, 0, "`{command}`: {out}{err}");
        assert_eq!(
            raw_controls(&out),
            Vec::<String>::new(),
            "`{command}`: {out:?}"
        );
        assert!(
            !out.lines().any(|l| l.starts_with("FAKE")),
            "`{command}` forged a line: {out}"
        );
        assert!(
            out.contains(r"\x1b]52;c;SGVsbG8=\x07"),
            "`{command}`: {out}"
        );
    }
    let (_, out, _) = exec(main, key, "audit tail -n 20 --json").await;
    assert_eq!(raw_controls(&out), Vec::<String>::new(), "{out:?}");
    let entries: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        entries
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["target"] == erase),
        "the JSON lost the exact data: {entries}"
    );

    // Live: an attempt made while an admin follows the audit log.
    let mut pty = Pty::open(main, key, "alice").await;
    pty.send(b"audit tail -n 1 --follow\r").await;
    pty.expect("(following; Ctrl-C to stop)").await;
    let live = "\x1b]52;c;bGl2ZQ==\x07";
    let (status, _) = anonymous
        .post(
            "/api/v1/auth/login",
            json!({"username": live, "password": "whatever it is"}),
        )
        .await;
    assert_eq!(status, 401);
    pty.expect(r"\x1b]52;c;bGl2ZQ==\x07").await;
    pty.send(b"\x03exit\r").await;
    let seen = pty.seen.clone();
    assert!(pty.wait().await.success(), "{seen}");
    assert_eq!(raw_controls(&seen), Vec::<String>::new(), "{seen:?}");
}

/// Proves an admin who loses the console while connected (key removed) loses running follows within the
/// recheck interval, told why (exec mode exits 1), and that Tab stops completing node ids.
#[tokio::test]
async fn lost_access_ends_follows_and_completion() {
    let fx = fixture("lost", |_| {}).await;
    // Stdin kept open: its end is how exec mode sees Ctrl-C.
    let mut exec_follow = ssh(&fx.main, &fx.key, "admin")
        .arg("audit tail -n 1 --follow")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let _exec_in = exec_follow.stdin.take().unwrap();
    let mut exec_out = exec_follow.stdout.take().unwrap();
    let mut exec_seen = String::new();
    read_until(&mut exec_out, &mut exec_seen, "\n").await;

    let mut pty = Pty::open(&fx.main, &fx.key, "alice").await;
    pty.send(b"audit tail -n 1 --follow\r").await;
    pty.expect("(following; Ctrl-C to stop)").await;

    let (_, keys) = fx.api.get("/api/v1/auth/me/keys").await;
    let key_id = keys[0]["id"].as_str().unwrap().to_string();
    let (status, body) = fx
        .api
        .delete(&format!("/api/v1/auth/me/keys/{key_id}"))
        .await;
    assert_eq!(status, 200, "{body}");
    pty.expect("console access has ended").await;
    read_until(&mut exec_out, &mut exec_seen, "console access has ended").await;
    let code = tokio::time::timeout(WAIT, exec_follow.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code.code(), Some(1), "{exec_seen}");

    pty.seen.clear();
    pty.send(b"nodes show n\t\r").await;
    pty.expect("console access has ended").await;
    assert!(
        !pty.seen.contains("nodes show n1"),
        "Tab completed a node id: {:?}",
        pty.seen
    );
    pty.send(b"exit\r").await;
    pty.wait().await;
}

//! A stalled `audit tail --follow` (the real OpenSSH client, its output never read) neither blocks audit
//! writes nor freezes main: logins, which are audited, still answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;

use tokio::io::AsyncReadExt;
use vibebridge_main::ops::Actor;
use vibebridge_main::store::AuditAction;
use vibebridge_tests::console::{add_key, keypair, ssh};
use vibebridge_tests::{Api, TempDir, TestMain, WAIT};

/// Proves that while an admin's `audit tail --follow` stops reading, thousands of audit writes (far more
/// than the SSH window, the pipe and the feed hold) still complete, and a login still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_audit_follower_blocks_nothing() {
    let dir = TempDir::new("audit-follow-stall");
    let main = TestMain::start(dir.path()).await;
    let mut api = Api::new(&main);
    api.auth(true, "alice", "correct horse battery").await;
    let (key_path, public) = keypair(dir.path(), "alice_key");
    let (status, body) = add_key(&api, &key_path, &public).await;
    assert_eq!(status, 201, "{body}");

    let mut ssh = ssh(&main, &key_path, "admin")
        .arg("audit tail -n 1 --follow")
        // stdin stays open: its end (EOF) ends a follow.
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ssh could not start (is openssh-client installed?)");
    let mut out = ssh.stdout.take().unwrap();
    let stdin = ssh.stdin.take().unwrap();
    // Wait until the follow is live: a marker written now shows up in its output.
    let mut seen = String::new();
    tokio::time::timeout(WAIT, async {
        while !seen.contains("test.ready") {
            main.state.store.audit(
                Actor::system()
                    .audit(AuditAction::NodeTokenCreated)
                    .target("test.ready"),
            );
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout(std::time::Duration::from_millis(100), out.read(&mut buf))
                .await
                .unwrap_or(Ok(0))
                .unwrap();
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the follow did not start; it printed {seen:?}"));

    // From here on nobody reads `out`: 20,000 entries of 2 KiB are 40 MiB of output.
    let store = main.state.store.clone();
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let detail = "d".repeat(2048);
        for _ in 0..20_000 {
            store.audit(
                Actor::system()
                    .audit(AuditAction::NodeTokenCreated)
                    .target("test.flood")
                    .detail(detail.clone()),
            );
        }
        let _ = done_tx.send(());
    });
    let written = tokio::task::spawn_blocking(move || done.recv_timeout(WAIT).is_ok())
        .await
        .unwrap();
    assert!(written, "audit writes blocked behind a stalled follower");
    let mut again = Api::new(&main);
    let login = tokio::time::timeout(WAIT, again.auth(false, "alice", "correct horse battery"))
        .await
        .expect("login froze");
    assert_eq!(login.0, 200, "{}", login.1);
    drop((out, stdin));
    let _ = ssh.kill().await;
    main.stop().await;
}

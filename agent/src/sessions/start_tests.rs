//! Tests of starting a session: a start outlives main's stream, and an attach waits for a start under way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use vibebridge_tunnel::session::{EventBody, Provider, StartSession};

use super::*;
use crate::runs::tests::{spec, worktree_mode};

/// Runs git in `dir`, isolated from the machine's configuration; panics unless it succeeds.
fn git(dir: &Path, home: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// A start whose caller (main's stream) goes away while the run's work tree is being prepared still
/// prepares it, stores the session and sends its first message; an attach that came meanwhile would find it.
#[tokio::test]
async fn a_start_runs_to_its_end_when_mains_stream_goes_away() {
    let base = std::env::temp_dir().join(format!("vb-start-{}", Uuid::now_v7()));
    let (repo, home) = (base.join("repo"), base.join("home"));
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let base = std::fs::canonicalize(&base).unwrap();
    let repo = base.join("repo");
    git(&repo, &home, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("a.txt"), "one\n").unwrap();
    git(&repo, &home, &["add", "-A"]);
    git(&repo, &home, &["commit", "-q", "-m", "initial"]);
    // A CLI that reads its input and says nothing: the start only needs it running.
    let cli = base.join("claude");
    std::fs::write(&cli, "#!/bin/sh\nexec cat >/dev/null\n").unwrap();
    std::fs::set_permissions(&cli, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut config = NodeConfig::default();
    config.database.path = base.join("state");
    config.filesystem.roots = vec![base.clone()];
    config.worktrees.root = Some(base.join("worktrees"));
    config.providers.claude.command = Some(cli);
    let shutdown = CancellationToken::new();
    let sessions = Sessions::open(Arc::new(config), shutdown.clone()).unwrap();

    let id = Uuid::now_v7();
    let req = StartSession {
        session_id: id.into(),
        path: repo.display().to_string(),
        provider: Provider::Claude,
        model: None,
        permission_mode: None,
        prompt: "hello".into(),
        run: Some(Box::new(spec(&repo, worktree_mode(false)))),
    };
    let caller = tokio::spawn({
        let sessions = sessions.clone();
        async move { sessions.start(req).await }
    });
    // On this one-thread runtime the caller's first poll hands the start over and waits for it; then main's
    // stream goes away, as when the link drops mid-preparation.
    while !lock(&sessions.inner.starting).contains(&id) {
        tokio::task::yield_now().await;
    }
    caller.abort();
    sessions.wait_started(id).await;

    let meta = sessions.inner.store.meta(&id).unwrap();
    let meta = meta.expect("the session is stored although its caller went away");
    let run = meta.run.expect("with its run");
    assert!(
        Path::new(&run.prepared.path).join("a.txt").exists(),
        "the run's work tree is prepared"
    );
    // The start answers once the first message is stored, after the CLI was spawned (which may have ended
    // since: this one says nothing).
    let events = sessions
        .log_for(id)
        .unwrap()
        .unwrap()
        .events_after(0, 16)
        .unwrap();
    assert!(
        matches!(
            events.first().map(|e| &e.body),
            Some(EventBody::RunPrepared(_))
        ),
        "the run's preparation is in its log: {events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.body, EventBody::UserMessage { text } if text == "hello")),
        "and its first message: {events:?}"
    );
    sessions.shutdown().await;
    let _ = std::fs::remove_dir_all(&base);
}

/// What an attach waits on: a session being started is waited for until its start ends, however it ends.
#[tokio::test]
async fn an_attach_waits_for_a_start_under_way() {
    let base = std::env::temp_dir().join(format!("vb-start-wait-{}", Uuid::now_v7()));
    let mut config = NodeConfig::default();
    config.database.path = base.join("state");
    let sessions = Sessions::open(Arc::new(config), CancellationToken::new()).unwrap();
    let id = Uuid::now_v7();
    lock(&sessions.inner.starting).insert(id);
    let starting = Starting {
        inner: sessions.inner.clone(),
        id,
    };
    let waiter = tokio::spawn({
        let sessions = sessions.clone();
        async move { sessions.wait_started(id).await }
    });
    // On this one-thread runtime the waiter has run to its wait once these yields return.
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    assert!(
        !waiter.is_finished(),
        "the attach waits while the session is being started"
    );
    drop(starting);
    waiter.await.unwrap();
    assert!(!lock(&sessions.inner.starting).contains(&id));
    sessions.shutdown().await;
    let _ = std::fs::remove_dir_all(&base);
}

//! The tunnel end to end: enrolment, key auth, refusals, revocation, pins, versions, restarts, half-open
//! and killed links, stream limits and stream integrity, with main and agents in-process over real SSH on
//! 127.0.0.1:0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vibebridge_agent::LinkState;
use vibebridge_main::registry::OpenError;
use vibebridge_tests::proxy::Proxy;
use vibebridge_tests::{Api, TempDir, TestMain, TestNode, WAIT};
use vibebridge_tunnel::client::{self, Dial, HostKeyPolicy};
use vibebridge_tunnel::mux::MuxError;
use vibebridge_tunnel::protocol::Open;

/// Proves a node enrols with a token once, then reconnects with its key alone, and the audit log records it.
#[tokio::test]
async fn enrol_with_token_then_reconnect_by_key() {
    let dir = TempDir::new("enrol");
    let main = TestMain::start(dir.path()).await;
    let node = TestNode::start_for(dir.path(), "n1", &main, Some(main.token()));
    node.wait(LinkState::Connected).await;
    main.wait_online("n1").await;
    node.stop().await;
    main.wait_offline("n1").await;

    let node = TestNode::start_for(dir.path(), "n1", &main, None);
    node.wait(LinkState::Connected).await;
    main.wait_online("n1").await;
    let actions = main.audit_actions("n1");
    assert_eq!(
        actions.iter().filter(|a| *a == "node.enrolled").count(),
        1,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "node.connected").count(),
        2,
        "{actions:?}"
    );
    assert!(
        actions.contains(&"node.disconnected".to_string()),
        "{actions:?}"
    );
    node.stop().await;
    main.stop().await;
}

/// Proves a wrong token and an unknown key without a token are both refused, with errors saying what to do.
#[tokio::test]
async fn wrong_token_and_unknown_key_are_refused() {
    let dir = TempDir::new("refuse");
    let main = TestMain::start(dir.path()).await;
    let bad = TestNode::start_for(
        dir.path(),
        "bad",
        &main,
        Some("vbn_not-a-real-token".into()),
    );
    let status = bad.wait(LinkState::AuthFailed).await;
    assert!(
        status
            .last_error
            .unwrap()
            .contains("refused the register token")
    );
    let unknown = TestNode::start_for(dir.path(), "unknown", &main, None);
    let status = unknown.wait(LinkState::AuthFailed).await;
    assert!(
        status
            .last_error
            .unwrap()
            .contains("does not know this node's key")
    );
    assert!(
        main.state.registry.get("bad").is_none() && main.state.registry.get("unknown").is_none()
    );
    assert!(main.state.store.node("bad").unwrap().is_none());
    bad.stop().await;
    unknown.stop().await;
    main.stop().await;
}

/// Proves a one-time token enrols one node, config tokens several, and a taken id spends no token.
#[tokio::test]
async fn one_time_token_is_single_use_and_config_tokens_are_not() {
    let dir = TempDir::new("tokens");
    let main = TestMain::start_with(dir.path(), None, |c| {
        c.main.node_register_tokens = vec![vibebridge_tunnel::config::Secret::new(
            "config-token-0123456789",
        )];
    })
    .await;
    let token = main.token();
    let a = TestNode::start_for(dir.path(), "a", &main, Some(token.clone()));
    a.wait(LinkState::Connected).await;
    let b = TestNode::start_for(dir.path(), "b", &main, Some(token));
    b.wait(LinkState::AuthFailed).await;
    let c = TestNode::start_for(
        dir.path(),
        "c",
        &main,
        Some("config-token-0123456789".into()),
    );
    let d = TestNode::start_for(
        dir.path(),
        "d",
        &main,
        Some("config-token-0123456789".into()),
    );
    c.wait(LinkState::Connected).await;
    d.wait(LinkState::Connected).await;
    // Id "a" again from a reinstalled machine (a fresh key): refused, and its token is not spent.
    let fresh = main.token();
    let unused = main.state.store.node_tokens().unwrap().len();
    let again = TestNode::start_for(&dir.path().join("reinstalled"), "a", &main, Some(fresh));
    let status = again.wait(LinkState::AuthFailed).await;
    assert!(
        status
            .last_error
            .unwrap()
            .contains("already enrolled with another key"),
        "the node's message names the likely cause"
    );
    assert_eq!(main.state.store.node_tokens().unwrap().len(), unused);
    for n in [a, b, c, d, again] {
        n.stop().await;
    }
    main.stop().await;
}

/// Proves revoking a node through the API cuts its live link at once and refuses it afterwards.
#[tokio::test]
async fn revoked_node_is_cut_off_and_refused() {
    let dir = TempDir::new("revoke");
    let main = TestMain::start(dir.path()).await;
    let mut api = Api::new(&main);
    api.auth(true, "alice", "password123").await;
    let node = TestNode::start_for(dir.path(), "n1", &main, Some(main.token()));
    node.wait(LinkState::Connected).await;
    main.wait_online("n1").await;

    let (status, body) = api.delete("/api/v1/nodes/n1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["was_online"], true);
    main.wait_offline("n1").await;
    let status = node.wait(LinkState::AuthFailed).await;
    // The node still holds its (used) token, so main refuses that rather than the unknown key.
    let err = status.last_error.unwrap();
    assert!(
        err.contains("refused the register token") || err.contains("does not know this node's key"),
        "{err}"
    );
    assert!(main.state.registry.get("n1").is_none());
    assert!(
        main.audit_actions("n1")
            .contains(&"node.revoked".to_string())
    );
    node.stop().await;
    main.stop().await;
}

/// Proves a node refuses a main whose host key differs from its pin, and never authenticates to it.
#[tokio::test]
async fn node_refuses_main_with_unpinned_host_key() {
    let dir = TempDir::new("pin");
    let main = TestMain::start(dir.path()).await;
    let mut cfg = TestNode::config(dir.path(), "n1", main.ssh);
    cfg.node.main_host_key = Some("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into());
    cfg.node.register_token = Some(vibebridge_tunnel::config::Secret::new(main.token()));
    let node = TestNode::start(cfg);
    let status = node.wait(LinkState::HostKeyMismatch).await;
    let err = status.last_error.unwrap();
    assert!(
        err.contains(&main.fingerprint) && err.contains("node.main_host_key"),
        "{err}"
    );
    assert!(
        main.state.store.node("n1").unwrap().is_none(),
        "node must not enrol with a wrong main"
    );
    node.stop().await;
    main.stop().await;
}

/// Proves trust-on-first-use keeps main's key, and a different main on the same address is refused after.
#[tokio::test]
async fn tofu_refuses_a_changed_main_key() {
    let dir = TempDir::new("tofu");
    let main = TestMain::start(dir.path()).await;
    let mut cfg = TestNode::config(dir.path(), "n1", main.ssh);
    cfg.node.register_token = Some(vibebridge_tunnel::config::Secret::new(main.token()));
    let node = TestNode::start(cfg.clone());
    node.wait(LinkState::Connected).await;
    node.stop().await;
    let ssh = main.ssh;
    main.stop().await;

    let other_dir = TempDir::new("tofu-other");
    let impostor = TestMain::start_with(other_dir.path(), Some(ssh), |_| {}).await;
    cfg.node.register_token = Some(vibebridge_tunnel::config::Secret::new(impostor.token()));
    let node = TestNode::start(cfg);
    let status = node.wait(LinkState::HostKeyMismatch).await;
    assert!(status.last_error.unwrap().contains("trusted on first use"));
    node.stop().await;
    impostor.stop().await;
}

/// Proves a node comes back online by itself after main restarts on the same address.
#[tokio::test]
async fn main_restart_brings_node_back() {
    let dir = TempDir::new("restart");
    let main = TestMain::start(dir.path()).await;
    let node = TestNode::start_for(dir.path(), "n1", &main, Some(main.token()));
    node.wait(LinkState::Connected).await;
    let ssh = main.ssh;
    main.stop().await;
    node.wait_not(LinkState::Connected).await;
    let main = TestMain::start_with(dir.path(), Some(ssh), |_| {}).await;
    main.wait_online("n1").await;
    node.wait(LinkState::Connected).await;
    node.stop().await;
    main.stop().await;
}

/// Proves a half-open link (sockets open, no bytes through) is detected on both ends; the node re-registers.
#[tokio::test]
async fn half_open_link_is_detected_and_node_reregisters() {
    let dir = TempDir::new("halfopen");
    let main = TestMain::start(dir.path()).await;
    let proxy = Proxy::start(main.ssh).await;
    let cfg = TestNode::enrolling(dir.path(), "n1", &main, proxy.addr);
    let node = TestNode::start(cfg);
    node.wait(LinkState::Connected).await;
    let first = main.wait_online("n1").await;

    proxy.freeze_existing();
    let status = node.wait_not(LinkState::Connected).await;
    let err = status.last_error.clone().unwrap_or_default();
    assert!(err.contains("no answer from main"), "{status:?}");
    let second = main.wait_link("n1", |g| g != first).await;
    assert!(second > first);
    node.wait(LinkState::Connected).await;
    assert!(proxy.accepted.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    node.stop().await;
    main.stop().await;
}

/// Deterministic bytes for stream `i` (xorshift), so both ends can check without storing copies.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Proves 64 concurrent streams each carry 8 MiB through the tunnel and back byte-exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_streams_of_8_mib_are_byte_exact() {
    let dir = TempDir::new("streams");
    // Production liveness intervals: this test is about integrity under load, not dead-link detection,
    // and 200 ms heartbeats can starve on a 2-core machine running the whole suite.
    let main = TestMain::start_with(dir.path(), None, |c| {
        c.tunnel = vibebridge_tunnel::TunnelConfig::default()
    })
    .await;
    let mut cfg = TestNode::enrolling(dir.path(), "n1", &main, main.ssh);
    cfg.tunnel = vibebridge_tunnel::TunnelConfig::default();
    let node = TestNode::start(cfg);
    main.wait_online("n1").await;
    const LEN: usize = 8 * 1024 * 1024;
    let streams: u64 = std::env::var("VB_STREAMS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let mut tasks = Vec::new();
    for i in 0..streams {
        let registry = main.state.registry.clone();
        tasks.push(tokio::spawn(async move {
            let stream = registry.open("n1", &Open::Echo).await.unwrap();
            let (mut rd, mut wr) = tokio::io::split(stream);
            let data = pattern(i, LEN);
            let writer = tokio::spawn(async move {
                for chunk in data.chunks(256 * 1024) {
                    wr.write_all(chunk).await.unwrap();
                }
                wr.shutdown().await.unwrap();
            });
            let mut got = Vec::with_capacity(LEN);
            rd.read_to_end(&mut got).await.unwrap();
            writer.await.unwrap();
            assert_eq!(got.len(), LEN, "stream {i} length");
            assert!(got == pattern(i, LEN), "stream {i} bytes differ");
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(180), t)
            .await
            .expect("streams stalled")
            .unwrap();
    }
    node.stop().await;
    main.stop().await;
}

/// Proves a stream whose reader stalls (its echo backs up) does not stall another stream on the same link.
#[tokio::test]
async fn stalled_reader_does_not_stall_other_streams() {
    let dir = TempDir::new("stall");
    let main = TestMain::start(dir.path()).await;
    let node = TestNode::start_for(dir.path(), "n1", &main, Some(main.token()));
    main.wait_online("n1").await;

    // Never read the echo: the node's writes back block, then ours do.
    let stalled = main.state.registry.open("n1", &Open::Echo).await.unwrap();
    let (_stalled_rd, mut stalled_wr) = tokio::io::split(stalled);
    let (progress_tx, mut progress) = tokio::sync::watch::channel(0usize);
    let blocked = tokio::spawn(async move {
        let chunk = vec![1u8; 64 * 1024];
        let mut sent = 0usize;
        while stalled_wr.write_all(&chunk).await.is_ok() {
            sent += chunk.len();
            progress_tx.send_replace(sent);
        }
    });
    // Past one 256 KiB stream window, so the node's echo is backed up too.
    tokio::time::timeout(WAIT, progress.wait_for(|sent| *sent >= 384 * 1024))
        .await
        .unwrap()
        .unwrap();

    let live = main.state.registry.open("n1", &Open::Echo).await.unwrap();
    let (mut rd, mut wr) = tokio::io::split(live);
    let data = pattern(7, 4 * 1024 * 1024);
    let expect = data.clone();
    let w = tokio::spawn(async move {
        wr.write_all(&data).await.unwrap();
        wr.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, rd.read_to_end(&mut got))
        .await
        .expect("live stream stalled")
        .unwrap();
    w.await.unwrap();
    assert!(got == expect);
    assert!(
        !blocked.is_finished(),
        "the stalled stream should still be blocked"
    );
    blocked.abort();
    node.stop().await;
    main.stop().await;
}

/// Proves the agent's local health endpoint reports the link state and node id.
#[tokio::test]
async fn agent_health_reports_link_state() {
    let dir = TempDir::new("health");
    let main = TestMain::start(dir.path()).await;
    let cfg = TestNode::enrolling(dir.path(), "n1", &main, main.ssh);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let agent = vibebridge_agent::Agent::start(cfg, Some(listener), shutdown.clone()).unwrap();
    let mut status = agent.status();
    vibebridge_agent::link::wait_for(&mut status, LinkState::Connected, WAIT)
        .await
        .unwrap();
    let health: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["main"], "connected");
    assert_eq!(health["node_id"], "n1");
    shutdown.cancel();
    agent.join().await;
    main.stop().await;
}

/// Main-side echo streams kept busy in both directions: one writer and one reader task per stream.
struct Load {
    writers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    readers: Vec<tokio::task::JoinHandle<std::io::Result<u64>>>,
}

impl Load {
    /// Opens `n` echo streams to `node` and returns once every one has echoed at least 256 KiB.
    async fn start(main: &TestMain, node: &str, n: usize) -> Load {
        let (flowing_tx, mut flowing) = tokio::sync::mpsc::channel(n);
        let mut load = Load {
            writers: Vec::new(),
            readers: Vec::new(),
        };
        for i in 0..n {
            let stream = main.state.registry.open(node, &Open::Echo).await.unwrap();
            let (mut rd, mut wr) = tokio::io::split(stream);
            load.writers.push(tokio::spawn(async move {
                let chunk = pattern(i as u64, 32 * 1024);
                loop {
                    wr.write_all(&chunk).await?;
                }
            }));
            let flowing = flowing_tx.clone();
            load.readers.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut total = 0u64;
                let mut told = false;
                loop {
                    let n = rd.read(&mut buf).await?;
                    if n == 0 {
                        return Ok(total);
                    }
                    total += n as u64;
                    if !told && total >= 256 * 1024 {
                        told = true;
                        let _ = flowing.send(()).await;
                    }
                }
            }));
        }
        for _ in 0..n {
            flowing.recv().await.unwrap();
        }
        load
    }

    /// Asserts every writer and reader ends, and with an error: a clean end-of-file would hide the loss.
    async fn assert_all_fail(self) {
        for (i, w) in self.writers.into_iter().enumerate() {
            let end = tokio::time::timeout(WAIT, w)
                .await
                .unwrap_or_else(|_| panic!("writer {i} hung after the link died"))
                .unwrap();
            assert!(end.is_err(), "writer {i} ended without an error");
        }
        for (i, r) in self.readers.into_iter().enumerate() {
            let end = tokio::time::timeout(WAIT, r)
                .await
                .unwrap_or_else(|_| panic!("reader {i} hung after the link died"))
                .unwrap();
            match end {
                Ok(bytes) => panic!("reader {i} saw a clean end-of-file after {bytes} bytes"),
                Err(e) => assert!(
                    e.to_string().contains("tunnel link lost"),
                    "reader {i}: {e}"
                ),
            }
        }
    }
}

/// Runs 16 busy streams through a proxy, kills the link with `kill`, and checks every stream fails, main
/// drops the old link, and the node comes back on a new connection that carries streams again.
async fn link_killed_under_load(tag: &str, kill: impl FnOnce(&Proxy)) {
    let dir = TempDir::new(tag);
    let main = TestMain::start(dir.path()).await;
    let proxy = Proxy::start(main.ssh).await;
    let cfg = TestNode::enrolling(dir.path(), "n1", &main, proxy.addr);
    let node = TestNode::start(cfg);
    node.wait(LinkState::Connected).await;
    let first = main.wait_online("n1").await;

    let load = Load::start(&main, "n1", 16).await;
    kill(&proxy);
    load.assert_all_fail().await;

    let second = main.wait_link("n1", |g| g != first).await;
    assert!(second > first);
    node.wait(LinkState::Connected).await;
    let mut stream = main.state.registry.open("n1", &Open::Echo).await.unwrap();
    stream.write_all(b"back").await.unwrap();
    let mut back = [0u8; 4];
    tokio::time::timeout(WAIT, stream.read_exact(&mut back))
        .await
        .expect("no echo on the new link")
        .unwrap();
    assert_eq!(&back, b"back");
    assert!(proxy.accepted.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    node.stop().await;
    main.stop().await;
}

/// Proves that when the TCP connection under a busy link is cut, every one of 16 transferring streams ends
/// with an error instead of hanging or ending cleanly, and the node reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_link_under_load_fails_every_stream_and_node_reconnects() {
    link_killed_under_load("cut", Proxy::cut_existing).await;
}

/// Proves that when a busy link freezes (sockets open, no bytes), every one of 16 transferring streams ends
/// with an error once the link is declared dead, instead of hanging, and the node reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_link_under_load_fails_every_stream_and_node_reconnects() {
    link_killed_under_load("freeze", Proxy::freeze_existing).await;
}

/// Proves opening more streams than `tunnel.max_streams` fails with an error naming the limit, while the
/// link stays up (same registration, streams keep working) and a closed stream frees its slot.
#[tokio::test]
async fn stream_limit_fails_cleanly_and_link_stays_up() {
    let dir = TempDir::new("limit");
    let main = TestMain::start_with(dir.path(), None, |c| c.tunnel.max_streams = 4).await;
    let node = TestNode::start_for(dir.path(), "n1", &main, Some(main.token()));
    node.wait(LinkState::Connected).await;
    let generation = main.wait_online("n1").await;

    // The node's control stream is one of the four.
    let mut open = Vec::new();
    let err = loop {
        match main.state.registry.open("n1", &Open::Echo).await {
            Ok(s) => open.push(s),
            Err(e) => break e,
        }
        assert!(open.len() <= 4, "the limit was not enforced");
    };
    assert_eq!(open.len(), 3);
    assert!(
        matches!(
            err,
            OpenError::Mux {
                source: MuxError::StreamLimit(4),
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("limit of 4") && msg.contains("tunnel.max_streams"),
        "{msg}"
    );

    for s in &mut open {
        s.write_all(b"alive").await.unwrap();
        let mut back = [0u8; 5];
        tokio::time::timeout(WAIT, s.read_exact(&mut back))
            .await
            .expect("a stream within the limit stopped echoing")
            .unwrap();
        assert_eq!(&back, b"alive");
    }
    let mut done = open.pop().unwrap();
    done.shutdown().await.unwrap();
    tokio::time::timeout(WAIT, done.read_to_end(&mut Vec::new()))
        .await
        .expect("the closed stream never ended")
        .unwrap();
    drop(done);
    let mut again = main.state.registry.open("n1", &Open::Echo).await.unwrap();
    again.write_all(b"x").await.unwrap();
    tokio::time::timeout(WAIT, again.read_exact(&mut [0u8; 1]))
        .await
        .expect("the freed slot's stream does not echo")
        .unwrap();

    assert_eq!(
        main.state.registry.get("n1").unwrap().generation,
        generation
    );
    assert_eq!(node.wait(LinkState::Connected).await.last_error, None);
    let connects = main
        .audit_actions("n1")
        .iter()
        .filter(|a| *a == "node.connected")
        .count();
    assert_eq!(connects, 1, "the link must not have dropped");
    node.stop().await;
    main.stop().await;
}

/// Proves real authentication failures (a wrong token, a key bound to another node id) still take the
/// constant rejection time, now that russh no longer delays the token step of enrolment.
#[tokio::test]
async fn real_auth_failures_keep_the_constant_rejection_time() {
    let dir = TempDir::new("rejection");
    let main = TestMain::start(dir.path()).await;
    let key = std::sync::Arc::new(
        vibebridge_tunnel::keys::load_or_generate(&dir.path().join("k")).unwrap(),
    );
    let mut dial = Dial {
        addr: main.ssh.to_string(),
        node_id: "a".into(),
        key,
        register_token: Some("vbn_wrong".into()),
        host_key: HostKeyPolicy::Pinned(main.fingerprint.clone()),
        tunnel: vibebridge_tests::fast_tunnel(),
    };
    let started = Instant::now();
    let Err(err) = client::connect(&dial).await else {
        panic!("a wrong token was accepted")
    };
    assert!(
        matches!(err, client::ConnectError::TokenRejected { .. }),
        "{err}"
    );
    assert!(started.elapsed() >= vibebridge_tunnel::ssh::AUTH_REJECTION_TIME);

    dial.register_token = Some(main.token());
    client::connect(&dial)
        .await
        .unwrap()
        .session
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await
        .unwrap();
    dial.node_id = "b".into();
    let started = Instant::now();
    let Err(err) = client::connect(&dial).await else {
        panic!("a key bound to node a was accepted as node b")
    };
    assert!(
        matches!(err, client::ConnectError::NotEnrolled { .. }),
        "{err}"
    );
    assert!(started.elapsed() >= vibebridge_tunnel::ssh::AUTH_REJECTION_TIME);
    main.stop().await;
}

/// Proves a node configured to heartbeat less often than main's dead_after allows (15 s against 1.2 s) follows
/// main's interval from the welcome, so its link outlives several of main's dead_after periods.
#[tokio::test]
async fn node_heartbeats_as_often_as_main_expects() {
    let dir = TempDir::new("heartbeat");
    let main = TestMain::start(dir.path()).await;
    let mut cfg = TestNode::enrolling(dir.path(), "n1", &main, main.ssh);
    cfg.tunnel = vibebridge_tunnel::TunnelConfig::default();
    let dead_after = vibebridge_tests::fast_tunnel().dead_after;
    assert!(cfg.tunnel.heartbeat_interval > dead_after);
    let node = TestNode::start(cfg);
    node.wait(LinkState::Connected).await;
    main.wait_online("n1").await;
    let link = main.state.registry.get("n1").unwrap();
    let first_beat = link.last_heartbeat();
    let survived = tokio::time::timeout(dead_after * 3, link.mux.closed())
        .await
        .is_err();
    assert!(
        survived,
        "main dropped the link: {:?}",
        main.audit_actions("n1")
    );
    assert!(
        link.last_heartbeat() > first_beat,
        "no heartbeat reached main"
    );
    node.stop().await;
    main.stop().await;
}

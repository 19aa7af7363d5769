//! Who may hold a node's link, end to end over real SSH on 127.0.0.1:0: a revocation between
//! authentication and hello, a second live link with a copied key, a hello of another protocol version,
//! and sockets that never authenticate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tokio::io::AsyncReadExt;
use vibebridge_agent::LinkState;
use vibebridge_tests::{Api, TempDir, TestMain, TestNode, WAIT};
use vibebridge_tunnel::client::{self, Dial, HostKeyPolicy};
use vibebridge_tunnel::frame::{read_frame, write_frame};
use vibebridge_tunnel::mux::{self, Mode};
use vibebridge_tunnel::protocol::{ControlFrame, Hello, Open, PROTOCOL_VERSION};

/// A hello for `id`, at this protocol version.
fn hello(id: &str) -> Hello {
    Hello {
        protocol_version: PROTOCOL_VERSION,
        node_id: id.into(),
        name: id.into(),
        hostname: "h".into(),
        os: "linux/x86_64".into(),
        labels: vec![],
        capabilities: vec![],
        providers: vec![],
        agent_version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// A node's link made by hand: authenticated as `id` with the key in `key_file` (enrolling with `token`)
/// and the tunnel's control stream open, before any hello. The receiver keeps inbound streams alive.
async fn raw_link(
    main: &TestMain,
    id: &str,
    key_file: &std::path::Path,
    token: Option<String>,
) -> (
    mux::MuxHandle,
    tokio::sync::mpsc::Receiver<mux::TunnelStream>,
    mux::TunnelStream,
) {
    let key = vibebridge_tunnel::keys::load_or_generate(key_file).unwrap();
    let dial = Dial {
        addr: main.ssh.to_string(),
        node_id: id.into(),
        key: std::sync::Arc::new(key),
        register_token: token,
        host_key: HostKeyPolicy::Pinned(main.fingerprint.clone()),
        tunnel: vibebridge_tests::fast_tunnel(),
    };
    let conn = client::connect(&dial).await.unwrap();
    let (mux, inbound) = mux::spawn(conn.io, Mode::Client, &dial.tunnel);
    let control = mux.open(&Open::Control).await.unwrap();
    (mux, inbound, control)
}

/// Proves a revocation made after a node authenticated but before its hello wins: the hello is never welcomed.
#[tokio::test]
async fn revocation_between_auth_and_hello_wins() {
    let dir = TempDir::new("revoke-race");
    let main = TestMain::start(dir.path()).await;
    let mut api = Api::new(&main);
    api.auth(true, "alice", "password123").await;
    // Authenticated (enrolled) and the tunnel subsystem open, but no hello yet.
    let (mux, _inbound, mut control) =
        raw_link(&main, "n1", &dir.path().join("k"), Some(main.token())).await;

    let (status, body) = api.delete("/api/v1/nodes/n1").await;
    assert_eq!(status, 200, "{body}");
    let _ = write_frame(&mut control, &ControlFrame::Hello(hello("n1")), 1 << 20).await;
    let reply = tokio::time::timeout(WAIT, read_frame::<ControlFrame, _>(&mut control, 1 << 20))
        .await
        .expect("main neither answered nor closed the revoked link");
    assert!(
        !matches!(reply, Ok(Some(ControlFrame::Welcome { .. }))),
        "a revoked node was welcomed: {reply:?}"
    );
    tokio::time::timeout(WAIT, mux.closed())
        .await
        .expect("main kept the revoked link open");
    assert!(main.state.registry.get("n1").is_none());
    main.stop().await;
}

/// Proves a second live link with a node's key is refused as a clone: the first link stays, the node is flagged, the clone audited.
#[tokio::test]
async fn cloned_key_is_refused_and_flagged() {
    let dir = TempDir::new("clone");
    // A long dead_after, so the live link's echo answers in time even on a loaded machine.
    let main = TestMain::start_with(dir.path(), None, |c| {
        c.tunnel.dead_after = Duration::from_secs(15);
    })
    .await;
    let mut api = Api::new(&main);
    api.auth(true, "alice", "password123").await;
    let node = TestNode::start_for(dir.path(), "n1", &main, Some(main.token()));
    node.wait(LinkState::Connected).await;
    let first = main.wait_online("n1").await;

    let key_file = dir.path().join("node-n1").join("node_ed25519_key");
    let (_mux, _inbound, mut control) = raw_link(&main, "n1", &key_file, None).await;
    write_frame(&mut control, &ControlFrame::Hello(hello("n1")), 1 << 20)
        .await
        .unwrap();
    let reply: ControlFrame = tokio::time::timeout(WAIT, read_frame(&mut control, 1 << 20))
        .await
        .expect("no reply to the clone's hello")
        .unwrap()
        .unwrap();
    let ControlFrame::Refused { code, message } = reply else {
        panic!("expected a refusal, got {reply:?}")
    };
    assert_eq!(code.as_str(), "duplicate_link", "{message}");
    assert!(message.contains("same key"), "{message}");

    assert_eq!(main.state.registry.get("n1").unwrap().generation, first);
    assert_eq!(node.agent.status().borrow().state, LinkState::Connected);
    assert!(
        main.audit_actions("n1")
            .contains(&"node.key_cloned".to_string())
    );
    let (status, view) = api.get("/api/v1/nodes/n1").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["flag"]["kind"], "cloned_key", "{view}");
    node.stop().await;
    main.stop().await;
}

/// Reads what main's SSH port says to a fresh TCP connection until it closes or `limit`; true if it sent its banner.
async fn ssh_banner(addr: std::net::SocketAddr) -> (tokio::net::TcpStream, bool) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let banner = loop {
        match tokio::time::timeout(WAIT, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break false,
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                if got.starts_with(b"SSH-2.0-") {
                    break true;
                }
            }
            Err(_) => panic!("main neither greeted nor closed a new connection"),
        }
    };
    (s, banner)
}

/// Proves idle unauthenticated sockets cannot take every SSH slot: newcomers past the cap are closed, a linked node stays, slots come back.
#[tokio::test]
async fn unauthenticated_connections_are_capped() {
    let dir = TempDir::new("preauth");
    let main = TestMain::start_with(dir.path(), None, |c| c.ssh.max_unauthenticated = 3).await;
    let node = TestNode::start_for(dir.path(), "n1", &main, Some(main.token()));
    node.wait(LinkState::Connected).await;
    let first = main.wait_online("n1").await;

    let mut idle = Vec::new();
    for _ in 0..3 {
        let (s, banner) = ssh_banner(main.ssh).await;
        assert!(banner, "a connection within the cap was not greeted");
        idle.push(s);
    }
    let (_, banner) = ssh_banner(main.ssh).await;
    assert!(
        !banner,
        "a connection past ssh.max_unauthenticated was served"
    );
    assert_eq!(main.state.registry.get("n1").unwrap().generation, first);

    drop(idle);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if ssh_banner(main.ssh).await.1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "slots never came back"
        );
        tokio::task::yield_now().await;
    }
    node.stop().await;
    main.stop().await;
}

/// Proves main refuses a hello with another protocol version, naming both versions in the refusal.
#[tokio::test]
async fn version_mismatch_is_refused_with_both_versions() {
    let dir = TempDir::new("version");
    let main = TestMain::start(dir.path()).await;
    let (mux, _inbound, mut control) =
        raw_link(&main, "future", &dir.path().join("k"), Some(main.token())).await;
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION + 41,
        agent_version: "9.0.0".into(),
        ..hello("future")
    };
    write_frame(&mut control, &ControlFrame::Hello(hello), 1 << 20)
        .await
        .unwrap();
    let reply: ControlFrame = tokio::time::timeout(WAIT, read_frame(&mut control, 1 << 20))
        .await
        .expect("no reply to the hello")
        .unwrap()
        .unwrap();
    let ControlFrame::Refused { code, message } = reply else {
        panic!("expected refusal, got {reply:?}")
    };
    assert_eq!(code.as_str(), "version_mismatch");
    assert!(
        message.contains(&format!("protocol {}", PROTOCOL_VERSION + 41)),
        "{message}"
    );
    assert!(
        message.contains(&format!("protocol {PROTOCOL_VERSION}")),
        "{message}"
    );
    assert!(message.contains("agent 9.0.0"), "{message}");
    tokio::time::timeout(WAIT, mux.closed())
        .await
        .expect("main kept the refused link open");
    assert!(main.state.registry.get("future").is_none());
    main.stop().await;
}

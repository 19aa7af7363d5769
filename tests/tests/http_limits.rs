//! Main's HTTP server under clients that stall: slow headers, too many connections, a stalled upload.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vibebridge_tests::{Api, TempDir, TestMain, TestNode, WAIT};

/// Reads until the server closes the connection; the bytes it sent.
async fn until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("main kept the connection open")
        .ok();
    out
}

/// Proves a client that trickles its request headers, or sends none, is cut off after server.header_timeout.
#[tokio::test]
async fn slow_headers_are_cut_off() {
    let dir = TempDir::new("http-slow");
    let main = TestMain::start_with(dir.path(), None, |c| {
        c.server.header_timeout = Duration::from_millis(500);
    })
    .await;
    let mut s = TcpStream::connect(main.http).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut s).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "an unfinished request was answered"
    );
    // A connection that never sends a byte is cut off too (it would otherwise hold a slot), and so is
    // one that sends a single byte of what could be an HTTP/2 preface.
    let mut silent = TcpStream::connect(main.http).await.unwrap();
    until_closed(&mut silent).await;
    let mut one_byte = TcpStream::connect(main.http).await.unwrap();
    one_byte.write_all(b"P").await.unwrap();
    until_closed(&mut one_byte).await;
    // A complete request is still served.
    assert_eq!(Api::new(&main).get("/health").await.0, 200);
    main.stop().await;
}

/// Proves connections past server.max_connections wait until one closes, then are served.
#[tokio::test]
async fn connections_past_the_cap_wait_for_a_slot() {
    let dir = TempDir::new("http-cap");
    let main = TestMain::start_with(dir.path(), None, |c| c.server.max_connections = 2).await;
    let first = TcpStream::connect(main.http).await.unwrap();
    let second = TcpStream::connect(main.http).await.unwrap();
    let url = format!("http://{}/health", main.http);
    let third = tokio::spawn(async move {
        reqwest::Client::new()
            .get(url)
            .timeout(WAIT)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    // Not served while both slots are held (a bounded look, not a readiness wait).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !third.is_finished(),
        "a third connection was served past the cap of 2"
    );
    drop(first);
    let status = tokio::time::timeout(WAIT, third)
        .await
        .expect("the waiting connection was never served")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    drop(second);
    main.stop().await;
}

/// Proves an upload that stops sending is abandoned with 408 after server.upload_idle_timeout and changes nothing.
#[tokio::test]
async fn stalled_upload_is_abandoned() {
    let dir = TempDir::new("http-upload");
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("f.txt"), "old").unwrap();
    let main = TestMain::start_with(dir.path(), None, |c| {
        c.server.upload_idle_timeout = Duration::from_millis(500);
    })
    .await;
    let mut api = Api::new(&main);
    api.auth(true, "alice", "correct horse battery").await;
    let mut cfg = TestNode::enrolling(dir.path(), "n1", &main, main.ssh);
    cfg.filesystem.roots = vec![root.clone()];
    let node = TestNode::start(cfg);
    main.wait_online("n1").await;

    let path = std::fs::canonicalize(root.join("f.txt")).unwrap();
    let mut s = TcpStream::connect(main.http).await.unwrap();
    let head = format!(
        "PUT /api/v1/nodes/n1/fs/write?path={} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Length: 100\r\n\r\nonly ten b",
        path.display(),
        api.token.as_deref().unwrap()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(WAIT, s.read(&mut answer))
        .await
        .expect("main never gave up on the stalled upload")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("upload_idle_timeout"), "{answer}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
    node.stop().await;
    main.stop().await;
}

/// Proves one user's open downloads take at most a quarter of a node's streams, and others are still served.
#[tokio::test]
async fn downloads_take_only_a_users_share_of_a_node() {
    let dir = TempDir::new("http-share");
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("big.bin"), vec![7u8; 8 << 20]).unwrap();
    let main = TestMain::start_with(dir.path(), None, |c| c.tunnel.max_streams = 8).await;
    let mut alice = Api::new(&main);
    alice.auth(true, "alice", "correct horse battery").await;
    let mut bob = Api::new(&main);
    bob.auth(true, "bob", "another passphrase").await;
    assert_eq!(
        alice
            .post("/api/v1/users/bob/approve", serde_json::json!({}))
            .await
            .0,
        200
    );
    let role = serde_json::json!({"role": "admin"});
    assert_eq!(alice.post("/api/v1/users/bob/role", role).await.0, 200);
    let mut cfg = TestNode::enrolling(dir.path(), "n1", &main, main.ssh);
    cfg.filesystem.roots = vec![root.clone()];
    let node = TestNode::start(cfg);
    main.wait_online("n1").await;

    let path = std::fs::canonicalize(root.join("big.bin")).unwrap();
    let url = format!("/api/v1/nodes/n1/fs/download?path={}", path.display());
    let download = |api: &Api| api.request(reqwest::Method::GET, &url).send();
    // Two open downloads, their bodies unread: alice's whole share of 8 / 4 streams.
    let held = vec![
        download(&alice).await.unwrap(),
        download(&alice).await.unwrap(),
    ];
    assert!(held.iter().all(|r| r.status() == 200));
    let third = download(&alice).await.unwrap();
    assert_eq!(third.status().as_u16(), 503);
    let body: serde_json::Value = third.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("file transfers open"),
        "{body}"
    );
    let others = download(&bob).await.unwrap();
    assert_eq!(others.status().as_u16(), 200, "another user was refused");
    assert_eq!(others.bytes().await.unwrap().len(), 8 << 20);
    drop(held);
    // The share comes back once a download ends (its body dropped and the stream closed).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let again = download(&alice).await.unwrap();
        if again.status() == 200 {
            assert_eq!(again.bytes().await.unwrap().len(), 8 << 20);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the share never came back"
        );
        tokio::task::yield_now().await;
    }
    node.stop().await;
    main.stop().await;
}

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

/// Proves a client that trickles its request headers is cut off after server.header_timeout.
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

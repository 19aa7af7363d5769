//! The node's policy binds every surface, not only the file API: on a read-only node no terminal opens
//! and no agent session starts, and `node.capabilities` decides which surfaces the node serves at all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use vibebridge_tests::{Api, TempDir, TestMain, TestNode, next_json, ws_connect};

/// The first text frame of a terminal opened on node `n1` as `api`'s user (of the main `api` talks to).
async fn terminal_answer(api: &Api) -> Value {
    let path = "/api/v1/nodes/n1/terminal?terminal_id=0190a0b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b&cols=80&rows=24";
    let mut ws = ws_connect(api, path, None).await.unwrap();
    next_json(&mut ws).await
}

/// Proves a read-only node refuses terminals and agent sessions (`read_only`), that surfaces left out of
/// `node.capabilities` are refused (`capability_disabled`, 403), and that reading files still works.
#[tokio::test]
async fn read_only_and_capabilities_bind_every_surface() {
    let dir = TempDir::new("policy");
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("a.txt"), "hello").unwrap();
    let main = TestMain::start(dir.path()).await;
    let mut alice = Api::new(&main);
    alice.auth(true, "alice", "correct horse battery").await;
    let mut cfg = TestNode::enrolling(dir.path(), "n1", &main, main.ssh);
    cfg.filesystem.roots = vec![root.clone()];
    cfg.filesystem.read_only = true;
    cfg.node.capabilities = vec!["fs".into(), "shell".into(), "claude".into()];
    let node = TestNode::start(cfg);
    main.wait_online("n1").await;

    let refused = terminal_answer(&alice).await;
    assert_eq!(refused["type"], "error", "{refused}");
    let why = refused["message"].as_str().unwrap();
    assert!(why.contains("filesystem.read_only"), "{refused}");

    let path = root.display().to_string();
    for (provider, want) in [("claude", "read_only"), ("codex", "capability_disabled")] {
        let (code, body) = alice
            .post(
                "/api/v1/sessions",
                json!({"node_id": "n1", "path": path, "provider": provider, "prompt": "edit a.txt"}),
            )
            .await;
        assert_eq!(
            (code, body["error"]["code"].as_str()),
            (403, Some(want)),
            "{body}"
        );
    }
    let (code, body) = alice
        .get(&format!("/api/v1/nodes/n1/git/status?repo={path}"))
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (403, Some("capability_disabled")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("node.capabilities"),
        "{body}"
    );
    let (code, body) = alice
        .get(&format!("/api/v1/nodes/n1/fs/stat?path={path}/a.txt"))
        .await;
    assert_eq!((code, body["size"].as_u64()), (200, Some(5)), "{body}");
    node.stop().await;
    main.stop().await;
}

//! Main killed with `kill -9` keeps every session it acknowledged: a session is on disk before its 201.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use vibebridge_tests::fault_fx::MainProcess;
use vibebridge_tests::mock::{CliEnv, MockAnthropic};
use vibebridge_tests::proxy::Proxy;
use vibebridge_tests::session_fx::with_clis;
use vibebridge_tests::{Api, TempDir, TestNode, fast_tunnel};

const MAIN: &str = env!("CARGO_BIN_EXE_test-main");

/// Proves a session main answered 201 for is still there after main is killed at once and restarted.
#[tokio::test]
async fn acknowledged_session_survives_main_kill9() {
    let dir = TempDir::new("main-kill9");
    let claude = MockAnthropic::start().await;
    let env = CliEnv::new("main-kill9").with_anthropic(&claude);
    let mut config = vibebridge_main::MainConfig::default();
    config.database.path = dir.path().join("main");
    config.tunnel = fast_tunnel();
    let main = MainProcess::start(MAIN, &config, 1).await;
    // The node dials a proxy, which follows main to its new ports after the restart.
    let link = Proxy::start(main.ssh).await;
    let mut node_config = main.node_config(dir.path(), "n1", link.addr, &main.tokens[0]);
    with_clis(&mut node_config, &env);
    let node = TestNode::start(node_config);
    let mut api = Api::at(&format!("http://{}", main.http));
    assert_eq!(
        api.auth(true, "alice", "correct horse battery").await.0,
        200
    );
    node.wait(vibebridge_agent::LinkState::Connected).await;
    let repo = env.git_repo("ws");
    let (status, body) = api
        .post(
            "/api/v1/sessions",
            json!({"node_id": "n1", "path": repo.display().to_string(), "provider": "claude",
                   "prompt": "Hi [[text:hello]]"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    main.kill9().await;

    let main = MainProcess::start(MAIN, &config, 0).await;
    link.retarget(main.ssh);
    let token = api.token.take();
    let mut api = Api::at(&format!("http://{}", main.http));
    api.token = token;
    let (status, body) = api.get(&format!("/api/v1/sessions/{id}")).await;
    assert_eq!(
        status, 200,
        "main forgot a session it had acknowledged: {body}"
    );
    node.stop().await;
    main.stop().await;
}

//! `vibebridge store copy`: an install's sled database moved into PostgreSQL, verified, refused twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use vibebridge_main::store::Store;
use vibebridge_main::store::copy;
use vibebridge_tests::pg::PgCluster;
use vibebridge_tests::{TempDir, TestMain};

/// Proves a sled install's data (users, a node token, an audit trail, ids) reads the same from PostgreSQL
/// after `store copy`, that every tree is verified, that ids keep growing past the copied ones, and that a
/// second copy into the now non-empty database is refused without touching it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_install_moves_to_postgres() {
    let dir = TempDir::new("store-copy");
    let main = TestMain::start(dir.path()).await;
    let mut api = vibebridge_tests::Api::new(&main);
    assert_eq!(
        api.auth(true, "alice", "correct horse battery").await.0,
        200
    );
    let (status, ws) = api
        .post(
            "/api/v1/workspaces",
            serde_json::json!({"name": "Web", "key_prefix": "WEB"}),
        )
        .await;
    assert_eq!(status, 200, "{ws}");
    let token = main.token();
    let audit = main.state.store.audit_page(None, 1000).unwrap();
    let (audit_before, newest_seq) = (audit.len(), audit.iter().map(|e| e.seq).max().unwrap());
    main.stop().await;

    let pg = PgCluster::start().unwrap();
    let from = format!("sled:{}", dir.path().join("main").display());
    // Trust authentication ignores the password, which is there to be masked.
    let url = pg.url().replace("postgres@", "postgres:hunter2@");
    let report = copy::run(&from, &url, "disable").unwrap();
    assert!(report.contains("every tree verified"), "{report}");
    assert!(report.contains("postgres:***@"), "{report}");
    assert!(
        !report.contains("hunter2"),
        "the report shows no password: {report}"
    );

    let store = Store::on(
        vibebridge_main::store::kv::Backend::postgres(&vibebridge_main::store::kv::PgOptions {
            url: pg.url(),
            pool_size: 2,
            tls: Default::default(),
            ca_file: None,
            connect_timeout: std::time::Duration::from_secs(10),
        })
        .unwrap(),
    )
    .unwrap();
    let alice = store.user_by_name("alice").unwrap().unwrap();
    assert_eq!(alice.role, vibebridge_main::store::Role::Creator);
    assert_eq!(store.workspaces().unwrap().len(), 1);
    assert!(
        store.consume_node_token(&token).unwrap().is_some(),
        "the copied token still enrols, once"
    );
    assert_eq!(store.audit_page(None, 1000).unwrap().len(), audit_before);
    assert!(
        store.backend().next_id().unwrap() > newest_seq,
        "ids continue past the copied ones"
    );
    drop(store);

    // The target holds data now: a second copy is refused and changes nothing.
    let err = copy::run(&from, &pg.url(), "disable")
        .unwrap_err()
        .to_string();
    assert!(err.contains("already holds data"), "{err}");
    // A bad source is explained.
    let err = copy::run("/no/such", &pg.url(), "disable")
        .unwrap_err()
        .to_string();
    assert!(err.contains("sled:PATH"), "{err}");
}

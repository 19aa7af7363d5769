//! Login limits against a real main over HTTP: whose address a limit counts (`server.trusted_proxies` and
//! `X-Forwarded-For`, IPv6 per /64) and the global bound on concurrent password hashes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use vibebridge_tests::{Api, TempDir, TestMain, WAIT};

/// One failed login attempt for a user that does not exist (so only the address limit can refuse it),
/// with `X-Forwarded-For: xff` if given; returns status and body.
async fn attempt(api: &Api, xff: Option<&str>) -> (u16, Value) {
    let user = format!("nobody{}", vibebridge_tunnel::keys::random_hex(4));
    let mut req = api
        .request(reqwest::Method::POST, "/api/v1/auth/login")
        .json(&json!({"username": user, "password": "not the password"}));
    if let Some(xff) = xff {
        req = req.header("x-forwarded-for", xff);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Proves that behind a trusted proxy each forwarded client (the rightmost untrusted hop, whatever a client
/// prepends) gets its own bucket, that IPv6 clients share one per /64, and that the audit log names the
/// client and the proxy.
#[tokio::test]
async fn trusted_proxy_clients_are_limited_each() {
    let dir = TempDir::new("limits-proxy");
    let main = TestMain::start_with(dir.path(), None, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
        c.auth.login_attempts_per_minute = 2;
    })
    .await;
    let api = Api::new(&main);
    for _ in 0..2 {
        assert_eq!(attempt(&api, Some("203.0.113.1")).await.0, 401);
    }
    let (status, body) = attempt(&api, Some("203.0.113.1")).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (429, &json!("too_many_requests")),
        "{body}"
    );
    assert_eq!(
        attempt(&api, Some("198.51.100.9, 203.0.113.1")).await.0,
        429,
        "a prepended hop escaped the limit"
    );
    assert_eq!(
        attempt(&api, Some("203.0.113.2")).await.0,
        401,
        "clients share a bucket"
    );

    for ip in ["2001:db8:1:2::1", "2001:db8:1:2::2"] {
        assert_eq!(attempt(&api, Some(ip)).await.0, 401);
    }
    assert_eq!(
        attempt(&api, Some("2001:db8:1:2:ffff::9")).await.0,
        429,
        "a new address in the same /64 got a fresh bucket"
    );
    assert_eq!(attempt(&api, Some("2001:db8:1:3::1")).await.0, 401);

    let audit = main.state.store.audit_page(None, 100).unwrap();
    let source = audit
        .iter()
        .filter(|e| e.event.action == "auth.login_failed")
        .find_map(|e| {
            e.event
                .source
                .clone()
                .filter(|s| s.starts_with("203.0.113.2"))
        })
        .expect("no failed login from the forwarded client");
    assert!(source.starts_with("203.0.113.2 via 127.0.0.1:"), "{source}");
    main.stop().await;
}

/// Proves that without `server.trusted_proxies` the header is ignored: a client rotating
/// `X-Forwarded-For` stays in its own TCP peer's bucket.
#[tokio::test]
async fn forwarded_for_is_ignored_from_untrusted_peers() {
    let dir = TempDir::new("limits-direct");
    let main =
        TestMain::start_with(dir.path(), None, |c| c.auth.login_attempts_per_minute = 2).await;
    let api = Api::new(&main);
    assert_eq!(attempt(&api, Some("203.0.113.1")).await.0, 401);
    assert_eq!(attempt(&api, Some("203.0.113.2")).await.0, 401);
    assert_eq!(attempt(&api, Some("203.0.113.3")).await.0, 429);
    main.stop().await;
}

/// Proves a login finding every password-hash slot busy is answered 503 `server_busy` with Retry-After
/// (no unbounded queue of Argon2 work), and is served again once a slot frees.
#[tokio::test]
async fn concurrent_password_hashes_are_bounded() {
    let dir = TempDir::new("limits-hashes");
    let main = TestMain::start_with(dir.path(), None, |c| {
        c.auth.max_concurrent_password_hashes = 1;
    })
    .await;
    let gate = main.state.password_gate.clone();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let holder = tokio::spawn(async move { gate.run(move || held.recv().is_ok()).await });
    tokio::time::timeout(WAIT, async {
        while main.state.password_gate.available() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the test never took the only slot");

    let api = Api::new(&main);
    let resp = api
        .request(reqwest::Method::POST, "/api/v1/auth/login")
        .json(&json!({"username": "alice", "password": "whatever it is"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "server_busy", "{body}");

    release.send(()).unwrap();
    assert!(holder.await.unwrap().unwrap());
    assert_eq!(attempt(&api, None).await.0, 401);
    main.stop().await;
}

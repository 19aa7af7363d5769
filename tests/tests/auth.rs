//! The auth core over HTTP: register, login, refresh, logout, roles, pending approval, rate limits,
//! node visibility per owner/member, the audit log, and clear errors for bad bodies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use vibebridge_tests::{Api, SseReader, TempDir, TestMain, TestNode, WAIT, WsClient};

/// Proves the first user is creator and logged in; later users are pending and kept out until approved.
#[tokio::test]
async fn register_creator_then_pending_until_approved() {
    let dir = TempDir::new("auth-reg");
    let main = TestMain::start(dir.path()).await;
    let mut alice = Api::new(&main);
    let (_, status) = alice.get("/api/v1/auth/status").await;
    assert_eq!(status["has_users"], false);
    let (code, body) = alice.auth(true, "alice", "password123").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["user"]["role"], "creator");
    assert!(body.get("password_hash").is_none() && body["user"].get("password_hash").is_none());

    let mut bob = Api::new(&main);
    let (_, body) = bob.auth(true, "bob", "password456").await;
    assert_eq!(body["user"]["role"], "pending");
    let (code, me) = bob.get("/api/v1/auth/me").await;
    assert_eq!((code, me["role"].as_str()), (200, Some("pending")));
    let (code, body) = bob.get("/api/v1/nodes").await;
    assert_eq!(code, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert_eq!(bob.get("/api/v1/users").await.0, 403);

    let (code, body) = alice
        .post("/api/v1/users/bob/approve", serde_json::json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["role"], "user");
    assert_eq!(bob.get("/api/v1/nodes").await.0, 200);
    assert_eq!(
        alice
            .post("/api/v1/users/bob/approve", serde_json::json!({}))
            .await
            .0,
        409
    );

    // Roles: bob becomes admin; nobody can touch the creator or grant creator.
    let (code, _) = alice
        .post(
            "/api/v1/users/bob/role",
            serde_json::json!({"role": "admin"}),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(bob.get("/api/v1/users").await.0, 200);
    assert_eq!(
        bob.post(
            "/api/v1/users/alice/role",
            serde_json::json!({"role": "user"})
        )
        .await
        .0,
        403
    );
    assert_eq!(
        alice
            .post(
                "/api/v1/users/bob/role",
                serde_json::json!({"role": "creator"})
            )
            .await
            .0,
        400
    );
    assert_eq!(
        alice
            .post(
                "/api/v1/users/bob/role",
                serde_json::json!({"role": "wizard"})
            )
            .await
            .0,
        400
    );
    assert_eq!(
        alice
            .post(
                "/api/v1/users/bob/role",
                serde_json::json!({"role": "user"})
            )
            .await
            .0,
        200
    );
    assert_eq!(
        bob.get("/api/v1/users").await.0,
        403,
        "role change applies to existing tokens at once"
    );

    let (code, audit) = alice.get("/api/v1/audit").await;
    assert_eq!(code, 200);
    let actions: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for a in ["auth.registered", "user.approved", "user.role_changed"] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
    assert!(
        audit[0]["source"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1")
    );
    main.stop().await;
}

/// Proves login, refresh (cookie and body) and logout work, and logout kills both tokens.
#[tokio::test]
async fn login_refresh_logout() {
    let dir = TempDir::new("auth-login");
    let main = TestMain::start(dir.path()).await;
    let mut api = Api::new(&main);
    api.auth(true, "alice", "password123").await;
    let (code, body) = api.auth(false, "alice", "wrong-password").await;
    assert_eq!(code, 401);
    assert_eq!(body["error"]["message"], "wrong username or password");
    let (code, body) = api.auth(false, "alice", "password123").await;
    assert_eq!(code, 200);
    assert!(body.get("refresh_token").is_none(), "{body}");
    let refresh = api.refresh.clone().unwrap();

    // Cookies: the login sets HttpOnly SameSite cookies, and the access cookie authenticates alone.
    let client = reqwest::Client::new();
    let resp = client
        .post(main.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": "password123"}))
        .send()
        .await
        .unwrap();
    let cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        cookies
            .iter()
            .all(|c| c.contains("HttpOnly") && c.contains("SameSite=Strict")),
        "{cookies:?}"
    );
    let jar = cookies
        .iter()
        .map(|c| c.split(';').next().unwrap())
        .collect::<Vec<_>>()
        .join("; ");
    let me = client
        .get(main.url("/api/v1/auth/me"))
        .header("cookie", &jar)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let refreshed = client
        .post(main.url("/api/v1/auth/refresh"))
        .header("cookie", &jar)
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);

    let (code, body) = api
        .post(
            "/api/v1/auth/refresh",
            serde_json::json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    let (code, _) = api
        .post(
            "/api/v1/auth/refresh",
            serde_json::json!({"refresh_token": access}),
        )
        .await;
    assert_eq!(code, 401, "an access token is not a refresh token");

    let (code, _) = api.post("/api/v1/auth/logout", serde_json::json!({})).await;
    assert_eq!(code, 200);
    assert_eq!(api.get("/api/v1/auth/me").await.0, 401);
    let (code, _) = api
        .post(
            "/api/v1/auth/refresh",
            serde_json::json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(
        code, 401,
        "logout ends the session behind the refresh token too"
    );
    api.token = Some("garbage".into());
    assert_eq!(api.get("/api/v1/auth/me").await.0, 401);
    main.stop().await;
}

/// Proves logins are rate-limited per user with a Retry-After, and failed logins are audited.
#[tokio::test]
async fn login_is_rate_limited() {
    let dir = TempDir::new("auth-rate");
    let main =
        TestMain::start_with(dir.path(), None, |c| c.auth.login_attempts_per_minute = 3).await;
    let mut api = Api::new(&main);
    api.auth(true, "alice", "password123").await;
    for _ in 0..2 {
        assert_eq!(api.auth(false, "alice", "nope-nope").await.0, 401);
    }
    let (code, body) = api.auth(false, "alice", "password123").await;
    assert_eq!(code, 429, "{body}");
    assert_eq!(body["error"]["code"], "too_many_requests");
    let failed = main.state.store.audit_page(None, 100).unwrap();
    assert_eq!(
        failed
            .iter()
            .filter(|e| e.event.action == "auth.login_failed")
            .count(),
        2
    );
    main.stop().await;
}

/// Proves bad bodies and bad credentials get 400s with messages that say what to do, and the server lives on.
#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let dir = TempDir::new("auth-bad");
    let main = TestMain::start(dir.path()).await;
    let client = reqwest::Client::new();
    for body in ["{bad json", "[]", "{\"username\": 5}", ""] {
        let resp = client
            .post(main.url("/api/v1/auth/register"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "body {body:?}");
        let json: serde_json::Value = resp.json().await.unwrap();
        assert!(
            json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("invalid JSON body"),
            "{json}"
        );
    }
    let mut api = Api::new(&main);
    let (code, body) = api.auth(true, "A!", "password123").await;
    assert_eq!(code, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("username must be")
    );
    let (code, _) = api.auth(true, "alice", "short").await;
    assert_eq!(code, 400);
    api.auth(true, "alice", "password123").await;
    // Bad query strings and path segments, and a wrong method, answer in the API's error shape too.
    for (method, path, status, code, says) in [
        (
            "GET",
            "/api/v1/sessions?status=bogus",
            400,
            "bad_request",
            "invalid query string",
        ),
        (
            "GET",
            "/api/v1/audit?limit=many",
            400,
            "bad_request",
            "invalid query string",
        ),
        (
            "GET",
            "/api/v1/sessions/%FF",
            400,
            "bad_request",
            "invalid path",
        ),
        (
            "PUT",
            "/api/v1/sessions",
            405,
            "method_not_allowed",
            "does not take that method",
        ),
    ] {
        let resp = api
            .request(method.parse().unwrap(), path)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{method} {path}");
        let json: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(json["error"]["code"], code, "{method} {path}: {json}");
        let message = json["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{method} {path}: {message}");
    }
    assert_eq!(api.get("/api/v1/nope").await.0, 404);
    assert_eq!(api.get("/health").await.1["status"], "ok");
    main.stop().await;
}

/// Proves users see only nodes they own or are members of, admins see all, and only owners or admins revoke.
#[tokio::test]
async fn node_visibility_follows_owner_and_members() {
    let dir = TempDir::new("auth-nodes");
    let main = TestMain::start(dir.path()).await;
    let mut alice = Api::new(&main);
    alice.auth(true, "alice", "password123").await;
    let mut bob = Api::new(&main);
    bob.auth(true, "bob", "password123").await;
    let mut carol = Api::new(&main);
    carol.auth(true, "carol", "password123").await;
    alice
        .post("/api/v1/users/bob/approve", serde_json::json!({}))
        .await;
    alice
        .post("/api/v1/users/carol/approve", serde_json::json!({}))
        .await;

    let (code, token) = bob
        .post("/api/v1/nodes/tokens", serde_json::json!({"ttl": "10m"}))
        .await;
    assert_eq!(code, 200, "{token}");
    assert!(
        token["join_command"]
            .as_str()
            .unwrap()
            .contains(&main.fingerprint)
    );
    assert_eq!(token["main_host_key"], main.fingerprint.as_str());
    let node = TestNode::start_for(
        dir.path(),
        "bobs",
        &main,
        Some(token["token"].as_str().unwrap().into()),
    );
    main.wait_online("bobs").await;

    let ids = |v: serde_json::Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let (_, list) = bob.get("/api/v1/nodes").await;
    assert_eq!(list[0]["owner"], "bob");
    assert_eq!(list[0]["online"], true);
    assert!(list[0]["last_heartbeat"].is_string() && list[0]["address"].is_string());
    assert_eq!(ids(list), ["bobs"]);
    assert!(ids(carol.get("/api/v1/nodes").await.1).is_empty());
    assert_eq!(ids(alice.get("/api/v1/nodes").await.1), ["bobs"]);
    assert_eq!(carol.get("/api/v1/nodes/bobs").await.0, 404);
    assert_eq!(carol.delete("/api/v1/nodes/bobs").await.0, 404);

    let (code, _) = bob
        .post(
            "/api/v1/nodes/bobs/members",
            serde_json::json!({"username": "carol"}),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(ids(carol.get("/api/v1/nodes").await.1), ["bobs"]);
    assert_eq!(
        carol.delete("/api/v1/nodes/bobs").await.0,
        403,
        "members cannot revoke"
    );
    let carols = session_on(&main, "carol", "bobs");
    let bobs = session_on(&main, "bob", "bobs");
    let (code, list) = carol.get("/api/v1/sessions").await;
    assert_eq!(
        (code, list.as_array().map(Vec::len)),
        (200, Some(1)),
        "{list}"
    );
    assert_eq!(
        carol.get(&format!("/api/v1/sessions/{carols}")).await.0,
        200
    );
    // Carol follows her session live, over the WebSocket and the event stream.
    let mut ws = WsClient::connect(&carol).await.unwrap();
    ws.send_text(
        &serde_json::json!({"type": "subscribe", "session_id": carols, "after_seq": 0}).to_string(),
    )
    .await;
    assert_eq!(ws.next().await["type"], "subscribed");
    let mut sse = SseReader::open(&carol, &carols, 0).await;

    assert_eq!(bob.delete("/api/v1/nodes/bobs/members/carol").await.0, 200);
    assert!(ids(carol.get("/api/v1/nodes").await.1).is_empty());
    // Both live views end without her doing anything: the access check is repeated while they run.
    let lost = ws.next().await;
    assert_eq!(lost["type"], "error", "{lost}");
    assert!(
        lost["message"]
            .as_str()
            .unwrap()
            .contains("no longer have access"),
        "{lost}"
    );
    let ended = tokio::time::timeout(WAIT, sse.next()).await;
    assert!(
        matches!(ended, Ok(None)),
        "the event stream should end: {ended:?}"
    );
    // Removed from the node, carol loses her sessions on it: no history, no follow-ups, no stop.
    assert_eq!(carol.get("/api/v1/sessions").await.1, serde_json::json!([]));
    assert_eq!(
        carol.get(&format!("/api/v1/sessions/{carols}")).await.0,
        404
    );
    let follow_up = serde_json::json!({"text": "carry on"});
    let message = format!("/api/v1/sessions/{carols}/messages");
    assert_eq!(carol.post(&message, follow_up.clone()).await.0, 404);
    let stop = format!("/api/v1/sessions/{carols}/stop");
    assert_eq!(carol.post(&stop, serde_json::json!({})).await.0, 404);

    assert_eq!(bob.delete("/api/v1/nodes/bobs").await.0, 200);
    main.wait_offline("bobs").await;
    // A revoked node's sessions stay readable by their owner, but cannot be continued.
    assert_eq!(bob.get(&format!("/api/v1/sessions/{bobs}")).await.0, 200);
    let (code, body) = bob
        .post(&format!("/api/v1/sessions/{bobs}/messages"), follow_up)
        .await;
    assert_eq!(code, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );
    node.stop().await;
    main.stop().await;
}

/// Proves the embedded UI is served with content types and a CSP, and unknown paths fall back to index.html.
#[tokio::test]
async fn embedded_ui_is_served() {
    let dir = TempDir::new("ui");
    let main = TestMain::start(dir.path()).await;
    for (path, kind, needle) in [
        ("/", "text/html", "VibeBridge"),
        ("/app.js", "text/javascript", "/auth/login"),
        ("/nodes/some/client/route", "text/html", "app.js"),
    ] {
        let resp = reqwest::get(main.url(path)).await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let headers = resp.headers().clone();
        assert!(
            headers["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'self'")
        );
        assert!(resp.text().await.unwrap().contains(needle), "{path}");
    }
    main.stop().await;
}

/// Stores a session of user `owner` on `node` the way main records a started one; its id.
fn session_on(main: &TestMain, owner: &str, node: &str) -> String {
    let owner = main.state.store.user_by_name(owner).unwrap().unwrap().id;
    vibebridge_tests::seed::session_on(&main.state.store, owner, node).to_string()
}

/// Proves main answers only to IP literals, localhost and `server.allowed_hosts`, and refuses writes marked cross-site.
#[tokio::test]
async fn foreign_hosts_and_cross_site_writes_are_refused() {
    let dir = TempDir::new("auth-guard");
    let main = TestMain::start_with(dir.path(), None, |c| {
        c.server.allowed_hosts = vec!["vb.example.com".into()]
    })
    .await;
    let api = Api::new(&main);
    let port = main.http.port();
    let register = |host: String, extra: Option<(&'static str, &'static str)>| {
        let mut req = api
            .request(reqwest::Method::POST, "/api/v1/auth/register")
            .header("host", host)
            .json(&serde_json::json!({"username": "alice", "password": "password123"}));
        if let Some((k, v)) = extra {
            req = req.header(k, v);
        }
        async move {
            let resp = req.send().await.unwrap();
            let code = resp.status().as_u16();
            (
                code,
                resp.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    // A DNS-rebinding page: its own name, pointed at main's address.
    let (code, body) = register(format!("evil.example:{port}"), None).await;
    assert_eq!(code, 403, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("server.allowed_hosts"), "{message}");
    let (code, _) = api
        .request(reqwest::Method::GET, "/")
        .header("host", "evil.example")
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(code, 403, "the UI is not served to a foreign name either");
    // Writes a browser marks as coming from elsewhere.
    let local = format!("127.0.0.1:{port}");
    for marker in [
        ("sec-fetch-site", "same-site"),
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://sub.vb.example.com"),
    ] {
        let (code, body) = register(local.clone(), Some(marker)).await;
        assert_eq!(code, 403, "{marker:?}: {body}");
    }
    assert_eq!(
        main.state.store.users().unwrap().len(),
        0,
        "nothing was created"
    );
    // The configured name, from a page of this origin, works.
    let (code, body) = register(
        format!("vb.example.com:{port}"),
        Some(("sec-fetch-site", "same-origin")),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    main.stop().await;
}

//! Account safety over HTTP: who may create the first account, refresh tokens that work once, password
//! change and log-out-everywhere, and SSH keys added only with proof of possession.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use vibebridge_tests::{Api, TempDir, TestMain, ssh_key, sshsig};

/// Proves a fresh main cannot be claimed from elsewhere: a forwarded first sign-up needs the setup code main printed.
#[tokio::test]
async fn first_account_from_elsewhere_needs_the_setup_code() {
    let dir = TempDir::new("auth-setup");
    let main = TestMain::start(dir.path()).await;
    let api = Api::new(&main);
    let register = |code: Option<&str>| {
        let mut body = serde_json::json!({"username": "mallory", "password": "password123"});
        if let Some(c) = code {
            body["setup_code"] = c.into();
        }
        api.request(reqwest::Method::POST, "/api/v1/auth/register")
            .header("x-forwarded-for", "203.0.113.9")
            .json(&body)
            .send()
    };
    for code in [None, Some("000000-000000-000000")] {
        let resp = register(code).await.unwrap();
        assert_eq!(resp.status().as_u16(), 403);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("setup code"),
            "{body}"
        );
    }
    let (_, status) = api.get("/api/v1/auth/status").await;
    assert_eq!(
        status["has_users"], false,
        "a refused sign-up created an account"
    );
    let resp = register(Some(main.state.setup_code.as_str()))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["user"]["role"], "creator");
    main.stop().await;
}

/// Proves a refresh token works once (the one just replaced briefly, for a second tab; an older one ends its whole login), and a password change or log-out-everywhere ends other logins.
#[tokio::test]
async fn refresh_rotates_and_logins_end_everywhere() {
    let dir = TempDir::new("auth-rotate");
    let main = TestMain::start(dir.path()).await;
    let mut api = Api::new(&main);
    api.auth(true, "alice", "password123").await;
    let refresh = |token: String| {
        let api = api.clone();
        async move {
            let resp = api
                .request(reqwest::Method::POST, "/api/v1/auth/refresh")
                .json(&serde_json::json!({ "refresh_token": token }))
                .send()
                .await
                .unwrap();
            let next = vibebridge_tests::refresh_cookie(resp.headers());
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap();
            assert!(body.get("refresh_token").is_none(), "{body}");
            (status, next, body)
        }
    };
    let r0 = api.refresh.clone().unwrap();
    let (status, r1, _) = refresh(r0.clone()).await;
    assert_eq!(status, 200);
    let r1 = r1.expect("a refresh sets the next refresh token");
    let (status, r2, _) = refresh(r1.clone()).await;
    assert_eq!(status, 200);
    assert!(r2.is_some());
    // A second tab sharing the cookie refreshes with the token just replaced: still fine, briefly.
    let (status, _, body) = refresh(r1).await;
    assert_eq!(status, 200, "{body}");
    // An older one can only be a copy.
    let (status, _, body) = refresh(r0).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{body}"
    );
    assert_eq!(
        api.get("/api/v1/auth/me").await.0,
        401,
        "a reused refresh token ends its login"
    );

    let (mut a, mut b) = (Api::new(&main), Api::new(&main));
    a.auth(false, "alice", "password123").await;
    b.auth(false, "alice", "password123").await;
    let change = |current: &str| serde_json::json!({"current_password": current, "new_password": "a-new-password"});
    let (status, body) = a
        .post("/api/v1/auth/password", change("wrong-password"))
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = a.post("/api/v1/auth/password", change("password123")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ended_other_logins"], 1);
    assert_eq!(a.get("/api/v1/auth/me").await.0, 200);
    assert_eq!(b.get("/api/v1/auth/me").await.0, 401);
    assert_eq!(
        Api::new(&main).auth(false, "alice", "password123").await.0,
        401
    );
    let mut c = Api::new(&main);
    assert_eq!(c.auth(false, "alice", "a-new-password").await.0, 200);

    let (status, body) = c
        .post("/api/v1/auth/logout-all", serde_json::json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ended"], 2);
    assert_eq!(a.get("/api/v1/auth/me").await.0, 401);
    assert_eq!(c.get("/api/v1/auth/me").await.0, 401);
    main.stop().await;
}

/// Proves an SSH key is added only with its holder's signature over a challenge issued to that same user.
#[tokio::test]
async fn ssh_keys_need_proof_of_possession() {
    let dir = TempDir::new("auth-keyproof");
    let main = TestMain::start(dir.path()).await;
    let mut alice = Api::new(&main);
    alice.auth(true, "alice", "password123").await;
    let mut bob = Api::new(&main);
    bob.auth(true, "bob", "password456").await;
    alice
        .post("/api/v1/users/bob/approve", serde_json::json!({}))
        .await;
    let challenge = |api: &Api| {
        let api = api.clone();
        async move {
            let (status, c) = api
                .post("/api/v1/auth/me/keys/challenge", serde_json::json!({}))
                .await;
            assert_eq!(status, 200, "{c}");
            assert!(
                c["command"]
                    .as_str()
                    .unwrap()
                    .contains("ssh-keygen -Y sign"),
                "{c}"
            );
            c["challenge"].as_str().unwrap().to_string()
        }
    };
    let add = |api: &Api, key: &str, challenge: Option<&str>, signature: Option<String>| {
        let mut body = serde_json::json!({ "key": key });
        if let Some(c) = challenge {
            body["challenge"] = c.into();
        }
        if let Some(s) = signature {
            body["signature"] = s.into();
        }
        let api = api.clone();
        async move { api.post("/api/v1/auth/me/keys", body).await }
    };
    let (key, line) = ssh_key();
    let (other, _) = ssh_key();
    let mine = challenge(&alice).await;
    let bobs = challenge(&bob).await;

    let (status, body) = add(&alice, &line, None, None).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("challenge"),
        "{body}"
    );
    for (c, s) in [
        (&mine, sshsig(&other, "vibebridge-key", &mine)),
        (&mine, sshsig(&key, "another-namespace", &mine)),
        (&bobs, sshsig(&key, "vibebridge-key", &bobs)),
        (&mine, "not a signature".to_string()),
    ] {
        let (status, body) = add(&alice, &line, Some(c), Some(s)).await;
        assert_eq!(status, 400, "{body}");
    }
    assert_eq!(
        alice
            .get("/api/v1/auth/me/keys")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let (status, body) = add(
        &alice,
        &line,
        Some(&mine),
        Some(sshsig(&key, "vibebridge-key", &mine)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    main.stop().await;
}

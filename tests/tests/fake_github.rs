//! The fake GitHub itself, with no VibeBridge in between: proves it speaks GitHub's OAuth (web flow with PKCE,
//! refresh rotation, device flow), REST conventions (auth, pagination, ETags, rate limit) and git smart HTTP
//! well enough for main's GitHub integration to be tested against it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use vibebridge_tests::TempDir;
use vibebridge_tests::mock::FakeGithub;
use vibebridge_tests::mock::github::webhook_signature;

const REDIRECT: &str = "http://127.0.0.1:9/api/v1/github/callback";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// POSTs a form to the token endpoint asking for JSON; the answer is always 200.
async fn token_call(gh: &FakeGithub, pairs: &[(&str, &str)]) -> Value {
    let resp = client()
        .post(format!("{}/login/oauth/access_token", gh.web_url()))
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Clicks through the authorize page as the signed-in user; returns the code from the redirect.
async fn authorize(gh: &FakeGithub, challenge: Option<&str>, state: &str) -> String {
    let mut q = vec![
        ("client_id", FakeGithub::CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("state", state),
        ("scope", "repo read:org"),
    ];
    if let Some(c) = challenge {
        q.push(("code_challenge", c));
        q.push(("code_challenge_method", "S256"));
    }
    let page = client()
        .get(format!(
            "{}/login/oauth/authorize?{}",
            gh.web_url(),
            form(&q)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Authorize VibeBridge") && html.contains("id=\"authorize\""));
    let resp = client()
        .post(format!("{}/login/oauth/authorize", gh.web_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&q))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let rest = location
        .strip_prefix(&format!("{REDIRECT}?code="))
        .unwrap_or_else(|| panic!("unexpected redirect {location}"));
    let (code, echoed) = rest.split_once("&state=").unwrap();
    assert_eq!(echoed, enc(state));
    code.to_string()
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn api_get(gh: &FakeGithub, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = client().get(format!("{}{path}", gh.api_url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// The OAuth web flow with PKCE: the page shows the signed-in user, the code carries the state back, a wrong
/// verifier is refused, the right one yields an expiring `ghu_` token with a `ghr_` refresh token, once.
#[tokio::test]
async fn oauth_code_flow_with_pkce() {
    let gh = FakeGithub::start().await.unwrap();
    gh.add_user("alice");
    gh.authorize_as("alice");
    let unknown = client()
        .get(format!(
            "{}/login/oauth/authorize?client_id=nope&redirect_uri=x",
            gh.web_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let verifier = "a-very-long-verifier-0123456789-0123456789-abcdef";
    let code = authorize(&gh, Some(&s256(verifier)), "st&te x/1").await;
    let exchange = |verifier: &'static str, code: String| {
        let gh = &gh;
        async move {
            token_call(
                gh,
                &[
                    ("client_id", FakeGithub::CLIENT_ID),
                    ("client_secret", FakeGithub::CLIENT_SECRET),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    let bad = exchange(
        "the-wrong-verifier-0123456789-0123456789-abcdef",
        code.clone(),
    )
    .await;
    assert_eq!(bad["error"], "bad_verification_code", "{bad}");
    let ok = exchange(
        "a-very-long-verifier-0123456789-0123456789-abcdef",
        code.clone(),
    )
    .await;
    let access = ok["access_token"].as_str().unwrap();
    assert!(access.starts_with("ghu_"), "{ok}");
    assert!(ok["refresh_token"].as_str().unwrap().starts_with("ghr_"));
    assert_eq!(ok["token_type"], "bearer");
    assert_eq!(ok["expires_in"], 28800);
    assert_eq!(ok["refresh_token_expires_in"], 15811200);
    let again = exchange("a-very-long-verifier-0123456789-0123456789-abcdef", code).await;
    assert_eq!(again["error"], "bad_verification_code");

    let me = api_get(&gh, "/user", Some(access)).await;
    assert_eq!(me.status(), 200);
    assert_eq!(
        header(&me, "x-oauth-scopes").as_deref(),
        Some("repo, read:org")
    );
    let me: Value = me.json().await.unwrap();
    assert_eq!(
        (me["login"].clone(), me["id"].clone()),
        (json!("alice"), json!(1000))
    );

    let wrong_secret = token_call(
        &gh,
        &[
            ("client_id", FakeGithub::CLIENT_ID),
            ("client_secret", "nope"),
            ("code", "whatever"),
        ],
    )
    .await;
    assert_eq!(wrong_secret["error"], "incorrect_client_credentials");
}

/// Refresh tokens rotate: a refresh gives a new pair and spends the old refresh token; expired access tokens
/// get 401 while their refresh token still works; without `Accept: application/json` the answer is a form.
#[tokio::test]
async fn refresh_tokens_rotate() {
    let gh = FakeGithub::start().await.unwrap();
    gh.authorize_as("alice");
    let code = authorize(&gh, None, "s").await;
    let first = token_call(
        &gh,
        &[
            ("client_id", FakeGithub::CLIENT_ID),
            ("client_secret", FakeGithub::CLIENT_SECRET),
            ("code", &code),
        ],
    )
    .await;
    let access = first["access_token"].as_str().unwrap();
    let refresh = first["refresh_token"].as_str().unwrap();
    gh.expire_all_tokens();
    let expired = api_get(&gh, "/user", Some(access)).await;
    assert_eq!(expired.status(), 401);
    assert_eq!(
        expired.json::<Value>().await.unwrap()["message"],
        "Bad credentials"
    );

    let refresh_with = |refresh: String| {
        client()
            .post(format!("{}/login/oauth/access_token", gh.web_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("client_id", FakeGithub::CLIENT_ID),
                ("client_secret", FakeGithub::CLIENT_SECRET),
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
            ]))
            .send()
    };
    let second = refresh_with(refresh.to_string()).await.unwrap();
    assert!(
        header(&second, "content-type")
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
    let second = second.text().await.unwrap();
    let field = |name: &str| {
        second
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_string()
    };
    let (access2, refresh2) = (field("access_token"), field("refresh_token"));
    assert_ne!(access2, access);
    assert_ne!(refresh2, refresh);
    assert_eq!(field("scope"), "repo%2Cread%3Aorg");
    assert_eq!(api_get(&gh, "/user", Some(&access2)).await.status(), 200);
    let reused = refresh_with(refresh.to_string())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(reused.starts_with("error=bad_refresh_token"), "{reused}");

    let revoke = |access: String| {
        client()
            .delete(format!(
                "{}/applications/{}/grant",
                gh.api_url(),
                FakeGithub::CLIENT_ID
            ))
            .basic_auth(FakeGithub::CLIENT_ID, Some(FakeGithub::CLIENT_SECRET))
            .json(&json!({"access_token": access}))
            .send()
    };
    gh.set_expiring_tokens(false);
    let third = refresh_with(refresh2).await.unwrap().text().await.unwrap();
    assert!(third.contains("access_token=ghu_") && !third.contains("refresh_token"));
    let access3 = third
        .split('&')
        .next()
        .unwrap()
        .strip_prefix("access_token=")
        .unwrap();
    assert_eq!(api_get(&gh, "/user", Some(access3)).await.status(), 200);
    let bad_client = client()
        .delete(format!(
            "{}/applications/{}/grant",
            gh.api_url(),
            FakeGithub::CLIENT_ID
        ))
        .basic_auth(FakeGithub::CLIENT_ID, Some("wrong"))
        .json(&json!({"access_token": access3}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_client.status(), 404);
    assert_eq!(revoke(access3.to_string()).await.unwrap().status(), 204);
    assert_eq!(api_get(&gh, "/user", Some(access3)).await.status(), 401);
    assert_eq!(api_get(&gh, "/user", Some(&access2)).await.status(), 401);
}

/// The device flow: pending until approved, polling too fast gives slow_down with a longer interval, a denied
/// code gives access_denied, an approved one a token for the approving user.
#[tokio::test]
async fn device_flow() {
    let gh = FakeGithub::start().await.unwrap();
    gh.add_user("carol");
    gh.set_device_interval(1);
    let start = || async {
        client()
            .post(format!("{}/login/device/code", gh.web_url()))
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("client_id", FakeGithub::CLIENT_ID),
                ("scope", "repo"),
            ]))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let poll = |device_code: String| {
        let gh = &gh;
        async move {
            token_call(
                gh,
                &[
                    ("client_id", FakeGithub::CLIENT_ID),
                    ("device_code", &device_code),
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ],
            )
            .await
        }
    };
    let a = start().await;
    assert_eq!(a["interval"], 1);
    assert_eq!(a["expires_in"], 900);
    assert_eq!(
        a["verification_uri"],
        format!("{}/login/device", gh.web_url())
    );
    let user_code = a["user_code"].as_str().unwrap();
    assert!(
        user_code.len() == 9 && user_code.as_bytes()[4] == b'-',
        "{user_code}"
    );
    let device_code = a["device_code"].as_str().unwrap().to_string();
    let json_poll: Value = client()
        .post(format!("{}/login/oauth/access_token", gh.web_url()))
        .header("accept", "application/json")
        .json(&json!({
            "client_id": FakeGithub::CLIENT_ID,
            "device_code": device_code,
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json_poll["error"], "authorization_pending");
    assert!(gh.approve_device(user_code, "carol"));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // the protocol's polling interval
    let done = poll(device_code.clone()).await;
    let token = done["access_token"].as_str().unwrap();
    let me: Value = api_get(&gh, "/user", Some(token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["login"], "carol");

    let b = start().await;
    let device_code = b["device_code"].as_str().unwrap().to_string();
    assert_eq!(
        poll(device_code.clone()).await["error"],
        "authorization_pending"
    );
    let fast = poll(device_code.clone()).await;
    assert_eq!(fast["error"], "slow_down");
    assert_eq!(fast["interval"], 6);
    assert!(gh.deny_device(b["user_code"].as_str().unwrap()));
    assert_eq!(poll(device_code).await["error"], "access_denied");
}

/// A PAT works on `/user` (with `token` or `Bearer`), carries the rate-limit headers but no `x-oauth-scopes`,
/// survives expire_all_tokens and is refused once revoked.
#[tokio::test]
async fn personal_access_token() {
    let gh = FakeGithub::start().await.unwrap();
    let id = gh.add_user("bob");
    let pat = gh.issue_token("bob");
    assert!(pat.starts_with("github_pat_"));
    let resp = client()
        .get(format!("{}/user", gh.api_url()))
        .header("authorization", format!("token {pat}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-ratelimit-limit").as_deref(), Some("5000"));
    assert_eq!(
        header(&resp, "x-ratelimit-remaining").as_deref(),
        Some("4999")
    );
    assert!(
        header(&resp, "x-ratelimit-reset").is_some()
            && header(&resp, "x-github-request-id").is_some()
    );
    assert!(header(&resp, "x-oauth-scopes").is_none());
    let me: Value = resp.json().await.unwrap();
    assert_eq!(me["id"], id);
    assert_eq!(me["type"], "User");
    gh.expire_all_tokens();
    assert_eq!(api_get(&gh, "/user", Some(&pat)).await.status(), 200);
    gh.revoke(&pat);
    assert_eq!(api_get(&gh, "/user", Some(&pat)).await.status(), 401);
    let log = gh.requests();
    let last = log.last().unwrap();
    assert_eq!((last.status, last.had_auth), (401, true));
    assert_eq!(
        last.authorization.as_deref(),
        Some(format!("Bearer {pat}").as_str())
    );
    assert_eq!(gh.count("GET", "/api/v3/user"), 3);
}

/// `/user/repos` pages like GitHub: `Link` with next/last on the first page, prev/first on the last; owned,
/// collaborator and org repositories, nobody else's.
#[tokio::test]
async fn user_repos_pagination() {
    let gh = FakeGithub::start().await.unwrap();
    gh.add_user("dave");
    gh.add_user("erin");
    gh.add_org("acme", &["dave"]);
    for n in ["a", "b", "c"] {
        gh.create_repo("dave", n, true, &[]).unwrap();
    }
    gh.create_repo("acme", "tool", true, &[]).unwrap();
    gh.create_repo("erin", "shared", true, &[]).unwrap();
    gh.create_repo("erin", "secret", true, &[]).unwrap();
    gh.grant("erin", "shared", "dave");
    let t = gh.issue_token("dave");
    let first = api_get(&gh, "/user/repos?per_page=2", Some(&t)).await;
    let link = header(&first, "link").unwrap();
    let base = format!("{}/user/repos", gh.api_url());
    assert_eq!(
        link,
        format!(
            "<{base}?per_page=2&page=2>; rel=\"next\", <{base}?per_page=2&page=3>; rel=\"last\""
        )
    );
    let names: Vec<String> = first
        .json::<Vec<Value>>()
        .await
        .unwrap()
        .iter()
        .map(|r| r["full_name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["acme/tool", "dave/a"]);
    let last = api_get(&gh, "/user/repos?per_page=2&page=3", Some(&t)).await;
    assert_eq!(
        header(&last, "link").unwrap(),
        format!(
            "<{base}?per_page=2&page=2>; rel=\"prev\", <{base}?per_page=2&page=1>; rel=\"first\""
        )
    );
    let last: Vec<Value> = last.json().await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0]["full_name"], "erin/shared");
    assert_eq!(last[0]["permissions"]["push"], true);
    assert_eq!(last[0]["permissions"]["admin"], false);
    let hidden = api_get(&gh, "/repos/erin/secret", Some(&t)).await;
    assert_eq!(hidden.status(), 404);
}

/// Every GET carries a weak ETag; sending it back in `If-None-Match` gives 304 with no body and does not
/// spend rate limit.
#[tokio::test]
async fn etag_not_modified() {
    let gh = FakeGithub::start().await.unwrap();
    let t = gh.issue_token("frank");
    let first = api_get(&gh, "/user", Some(&t)).await;
    let etag = header(&first, "etag").unwrap();
    assert!(etag.starts_with("W/\"") && etag.len() == 4 + 64, "{etag}");
    assert_eq!(
        header(&first, "x-ratelimit-remaining").as_deref(),
        Some("4999")
    );
    let second = client()
        .get(format!("{}/user", gh.api_url()))
        .bearer_auth(&t)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 304);
    assert_eq!(
        header(&second, "x-ratelimit-remaining").as_deref(),
        Some("4999")
    );
    assert!(second.bytes().await.unwrap().is_empty());
    assert_eq!(gh.requests().last().unwrap().status, 304);
}

/// While rate limited every API call is a 403 with remaining 0 and the reset time; afterwards calls work.
#[tokio::test]
async fn rate_limited() {
    let gh = FakeGithub::start().await.unwrap();
    let id = gh.add_user("gina");
    let t = gh.issue_token("gina");
    gh.set_rate_limited(Some(120));
    let resp = api_get(&gh, "/user", Some(&t)).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(header(&resp, "x-ratelimit-remaining").as_deref(), Some("0"));
    let reset: u64 = header(&resp, "x-ratelimit-reset").unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!((now + 110..=now + 121).contains(&reset), "{reset} vs {now}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["message"],
        format!("API rate limit exceeded for user ID {id}.")
    );
    assert_eq!(
        body["documentation_url"],
        "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
    );
    gh.set_rate_limited(None);
    assert_eq!(api_get(&gh, "/user", Some(&t)).await.status(), 200);
}

/// Runs git (isolated from the user's config) in `dir`, with `token` offered by a credential helper.
async fn git(dir: &Path, token: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "Tester")
        .env("GIT_AUTHOR_EMAIL", "tester@example.com")
        .env("GIT_COMMITTER_NAME", "Tester")
        .env("GIT_COMMITTER_EMAIL", "tester@example.com")
        .env("FAKE_GH_TOKEN", token.unwrap_or_default())
        .args(["-c", "credential.helper="])
        .args([
            "-c",
            "credential.helper=!f() { test \"$1\" = get && test -n \"$FAKE_GH_TOKEN\" && echo username=x-access-token && echo \"password=$FAKE_GH_TOKEN\"; true; }; f",
        ])
        .args(args);
    cmd.output().await.unwrap()
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "git failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A real `git clone` of a private repo needs the token (401 with a Basic challenge without it); a pushed
/// branch becomes a PR (opened webhook, signed), a second push moves its head (synchronize), and merge_pr
/// makes a real merge commit on `main` in the bare repo (closed + merged).
#[tokio::test]
async fn git_clone_push_pull_request_merge() {
    let gh = FakeGithub::start().await.unwrap();
    gh.add_user("hana");
    gh.create_repo(
        "hana",
        "app",
        true,
        &[("README.md", "# app\n"), ("src/main.rs", "fn main() {}\n")],
    )
    .unwrap();
    let token = gh.issue_token("hana");
    let (hooks, hook_url) = webhook_receiver("s3cret").await;
    gh.set_webhook(&hook_url, "s3cret");
    let dir = TempDir::new("fake-gh-test");
    let url = format!("{}/hana/app.git", gh.web_url());

    let denied = git(dir.path(), None, &["clone", &url, "anon"]).await;
    assert!(!denied.status.success());
    let challenged = gh
        .requests()
        .into_iter()
        .any(|r| r.status == 401 && r.path == "/hana/app.git/info/refs" && !r.had_auth);
    assert!(challenged);

    ok(&git(dir.path(), Some(&token), &["clone", &url, "work"]).await);
    let work = dir.path().join("work");
    assert_eq!(
        std::fs::read_to_string(work.join("src/main.rs")).unwrap(),
        "fn main() {}\n"
    );
    let main_before = gh.branch_commit("hana", "app", "main").unwrap();
    assert_eq!(
        ok(&git(&work, None, &["rev-parse", "HEAD"]).await),
        main_before
    );

    std::fs::write(work.join("feature.txt"), "one\n").unwrap();
    ok(&git(&work, None, &["checkout", "-b", "feature"]).await);
    ok(&git(&work, None, &["add", "."]).await);
    ok(&git(&work, None, &["commit", "-m", "feature"]).await);
    ok(&git(&work, Some(&token), &["push", "origin", "feature"]).await);
    let head1 = ok(&git(&work, None, &["rev-parse", "HEAD"]).await);
    assert_eq!(
        gh.branch_commit("hana", "app", "feature").as_deref(),
        Some(head1.as_str())
    );

    let api = |method: reqwest::Method, path: &str| {
        client()
            .request(method, format!("{}{path}", gh.api_url()))
            .bearer_auth(&token)
    };
    let create =
        json!({"title": "Add feature", "head": "feature", "base": "main", "body": "Adds it"});
    let resp = api(reqwest::Method::POST, "/repos/hana/app/pulls")
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let pr: Value = resp.json().await.unwrap();
    assert_eq!(pr["number"], 1);
    assert_eq!(pr["head"]["sha"], head1);
    assert_eq!(pr["base"]["sha"], main_before);
    assert_eq!(pr["html_url"], format!("{}/hana/app/pull/1", gh.web_url()));
    assert_eq!(pr["mergeable"], true);
    let dup = api(reqwest::Method::POST, "/repos/hana/app/pulls")
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), 422);
    let dup: Value = dup.json().await.unwrap();
    assert_eq!(
        dup["errors"][0]["message"],
        "A pull request already exists for hana:feature."
    );
    let missing = api(reqwest::Method::POST, "/repos/hana/app/pulls")
        .json(&json!({"title": "x", "head": "nope", "base": "main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 422);

    std::fs::write(work.join("feature.txt"), "two\n").unwrap();
    ok(&git(&work, None, &["commit", "-am", "more"]).await);
    ok(&git(&work, Some(&token), &["push", "origin", "feature"]).await);
    let head2 = ok(&git(&work, None, &["rev-parse", "HEAD"]).await);
    assert_eq!(gh.pr("hana", "app", 1).unwrap()["head"]["sha"], head2);
    let listed = gh.pulls("hana", "app");
    assert_eq!(listed.len(), 1);

    let merge = gh.merge_pr("hana", "app", 1).unwrap();
    assert_eq!(
        gh.branch_commit("hana", "app", "main").as_deref(),
        Some(merge.as_str())
    );
    let bare = gh.bare_path("hana", "app");
    let parents = ok(&git(&bare, None, &["rev-list", "--parents", "-n1", &merge]).await);
    assert_eq!(parents, format!("{merge} {main_before} {head2}"));
    let pr = gh.pr("hana", "app", 1).unwrap();
    assert_eq!(
        (pr["state"].clone(), pr["merged"].clone()),
        (json!("closed"), json!(true))
    );
    assert_eq!(pr["merge_commit_sha"], merge);

    let delivered = gh.wait_deliveries(3).await;
    assert!(
        delivered
            .iter()
            .all(|d| d.0 == "pull_request" && d.2 == 200),
        "{delivered:?}"
    );
    let actions: Vec<Value> = hooks
        .lock()
        .unwrap()
        .iter()
        .map(|(e, b)| json!([e, b["action"], b["pull_request"]["merged"]]))
        .collect();
    assert_eq!(
        actions,
        [
            json!(["pull_request", "opened", false]),
            json!(["pull_request", "synchronize", false]),
            json!(["pull_request", "closed", true])
        ]
    );
}

/// A public repo: anonymous clone works, anonymous push gets 401, an outsider's push 403. Issues and PRs share
/// numbers (the issues list holds both, PRs with a `pull_request` key); check runs (by branch or sha), reviews
/// and review comments show in the API and deliver `check_run` (with the PR) and `pull_request_review` hooks.
#[tokio::test]
async fn public_repo_checks_reviews_issues() {
    let gh = FakeGithub::start().await.unwrap();
    gh.add_user("ivan");
    gh.add_user("mallory");
    gh.create_repo("ivan", "lib", false, &[("lib.rs", "pub fn f() {}\n")])
        .unwrap();
    let (ivan, mallory) = (gh.issue_token("ivan"), gh.issue_token("mallory"));
    let (hooks, hook_url) = webhook_receiver("k").await;
    let dir = TempDir::new("fake-gh-test");
    let url = format!("{}/ivan/lib", gh.web_url());
    ok(&git(dir.path(), None, &["clone", &url, "work"]).await);
    let work = dir.path().join("work");
    ok(&git(&work, None, &["checkout", "-b", "fix"]).await);
    std::fs::write(work.join("lib.rs"), "pub fn f() -> u8 { 1 }\n").unwrap();
    ok(&git(&work, None, &["commit", "-am", "fix"]).await);
    assert!(
        !git(&work, None, &["push", "origin", "fix"])
            .await
            .status
            .success()
    );
    let outsider = git(&work, Some(&mallory), &["push", "origin", "fix"]).await;
    assert!(!outsider.status.success());
    assert!(gh.requests().iter().any(|r| r.status == 403 && r.had_auth));
    ok(&git(&work, Some(&ivan), &["push", "origin", "fix"]).await);
    let sha = ok(&git(&work, None, &["rev-parse", "HEAD"]).await);

    assert_eq!(gh.add_issue("ivan", "lib", "Bug", "It breaks", &["bug"]), 1);
    gh.set_webhook(&hook_url, "k");
    let forbidden = client()
        .post(format!("{}/repos/ivan/lib/pulls", gh.api_url()))
        .bearer_auth(&mallory)
        .json(&json!({"title": "Fix", "head": "fix", "base": "main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    let created = client()
        .post(format!("{}/repos/ivan/lib/pulls", gh.api_url()))
        .bearer_auth(&ivan)
        .json(&json!({"title": "Fix", "head": "ivan:fix", "base": "main", "draft": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(created.json::<Value>().await.unwrap()["number"], 2);

    let issues: Vec<Value> = api_get(&gh, "/repos/ivan/lib/issues?state=open", None)
        .await
        .json()
        .await
        .unwrap();
    let shape: Vec<(Value, bool)> = issues
        .iter()
        .map(|i| (i["number"].clone(), i.get("pull_request").is_some()))
        .collect();
    assert_eq!(shape, [(json!(2), true), (json!(1), false)]);
    assert_eq!(issues[1]["labels"][0]["name"], "bug");

    gh.set_check_run("ivan", "lib", &sha, "ci", "in_progress", None, "running");
    gh.set_check_run(
        "ivan",
        "lib",
        &sha,
        "ci",
        "completed",
        Some("failure"),
        "2 tests failed",
    );
    let runs: Value = api_get(&gh, "/repos/ivan/lib/commits/fix/check-runs", Some(&ivan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(runs["total_count"], 1);
    assert_eq!(runs["check_runs"][0]["conclusion"], "failure");
    assert_eq!(runs["check_runs"][0]["output"]["summary"], "2 tests failed");
    let by_sha: Value = api_get(
        &gh,
        &format!("/repos/ivan/lib/commits/{sha}/check-runs"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(by_sha["total_count"], 1);

    gh.add_review(
        "ivan",
        "lib",
        2,
        "mallory",
        "CHANGES_REQUESTED",
        "Please rename",
    );
    let comment = gh.add_review_comment("ivan", "lib", 2, "mallory", "lib.rs", 1, "u16?");
    let reviews: Vec<Value> = api_get(&gh, "/repos/ivan/lib/pulls/2/reviews", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reviews[0]["state"], "CHANGES_REQUESTED");
    assert_eq!(reviews[0]["commit_id"], sha);
    let comments: Vec<Value> = api_get(&gh, "/repos/ivan/lib/pulls/2/comments", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(comments[0]["id"], comment);
    assert_eq!(
        (comments[0]["path"].clone(), comments[0]["line"].clone()),
        (json!("lib.rs"), json!(1))
    );
    gh.mark_ready("ivan", "lib", 2);
    gh.close_pr("ivan", "lib", 2);

    gh.wait_deliveries(7).await;
    let seen: Vec<Value> = hooks
        .lock()
        .unwrap()
        .iter()
        .map(|(e, b)| json!([e, b["action"]]))
        .collect();
    assert_eq!(
        seen,
        [
            json!(["pull_request", "opened"]),
            json!(["check_run", "created"]),
            json!(["check_run", "completed"]),
            json!(["pull_request_review", "submitted"]),
            json!(["pull_request_review_comment", "created"]),
            json!(["pull_request", "ready_for_review"]),
            json!(["pull_request", "closed"]),
        ]
    );
    let hooks = hooks.lock().unwrap();
    assert_eq!(hooks[2].1["check_run"]["pull_requests"][0]["number"], 2);
    assert_eq!(hooks[3].1["review"]["state"], "changes_requested");
    assert_eq!(hooks[6].1["pull_request"]["merged"], false);
}

/// A webhook receiver on 127.0.0.1 that checks `X-Hub-Signature-256` (403 when wrong) and keeps
/// `(event, payload)`.
async fn webhook_receiver(secret: &'static str) -> (Arc<Mutex<Vec<(String, Value)>>>, String) {
    use axum::http::{HeaderMap, StatusCode};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let keep = keep.clone();
            async move {
                let sig = headers["x-hub-signature-256"].to_str().unwrap_or_default();
                if sig != webhook_signature(secret, &body) {
                    return StatusCode::FORBIDDEN;
                }
                let event = headers["x-github-event"].to_str().unwrap().to_string();
                keep.lock()
                    .unwrap()
                    .push((event, serde_json::from_slice(&body).unwrap()));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (seen, url)
}

//! The work model's API tests' team: main with alice (the creator), bob and carol, alice's workspace `WEB`,
//! and the requests those tests make over and over.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Method;
use serde_json::{Value, json};

use crate::{Api, TempDir, TestMain};

/// Main with alice (the creator), bob and carol (approved), each logged in; alice owns workspace WEB with
/// bob as `role`.
pub async fn team(tag: &str, bob_role: &str) -> (TempDir, TestMain, Api, Api, Api, String) {
    let dir = TempDir::new(tag);
    let main = TestMain::start(dir.path()).await;
    let mut apis = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let mut api = Api::new(&main);
        assert_eq!(api.auth(true, name, "correct horse battery").await.0, 200);
        apis.push(api);
    }
    for name in ["bob", "carol"] {
        let (s, b) = apis[0]
            .post(&format!("/api/v1/users/{name}/approve"), json!({}))
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, ws) = apis[0]
        .post(
            "/api/v1/workspaces",
            json!({"name": "Web", "key_prefix": "web"}),
        )
        .await;
    assert_eq!(s, 200, "{ws}");
    let id = ws["id"].as_str().unwrap().to_string();
    let (s, b) = apis[0]
        .post(
            &format!("/api/v1/workspaces/{id}/members"),
            json!({"username": "bob", "role": bob_role}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let carol = apis.pop().unwrap();
    let bob = apis.pop().unwrap();
    let alice = apis.pop().unwrap();
    (dir, main, alice, bob, carol, id)
}

/// PATCH with a JSON body.
pub async fn patch(api: &Api, path: &str, body: Value) -> (u16, Value) {
    api.call(Method::PATCH, path, Some(body)).await
}

/// Imports `body` (a file's bytes) into workspace `ws`: the status and the answer.
pub async fn import(api: &Api, ws: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let resp = api
        .request(Method::POST, &format!("/api/v1/workspaces/{ws}/import"))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

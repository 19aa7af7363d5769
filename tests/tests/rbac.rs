//! The RBAC matrix: every route main serves ([`vibebridge_main::api::ROUTES`], the list its router is built
//! from) × every kind of caller, with the answer each must get. A route without a row, or a row naming no
//! route, fails the test before anything runs.
//!
//! Answers are judged as authorization decisions: `U` 401 (not logged in), `D` 403 (refused), `H` 404
//! from main's own visibility check (`no node "…"` / `no session "…"`: others' ids do not leak), `A`
//! allowed (anything else: the handler ran, whatever it then made of the request). WebSockets count the
//! upgrade (101 is allowed); event streams count the response head.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;
use vibebridge_tests::rbac_fx::{COLUMNS, Fx, Row, r};

/// The matrix. Placeholders: `{node}` the node (the revoked one for `revoked`), `{session}` a session of
/// the node's owner (the revoked owner's own for `revoked`), `{root}` the node's root (a git repository
/// with `readme.txt`), `{who}` the caller's name, `{key}` an SSH key id of the caller's, `{pubkey}` a
/// fresh public key, `{spare}` a node like `{node}` made for this request, `{uuid}` a fresh UUID; the work
/// model's (`tests/src/rbac_work.rs`): `{ws}` the workspace, `{spare_ws}` one like it made for this request,
/// `{prefix}` a fresh key prefix, `{task}` a fresh task (with `{comment}` by the caller and `{attachment}`),
/// `{project}` a fresh project on `{node}`, `{run}` a queued run of a fresh task (with `{review_comment}` by the caller), `{connected_repo}` a
/// GitHub repository connected to `{ws}`, `{pull_request}` a pull request of a fresh run, `{webhook}` a webhook of `{ws}`.
#[rustfmt::skip]
fn rows() -> Vec<Row> {
    use Method as M;
    // Columns: anonymous pending outsider member owner admin creator disabled revoked-node-owner.
    let ok = "A A A A A A A A A";
    let user = "U D A A A A A D A"; // any approved user
    let node = "U D H A A A A D H"; // users of the node
    let manage = "U D H D A A A D H"; // the node's owner and admins
    let own = "U D H H A A A D A"; // the session's owner and admins
    let act = "U D H H A A A D D"; // ... while its node is enrolled
    let admin = "U D D D D A A D D";
    let login = "U A A A A A A D A"; // anyone logged in, pending too
    // The workspace: the node's owner owns it, its member is a member, the revoked column is a viewer, the
    // outsider is not in it (404), instance admins act as its admins.
    let ws_read = "U D H A A A A D A";
    let ws_write = "U D H A A A A D D"; // members, not viewers
    let ws_admin = "U D H D A A A D D";
    vec![
        r(M::GET, "/health", "/health", "", ok),
        r(M::GET, "/api/v1/auth/status", "/api/v1/auth/status", "", ok),
        r(M::POST, "/api/v1/auth/register", "/api/v1/auth/register", r#"{"username":"new-{who}","password":"password123"}"#, ok),
        r(M::POST, "/api/v1/auth/login", "/api/v1/auth/login", r#"{"username":"{username}","password":"{password}"}"#, login),
        Row { fresh_login: true, ..r(M::POST, "/api/v1/auth/logout", "/api/v1/auth/logout", "", login) },
        r(M::POST, "/api/v1/auth/refresh", "/api/v1/auth/refresh", r#"{"refresh_token":"{refresh}"}"#, login),
        r(M::GET, "/api/v1/auth/me", "/api/v1/auth/me", "", login),
        r(M::PUT, "/api/v1/auth/me/profile", "/api/v1/auth/me/profile", r#"{"name":"N {who}","email":"{who}@example.com"}"#, user),
        r(M::GET, "/api/v1/auth/me/keys", "/api/v1/auth/me/keys", "", user),
        r(M::POST, "/api/v1/auth/me/keys", "/api/v1/auth/me/keys", r#"{"key":"{pubkey}","challenge":"{challenge}","signature":"{signature}"}"#, user),
        r(M::POST, "/api/v1/auth/me/keys/challenge", "/api/v1/auth/me/keys/challenge", "", user),
        r(M::DELETE, "/api/v1/auth/me/keys/{id}", "/api/v1/auth/me/keys/{key}", "", user),
        r(M::GET, "/api/v1/users", "/api/v1/users", "", admin),
        r(M::POST, "/api/v1/users/{user}/approve", "/api/v1/users/target/approve", "{}", admin),
        r(M::POST, "/api/v1/users/{user}/role", "/api/v1/users/target/role", r#"{"role":"user"}"#, admin),
        r(M::GET, "/api/v1/nodes", "/api/v1/nodes", "", user),
        r(M::POST, "/api/v1/nodes/tokens", "/api/v1/nodes/tokens", "{}", user),
        r(M::GET, "/api/v1/nodes/{id}", "/api/v1/nodes/{node}", "", node),
        r(M::DELETE, "/api/v1/nodes/{id}", "/api/v1/nodes/{spare}", "", manage),
        r(M::POST, "/api/v1/nodes/{id}/members", "/api/v1/nodes/{node}/members", r#"{"username":"target"}"#, manage),
        r(M::DELETE, "/api/v1/nodes/{id}/members/{username}", "/api/v1/nodes/{node}/members/target", "", manage),
        r(M::GET, "/api/v1/nodes/{id}/fs/list", "/api/v1/nodes/{node}/fs/list?path={root}", "", node),
        r(M::GET, "/api/v1/nodes/{id}/fs/stat", "/api/v1/nodes/{node}/fs/stat?path={root}/readme.txt", "", node),
        r(M::GET, "/api/v1/nodes/{id}/fs/read", "/api/v1/nodes/{node}/fs/read?path={root}/readme.txt", "", node),
        r(M::GET, "/api/v1/nodes/{id}/fs/download", "/api/v1/nodes/{node}/fs/download?path={root}/readme.txt", "", node),
        r(M::PUT, "/api/v1/nodes/{id}/fs/write", "/api/v1/nodes/{node}/fs/write?path={root}/w-{who}.txt", "written", node),
        r(M::PUT, "/api/v1/nodes/{id}/fs/upload", "/api/v1/nodes/{node}/fs/upload?path={root}/u-{who}.txt", "uploaded", node),
        r(M::POST, "/api/v1/nodes/{id}/fs/create", "/api/v1/nodes/{node}/fs/create", r#"{"path":"{root}/c-{who}","dir":true}"#, node),
        r(M::POST, "/api/v1/nodes/{id}/fs/rename", "/api/v1/nodes/{node}/fs/rename", r#"{"from":"{root}/mv-{who}.txt","to":"{root}/moved-{who}.txt"}"#, node),
        r(M::POST, "/api/v1/nodes/{id}/fs/delete", "/api/v1/nodes/{node}/fs/delete", r#"{"path":"{root}/rm-{who}.txt"}"#, node),
        r(M::GET, "/api/v1/nodes/{id}/git/status", "/api/v1/nodes/{node}/git/status?repo={root}", "", node),
        r(M::GET, "/api/v1/nodes/{id}/git/diff", "/api/v1/nodes/{node}/git/diff?repo={root}", "", node),
        r(M::GET, "/api/v1/nodes/{id}/git/log", "/api/v1/nodes/{node}/git/log?repo={root}", "", node),
        r(M::GET, "/api/v1/nodes/{id}/git/branches", "/api/v1/nodes/{node}/git/branches?repo={root}", "", node),
        r(M::POST, "/api/v1/nodes/{id}/git/branches", "/api/v1/nodes/{node}/git/branches", r#"{"repo":"{root}","name":"b-{who}"}"#, node),
        r(M::POST, "/api/v1/nodes/{id}/git/checkout", "/api/v1/nodes/{node}/git/checkout", r#"{"repo":"{root}","branch":"main"}"#, node),
        r(M::POST, "/api/v1/nodes/{id}/git/stage", "/api/v1/nodes/{node}/git/stage", r#"{"repo":"{root}","paths":["w-{who}.txt"]}"#, node),
        r(M::POST, "/api/v1/nodes/{id}/git/unstage", "/api/v1/nodes/{node}/git/unstage", r#"{"repo":"{root}","paths":["w-{who}.txt"]}"#, node),
        r(M::POST, "/api/v1/nodes/{id}/git/discard", "/api/v1/nodes/{node}/git/discard", r#"{"repo":"{root}","paths":["readme.txt"]}"#, node),
        r(M::POST, "/api/v1/nodes/{id}/git/commit", "/api/v1/nodes/{node}/git/commit", r#"{"repo":"{root}","message":"by {who}"}"#, node),
        r(M::GET, "/api/v1/nodes/{id}/terminal", "/api/v1/nodes/{node}/terminal?terminal_id={uuid}", "", node),
        r(M::GET, "/api/v1/sessions", "/api/v1/sessions", "", user),
        r(M::POST, "/api/v1/sessions", "/api/v1/sessions", r#"{"node_id":"{node}","path":"{root}","provider":"claude","prompt":"hi"}"#, node),
        r(M::GET, "/api/v1/sessions/{id}", "/api/v1/sessions/{session}", "", own),
        r(M::GET, "/api/v1/sessions/{id}/events", "/api/v1/sessions/{session}/events?after=0", "", own),
        r(M::GET, "/api/v1/sessions/{id}/stream", "/api/v1/sessions/{session}/stream?after=0", "", own),
        r(M::POST, "/api/v1/sessions/{id}/messages", "/api/v1/sessions/{session}/messages", r#"{"text":"go on"}"#, act),
        r(M::POST, "/api/v1/sessions/{id}/stop", "/api/v1/sessions/{session}/stop", "", act),
        r(M::POST, "/api/v1/sessions/{id}/approvals/{approval_id}", "/api/v1/sessions/{session}/approvals/{uuid}", r#"{"decision":"allow"}"#, act),
        r(M::GET, "/api/v1/approvals", "/api/v1/approvals", "", user),
        r(M::GET, "/api/v1/ws", "/api/v1/ws", "", user),
        r(M::GET, "/api/v1/audit", "/api/v1/audit", "", admin),
        r(M::GET, "/api/v1/workspaces", "/api/v1/workspaces", "", user),
        r(M::POST, "/api/v1/workspaces", "/api/v1/workspaces", r#"{"name":"W {who}","key_prefix":"{prefix}"}"#, user),
        r(M::GET, "/api/v1/workspaces/{id}", "/api/v1/workspaces/{ws}", "", ws_read),
        r(M::PATCH, "/api/v1/workspaces/{id}", "/api/v1/workspaces/{ws}", r#"{"prompt_prefix":"by {who}"}"#, ws_admin),
        r(M::DELETE, "/api/v1/workspaces/{id}", "/api/v1/workspaces/{spare_ws}?confirm=Spare", "", ws_admin),
        r(M::POST, "/api/v1/workspaces/{id}/members", "/api/v1/workspaces/{ws}/members", r#"{"username":"target","role":"viewer"}"#, ws_admin),
        r(M::DELETE, "/api/v1/workspaces/{id}/members/{username}", "/api/v1/workspaces/{ws}/members/target", "", ws_admin),
        r(M::GET, "/api/v1/workspaces/{id}/templates", "/api/v1/workspaces/{ws}/templates", "", ws_read),
        r(M::PUT, "/api/v1/workspaces/{id}/templates/{name}", "/api/v1/workspaces/{ws}/templates/t2", r#"{"body":"by {who}"}"#, ws_admin),
        r(M::DELETE, "/api/v1/workspaces/{id}/templates/{name}", "/api/v1/workspaces/{ws}/templates/t1", "", ws_admin),
        r(M::GET, "/api/v1/workspaces/{id}/board", "/api/v1/workspaces/{ws}/board?q=task", "", ws_read),
        r(M::GET, "/api/v1/workspaces/{id}/tasks", "/api/v1/workspaces/{ws}/tasks?limit=5", "", ws_read),
        r(M::POST, "/api/v1/workspaces/{id}/tasks", "/api/v1/workspaces/{ws}/tasks", r#"{"title":"by {who}"}"#, ws_write),
        r(M::GET, "/api/v1/workspaces/{id}/export", "/api/v1/workspaces/{ws}/export", "", ws_read),
        r(M::POST, "/api/v1/workspaces/{id}/import", "/api/v1/workspaces/{ws}/import", r#"{"format":"vibebridge.workspace","version":1,"name":"W","settings":{"key_prefix":"X","status_names":[]},"members":[],"projects":[],"templates":[],"tasks":[]}"#, ws_write),
        r(M::GET, "/api/v1/workspaces/{id}/projects", "/api/v1/workspaces/{ws}/projects", "", ws_read),
        r(M::POST, "/api/v1/workspaces/{id}/projects", "/api/v1/workspaces/{ws}/projects", r#"{"node_id":"n1","repo_path":"{root}"}"#, ws_write),
        r(M::GET, "/api/v1/projects/{id}", "/api/v1/projects/{project}", "", ws_read),
        r(M::PATCH, "/api/v1/projects/{id}", "/api/v1/projects/{project}", r#"{"name":"by {who}"}"#, ws_admin),
        r(M::DELETE, "/api/v1/projects/{id}", "/api/v1/projects/{project}", "", ws_admin),
        r(M::GET, "/api/v1/projects/{id}/branches", "/api/v1/projects/{project}/branches", "", ws_write),
        // The node's users among the workspace's members: the revoked column is a viewer.
        r(M::GET, "/api/v1/projects/{id}/worktrees", "/api/v1/projects/{project}/worktrees", "", ws_write),
        r(M::GET, "/api/v1/tasks/{id}", "/api/v1/tasks/{task}", "", ws_read),
        r(M::PATCH, "/api/v1/tasks/{id}", "/api/v1/tasks/{task}", r#"{"version":1,"title":"by {who}"}"#, ws_write),
        r(M::DELETE, "/api/v1/tasks/{id}", "/api/v1/tasks/{task}", "", ws_admin),
        r(M::POST, "/api/v1/tasks/{id}/move", "/api/v1/tasks/{task}/move", r#"{"status":"done"}"#, ws_write),
        r(M::GET, "/api/v1/tasks/{id}/subtasks", "/api/v1/tasks/{task}/subtasks", "", ws_read),
        r(M::GET, "/api/v1/tasks/{id}/comments", "/api/v1/tasks/{task}/comments", "", ws_read),
        r(M::POST, "/api/v1/tasks/{id}/comments", "/api/v1/tasks/{task}/comments", r#"{"body":"by @{who}"}"#, ws_write),
        r(M::PATCH, "/api/v1/tasks/{id}/comments/{comment_id}", "/api/v1/tasks/{task}/comments/{comment}", r#"{"body":"edited"}"#, ws_write),
        r(M::DELETE, "/api/v1/tasks/{id}/comments/{comment_id}", "/api/v1/tasks/{task}/comments/{comment}", "", ws_write),
        r(M::GET, "/api/v1/tasks/{id}/activity", "/api/v1/tasks/{task}/activity", "", ws_read),
        r(M::GET, "/api/v1/tasks/{id}/attachments", "/api/v1/tasks/{task}/attachments", "", ws_read),
        r(M::GET, "/api/v1/tasks/{id}/attachments/{attachment_id}", "/api/v1/tasks/{task}/attachments/{attachment}", "", ws_read),
        r(M::GET, "/api/v1/tasks/{id}/runs", "/api/v1/tasks/{task}/runs", "", ws_read),
        // The task has no project: a member gets 400 (the handler ran), a viewer 403.
        r(M::POST, "/api/v1/tasks/{id}/runs", "/api/v1/tasks/{task}/runs", "{}", ws_write),
        r(M::GET, "/api/v1/runs/{id}", "/api/v1/runs/{run}", "", ws_read),
        r(M::POST, "/api/v1/runs/{id}/stop", "/api/v1/runs/{run}/stop", "", ws_write),
        // The run never started: members get 409 (the handler ran), viewers 403, outsiders 404.
        r(M::POST, "/api/v1/runs/{id}/dev", "/api/v1/runs/{run}/dev", r#"{"start":true}"#, ws_write),
        // The run never prepared a work tree: readers get 409 (the handler ran), outsiders 404.
        r(M::GET, "/api/v1/runs/{id}/diff", "/api/v1/runs/{run}/diff", "", ws_read),
        r(M::GET, "/api/v1/runs/{id}/comments", "/api/v1/runs/{run}/comments", "", ws_read),
        r(M::POST, "/api/v1/runs/{id}/comments", "/api/v1/runs/{run}/comments", r#"{"path":"a.txt","line":1,"code":"a","body":"why?"}"#, ws_write),
        r(M::POST, "/api/v1/runs/{id}/comments/send", "/api/v1/runs/{run}/comments/send", "", ws_write),
        r(M::PATCH, "/api/v1/runs/{id}/comments/{comment_id}", "/api/v1/runs/{run}/comments/{review_comment}", r#"{"body":"edited"}"#, ws_write),
        r(M::DELETE, "/api/v1/runs/{id}/comments/{comment_id}", "/api/v1/runs/{run}/comments/{review_comment}", "", ws_write),
        r(M::POST, "/api/v1/runs/{id}/rebase", "/api/v1/runs/{run}/rebase", "", ws_write),
        r(M::POST, "/api/v1/runs/{id}/merge", "/api/v1/runs/{run}/merge", "{}", ws_write),
        // Everyone sees the usage of their own workspaces (the outsider an empty report).
        r(M::POST, "/api/v1/runs/{id}/cleanup", "/api/v1/runs/{run}/cleanup", "{}", ws_write),
        r(M::GET, "/api/v1/usage", "/api/v1/usage?group_by=workspace", "", user),
        // GitHub. The fixture's callers have no GitHub connection and main no OAuth app: allowed callers
        // get 409 github_not_connected or "no OAuth app" (the handler ran), and nothing reaches GitHub.
        r(M::GET, "/api/v1/github/connection", "/api/v1/github/connection", "", user),
        r(M::DELETE, "/api/v1/github/connection", "/api/v1/github/connection", "", user),
        r(M::POST, "/api/v1/github/connect", "/api/v1/github/connect", "", user),
        // Authenticated by its single-use state, not a login (the cookie is SameSite=Strict): a redirect.
        r(M::GET, "/api/v1/github/callback", "/api/v1/github/callback?code=c&state=s", "", ok),
        r(M::POST, "/api/v1/github/device", "/api/v1/github/device", "", user),
        r(M::DELETE, "/api/v1/github/device", "/api/v1/github/device", "", user),
        r(M::POST, "/api/v1/github/token", "/api/v1/github/token", r#"{"token":""}"#, user),
        r(M::GET, "/api/v1/github/repos", "/api/v1/github/repos?q=web", "", user),
        // workspace.settings: workspace admins connect and disconnect repositories.
        r(M::POST, "/api/v1/github/repos/{id}/connect", "/api/v1/github/repos/42/connect", r#"{"workspace_id":"{ws}"}"#, ws_admin),
        r(M::GET, "/api/v1/workspaces/{id}/github/repos", "/api/v1/workspaces/{ws}/github/repos", "", ws_read),
        r(M::DELETE, "/api/v1/github/connected/{id}", "/api/v1/github/connected/{connected_repo}", "", ws_admin),
        // `{root}` has no origin: members allowed on the node get 409 (the handler ran).
        r(M::POST, "/api/v1/github/connected/{id}/project", "/api/v1/github/connected/{connected_repo}/project", r#"{"node_id":"n1","path":"{root}","link":true}"#, ws_write),
        r(M::POST, "/api/v1/github/connected/{id}/import-issues", "/api/v1/github/connected/{connected_repo}/import-issues", "{}", ws_write),
        // task.execute: members push and open pull requests.
        r(M::POST, "/api/v1/runs/{id}/push", "/api/v1/runs/{run}/push", "", ws_write),
        r(M::GET, "/api/v1/runs/{id}/pull-request", "/api/v1/runs/{run}/pull-request", "", ws_read),
        r(M::POST, "/api/v1/runs/{id}/pull-request", "/api/v1/runs/{run}/pull-request", "{}", ws_write),
        r(M::PATCH, "/api/v1/pull-requests/{id}", "/api/v1/pull-requests/{pull_request}", r#"{"autofix":true}"#, ws_write),
        r(M::POST, "/api/v1/pull-requests/{id}/address", "/api/v1/pull-requests/{pull_request}/address", "", ws_write),
        // A check on GitHub is a read: anyone who sees the task may ask for one.
        r(M::POST, "/api/v1/pull-requests/{id}/refresh", "/api/v1/pull-requests/{pull_request}/refresh", "", ws_read),
        // Authenticated by its HMAC signature: without github.webhook_secret every delivery is refused.
        r(M::POST, "/api/v1/github/webhook", "/api/v1/github/webhook", r#"{"zen":"x"}"#, "D D D D D D D D D"),
        // Notifications: one's own devices and preferences; a workspace's webhooks are its admins'
        // (workspace.settings). `{uuid}` is nobody's device: the handler runs and answers 404.
        r(M::GET, "/api/v1/push/key", "/api/v1/push/key", "", user),
        r(M::GET, "/api/v1/push/subscriptions", "/api/v1/push/subscriptions", "", user),
        r(M::POST, "/api/v1/push/subscriptions", "/api/v1/push/subscriptions", r#"{"endpoint":"https://fcm.googleapis.com/fcm/send/{uuid}","keys":{"p256dh":"BLn9b-VR0ca83knDNZ32dCHGyjJp-1riX9ZTN40MqV8K_LpQmLqxC_DoHvqvFXO_nGdAB4W9dogZb_sM-uV4JbY","auth":"_ordMnz7uTCmrpBTeUV4Bw"}}"#, user),
        r(M::DELETE, "/api/v1/push/subscriptions/{id}", "/api/v1/push/subscriptions/{uuid}", "", user),
        r(M::POST, "/api/v1/push/subscriptions/{id}/test", "/api/v1/push/subscriptions/{uuid}/test", "", user),
        r(M::GET, "/api/v1/notifications/prefs", "/api/v1/notifications/prefs", "", user),
        r(M::PUT, "/api/v1/notifications/prefs", "/api/v1/notifications/prefs", r#"{"events":["approval"],"workspaces":null,"quiet_hours":null}"#, user),
        r(M::GET, "/api/v1/workspaces/{id}/webhooks", "/api/v1/workspaces/{ws}/webhooks", "", ws_admin),
        r(M::POST, "/api/v1/workspaces/{id}/webhooks", "/api/v1/workspaces/{ws}/webhooks", r#"{"name":"h","kind":"slack","url":"https://hooks.slack.com/services/T/B/x"}"#, ws_admin),
        r(M::PATCH, "/api/v1/webhooks/{id}", "/api/v1/webhooks/{webhook}", r#"{"enabled":false}"#, ws_admin),
        r(M::DELETE, "/api/v1/webhooks/{id}", "/api/v1/webhooks/{webhook}", "", ws_admin),
        r(M::POST, "/api/v1/webhooks/{id}/test", "/api/v1/webhooks/{webhook}/test", "", ws_admin),
        r(M::GET, "/api/v1/webhooks/{id}/deliveries", "/api/v1/webhooks/{webhook}/deliveries", "", ws_admin),
        r(M::POST, "/api/v1/webhooks/{id}/deliveries/{delivery}/retry", "/api/v1/webhooks/{webhook}/deliveries/1/retry", "", ws_admin),
        // Last: both end the caller's other logins, which every row above relies on. The new password is
        // the old one, so later logins keep working.
        Row { fresh_login: true, ..r(M::POST, "/api/v1/auth/password", "/api/v1/auth/password", r#"{"current_password":"{password}","new_password":"{password}"}"#, login) },
        Row { fresh_login: true, ..r(M::POST, "/api/v1/auth/logout-all", "/api/v1/auth/logout-all", "", login) },
    ]
}

/// What an answer means, as one letter of the matrix; `?` when the matrix's own request was malformed
/// (it then says nothing about authorization).
fn judge(status: u16, body: &Value) -> char {
    let message = body["error"]["message"].as_str().unwrap_or("");
    let malformed = ["invalid JSON body", "invalid query string", "invalid path"];
    match status {
        401 => 'U',
        403 => 'D',
        404 if [
            "no node \"",
            "no session \"",
            "no workspace \"",
            "no task \"",
            "no project \"",
            "no run \"",
            "no connected repository ",
            "no pull request ",
            "no webhook ",
        ]
        .iter()
        .any(|p| message.starts_with(p)) =>
        {
            'H'
        }
        400 if malformed.iter().any(|m| message.starts_with(m)) => '?',
        _ => 'A',
    }
}

/// Whether `path` (query aside) is an instance of the route pattern `route`.
fn instance_of(path: &str, route: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let (p, r): (Vec<_>, Vec<_>) = (path.split('/').collect(), route.split('/').collect());
    p.len() == r.len()
        && p.iter()
            .zip(&r)
            .all(|(p, r)| p == r || (r.starts_with('{') && !p.is_empty()))
}

/// Proves every route in main's router list has a row, and every caller gets exactly its row's answer.
#[tokio::test]
async fn every_route_answers_every_caller_as_the_matrix_says() {
    let rows = rows();
    let served: BTreeSet<(String, String)> = vibebridge_main::api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let tabled: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_string(), r.route.to_string()))
        .collect();
    let missing: Vec<_> = served.iter().filter(|k| !tabled.contains(k)).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the RBAC matrix (tests/tests/rbac.rs): {missing:?}"
    );
    let unknown: Vec<_> = tabled.iter().filter(|k| !served.contains(k)).collect();
    assert!(
        unknown.is_empty(),
        "rows naming no route main serves: {unknown:?}"
    );
    assert_eq!(tabled.len(), served.len(), "a route has two rows");
    for row in &rows {
        assert!(
            instance_of(row.path, row.route),
            "{} requests {}, not its route",
            row.route,
            row.path
        );
        assert_eq!(
            row.expect.split(' ').count(),
            COLUMNS.len(),
            "{}: one letter per caller",
            row.route
        );
    }

    let fx = Fx::start().await;
    let mut wrong = Vec::new();
    for row in &rows {
        let mut seen = Vec::new(); // the statuses, printed as the observed matrix
        for (who, want) in COLUMNS.iter().zip(row.expect.split(' ')) {
            let (status, body) = fx.call(row, *who).await;
            let got = judge(status, &body);
            seen.push(status.to_string());
            if !want.starts_with(got) {
                wrong.push(format!(
                    "{} {} as {}: want {want}, got {got} ({status} {body})",
                    row.method,
                    row.route,
                    who.name()
                ));
            }
        }
        println!(
            "{:<7}{:<46}{}",
            row.method.as_str(),
            row.route,
            seen.join(" ")
        );
    }
    println!(
        "RBAC matrix: {} routes × {} callers",
        rows.len(),
        COLUMNS.len()
    );
    assert!(
        wrong.is_empty(),
        "{} cells disagree:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    fx.stop().await;
}

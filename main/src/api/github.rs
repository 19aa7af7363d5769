//! GitHub: `/api/v1/github/connection` (the person's account: read, or `DELETE` to disconnect and revoke),
//! `connect` + `callback` (OAuth web flow), `device` (device flow), `token` (a pasted token), `repos`
//! (their repositories; `repos/:id/connect` connects one to a workspace), `connected/:id` (a workspace's
//! repository: `project` clones or links it on a node, `import-issues`), `/runs/:id/push` and
//! `/runs/:id/pull-request`, `/pull-requests/:id` (auto-fix, `address`, `refresh`) and the webhook
//! endpoint GitHub posts to, which is authenticated by its HMAC signature instead of a login.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::extract::Writer;
use super::{ApiError, Body, Path, Query};
use crate::auth::Approved;
use crate::auth::client_ip::ClientAddr;
use crate::github::DeviceFlow;
use crate::ops::Actor;
use crate::ops::github::connect::{
    self, ConnectStart, Disconnected, GithubAccount, GithubStatus, PastedToken,
};
use crate::ops::github::pulls::{self, NewPullRequest, PullRequestPatch};
use crate::ops::github::repos::{
    self, ConnectRepo, ImportIssues, IssuesImported, RepoPage, RepoProject, RepoQuery,
};
use crate::ops::github::review::{self, ReviewAddressed};
use crate::ops::github::webhook::{self, WebhookOutcome};
use crate::ops::github::{device, follow};
use crate::state::AppState;
use crate::store::{ConnectedRepo, Project, PullRequest, Run};

/// `GET /github/connection`: the person's account (never its token) and the ways to connect here.
pub async fn status(
    State(state): State<AppState>,
    Approved(who): Approved,
) -> Result<Json<GithubStatus>, ApiError> {
    Ok(Json(connect::status(&state, &who.user)?))
}

/// The cookie that ties an OAuth web flow to the browser that started it. `SameSite=Lax` (unlike the login
/// cookies), since it must come back on GitHub's cross-site redirect to the callback, its only path.
const OAUTH_COOKIE: &str = "vb_github_oauth";

/// The callback's path: the only one the flow cookie is sent to.
const CALLBACK_PATH: &str = "/api/v1/github/callback";

/// `POST /github/connect`: `{redirect_url}` to send the browser to (OAuth web flow), and the browser's
/// flow cookie.
pub async fn start(
    State(state): State<AppState>,
    w: Writer,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let nonce = vibebridge_tunnel::keys::random_hex(16);
    let start: ConnectStart = connect::start_web(&state, &w.who.user, origin, &nonce)?;
    let mut response = Json(start).into_response();
    super::auth::set_cookie_with(
        &mut response,
        &state,
        OAUTH_COOKIE,
        &nonce,
        CALLBACK_PATH,
        600,
        "Lax",
    );
    Ok(response)
}

/// `?code&state` (or `?error&error_description`) from GitHub.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /github/callback`: where GitHub sends the browser back. Authenticated by the single-use `state`
/// and the flow cookie of the browser that started it (the login cookie is `SameSite=Strict`, so it does
/// not come along from github.com); answers with a redirect to Settings → GitHub saying how it went.
pub async fn callback(
    State(state): State<AppState>,
    addr: ClientAddr,
    who: Result<Approved, ApiError>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let back = |key: &str, value: &str| {
        let mut url =
            reqwest::Url::parse("http://x/settings/github").unwrap_or_else(|_| unreachable!());
        url.query_pairs_mut().append_pair(key, value);
        Redirect::to(&format!("/settings/github?{}", url.query().unwrap_or(""))).into_response()
    };
    if let Some(error) = q.error {
        return back("error", q.error_description.as_deref().unwrap_or(&error));
    }
    let (Some(code), Some(state_token)) = (q.code, q.state) else {
        return back(
            "error",
            "GitHub's answer had no code or state; start \"Connect GitHub\" again",
        );
    };
    let who = who.ok().map(|Approved(w)| w.user);
    let actor = match &who {
        Some(u) => Actor::user(u.username.clone(), Some(addr.peer)),
        None => Actor::anonymous(addr.ip, Some(addr.peer)),
    };
    let nonce = super::extract::cookie(&headers, OAUTH_COOKIE);
    let mut response =
        match connect::finish_web(&state, &actor, who.as_ref(), nonce, &state_token, &code).await {
            Ok(account) => back("connected", &account.login),
            Err(e) => back("error", &e.to_string()),
        };
    // The flow is over either way: its cookie goes.
    super::auth::set_cookie_with(
        &mut response,
        &state,
        OAUTH_COOKIE,
        "",
        CALLBACK_PATH,
        0,
        "Lax",
    );
    response
}

/// `POST /github/device`: starts the device flow; its progress comes on the `github` topic.
pub async fn device(
    State(state): State<AppState>,
    w: Writer,
) -> Result<Json<DeviceFlow>, ApiError> {
    Ok(Json(
        device::start_device(&state, &w.actor, &w.who.user).await?,
    ))
}

/// `DELETE /github/device`: cancels it. 204.
pub async fn cancel_device(State(state): State<AppState>, w: Writer) -> StatusCode {
    device::cancel_device(&state, &w.who.user);
    StatusCode::NO_CONTENT
}

/// `POST /github/token` `{token}`: connects with a pasted token once GitHub accepts it.
pub async fn token(
    State(state): State<AppState>,
    w: Writer,
    Body(body): Body<PastedToken>,
) -> Result<Json<GithubAccount>, ApiError> {
    Ok(Json(
        connect::connect_token(&state, &w.actor, &w.who.user, body).await?,
    ))
}

/// `DELETE /github/connection`: revokes (OAuth) and deletes the connection.
pub async fn disconnect(
    State(state): State<AppState>,
    w: Writer,
) -> Result<Json<Disconnected>, ApiError> {
    Ok(Json(
        connect::disconnect(&state, &w.actor, &w.who.user).await?,
    ))
}

/// `GET /github/repos?q&page&per_page`.
pub async fn list_repos(
    State(state): State<AppState>,
    Approved(who): Approved,
    Query(q): Query<RepoQuery>,
) -> Result<Json<RepoPage>, ApiError> {
    Ok(Json(repos::list(&state, &who.user, q).await?))
}

/// `POST /github/repos/:id/connect` `{workspace_id}`: 201 with the connected repository (workspace admin).
pub async fn connect_repo(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(body): Body<ConnectRepo>,
) -> Result<(StatusCode, Json<ConnectedRepo>), ApiError> {
    let repo = repos::connect(&state, &w.actor, &w.who.user, &id, body).await?;
    Ok((StatusCode::CREATED, Json(repo)))
}

/// `GET /workspaces/:id/github/repos`: the workspace's connected repositories.
pub async fn connected(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<Vec<ConnectedRepo>>, ApiError> {
    Ok(Json(repos::connected(&state, &who.user, &id)?))
}

/// `DELETE /github/connected/:id`: 204 (workspace admin).
pub async fn disconnect_repo(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    repos::disconnect(&state, &w.actor, &w.who.user, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /github/connected/:id/project`: 201 with the project, cloned or linked on a node.
pub async fn project(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(body): Body<RepoProject>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    let p = repos::project(&state, &w.actor, &w.who.user, &id, body).await?;
    Ok((StatusCode::CREATED, Json(p)))
}

/// `POST /github/connected/:id/import-issues`.
pub async fn import_issues(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(body): Body<ImportIssues>,
) -> Result<Json<IssuesImported>, ApiError> {
    Ok(Json(
        repos::import_issues(&state, &w.actor, &w.who.user, &id, body).await?,
    ))
}

/// `POST /runs/:id/push`: the run after pushing its branch with the caller's token.
pub async fn push(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(pulls::push(&state, &w.actor, &w.who.user, &id).await?))
}

/// `POST /runs/:id/pull-request`: 201 with the pull request.
pub async fn create_pull_request(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(body): Body<NewPullRequest>,
) -> Result<(StatusCode, Json<PullRequest>), ApiError> {
    let pr = pulls::create(&state, &w.actor, &w.who.user, &id, body).await?;
    Ok((StatusCode::CREATED, Json(pr)))
}

/// `GET /runs/:id/pull-request`: the run's pull request (404 when it has none).
pub async fn run_pull_request(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<PullRequest>, ApiError> {
    let (_, _, run) = crate::ops::runs::visible(&state, &who.user, &id)?;
    Ok(Json(state.store.pull_request_of_run(run.id)?.ok_or_else(
        || ApiError::NotFound("this run has no pull request".into()),
    )?))
}

/// `PATCH /pull-requests/:id` `{autofix}`.
pub async fn update_pull_request(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
    Body(body): Body<PullRequestPatch>,
) -> Result<Json<PullRequest>, ApiError> {
    Ok(Json(pulls::update(&state, &w.who.user, &id, body)?))
}

/// `POST /pull-requests/:id/address`: review comments and failed checks to the run's agent.
pub async fn address(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
) -> Result<Json<ReviewAddressed>, ApiError> {
    Ok(Json(review::address(&state, &w.actor, &w.who, &id).await?))
}

/// `POST /pull-requests/:id/refresh`: checks it on GitHub now; the pull request then.
pub async fn refresh(
    State(state): State<AppState>,
    w: Writer,
    Path(id): Path<String>,
) -> Result<Json<PullRequest>, ApiError> {
    let (_, pr) = pulls::visible_pr(&state, &w.who.user, &id)?;
    follow::refresh(&state, pr.id).await?;
    Ok(Json(state.store.pull_request(pr.id)?.ok_or_else(|| {
        ApiError::NotFound("the pull request was deleted".into())
    })?))
}

/// `POST /github/webhook`: a delivery from GitHub, verified by `X-Hub-Signature-256`.
pub async fn webhook(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookOutcome>, ApiError> {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let actor = Actor::anonymous(addr.ip, Some(addr.peer));
    Ok(Json(webhook::webhook(
        &state,
        &actor,
        &addr.ip.to_string(),
        h("x-github-event"),
        h("x-github-delivery"),
        h("x-hub-signature-256"),
        &body,
    )?))
}

//! The REST side of [`super::github::FakeGithub`], everything under `/api/v3`: authentication, the rate limit
//! (headers, 403 when limited), conditional requests (weak ETags, 304) and the endpoints main uses.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::github::{
    Check, FakeGithub, Inner, Item, Pr, Repo, ReviewComment, St, basic, empty, encode_form, iso,
    json_response, now, param, parse_form, percent_decode,
};
use super::github_git as git;

const LIMIT: u64 = 5000;
const DOCS: &str = "https://docs.github.com/rest";

/// An endpoint's answer before the common headers are added.
struct Out {
    status: StatusCode,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Out {
    fn ok(body: Value) -> Out {
        Out::with(StatusCode::OK, body)
    }

    fn with(status: StatusCode, body: Value) -> Out {
        Out {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn err(status: StatusCode, message: &str) -> Out {
        Out::with(
            status,
            json!({"message": message, "documentation_url": DOCS}),
        )
    }

    fn not_found() -> Out {
        Out::err(StatusCode::NOT_FOUND, "Not Found")
    }

    fn invalid(errors: Value) -> Out {
        Out::with(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": "Validation Failed", "errors": errors, "documentation_url": DOCS}),
        )
    }
}

/// Who is calling: login, user id, whether through an OAuth token.
struct Viewer {
    login: String,
    id: u64,
    oauth: bool,
}

/// One API request (`rest` is the path after `/api/v3`).
pub(super) async fn api(
    inner: &Arc<Inner>,
    method: &Method,
    rest: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let segs: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let (&Method::DELETE, ["applications", client, what @ ("grant" | "token")]) =
        (method, segs.as_slice())
    {
        return revoke_grant(inner, client, auth, body, *what == "grant");
    }
    let viewer = match auth {
        None => None,
        Some(a) => {
            let token = bearer(a);
            let st = inner.st();
            match token.and_then(|t| st.token_user(&t)) {
                Some((login, oauth)) => {
                    let id = st.account(&login).map_or(0, |a| a.id);
                    Some(Viewer { login, id, oauth })
                }
                None => {
                    drop(st);
                    let out = Out::err(StatusCode::UNAUTHORIZED, "Bad credentials");
                    return finish(inner, None, method, headers, out);
                }
            }
        }
    };
    let limited = inner.st().limited_until.filter(|u| *u > now());
    if let Some(reset) = limited {
        let who = viewer
            .as_ref()
            .map_or("127.0.0.1".to_string(), |v| format!("user ID {}", v.id));
        let body = json!({
            "message": format!("API rate limit exceeded for {who}."),
            "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
        });
        let mut r = json_response(StatusCode::FORBIDDEN, &body);
        let h = r.headers_mut();
        for (k, v) in [
            ("x-ratelimit-limit", LIMIT.to_string()),
            ("x-ratelimit-remaining", "0".to_string()),
            ("x-ratelimit-reset", reset.to_string()),
            ("x-ratelimit-used", LIMIT.to_string()),
            ("x-ratelimit-resource", "core".to_string()),
            ("x-github-request-id", request_id()),
        ] {
            insert(h, k, &v);
        }
        return r;
    }
    let pairs = parse_form(query);
    let out = route(inner, method, &segs, &pairs, viewer.as_ref(), body);
    finish(inner, viewer.as_ref(), method, headers, out)
}

/// The token of `Bearer T`, `token T` or HTTP Basic `user:T`.
fn bearer(auth: &str) -> Option<String> {
    let (scheme, rest) = auth.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        return Some(rest.trim().to_string());
    }
    basic(auth).map(|(_, p)| p)
}

fn insert(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

fn request_id() -> String {
    let hex = vibebridge_tunnel::keys::random_hex(10).to_uppercase();
    format!("{}:{}:{}", &hex[..4], &hex[4..10], &hex[10..])
}

/// Adds the ETag (answering 304 when `If-None-Match` matches, without spending rate limit), the rate-limit
/// and request-id headers, `x-oauth-scopes` for OAuth tokens.
fn finish(
    inner: &Inner,
    viewer: Option<&Viewer>,
    method: &Method,
    headers: &HeaderMap,
    out: Out,
) -> Response {
    let text = out.body.as_ref().map(Value::to_string);
    let etag = (method == Method::GET && out.status == StatusCode::OK)
        .then_some(text.as_ref())
        .flatten()
        .map(|t| format!("W/\"{}\"", hex::encode(Sha256::digest(t.as_bytes()))));
    let not_modified = etag.as_ref().is_some_and(|tag| {
        headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|inm| {
                inm.split(',').any(|c| {
                    let c = c.trim();
                    c == "*" || c == tag || c.strip_prefix("W/") == tag.strip_prefix("W/")
                })
            })
    });
    let (reset, used) = {
        let mut st = inner.st();
        let t = now();
        let entry = st
            .usage
            .entry(viewer.map_or(0, |v| v.id))
            .or_insert((t + 3600, 0));
        if t >= entry.0 {
            *entry = (t + 3600, 0);
        }
        if !not_modified {
            entry.1 += 1;
        }
        *entry
    };
    let mut r = if not_modified {
        empty(StatusCode::NOT_MODIFIED)
    } else {
        match &out.body {
            Some(b) => json_response(out.status, b),
            None => empty(out.status),
        }
    };
    let h = r.headers_mut();
    for (k, v) in [
        ("x-ratelimit-limit", LIMIT.to_string()),
        (
            "x-ratelimit-remaining",
            LIMIT.saturating_sub(used).to_string(),
        ),
        ("x-ratelimit-reset", reset.to_string()),
        ("x-ratelimit-used", used.to_string()),
        ("x-ratelimit-resource", "core".to_string()),
        ("x-github-request-id", request_id()),
        ("x-github-media-type", "github.v3; format=json".to_string()),
    ] {
        insert(h, k, &v);
    }
    if viewer.is_some_and(|v| v.oauth) {
        insert(h, "x-oauth-scopes", "repo, read:org");
    }
    if let Some(tag) = &etag {
        insert(h, "etag", tag);
        insert(h, "cache-control", "private, max-age=60, s-maxage=60");
        insert(h, "vary", "Accept, Authorization, Cookie");
    }
    for (k, v) in &out.headers {
        insert(h, k, v);
    }
    r
}

/// The commit a `commits/{ref}/…` path names, or GitHub's 422 when there is none.
fn commit_of(inner: &Inner, owner: &str, name: &str, reference: &[&str]) -> Result<String, Out> {
    let reference = reference.join("/");
    git::resolve(&inner.bare_path(owner, name), &reference).ok_or_else(|| {
        Out::err(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("No commit found for SHA: {reference}"),
        )
    })
}

/// `DELETE /applications/{client_id}/grant` revokes every token of the token's user for the app;
/// `DELETE /applications/{client_id}/token` (`whole_grant` false) only that token.
fn revoke_grant(
    inner: &Inner,
    client: &str,
    auth: Option<&str>,
    body: &[u8],
    whole_grant: bool,
) -> Response {
    let not_found = || {
        json_response(
            StatusCode::NOT_FOUND,
            &json!({"message": "Not Found", "documentation_url": DOCS}),
        )
    };
    let creds = auth.and_then(basic);
    let ok = creds.is_some_and(|(id, secret)| {
        id == client && id == FakeGithub::CLIENT_ID && secret == FakeGithub::CLIENT_SECRET
    });
    if !ok {
        return not_found();
    }
    let token = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["access_token"].as_str().map(str::to_string));
    let mut st = inner.st();
    let Some((token, login)) = token
        .and_then(|t| st.tokens.get(&t).map(|r| (t.clone(), r)))
        .filter(|(_, t)| t.client.as_deref() == Some(client))
        .map(|(t, r)| (t, r.login.clone()))
    else {
        return not_found();
    };
    if whole_grant {
        st.revoke_app(&login, client);
    } else if let Some(t) = st.tokens.get_mut(&token) {
        t.dead = true;
    }
    empty(StatusCode::NO_CONTENT)
}

fn route(
    inner: &Arc<Inner>,
    method: &Method,
    segs: &[&str],
    q: &[(String, String)],
    viewer: Option<&Viewer>,
    body: &[u8],
) -> Out {
    let login = viewer.map(|v| v.login.as_str());
    match (method, segs) {
        (&Method::GET, []) => Out::ok(json!({
            "current_user_url": format!("{}/api/v3/user", inner.web),
            "repository_url": format!("{}/api/v3/repos/{{owner}}/{{repo}}", inner.web),
        })),
        (&Method::GET, ["rate_limit"]) => rate_limit(inner, viewer),
        (&Method::GET, ["user"]) => match viewer {
            Some(v) => {
                let st = inner.st();
                let mut u = st.user_json(&inner.web, &v.login);
                u["name"] = json!(format!("{} (fake)", v.login));
                u["email"] = Value::Null;
                Out::ok(u)
            }
            None => Out::err(StatusCode::UNAUTHORIZED, "Requires authentication"),
        },
        (&Method::GET, ["user", "repos"]) => match login {
            Some(l) => user_repos(inner, l, q),
            None => Out::err(StatusCode::UNAUTHORIZED, "Requires authentication"),
        },
        (&Method::GET, ["repositories", id]) => {
            let st = inner.st();
            let id = id.parse::<u64>().unwrap_or_default();
            match st
                .repos
                .values()
                .find(|r| r.id == id && st.permissions(r, login).2)
            {
                Some(r) => Out::ok(st.repo_json(&inner.web, r, Some(login))),
                None => Out::not_found(),
            }
        }
        (_, ["repos", owner, name, rest @ ..]) => {
            {
                let st = inner.st();
                match st.repo(owner, name) {
                    Some(r) if st.permissions(r, login).2 => {}
                    _ => return Out::not_found(),
                }
            }
            repo_route(inner, method, owner, name, rest, q, viewer, body)
        }
        _ => Out::not_found(),
    }
}

fn rate_limit(inner: &Inner, viewer: Option<&Viewer>) -> Out {
    let st = inner.st();
    let (reset, used) = st
        .usage
        .get(&viewer.map_or(0, |v| v.id))
        .copied()
        .unwrap_or((now() + 3600, 0));
    let core = json!({"limit": LIMIT, "remaining": LIMIT.saturating_sub(used), "reset": reset, "used": used, "resource": "core"});
    Out::ok(json!({"resources": {"core": core}, "rate": core}))
}

/// `GET /user/repos`: owned, collaborator and organisation repositories, paginated.
fn user_repos(inner: &Inner, login: &str, q: &[(String, String)]) -> Out {
    let st = inner.st();
    let me = login.to_lowercase();
    let affiliation = param(q, "affiliation").unwrap_or("owner,collaborator,organization_member");
    let visibility = param(q, "visibility").unwrap_or("all");
    let mut repos: Vec<&Repo> = st
        .repos
        .values()
        .filter(|r| {
            let owner = r.owner.to_lowercase() == me;
            let collaborator = r.collaborators.contains(&me);
            let member = st
                .account(&r.owner)
                .is_some_and(|a| a.org && a.members.contains(&me));
            (owner && affiliation.contains("owner"))
                || (collaborator && affiliation.contains("collaborator"))
                || (member && affiliation.contains("organization_member"))
        })
        .filter(|r| match visibility {
            "public" => !r.private,
            "private" => r.private,
            _ => true,
        })
        .collect();
    let sort = param(q, "sort").unwrap_or("full_name");
    match sort {
        "created" => repos.sort_by_key(|r| (r.created, r.id)),
        "updated" | "pushed" => repos.sort_by_key(|r| (r.updated, r.id)),
        _ => repos.sort_by_key(|r| format!("{}/{}", r.owner, r.name).to_lowercase()),
    }
    let default_dir = if sort == "full_name" { "asc" } else { "desc" };
    if param(q, "direction").unwrap_or(default_dir) == "desc" {
        repos.reverse();
    }
    let items = repos
        .iter()
        .map(|r| st.repo_json(&inner.web, r, Some(Some(login))))
        .collect();
    paginate(items, q, &format!("{}/api/v3/user/repos", inner.web))
}

/// One page of `items` (`per_page` default 30, max 100; `page` from 1) with GitHub's `Link` header.
fn paginate(items: Vec<Value>, q: &[(String, String)], url: &str) -> Out {
    let per_page = param(q, "per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = param(q, "page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let link_to = |n: usize| {
        let mut pairs: Vec<(&str, String)> = q
            .iter()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        pairs.push(("page", n.to_string()));
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        format!("<{url}?{}>", encode_form(&refs))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_to((page - 1).min(last))));
    }
    if page < last {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", link_to(1)));
    }
    let body: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut out = Out::ok(Value::Array(body));
    if !links.is_empty() {
        out.headers.push(("link", links.join(", ")));
    }
    out
}

/// Review JSON.
pub(super) fn review_json(
    st: &St,
    web: &str,
    owner: &str,
    name: &str,
    number: u64,
    r: &super::github::Review,
) -> Value {
    json!({
        "id": r.id,
        "node_id": format!("PRR_fake{}", r.id),
        "user": st.user_json(web, &r.login),
        "body": r.body,
        "state": r.state,
        "html_url": format!("{web}/{owner}/{name}/pull/{number}#pullrequestreview-{}", r.id),
        "pull_request_url": format!("{web}/api/v3/repos/{owner}/{name}/pulls/{number}"),
        "submitted_at": iso(r.at),
        "commit_id": r.commit,
        "author_association": "COLLABORATOR",
    })
}

/// Review comment JSON.
pub(super) fn comment_json(
    st: &St,
    web: &str,
    owner: &str,
    name: &str,
    number: u64,
    c: &ReviewComment,
) -> Value {
    json!({
        "id": c.id,
        "node_id": format!("PRRC_fake{}", c.id),
        "pull_request_review_id": c.review,
        "user": st.user_json(web, &c.login),
        "path": c.path,
        "line": c.line,
        "original_line": c.line,
        "side": "RIGHT",
        "body": c.body,
        "diff_hunk": format!("@@ -{0},1 +{0},1 @@", c.line),
        "commit_id": c.commit,
        "original_commit_id": c.commit,
        "created_at": iso(c.at),
        "updated_at": iso(c.at),
        "html_url": format!("{web}/{owner}/{name}/pull/{number}#discussion_r{}", c.id),
        "url": format!("{web}/api/v3/repos/{owner}/{name}/pulls/comments/{}", c.id),
        "pull_request_url": format!("{web}/api/v3/repos/{owner}/{name}/pulls/{number}"),
    })
}

/// Check run JSON (without `pull_requests`).
pub(super) fn check_json(web: &str, repo: &Repo, c: &Check) -> Value {
    let full = format!("{}/{}", repo.owner, repo.name);
    json!({
        "id": c.id,
        "node_id": format!("CR_fake{}", c.id),
        "name": c.name,
        "head_sha": c.sha,
        "status": c.status,
        "conclusion": c.conclusion,
        "html_url": format!("{web}/{full}/runs/{}", c.id),
        "url": format!("{web}/api/v3/repos/{full}/check-runs/{}", c.id),
        "started_at": iso(c.started),
        "completed_at": c.completed.map(iso),
        "output": {"title": c.name, "summary": c.summary, "text": null},
        "app": {"slug": "fake-ci", "name": "Fake CI"},
    })
}

fn state_matches(item: &Item, state: &str) -> bool {
    match state {
        "all" => true,
        "closed" => item.closed.is_some(),
        _ => item.closed.is_none(),
    }
}

/// Items sorted like GitHub's lists: `sort=created` (default) / `updated`, `direction` default desc.
fn sorted<'a>(mut items: Vec<&'a Item>, q: &[(String, String)]) -> Vec<&'a Item> {
    match param(q, "sort") {
        Some("updated") => items.sort_by_key(|i| (i.updated, i.number)),
        _ => items.sort_by_key(|i| i.number),
    }
    if param(q, "direction") != Some("asc") {
        items.reverse();
    }
    items
}

#[allow(clippy::too_many_arguments)]
fn repo_route(
    inner: &Arc<Inner>,
    method: &Method,
    owner: &str,
    name: &str,
    rest: &[&str],
    q: &[(String, String)],
    viewer: Option<&Viewer>,
    body: &[u8],
) -> Out {
    let web = inner.web.as_str();
    let login = viewer.map(|v| v.login.as_str());
    let number = |s: &str| s.parse::<u64>().unwrap_or(0);
    match (method, rest) {
        (&Method::GET, []) => {
            let st = inner.st();
            let Some(repo) = st.repo(owner, name) else {
                return Out::not_found();
            };
            Out::ok(st.repo_json(web, repo, Some(login)))
        }
        (&Method::GET, ["branches", branch @ ..]) if !branch.is_empty() => {
            let branch = branch.join("/");
            let full = full_name(inner, owner, name);
            match git::branches(&inner.bare_path(owner, name)).remove(&branch) {
                Some(sha) => Out::ok(json!({
                    "name": branch,
                    "commit": {"sha": sha, "url": format!("{web}/api/v3/repos/{full}/commits/{sha}")},
                    "protected": false,
                })),
                None => Out::err(StatusCode::NOT_FOUND, "Branch not found"),
            }
        }
        (&Method::POST, ["pulls"]) => create_pull(inner, owner, name, viewer, body),
        (&Method::GET, ["pulls"]) => {
            let branches = git::branches(&inner.bare_path(owner, name));
            let st = inner.st();
            let Some(repo) = st.repo(owner, name) else {
                return Out::not_found();
            };
            let state = param(q, "state").unwrap_or("open");
            let head = param(q, "head").map(|h| match h.split_once(':') {
                Some((o, b)) => (Some(o.to_lowercase()), b.to_string()),
                None => (None, h.to_string()),
            });
            let items: Vec<&Item> = repo
                .items
                .iter()
                .filter(|i| i.pr.is_some() && state_matches(i, state))
                .filter(|i| {
                    let pr = i.pr.as_ref().map_or("", |p| p.head_ref.as_str());
                    head.as_ref().is_none_or(|(o, b)| {
                        b == pr && o.as_ref().is_none_or(|o| *o == repo.owner.to_lowercase())
                    })
                })
                .filter(|i| {
                    param(q, "base").is_none_or(|b| i.pr.as_ref().is_some_and(|p| p.base_ref == b))
                })
                .collect();
            let items = sorted(items, q)
                .into_iter()
                .map(|i| st.pr_json(web, repo, i, &branches, None))
                .collect();
            paginate(
                items,
                q,
                &format!("{web}/api/v3/repos/{owner}/{name}/pulls"),
            )
        }
        (&Method::GET, ["pulls", n]) => match inner.pr_full(owner, name, number(n)) {
            Some(pr) => Out::ok(pr),
            None => Out::not_found(),
        },
        (&Method::GET, ["pulls", n, kind @ ("reviews" | "comments")]) => {
            let st = inner.st();
            let n = number(n);
            let Some(pr) = st
                .repo(owner, name)
                .and_then(|r| r.items.get((n as usize).wrapping_sub(1)))
                .and_then(|i| i.pr.as_ref())
            else {
                return Out::not_found();
            };
            let items = if *kind == "reviews" {
                pr.reviews
                    .iter()
                    .map(|r| review_json(&st, web, owner, name, n, r))
                    .collect()
            } else {
                pr.comments
                    .iter()
                    .map(|c| comment_json(&st, web, owner, name, n, c))
                    .collect()
            };
            paginate(
                items,
                q,
                &format!("{web}/api/v3/repos/{owner}/{name}/pulls/{n}/{kind}"),
            )
        }
        (&Method::GET, ["commits", reference @ .., "status"]) if !reference.is_empty() => {
            let sha = match commit_of(inner, owner, name, reference) {
                Ok(sha) => sha,
                Err(out) => return out,
            };
            let st = inner.st();
            let Some(repo) = st.repo(owner, name) else {
                return Out::not_found();
            };
            // The latest status of each context, newest first, and the combined state GitHub gives.
            let mut seen = std::collections::HashSet::new();
            let latest: Vec<&super::github::Status> = repo
                .statuses
                .iter()
                .rev()
                .filter(|s| s.sha == sha && seen.insert(s.context.clone()))
                .collect();
            let state = if latest
                .iter()
                .any(|s| s.state == "failure" || s.state == "error")
            {
                "failure"
            } else if latest.is_empty() || latest.iter().any(|s| s.state == "pending") {
                "pending"
            } else {
                "success"
            };
            let statuses: Vec<Value> = latest
                .iter()
                .map(|s| {
                    json!({
                        "id": s.id,
                        "context": s.context,
                        "state": s.state,
                        "description": s.description,
                        "target_url": format!("{web}/{owner}/{name}/statuses/{}", s.id),
                    })
                })
                .collect();
            Out::ok(
                json!({"state": state, "sha": sha, "total_count": statuses.len(), "statuses": statuses}),
            )
        }
        (&Method::GET, ["commits", reference @ .., "check-runs"]) if !reference.is_empty() => {
            let sha = match commit_of(inner, owner, name, reference) {
                Ok(sha) => sha,
                Err(out) => return out,
            };
            let st = inner.st();
            let Some(repo) = st.repo(owner, name) else {
                return Out::not_found();
            };
            let runs: Vec<Value> = repo
                .checks
                .iter()
                .rev()
                .filter(|c| c.sha == sha)
                .filter(|c| param(q, "check_name").is_none_or(|n| n == c.name))
                .map(|c| check_json(web, repo, c))
                .collect();
            Out::ok(json!({"total_count": runs.len(), "check_runs": runs}))
        }
        (&Method::GET, ["issues"]) => {
            let st = inner.st();
            let Some(repo) = st.repo(owner, name) else {
                return Out::not_found();
            };
            let state = param(q, "state").unwrap_or("open");
            let labels: Vec<&str> = param(q, "labels")
                .map(|l| l.split(',').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default();
            let items: Vec<&Item> = repo
                .items
                .iter()
                .filter(|i| state_matches(i, state))
                .filter(|i| labels.iter().all(|l| i.labels.iter().any(|x| x == l)))
                .collect();
            let items = sorted(items, q)
                .into_iter()
                .map(|i| st.issue_json(web, repo, i))
                .collect();
            paginate(
                items,
                q,
                &format!("{web}/api/v3/repos/{owner}/{name}/issues"),
            )
        }
        (&Method::GET, ["issues", n]) => {
            let st = inner.st();
            let Some(repo) = st.repo(owner, name) else {
                return Out::not_found();
            };
            match repo.items.get((number(n) as usize).wrapping_sub(1)) {
                Some(i) => Out::ok(st.issue_json(web, repo, i)),
                None => Out::not_found(),
            }
        }
        _ => Out::not_found(),
    }
}

fn full_name(inner: &Inner, owner: &str, name: &str) -> String {
    inner.st().repo(owner, name).map_or_else(
        || format!("{owner}/{name}"),
        |r| format!("{}/{}", r.owner, r.name),
    )
}

/// `POST /repos/{o}/{r}/pulls`.
fn create_pull(
    inner: &Arc<Inner>,
    owner: &str,
    name: &str,
    viewer: Option<&Viewer>,
    body: &[u8],
) -> Out {
    let Some(viewer) = viewer else {
        return Out::err(StatusCode::UNAUTHORIZED, "Requires authentication");
    };
    {
        let st = inner.st();
        let Some(repo) = st.repo(owner, name) else {
            return Out::not_found();
        };
        if !st.permissions(repo, Some(&viewer.login)).1 {
            return Out::err(
                StatusCode::FORBIDDEN,
                "Resource not accessible by integration",
            );
        }
    }
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return Out::err(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let missing = |field: &str| {
        Out::invalid(json!([{"resource": "PullRequest", "field": field, "code": "missing_field"}]))
    };
    let Some(title) = req["title"].as_str().filter(|t| !t.is_empty()) else {
        return missing("title");
    };
    let Some(head) = req["head"].as_str() else {
        return missing("head");
    };
    let Some(base) = req["base"].as_str() else {
        return missing("base");
    };
    let head_ref = head.split_once(':').map_or(head, |(_, b)| b).to_string();
    let bare = inner.bare_path(owner, name);
    let branches = git::branches(&bare);
    let invalid = |field: &str| {
        Out::invalid(json!([{"resource": "PullRequest", "field": field, "code": "invalid"}]))
    };
    let Some(head_sha) = branches.get(&head_ref).cloned() else {
        return invalid("head");
    };
    let Some(base_sha) = branches.get(base) else {
        return invalid("base");
    };
    if git::is_ancestor(&bare, &head_sha, base_sha) {
        let message = format!("No commits between {base} and {head_ref}");
        return Out::invalid(
            json!([{"resource": "PullRequest", "code": "custom", "message": message}]),
        );
    }
    let number = {
        let mut st = inner.st();
        let id = st.object_id();
        let Some(repo) = st.repo_mut(owner, name) else {
            return Out::not_found();
        };
        let duplicate = repo.items.iter().any(|i| {
            i.closed.is_none()
                && i.pr
                    .as_ref()
                    .is_some_and(|p| p.head_ref == head_ref && p.base_ref == base)
        });
        if duplicate {
            let message = format!(
                "A pull request already exists for {}:{head_ref}.",
                repo.owner
            );
            return Out::invalid(
                json!([{"resource": "PullRequest", "code": "custom", "message": message}]),
            );
        }
        let number = repo.items.len() as u64 + 1;
        let t = now();
        repo.items.push(Item {
            id,
            number,
            title: title.to_string(),
            body: req["body"].as_str().unwrap_or_default().to_string(),
            labels: Vec::new(),
            user: viewer.login.clone(),
            created: t,
            updated: t,
            closed: None,
            pr: Some(Pr {
                head_ref,
                head_sha,
                base_ref: base.to_string(),
                draft: req["draft"].as_bool().unwrap_or(false),
                merged: None,
                reviews: Vec::new(),
                comments: Vec::new(),
            }),
        });
        number
    };
    let Some(pr) = inner.pr_full(owner, name, number) else {
        return Out::not_found();
    };
    if let Some(payload) = inner.pr_payload(owner, name, number, "opened", &viewer.login) {
        inner.emit(vec![("pull_request".to_string(), payload)]);
    }
    let location = pr["url"].as_str().unwrap_or_default().to_string();
    let mut out = Out::with(StatusCode::CREATED, pr);
    out.headers.push(("location", location));
    out
}

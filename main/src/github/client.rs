//! GitHub's REST API as main uses it: one request with the person's token, GitHub's errors sorted into
//! what callers act on (a token GitHub no longer takes, a rate limit with its reset time, a validation
//! failure with GitHub's own words), conditional GETs (`If-None-Match`: an unchanged answer is a 304 that
//! costs nothing against the rate limit) and `Link`-header paging.
//!
//! Tokens go in the `Authorization` header only, never in a URL, so no error or log line can carry one.

use reqwest::header::{ACCEPT, AUTHORIZATION, ETAG, HeaderMap, IF_NONE_MATCH, LINK, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use vibebridge_tunnel::config::Secret;

use crate::store::now_ms;

/// How a GitHub call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GhError {
    /// 401: the token was revoked, expired, or never valid; the person must reconnect.
    #[error("GitHub refused the token (revoked or expired)")]
    BadCredentials,
    /// The rate limit is spent until then (ms since epoch).
    #[error("GitHub's rate limit is reached until {until_ms}")]
    RateLimited {
        /// When calls may resume.
        until_ms: u64,
    },
    /// 404: no such thing, or the token may not see it.
    #[error("{0}")]
    NotFound(String),
    /// 422: GitHub refused the request's content; its own explanation.
    #[error("{0}")]
    Validation(String),
    /// 403 for another reason than the rate limit (missing permission or scope).
    #[error("{0}")]
    Forbidden(String),
    /// Anything else: GitHub unreachable, a 5xx, an answer main cannot read.
    #[error("{0}")]
    Failed(String),
}

/// A conditional GET's answer.
#[derive(Debug)]
pub enum Fetched<T> {
    /// Changed (or first read), with the tag to send next time.
    Fresh {
        /// The answer.
        value: T,
        /// Its `ETag`.
        etag: Option<String>,
    },
    /// `304 Not Modified`: the caller's copy is current.
    NotModified,
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page<T> {
    /// Its items.
    pub items: Vec<T>,
    /// Whether a `rel="next"` page exists.
    pub has_next: bool,
}

/// The HTTP side: base URL and a shared client.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

#[derive(serde::Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

impl Api {
    /// A client for the REST API at `base` (`https://api.github.com`).
    pub fn new(http: reqwest::Client, base: &str) -> Api {
        Api {
            http,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    fn request(&self, method: Method, path: &str, token: &Secret) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header(ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header(USER_AGENT, "VibeBridge")
            .header(AUTHORIZATION, format!("Bearer {}", token.expose()))
    }

    /// `GET path` (may include a query), conditional on `etag`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        token: &Secret,
        path: &str,
        etag: Option<&str>,
    ) -> Result<Fetched<T>, GhError> {
        let mut req = self.request(Method::GET, path, token);
        if let Some(tag) = etag {
            req = req.header(IF_NONE_MATCH, tag);
        }
        let resp = send(req).await?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        let resp = check(resp).await?;
        let etag = header(resp.headers(), ETAG);
        Ok(Fetched::Fresh {
            value: decode(resp).await?,
            etag,
        })
    }

    /// `GET path`, unconditionally.
    pub async fn get_fresh<T: DeserializeOwned>(
        &self,
        token: &Secret,
        path: &str,
    ) -> Result<T, GhError> {
        match self.get(token, path, None).await? {
            Fetched::Fresh { value, .. } => Ok(value),
            Fetched::NotModified => Err(GhError::Failed(
                "GitHub answered 304 to an unconditional request".into(),
            )),
        }
    }

    /// `GET path` with its response headers (for `x-oauth-scopes`).
    pub async fn get_with_headers<T: DeserializeOwned>(
        &self,
        token: &Secret,
        path: &str,
    ) -> Result<(T, HeaderMap), GhError> {
        let resp = check(send(self.request(Method::GET, path, token)).await?).await?;
        let headers = resp.headers().clone();
        Ok((decode(resp).await?, headers))
    }

    /// One page of a listing: `Link: <…>; rel="next"` says whether another follows.
    pub async fn page<T: DeserializeOwned>(
        &self,
        token: &Secret,
        path: &str,
    ) -> Result<Page<T>, GhError> {
        let resp = check(send(self.request(Method::GET, path, token)).await?).await?;
        let has_next = header(resp.headers(), LINK).is_some_and(|l| has_next_link(&l));
        Ok(Page {
            items: decode(resp).await?,
            has_next,
        })
    }

    /// A write with a JSON body; its JSON answer.
    pub async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        token: &Secret,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, GhError> {
        let resp = check(send(self.request(method, path, token).json(body)).await?).await?;
        decode(resp).await
    }
}

async fn send(req: reqwest::RequestBuilder) -> Result<reqwest::Response, GhError> {
    req.send().await.map_err(|e| {
        // reqwest's message names the URL, which never holds a token; the cause says why.
        GhError::Failed(format!(
            "GitHub could not be reached ({}); check github.api_url and main's network",
            e.without_url()
        ))
    })
}

async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, GhError> {
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| GhError::Failed(format!("reading GitHub's answer: {}", e.without_url())))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| GhError::Failed(format!("GitHub's answer was not what main expects: {e}")))
}

fn header(headers: &HeaderMap, name: impl reqwest::header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Sorts a non-success answer into a [`GhError`]; a success passes through.
async fn check(resp: reqwest::Response) -> Result<reqwest::Response, GhError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let headers = resp.headers().clone();
    let body: ErrorBody = resp.json().await.unwrap_or_default();
    Err(classify(status, &headers, body, now_ms()))
}

fn classify(status: StatusCode, headers: &HeaderMap, body: ErrorBody, now: u64) -> GhError {
    let message = if body.message.is_empty() {
        format!("GitHub answered {status}")
    } else {
        body.message.clone()
    };
    if status == StatusCode::UNAUTHORIZED {
        return GhError::BadCredentials;
    }
    if status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS {
        if let Some(until_ms) = rate_limited_until(headers, now) {
            return GhError::RateLimited { until_ms };
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            return GhError::RateLimited {
                until_ms: now + 60_000,
            };
        }
        return GhError::Forbidden(format!(
            "GitHub refused: {message} (the token may lack the permission or scope)"
        ));
    }
    if status == StatusCode::NOT_FOUND {
        return GhError::NotFound(format!(
            "GitHub: {message} (no such thing, or the connected account cannot see it)"
        ));
    }
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        let details: Vec<String> = body
            .errors
            .iter()
            .filter_map(|e| {
                e.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
                    .or_else(|| {
                        let field = e.get("field")?.as_str()?;
                        let code = e.get("code")?.as_str()?;
                        Some(format!("{field} is {code}"))
                    })
            })
            .collect();
        return GhError::Validation(if details.is_empty() {
            format!("GitHub refused: {message}")
        } else {
            format!("GitHub refused: {message}: {}", details.join("; "))
        });
    }
    GhError::Failed(format!("GitHub failed: {message} ({status})"))
}

/// When a rate-limited answer says calls may resume: `x-ratelimit-remaining: 0` with
/// `x-ratelimit-reset` (epoch seconds), or a secondary limit's `retry-after` (seconds).
fn rate_limited_until(headers: &HeaderMap, now: u64) -> Option<u64> {
    if let Some(secs) = header(headers, "retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(now + secs.saturating_mul(1000));
    }
    if header(headers, "x-ratelimit-remaining").as_deref() == Some("0") {
        let reset = header(headers, "x-ratelimit-reset")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| s.saturating_mul(1000))
            .unwrap_or(now + 60_000);
        return Some(reset.max(now + 1000));
    }
    None
}

/// Whether a `Link` header has a `rel="next"` entry.
fn has_next_link(link: &str) -> bool {
    link.split(',')
        .any(|part| part.split(';').skip(1).any(|p| p.trim() == "rel=\"next\""))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    /// Proves GitHub's answers sort into what callers act on: 401 → reconnect, a spent limit → its reset
    /// time, a secondary limit → retry-after, 403 without a limit → forbidden, 422 → GitHub's own words.
    #[test]
    fn errors_are_classified() {
        let none = HeaderMap::new();
        assert_eq!(
            classify(StatusCode::UNAUTHORIZED, &none, ErrorBody::default(), 0),
            GhError::BadCredentials
        );
        let spent = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "2000"),
        ]);
        assert_eq!(
            classify(
                StatusCode::FORBIDDEN,
                &spent,
                ErrorBody::default(),
                1_000_000
            ),
            GhError::RateLimited {
                until_ms: 2_000_000
            }
        );
        let secondary = headers(&[("retry-after", "30")]);
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &secondary, ErrorBody::default(), 5),
            GhError::RateLimited { until_ms: 30_005 }
        );
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, &none, ErrorBody::default(), 0),
            GhError::Forbidden(_)
        ));
        let body = ErrorBody {
            message: "Validation Failed".into(),
            errors: vec![
                serde_json::json!({"message": "A pull request already exists for o:b."}),
                serde_json::json!({"resource": "PullRequest", "field": "head", "code": "invalid"}),
            ],
        };
        assert_eq!(
            classify(StatusCode::UNPROCESSABLE_ENTITY, &none, body, 0),
            GhError::Validation(
                "GitHub refused: Validation Failed: A pull request already exists for o:b.; head is invalid"
                    .into()
            )
        );
    }

    /// Proves `Link` parsing finds `rel="next"` among GitHub's entries and not in a last page.
    #[test]
    fn link_next() {
        assert!(has_next_link(
            r#"<https://api.github.com/user/repos?page=2>; rel="next", <https://api.github.com/user/repos?page=5>; rel="last""#
        ));
        assert!(!has_next_link(
            r#"<https://api.github.com/user/repos?page=1>; rel="prev", <https://api.github.com/user/repos?page=1>; rel="first""#
        ));
    }
}

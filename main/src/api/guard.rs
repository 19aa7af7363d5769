//! Checks every HTTP request passes before routing, against a browser being turned on main: the `Host`
//! must name this main (DNS rebinding) and a browser's state-changing request must come from a page main
//! served (cross-site request forgery).
//!
//! DNS rebinding: a page on `evil.example` re-points its name at 127.0.0.1 and, being "same origin" with
//! itself, could drive a main on loopback — sign up as its creator on a fresh install, open terminals.
//! Browsers always send the name they resolved as `Host`, so only IP literals, `localhost` and the names
//! in `server.allowed_hosts` are served. Clients that send no `Host` (HTTP/1.0 tools) are not browsers.
//!
//! Forgery: cookies are `SameSite=Strict`, which stops other sites but not a sibling subdomain. A browser
//! marks every request with `Sec-Fetch-Site` (and `Origin` on writes); a write that says it came from
//! anywhere but this origin is refused. Non-browser clients (curl, scripts with a Bearer token) send
//! neither and are unaffected.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::state::AppState;

/// The middleware: refuses requests failing [`host_allowed`] or, for writes, [`same_origin`].
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    if let Some(host) = host_name(headers)
        && !host_allowed(&host, &state.config.server.allowed_hosts)
    {
        return ApiError::Forbidden(format!(
            "this main does not answer to the name {host:?}; if that is how users reach it, add \
             {host:?} to server.allowed_hosts in main's config"
        ))
        .into_response();
    }
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if writes && !same_origin(headers) {
        return ApiError::Forbidden(
            "cross-site request refused: changes are accepted only from pages this main served \
             (or from clients that send no Origin, such as curl)"
                .into(),
        )
        .into_response();
    }
    next.run(req).await
}

/// The name in the `Host` header without its port, lowercase; `None` without a `Host`.
fn host_name(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().unwrap_or("?");
    let name = match host.strip_prefix('[') {
        // "[::1]:4457"
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    Some(name.to_ascii_lowercase())
}

/// Whether main answers to `name`: an IP address, `localhost`, or a configured name.
fn host_allowed(name: &str, allowed: &[String]) -> bool {
    name.parse::<std::net::IpAddr>().is_ok()
        || name == "localhost"
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
}

/// Whether a request's browser markers say it came from a page of this origin. Requests without them
/// (non-browser clients) pass; `Sec-Fetch-Site: none` is the user typing the address.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let header = |name| headers.get(name).map(|v| v.to_str().unwrap_or(""));
    if let Some(site) = header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(origin) = header(header::ORIGIN.as_str()) else {
        return true;
    };
    let origin_host = origin.split_once("://").map(|(_, h)| h);
    matches!((origin_host, header(header::HOST.as_str())), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    /// Proves IP literals, localhost and configured names are served and other names are not.
    #[test]
    fn hosts_are_ip_literals_localhost_or_configured() {
        let allowed = vec!["vb.example.com".to_string()];
        let name = |h: &str| host_name(&headers(&[("host", h)])).unwrap();
        for ok in [
            "127.0.0.1:4457",
            "[::1]:4457",
            "10.0.0.5",
            "localhost:4457",
            "VB.example.com",
        ] {
            assert!(host_allowed(&name(ok), &allowed), "{ok}");
        }
        for bad in ["evil.example:4457", "localhost.evil.example", "example.com"] {
            assert!(!host_allowed(&name(bad), &allowed), "{bad}");
        }
        assert_eq!(host_name(&HeaderMap::new()), None);
    }

    /// Proves writes from another site or origin are refused and those without browser markers pass.
    #[test]
    fn cross_site_markers_are_refused() {
        let host = ("host", "127.0.0.1:4457");
        assert!(same_origin(&headers(&[host])));
        assert!(same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:4457")
        ])));
        assert!(same_origin(&headers(&[
            host,
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("sec-fetch-site", "same-site")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[host, ("origin", "null")])));
    }
}

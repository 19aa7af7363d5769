//! What [`super::remote`] checks before git sees a request (URLs, refspecs, branch names, credentials) and
//! how it reads git's failures: pure functions, with the token scrubbed from anything that goes out.

use vibebridge_tunnel::reply::ErrorCode;

use super::GitError;
use super::cli::{Finished, RemoteAuth};

/// Longest URL taken.
const MAX_URL: usize = 2048;

/// Most refspecs in one fetch.
const MAX_REFSPECS: usize = 64;

/// Checks a remote URL: `https://` (or `http://`), with a host and no user information, no whitespace or
/// control characters. Returns its `host[:port]`.
pub(crate) fn check_url(url: &str) -> Result<&str, GitError> {
    let bad = |why: &str| GitError::bad_request(format!("the remote URL {why}"));
    if url.len() > MAX_URL {
        return Err(bad("is too long"));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("contains whitespace or control characters"));
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return Err(bad(&format!(
            "{:?} is not an https:// URL; only https (and http) remotes are supported",
            strip_userinfo(url)
        )));
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains('@') {
        // Never echo it: the user information may be a token.
        return Err(bad(
            "carries user information (user:token@); give the URL without it and send the \
             credential separately",
        ));
    }
    if authority.is_empty() || authority.starts_with(':') {
        return Err(bad(&format!("{url:?} names no host")));
    }
    Ok(authority)
}

/// The scheme of a URL [`check_url`] accepted, as written (`https` or `http`): what git names as
/// `protocol=` when it asks the credential helper.
pub(crate) fn scheme(url: &str) -> &str {
    url.find("://").map_or("", |i| &url[..i])
}

/// Whether a key from the repository's own git config (`.git/config`, or the work tree's
/// `config.worktree`) could send a credentialed fetch or push elsewhere, weaken its TLS, add headers, or run
/// a program that inherits the token; compared case-insensitively. Refused:
///
/// - any key under `http.` (`http.proxy`, `http.sslVerify`, `http.sslCAInfo`, `http.extraHeader`,
///   `http.cookieFile`, `http.emptyAuth`, and every `http.<url>.*`, which beats the command line's
///   `-c http.*`), and under `https.`;
/// - any key under `url.` (`insteadOf`, `pushInsteadOf`);
/// - any key under `include.` or `includeIf.` (they pull in another file);
/// - any key under `credential` (`credential.helper`, `credential.<url>.*`);
/// - any key under `protocol.` (`protocol.allow`, `protocol.<name>.allow`, which beats the command
///   line's `protocol.allow=never`);
/// - `remote.<name>.proxy`, `remote.<name>.proxyAuthMethod` and `remote.<name>.vcs` for any remote, and
///   every `remote.<name>.*` whose name has a `/` (git applies `remote.<URL>.*` to a fetch or push given
///   that URL, `.url` and `.pushurl` included);
/// - `core.askPass`, `core.gitProxy`, `core.sshCommand`, `core.fsmonitor` and
///   `core.alternateRefsCommand` (programs or proxies git may start with the token in its environment).
///
/// Allowed, among the rest: `remote.origin.url`, `remote.origin.fetch` and the like (the URL is passed
/// explicitly), and `core.hooksPath` (overridden on the command line).
pub(crate) fn risky_config_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let under = |prefix: &str| k.starts_with(prefix);
    if [
        "http.",
        "https.",
        "url.",
        "include.",
        "includeif.",
        "credential",
        "protocol.",
    ]
    .iter()
    .any(|p| under(p))
    {
        return true;
    }
    if let Some(rest) = k.strip_prefix("remote.") {
        let (name, var) = rest.rsplit_once('.').unwrap_or(("", rest));
        return name.contains('/') || ["proxy", "proxyauthmethod", "vcs"].contains(&var);
    }
    [
        "core.askpass",
        "core.gitproxy",
        "core.sshcommand",
        "core.fsmonitor",
        "core.alternaterefscommand",
    ]
    .contains(&k.as_str())
}

/// Refuses a credentialed fetch or push when the repository's own config sets keys
/// [`risky_config_key`] flags (`keys` as `git config --list --name-only` gives them), naming them.
pub(crate) fn check_repo_config<'a>(
    keys: impl IntoIterator<Item = &'a str>,
) -> Result<(), GitError> {
    let mut bad: Vec<String> = Vec::new();
    for key in keys.into_iter().filter(|k| risky_config_key(k)) {
        let key: String = key.chars().filter(|c| !c.is_control()).take(200).collect();
        if !bad.contains(&key) {
            bad.push(key);
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    let unset: Vec<String> = bad
        .iter()
        .map(|k| format!("git config --unset-all {k}"))
        .collect();
    Err(GitError::new(
        ErrorCode::Forbidden,
        format!(
            "the repository's own git config sets {}, which could send the token elsewhere; \
             remove {} ({}) and try again",
            bad.join(", "),
            if bad.len() == 1 { "it" } else { "them" },
            unset.join("; ")
        ),
    ))
}

/// `url` without user information: `https://user:tok@host/x` → `https://host/x`. Only `scheme://` URLs
/// have any; an scp-like `git@host:path` (an SSH user name, no secret) is left as it is.
pub(crate) fn strip_userinfo(url: &str) -> String {
    let Some(at) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[at..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(i) => format!("{}{}", &url[..at], &rest[i + 1..]),
        None => url.to_string(),
    }
}

/// Refuses a branch name that git would not accept or could take for an option.
pub(crate) fn check_branch(what: &str, name: &str) -> Result<(), GitError> {
    let full = format!("refs/heads/{name}");
    if name.starts_with('-') || gix::validate::reference::branch_name(full.as_str().into()).is_err()
    {
        return Err(GitError::bad_request(format!(
            "{what} {name:?} is not a valid branch name (no spaces, `..`, `~^:?*[\\`, leading `-` or \
             trailing `.lock`)"
        )));
    }
    Ok(())
}

/// Refuses a credential that could smuggle extra fields into git's credential protocol.
pub(crate) fn check_credential(username: &str, token: &str) -> Result<(), GitError> {
    if token.is_empty() {
        return Err(GitError::bad_request("the credential has an empty token"));
    }
    if username.is_empty() {
        return Err(GitError::bad_request(
            "the credential has an empty user name",
        ));
    }
    let bad = |s: &str| s.contains(['\n', '\r', '\0']);
    if bad(username) || bad(token) {
        return Err(GitError::bad_request(
            "the credential's user name or token contains a line break or NUL byte",
        ));
    }
    Ok(())
}

/// A checked fetch refspec's destination.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refspec {
    /// The destination as given (`refs/remotes/origin/main`, `refs/remotes/origin/*`).
    pub dst: String,
    /// What comes before and after its `*`, when it has one.
    pub wildcard: Option<(String, String)>,
}

impl Refspec {
    /// Whether `name` is a ref this destination writes.
    pub(crate) fn matches(&self, name: &str) -> bool {
        match &self.wildcard {
            None => name == self.dst,
            Some((pre, post)) => {
                name.len() > pre.len() + post.len() && name.starts_with(pre) && name.ends_with(post)
            }
        }
    }
}

/// Checks fetch refspecs: `[+]<src>:<dst>` with `dst` under `refs/remotes/`, so a fetch never moves a local
/// branch, a tag or HEAD.
pub(crate) fn check_refspecs(specs: &[String]) -> Result<Vec<Refspec>, GitError> {
    if specs.is_empty() {
        return Err(GitError::bad_request(
            "no refspecs given: name at least one, like +refs/heads/main:refs/remotes/origin/main",
        ));
    }
    if specs.len() > MAX_REFSPECS {
        return Err(GitError::bad_request(format!(
            "{} refspecs given; at most {MAX_REFSPECS} are taken in one fetch",
            specs.len()
        )));
    }
    specs.iter().map(|s| check_refspec(s)).collect()
}

fn check_refspec(spec: &str) -> Result<Refspec, GitError> {
    let bad = |why: &str| {
        GitError::bad_request(format!(
            "refspec {spec:?} {why}; give one like +refs/heads/main:refs/remotes/origin/main"
        ))
    };
    if spec.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("contains whitespace or control characters"));
    }
    let body = spec.strip_prefix('+').unwrap_or(spec);
    if body.starts_with(['-', '^']) {
        return Err(bad("is an option or a negative refspec"));
    }
    let Some((src, dst)) = body.split_once(':') else {
        return Err(bad("names no destination"));
    };
    if src.is_empty() || dst.contains(':') {
        return Err(bad("needs exactly one source and one destination"));
    }
    let Some(rest) = dst.strip_prefix("refs/remotes/").filter(|r| !r.is_empty()) else {
        return Err(bad(
            "writes outside refs/remotes/ (a fetch here never moves local branches or tags)",
        ));
    };
    let stars = dst.matches('*').count();
    if stars > 1 || stars != src.matches('*').count() {
        return Err(bad("needs one `*` on both sides or none"));
    }
    if rest.starts_with('/')
        || gix::validate::reference::name(dst.replace('*', "x").as_str().into()).is_err()
    {
        return Err(bad("has a destination that is not a valid ref name"));
    }
    let wildcard = dst
        .split_once('*')
        .map(|(pre, post)| (pre.to_string(), post.to_string()));
    Ok(Refspec {
        dst: dst.to_string(),
        wildcard,
    })
}

/// `text` with every occurrence of the token replaced by `***`.
pub(crate) fn scrub(text: &str, auth: Option<&RemoteAuth<'_>>) -> String {
    match auth {
        Some(a) if !a.token.is_empty() => text.replace(a.token, "***"),
        _ => text.to_string(),
    }
}

/// The refusal for a failed `git clone`/`fetch`/`push`, by what git said (scrubbed of the token).
pub(crate) fn classify(doing: &str, out: &Finished, auth: Option<&RemoteAuth<'_>>) -> GitError {
    let stderr = scrub(out.stderr.trim(), auth);
    let has = |needles: &[&str]| needles.iter().any(|n| stderr.contains(n));
    if has(&[
        "Authentication failed",
        "could not read Username",
        "could not read Password",
        "returned error: 401",
        "returned error: 403",
        "Invalid username or password",
        "HTTP Basic: Access denied",
    ]) || (stderr.contains("Permission to") && stderr.contains("denied"))
    {
        let what = if auth.is_some() {
            "the remote refused the credentials"
        } else {
            "the remote wants credentials and none were given"
        };
        return GitError::new(ErrorCode::Unauthorized, format!("{what}: {stderr}"));
    }
    if has(&[
        "Repository not found",
        "repository '",
        "returned error: 404",
    ]) && stderr.contains("not found")
    {
        return GitError::new(
            ErrorCode::NotFound,
            format!(
                "could not {doing}: the remote has no such repository (or hides it from this credential): {stderr}"
            ),
        );
    }
    if has(&["couldn't find remote ref", "not found in upstream"]) {
        return GitError::new(
            ErrorCode::UnknownRef,
            format!("could not {doing}: the remote has no such branch: {stderr}"),
        );
    }
    GitError::new(ErrorCode::Internal, format!("could not {doing}: {stderr}"))
}

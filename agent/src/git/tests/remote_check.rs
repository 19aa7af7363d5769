//! The pure checks behind clone, fetch and push: URLs, user information, refspecs, credentials, and the
//! reading (and scrubbing) of git's failures, the repository config keys refused before signing in, and
//! the credential helper script.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use vibebridge_tunnel::reply::ErrorCode;

use crate::git::cli::{Finished, HELPER, RemoteAuth};
use crate::git::remote_check::{
    check_credential, check_refspecs, check_repo_config, check_url, classify, risky_config_key,
    scheme, scrub, strip_userinfo,
};

const AUTH: RemoteAuth<'static> = RemoteAuth {
    scheme: "https",
    host: "github.com",
    username: "x-access-token",
    token: "ghs_secret",
};

/// Proves only http(s) URLs with a host and without user information pass, and their host is returned.
#[test]
fn urls_are_https_without_user_information() {
    assert_eq!(check_url("https://github.com/o/r.git"), Ok("github.com"));
    assert_eq!(check_url("HTTP://127.0.0.1:8080/r"), Ok("127.0.0.1:8080"));
    for bad in [
        "https://x-access-token:ghs_secret@github.com/o/r",
        "https://user@github.com/o/r",
        "ssh://git@github.com/o/r",
        "git@github.com:o/r.git",
        "file:///tmp/r",
        "https:///r",
        "https://github.com/o r",
        "--upload-pack=evil",
    ] {
        let err = check_url(bad).unwrap_err();
        assert_eq!(err.code(), ErrorCode::BadRequest, "{bad}");
        assert!(!err.message().contains("ghs_secret"), "{bad}: {err}");
    }
}

/// Proves user information is stripped from `scheme://` URLs only, wherever its `@` falls.
#[test]
fn user_information_is_stripped() {
    let cases = [
        ("https://user:tok@host/x", "https://host/x"),
        ("https://a@b:tok@host:8443/x@y", "https://host:8443/x@y"),
        ("https://host/x", "https://host/x"),
        ("ssh://git@host/x", "ssh://host/x"),
        ("git@host:x.git", "git@host:x.git"),
        ("/srv/repo.git", "/srv/repo.git"),
    ];
    for (url, want) in cases {
        assert_eq!(strip_userinfo(url), want, "{url}");
    }
}

/// Proves refspecs must write under refs/remotes/, with matching wildcards, and what they match.
#[test]
fn refspecs_write_only_remote_refs() {
    let specs = check_refspecs(&[
        "+refs/heads/main:refs/remotes/origin/main".into(),
        "refs/heads/feat/*:refs/remotes/origin/feat/*".into(),
    ])
    .unwrap();
    assert!(specs[0].matches("refs/remotes/origin/main"));
    assert!(!specs[0].matches("refs/remotes/origin/main2"));
    assert!(specs[1].matches("refs/remotes/origin/feat/a/b"));
    assert!(!specs[1].matches("refs/remotes/origin/feat/"));
    for bad in [
        "refs/heads/main",
        "refs/heads/main:refs/heads/main",
        "+refs/heads/*:refs/tags/*",
        "refs/heads/main:refs/remotes/",
        "refs/heads/main:refs/remotes/origin/*",
        "refs/heads/*:refs/remotes/o/*/*",
        "^refs/heads/x",
        "-x:refs/remotes/o/x",
        "refs/heads/a:refs/remotes/o/a..b",
        "refs/heads/a:refs/remotes/o/a b",
        ":refs/remotes/o/x",
    ] {
        let err = check_refspecs(&[bad.into()]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::BadRequest, "{bad}");
    }
    assert!(check_refspecs(&[]).is_err());
}

/// Proves a credential that could add lines to git's credential protocol is refused.
#[test]
fn credentials_cannot_inject_lines() {
    assert!(check_credential("x-access-token", "ghs_abc").is_ok());
    for (user, token) in [
        ("u", ""),
        ("", "t"),
        ("u\nhost=evil", "t"),
        ("u", "t\npassword=x"),
    ] {
        assert!(check_credential(user, token).is_err(), "{user:?} {token:?}");
    }
}

fn failed(stderr: &str) -> Finished {
    Finished {
        status: ExitStatus::from_raw(128 << 8),
        stdout: Vec::new(),
        stderr: stderr.into(),
    }
}

/// Proves git's failures map to stable codes and the token is scrubbed from every message.
#[test]
fn failures_are_classified_and_scrubbed() {
    assert_eq!(
        scrub("a ghs_secret b ghs_secret", Some(&AUTH)),
        "a *** b ***"
    );
    assert_eq!(scrub("ghs_secret", None), "ghs_secret");
    let cases = [
        (
            "fatal: Authentication failed for 'https://github.com/o/r/' ghs_secret",
            ErrorCode::Unauthorized,
        ),
        (
            "fatal: could not read Username for 'https://github.com': terminal prompts disabled",
            ErrorCode::Unauthorized,
        ),
        (
            "fatal: unable to access 'https://github.com/o/r/': The requested URL returned error: 403",
            ErrorCode::Unauthorized,
        ),
        (
            "remote: Repository not found.\nfatal: repository 'https://github.com/o/r/' not found",
            ErrorCode::NotFound,
        ),
        (
            "warning: Could not find remote branch nope to clone.\nfatal: Remote branch nope not found in upstream origin",
            ErrorCode::UnknownRef,
        ),
        (
            "fatal: unable to access 'https://github.com/': Could not resolve host: github.com",
            ErrorCode::Internal,
        ),
    ];
    for (stderr, code) in cases {
        let err = classify("fetch", &failed(stderr), Some(&AUTH));
        assert_eq!(err.code(), code, "{stderr}");
        assert!(!err.message().contains("ghs_secret"), "{err}");
    }
    let err = classify(
        "fetch",
        &failed("fatal: Authentication failed"),
        Some(&AUTH),
    );
    assert!(
        err.message()
            .starts_with("the remote refused the credentials: ")
    );
}

/// Proves the keys that could divert a credentialed fetch or push are flagged, case-insensitively, and the
/// ordinary ones (a remote's URL and refspec, `core.hooksPath`) are not.
#[test]
fn risky_repository_config_keys_are_flagged() {
    for key in [
        "url.http://github.com/.insteadof",
        "url.https://evil/.pushInsteadOf",
        "http.proxy",
        "HTTP.SslVerify",
        "http.sslcainfo",
        "http.extraheader",
        "http.cookiefile",
        "http.emptyauth",
        "http.https://github.com.proxy",
        "https.proxy",
        "include.path",
        "includeIf.gitdir:/x.path",
        "credential.helper",
        "credential.https://github.com.username",
        "credentialStore.x",
        "core.askPass",
        "core.gitproxy",
        "core.sshCommand",
        "core.fsmonitor",
        "core.alternateRefsCommand",
        "protocol.allow",
        "protocol.ext.allow",
        "remote.origin.proxy",
        "remote.origin.proxyAuthMethod",
        "remote.origin.vcs",
        "remote.https://github.com/o/r.git.url",
        "remote.https://github.com/o/r.git.pushurl",
    ] {
        assert!(risky_config_key(key), "{key}");
    }
    for key in [
        "remote.origin.url",
        "remote.origin.fetch",
        "remote.origin.pushurl",
        "branch.main.remote",
        "core.hookspath",
        "core.bare",
        "user.email",
        "extensions.worktreeconfig",
        "httpx.y",
    ] {
        assert!(!risky_config_key(key), "{key}");
    }
}

/// Proves the refusal is `forbidden`, names each offending key once and says how to remove them.
#[test]
fn risky_repository_config_is_refused_by_name() {
    let keys = [
        "core.bare",
        "url.http://github.com/.insteadof",
        "http.proxy",
        "http.proxy",
    ];
    let err = check_repo_config(keys).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    assert_eq!(
        err.message(),
        "the repository's own git config sets url.http://github.com/.insteadof, http.proxy, which could \
         send the token elsewhere; remove them (git config --unset-all url.http://github.com/.insteadof; \
         git config --unset-all http.proxy) and try again"
    );
    assert!(check_repo_config(["remote.origin.url", "core.hookspath"]).is_ok());
    assert_eq!(scheme("https://github.com/o/r"), "https");
    assert_eq!(scheme("http://127.0.0.1:1/r"), "http");
}

/// Runs [`HELPER`]'s script as git would (`<script> get`), with `input` as git's request; its output.
fn helper(action: &str, input: &str) -> String {
    use std::io::Write;
    let script = HELPER.strip_prefix("credential.helper=!").unwrap();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{script} {action}"))
        .env("VB_GIT_PROTO", "https")
        .env("VB_GIT_HOST", "github.com")
        .env("VB_GIT_USER", "x-access-token")
        .env("VB_GIT_TOKEN", "ghs_secret")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The helper may exit before reading (`store`): a closed pipe is no failure.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// Proves the helper answers only a `get` naming both the scheme and the host asked for, whatever the
/// order of the lines, and gives nothing for plain `http`, another host or port, or a missing protocol.
#[test]
fn the_helper_answers_only_the_scheme_and_host_asked_for() {
    let answer = "username=x-access-token\npassword=ghs_secret\n";
    assert_eq!(helper("get", "protocol=https\nhost=github.com\n\n"), answer);
    assert_eq!(
        helper(
            "get",
            "capability[]=authtype\nhost=github.com\nprotocol=https\nwwwauth[]=Basic\n"
        ),
        answer
    );
    for refused in [
        "protocol=http\nhost=github.com\n\n",
        "protocol=https\nhost=evil.example\n\n",
        "protocol=https\nhost=github.com:8443\n\n",
        "host=github.com\n\n",
        "protocol=https\n\n",
        "protocol=https\n\nhost=github.com\n",
    ] {
        assert_eq!(helper("get", refused), "", "{refused:?}");
    }
    assert_eq!(helper("store", "protocol=https\nhost=github.com\n\n"), "");
}

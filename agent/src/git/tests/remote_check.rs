//! The pure checks behind clone, fetch and push: URLs, user information, refspecs, credentials, and the
//! reading (and scrubbing) of git's failures.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use vibebridge_tunnel::reply::ErrorCode;

use crate::git::cli::{Finished, RemoteAuth};
use crate::git::remote_check::{
    check_credential, check_refspecs, check_url, classify, scrub, strip_userinfo,
};

const AUTH: RemoteAuth<'static> = RemoteAuth {
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

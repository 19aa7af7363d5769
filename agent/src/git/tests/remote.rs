//! Clone, fetch, push and remotes end to end, against bare repositories served over HTTP by
//! [`super::http_remote`], which wants a token: it works, and the token is left nowhere.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use vibebridge_tunnel::config::Secret;
use vibebridge_tunnel::git::{FetchedRef, GitAnswer, GitCredential, GitRequest, RemoteEntry};
use vibebridge_tunnel::reply::ErrorCode;

use super::http_remote::{Server, files_containing, serve};
use super::{Fixture, err_with};

const USER: &str = "x-access-token";
const TOKEN: &str = "ghs_vbTestToken7Qx9Zr2Lm5Kp8Wd3";

/// A fixture whose repository is also served, bare, as `<base>/project.git`.
struct Remote {
    f: Fixture,
    server: Server,
    url: String,
    bare: PathBuf,
}

fn remote() -> Remote {
    let f = Fixture::with_files(&[("a.txt", "a\n")]);
    let srv = f.root.parent().unwrap().join("srv");
    std::fs::create_dir_all(&srv).unwrap();
    f.git_ok(
        &srv,
        &["clone", "-q", "--bare", &f.repo_str(), "project.git"],
    );
    let server = serve(&srv, USER, TOKEN);
    let url = format!("{}/project.git", server.base);
    Remote {
        bare: srv.join("project.git"),
        f,
        server,
        url,
    }
}

fn cred(token: &str) -> Option<GitCredential> {
    Some(GitCredential {
        username: USER.into(),
        password: Secret::new(token),
    })
}

fn clone(dest: &Path, url: &str, branch: Option<&str>, token: Option<&str>) -> GitRequest {
    GitRequest::Clone {
        dest: dest.display().to_string(),
        url: url.into(),
        branch: branch.map(str::to_string),
        credential: token.and_then(cred),
    }
}

fn fetch(dir: &Path, url: &str, spec: &str, token: Option<&str>) -> GitRequest {
    GitRequest::Fetch {
        repo: dir.display().to_string(),
        url: url.into(),
        refspecs: vec![spec.into()],
        credential: token.and_then(cred),
    }
}

fn push(dir: &Path, url: &str, branch: &str, expect: Option<&str>) -> GitRequest {
    GitRequest::Push {
        repo: dir.display().to_string(),
        url: url.into(),
        branch: branch.into(),
        remote_branch: branch.into(),
        expect: expect.map(str::to_string),
        credential: cred(TOKEN),
    }
}

fn commit(f: &Fixture, dir: &Path, content: &str) -> String {
    std::fs::write(dir.join("a.txt"), content).unwrap();
    f.git_ok(dir, &["commit", "-q", "-am", content]);
    f.git_ok(dir, &["rev-parse", "HEAD"]).trim().to_string()
}

fn rev(f: &Fixture, dir: &Path, spec: &str) -> String {
    f.git_ok(dir, &["rev-parse", spec]).trim().to_string()
}

/// Proves clone, fetch and push sign in with the token and leave it nowhere under the clone, `.git`
/// included, with no credential helper written to `.git/config`.
#[test]
fn clone_fetch_push_with_a_token_leave_no_trace() {
    let r = remote();
    let dest = r.f.root.join("cloned");
    let GitAnswer::Status(s) = r.f.ok(clone(&dest, &r.url, None, Some(TOKEN))) else {
        panic!("not a status")
    };
    assert_eq!(s.branch.as_deref(), Some("main"));
    assert_eq!(
        r.f.git_ok(&dest, &["remote", "get-url", "origin"]).trim(),
        r.url
    );
    let moved = commit(&r.f, &r.f.repo, "upstream\n");
    r.f.git(&["push", "-q", &r.bare.display().to_string(), "main"]);
    let spec = "+refs/heads/main:refs/remotes/origin/main";
    let GitAnswer::Fetched { refs } = r.f.ok(fetch(&dest, &r.url, spec, Some(TOKEN))) else {
        panic!("not fetched")
    };
    let want = FetchedRef {
        name: "refs/remotes/origin/main".into(),
        commit: moved,
    };
    assert_eq!(refs, vec![want]);
    r.f.git_ok(&dest, &["checkout", "-q", "-b", "run"]);
    let local = commit(&r.f, &dest, "run\n");
    let GitAnswer::Pushed { commit: pushed } = r.f.ok(push(&dest, &r.url, "run", None)) else {
        panic!("not pushed")
    };
    assert_eq!(pushed, local);
    assert_eq!(rev(&r.f, &r.bare, "refs/heads/run"), local);
    assert!(
        r.server
            .authorized
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 3
    );
    assert_eq!(
        files_containing(&dest, TOKEN.as_bytes()),
        Vec::<PathBuf>::new()
    );
    let config = std::fs::read_to_string(dest.join(".git/config")).unwrap();
    assert!(
        !config.contains("credential") && !config.contains(TOKEN),
        "{config}"
    );
}

/// Proves a `store` helper configured in the repository refuses a credentialed fetch, naming the key,
/// before anything is sent, so the token is never saved by it.
#[test]
fn a_configured_store_helper_refuses_the_fetch_and_never_saves_the_token() {
    let r = remote();
    let store = r.f.repo.join(".git/stolen-credentials");
    let helper = format!("store --file={}", store.display());
    r.f.git(&["config", "credential.helper", &helper]);
    let spec = "+refs/heads/*:refs/remotes/up/*";
    let (code, message) = r.f.err(fetch(&r.f.repo, &r.url, spec, Some(TOKEN)));
    assert_eq!(code, ErrorCode::Forbidden, "{message}");
    assert!(message.contains("credential.helper"), "{message}");
    assert_eq!(r.server.requests.load(Ordering::Relaxed), 0);
    assert!(!store.exists());
    assert_eq!(
        files_containing(&r.f.repo, TOKEN.as_bytes()),
        Vec::<PathBuf>::new()
    );
}

/// Proves a credentialed push from a repository whose own config rewrites the URL or sets a proxy is
/// refused naming the key, with no request sent, and goes through once the key is removed.
#[test]
fn a_repository_config_that_could_divert_the_token_refuses_the_push() {
    let r = remote();
    let dest = r.f.root.join("cloned");
    r.f.ok(clone(&dest, &r.url, None, Some(TOKEN)));
    r.f.git_ok(&dest, &["config", "core.hooksPath", ".husky"]);
    let before = r.server.requests.load(Ordering::Relaxed);
    let insteadof = format!(
        "url.{}/.insteadOf",
        r.server.base.replace("127.0.0.1", "localhost")
    );
    for (key, value) in [
        (insteadof.as_str(), r.server.base.as_str()),
        ("http.proxy", "http://127.0.0.1:9"),
        ("HTTP.SslVerify", "false"),
        ("remote.origin.proxy", "http://127.0.0.1:9"),
        ("include.path", "/tmp/elsewhere"),
    ] {
        r.f.git_ok(&dest, &["config", key, value]);
        let (code, message) = r.f.err(push(&dest, &r.url, "main", None));
        assert_eq!(code, ErrorCode::Forbidden, "{key}: {message}");
        assert!(
            message.contains(&key.to_ascii_lowercase()) && message.contains("remove"),
            "{key}: {message}"
        );
        assert!(!message.contains(TOKEN), "{message}");
        assert_eq!(r.server.requests.load(Ordering::Relaxed), before, "{key}");
        r.f.git_ok(&dest, &["config", "--unset-all", key]);
    }
    let GitAnswer::Pushed { .. } = r.f.ok(push(&dest, &r.url, "main", None)) else {
        panic!("not pushed")
    };
}

/// Proves a proxy set in the work tree's own `config.worktree` refuses a credentialed push too.
#[test]
fn a_worktree_config_proxy_refuses_the_push() {
    let r = remote();
    let dest = r.f.root.join("cloned");
    r.f.ok(clone(&dest, &r.url, None, Some(TOKEN)));
    r.f.git_ok(&dest, &["config", "extensions.worktreeConfig", "true"]);
    let GitAnswer::Pushed { .. } = r.f.ok(push(&dest, &r.url, "main", None)) else {
        panic!("not pushed")
    };
    let before = r.server.requests.load(Ordering::Relaxed);
    r.f.git_ok(
        &dest,
        &["config", "--worktree", "http.proxy", "http://127.0.0.1:9"],
    );
    let (code, message) = r.f.err(push(&dest, &r.url, "main", None));
    assert_eq!(code, ErrorCode::Forbidden, "{message}");
    assert!(message.contains("http.proxy"), "{message}");
    assert_eq!(r.server.requests.load(Ordering::Relaxed), before);
}

/// Proves a push that is not a fast-forward, or whose expected commit is stale, is refused as a
/// conflict, and one expecting the remote's actual commit replaces it.
#[test]
fn push_refuses_a_moved_remote_branch() {
    let r = remote();
    let dest = r.f.root.join("cloned");
    r.f.ok(clone(&dest, &r.url, None, Some(TOKEN)));
    let old = rev(&r.f, &dest, "HEAD");
    let upstream = commit(&r.f, &r.f.repo, "upstream\n");
    r.f.git(&["push", "-q", &r.bare.display().to_string(), "main"]);
    let local = commit(&r.f, &dest, "local\n");
    for expect in [None, Some(old.as_str())] {
        let (code, message) = r.f.err(push(&dest, &r.url, "main", expect));
        assert_eq!(code, ErrorCode::Conflict, "{message}");
        assert!(
            message.contains("moved") && message.contains("fetch"),
            "{message}"
        );
        assert!(!message.contains(TOKEN));
    }
    assert_eq!(rev(&r.f, &r.bare, "main"), upstream);
    let GitAnswer::Pushed { commit } = r.f.ok(push(&dest, &r.url, "main", Some(&upstream))) else {
        panic!("not pushed")
    };
    assert_eq!((commit, rev(&r.f, &r.bare, "main")), (local.clone(), local));
}

/// Proves a wrong or missing token is `unauthorized`, never echoed, and a failed clone leaves no directory.
#[test]
fn a_wrong_or_missing_token_is_unauthorized() {
    let r = remote();
    let dest = r.f.root.join("cloned");
    let wrong = "ghs_wrongToken000";
    let (code, message) = r.f.err(clone(&dest, &r.url, None, Some(wrong)));
    assert_eq!(code, ErrorCode::Unauthorized, "{message}");
    assert!(
        message.starts_with("the remote refused the credentials"),
        "{message}"
    );
    assert!(!message.contains(wrong) && !dest.exists(), "{message}");
    let spec = "+refs/heads/main:refs/remotes/origin/main";
    let (code, message) = r.f.err(fetch(&r.f.repo, &r.url, spec, None));
    assert_eq!(code, ErrorCode::Unauthorized, "{message}");
}

/// Proves clone checks out the branch asked for, into a directory that exists but is empty.
#[test]
fn clone_into_an_empty_directory_checks_out_the_branch() {
    let r = remote();
    r.f.git_ok(&r.bare, &["branch", "feature", "main"]);
    let dest = r.f.root.join("empty");
    std::fs::create_dir(&dest).unwrap();
    let GitAnswer::Status(s) = r.f.ok(clone(&dest, &r.url, Some("feature"), Some(TOKEN))) else {
        panic!("not a status")
    };
    assert_eq!(s.branch.as_deref(), Some("feature"));
}

/// Proves clone refuses URLs with user information or another scheme (without echoing the secret), a
/// destination outside the roots or not empty, and any clone on a read-only node.
#[test]
fn clone_refuses_bad_urls_and_destinations() {
    let r = remote();
    let inside = r.f.root.join("new");
    let userinfo = r.url.replace("http://", "http://u:sekrit@");
    let (code, message) = r.f.err(clone(&inside, &userinfo, None, None));
    assert_eq!(code, ErrorCode::BadRequest);
    assert!(!message.contains("sekrit"), "{message}");
    let file_url = format!("file://{}", r.bare.display());
    assert_eq!(
        r.f.err(clone(&inside, &file_url, None, None)).0,
        ErrorCode::BadRequest
    );
    let outside = r.f.root.parent().unwrap().join("elsewhere");
    let (code, _) = r.f.err(clone(&outside, &r.url, None, Some(TOKEN)));
    assert_eq!(code, ErrorCode::PathOutsideRoots);
    assert!(!outside.exists());
    assert_eq!(
        r.f.err(clone(&r.f.repo, &r.url, None, Some(TOKEN))).0,
        ErrorCode::NotEmpty
    );
    let mut ro = r.f.fs();
    ro.read_only = true;
    assert_eq!(
        err_with(&ro, clone(&inside, &r.url, None, Some(TOKEN))).0,
        ErrorCode::ReadOnly
    );
    assert!(!inside.exists());
}

/// Proves a fetch into a local branch is refused before git runs, leaving the branch where it was.
#[test]
fn fetch_refuses_destinations_outside_remote_refs() {
    let r = remote();
    let main = rev(&r.f, &r.f.repo, "main");
    for spec in [
        "+refs/heads/x:refs/heads/main",
        "refs/heads/main",
        "refs/heads/main:refs/tags/t",
    ] {
        let (code, message) = r.f.err(fetch(&r.f.repo, &r.url, spec, Some(TOKEN)));
        assert_eq!(code, ErrorCode::BadRequest, "{spec}: {message}");
    }
    assert_eq!(rev(&r.f, &r.f.repo, "main"), main);
}

/// Proves remotes are listed by name with their fetch URLs stripped of user information.
#[test]
fn remotes_are_sorted_without_user_information() {
    let f = Fixture::with_files(&[("a.txt", "a\n")]);
    f.git(&[
        "remote",
        "add",
        "upstream",
        "https://u:tok@example.invalid/b.git",
    ]);
    f.git(&["remote", "add", "origin", "https://example.invalid/a.git"]);
    let GitAnswer::Remotes { remotes } = f.ok(GitRequest::Remotes { repo: f.repo_str() }) else {
        panic!("not remotes")
    };
    let entry = |name: &str, url: &str| RemoteEntry {
        name: name.into(),
        url: url.into(),
    };
    assert_eq!(
        remotes,
        vec![
            entry("origin", "https://example.invalid/a.git"),
            entry("upstream", "https://example.invalid/b.git"),
        ]
    );
}

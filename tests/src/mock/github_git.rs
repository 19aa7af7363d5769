//! The git side of [`super::github::FakeGithub`]: bare repositories driven with the `git` CLI (plumbing only, so
//! commits are deterministic) and the smart-HTTP bridge to the real `git http-backend` CGI.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncWriteExt;

/// Author and committer of every commit the fake writes itself (initial commits, merges).
const IDENTITY: [(&str, &str); 6] = [
    ("GIT_AUTHOR_NAME", "Fake GitHub"),
    ("GIT_AUTHOR_EMAIL", "noreply@github.com"),
    ("GIT_AUTHOR_DATE", "1700000000 +0000"),
    ("GIT_COMMITTER_NAME", "Fake GitHub"),
    ("GIT_COMMITTER_EMAIL", "noreply@github.com"),
    ("GIT_COMMITTER_DATE", "1700000000 +0000"),
];

/// `git` in `dir`, isolated from the user's and the system's configuration.
fn git_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .envs(IDENTITY);
    cmd
}

/// Runs git in `dir` with `stdin`, extra `env`; returns trimmed stdout, or an error with stderr.
fn run(dir: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut cmd = git_cmd(dir);
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().context("running git")?;
    if let Some(mut input) = child.stdin.take() {
        use std::io::Write;
        input.write_all(stdin)?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs git in `dir`; returns trimmed stdout.
pub(super) fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    run(dir, args, &[], &[])
}

/// Creates the bare repository `bare` (receive-pack enabled over HTTP) with one commit on `main` holding
/// `files`; returns the commit id. The commit is the same for the same files.
pub(super) fn init_bare(bare: &Path, files: &[(&str, &str)]) -> anyhow::Result<String> {
    std::fs::create_dir_all(bare)?;
    git(
        bare,
        &["init", "--quiet", "--bare", "--initial-branch=main"],
    )?;
    git(bare, &["config", "http.receivepack", "true"])?;
    let index = bare.join("fake-github-index");
    let index_env = [("GIT_INDEX_FILE", index.to_str().context("index path")?)];
    for (path, content) in files {
        let blob = run(
            bare,
            &["hash-object", "-w", "--stdin"],
            content.as_bytes(),
            &[],
        )?;
        let info = format!("100644,{blob},{path}");
        run(
            bare,
            &["update-index", "--add", "--cacheinfo", &info],
            &[],
            &index_env,
        )?;
    }
    let tree = run(bare, &["write-tree"], &[], &index_env)?;
    let _ = std::fs::remove_file(&index);
    let commit = git(bare, &["commit-tree", &tree, "-m", "Initial commit"])?;
    git(bare, &["update-ref", "refs/heads/main", &commit])?;
    Ok(commit)
}

/// Every branch of `bare` and its commit.
pub(super) fn branches(bare: &Path) -> HashMap<String, String> {
    let out = git(
        bare,
        &[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/heads/",
        ],
    )
    .unwrap_or_default();
    out.lines()
        .filter_map(|l| {
            let (name, sha) = l.split_once(' ')?;
            Some((
                name.strip_prefix("refs/heads/")?.to_string(),
                sha.to_string(),
            ))
        })
        .collect()
}

/// The commit a branch name or commit id names, if any.
pub(super) fn resolve(bare: &Path, rev: &str) -> Option<String> {
    if let Some(sha) = branches(bare).get(rev) {
        return Some(sha.clone());
    }
    let spec = format!("{rev}^{{commit}}");
    git(bare, &["rev-parse", "--verify", "--quiet", &spec]).ok()
}

/// Whether commit `a` is an ancestor of (or equal to) `b`.
pub(super) fn is_ancestor(bare: &Path, a: &str, b: &str) -> bool {
    git_cmd(bare)
        .args(["merge-base", "--is-ancestor", a, b])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `head` merges into `base` without conflicts.
pub(super) fn mergeable(bare: &Path, base: &str, head: &str) -> Option<bool> {
    let status = git_cmd(bare)
        .args(["merge-tree", "--write-tree", base, head])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    match status.code() {
        Some(0) => Some(true),
        Some(1) => Some(false),
        _ => None,
    }
}

/// Merges commit `head` into branch `base` with a merge commit (`merge-tree --write-tree`, `commit-tree`,
/// `update-ref`); returns the merge commit.
pub(super) fn merge(bare: &Path, base: &str, head: &str, message: &str) -> anyhow::Result<String> {
    let base_sha = resolve(bare, base).with_context(|| format!("no branch {base}"))?;
    let out = git_cmd(bare)
        .args(["merge-tree", "--write-tree", &base_sha, head])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("merge conflict: {}", stdout.trim());
    }
    let tree = stdout.lines().next().context("merge-tree wrote no tree")?;
    let commit = git(
        bare,
        &[
            "commit-tree",
            tree,
            "-p",
            &base_sha,
            "-p",
            head,
            "-m",
            message,
        ],
    )?;
    let target = format!("refs/heads/{base}");
    git(bare, &["update-ref", &target, &commit, &base_sha])?;
    Ok(commit)
}

/// One request passed to `git http-backend` (GIT_PROJECT_ROOT = `root`) as a CGI; its output becomes the
/// response. `path_info` is `/owner/name.git/...`; `user` becomes REMOTE_USER.
pub(super) async fn http_backend(
    root: &Path,
    path_info: &str,
    method: &Method,
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
    user: Option<&str>,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", path_info)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REMOTE_USER", user.unwrap_or_default())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("HTTP_GIT_PROTOCOL", header("git-protocol"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    if let Some(mut stdin) = child.stdin.take() {
        tokio::spawn(async move {
            // The backend may stop reading early (an error answer); the broken pipe does not matter.
            let _ = stdin.write_all(&body).await;
        });
    }
    let out = match child.wait_with_output().await {
        Ok(o) => o,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    cgi_response(&out.stdout).unwrap_or_else(|| {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (StatusCode::INTERNAL_SERVER_ERROR, err).into_response()
    })
}

/// Parses CGI output: headers (`Status:` gives the code) up to a blank line, then the body.
fn cgi_response(out: &[u8]) -> Option<Response> {
    let (head_len, body_start) = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            out.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        })?;
    let head = std::str::from_utf8(&out[..head_len]).ok()?;
    let mut response = Response::new(Body::from(out[body_start..].to_vec()));
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split(' ').next()?.parse::<u16>().ok()?;
            *response.status_mut() = StatusCode::from_u16(code).ok()?;
        } else if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(n, v);
        }
    }
    Some(response)
}

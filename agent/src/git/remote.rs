//! Talking to remotes: clone, fetch into remote-tracking refs, push one branch, and list the remotes.
//!
//! A credential is handed to the one `git` process that needs it through its environment, read by a
//! credential helper given on the command line (see [`cli::git_remote`]): it never reaches argv, disk,
//! `.git/config` or a log, and git's error output is scrubbed of it before it goes into an answer. URLs are
//! `https://` (or `http://`) and never carry user information themselves. The helper answers only git's
//! request for the scheme and host asked for, and a credentialed fetch or push is refused outright when
//! the repository's own config (which whoever works in the work tree can write) could divert it.

use std::path::Path;
use std::time::Duration;

use vibebridge_tunnel::git::{FetchedRef, GitAnswer, GitCredential, GitRequest, RemoteEntry};
use vibebridge_tunnel::reply::ErrorCode;

use super::cli::{self, Finished, RemoteAuth};
use super::remote_check::{Refspec, check_branch, check_credential, check_refspecs, check_url};
use super::remote_check::{check_repo_config, classify, scheme, strip_userinfo};
use super::{GitError, Repo, admin};
use crate::config::FilesystemConfig;
use crate::fs::guard::Guard;

/// Longest a clone, fetch or push may run.
const NET_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Longest reading the repository's own config may take.
const CONFIG_TIMEOUT: Duration = Duration::from_secs(60);

/// Most output kept from one command talking to a remote.
const MAX_OUT: u64 = 1024 * 1024;

/// Whether `req` talks to a remote (or lists remotes): [`answer`] answers it.
pub(crate) fn is_remote(req: &GitRequest) -> bool {
    matches!(
        req,
        GitRequest::Clone { .. }
            | GitRequest::Fetch { .. }
            | GitRequest::Push { .. }
            | GitRequest::Remotes { .. }
    )
}

/// Answers a request [`is_remote`] accepts (the read-only check already done).
pub(crate) fn answer(fs: &FilesystemConfig, req: GitRequest) -> Result<GitAnswer, GitError> {
    Ok(match req {
        GitRequest::Clone {
            dest,
            url,
            branch,
            credential,
        } => {
            let repo = clone(fs, &dest, &url, branch.as_deref(), credential.as_ref())?;
            GitAnswer::Status(super::status::read(&repo)?)
        }
        GitRequest::Fetch {
            repo,
            url,
            refspecs,
            credential,
        } => GitAnswer::Fetched {
            refs: fetch(
                &Repo::open(fs, &repo)?,
                &url,
                &refspecs,
                credential.as_ref(),
            )?,
        },
        GitRequest::Push {
            repo,
            url,
            branch,
            remote_branch,
            expect,
            credential,
        } => {
            let p = Push {
                url: &url,
                branch: &branch,
                remote_branch: &remote_branch,
                expect: expect.as_deref(),
                credential: credential.as_ref(),
            };
            GitAnswer::Pushed {
                commit: push(&Repo::open(fs, &repo)?, &p)?,
            }
        }
        GitRequest::Remotes { repo } => GitAnswer::Remotes {
            remotes: remotes(&Repo::open(fs, &repo)?)?,
        },
        _ => {
            return Err(GitError::new(
                ErrorCode::Internal,
                "a local git request reached the remote handler",
            ));
        }
    })
}

/// Clones `url` into `dest` (inside the roots; absent, or an empty directory) and opens the new work tree.
/// On failure, whatever the clone created is removed.
fn clone(
    fs: &FilesystemConfig,
    dest: &str,
    url: &str,
    branch: Option<&str>,
    credential: Option<&GitCredential>,
) -> Result<Repo, GitError> {
    let host = check_url(url)?;
    if let Some(b) = branch {
        check_branch("the branch to clone", b)?;
    }
    let auth = auth(url, host, credential)?;
    let (parent, full) = Guard::new(fs)
        .entry(dest)
        .map_err(|r| GitError::new(r.code, r.message))?;
    let existed = match std::fs::symlink_metadata(&full) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(GitError::internal(&format!("inspecting {dest}"), &e)),
        Ok(md) if md.is_dir() => {
            let mut entries = std::fs::read_dir(&full)
                .map_err(|e| GitError::internal(&format!("reading {dest}"), &e))?;
            if entries.next().is_some() {
                return Err(GitError::new(
                    ErrorCode::NotEmpty,
                    format!("{dest} is not empty; clone into a new or empty directory"),
                ));
            }
            true
        }
        Ok(_) => {
            return Err(GitError::new(
                ErrorCode::AlreadyExists,
                format!(
                    "{dest} exists and is not a directory; clone into a new or empty directory"
                ),
            ));
        }
    };
    let full_arg = full.as_os_str().to_owned();
    let mut args: Vec<std::ffi::OsString> = vec!["clone".into(), "--quiet".into()];
    if let Some(b) = branch {
        args.extend(["--branch".into(), b.into()]);
    }
    args.extend(["--".into(), url.into(), full_arg]);
    let cmd = cli::git_remote(&parent, scheme(url), auth.as_ref(), args);
    let out = run(cmd, "clone", &format!("clone {url}"), auth.as_ref());
    let out = out.and_then(|out| {
        if out.status.success() {
            Ok(())
        } else {
            Err(classify(&format!("clone {url}"), &out, auth.as_ref()))
        }
    });
    if let Err(e) = out {
        undo_clone(&full, existed);
        return Err(e);
    }
    Repo::open(fs, &full.to_string_lossy())
}

/// Removes what a failed clone left at `full`: the directory, or only its contents when it was there
/// (empty) before.
fn undo_clone(full: &Path, existed: bool) {
    if !existed {
        let _ = std::fs::remove_dir_all(full);
        return;
    }
    if let Ok(entries) = std::fs::read_dir(full) {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = match entry.file_type() {
                Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
                _ => std::fs::remove_file(&path),
            };
        }
    }
}

/// Fetches `refspecs` from `url` into remote-tracking refs; the refs written, in refspec order.
fn fetch(
    r: &Repo,
    url: &str,
    refspecs: &[String],
    credential: Option<&GitCredential>,
) -> Result<Vec<FetchedRef>, GitError> {
    let host = check_url(url)?;
    let specs = check_refspecs(refspecs)?;
    let auth = auth(url, host, credential)?;
    let dir = r.workdir.as_path();
    let lock = super::worktree::repo_lock(dir);
    let _serial = lock.lock().unwrap_or_else(|e| e.into_inner());
    if auth.is_some() {
        check_own_config(dir)?;
    }
    let mut args = vec![
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",
        "--recurse-submodules=no",
        "--",
        url,
    ];
    args.extend(refspecs.iter().map(String::as_str));
    let doing = format!("fetch from {url}");
    let out = run(
        cli::git_remote(dir, scheme(url), auth.as_ref(), &args),
        "fetch",
        &doing,
        auth.as_ref(),
    )?;
    if !out.status.success() {
        return Err(classify(&doing, &out, auth.as_ref()));
    }
    let mut refs: Vec<FetchedRef> = Vec::new();
    for spec in &specs {
        for found in written(dir, spec)? {
            if !refs.iter().any(|r| r.name == found.name) {
                refs.push(found);
            }
        }
    }
    Ok(refs)
}

/// The refs a fetched refspec's destination names now, with their commits.
fn written(dir: &Path, spec: &Refspec) -> Result<Vec<FetchedRef>, GitError> {
    let pattern = match &spec.wildcard {
        None => spec.dst.clone(),
        Some((prefix, _)) => prefix[..prefix.rfind('/').unwrap_or(0)].to_string(),
    };
    let text = admin::text(
        dir,
        &[
            "for-each-ref",
            "--format=%(refname) %(if)%(*objectname)%(then)%(*objectname)%(else)%(objectname)%(end)",
            &pattern,
        ],
        &[],
        "read the fetched refs",
    )?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(name, _)| spec.matches(name))
        .map(|(name, commit)| FetchedRef {
            name: name.to_string(),
            commit: commit.to_string(),
        })
        .collect())
}

/// What one push asks for.
struct Push<'a> {
    /// The remote's URL.
    url: &'a str,
    /// The local branch.
    branch: &'a str,
    /// The branch on the remote.
    remote_branch: &'a str,
    /// The commit the remote branch must be at for the push to replace it.
    expect: Option<&'a str>,
    /// Sign-in.
    credential: Option<&'a GitCredential>,
}

/// Pushes the local branch's commit to the remote branch (fast-forward only, or replacing exactly
/// `expect`); the commit pushed.
fn push(r: &Repo, p: &Push<'_>) -> Result<String, GitError> {
    let host = check_url(p.url)?;
    check_branch("the branch to push", p.branch)?;
    check_branch("the remote branch", p.remote_branch)?;
    if let Some(expect) = p.expect {
        admin::check_rev("the expected remote commit", expect)?;
    }
    let auth = auth(p.url, host, p.credential)?;
    let dir = r.workdir.as_path();
    let lock = super::worktree::repo_lock(dir);
    let _serial = lock.lock().unwrap_or_else(|e| e.into_inner());
    if auth.is_some() {
        check_own_config(dir)?;
    }
    let commit = admin::branch_tip(dir, "the branch to push", p.branch)?;
    let dst = format!("refs/heads/{}", p.remote_branch);
    let refspec = format!("{commit}:{dst}");
    let lease = p.expect.map(|e| format!("--force-with-lease={dst}:{e}"));
    let mut args = vec![
        "push",
        "--porcelain",
        "--no-verify",
        "--recurse-submodules=no",
    ];
    args.extend(lease.as_deref());
    args.extend(["--", p.url, &refspec]);
    let doing = format!("push {} to {} as {}", p.branch, p.url, p.remote_branch);
    let out = run(
        cli::git_remote(dir, scheme(p.url), auth.as_ref(), &args),
        "push",
        &doing,
        auth.as_ref(),
    )?;
    if out.status.success() {
        return Ok(commit);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let status = stdout
        .lines()
        .filter_map(|l| {
            l.split('\t')
                .collect::<Vec<_>>()
                .get(..3)
                .map(<[_]>::to_vec)
        })
        .find(|f| f[1].ends_with(&format!(":{dst}")));
    if let Some(f) = status.filter(|f| f[0] == "!") {
        let why = f[2];
        if why.starts_with("[remote rejected]") {
            return Err(GitError::new(
                ErrorCode::Forbidden,
                format!("the remote refused the push of {}: {why}", p.remote_branch),
            ));
        }
        if why.starts_with("[rejected]") {
            return Err(moved(p, why));
        }
    }
    Err(classify(&doing, &out, auth.as_ref()))
}

/// The refusal of a push because the remote branch is not where it was expected.
fn moved(p: &Push<'_>, why: &str) -> GitError {
    let expected = match p.expect {
        Some(e) => format!("is no longer at {e}"),
        None => "has commits this branch does not".to_string(),
    };
    GitError::new(
        ErrorCode::Conflict,
        format!(
            "the remote branch {} moved: it {expected} ({why}); fetch it, rebase {} onto it and push again",
            p.remote_branch, p.branch
        ),
    )
}

/// The repository's remotes with their fetch URLs (user information removed), sorted by name.
fn remotes(r: &Repo) -> Result<Vec<RemoteEntry>, GitError> {
    let text = admin::text(&r.workdir, &["remote", "-v"], &[], "list the remotes")?;
    let mut out: Vec<RemoteEntry> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter_map(|(name, rest)| {
            rest.strip_suffix(" (fetch)").map(|url| RemoteEntry {
                name: name.to_string(),
                url: strip_userinfo(url),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    Ok(out)
}

/// Refuses a credentialed fetch or push in the work tree `dir` whose repository's own config (the
/// repository's `config`, and the work tree's `config.worktree` when `extensions.worktreeConfig` is on) sets
/// a key that could send the token elsewhere: see [`super::remote_check::risky_config_key`]. Read with plain
/// `git config` (no credential in its environment); fails closed when the config cannot be read.
fn check_own_config(dir: &Path) -> Result<(), GitError> {
    let doing = "read the repository's git config before signing in";
    let names = |scope: &str| -> Result<Vec<String>, GitError> {
        let out = cli::bounded(
            cli::git(dir, ["config", scope, "--list", "--name-only", "-z"]),
            CONFIG_TIMEOUT,
            MAX_OUT,
        )
        .map_err(|e| GitError::internal(&format!("running git to {doing} (is git on PATH?)"), &e))?
        .ok_or_else(|| {
            GitError::new(
                ErrorCode::Internal,
                format!("git did not {doing} in time and was stopped"),
            )
        })?;
        if !out.status.success() {
            // Worktree config switched on but never written: nothing there.
            if scope == "--worktree" && out.stderr.contains("No such file or directory") {
                return Ok(Vec::new());
            }
            return Err(admin::failed(doing, &out));
        }
        if out.stdout.len() as u64 >= MAX_OUT {
            // Cut short, a risky key could hide past the cut: refuse rather than guess.
            return Err(GitError::new(
                ErrorCode::Forbidden,
                "the repository's own git config is too large to check before signing in; trim it \
                 and try again",
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .split('\0')
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect())
    };
    let mut keys = names("--local")?;
    if keys
        .iter()
        .any(|k| k.eq_ignore_ascii_case("extensions.worktreeconfig"))
    {
        keys.extend(names("--worktree")?);
    }
    check_repo_config(keys.iter().map(String::as_str))
}

/// The sign-in for `host` (of `url`) from a request's credential, checked.
fn auth<'a>(
    url: &'a str,
    host: &'a str,
    credential: Option<&'a GitCredential>,
) -> Result<Option<RemoteAuth<'a>>, GitError> {
    let Some(c) = credential else {
        return Ok(None);
    };
    check_credential(&c.username, c.password.expose())?;
    Ok(Some(RemoteAuth {
        scheme: scheme(url),
        host,
        username: &c.username,
        token: c.password.expose(),
    }))
}

/// Runs a command talking to a remote, bounded by [`NET_TIMEOUT`].
fn run(
    cmd: std::process::Command,
    what: &str,
    doing: &str,
    auth: Option<&RemoteAuth<'_>>,
) -> Result<Finished, GitError> {
    let scrub = |s: &str| super::remote_check::scrub(s, auth);
    cli::bounded(cmd, NET_TIMEOUT, MAX_OUT)
        .map_err(|e| GitError::internal(&format!("running `git {what}` (is git on PATH?)"), &e))?
        .ok_or_else(|| {
            GitError::new(
                ErrorCode::Internal,
                scrub(&format!(
                    "git did not {doing} within {} s and was stopped",
                    NET_TIMEOUT.as_secs()
                )),
            )
        })
}

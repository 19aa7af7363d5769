//! Running the `git` CLI where gix cannot yet do a job safely (switching branches in a populated work tree,
//! worktrees, applying a patch, talking to remotes): bounded in time (git and every hook it starts are killed
//! together past the limit) and in output, with no input, and with only the work tree choosing the repository.

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// Most of git's error output kept for an answer.
const MAX_STDERR: u64 = 64 * 1024;

/// What a bounded command left: its exit status, its output (at most the bytes asked for) and the start of
/// its error output.
pub(crate) struct Finished {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output, cut at the limit given.
    pub stdout: Vec<u8>,
    /// Standard error, cut at 64 KiB.
    pub stderr: String,
}

/// `git ARGS` in `cwd`, with the environment that keeps a caller's `GIT_DIR` and friends from choosing
/// another repository, and prompts off.
pub(crate) fn git<I, S>(cwd: &Path, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new("git");
    cmd.args(args)
        .current_dir(cwd)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_COMMON_DIR");
    cmd
}

/// Runs `cmd` in a process group of its own with no input, keeping at most `max_stdout` bytes of its
/// output; `None` when it ran past `timeout`, in which case the whole group (git and its hooks) has been
/// killed and git reaped.
pub(crate) fn bounded(
    mut cmd: Command,
    timeout: Duration,
    max_stdout: u64,
) -> std::io::Result<Option<Finished>> {
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let drain = |pipe: Option<Box<dyn Read + Send>>, max: u64| {
        let (tx, rx) = std::sync::mpsc::channel();
        if let Some(mut pipe) = pipe {
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                let _ = (&mut pipe).take(max).read_to_end(&mut kept);
                // Drained, so git never blocks on a full pipe.
                let _ = std::io::copy(&mut pipe, &mut std::io::sink());
                let _ = tx.send(kept);
            });
        }
        rx
    };
    let out_rx = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        max_stdout,
    );
    let err_rx = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        MAX_STDERR,
    );
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let status = match done_rx.recv_timeout(timeout) {
        Ok(status) => status?,
        Err(_) => {
            if let Ok(pgid) = i32::try_from(pid) {
                let pgid = nix::unistd::Pid::from_raw(pgid);
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = done_rx.recv();
            return Ok(None);
        }
    };
    // A hook's background process may hold a pipe open; its output is not worth waiting for.
    let wait = Duration::from_secs(1);
    let stdout = out_rx.recv_timeout(wait).unwrap_or_default();
    let stderr =
        String::from_utf8_lossy(&err_rx.recv_timeout(wait).unwrap_or_default()).into_owned();
    Ok(Some(Finished {
        status,
        stdout,
        stderr,
    }))
}

/// One sign-in for one `git` process talking to a remote: handed over in that process's environment only.
pub(crate) struct RemoteAuth<'a> {
    /// The scheme of the URL asked for (`https`, or `http` for a local test server); the helper answers
    /// only a request for it.
    pub scheme: &'a str,
    /// The remote's `host[:port]`; the helper answers for it alone (not for a redirect or a rewritten URL).
    pub host: &'a str,
    /// User name.
    pub username: &'a str,
    /// The token.
    pub token: &'a str,
}

/// The credential helper given on the command line: it answers `get` only when git's request names both
/// the scheme ([`RemoteAuth::scheme`], as `protocol=`) and the `host[:port]` ([`RemoteAuth::host`], as
/// `host=`) of the URL asked for, read in full from its input before deciding, so a URL rewritten to
/// plain `http://` or to another host (a redirect, `insteadOf`) gets nothing. It ignores `store` and
/// `erase`, so git has nothing to save, and the token stays off argv.
pub(crate) const HELPER: &str = "credential.helper=!f() { test \"$1\" = get || exit 0; h=; p=; \
    while IFS= read -r l && test -n \"$l\"; do case \"$l\" in host=*) h=\"${l#host=}\";; \
    protocol=*) p=\"${l#protocol=}\";; esac; done; \
    test -n \"$VB_GIT_HOST\" && test -n \"$VB_GIT_PROTO\" || exit 0; \
    test \"$h\" = \"$VB_GIT_HOST\" && test \"$p\" = \"$VB_GIT_PROTO\" || exit 0; \
    printf 'username=%s\\npassword=%s\\n' \"$VB_GIT_USER\" \"$VB_GIT_TOKEN\"; }; f";

/// Environment variables that would make git (or curl inside it) trace requests, headers included.
const TRACING: [&str; 8] = [
    "GIT_TRACE",
    "GIT_TRACE_CURL",
    "GIT_TRACE_PACKET",
    "GIT_TRACE_PACKFILE",
    "GIT_CURL_VERBOSE",
    "GIT_TRACE2",
    "GIT_TRACE2_EVENT",
    "GIT_TRACE2_PERF",
];

/// [`git`] for a command that talks to a remote (`clone`, `fetch`, `push`) at a URL of scheme `scheme`:
/// never prompts (no terminal, no askpass program), runs no hooks, recurses into no submodules, signs no
/// push, verifies TLS certificates, follows a redirect only on the first request, speaks only https (and
/// http when `scheme` is `http`, as for a local test server), and with `auth` signs in through [`HELPER`]
/// alone: every configured helper (`store`, a keychain) is cleared first, so the token is neither read from
/// nor written to disk, and it is never on the command line. These settings override the repository's
/// own; what they cannot override (`url.*.insteadOf`, `http.<url>.*`, proxies) the caller refuses first.
pub(crate) fn git_remote<I, S>(
    cwd: &Path,
    scheme: &str,
    auth: Option<&RemoteAuth<'_>>,
    args: I,
) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut config = vec![
        "core.hooksPath=/dev/null",
        "submodule.recurse=false",
        "push.gpgSign=false",
        "http.sslVerify=true",
        "http.followRedirects=initial",
        "protocol.allow=never",
        "protocol.https.allow=always",
        "gc.auto=0",
        "maintenance.auto=false",
    ];
    if scheme.eq_ignore_ascii_case("http") {
        config.push("protocol.http.allow=always");
    }
    if auth.is_some() {
        config.extend(["credential.helper=", HELPER, "credential.useHttpPath=false"]);
    }
    let mut all: Vec<&OsStr> = Vec::new();
    for c in &config {
        all.push(OsStr::new("-c"));
        all.push(OsStr::new(c));
    }
    let args: Vec<S> = args.into_iter().collect();
    all.extend(args.iter().map(AsRef::as_ref));
    let mut cmd = git(cwd, all);
    cmd.env("GIT_ASKPASS", "").env_remove("SSH_ASKPASS");
    for var in TRACING {
        cmd.env_remove(var);
    }
    if let Some(auth) = auth {
        cmd.env("VB_GIT_PROTO", auth.scheme)
            .env("VB_GIT_HOST", auth.host)
            .env("VB_GIT_USER", auth.username)
            .env("VB_GIT_TOKEN", auth.token);
    }
    cmd
}

//! A run's setup and cleanup scripts: `bash -c <script>` (or `sh` where there is no bash) in the work tree,
//! in a process group of its own, with its output streamed as it comes and kept in a log file on the node.
//!
//! Standard output and error are read together, cut into chunks at line ends (16 KiB at most), forwarded to
//! the caller (up to 8 MiB; the rest only reaches the file) and appended to the log. The script's processes
//! end with it: once the script exits, whatever it left running in its group is killed; past its time limit
//! (a dev server has none) or when asked to [`Stop`], the group gets SIGTERM, then SIGKILL; and dropping the
//! future kills the group at once.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;
use vibebridge_tunnel::run::ProcessStatus;

use crate::run_as::RunAs;

/// Most bytes of one chunk of output.
pub const CHUNK_MAX: usize = 16 * 1024;
/// Most bytes of output forwarded to the caller; the log file gets all of it.
pub const FORWARD_MAX: usize = 8 * 1024 * 1024;
/// How long a timed-out script has between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(2);
/// How long output still in the pipes is read after the script ended.
const DRAIN: Duration = Duration::from_secs(2);

/// A script to run.
pub struct Script<'a> {
    /// The shell script (`bash -c`).
    pub script: &'a str,
    /// Its working directory (the run's work tree).
    pub cwd: &'a Path,
    /// Added to the agent's own environment (the run's `VB_*`).
    pub env: &'a [(String, String)],
    /// Where all of its output is appended (parents created).
    pub log_path: PathBuf,
    /// Longest it may run; `None`: until it ends or is stopped (a dev server).
    pub timeout: Option<Duration>,
    /// The user to run as (`execution.run_as`); `None`: the agent's own.
    pub run_as: Option<&'a RunAs>,
    /// Stops it early when asked.
    pub stop: Option<&'a Stop>,
}

/// A request to end a running script early, with why (its end's message).
#[derive(Debug, Default)]
pub struct Stop {
    token: CancellationToken,
    why: Mutex<Option<String>>,
}

impl Stop {
    /// Asks the script to end; the first reason given is kept.
    pub fn stop(&self, why: &str) {
        self.why
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(|| why.to_string());
        self.token.cancel();
    }

    /// Whether it was asked to end.
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    fn reason(&self) -> String {
        self.why
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "the script was stopped".into())
    }
}

/// Resolves when `stop` is asked for; never without one.
async fn stopped(stop: Option<&Stop>) {
    match stop {
        Some(s) => s.token.cancelled().await,
        None => std::future::pending().await,
    }
}

/// Resolves after `timeout`; never without one.
async fn expired(timeout: Option<Duration>) {
    match timeout {
        Some(t) => tokio::time::sleep(t).await,
        None => std::future::pending().await,
    }
}

/// How a script ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptEnd {
    /// `Completed` (exit 0), `Failed` (non-zero exit, a signal, or not started) or `Killed` (timed out).
    pub status: ProcessStatus,
    /// Its exit code, when it exited by itself.
    pub exit_code: Option<i64>,
    /// Why it did not complete.
    pub message: Option<String>,
}

impl ScriptEnd {
    fn failed(message: String) -> ScriptEnd {
        ScriptEnd {
            status: ProcessStatus::Failed,
            exit_code: None,
            message: Some(message),
        }
    }
}

/// Runs the script to its end, passing its output to `output` chunk by chunk as it comes.
pub async fn run_script(s: Script<'_>, output: &mut (dyn FnMut(String) + Send)) -> ScriptEnd {
    let mut sink = Sink::open(&s.log_path, output).await;
    let mut child = match spawn(&s) {
        Ok(child) => child,
        Err(e) => {
            let message = format!("could not start the script: {e}");
            sink.emit(format!("{message}\n").as_bytes()).await;
            return ScriptEnd::failed(message);
        }
    };
    let mut group = Group(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    );
    let mut pipes = Pipes {
        out: child.stdout.take(),
        err: child.stderr.take(),
        out_lines: Lines::default(),
        err_lines: Lines::default(),
    };
    let deadline = expired(s.timeout);
    tokio::pin!(deadline);
    let ended = loop {
        tokio::select! {
            status = child.wait() => break Ended::Exited(status),
            () = &mut deadline => break Ended::TimedOut,
            () = stopped(s.stop) => break Ended::Stopped,
            chunks = pipes.read() => sink.emit_all(chunks).await,
        }
    };
    let cut_short = match ended {
        Ended::Exited(_) => None,
        Ended::TimedOut => Some(format!(
            "the script ran longer than {} and was stopped",
            humantime::format_duration(s.timeout.unwrap_or_default())
        )),
        Ended::Stopped => Some(s.stop.map(Stop::reason).unwrap_or_default()),
    };
    let status = match ended {
        Ended::Exited(status) => status,
        Ended::TimedOut | Ended::Stopped => {
            group.signal(Signal::SIGTERM);
            match tokio::time::timeout(GRACE, child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    group.signal(Signal::SIGKILL);
                    child.wait().await
                }
            }
        }
    };
    // Whatever the script left running in its group ends with it.
    group.signal(Signal::SIGKILL);
    group.0 = None;
    let drain = tokio::time::sleep(DRAIN);
    tokio::pin!(drain);
    while pipes.open() {
        tokio::select! {
            _ = &mut drain => break,
            chunks = pipes.read() => sink.emit_all(chunks).await,
        }
    }
    sink.emit_all(pipes.finish()).await;
    sink.flush().await;
    if let Some(why) = cut_short {
        return ScriptEnd {
            status: ProcessStatus::Killed,
            exit_code: None,
            message: Some(why),
        };
    }
    describe(status)
}

/// Why the wait for the script stopped.
enum Ended {
    Exited(std::io::Result<ExitStatus>),
    TimedOut,
    Stopped,
}

/// The end of a script that exited (or was killed by a signal not of our making).
fn describe(status: std::io::Result<ExitStatus>) -> ScriptEnd {
    match status {
        Ok(st) => match (st.code(), st.signal()) {
            (Some(0), _) => ScriptEnd {
                status: ProcessStatus::Completed,
                exit_code: Some(0),
                message: None,
            },
            (Some(code), _) => ScriptEnd {
                status: ProcessStatus::Failed,
                exit_code: Some(i64::from(code)),
                message: Some(format!("the script exited with status {code}")),
            },
            (None, Some(sig)) => {
                ScriptEnd::failed(format!("the script was killed by signal {sig}"))
            }
            (None, None) => ScriptEnd::failed("the script ended in an unknown way".into()),
        },
        Err(e) => ScriptEnd::failed(format!("waiting for the script failed: {e}")),
    }
}

/// Starts the shell with the script, in a group of its own, with no input.
fn spawn(s: &Script<'_>) -> std::io::Result<Child> {
    let shell = shell();
    let mut cmd = match s.run_as {
        Some(user) => {
            let (setpriv, prefix) = user.command(&shell);
            let mut cmd = Command::new(setpriv);
            cmd.args(prefix).envs(user.env());
            cmd
        }
        None => Command::new(&shell),
    };
    cmd.arg("-c")
        .arg(s.script)
        .current_dir(s.cwd)
        .envs(s.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // The enrolment token is the agent's business, never a script's.
    cmd.env_remove(crate::REGISTER_TOKEN_ENV);
    cmd.spawn()
}

/// `bash` from `PATH` (or its usual places), else `/bin/sh`.
fn shell() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .map(|d| d.join("bash"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("/bin/sh"))
}

/// The script's process group; killed when dropped unless the script was already ended.
struct Group(Option<Pid>);

impl Group {
    fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.0
            && let Err(e) = killpg(pgid, signal)
            && e != nix::errno::Errno::ESRCH
        {
            tracing::warn!("signalling script process group {pgid}: {e}");
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// The script's two output pipes, each cut into chunks.
struct Pipes<O, E> {
    out: Option<O>,
    err: Option<E>,
    out_lines: Lines,
    err_lines: Lines,
}

impl<O: AsyncRead + Unpin, E: AsyncRead + Unpin> Pipes<O, E> {
    fn open(&self) -> bool {
        self.out.is_some() || self.err.is_some()
    }

    /// The chunks completed by the next read of either pipe; pending forever once both are closed.
    async fn read(&mut self) -> Vec<Vec<u8>> {
        let mut ob = [0u8; 8192];
        let mut eb = [0u8; 8192];
        let (which, n) = tokio::select! {
            n = read_some(&mut self.out, &mut ob) => (0, n),
            n = read_some(&mut self.err, &mut eb) => (1, n),
        };
        let (lines, buf) = if which == 0 {
            (&mut self.out_lines, &ob[..])
        } else {
            (&mut self.err_lines, &eb[..])
        };
        match n {
            Some(n) => lines.push(&buf[..n]),
            None => {
                if which == 0 {
                    self.out = None;
                } else {
                    self.err = None;
                }
                lines.finish()
            }
        }
    }

    /// What is left in both buffers.
    fn finish(&mut self) -> Vec<Vec<u8>> {
        let mut chunks = self.out_lines.finish();
        chunks.extend(self.err_lines.finish());
        chunks
    }
}

/// One read of `pipe`: `Some(n)` bytes, or `None` at its end (or an error); pending forever when closed.
async fn read_some<R: AsyncRead + Unpin>(pipe: &mut Option<R>, buf: &mut [u8]) -> Option<usize> {
    match pipe {
        Some(p) => match p.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => std::future::pending().await,
    }
}

/// Output of one pipe, cut into chunks that end at line ends (or, for a line over [`CHUNK_MAX`], at a
/// character boundary).
#[derive(Default)]
pub(crate) struct Lines(Vec<u8>);

impl Lines {
    /// Takes in `data`; returns the chunks it completed.
    pub(crate) fn push(&mut self, data: &[u8]) -> Vec<Vec<u8>> {
        self.0.extend_from_slice(data);
        let mut chunks = Vec::new();
        loop {
            let window = &self.0[..self.0.len().min(CHUNK_MAX)];
            let cut = match window.iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                None if self.0.len() > CHUNK_MAX => char_cut(&self.0, CHUNK_MAX),
                None => break,
            };
            chunks.push(self.0.drain(..cut).collect());
            if self.0.is_empty() {
                break;
            }
        }
        chunks
    }

    /// The rest, as a last chunk (none when empty).
    pub(crate) fn finish(&mut self) -> Vec<Vec<u8>> {
        let mut chunks = Vec::new();
        while !self.0.is_empty() {
            let cut = if self.0.len() > CHUNK_MAX {
                char_cut(&self.0, CHUNK_MAX)
            } else {
                self.0.len()
            };
            chunks.push(self.0.drain(..cut).collect());
        }
        chunks
    }
}

/// `max`, moved back to the start of the UTF-8 character it would split (`bytes` is longer than `max`).
fn char_cut(bytes: &[u8], max: usize) -> usize {
    let mut i = max;
    while i > 0 && max - i < 3 && bytes.get(i).is_some_and(|b| b & 0xC0 == 0x80) {
        i -= 1;
    }
    if i == 0 { max } else { i }
}

/// Where output goes: the caller (up to [`FORWARD_MAX`]) and the log file (all of it).
struct Sink<'o> {
    output: &'o mut (dyn FnMut(String) + Send),
    file: Option<tokio::fs::File>,
    path: PathBuf,
    forwarded: usize,
    capped: bool,
}

impl<'o> Sink<'o> {
    async fn open(path: &Path, output: &'o mut (dyn FnMut(String) + Send)) -> Sink<'o> {
        if let Some(dir) = path.parent() {
            let _ = tokio::fs::create_dir_all(dir).await;
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await;
        let file = match file {
            Ok(f) => Some(f),
            Err(e) => {
                output(format!(
                    "… the node could not open the log file {}: {e}; output is not kept there\n",
                    path.display()
                ));
                None
            }
        };
        Sink {
            output,
            file,
            path: path.to_path_buf(),
            forwarded: 0,
            capped: false,
        }
    }

    async fn emit_all(&mut self, chunks: Vec<Vec<u8>>) {
        for chunk in chunks {
            self.emit(&chunk).await;
        }
    }

    async fn emit(&mut self, chunk: &[u8]) {
        if let Some(f) = &mut self.file
            && let Err(e) = f.write_all(chunk).await
        {
            tracing::warn!("writing script log {}: {e}", self.path.display());
            self.file = None;
        }
        if self.forwarded + chunk.len() <= FORWARD_MAX {
            self.forwarded += chunk.len();
            (self.output)(String::from_utf8_lossy(chunk).into_owned());
        } else if !self.capped {
            self.capped = true;
            (self.output)(format!(
                "… output past {} MiB is in the node's log file {}\n",
                FORWARD_MAX / (1024 * 1024),
                self.path.display()
            ));
        }
    }

    async fn flush(&mut self) {
        if let Some(f) = &mut self.file {
            let _ = f.flush().await;
        }
    }
}

//! A provider CLI process: spawned in its own process group, stdout read as bounded lines and copied
//! verbatim to a raw JSONL file, stderr tail kept for error messages, and ended by signalling the whole group
//! (the npm wrappers fork the real binary; killing only the wrapper would orphan it).

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use vibebridge_tunnel::session::EventBody;

use super::lines::{Line, LineReader};
use crate::run_as::RunAs;

/// Longest stdout line accepted from a CLI; longer lines become an error event and are skipped.
pub const MAX_LINE_BYTES: usize = 32 * 1024 * 1024;
const STDERR_TAIL_LINES: usize = 20;

/// One read of a CLI's stdout, as a session consumes it.
pub enum Read {
    /// A line (already copied to the raw file).
    Line(String),
    /// A line was skipped (too long); the error is on the session's log and reading goes on.
    Skipped,
    /// Output ended.
    Ended,
}

/// What to run.
pub struct Spawn<'a> {
    /// The binary.
    pub program: &'a Path,
    /// Its arguments.
    pub args: Vec<String>,
    /// Working directory.
    pub cwd: &'a Path,
    /// Added to the agent's own environment.
    pub env: &'a BTreeMap<String, String>,
    /// Keep a pipe to stdin (stream-json / JSON-RPC); otherwise stdin is /dev/null.
    pub stdin: bool,
    /// Where stdout lines are copied (`…/<n>-<provider>.jsonl`); stderr goes next to it as `.stderr.log`.
    pub raw_path: PathBuf,
    /// The user to run as (`execution.run_as`); `None`: the agent's own.
    pub run_as: Option<&'a RunAs>,
}

/// A running CLI.
pub struct Proc {
    child: Child,
    pgid: Option<Pid>,
    stdin: Option<ChildStdin>,
    stdout: LineReader<ChildStdout>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

impl Proc {
    /// Starts the process.
    pub fn spawn(spec: Spawn<'_>) -> std::io::Result<Proc> {
        if let Some(dir) = spec.raw_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let raw = std::fs::File::create(&spec.raw_path)?;
        let stderr_log = std::fs::File::create(spec.raw_path.with_extension("stderr.log"))?;
        let mut cmd = match spec.run_as {
            Some(user) => {
                let (setpriv, prefix) = user.command(spec.program);
                let mut cmd = Command::new(setpriv);
                cmd.args(prefix).envs(user.env());
                cmd
            }
            None => Command::new(spec.program),
        };
        cmd.args(&spec.args)
            .current_dir(spec.cwd)
            .envs(spec.env)
            .stdin(if spec.stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // The enrolment token is the agent's business, never a CLI's.
        cmd.env_remove(crate::REGISTER_TOKEN_ENV);
        let mut child = cmd.spawn()?;
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout pipe"))?;
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stderr) = child.stderr.take() {
            let tail = stderr_tail.clone();
            tokio::spawn(
                async move {
                    let mut log = std::io::LineWriter::new(stderr_log);
                    let mut lines = BufReader::new(stderr).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let _ = writeln!(log, "{line}");
                        let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                        if t.len() == STDERR_TAIL_LINES {
                            t.pop_front();
                        }
                        t.push_back(line);
                    }
                }
                .instrument(tracing::Span::current()),
            );
        }
        Ok(Proc {
            stdin: child.stdin.take(),
            child,
            pgid,
            stdout: LineReader::new(
                stdout,
                MAX_LINE_BYTES,
                Some(Box::new(std::io::LineWriter::new(raw))),
            ),
            stderr_tail,
        })
    }

    /// The next stdout line (every byte is copied to the raw file first); `Ok(None)` at end of output.
    /// Content cannot end reading, only EOF or an I/O error can.
    pub async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        self.stdout.next().await
    }

    /// The next line. A line that was not UTF-8 is passed on decoded lossily, with an error event on `log`
    /// saying so; a line over [`MAX_LINE_BYTES`] becomes an error event and is skipped. An I/O error is
    /// logged and ends reading.
    pub async fn read_line(&mut self, log: &super::log::SessionLog) -> Read {
        match self.next_line().await {
            Ok(Some(Line::Text { text, lossy })) => {
                if lossy {
                    log.append(EventBody::Error {
                        message: "the CLI printed a line that is not valid UTF-8; it was read with the \
                                  invalid bytes replaced by U+FFFD (the raw log keeps the original bytes)"
                            .into(),
                    });
                }
                Read::Line(text)
            }
            Ok(Some(Line::TooLong { len })) => {
                log.append(EventBody::Error {
                    message: format!(
                        "the CLI printed a line of {len} bytes, over the {MAX_LINE_BYTES}-byte limit; it \
                         was skipped (the raw log keeps it)"
                    ),
                });
                Read::Skipped
            }
            Ok(None) => Read::Ended,
            Err(e) => {
                log.append(EventBody::Error {
                    message: format!("reading the CLI's output failed: {e}"),
                });
                Read::Ended
            }
        }
    }

    /// Writes one JSON line to stdin.
    pub async fn send(&mut self, value: &serde_json::Value) -> Result<(), String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| "the CLI's stdin is closed".to_string())?;
        let mut line = value.to_string();
        line.push('\n');
        stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| format!("writing to the CLI: {e}"))?;
        stdin
            .flush()
            .await
            .map_err(|e| format!("writing to the CLI: {e}"))
    }

    /// Writes `text` to stdin from a task of its own, then closes it: for a CLI that reads its whole input
    /// before it starts (`codex exec -`), without the caller waiting on the pipe.
    pub fn feed_stdin(&mut self, text: String) {
        if let Some(mut stdin) = self.stdin.take() {
            tokio::spawn(
                async move {
                    if let Err(e) = stdin.write_all(text.as_bytes()).await {
                        tracing::debug!("writing the prompt to the CLI: {e}");
                    }
                }
                .instrument(tracing::Span::current()),
            );
        }
    }

    /// Closes stdin (the CLI's cue to finish).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The last lines the CLI wrote to stderr, joined.
    pub fn stderr_tail(&self) -> String {
        let t = self.stderr_tail.lock().unwrap_or_else(|e| e.into_inner());
        t.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Sends `signal` to the whole process group.
    pub fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid
            && let Err(e) = killpg(pgid, signal)
            && e != nix::errno::Errno::ESRCH
        {
            tracing::warn!("signalling CLI process group {pgid}: {e}");
        }
    }

    /// Waits for the process to exit by itself, up to `grace`.
    pub async fn wait_for(&mut self, grace: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(grace, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Ends the process: stdin closed, SIGTERM to the group, SIGKILL after `grace`. Also reaps anything left
    /// in the group once the leader is gone.
    pub async fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.close_stdin();
        if let Ok(Some(status)) = self.child.try_wait() {
            self.signal(Signal::SIGKILL);
            self.pgid = None;
            return Some(status);
        }
        self.signal(Signal::SIGTERM);
        let status = match self.wait_for(grace).await {
            Some(s) => Some(s),
            None => {
                self.signal(Signal::SIGKILL);
                self.child.wait().await.ok()
            }
        };
        // Group members outliving the leader (a wrapper's child, a tool's subprocess) go too. The group id
        // cannot be reused while any member lives; after this it is forgotten.
        self.signal(Signal::SIGKILL);
        self.pgid = None;
        status
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Not terminated (a panic or an early return): the leader is unreaped, so the group id is still ours.
        self.signal(Signal::SIGKILL);
    }
}

/// A short description of an exit status: `exit code 1`, `killed by signal 15`.
pub fn describe(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            _ => "unknown exit".into(),
        },
        None => "exit status unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::log::SessionLog;

    /// Runs `script` under `sh` and collects its stdout lines through `read_line` until output ends.
    async fn read_all(tag: &str, script: &str) -> (Vec<String>, Vec<EventBody>, String) {
        let dir = std::env::temp_dir().join(format!("vb-proc-{tag}-{}", std::process::id()));
        let raw_path = dir.join("0001-test.jsonl");
        let mut proc = Proc::spawn(Spawn {
            program: Path::new("/bin/sh"),
            args: vec!["-c".into(), script.into()],
            cwd: &std::env::temp_dir(),
            env: &BTreeMap::new(),
            stdin: false,
            raw_path: raw_path.clone(),
            run_as: None,
        })
        .unwrap();
        let log = SessionLog::scratch();
        let mut lines = Vec::new();
        loop {
            match proc.read_line(&log).await {
                Read::Line(line) => lines.push(line),
                Read::Skipped => {}
                Read::Ended => break,
            }
        }
        proc.terminate(Duration::from_secs(1)).await;
        let events = log.events_after(0, 100).unwrap();
        let raw = String::from_utf8_lossy(&std::fs::read(&raw_path).unwrap()).into_owned();
        let _ = std::fs::remove_dir_all(&dir);
        (lines, events.into_iter().map(|e| e.body).collect(), raw)
    }

    /// Proves a line of invalid UTF-8 becomes an error event and the lines after it are still read.
    #[tokio::test]
    async fn invalid_utf8_line_does_not_end_reading() {
        let (lines, events, raw) =
            read_all("utf8", r#"printf '{"a":1}\n\377\376\n{"b":2}\n'"#).await;
        assert_eq!(lines.first().map(String::as_str), Some(r#"{"a":1}"#));
        assert_eq!(lines.last().map(String::as_str), Some(r#"{"b":2}"#));
        assert!(
            events
                .iter()
                .any(|e| matches!(e, EventBody::Error { message } if message.contains("UTF-8"))),
            "{events:?}"
        );
        assert!(
            raw.contains('\u{fffd}') && raw.contains(r#"{"b":2}"#),
            "{raw}"
        );
        assert_eq!(lines.len(), 3, "the lossy line is passed on: {lines:?}");
    }
}

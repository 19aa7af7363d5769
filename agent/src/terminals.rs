//! Web terminals on the node: a shell on its own PTY per terminal id, a bounded scrollback so a reattaching
//! browser sees recent output, one attached stream at a time, and a grace period after the last stream
//! detaches before the shell is ended (a reload reattaches; a closed tab ends it).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;
use vibebridge_tunnel::reply::ErrorCode;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use pty_process::{OwnedWritePty, Size};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vibebridge_tunnel::frame::write_frame;
use vibebridge_tunnel::mux::TunnelStream;
use vibebridge_tunnel::terminal::{OpenTerminal, TermFrame, TerminalAttached, TerminalReply};

use crate::config::NodeConfig;

/// Output chunks queued for a slow stream before the PTY reader waits for it.
const OUT_QUEUE: usize = 256;
/// How long a hung-up shell gets before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

enum Out {
    Data(Vec<u8>),
    Exit(i32),
}

struct State {
    scrollback: VecDeque<u8>,
    /// The attached stream's output queue; `None` while detached.
    out: Option<mpsc::Sender<Out>>,
    /// Counts attachments, so a late detach or grace timer cannot undo a newer attachment.
    attachments: u64,
}

struct Term {
    owner: String,
    shell: String,
    pgid: Option<Pid>,
    writer: tokio::sync::Mutex<OwnedWritePty>,
    state: Mutex<State>,
    /// Cancelled once the shell has exited and its last output was delivered.
    ended: CancellationToken,
}

impl Term {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hangs the shell's session up, then kills it if it lingers.
    fn kill(self: &Arc<Self>) {
        let Some(pgid) = self.pgid else { return };
        let _ = killpg(pgid, Signal::SIGHUP);
        let term = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = term.ended.cancelled() => {}
                () = tokio::time::sleep(KILL_GRACE) => { let _ = killpg(pgid, Signal::SIGKILL); }
            }
        });
    }
}

struct Inner {
    config: Arc<NodeConfig>,
    map: Mutex<HashMap<String, Arc<Term>>>,
}

/// The node's terminals. Cheap to clone.
#[derive(Clone)]
pub struct Terminals {
    inner: Arc<Inner>,
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl Terminals {
    /// No terminals yet.
    pub fn new(config: Arc<NodeConfig>) -> Terminals {
        Terminals {
            inner: Arc::new(Inner {
                config,
                map: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Term>>> {
        self.inner.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends every shell (the agent is stopping).
    pub fn shutdown(&self) {
        let all: Vec<Arc<Term>> = self.map().drain().map(|(_, t)| t).collect();
        for t in all {
            t.kill();
        }
    }

    /// Number of live terminals.
    pub fn count(&self) -> usize {
        self.map().len()
    }

    /// Serves one `terminal` stream: attach (or start), reply, then relay until the stream or the shell ends.
    pub async fn serve(&self, mut stream: TunnelStream, open: OpenTerminal, max_frame: usize) {
        let term = match self.attach_or_start(&open) {
            Ok((term, created)) => {
                let reply = TerminalReply::Ok(TerminalAttached {
                    created,
                    shell: term.shell.clone(),
                });
                if write_frame(&mut stream, &reply, max_frame).await.is_err() {
                    return;
                }
                term
            }
            Err((code, message)) => {
                tracing::info!(terminal = %open.terminal_id, "terminal refused: {message}");
                let _ = write_frame(
                    &mut stream,
                    &TerminalReply::Err { code, message },
                    max_frame,
                )
                .await;
                let _ = stream.shutdown().await;
                return;
            }
        };
        let _ = term
            .writer
            .lock()
            .await
            .resize(Size::new(open.rows, open.cols));
        let (tx, mut rx) = mpsc::channel(OUT_QUEUE);
        let (generation, backlog) = {
            let mut st = term.state();
            st.attachments += 1;
            st.out = Some(tx);
            (
                st.attachments,
                st.scrollback.iter().copied().collect::<Vec<u8>>(),
            )
        };
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut ok = true;
        for chunk in backlog.chunks(64 * 1024) {
            ok = ok && TermFrame::Data(chunk.to_vec()).write(&mut wr).await.is_ok();
        }
        // Input runs in its own task: a frame read must never be cut in half by output arriving.
        let input_term = term.clone();
        let mut input = tokio::spawn(
            async move {
                loop {
                    match TermFrame::read(&mut rd).await {
                        Ok(Some(TermFrame::Data(bytes))) => {
                            let mut w = input_term.writer.lock().await;
                            if w.write_all(&bytes).await.is_err() || w.flush().await.is_err() {
                                return false;
                            }
                        }
                        Ok(Some(TermFrame::Resize { cols, rows })) => {
                            if (1..=1000).contains(&cols) && (1..=1000).contains(&rows) {
                                let _ =
                                    input_term.writer.lock().await.resize(Size::new(rows, cols));
                            }
                        }
                        Ok(Some(TermFrame::Close)) => return true,
                        Ok(Some(TermFrame::Exit(_))) => {}
                        Ok(None) => return false,
                        Err(e) => {
                            tracing::debug!("terminal stream: {e}");
                            return false;
                        }
                    }
                }
            }
            .instrument(tracing::Span::current()),
        );
        let mut closed_by_user = false;
        while ok {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(Out::Data(bytes)) => ok = TermFrame::Data(bytes).write(&mut wr).await.is_ok(),
                    Some(Out::Exit(code)) => {
                        let _ = TermFrame::Exit(code).write(&mut wr).await;
                        break;
                    }
                    // Another stream took the terminal over.
                    None => break,
                },
                done = &mut input => {
                    closed_by_user = matches!(done, Ok(true));
                    break;
                }
            }
        }
        input.abort();
        let _ = wr.shutdown().await;
        if closed_by_user {
            self.map().remove(&open.terminal_id);
            term.kill();
            return;
        }
        self.detach(&open.terminal_id, &term, generation);
    }

    /// The stream went away: keep the shell for the grace period in case the browser comes back.
    fn detach(&self, id: &str, term: &Arc<Term>, generation: u64) {
        {
            let mut st = term.state();
            if st.attachments != generation {
                return;
            }
            st.out = None;
        }
        let grace = self.inner.config.terminal.grace_period;
        let (this, term, id) = (self.clone(), term.clone(), id.to_string());
        tokio::spawn(async move {
            tokio::select! {
                () = term.ended.cancelled() => return,
                () = tokio::time::sleep(grace) => {}
            }
            let abandoned = {
                let st = term.state();
                st.attachments == generation && st.out.is_none()
            };
            if abandoned {
                tracing::info!(terminal = %id, "no browser came back within {grace:?}; ending the shell");
                let mut map = this.map();
                if map.get(&id).is_some_and(|t| Arc::ptr_eq(t, &term)) {
                    map.remove(&id);
                }
                drop(map);
                term.kill();
            }
        });
    }

    fn attach_or_start(
        &self,
        open: &OpenTerminal,
    ) -> Result<(Arc<Term>, bool), (ErrorCode, String)> {
        if !valid_id(&open.terminal_id) {
            return Err((
                ErrorCode::BadRequest,
                "terminal_id must be 1-64 characters of A-Z, a-z, 0-9 or '-'".into(),
            ));
        }
        if !(1..=1000).contains(&open.cols) || !(1..=1000).contains(&open.rows) {
            return Err((
                ErrorCode::BadRequest,
                "cols and rows must be between 1 and 1000".into(),
            ));
        }
        let mut map = self.map();
        if let Some(t) = map.get(&open.terminal_id) {
            if t.owner != open.owner {
                return Err((
                    ErrorCode::Forbidden,
                    "this terminal belongs to another user".into(),
                ));
            }
            return Ok((t.clone(), false));
        }
        let max = self.inner.config.terminal.max_terminals;
        if map.len() >= max {
            return Err((
                ErrorCode::TooManyTerminals,
                format!(
                    "this node already runs {max} terminals (terminal.max_terminals); close one first"
                ),
            ));
        }
        let term = self.start(open).map_err(|e| {
            (
                ErrorCode::Internal,
                format!("could not start the shell: {e:#}"),
            )
        })?;
        map.insert(open.terminal_id.clone(), term.clone());
        Ok((term, true))
    }

    fn shell(&self) -> PathBuf {
        if let Some(s) = &self.inner.config.terminal.default_shell {
            return s.clone();
        }
        // Under execution.run_as, that user's login shell, unless it is one that refuses logins.
        if let Some(user) = &self.inner.config.execution.user {
            let refuses = ["nologin", "false"]
                .iter()
                .any(|n| user.shell.file_name().is_some_and(|f| f == *n));
            if !refuses && !user.shell.as_os_str().is_empty() {
                return user.shell.clone();
            }
        }
        if let Some(s) = std::env::var_os("SHELL").filter(|s| !s.is_empty()) {
            return PathBuf::from(s);
        }
        ["/bin/bash", "/bin/sh"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("/bin/sh"))
    }

    fn start(&self, open: &OpenTerminal) -> anyhow::Result<Arc<Term>> {
        let shell = self.shell();
        let cwd = self
            .inner
            .config
            .filesystem
            .roots
            .iter()
            .find_map(|r| std::fs::canonicalize(r).ok())
            .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/"));
        let (pty, pts) = pty_process::open()?;
        pty.resize(Size::new(open.rows, open.cols))?;
        let command = match &self.inner.config.execution.user {
            Some(user) => {
                let (setpriv, prefix) = user.command(&shell);
                pty_process::Command::new(setpriv)
                    .args(prefix)
                    .envs(user.env())
            }
            None => pty_process::Command::new(&shell),
        };
        let mut child = command
            .current_dir(&cwd)
            .env("TERM", "xterm-256color")
            .env("COLORTERM", "truecolor")
            .env_remove(crate::REGISTER_TOKEN_ENV)
            .kill_on_drop(true)
            .spawn(pts)?;
        // The shell is a session leader: its pid is its process group.
        let pgid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .map(Pid::from_raw);
        let (mut reader, writer) = pty.into_split();
        let term = Arc::new(Term {
            owner: open.owner.clone(),
            shell: shell.display().to_string(),
            pgid,
            writer: tokio::sync::Mutex::new(writer),
            state: Mutex::new(State {
                scrollback: VecDeque::new(),
                out: None,
                attachments: 0,
            }),
            ended: CancellationToken::new(),
        });
        tracing::info!(terminal = %open.terminal_id, shell = %term.shell, cwd = %cwd.display(), "terminal started");
        let cap = self.inner.config.terminal.scrollback_bytes;
        let (this, t, id) = (self.clone(), term.clone(), open.terminal_id.clone());
        let span = tracing::info_span!("terminal", terminal = %id);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            let code = loop {
                tokio::select! {
                    r = reader.read(&mut buf) => match r {
                        Ok(n) if n > 0 => output(&t, &buf[..n], cap).await,
                        // EOF or EIO: every process let go of the terminal.
                        _ => break exit_code(child.wait().await),
                    },
                    status = child.wait() => {
                        // The shell ended; deliver what it wrote last (background jobs may hold the PTY, so
                        // only briefly).
                        while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(100), reader.read(&mut buf)).await {
                            if n == 0 {
                                break;
                            }
                            output(&t, &buf[..n], cap).await;
                        }
                        break exit_code(status);
                    }
                }
            };
            tracing::info!(terminal = %id, code, "terminal ended");
            {
                let mut map = this.map();
                if map.get(&id).is_some_and(|x| Arc::ptr_eq(x, &t)) {
                    map.remove(&id);
                }
            }
            let out = t.state().out.take();
            if let Some(out) = out {
                let _ = out.send(Out::Exit(code)).await;
            }
            t.ended.cancel();
        }.instrument(span));
        Ok(term)
    }
}

/// Keeps the newest `cap` bytes for reattaching and forwards the chunk to the attached stream.
async fn output(term: &Term, bytes: &[u8], cap: usize) {
    let out = {
        let mut st = term.state();
        st.scrollback.extend(bytes);
        let excess = st.scrollback.len().saturating_sub(cap);
        st.scrollback.drain(..excess);
        st.out.clone()
    };
    if let Some(out) = out {
        let _ = out.send(Out::Data(bytes.to_vec())).await;
    }
}

fn exit_code(status: std::io::Result<std::process::ExitStatus>) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => s
            .code()
            .or_else(|| s.signal().map(|n| 128 + n))
            .unwrap_or(-1),
        Err(_) => -1,
    }
}

//! Agent sessions on this node: starting the provider CLIs, driving their turns, storing their events, and
//! serving the three session stream kinds main opens (`session_start`, `session_command`,
//! `session_attach`).
//!
//! A session outlives main and the tunnel: its CLI keeps running and its events keep being stored here; main
//! re-attaches from the last seq it has. It does not outlive the agent: on start, sessions that were live
//! are marked `interrupted`, and the next message resumes them through the CLI's own resume.

pub mod attach;
pub mod bound;
pub mod claude;
pub mod codex;
mod dev_server;
pub mod diff;
pub mod driver;
pub mod lines;
pub mod log;
pub mod process;
pub mod run_hooks;
mod run_start;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tracing::Instrument;
use vibebridge_tunnel::ids::SessionId;
use vibebridge_tunnel::reply::ErrorCode;

use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;
use vibebridge_tunnel::mux::TunnelStream;
use vibebridge_tunnel::session::{
    AttachFrame, EventBody, LiveSessions, Provider, SessionCommand, SessionHead, SessionOk,
    SessionReply, SessionStatus, StartSession,
};

use crate::config::{NodeConfig, ProviderConfig};
use driver::{DriverCmd, Exit, Launch};
use log::SessionLog;
use run_hooks::RunHooks;
use store::{AgentStore, SessionMeta};

struct Live {
    provider: Provider,
    cmds: mpsc::Sender<DriverCmd>,
}

struct Inner {
    store: AgentStore,
    config: Arc<NodeConfig>,
    logs: Mutex<HashMap<Uuid, Arc<SessionLog>>>,
    live: Mutex<HashMap<Uuid, Live>>,
    shutdown: CancellationToken,
    drivers: TaskTracker,
    dev: dev_server::DevServers,
    /// Sessions being started (a run's work tree being prepared, the record not stored yet), and a wake for
    /// whoever waits on one of them (see [`Sessions::start`]).
    starting: Mutex<HashSet<Uuid>>,
    start_ended: tokio::sync::Notify,
}

/// Marks a session as being started while it lives.
struct Starting {
    inner: Arc<Inner>,
    id: Uuid,
}

impl Drop for Starting {
    fn drop(&mut self) {
        lock(&self.inner.starting).remove(&self.id);
        self.inner.start_ended.notify_waiters();
    }
}

/// The node's sessions. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sessions {
    /// Opens the session store under `database.path` and marks sessions that were live when the agent last
    /// stopped as interrupted (their CLI died with it).
    pub fn open(config: Arc<NodeConfig>, shutdown: CancellationToken) -> anyhow::Result<Sessions> {
        let store = AgentStore::open(&config.database.path)?;
        tokio::spawn(store.clone().keep_synced(shutdown.clone()));
        let sessions = Sessions {
            inner: Arc::new(Inner {
                store,
                config,
                logs: Mutex::new(HashMap::new()),
                live: Mutex::new(HashMap::new()),
                shutdown,
                drivers: TaskTracker::new(),
                dev: dev_server::DevServers::default(),
                starting: Mutex::new(HashSet::new()),
                start_ended: tokio::sync::Notify::new(),
            }),
        };
        // Sessions whose accepted follow-ups waited behind the turn the restart cut short: they are sent
        // now, in order, so an acknowledged message is never lost.
        let mut resume = Vec::new();
        for meta in sessions.inner.store.all_meta()? {
            if meta.status.is_live() {
                let log = sessions
                    .log_for(meta.id)?
                    .ok_or_else(|| anyhow::anyhow!("session {} vanished while loading", meta.id))?;
                log.cancel_pending("the agent restarted; the CLI that asked is gone");
                if let Some(hooks) = RunHooks::new(
                    log.clone(),
                    sessions.root_dir().join(meta.id.to_string()),
                    sessions.inner.config.runs.script_timeout,
                    None,
                ) {
                    hooks.kill_stale("the agent restarted while it ran");
                }
                if meta.queued.is_empty() {
                    log.status(
                        SessionStatus::Interrupted,
                        Some(
                            "the agent restarted while this session ran; send a message to resume it"
                                .into(),
                        ),
                    );
                } else {
                    log.status(
                        SessionStatus::Interrupted,
                        Some(format!(
                            "the agent restarted while this session ran; the {} follow-up{} queued behind \
                             its turn {} sent now",
                            meta.queued.len(),
                            if meta.queued.len() == 1 { "" } else { "s" },
                            if meta.queued.len() == 1 { "is" } else { "are" },
                        )),
                    );
                    resume.push((meta.id, meta.queued.clone()));
                }
                tracing::info!(session = %meta.id, "marked interrupted after agent restart");
            } else {
                sessions.end_stale_dev_server(&meta)?;
            }
        }
        if !resume.is_empty() {
            let this = sessions.clone();
            tokio::spawn(async move {
                for (id, queued) in resume {
                    this.resume_queued(id, queued).await;
                }
            });
        }
        Ok(sessions)
    }

    /// Ends every running CLI and flushes the store.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.drivers.close();
        self.inner.drivers.wait().await;
        self.inner.store.flush();
    }

    fn root_dir(&self) -> PathBuf {
        self.inner.config.database.path.join("sessions")
    }

    fn log_for(&self, id: Uuid) -> anyhow::Result<Option<Arc<SessionLog>>> {
        let mut logs = lock(&self.inner.logs);
        if let Some(log) = logs.get(&id) {
            return Ok(Some(log.clone()));
        }
        let Some(meta) = self.inner.store.meta(&id)? else {
            return Ok(None);
        };
        let log = Arc::new(SessionLog::load(
            self.inner.store.clone(),
            meta,
            self.inner.config.tunnel.max_frame_bytes,
        )?);
        logs.insert(id, log.clone());
        Ok(Some(log))
    }

    fn provider_config(&self, provider: Provider) -> &ProviderConfig {
        match provider {
            Provider::Claude => &self.inner.config.providers.claude,
            Provider::Codex => &self.inner.config.providers.codex,
        }
    }

    /// Starts session `req` ([`Sessions::start_here`]) on a task of the sessions' own, so it runs to its end
    /// even when main's stream, or the whole link, goes away meanwhile (preparing a run's work tree takes a
    /// while). An attach that comes in the meantime waits for it (see [`Sessions::attach`]): main, which
    /// did not hear the answer, finds the session when it attaches again, rather than "no such session".
    pub async fn start(&self, req: StartSession) -> SessionReply {
        let Ok(id) = Uuid::parse_str(&req.session_id) else {
            return SessionReply::err(ErrorCode::BadRequest, "session_id must be a UUID");
        };
        if !lock(&self.inner.starting).insert(id) {
            return SessionReply::err(
                ErrorCode::BadRequest,
                format!("session {id} is already being started"),
            );
        }
        let starting = Starting {
            inner: self.inner.clone(),
            id,
        };
        let this = self.clone();
        let task = self.inner.drivers.spawn(async move {
            let _starting = starting;
            this.start_here(id, req).await
        });
        task.await.unwrap_or_else(|e| {
            SessionReply::err(ErrorCode::Internal, format!("starting the session: {e}"))
        })
    }

    /// Returns once session `id` is not being started.
    async fn wait_started(&self, id: Uuid) {
        loop {
            let ended = self.inner.start_ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if !lock(&self.inner.starting).contains(&id) {
                return;
            }
            ended.await;
        }
    }

    /// Starts session `req`: checks it, prepares its run's work tree, stores it, spawns its CLI and answers
    /// once its first message is stored.
    async fn start_here(&self, id: Uuid, req: StartSession) -> SessionReply {
        if req.prompt.trim().is_empty() {
            return SessionReply::err(ErrorCode::BadRequest, "the first prompt is empty");
        }
        let cwd = match self.resolve(&req.path) {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        match self.inner.store.meta(&id) {
            Ok(Some(_)) => {
                return SessionReply::err(
                    ErrorCode::BadRequest,
                    format!("session {id} already exists"),
                );
            }
            Ok(None) => {}
            Err(e) => return SessionReply::err(ErrorCode::Internal, format!("{e:#}")),
        }
        if let Err(reply) = self.check_provider(req.provider) {
            return reply;
        }
        // A run works in the work tree it prepares (the project's working copy is only its source).
        let (cwd, run) = match req.run {
            None => (cwd, None),
            Some(spec) => match self.prepare_run(*spec, &cwd).await {
                Ok(run) => (PathBuf::from(&run.prepared.path), Some(Box::new(run))),
                Err(reply) => return reply,
            },
        };
        let prepared = run.as_ref().map(|r| r.prepared.clone());
        let meta = SessionMeta {
            id,
            provider: req.provider,
            path: cwd.display().to_string(),
            model: req.model,
            permission_mode: req.permission_mode,
            provider_session_id: None,
            status: SessionStatus::Starting,
            last_seq: 0,
            executions: 0,
            queued: Vec::new(),
            run,
        };
        // Synced with the first message (see `recorded`) before main hears "started": a node that crashed
        // and forgot the session would answer main's attach with "no such session".
        if let Err(e) = self.inner.store.put_meta(&meta) {
            return SessionReply::err(ErrorCode::Internal, format!("storing the session: {e:#}"));
        }
        let log = match self.log_for(id) {
            Ok(Some(log)) => log,
            Ok(None) => return SessionReply::err(ErrorCode::Internal, "session vanished"),
            Err(e) => return SessionReply::err(ErrorCode::Internal, format!("{e:#}")),
        };
        if let Some(p) = &prepared {
            log.append(EventBody::RunPrepared(p.clone()));
        }
        let spawned = {
            let mut live = lock(&self.inner.live);
            self.spawn_driver(&mut live, log.clone(), req.prompt)
        };
        match spawned {
            Ok(()) => match recorded(&log).await {
                SessionReply::Ok(mut ok) => {
                    ok.run = prepared.map(Box::new);
                    SessionReply::Ok(ok)
                }
                refused => refused,
            },
            Err(reply) => reply,
        }
    }

    /// The CLI binary for `provider`, or why it cannot run here.
    fn check_provider(&self, provider: Provider) -> Result<PathBuf, SessionReply> {
        let cfg = self.provider_config(provider);
        if !cfg.enabled {
            return Err(SessionReply::err(
                ErrorCode::ProviderUnavailable,
                format!(
                    "{provider} is disabled on this node (providers.{provider}.enabled = false)"
                ),
            ));
        }
        crate::providers::resolve(provider.name(), cfg).ok_or_else(|| {
            let how = match &cfg.command {
                Some(c) => format!("providers.{provider}.command {} is not an executable", c.display()),
                None => format!("`{provider}` is not on the agent's PATH; install it or set providers.{provider}.command"),
            };
            SessionReply::err(
                ErrorCode::ProviderUnavailable,
                format!("{provider} is not installed on this node: {how}"),
            )
        })
    }

    /// Starts a driver for `log`'s session with `first` as its opening message. Called with the live map
    /// locked, so two messages cannot start two CLIs for one session.
    /// Sends the follow-ups an agent restart found queued: the first resumes the session, the rest wait
    /// behind it as they did. Refused (the provider's limit, the CLI gone), they are reported with their
    /// text, as a stop reports them.
    async fn resume_queued(&self, id: Uuid, mut queued: Vec<String>) {
        let Ok(Some(log)) = self.log_for(id) else {
            return;
        };
        if queued.is_empty() {
            return;
        }
        let spawned = {
            let mut live = lock(&self.inner.live);
            if live.contains_key(&id) {
                None // a message resumed it already: these queue behind it
            } else {
                let first = queued.remove(0);
                Some(self.spawn_driver_with(
                    &mut live,
                    log.clone(),
                    first,
                    std::mem::take(&mut queued),
                ))
            }
        };
        let Some(spawned) = spawned else {
            for text in queued {
                let reply = self
                    .command(
                        &id.to_string(),
                        vibebridge_tunnel::session::SessionCommand::Message { text: text.clone() },
                    )
                    .await;
                if let SessionReply::Err { message, .. } = reply {
                    log.append(EventBody::Error {
                        message: format!(
                            "a follow-up queued before the agent restarted was not sent ({message}); send \
                             it again if it is still wanted:\n\n{text}"
                        ),
                    });
                }
            }
            return;
        };
        match spawned {
            Ok(()) => {
                if let Err(e) = log.sync_message().await {
                    tracing::error!(session = %id, "storing the resumed follow-up: {e}");
                }
            }
            Err(reply) => {
                let why = match reply {
                    SessionReply::Err { message, .. } => message,
                    SessionReply::Ok(_) => "it could not be resumed".into(),
                };
                log.drop_queued(&format!("the agent restarted, and resuming failed: {why}"));
            }
        }
    }

    fn spawn_driver(
        &self,
        live: &mut HashMap<Uuid, Live>,
        log: Arc<SessionLog>,
        first: String,
    ) -> Result<(), SessionReply> {
        self.spawn_driver_with(live, log, first, Vec::new())
    }

    /// Starts the session's CLI with `first`, and `queued` waiting behind it.
    fn spawn_driver_with(
        &self,
        live: &mut HashMap<Uuid, Live>,
        log: Arc<SessionLog>,
        first: String,
        queued: Vec<String>,
    ) -> Result<(), SessionReply> {
        let meta = log.meta();
        let program = self.check_provider(meta.provider)?;
        let cfg = self.provider_config(meta.provider).clone();
        let running = live
            .values()
            .filter(|l| l.provider == meta.provider)
            .count();
        if running >= cfg.max_concurrent {
            return Err(SessionReply::err(
                ErrorCode::TooManySessions,
                format!(
                    "this node already runs {running} {} sessions (providers.{}.max_concurrent = {}); stop one or wait for one to go idle",
                    meta.provider, meta.provider, cfg.max_concurrent
                ),
            ));
        }
        let (tx, rx) = mpsc::channel(64);
        let weak = tx.downgrade();
        live.insert(
            meta.id,
            Live {
                provider: meta.provider,
                cmds: tx,
            },
        );
        log.set_alive(true);
        log.status(SessionStatus::Starting, None);
        // Recorded here, not when the CLI is up, so the caller can have it on disk before it answers.
        log.append(EventBody::UserMessage {
            text: first.clone(),
        });
        if log.meta().queued != queued
            && let Err(e) = log.update_meta(|m| m.queued = queued.clone())
        {
            tracing::error!(session = %meta.id, "storing the follow-ups behind the resumed turn: {e:#}");
        }
        let raw_dir = self.root_dir().join(meta.id.to_string());
        let hooks = RunHooks::new(
            log.clone(),
            raw_dir.clone(),
            self.inner.config.runs.script_timeout,
            self.inner.config.execution.user.clone(),
        );
        let mut cfg = cfg;
        if let Some(h) = &hooks {
            cfg.env.extend(h.env().iter().cloned());
        }
        let launch = Launch {
            log: log.clone(),
            cfg,
            hooks,
            program,
            cwd: PathBuf::from(&meta.path),
            raw_dir,
            model: meta.model.clone(),
            permission_mode: meta.permission_mode.clone(),
            resume: meta.provider_session_id.clone(),
            run_as: self.inner.config.execution.user.clone(),
            queued,
        };
        let this = self.clone();
        let shutdown = self.inner.shutdown.clone();
        self.inner.drivers.spawn(async move {
            tokio::select! {
                exit = run_provider(meta.provider, launch, first, rx, weak) => this.driver_ended(&log, exit),
                // Dropping the driver kills its CLI; the next agent start marks the session interrupted.
                () = shutdown.cancelled() => {}
            }
        }.instrument(tracing::info_span!("session", session = %meta.id, provider = %meta.provider)));
        Ok(())
    }

    fn driver_ended(&self, log: &SessionLog, exit: Exit) {
        {
            let mut live = lock(&self.inner.live);
            log.cancel_pending("the CLI ended before the approval was answered");
            log.status(exit.status, exit.message);
            live.remove(&log.id());
        }
        log.set_alive(false);
    }

    /// Applies a follow-up, stop, decision, or a start or stop of the run's dev server.
    pub async fn command(&self, session_id: &str, command: SessionCommand) -> SessionReply {
        let Ok(id) = Uuid::parse_str(session_id) else {
            return SessionReply::err(ErrorCode::BadRequest, "session_id must be a UUID");
        };
        let log = match self.log_for(id) {
            Ok(Some(log)) => log,
            Ok(None) => {
                return SessionReply::err(
                    ErrorCode::NotFound,
                    format!("no session {id} on this node"),
                );
            }
            Err(e) => return SessionReply::err(ErrorCode::Internal, format!("{e:#}")),
        };
        if matches!(command, SessionCommand::Stop) {
            self.inner.dev.stop(id, "the session was stopped").await;
        }
        let mut alive = log.alive();
        loop {
            let (reply_tx, reply_rx) = oneshot::channel();
            let cmd = match &command {
                SessionCommand::Message { text } => {
                    if text.trim().is_empty() {
                        return SessionReply::err(ErrorCode::BadRequest, "the message is empty");
                    }
                    DriverCmd::Message {
                        text: text.clone(),
                        reply: reply_tx,
                    }
                }
                SessionCommand::Stop => DriverCmd::Stop { reply: reply_tx },
                SessionCommand::Decide {
                    approval_id,
                    decision,
                    message,
                } => DriverCmd::Decide {
                    approval_id: approval_id.clone(),
                    decision: *decision,
                    message: message.clone(),
                    reply: Some(reply_tx),
                },
                SessionCommand::DevServer { start } => return self.dev_server(&log, *start).await,
            };
            let found = {
                let mut live = lock(&self.inner.live);
                match live.get(&id) {
                    Some(l) if !l.cmds.is_closed() => Found::Driver(l.cmds.clone()),
                    // Its driver is ending; wait for it below, then act on the ended session.
                    Some(_) => Found::Ending,
                    None => Found::Idle(match &command {
                        SessionCommand::Message { text } => self
                            .spawn_driver(&mut live, log.clone(), text.clone())
                            .err(),
                        SessionCommand::Stop | SessionCommand::DevServer { .. } => {
                            Some(SessionReply::Ok(SessionOk::TAKEN))
                        }
                        SessionCommand::Decide { approval_id, .. } => Some(SessionReply::err(
                            ErrorCode::NotFound,
                            format!(
                                "no pending approval {approval_id}: the session's CLI is not running"
                            ),
                        )),
                    }),
                }
            };
            let sender = match found {
                Found::Driver(sender) => Some(sender),
                Found::Ending => None,
                Found::Idle(Some(reply)) => return reply,
                // A CLI started for the message, which is in the log.
                Found::Idle(None) => return recorded(&log).await,
            };
            if let Some(sender) = sender
                && sender.send(cmd).await.is_ok()
                && let Ok(reply) = reply_rx.await
            {
                return reply;
            }
            // The driver ended between lookup and send: wait until it is gone, then retry.
            let _ = alive.wait_for(|a| !a).await;
        }
    }

    /// Sessions whose CLI or dev server runs (or is starting) here, for main to stop those it has no record
    /// of and follow the others; and the last stored seq of every session, for main to fetch what it lost.
    pub fn live_ids(&self) -> LiveSessions {
        let mut session_ids: Vec<SessionId> = lock(&self.inner.live)
            .keys()
            .copied()
            .chain(self.inner.dev.ids())
            .map(SessionId::from)
            .collect();
        session_ids.sort();
        session_ids.dedup();
        let store = &self.inner.store;
        let heads = store
            .all_meta()
            .and_then(|all| {
                all.iter()
                    .map(|meta| {
                        Ok(SessionHead {
                            session_id: meta.id.into(),
                            last_seq: store.last_event_seq(&meta.id)?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_else(|e| {
                tracing::error!("listing sessions for main: {e:#}");
                Vec::new()
            });
        LiveSessions { session_ids, heads }
    }

    /// Serves an attach stream: stored events after `after_seq`, then live ones, then `End` once the CLI
    /// has ended and everything was sent. Returns when main closes the stream.
    pub async fn attach(&self, stream: TunnelStream, session_id: &str, after_seq: u64) {
        let max = self.inner.config.tunnel.max_frame_bytes;
        let (mut rd, mut wr) = tokio::io::split(stream);
        let id = Uuid::parse_str(session_id).ok();
        // A session still being started has no record yet: its start decides whether it exists.
        if let Some(id) = id {
            self.wait_started(id).await;
        }
        let log = match id.map(|id| self.log_for(id)) {
            Some(Ok(Some(log))) => log,
            _ => {
                tracing::warn!(session = session_id, "attach for an unknown session");
                let _ = vibebridge_tunnel::frame::write_frame(&mut wr, &AttachFrame::NotFound, max)
                    .await;
                return;
            }
        };
        // Main has events up to `after_seq`: a store that ends before it continues after it.
        if let Err(e) = log.catch_up_to(after_seq) {
            tracing::error!(
                session = session_id,
                "continuing after main's seq {after_seq}: {e:#}"
            );
            return;
        }
        // Main never writes after the header; a read returning means it closed the stream.
        let closed = async move {
            let mut b = [0u8; 1];
            let _ = rd.read(&mut b).await;
        };
        let send = attach::stream(&log, &mut wr, after_seq, max);
        tokio::select! {
            () = closed => {}
            result = send => if let Err(e) = result {
                tracing::debug!(session = session_id, "attach stream ended: {e}");
            },
        }
    }
}

/// Where a command for a session goes.
enum Found {
    /// The session's running driver.
    Driver(mpsc::Sender<DriverCmd>),
    /// A driver that is ending.
    Ending,
    /// No driver: answered at once (`Some`), or a CLI was started for a message (`None`).
    Idle(Option<SessionReply>),
}

/// The answer to a start or a message that started a CLI: `Ok` once the message, recorded by
/// [`Sessions::spawn_driver`], is on disk, so a crash cannot lose a message main was told was taken.
async fn recorded(log: &SessionLog) -> SessionReply {
    match log.sync_message().await {
        Ok(()) => SessionReply::Ok(SessionOk::TAKEN),
        Err(e) => SessionReply::err(ErrorCode::Internal, e),
    }
}

async fn run_provider(
    provider: Provider,
    launch: Launch,
    first: String,
    cmds: mpsc::Receiver<DriverCmd>,
    weak: mpsc::WeakSender<DriverCmd>,
) -> Exit {
    let failed = |message: String| Exit {
        status: SessionStatus::Failed,
        message: Some(message),
    };
    match provider {
        Provider::Claude => match claude::Claude::start(&launch) {
            Ok(backend) => driver::run(backend, &launch, first, cmds, weak).await,
            Err(e) => failed(e),
        },
        Provider::Codex => match codex::AppServer::start(&launch).await {
            Ok(backend) => driver::run(backend, &launch, first, cmds, weak).await,
            Err(codex::StartError::Failed(e)) => failed(e),
            Err(codex::StartError::Unavailable(e)) => match codex::Exec::new(&launch) {
                Ok(exec) => {
                    launch.log.append(EventBody::Error {
                        message: format!(
                            "{e}; running `codex exec --json` instead, which cannot ask: requests to \
                             leave the sandbox are declined"
                        ),
                    });
                    driver::run(exec, &launch, first, cmds, weak).await
                }
                Err(refusal) => {
                    launch.log.append(EventBody::Error {
                        message: format!("{e}; {refusal}"),
                    });
                    failed(format!("codex app-server could not start ({e}); {refusal}"))
                }
            },
        },
    }
}

#[cfg(test)]
#[path = "start_tests.rs"]
mod start_tests;

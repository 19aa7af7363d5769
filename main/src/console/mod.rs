//! The admin console over SSH (`ssh -p 2222 admin@main`): admins (role creator or admin) authenticate with a
//! registered key and get an interactive console with a PTY, or run one command without (`ssh -p 2222 main
//! nodes list --json`): plain text or JSON out, exit status 0 on success.

mod cmd_nodes;
mod cmd_runs;
mod cmd_sessions;
mod cmd_users;
mod cmd_work;
pub mod commands;
pub mod format;
pub mod line;
pub mod words;

use std::net::SocketAddr;
use std::sync::Arc;

use russh::ChannelMsg;
use russh::server::Msg;
use russh::{Channel, ChannelReadHalf, ChannelWriteHalf};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;
use tracing::Instrument;

use crate::state::AppState;
use commands::{Admin, Ctx, Follow, Outcome, Reply};
use line::{Action, Decoder, Editor};

type Writer = Arc<ChannelWriteHalf<Msg>>;

/// Writes text, turning `\n` into `\r\n` on a PTY.
async fn write(w: &Writer, pty: bool, text: &str) -> bool {
    if text.is_empty() {
        return true;
    }
    let data = if pty {
        text.replace("\r\n", "\n").replace('\n', "\r\n")
    } else {
        text.to_string()
    };
    w.data_bytes(data.into_bytes()).await.is_ok()
}

/// Output made safe for the admin's terminal, the last step before anything a command produced is written:
/// text keeps its line breaks and loses every other control character, JSON keeps its meaning
/// ([`format::escape_text`], [`format::escape_json`]).
fn printable(out: &str, json: bool) -> String {
    if json {
        format::escape_json(out).into_owned()
    } else {
        format::escape_text(out, true).into_owned()
    }
}

/// Text or JSON, as asked, made printable.
fn render(reply: &Reply, json: bool) -> String {
    if !json {
        return printable(&reply.text, false);
    }
    let mut s = reply.json.to_string();
    s.push('\n');
    printable(&s, true)
}

/// Takes `--json` out of the words; true if it was there.
fn take_json_flag(words: &mut Vec<String>) -> bool {
    let before = words.len();
    words.retain(|w| w != "--json");
    words.len() != before
}

/// Resolves once `admin` may no longer use the console, checked every [`crate::auth::RECHECK_EVERY`]: a
/// follow started before a demotion or key removal does not outlive it.
async fn access_ended(state: &AppState, admin: &Admin) {
    let mut tick = tokio::time::interval(crate::auth::RECHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !admin.still_allowed(state) {
            return;
        }
    }
}

/// How a follow ended.
#[derive(Debug, PartialEq, Eq)]
enum FollowEnd {
    /// Ctrl-C, the client going away, or the followed feed ending.
    Stopped,
    /// Writing to the client failed.
    WriteFailed,
    /// The admin lost the console (told so).
    AccessEnded,
}

/// Streams a follow until `stop` resolves (Ctrl-C, or the client going away) or the admin loses access.
async fn follow(
    state: &AppState,
    admin: &Admin,
    what: Follow,
    json: bool,
    w: &Writer,
    pty: bool,
    stop: impl Future<Output = ()>,
) -> FollowEnd {
    let end = {
        let stop = async {
            tokio::select! {
                () = stop => FollowEnd::Stopped,
                () = access_ended(state, admin) => FollowEnd::AccessEnded,
            }
        };
        follow_feed(state, what, json, w, pty, stop).await
    };
    if end == FollowEnd::AccessEnded {
        let reply = Reply::error(1, commands::ACCESS_ENDED.into());
        write(w, pty, &render(&reply, json)).await;
    }
    end
}

/// Writes the feed until `stop` resolves with how it ended.
async fn follow_feed(
    state: &AppState,
    what: Follow,
    json: bool,
    w: &Writer,
    pty: bool,
    stop: impl Future<Output = FollowEnd>,
) -> FollowEnd {
    tokio::pin!(stop);
    match what {
        Follow::Session { id, after } => {
            let events = state.hub.follow(id, after);
            tokio::pin!(events);
            loop {
                let ev = tokio::select! {
                    end = &mut stop => return end,
                    ev = futures::StreamExt::next(&mut events) => ev,
                };
                let Some(ev) = ev else {
                    return FollowEnd::Stopped;
                };
                let text = match serde_json::from_str(ev.json()) {
                    Ok(parsed) if !json => printable(&format::event_line(&parsed), false),
                    _ => printable(&format!("{}\n", ev.json()), true),
                };
                // A reader that stopped reading must not keep this follow (and its link) forever.
                tokio::select! {
                    end = &mut stop => return end,
                    ok = write(w, pty, &text) => if !ok { return FollowEnd::WriteFailed },
                }
            }
        }
        Follow::Audit => {
            let mut feed = state.store.follow_audit();
            loop {
                let next = tokio::select! {
                    end = &mut stop => return end,
                    next = feed.recv() => next,
                };
                let text = match next {
                    Ok(entry) if json => {
                        let value = serde_json::to_value(&*entry).unwrap_or(Value::Null);
                        printable(&format!("{value}\n"), true)
                    }
                    Ok(entry) => printable(&format::audit_line(&entry), false),
                    // This follower fell behind (its reader is slow); writers never wait for it.
                    Err(RecvError::Lagged(missed)) if json => {
                        format!("{}\n", serde_json::json!({ "skipped": missed }))
                    }
                    Err(RecvError::Lagged(missed)) => format!(
                        "({missed} audit entries skipped: this follow fell behind; `audit tail -n N` lists them)\n"
                    ),
                    Err(RecvError::Closed) => return FollowEnd::Stopped,
                };
                // A reader that stopped reading must not keep this follow (and its link) forever.
                tokio::select! {
                    end = &mut stop => return end,
                    ok = write(w, pty, &text) => if !ok { return FollowEnd::WriteFailed },
                }
            }
        }
    }
}

/// Runs one command (`ssh main -p 2222 CMD…`) and closes the channel with its exit status.
pub async fn exec(
    state: AppState,
    admin: Admin,
    peer: SocketAddr,
    channel: Channel<Msg>,
    command: String,
    pty: bool,
) {
    let (mut rd, w) = channel.split();
    let w: Writer = Arc::new(w);
    let ctx = Ctx {
        state: &state,
        admin: &admin,
        peer,
    };
    let code = match words::split_words(&command) {
        Err(e) => {
            write(&w, pty, &printable(&format!("error: {e}\n"), false)).await;
            2
        }
        Ok(mut words) => {
            let json = take_json_flag(&mut words);
            match ctx.run(&words).await {
                Outcome::Done(reply) => {
                    write(&w, pty, &render(&reply, json)).await;
                    reply.code
                }
                Outcome::Follow { backlog, what } => {
                    write(&w, pty, &render(&backlog, json)).await;
                    // Until the client goes away (Ctrl-C on `ssh` closes the channel).
                    let gone = async {
                        loop {
                            match rd.wait().await {
                                None | Some(ChannelMsg::Eof) | Some(ChannelMsg::Close) => break,
                                Some(ChannelMsg::Data { data }) if pty && data.contains(&0x03) => {
                                    break;
                                }
                                _ => {}
                            }
                        }
                    };
                    match follow(&state, &admin, what, json, &w, pty, gone).await {
                        FollowEnd::AccessEnded => 1,
                        FollowEnd::Stopped | FollowEnd::WriteFailed => 0,
                    }
                }
            }
        }
    };
    let _ = w.exit_status(code).await;
    let _ = w.eof().await;
    let _ = w.close().await;
}

/// The interactive console on a PTY.
pub async fn interactive(state: AppState, admin: Admin, peer: SocketAddr, channel: Channel<Msg>) {
    let span = tracing::info_span!("console", admin = %admin.name, %peer);
    let (rd, w) = channel.split();
    let mut console = Console {
        ctx: Ctx {
            state: &state,
            admin: &admin,
            peer,
        },
        w: Arc::new(w),
        prompt: format!("vibebridge({})> ", format::escape(&admin.name)),
        editor: Editor::default(),
    };
    console.run(rd).instrument(span).await;
}

/// What the input loop does after an action.
enum Next {
    /// Read the next keys.
    Read,
    /// Handle these bytes, typed after the Ctrl-C that ended a follow, before reading more.
    TypedAhead(Vec<u8>),
    /// Close the console.
    Leave,
}

/// One interactive console: who is at it, where it writes, and the line being edited.
struct Console<'a> {
    ctx: Ctx<'a>,
    w: Writer,
    prompt: String,
    editor: Editor,
}

impl Console<'_> {
    async fn say(&self, text: &str) {
        write(&self.w, true, text).await;
    }

    /// Reads keys until the admin leaves or the channel closes.
    async fn run(&mut self, mut rd: ChannelReadHalf) {
        let banner = format!(
            "VibeBridge {} admin console on main {} ({}). Type `help` for commands, Tab to complete, Ctrl-D to \
             leave.\n",
            env!("CARGO_PKG_VERSION"),
            self.ctx.state.standing.main_id,
            self.ctx.state.standing.role().as_str(),
        );
        self.say(&banner).await;
        self.say(&self.prompt.clone()).await;
        let mut decoder = Decoder::default();
        let mut typed_ahead: Option<Vec<u8>> = None;
        'input: loop {
            let data = match typed_ahead.take() {
                Some(data) => data,
                None => match rd.wait().await {
                    Some(ChannelMsg::Data { data }) => data.to_vec(),
                    Some(ChannelMsg::Eof | ChannelMsg::Close) | None => break,
                    _ => continue,
                },
            };
            for key in decoder.feed(&data) {
                let action = self.editor.key(key);
                match self.act(action, &mut rd).await {
                    Next::Read => {}
                    Next::TypedAhead(rest) => typed_ahead = Some(rest),
                    Next::Leave => break 'input,
                }
            }
        }
        let _ = self.w.exit_status(0).await;
        let _ = self.w.eof().await;
        let _ = self.w.close().await;
    }

    /// Carries out one editor action.
    async fn act(&mut self, action: Action, rd: &mut ChannelReadHalf) -> Next {
        match action {
            Action::Redraw => self.say(&self.editor.render(&self.prompt)).await,
            Action::ClearScreen => {
                let screen = format!("\x1b[H\x1b[2J{}", self.editor.render(&self.prompt));
                self.say(&screen).await;
            }
            Action::Full => self.say("\x07").await,
            Action::Interrupt => {
                self.say("^C\n").await;
                self.say(&self.prompt.clone()).await;
            }
            Action::Eof => {
                self.say("\n").await;
                return Next::Leave;
            }
            Action::Complete => self.complete().await,
            Action::Submit(text) => {
                self.say("\n").await;
                let next = self.submit(&text, rd).await;
                if !matches!(next, Next::Leave) {
                    self.say(&self.prompt.clone()).await;
                }
                return next;
            }
        }
        Next::Read
    }

    /// Tab: completes the word before the cursor, or lists the choices.
    async fn complete(&mut self) {
        let before = self.editor.before_cursor();
        let (done, partial) = match before.rsplit_once(' ') {
            Some((head, p)) => (head.to_string(), p.to_string()),
            None => (String::new(), before.clone()),
        };
        let words = words::split_words(&done).unwrap_or_default();
        let options = commands::complete(self.ctx.state, self.ctx.admin, &words, &partial);
        match options.as_slice() {
            [] => return self.say("\x07").await,
            [one] => {
                self.editor
                    .replace_partial(partial.chars().count(), &format!("{one} "));
            }
            many => {
                let prefix = line::common_prefix(many);
                if prefix.len() > partial.len() {
                    self.editor
                        .replace_partial(partial.chars().count(), &prefix);
                } else {
                    self.say(&format!("\n{}\n", many.join("  "))).await;
                }
            }
        }
        self.say(&self.editor.render(&self.prompt)).await;
    }

    /// Enter: runs the line as a command and prints its answer (or follows what it follows).
    async fn submit(&mut self, text: &str, rd: &mut ChannelReadHalf) -> Next {
        let mut words = match words::split_words(text) {
            Ok(words) => words,
            Err(e) => {
                self.say(&printable(&format!("error: {e}\n"), false)).await;
                return Next::Read;
            }
        };
        if matches!(
            words.first().map(String::as_str),
            Some("exit" | "quit" | "logout")
        ) {
            return Next::Leave;
        }
        let json = take_json_flag(&mut words);
        match self.ctx.run(&words).await {
            Outcome::Done(reply) => {
                self.say(&render(&reply, json)).await;
                Next::Read
            }
            Outcome::Follow { backlog, what } => {
                self.say(&render(&backlog, json)).await;
                self.say("(following; Ctrl-C to stop)\n").await;
                self.follow_until_interrupt(what, json, rd).await
            }
        }
    }

    /// Follows `what` while input keeps being read, so Ctrl-C ends the follow (and what was typed after it
    /// is kept); the channel closing ends the console.
    async fn follow_until_interrupt(
        &self,
        what: Follow,
        json: bool,
        rd: &mut ChannelReadHalf,
    ) -> Next {
        let stop = Arc::new(Notify::new());
        let ended = Arc::new(Notify::new());
        let (st, ad, w, stop2, ended2) = (
            self.ctx.state.clone(),
            self.ctx.admin.clone(),
            self.w.clone(),
            stop.clone(),
            ended.clone(),
        );
        let task = tokio::spawn(
            async move {
                follow(&st, &ad, what, json, &w, true, stop2.notified()).await;
                ended2.notify_one();
            }
            .in_current_span(),
        );
        loop {
            tokio::select! {
                () = ended.notified() => return Next::Read,
                msg = rd.wait() => match msg {
                    Some(ChannelMsg::Data { data }) if data.contains(&0x03) => {
                        stop.notify_one();
                        let _ = task.await;
                        self.say("^C\n").await;
                        return match data.iter().position(|b| *b == 0x03) {
                            Some(at) if at + 1 < data.len() => Next::TypedAhead(data[at + 1..].to_vec()),
                            _ => Next::Read,
                        };
                    }
                    Some(ChannelMsg::Eof | ChannelMsg::Close) | None => {
                        task.abort();
                        return Next::Leave;
                    }
                    _ => {}
                },
            }
        }
    }
}

//! The admin console over SSH (`ssh -p 2222 admin@main`): admins (role creator or admin) authenticate with a
//! registered key and get an interactive console with a PTY, or run one command without (`ssh -p 2222 main
//! nodes list --json`): plain text or JSON out, exit status 0 on success.

mod cmd_nodes;
mod cmd_sessions;
mod cmd_users;
pub mod commands;
pub mod format;
pub mod line;
pub mod words;

use std::net::SocketAddr;
use std::sync::Arc;

use russh::ChannelMsg;
use russh::server::Msg;
use russh::{Channel, ChannelWriteHalf};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;

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
    let (mut rd, w) = channel.split();
    let w: Writer = Arc::new(w);
    let prompt = format!("vibebridge({})> ", format::escape(&admin.name));
    let ctx = Ctx {
        state: &state,
        admin: &admin,
        peer,
    };
    let banner = format!(
        "VibeBridge {} admin console. Type `help` for commands, Tab to complete, Ctrl-D to leave.\n",
        env!("CARGO_PKG_VERSION")
    );
    write(&w, true, &banner).await;
    write(&w, true, &prompt).await;
    let (mut decoder, mut editor) = (Decoder::default(), Editor::default());
    // Input typed after the Ctrl-C that ended a follow, still to be handled.
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
            match editor.key(key) {
                Action::Redraw => {
                    write(&w, true, &editor.render(&prompt)).await;
                }
                Action::ClearScreen => {
                    write(
                        &w,
                        true,
                        &format!("\x1b[H\x1b[2J{}", editor.render(&prompt)),
                    )
                    .await;
                }
                Action::Full => {
                    write(&w, true, "\x07").await;
                }
                Action::Interrupt => {
                    write(&w, true, "^C\n").await;
                    write(&w, true, &prompt).await;
                }
                Action::Eof => {
                    write(&w, true, "\n").await;
                    break 'input;
                }
                Action::Complete => {
                    let before = editor.before_cursor();
                    let (done, partial) = match before.rsplit_once(' ') {
                        Some((head, p)) => (head.to_string(), p.to_string()),
                        None => (String::new(), before.clone()),
                    };
                    let words = words::split_words(&done).unwrap_or_default();
                    let options = commands::complete(&state, &admin, &words, &partial);
                    match options.as_slice() {
                        [] => {
                            write(&w, true, "\x07").await;
                        }
                        [one] => {
                            editor.replace_partial(partial.chars().count(), &format!("{one} "));
                            write(&w, true, &editor.render(&prompt)).await;
                        }
                        many => {
                            let prefix = line::common_prefix(many);
                            if prefix.len() > partial.len() {
                                editor.replace_partial(partial.chars().count(), &prefix);
                            } else {
                                write(&w, true, &format!("\n{}\n", many.join("  "))).await;
                            }
                            write(&w, true, &editor.render(&prompt)).await;
                        }
                    }
                }
                Action::Submit(text) => {
                    write(&w, true, "\n").await;
                    let mut words = match words::split_words(&text) {
                        Ok(words) => words,
                        Err(e) => {
                            write(&w, true, &printable(&format!("error: {e}\n"), false)).await;
                            write(&w, true, &prompt).await;
                            continue;
                        }
                    };
                    if matches!(
                        words.first().map(String::as_str),
                        Some("exit" | "quit" | "logout")
                    ) {
                        break 'input;
                    }
                    let json = take_json_flag(&mut words);
                    match ctx.run(&words).await {
                        Outcome::Done(reply) => {
                            write(&w, true, &render(&reply, json)).await;
                        }
                        Outcome::Follow { backlog, what } => {
                            write(&w, true, &render(&backlog, json)).await;
                            write(&w, true, "(following; Ctrl-C to stop)\n").await;
                            // Input keeps being read so Ctrl-C can end the follow.
                            let stop = Arc::new(Notify::new());
                            let ended = Arc::new(Notify::new());
                            let (st, ad, w2, stop2, ended2) = (
                                state.clone(),
                                admin.clone(),
                                w.clone(),
                                stop.clone(),
                                ended.clone(),
                            );
                            let task = tokio::spawn(async move {
                                follow(&st, &ad, what, json, &w2, true, stop2.notified()).await;
                                ended2.notify_one();
                            });
                            loop {
                                tokio::select! {
                                    () = ended.notified() => break,
                                    msg = rd.wait() => match msg {
                                        Some(ChannelMsg::Data { data }) if data.contains(&0x03) => {
                                            stop.notify_one();
                                            let _ = task.await;
                                            write(&w, true, "^C\n").await;
                                            if let Some(at) = data.iter().position(|b| *b == 0x03)
                                                && at + 1 < data.len()
                                            {
                                                typed_ahead = Some(data[at + 1..].to_vec());
                                            }
                                            break;
                                        }
                                        Some(ChannelMsg::Eof | ChannelMsg::Close) | None => {
                                            task.abort();
                                            break 'input;
                                        }
                                        _ => {}
                                    },
                                }
                            }
                        }
                    }
                    write(&w, true, &prompt).await;
                }
            }
        }
    }
    let _ = w.exit_status(0).await;
    let _ = w.eof().await;
    let _ = w.close().await;
}

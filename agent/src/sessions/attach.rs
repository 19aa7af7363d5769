//! The sending half of an attach stream: a session's stored events after a seq, then live ones, then `End`
//! once its CLI has ended and no dev server of its run runs (a dev server's output comes without a CLI).
//! Events are sent only once on disk, waited for a batch at a time (a page from the store, or the live events
//! already queued), so the fsyncs of a busy session are shared. An event that still does not fit a frame is
//! replaced by a small error event with the same seq, so one event can never stall the stream (main would
//! re-attach from it and fail forever).

use tokio::io::AsyncWrite;
use vibebridge_tunnel::frame::{FrameError, write_frame};
use vibebridge_tunnel::session::{AttachFrame, EventBody, SessionEvent};

use super::log::SessionLog;

/// Events sent per store read when an attach catches up.
const PAGE: usize = 512;

/// Sends `log`'s events after `after_seq` to `wr` in `max`-byte frames, following live events until the
/// driver and the dev server have ended, then `End`. Returns when done or when a write fails.
pub async fn stream<W: AsyncWrite + Unpin>(
    log: &SessionLog,
    wr: &mut W,
    after_seq: u64,
    max: usize,
) -> Result<(), String> {
    let mut live = log.subscribe();
    let mut alive = log.alive();
    let mut serving = log.serving();
    let mut last = after_seq;
    loop {
        // Both read every time: `|`, not `||`, so neither change is left to wake the loop again.
        let was_alive = *alive.borrow_and_update() | *serving.borrow_and_update();
        loop {
            let page = log
                .until_stored(|| async { log.events_after(last, PAGE) })
                .await;
            let Some(end) = page.last().map(|e| e.seq) else {
                break;
            };
            log.until_stored(|| log.sync()).await;
            for ev in page {
                send_event(log, wr, ev, max).await?;
            }
            last = end;
        }
        if !was_alive {
            write_frame(wr, &AttachFrame::End, max)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(());
        }
        // Live events in order, each batch once on disk; a gap or lag falls back to the store.
        loop {
            tokio::select! {
                ev = live.recv() => match ev {
                    Ok(ev) if ev.seq <= last => {}
                    Ok(ev) if ev.seq == last + 1 => {
                        let (batch, in_order) = queued_after(&mut live, ev);
                        log.until_stored(|| log.sync()).await;
                        for ev in batch {
                            last = ev.seq;
                            send_event(log, wr, ev, max).await?;
                        }
                        if !in_order {
                            break;
                        }
                    }
                    Ok(_) | Err(_) => break,
                },
                _ = alive.changed() => break,
                _ = serving.changed() => break,
            }
        }
    }
}

/// `first` and the live events already queued after it, up to the first one out of order; whether all were
/// in order (otherwise the caller goes back to the store).
fn queued_after(
    live: &mut tokio::sync::broadcast::Receiver<SessionEvent>,
    first: SessionEvent,
) -> (Vec<SessionEvent>, bool) {
    let mut next = first.seq + 1;
    let mut batch = vec![first];
    while batch.len() < PAGE {
        match live.try_recv() {
            Ok(ev) if ev.seq == next => {
                next += 1;
                batch.push(ev);
            }
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break,
            Ok(_) | Err(_) => return (batch, false),
        }
    }
    (batch, true)
}

/// Sends one event; one too big for a frame (stored before events were bounded, or a frame limit lowered
/// since) is logged and replaced by an error event with the same seq.
async fn send_event<W: AsyncWrite + Unpin>(
    log: &SessionLog,
    wr: &mut W,
    ev: SessionEvent,
    max: usize,
) -> Result<(), String> {
    let (seq, at_ms) = (ev.seq, ev.at_ms);
    match write_frame(wr, &AttachFrame::Event(ev), max).await {
        Err(FrameError::TooLarge { size, .. }) => {
            tracing::warn!(
                session = %log.id(),
                "event {seq} is {size} bytes, over the {max}-byte frame limit; sending an error in its place"
            );
            let stand_in = SessionEvent {
                seq,
                at_ms,
                body: EventBody::Error {
                    message: format!(
                        "event {seq} was {size} bytes, over the tunnel's {max}-byte frame limit, and was \
                         left out; the node's raw CLI log keeps its content"
                    ),
                },
            };
            write_frame(wr, &AttachFrame::Event(stand_in), max)
                .await
                .map_err(|e| e.to_string())
        }
        other => other.map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use vibebridge_tunnel::frame::{DEFAULT_MAX_FRAME, read_frame};

    use super::*;

    /// Attaches to `log` from seq 0 and collects every frame until `End`.
    async fn attach_all(log: &SessionLog, max: usize) -> Vec<SessionEvent> {
        let (mut tx, mut rx) = tokio::io::duplex(64 * 1024);
        let read = async {
            let mut events = Vec::new();
            loop {
                match read_frame::<AttachFrame, _>(&mut rx, max).await.unwrap() {
                    Some(AttachFrame::Event(ev)) => events.push(ev),
                    Some(AttachFrame::End | AttachFrame::NotFound) | None => return events,
                }
            }
        };
        let send = async move {
            // Closing the pipe when the sender stops lets the reader see the end.
            let sent = stream(log, &mut tx, 0, max).await;
            drop(tx);
            sent
        };
        let (sent, events) = tokio::join!(send, read);
        sent.unwrap();
        events
    }

    fn text(t: &str) -> EventBody {
        EventBody::AssistantMessage {
            message_id: "m".into(),
            text: t.into(),
        }
    }

    /// Proves an event with a 3 MiB field is cut to fit and the events after it still reach main.
    #[tokio::test]
    async fn big_event_is_cut_and_later_events_arrive() {
        let log = SessionLog::scratch();
        log.append(text("before"));
        log.append(text(&"z".repeat(3 * 1024 * 1024)));
        log.append(text("after"));
        let events = attach_all(&log, DEFAULT_MAX_FRAME).await;
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(
            matches!(&events[1].body, EventBody::AssistantMessage { text, .. } if text.contains("[truncated"))
        );
        assert_eq!(events[2].body, text("after"));
    }

    /// Proves an event that still does not fit a frame is replaced by an error with its seq, and the stream
    /// goes on to the events after it and `End`.
    #[tokio::test]
    async fn unframeable_event_becomes_an_error_and_the_stream_goes_on() {
        // Bounded for a 1 MiB frame, but streamed with a 4 KiB limit: 100 KiB fits the log, not the frame.
        let log = SessionLog::scratch();
        log.append(text("before"));
        log.append(text(&"z".repeat(100 * 1024)));
        log.append(text("after"));
        let events = attach_all(&log, 4096).await;
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(
            matches!(&events[1].body, EventBody::Error { message } if message.contains("frame limit")),
            "{:?}",
            events[1].body
        );
        assert_eq!(events[2].body, text("after"));
    }
}

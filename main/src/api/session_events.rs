//! Reading a session's events: a stored page (`…/events`), and the server-sent event stream of stored then
//! live ones (`…/stream`), whose slow readers are cut rather than buffered for.

use std::convert::Infallible;
use std::sync::Arc;
use tracing::Instrument;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use tokio_util::task::AbortOnDropHandle;
use uuid::Uuid;
use vibebridge_tunnel::reply::ErrorCode;

use super::bodies::{EventsPage, StreamError};
use super::{ApiError, live};
use crate::api::{Path, Query};
use crate::auth::{Approved, AuthUser};
use crate::hub::LiveEvent;
use crate::ops::sessions;
use crate::state::AppState;

/// Most events in a history page.
const MAX_PAGE: usize = 1000;
/// Most bytes of stored events in a history page (at least one event, whatever its size).
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// `?after=SEQ&limit=N`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    #[serde(default)]
    after: u64,
    #[ts(optional)]
    limit: Option<usize>,
}

/// `GET /api/v1/sessions/{id}/events?after=SEQ`: a page of stored events.
pub async fn events(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<EventsPage>, ApiError> {
    let s = sessions::visible(&state, &who, &id)?;
    let limit = q.limit.unwrap_or(500).clamp(1, MAX_PAGE);
    let events = state
        .store
        .session_events_page(&s.id, q.after, limit, MAX_PAGE_BYTES)?;
    let next = events.last().map(|e| e.seq).unwrap_or(q.after);
    Ok(Json(EventsPage {
        events,
        next_after: next,
        last_seq: s.last_seq,
        more: next < s.last_seq,
    }))
}

/// `GET /api/v1/sessions/{id}/stream?after=SEQ` (or `Last-Event-ID`): stored events after the seq, then
/// live ones, as server-sent events named `status`, `log`, `tool_call`, `tool_result`, `error` or
/// `complete`, each with `id: seq`. Counts as one of the user's live connections; a reader that takes nothing
/// for `server.slow_consumer_timeout` gets a last `error` event with code `slow_consumer` and the stream ends.
pub async fn stream(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let s = sessions::visible(&state, &who, &id)?;
    let guard = state
        .live
        .open(who.user.id)
        .map_err(ApiError::TooManyConnections)?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(q.after);
    let (tx, rx) = live::outbox::<Arc<LiveEvent>>();
    let timeout = state.config.server.slow_consumer_timeout;
    let span = tracing::info_span!("sse_follow", session = %s.id, user = %who.user.username);
    let pump = AbortOnDropHandle::new(tokio::spawn(
        pump(state, who, s.id, after, tx).instrument(span),
    ));
    let sse = futures::stream::unfold(
        (rx, Some(pump), guard),
        move |(mut rx, pump, guard)| async move {
            if let Some((ev, room)) = rx.recv().await {
                let event = Event::default()
                    .id(ev.seq.to_string())
                    .event(ev.name)
                    .data(ev.json());
                drop(room);
                return Some((Ok(event), (rx, pump, guard)));
            }
            // The pump ended; say why if the reader was too slow.
            let Ok(PumpEnd::Slow) = pump?.await else {
                return None;
            };
            let data = StreamError {
                kind: "error",
                code: ErrorCode::SlowConsumer,
                message: format!(
                    "nothing was read for {}s; reconnect with Last-Event-ID to resume",
                    timeout.as_secs()
                ),
            };
            let event = Event::default()
                .event("error")
                .data(serde_json::to_string(&data).unwrap_or_default());
            Some((Ok(event), (rx, None, guard)))
        },
    );
    Ok(Sse::new(sse).keep_alive(KeepAlive::default()))
}

/// Why an SSE pump ended.
enum PumpEnd {
    /// The stream ended (main stopping, the reader gone, access lost).
    Done,
    /// The reader took nothing for `server.slow_consumer_timeout`.
    Slow,
}

/// Moves a session's events into an SSE outbox, reading the next one only once the outbox has room.
async fn pump(
    state: AppState,
    who: AuthUser,
    id: Uuid,
    after: u64,
    tx: live::OutboxSender<Arc<LiveEvent>>,
) -> PumpEnd {
    let timeout = state.config.server.slow_consumer_timeout;
    let events = state.hub.follow(id, after);
    futures::pin_mut!(events);
    let session_id = id.to_string();
    let lost = super::live::access_lost(state.clone(), &who, |st, w| {
        sessions::visible(st, w, &session_id).is_ok()
    });
    tokio::pin!(lost);
    loop {
        // Racing the whole wait (room, then the next event) with the access check: an idle session's
        // stream still ends when access is lost.
        let next = tokio::select! {
            next = async {
                match tokio::time::timeout(timeout, tx.ready()).await {
                    Ok(Ok(())) => Ok(futures::StreamExt::next(&mut events).await),
                    Ok(Err(_)) => Err(PumpEnd::Done),
                    Err(_) => Err(PumpEnd::Slow),
                }
            } => next,
            () = &mut lost => return PumpEnd::Done,
        };
        let ev = match next {
            Ok(Some(ev)) => ev,
            Ok(None) => return PumpEnd::Done,
            Err(end) => return end,
        };
        let size = ev.size();
        match tokio::time::timeout(timeout, tx.send(ev, size)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return PumpEnd::Done,
            Err(_) => return PumpEnd::Slow,
        }
    }
}

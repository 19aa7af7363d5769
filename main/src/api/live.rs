//! Outboxes of live connections (the browser WebSocket and session SSE streams), so that one user cannot hold
//! main's memory through followers: bounded by bytes between followers and a socket, whose reader is cut
//! (with a reason) once it takes nothing for `server.slow_consumer_timeout`. The cap on live connections per
//! user is [`crate::quota::LiveConnections`].

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::auth::{self, AuthUser};
use crate::state::AppState;

/// Bytes one live connection may have queued for its reader, beyond what the socket itself buffers.
pub const OUTBOX_BYTES: usize = 256 * 1024;
/// What each queued message counts for besides its bytes, so small messages are bounded too.
const MESSAGE_OVERHEAD: usize = 64;

/// A queue from followers to one socket writer, bounded by bytes ([`OUTBOX_BYTES`]; a larger message
/// takes the whole budget). Senders wait while it is full; they fail once the receiver is gone.
pub fn outbox<T>() -> (OutboxSender<T>, OutboxReceiver<T>) {
    let budget = Arc::new(Semaphore::new(OUTBOX_BYTES));
    let (tx, rx) = mpsc::unbounded_channel();
    (
        OutboxSender {
            tx,
            budget: budget.clone(),
        },
        OutboxReceiver { rx, budget },
    )
}

/// The sending side of an [`outbox`].
pub struct OutboxSender<T> {
    tx: mpsc::UnboundedSender<(T, OwnedSemaphorePermit)>,
    budget: Arc<Semaphore>,
}

impl<T> Clone for OutboxSender<T> {
    fn clone(&self) -> Self {
        OutboxSender {
            tx: self.tx.clone(),
            budget: self.budget.clone(),
        }
    }
}

/// The outbox's reader is gone.
#[derive(Debug)]
pub struct Closed;

impl<T> OutboxSender<T> {
    /// Queues `item` of `bytes`, waiting for room; `Err` once the receiver is gone.
    pub async fn send(&self, item: T, bytes: usize) -> Result<(), Closed> {
        let cost = bytes.saturating_add(MESSAGE_OVERHEAD).min(OUTBOX_BYTES);
        let cost = u32::try_from(cost).unwrap_or(u32::MAX);
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(cost)
            .await
            .map_err(|_| Closed)?;
        self.tx.send((item, permit)).map_err(|_| Closed)
    }

    /// Waits until the outbox has room for a large message (half its budget free), so a follower reads its
    /// next event only when the reader is taking them; `Err` once the receiver is gone.
    pub async fn ready(&self) -> Result<(), Closed> {
        let half = u32::try_from(OUTBOX_BYTES / 2).unwrap_or(u32::MAX);
        self.budget
            .acquire_many(half)
            .await
            .map(drop)
            .map_err(|_| Closed)
    }
}

/// The receiving side of an [`outbox`]. Each message comes with the room it takes: drop that once the
/// message has left (written to the socket).
pub struct OutboxReceiver<T> {
    rx: mpsc::UnboundedReceiver<(T, OwnedSemaphorePermit)>,
    budget: Arc<Semaphore>,
}

impl<T> OutboxReceiver<T> {
    /// The next message and its room; `None` when every sender is gone.
    pub async fn recv(&mut self) -> Option<(T, OwnedSemaphorePermit)> {
        self.rx.recv().await
    }

    /// The next message if one is queued.
    pub fn try_recv(&mut self) -> Option<(T, OwnedSemaphorePermit)> {
        self.rx.try_recv().ok()
    }
}

impl<T> Drop for OutboxReceiver<T> {
    fn drop(&mut self) {
        // Senders waiting for room fail instead of waiting forever.
        self.budget.close();
    }
}

/// Resolves once `who` has lost their login (logged out, disabled, set back to pending) or what `still`
/// checks (a node's membership, a session's visibility). Event streams, WebSockets and terminals end on
/// it: the checks made when they opened are not repeated by anything else.
pub async fn access_lost<F>(state: AppState, who: &AuthUser, still: F)
where
    F: Fn(&AppState, &AuthUser) -> bool,
{
    let mut tick = tokio::time::interval(auth::RECHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        match who.reread(&state.store) {
            Some(now) if still(&state, &now) => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Proves an outbox holds no more than its byte budget: a sender waits until the reader takes a message,
    /// and fails once the reader is gone.
    #[tokio::test(start_paused = true)]
    async fn outbox_is_bounded_by_bytes() {
        let full = std::time::Duration::from_secs(60);
        let (tx, mut rx) = outbox::<usize>();
        tx.send(1, OUTBOX_BYTES / 2).await.unwrap();
        assert!(
            tokio::time::timeout(full, tx.send(2, OUTBOX_BYTES))
                .await
                .is_err(),
            "a message that does not fit waits"
        );
        let (first, room) = rx.recv().await.unwrap();
        assert_eq!(first, 1);
        drop(room);
        tx.send(2, OUTBOX_BYTES).await.unwrap();
        let blocked = tokio::spawn(async move { tx.send(3, 10).await });
        drop(rx);
        assert!(blocked.await.unwrap().is_err());
    }
}

//! Which main serves. On sled there is one main and it is always active. On PostgreSQL every main sharing the
//! database campaigns for one advisory lock, held on a connection of its own; the holder is **active** (serves
//! HTTP and SSH, runs the background work), the others are **standbys** that answer `/health` and try the lock
//! again every [`POLL`].
//!
//! The lock goes with its connection: when the active main dies, PostgreSQL ends its session and a standby
//! gets the lock within a poll. A main that is alive but stuck (paused, partitioned) must not keep the lock nor
//! keep serving, so:
//! - its lock connection has `idle_session_timeout` set to the lease: it beats (`SELECT 1`) four times a lease,
//!   and the server ends a session that has been silent for a whole lease, which frees the lock;
//! - it counts its own lease on the monotonic clock from the moment each beat was *sent*, and gives the lead up
//!   (stops serving, [`Lead::lost`]) once a lease has passed without an answered beat, before the server can
//!   have freed the lock;
//! - every write it makes carries a fencing token: taking the lead bumps `meta/leader_epoch`, and the store's
//!   commits are guarded by the epoch this main took (see `PgKv::set_epoch`), so a write the old main sends
//!   after a new one took over fails instead of landing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use deadpool_postgres::Object;
use tokio_util::sync::CancellationToken;

use crate::store::Store;
use crate::store::kv::Backend;
use crate::store::kv::postgres::PgKv;

/// The advisory lock the active main holds ("VBleader").
pub const LEADER_LOCK: i64 = 0x5642_6c65_6164_6572;
/// How often a standby tries the lock.
pub const POLL: Duration = Duration::from_millis(500);
/// What a main's own lease is cut short by, against clock-rate differences and scheduling delay.
const MARGIN: Duration = Duration::from_millis(500);

/// What a main is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Serving.
    Active,
    /// Waiting for the lead.
    Standby,
}

impl Role {
    /// `active` or `standby`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Active => "active",
            Role::Standby => "standby",
        }
    }
}

/// What `/health` and `vibebridge status` say about this main's place.
pub struct Standing {
    /// This main's name (host name and process id, or `main.name`).
    pub main_id: String,
    /// What the store runs on, without secrets.
    pub database: String,
    /// When this main last heard from the database (a beat or a lock attempt answered).
    heard: AtomicU64,
    /// Active or standby, watchable.
    role: tokio::sync::watch::Sender<Role>,
    /// The epoch this main leads in (0: none).
    epoch: AtomicU64,
    started: Instant,
}

impl Standing {
    /// A main's standing before it knows its role: standby on PostgreSQL, active on sled.
    pub fn new(main_id: String, store: &Store) -> Arc<Standing> {
        let on_sled = matches!(store.backend(), Backend::Sled(_));
        let s = Standing {
            main_id,
            database: store.describe(),
            heard: AtomicU64::new(0),
            role: tokio::sync::watch::Sender::new(if on_sled {
                Role::Active
            } else {
                Role::Standby
            }),
            epoch: AtomicU64::new(0),
            started: Instant::now(),
        };
        Arc::new(s)
    }

    /// Active or standby.
    pub fn role(&self) -> Role {
        *self.role.borrow()
    }

    /// Waits until this main is active (tests, and callers that embed main).
    pub async fn until_active(&self) {
        let mut rx = self.role.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = rx.wait_for(|r| *r == Role::Active).await;
    }

    /// Milliseconds since the database last answered this main (`0` on sled, where it is in-process).
    pub fn lag_ms(&self) -> u64 {
        if self.database.starts_with("sled:") {
            return 0;
        }
        let now = self.started.elapsed().as_millis() as u64;
        now.saturating_sub(self.heard.load(Ordering::SeqCst))
    }

    /// The lead's epoch (0 when this main has not led).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    fn heard_now(&self) {
        self.heard
            .store(self.started.elapsed().as_millis() as u64, Ordering::SeqCst);
    }
}

/// The lead, while this main holds it. Dropping it gives the lock up (its connection closes).
pub struct Lead {
    lost: CancellationToken,
    beat: tokio::task::JoinHandle<()>,
}

impl Lead {
    /// Cancelled when this main loses the lead: its lease ran out, its connection died. Serving stops then.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }
}

impl Drop for Lead {
    fn drop(&mut self) {
        self.beat.abort();
    }
}

/// Waits until this main holds the lead (`Ok(Some)`), or `shutdown` (`Ok(None)`). `lease`: how long a silent
/// active main keeps it.
pub async fn campaign(
    pg: &PgKv,
    store: &Store,
    standing: &Arc<Standing>,
    lease: Duration,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Lead>> {
    let mut failures = 0u32;
    loop {
        let attempt = try_lock(pg, lease, standing);
        let won = tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            r = attempt => r,
        };
        match won {
            Ok(Some(conn)) => {
                let epoch = take_epoch(store).await?;
                standing.epoch.store(epoch, Ordering::SeqCst);
                standing.role.send_replace(Role::Active);
                tracing::info!(main = %standing.main_id, epoch, "this main holds the lead: serving");
                let lost = CancellationToken::new();
                let beat = tokio::spawn(beat(
                    conn,
                    lease,
                    standing.clone(),
                    lost.clone(),
                    store.clone(),
                ));
                return Ok(Some(Lead { lost, beat }));
            }
            Ok(None) => failures = 0,
            Err(e) => {
                failures += 1;
                // Said once, then quietly: a database that is down is retried, not a reason to exit.
                if failures == 1 {
                    tracing::warn!("standby cannot reach the database: {e:#}; retrying");
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// One try: a connection of its own with the lease as its idle timeout, then the lock. `Some`: won, on it.
async fn try_lock(
    pg: &PgKv,
    lease: Duration,
    standing: &Standing,
) -> anyhow::Result<Option<deadpool_postgres::ClientWrapper>> {
    let pool = pg.pool().clone();
    let conn = pg
        .runtime()
        .spawn(async move { pool.get().await })
        .await
        .context("database runtime")?
        .map_err(|e| anyhow!("{e}"))?;
    let conn = Object::take(conn);
    let setup = format!(
        "SET idle_session_timeout = {}; SET statement_timeout = {}",
        lease.as_millis(),
        lease.as_millis()
    );
    conn.batch_execute(&setup).await?;
    let row = conn
        .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
        .await?;
    standing.heard_now();
    Ok(row.get::<_, bool>(0).then_some(conn))
}

/// Bumps the leader epoch (writes the previous leader sends from now on fail their guard) and leads under
/// it: this main's writes carry it, and its reads come from memory (see `Store::lead`).
async fn take_epoch(store: &Store) -> anyhow::Result<u64> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let epoch = store.bump_leader_epoch()?;
        store.lead(epoch);
        Ok::<_, crate::store::StoreError>(epoch)
    })
    .await
    .context("epoch task")?
    .context("taking the leader epoch")
}

/// Beats on the lock connection four times a lease; gives the lead up when a lease passes unanswered.
async fn beat(
    conn: deadpool_postgres::ClientWrapper,
    lease: Duration,
    standing: Arc<Standing>,
    lost: CancellationToken,
    store: Store,
) {
    let every = lease / 4;
    let mut valid_until = Instant::now() + lease.saturating_sub(MARGIN);
    loop {
        let sent = Instant::now();
        if sent >= valid_until {
            break;
        }
        let answer = tokio::time::timeout(valid_until - sent, conn.simple_query("SELECT 1")).await;
        match answer {
            Ok(Ok(_)) if Instant::now() < valid_until => {
                valid_until = sent + lease.saturating_sub(MARGIN);
                standing.heard_now();
            }
            Ok(Err(e)) => {
                tracing::error!("the lead's database connection failed: {e}; stopping serving");
                break;
            }
            _ => break,
        }
        // Sleep to the next beat, but never past the lease (a paused process wakes up late: the check above
        // then ends the lead before anything else is done).
        tokio::time::sleep(every.min(valid_until.saturating_duration_since(Instant::now()))).await;
    }
    standing.role.send_replace(Role::Standby);
    tracing::error!(main = %standing.main_id, "this main lost the lead (its lease ran out); it stops serving");
    // Before the lock is let go: from here on another main may write, unannounced, so memory is no longer
    // true while this one drains.
    store.step_down();
    lost.cancel();
    drop(conn);
}

//! The store's own connections to PostgreSQL, each driven by the thread that uses it.
//!
//! The store is synchronous, and a call waits for its answer anyway. With the connection living on an async
//! runtime, one query woke three threads besides the database's (the runtime's, the connection task's, then
//! the caller again), and on a small VM each wake of an idle CPU costs tens of microseconds. Here each
//! connection owns a single-threaded runtime with no threads of its own: the caller checks a connection out,
//! drives it while its statements run (writing the request and waiting on the socket itself), and puts it
//! back. Between uses nobody polls it; a connection the server closed meanwhile is noticed at checkout.
//!
//! Connections are made on demand up to the pool size; a caller finding all in use waits for one. Every
//! method blocks: call them through [`off_runtime`](super::super::unit::off_runtime).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, Statement};

use super::PgOptions;

type Driver = Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>> + Send>>;

/// A client and its prepared statements (what a unit of database work gets).
pub(super) struct Link {
    pub client: Client,
    statements: HashMap<String, Statement>,
}

impl Link {
    /// `sql` prepared once per connection.
    pub async fn prepare_cached(&mut self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(st) = self.statements.get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(sql).await?;
        self.statements.insert(sql.to_owned(), st.clone());
        Ok(st)
    }
}

/// One connection: its runtime, its client, and the future that moves its bytes.
pub(super) struct Conn {
    /// `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
    pub link: Link,
    driver: Driver,
}

/// Why a connection could not be had, or was lost during a call.
pub(super) enum Lost {
    /// Connecting failed (the message says why).
    Connect(String),
    /// Every connection stayed in use for the whole wait.
    Busy,
}

/// The pool of driven connections.
pub(super) struct Pool {
    config: tokio_postgres::Config,
    tls: Option<rustls::ClientConfig>,
    max: usize,
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Default)]
struct State {
    idle: Vec<Conn>,
    /// Connections in existence (idle or checked out).
    open: usize,
}

impl Pool {
    pub fn new(opts: &PgOptions) -> anyhow::Result<Pool> {
        let (config, tls) = super::pg_tls::connection(opts)?;
        Ok(Pool {
            config,
            tls,
            max: opts.pool_size.max(1),
            state: Mutex::default(),
            freed: Condvar::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection that is still open, waiting up to `wait` for one when all are in use. It goes back to the
    /// pool when the guard drops, if [`Out::keep`] was called; otherwise (an error, a panic) it is closed.
    pub fn checkout(&self, wait: Duration) -> Result<Out<'_>, Lost> {
        let conn = self.take(wait)?;
        Ok(Out {
            pool: self,
            conn: Some(conn),
            keep: false,
        })
    }

    fn take(&self, wait: Duration) -> Result<Conn, Lost> {
        let deadline = Instant::now() + wait;
        let mut state = self.state();
        loop {
            while let Some(mut conn) = state.idle.pop() {
                if conn.still_open() {
                    return Ok(conn);
                }
                state.open -= 1;
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return self.connect().inspect_err(|_| {
                    self.state().open -= 1;
                    self.freed.notify_one();
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Lost::Busy);
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Puts a connection back (`None`: it was lost or left mid-statement, and is closed).
    fn put_back(&self, conn: Option<Conn>) {
        let mut state = self.state();
        match conn {
            Some(conn) => state.idle.push(conn),
            None => state.open -= 1,
        }
        drop(state);
        self.freed.notify_one();
    }

    fn connect(&self) -> Result<Conn, Lost> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Lost::Connect(format!("starting a connection's runtime: {e}")))?;
        let (config, tls) = (self.config.clone(), self.tls.clone());
        let made = runtime.block_on(async move {
            let (client, driver): (Client, Driver) = match tls {
                None => {
                    let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
                    (client, Box::pin(conn))
                }
                Some(tls) => {
                    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
                    let (client, conn) = config.connect(tls).await?;
                    (client, Box::pin(conn))
                }
            };
            Ok::<_, tokio_postgres::Error>((client, driver))
        });
        let (client, driver) = made.map_err(|e| Lost::Connect(super::error_text(&e)))?;
        let mut conn = Conn {
            runtime: Some(runtime),
            link: Link {
                client,
                statements: HashMap::new(),
            },
            driver,
        };
        let setup = conn.drive(Duration::from_secs(30), async |link: &mut Link| {
            link.client.batch_execute(super::SESSION_SETUP).await
        });
        match setup {
            Some(Ok(Ok(()))) => Ok(conn),
            Some(Ok(Err(e))) => Err(Lost::Connect(super::error_text(&e))),
            _ => Err(Lost::Connect("the server closed the new connection".into())),
        }
    }
}

impl Conn {
    /// Runs `work` on this connection from the calling thread, driving the connection meanwhile. `None`: the
    /// connection ended first; `Some(Err)`: `limit` passed. Either way the connection must not be reused.
    pub fn drive<T>(
        &mut self,
        limit: Duration,
        work: impl AsyncFnOnce(&mut Link) -> T,
    ) -> Option<Result<T, tokio::time::error::Elapsed>> {
        let Conn {
            runtime,
            link,
            driver,
        } = self;
        runtime.as_ref()?.block_on(async {
            tokio::select! {
                biased;
                out = tokio::time::timeout(limit, work(link)) => Some(out),
                _ = driver => None,
            }
        })
    }

    /// Sends what the client queued after the work returned (a dropped transaction's `ROLLBACK`), so a
    /// connection goes back to the pool outside any transaction; `false` when the connection ended.
    pub fn settle(&mut self) -> bool {
        self.poll_driver(false)
    }

    /// Whether the server has not closed this connection while it sat idle (polls it once, without waiting).
    fn still_open(&mut self) -> bool {
        // Looking at the sockets first, so a close that arrived while the connection sat idle is seen.
        self.poll_driver(true) && !self.link.client.is_closed()
    }

    /// Polls the connection's driver once, without waiting (after one look at the sockets when `look`: a
    /// yield lets the runtime check them first). `false`: the connection ended.
    fn poll_driver(&mut self, look: bool) -> bool {
        let Conn {
            runtime, driver, ..
        } = self;
        let Some(runtime) = runtime.as_ref() else {
            return false;
        };
        let ended = runtime.block_on(async {
            if look {
                tokio::task::yield_now().await;
            }
            futures::future::poll_fn(|cx| {
                std::task::Poll::Ready(driver.as_mut().poll(cx).is_ready())
            })
            .await
        });
        !ended
    }
}

/// A checked-out connection.
pub(super) struct Out<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
    keep: bool,
}

impl Out<'_> {
    /// The connection (`None` never happens before the guard drops).
    pub fn conn(&mut self) -> Option<&mut Conn> {
        self.conn.as_mut()
    }

    /// Returns the connection to the pool when dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for Out<'_> {
    fn drop(&mut self) {
        let conn = self.conn.take().filter(|_| self.keep);
        self.pool.put_back(conn);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Not a plain drop: dropping a runtime inside another runtime's async context panics.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Connections' runtimes have no threads; dropping them closes their sockets.
        self.state().idle.clear();
    }
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lost::Connect(why) => write!(f, "{why}"),
            Lost::Busy => write!(f, "every connection stayed busy"),
        }
    }
}

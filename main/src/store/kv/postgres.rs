//! The PostgreSQL backend: one database several mains share.
//!
//! **Schema.** Every tree lives in one table, `kv (tree text COLLATE "C", k bytea, v bytea, PRIMARY KEY (tree,
//! k))`; `bytea` compares bytewise, so a range read comes back in sled's order. Ids come from the sequence
//! `kv_ids`. The schema is brought up to date by `MIGRATIONS`, applied in order in one transaction that holds
//! an advisory lock (so two mains starting together do not both apply them) and recorded in `vb_migrations`;
//! a database that records a migration this binary does not know was written by a newer vibebridge, and is
//! refused.
//!
//! **Why SERIALIZABLE.** A [`Batch`] lands only when its guards hold. Its commit reads the guarded keys and
//! writes in one `SERIALIZABLE` transaction, so PostgreSQL itself fails the commit (SQLSTATE 40001, reported
//! as [`KvError::Conflict`]) when another main changed or created a guarded key between that read and the
//! commit, including a key that was absent when read, which no row lock could cover.
//!
//! **The sync bridge.** The store is synchronous and is called from runtime workers, current-thread runtimes
//! and plain threads alike, so [`PgKv`] owns its own two-thread tokio runtime (`vb-postgres`) and connection
//! pool. A call spawns its future there and waits for the answer on a channel, through
//! [`off_worker`](super::unit::off_worker), which moves a multi-thread worker's other tasks elsewhere while it
//! waits. The caller's runtime is never blocked on from inside (`block_on`), so any caller works. Every
//! statement is bounded, by the server's `statement_timeout` and a client-side timeout, so a hung server
//! yields an error rather than a hang.

#[path = "pg_conn.rs"]
mod pg_conn;
#[path = "pg_tls.rs"]
mod pg_tls;
#[path = "pg_write.rs"]
mod pg_write;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::ops::Bound;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use deadpool_postgres::{Client, Hook, HookError, Pool, PoolError, Runtime, TimeoutType};
use futures::FutureExt;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSqlOwned, ToSql};

pub use pg_tls::{TlsMode, mask_url};
pub use pg_write::EPOCH_KEY;

use super::{Bytes, KvError, Span};

/// The schema's migrations, `(version, name, sql)`, in order. Append only; never edit one that shipped.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "kv", include_str!("migrations/0001_kv.sql")),
    (2, "commit", include_str!("migrations/0002_commit.sql")),
    (3, "announce", include_str!("migrations/0003_announce.sql")),
];
/// The advisory lock key migrations hold ("VBmigrat").
/// Where writes without the lead's fence are announced (migration 3; see the `mirror` module).
const WRITES_CHANNEL: &str = "vb_kv";
const MIGRATION_LOCK: i64 = 0x5642_6d69_6772_6174;
/// How long one operation may take, server- and client-side.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Set on every new connection: no statement runs longer than an operation may.
const SESSION_SETUP: &str = "SET statement_timeout = '30s'";
/// How long migrations may take (waiting for another main's included).
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(600);
/// Rows per statement of a large commit (all within its one transaction).
const CHUNK: usize = 5_000;
/// What a PostgreSQL URL looks like, for error messages.
const URL_SHAPE: &str = "postgres://user:password@host:5432/dbname";

const GET: &str = "SELECT v FROM kv WHERE tree = $1 AND k = $2";
const GET_MANY: &str = "SELECT k, v FROM kv WHERE tree = $1 AND k = ANY($2::bytea[])";
/// Each prefix (with its end key, NULL: none) read as its own ordered, limited range, in one statement.
const SCAN_PREFIXES: &str = "SELECT p.i, r.k, r.v FROM unnest($2::bytea[], $3::bytea[]) WITH ORDINALITY AS p(lo, hi, i) \
                             CROSS JOIN LATERAL (SELECT k, v FROM kv WHERE tree = $1 AND k >= p.lo \
                             AND (p.hi IS NULL OR k < p.hi) ORDER BY k LIMIT $4) r ORDER BY p.i, r.k";
/// The sequence's next value is `last_value`, plus one once it has been used; it only ever moves up.
const ADVANCE_IDS: &str = "SELECT setval('kv_ids', $1) FROM kv_ids \
                           WHERE $1 >= last_value + CASE WHEN is_called THEN 1 ELSE 0 END";

/// A statement parameter, owned so it can travel to the database runtime.
type Param = Box<dyn ToSql + Send + Sync>;

/// How to reach the database.
#[derive(Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:5432/dbname` (or libpq's `key=value` form).
    pub url: String,
    /// Connections kept open at most.
    pub pool_size: usize,
    /// Whether and how the connection is encrypted (it overrides an `sslmode` in the URL).
    pub tls: TlsMode,
    /// PEM file of the CA(s) that sign the server's certificate (`verify-full`; default: the system's roots).
    pub ca_file: Option<std::path::PathBuf>,
    /// How long connecting may take.
    pub connect_timeout: Duration,
}

impl fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &mask_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// Why an operation's future failed, before it becomes a [`KvError`].
enum Failure {
    Db(tokio_postgres::Error),
    Conflict,
    Fenced,
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Failure {
        Failure::Db(e)
    }
}

/// The PostgreSQL backend: the store's connections (driven by their callers, see [`pg_conn`]), and a pool
/// on a runtime of its own for the connections that live on (the lead's lock, listening, migrations).
pub struct PgKv {
    direct: pg_conn::Pool,
    pool: Pool,
    handle: tokio::runtime::Handle,
    /// `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
    /// The URL without its password.
    masked: Arc<str>,
    /// The lead's epoch this main writes under, once it leads (see [`PgKv::set_epoch`]).
    epoch: std::sync::RwLock<Option<u64>>,
    /// How to connect again (a connection of its own, for [`PgKv::listen_for_writes`]).
    opts: PgOptions,
}

impl PgKv {
    /// Connects (failing when the server cannot be reached) and brings the schema up to date.
    pub fn connect(opts: &PgOptions) -> anyhow::Result<PgKv> {
        let pool = Pool::builder(pg_tls::manager(opts)?)
            .max_size(opts.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(QUERY_TIMEOUT))
            .create_timeout(Some(opts.connect_timeout.max(Duration::from_secs(1)) * 2))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .post_create(Hook::async_fn(|client, _| {
                Box::pin(async move {
                    client
                        .batch_execute(SESSION_SETUP)
                        .await
                        .map_err(HookError::Backend)
                })
            }))
            .build()
            .context("setting up the PostgreSQL connection pool")?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("vb-postgres")
            .enable_all()
            .build()
            .context("starting the PostgreSQL client runtime")?;
        let kv = PgKv {
            direct: pg_conn::Pool::new(opts)?,
            pool,
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            masked: mask_url(&opts.url).into(),
            epoch: std::sync::RwLock::new(None),
            opts: opts.clone(),
        };
        let pool = kv.pool.clone();
        let client = kv
            .block_on_db(async move { pool.get().await })
            .map_err(|e| {
                let (at, why) = (&kv.masked, pool_error(&e));
                anyhow!(
                    "could not connect to PostgreSQL at {at}: {why}; {}",
                    connect_hint(&why)
                )
            })?;
        // The timer is made on the database runtime: `timeout` needs one where it is called.
        let applied = kv
            .block_on_db(
                async move { tokio::time::timeout(MIGRATION_TIMEOUT, migrate(client)).await },
            )
            .unwrap_or_else(|_| Err(anyhow!("no answer within {}s", MIGRATION_TIMEOUT.as_secs())))
            .with_context(|| {
                format!("bringing the PostgreSQL schema at {} up to date", kv.masked)
            })?;
        for (version, name) in applied {
            tracing::info!(db = %kv.masked, "applied PostgreSQL migration {version} ({name})");
        }
        Ok(kv)
    }

    /// One key's value.
    pub fn get(&self, tree: &'static str, key: &[u8]) -> Result<Option<Bytes>, KvError> {
        let rows = self.query(GET, vec![Box::new(tree), Box::new(key.to_vec())])?;
        rows.first().map(|row| column(row, 0)).transpose()
    }

    /// Many keys' values in one statement, in the order asked.
    pub fn get_many(
        &self,
        tree: &'static str,
        keys: &[Bytes],
    ) -> Result<Vec<Option<Bytes>>, KvError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.query(GET_MANY, vec![Box::new(tree), Box::new(keys.to_vec())])?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in &rows {
            found.insert(column::<Bytes>(row, 0)?, column::<Bytes>(row, 1)?);
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    /// The entries under each prefix (at most `limit` each, in key order), in one statement.
    pub fn scan_prefixes(
        &self,
        tree: &'static str,
        prefixes: &[Bytes],
        limit: usize,
    ) -> Result<Vec<Vec<(Bytes, Bytes)>>, KvError> {
        if prefixes.is_empty() {
            return Ok(Vec::new());
        }
        // An all-0xff prefix has no end key: it reads to the end of the tree.
        let ends: Vec<Option<Bytes>> = prefixes
            .iter()
            .map(|p| match Span::prefix(p).hi {
                Bound::Excluded(end) => Some(end),
                _ => None,
            })
            .collect();
        let params: Vec<Param> = vec![
            Box::new(tree),
            Box::new(prefixes.to_vec()),
            Box::new(ends),
            Box::new(i64::try_from(limit).unwrap_or(i64::MAX)),
        ];
        let rows = self.query(SCAN_PREFIXES, params)?;
        let mut out = vec![Vec::new(); prefixes.len()];
        for row in &rows {
            let i: i64 = column(row, 0)?;
            if let Some(slot) = usize::try_from(i - 1).ok().and_then(|i| out.get_mut(i)) {
                slot.push((column(row, 1)?, column(row, 2)?));
            }
        }
        Ok(out)
    }

    /// Up to `limit` entries of `span` in key order (`reverse`: from the top).
    pub fn range(
        &self,
        tree: &'static str,
        span: &Span,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, KvError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut sql = String::from("SELECT k, v FROM kv WHERE tree = $1");
        let mut params: Vec<Param> = vec![Box::new(tree)];
        for (bound, inclusive, exclusive) in [(&span.lo, ">=", ">"), (&span.hi, "<=", "<")] {
            let (op, key) = match bound {
                Bound::Included(key) => (inclusive, key),
                Bound::Excluded(key) => (exclusive, key),
                Bound::Unbounded => continue,
            };
            params.push(Box::new(key.clone()));
            sql.push_str(&format!(" AND k {op} ${}", params.len()));
        }
        params.push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
        let order = if reverse { "DESC" } else { "ASC" };
        sql.push_str(&format!(" ORDER BY k {order} LIMIT ${}", params.len()));
        let rows = self.query(sql, params)?;
        rows.iter()
            .map(|row| Ok((column(row, 0)?, column(row, 1)?)))
            .collect()
    }

    /// A new id from the `kv_ids` sequence, larger than every id it gave before.
    pub fn next_id(&self) -> Result<u64, KvError> {
        let id: i64 = self.query_one("SELECT nextval('kv_ids')", vec![])?;
        u64::try_from(id).map_err(|_| KvError::Postgres(format!("kv_ids gave a negative id {id}")))
    }

    /// Moves the id sequence so that [`next_id`](Self::next_id) gives more than `at_least` (never lowers it).
    pub fn advance_ids(&self, at_least: u64) -> Result<(), KvError> {
        let at_least = i64::try_from(at_least)
            .map_err(|_| KvError::Postgres(format!("id {at_least} is beyond a bigint")))?;
        self.query(ADVANCE_IDS, vec![Box::new(at_least)]).map(drop)
    }

    /// Whether no tree holds anything.
    pub fn is_empty(&self) -> Result<bool, KvError> {
        self.query_one("SELECT NOT EXISTS (SELECT 1 FROM kv)", vec![])
    }

    /// Listens for the writes made without the lead's fence (by any other process: see the `mirror` module),
    /// calling `heard(true)` for each, and `heard(false)` once if the listening connection ends. Returns once
    /// the database is listened to, so nothing written after the return goes unheard.
    pub fn listen_for_writes(&self, heard: impl Fn(bool) + Send + 'static) -> Result<(), KvError> {
        let opts = self.opts.clone();
        let masked = self.masked.clone();
        self.block_on_db(async move {
            let listening = pg_tls::listen(&opts, WRITES_CHANNEL, heard);
            match tokio::time::timeout(QUERY_TIMEOUT, listening).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(KvError::Postgres(format!("listening at {masked}: {e:#}"))),
                Err(_) => Err(KvError::Postgres(format!("{masked} did not answer LISTEN"))),
            }
        })
    }

    /// The database's URL without its password, for logs and `/health`.
    pub fn describe(&self) -> String {
        self.masked.to_string()
    }

    /// The connection pool (for modules that need a connection of their own, such as leader election).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The runtime the pool's connections live on; futures that use them must run there.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Runs `fut` on the database runtime and waits for its output, from any thread (see the module doc). A
    /// panic inside `fut` resumes in the caller.
    pub fn block_on_db<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> T {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(AssertUnwindSafe(fut).catch_unwind().await);
        });
        match super::unit::off_worker(|| rx.recv()) {
            Ok(Ok(output)) => output,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => panic!("the PostgreSQL client runtime stopped while a call waited on it"),
        }
    }

    /// Runs `work` on one of the store's connections from the calling thread, bounded by [`QUERY_TIMEOUT`].
    fn run<T: Send>(
        &self,
        work: impl AsyncFnOnce(&mut pg_conn::Link) -> Result<T, Failure> + Send,
    ) -> Result<T, KvError> {
        let masked = &self.masked;
        super::unit::off_runtime(|| {
            let mut out = self.direct.checkout(QUERY_TIMEOUT).map_err(|lost| {
                KvError::Postgres(format!("could not reach PostgreSQL at {masked}: {lost}"))
            })?;
            let Some(conn) = out.conn() else {
                return Err(KvError::Postgres("no connection was checked out".into()));
            };
            let (keep, result) = match conn.drive(QUERY_TIMEOUT, work) {
                Some(Ok(Ok(output))) => (true, Ok(output)),
                Some(Ok(Err(Failure::Conflict))) => (true, Err(KvError::Conflict)),
                Some(Ok(Err(Failure::Fenced))) => (true, Err(KvError::Fenced)),
                // The server's refusal leaves the connection usable; anything else may not have.
                Some(Ok(Err(Failure::Db(e)))) => (
                    e.as_db_error().is_some(),
                    Err(if is_conflict(&e) {
                        KvError::Conflict
                    } else {
                        KvError::Postgres(error_text(&e))
                    }),
                ),
                Some(Err(_)) => {
                    let secs = QUERY_TIMEOUT.as_secs();
                    let why = format!("{masked} did not answer within {secs}s");
                    (false, Err(KvError::Postgres(why)))
                }
                None => {
                    let why = format!("the connection to {masked} was lost");
                    (false, Err(KvError::Postgres(why)))
                }
            };
            if keep && conn.settle() {
                out.keep();
            }
            result
        })
    }

    /// Runs one statement (prepared once per connection) and returns its rows.
    fn query(&self, sql: impl Into<String>, params: Vec<Param>) -> Result<Vec<Row>, KvError> {
        let sql = sql.into();
        self.run(async move |c: &mut pg_conn::Link| {
            let st = c.prepare_cached(&sql).await?;
            let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as _).collect();
            Ok(c.client.query(&st, &params).await?)
        })
    }

    /// The first column of the one row a statement returns.
    fn query_one<T: FromSqlOwned>(&self, sql: &str, params: Vec<Param>) -> Result<T, KvError> {
        let rows = self.query(sql, params)?;
        let row = rows
            .first()
            .ok_or_else(|| KvError::Postgres(format!("no row from {sql}")))?;
        column(row, 0)
    }
}

impl Drop for PgKv {
    fn drop(&mut self) {
        self.pool.close();
        // Not a plain drop: dropping a runtime inside another runtime's async context panics.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Applies the migrations this database lacks, under the migration lock; the ones applied.
async fn migrate(mut client: Client) -> anyhow::Result<Vec<(i32, &'static str)>> {
    let fail = |e: tokio_postgres::Error| anyhow!(error_text(&e));
    let tx = client.transaction().await.map_err(fail)?;
    let setup = format!(
        "SET LOCAL statement_timeout = {}; SELECT pg_advisory_xact_lock({MIGRATION_LOCK}); \
         CREATE TABLE IF NOT EXISTS vb_migrations (version int PRIMARY KEY, name text NOT NULL, \
         applied_at timestamptz NOT NULL DEFAULT now())",
        MIGRATION_TIMEOUT.as_millis()
    );
    tx.batch_execute(&setup).await.map_err(fail)?;
    let rows = tx
        .query("SELECT version FROM vb_migrations", &[])
        .await
        .map_err(fail)?;
    let done: Vec<i32> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    let known = MIGRATIONS.iter().map(|m| m.0).max().unwrap_or(0);
    if let Some(newest) = done.iter().copied().filter(|v| *v > known).max() {
        bail!(
            "the database has schema version {newest}, newer than this vibebridge knows ({known}): \
             run a newer vibebridge"
        );
    }
    let mut applied = Vec::new();
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| !done.contains(&m.0)) {
        let record = "INSERT INTO vb_migrations (version, name) VALUES ($1, $2)";
        tx.batch_execute(sql)
            .await
            .map_err(|e| anyhow!("migration {version} ({name}): {}", error_text(&e)))?;
        tx.execute(record, &[&version, &name]).await.map_err(fail)?;
        applied.push((version, name));
    }
    tx.commit().await.map_err(fail)?;
    Ok(applied)
}

/// Column `i` of `row`.
fn column<T: FromSqlOwned>(row: &Row, i: usize) -> Result<T, KvError> {
    row.try_get(i)
        .map_err(|e| KvError::Postgres(error_text(&e)))
}

/// Serialization failures, deadlocks and unique violations: another writer got there first.
fn is_conflict(e: &tokio_postgres::Error) -> bool {
    let conflicts = [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::UNIQUE_VIOLATION,
    ];
    e.code().is_some_and(|code| conflicts.contains(code))
}

/// A driver error as one line: the server's message, detail and hint, or the chain of causes.
fn error_text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        for (label, part) in [("detail", db.detail()), ("hint", db.hint())] {
            if let Some(part) = part {
                text.push_str(&format!("; {label}: {part}"));
            }
        }
        return text;
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// What to check when connecting failed for `why`: the certificate for a TLS refusal, the server otherwise.
fn connect_hint(why: &str) -> &'static str {
    if why.contains("certificate") || why.contains("TLS") {
        "check database.tls and database.ca_file against the server's certificate (verify-full checks the \
         CA and that the certificate names the host in database.url)"
    } else {
        "is it running, and does database.url name it?"
    }
}

/// Why no pooled connection could be had.
fn pool_error(e: &PoolError) -> String {
    match e {
        PoolError::Backend(e) | PoolError::PostCreateHook(HookError::Backend(e)) => error_text(e),
        PoolError::Timeout(TimeoutType::Wait) => {
            let secs = QUERY_TIMEOUT.as_secs();
            format!("every pooled connection stayed busy for {secs}s")
        }
        PoolError::Timeout(_) => "connecting timed out".to_owned(),
        other => other.to_string(),
    }
}

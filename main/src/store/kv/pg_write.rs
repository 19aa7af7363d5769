//! PostgreSQL's writes: the conditional commit (one pipelined round trip through `vb_commit`, or a chunked
//! transaction for batches too large for one statement), the single-key swap, and the lead's fence that every
//! write of an active main carries (see [`PgKv::set_epoch`]).

use std::collections::{BTreeMap, HashMap};

use tokio_postgres::Transaction;
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, Row};

use super::super::{Batch, Bytes, Guard, KvError};
use super::pg_conn::Link;
use super::{CHUNK, Failure, Param, PgKv, column};

const COMMIT: &str = "SELECT vb_commit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
const GUARDS: &str =
    "SELECT tree, k, v FROM kv WHERE (tree, k) IN (SELECT * FROM unnest($1::text[], $2::bytea[]))";
const DELETES: &str =
    "DELETE FROM kv WHERE (tree, k) IN (SELECT * FROM unnest($1::text[], $2::bytea[]))";
const PUTS: &str = "INSERT INTO kv (tree, k, v) SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[]) \
                    ON CONFLICT (tree, k) DO UPDATE SET v = EXCLUDED.v";
/// `FOR UPDATE`: a concurrent swap of the same key waits, then returns this one's value. Unfenced writes
/// are announced on `vb_kv` (see migration 3), and return one row: the old value or NULL.
const SWAP_PUT: &str = "WITH old AS (SELECT v FROM kv WHERE tree = $1 AND k = $2 FOR UPDATE), \
                        up AS (INSERT INTO kv (tree, k, v) VALUES ($1, $2, $3) \
                        ON CONFLICT (tree, k) DO UPDATE SET v = EXCLUDED.v), \
                        heard AS (SELECT pg_notify('vb_kv', '')) SELECT (SELECT v FROM old) FROM heard";
const SWAP_DELETE: &str = "WITH del AS (DELETE FROM kv WHERE tree = $1 AND k = $2 RETURNING v), \
                           heard AS (SELECT pg_notify('vb_kv', '')) SELECT (SELECT v FROM del) FROM heard";
/// Said by a chunked commit without a fence, before it commits.
const ANNOUNCE: &str = "SELECT pg_notify('vb_kv', '')";
/// The same two under the lead's fence: nothing is written unless `meta/leader_epoch` ([`EPOCH_KEY`], the last
/// parameter) still holds this main's epoch (the one before it). `FOR SHARE` makes a concurrent takeover's epoch
/// bump wait for this write, or this write wait for the bump and then find the epoch changed. The first column
/// says whether the fence held.
const FENCED_SWAP_PUT: &str = "WITH fence AS (SELECT 1 FROM kv WHERE tree = 'meta' AND k = $5 AND v = $4 \
                               FOR SHARE), \
                               old AS (SELECT v FROM kv WHERE tree = $1 AND k = $2 AND EXISTS (SELECT 1 FROM fence) \
                               FOR UPDATE), \
                               up AS (INSERT INTO kv (tree, k, v) SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM fence) \
                               ON CONFLICT (tree, k) DO UPDATE SET v = EXCLUDED.v) \
                               SELECT EXISTS (SELECT 1 FROM fence), (SELECT v FROM old)";
const FENCED_SWAP_DELETE: &str = "WITH fence AS (SELECT 1 FROM kv WHERE tree = 'meta' AND k = $4 AND v = $3 \
                                  FOR SHARE), \
                                  del AS (DELETE FROM kv WHERE tree = $1 AND k = $2 AND EXISTS (SELECT 1 FROM fence) \
                                  RETURNING v) \
                                  SELECT EXISTS (SELECT 1 FROM fence), (SELECT v FROM del)";
/// The key of the lead's epoch in `meta` (big-endian u64), the fencing token every write of the active main
/// carries once it leads.
pub const EPOCH_KEY: &[u8] = b"leader_epoch";

/// One row of a commit's statements: tree, key and, for a put, value.
type Entry<'a> = (&'static str, &'a [u8], Option<&'a [u8]>);

impl PgKv {
    /// From now on every write carries the lead's `epoch` as a fencing token (`None`: no fence): it lands
    /// only while `meta/leader_epoch` holds that epoch, so a main that lost the lead cannot write once another
    /// took it ([`KvError::Fenced`]).
    pub fn set_epoch(&self, epoch: Option<u64>) {
        *self.epoch.write().unwrap_or_else(|e| e.into_inner()) = epoch;
    }

    fn fence(&self) -> Option<Guard> {
        let epoch = (*self.epoch.read().unwrap_or_else(|e| e.into_inner()))?;
        Some(Guard {
            tree: "meta",
            key: EPOCH_KEY.to_vec(),
            expect: Some(epoch.to_be_bytes().to_vec()),
        })
    }

    /// Applies `batch` in one SERIALIZABLE transaction when every guard holds; [`KvError::Conflict`] when one
    /// does not, or when a concurrent transaction makes the commit fail.
    pub fn commit(&self, batch: &Batch) -> Result<(), KvError> {
        if batch.guards.is_empty() && batch.writes.is_empty() {
            return Ok(());
        }
        let mut guards = batch.guards.clone();
        let fence = self.fence();
        guards.extend(fence.clone());
        // One write per key, the last winning; sorted, so concurrent commits lock rows in the same order.
        let writes: BTreeMap<(&'static str, Bytes), Option<Bytes>> = batch
            .writes
            .iter()
            .map(|w| ((w.tree, w.key.clone()), w.value.clone()))
            .collect();
        if guards.len() + writes.len() <= CHUNK {
            return self.commit_at_once(&batch.guards, &writes);
        }
        self.run(async move |c: &mut Link| {
            let isolation = IsolationLevel::Serializable;
            let tx = c
                .client
                .build_transaction()
                .isolation_level(isolation)
                .start()
                .await?;
            let keys: Vec<_> = guards
                .iter()
                .map(|g| (g.tree, g.key.as_slice(), None))
                .collect();
            let mut found = HashMap::new();
            for row in chunked(&tx, GUARDS, &keys).await? {
                let key: (String, Bytes) = (row.try_get(0)?, row.try_get(1)?);
                found.insert(key, row.try_get::<_, Bytes>(2)?);
            }
            let holds =
                |g: &Guard| found.get(&(g.tree.to_owned(), g.key.clone())) == g.expect.as_ref();
            if let Some(fence) = &fence
                && !holds(fence)
            {
                tx.rollback().await?;
                return Err(Failure::Fenced);
            }
            if !guards.iter().all(holds) {
                tx.rollback().await?;
                return Err(Failure::Conflict);
            }
            let rows = |put: bool| -> Vec<_> {
                let rows = writes.iter().filter(|(_, v)| v.is_some() == put);
                rows.map(|((tree, key), v)| (*tree, key.as_slice(), v.as_deref()))
                    .collect()
            };
            chunked(&tx, DELETES, &rows(false)).await?;
            chunked(&tx, PUTS, &rows(true)).await?;
            if fence.is_none() {
                tx.batch_execute(ANNOUNCE).await?;
            }
            Ok(tx.commit().await?)
        })
    }

    /// A batch small enough for one statement: `BEGIN`, `vb_commit(…)` and `COMMIT` sent together, so the
    /// whole conditional write costs one round trip.
    fn commit_at_once(
        &self,
        guards: &[Guard],
        writes: &BTreeMap<(&'static str, Bytes), Option<Bytes>>,
    ) -> Result<(), KvError> {
        let fence = (*self.epoch.read().unwrap_or_else(|e| e.into_inner()))
            .map(|e| e.to_be_bytes().to_vec());
        let text = |v: Vec<&'static str>| v.into_iter().map(str::to_owned).collect::<Vec<String>>();
        let g_tree = text(guards.iter().map(|g| g.tree).collect());
        let g_key: Vec<Bytes> = guards.iter().map(|g| g.key.clone()).collect();
        let g_val: Vec<Bytes> = guards
            .iter()
            .map(|g| g.expect.clone().unwrap_or_default())
            .collect();
        let g_absent: Vec<bool> = guards.iter().map(|g| g.expect.is_none()).collect();
        let (deletes, puts): (Vec<_>, Vec<_>) = writes.iter().partition(|(_, v)| v.is_none());
        let d_tree = text(deletes.iter().map(|((t, _), _)| *t).collect());
        let d_key: Vec<Bytes> = deletes.iter().map(|((_, k), _)| k.clone()).collect();
        let p_tree = text(puts.iter().map(|((t, _), _)| *t).collect());
        let p_key: Vec<Bytes> = puts.iter().map(|((_, k), _)| k.clone()).collect();
        let p_val: Vec<Bytes> = puts
            .iter()
            .map(|(_, v)| v.as_ref().cloned().unwrap_or_default())
            .collect();
        self.run(async move |c: &mut Link| {
            let st = c.prepare_cached(COMMIT).await?;
            let params: [&(dyn ToSql + Sync); 10] = [
                &fence, &g_tree, &g_key, &g_val, &g_absent, &d_tree, &d_key, &p_tree, &p_key,
                &p_val,
            ];
            // Pipelined: the three are on the wire before the first answer comes back. A failed statement
            // aborts the transaction, and the COMMIT after it then rolls back.
            let c = &c.client;
            let (begin, outcome, end) = tokio::join!(
                c.batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE"),
                c.query_one(&st, &params),
                c.batch_execute("COMMIT"),
            );
            begin?;
            let outcome: i32 = outcome?.try_get(0)?;
            end?;
            match outcome {
                0 => Ok(()),
                1 => Err(Failure::Conflict),
                _ => Err(Failure::Fenced),
            }
        })
    }

    /// Puts (`Some`) or deletes (`None`) one key without a guard, returning what it held, in one statement.
    pub fn swap(
        &self,
        tree: &'static str,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<Option<Bytes>, KvError> {
        let mut params: Vec<Param> = vec![Box::new(tree), Box::new(key.to_vec())];
        let epoch = *self.epoch.read().unwrap_or_else(|e| e.into_inner());
        let sql = match (value, epoch) {
            (Some(value), None) => {
                params.push(Box::new(value.to_vec()));
                SWAP_PUT
            }
            (None, None) => SWAP_DELETE,
            (Some(value), Some(_)) => {
                params.push(Box::new(value.to_vec()));
                FENCED_SWAP_PUT
            }
            (None, Some(_)) => FENCED_SWAP_DELETE,
        };
        let Some(epoch) = epoch else {
            let rows = self.query(sql, params)?;
            let row = rows
                .first()
                .ok_or_else(|| KvError::Postgres("no row from a write".into()))?;
            return column(row, 0);
        };
        params.push(Box::new(epoch.to_be_bytes().to_vec()));
        params.push(Box::new(EPOCH_KEY.to_vec()));
        let rows = self.query(sql, params)?;
        let row = rows
            .first()
            .ok_or_else(|| KvError::Postgres("no row from a fenced write".into()))?;
        if !column::<bool>(row, 0)? {
            return Err(KvError::Fenced);
        }
        column(row, 1)
    }
}

/// Runs `sql` over `rows` (tree, key and, for puts, value) passed as unnest arrays, [`CHUNK`] rows at a time.
async fn chunked(
    tx: &Transaction<'_>,
    sql: &str,
    rows: &[Entry<'_>],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let mut out = Vec::new();
    if rows.is_empty() {
        return Ok(out);
    }
    let st = tx.prepare(sql).await?;
    for chunk in rows.chunks(CHUNK) {
        let trees: Vec<&str> = chunk.iter().map(|r| r.0).collect();
        let keys: Vec<&[u8]> = chunk.iter().map(|r| r.1).collect();
        let values: Vec<&[u8]> = chunk.iter().filter_map(|r| r.2).collect();
        let params: [&(dyn ToSql + Sync); 3] = [&trees, &keys, &values];
        out.extend(tx.query(&st, &params[..st.params().len()]).await?);
    }
    Ok(out)
}

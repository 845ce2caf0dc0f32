//! The SQL job store: the embedded queue, a `queue_jobs` table in the
//! project's own database.
//!
//! It exists so that `cargo run` works on a bare machine (SQLite, no Redis)
//! with the same semantics as [`crate::RedisStore`]; the conformance suite
//! runs against both. It also works on PostgreSQL, where fetch uses
//! `FOR UPDATE SKIP LOCKED` so several processes can share the table.
//!
//! Every state change is a single guarded `UPDATE` (`WHERE id = … AND state =
//! 'running' AND attempts = … AND lease_owner = …`): a statement either sees
//! the row as the caller expects or changes nothing. That gives the same
//! "stale acks are ignored" rule as the Redis scripts without long
//! transactions, and on SQLite no transaction ever upgrades a read lock to a
//! write lock (the classic `SQLITE_BUSY` deadlock).

use std::{sync::Arc, time::Duration};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, TransactionTrait, Value,
};
use tokio::sync::Notify;

use crate::error::{Error, Result};
use crate::{
    AttemptError, Completion, EnqueueOutcome, Fetched, JobFilter, JobId, JobInfo, JobPage,
    JobState, LeasedJob, NewJob, Outcome, QueueCounts, Retention, now_millis,
};

/// Expired leases and due timers handled per fetch at most.
const CHUNK: i64 = 1000;

const COLUMNS: &str = "id, queue, kind, payload, state, attempts, max_attempts, run_at, \
    created_at, updated_at, finished_at, lease_owner, lease_expires_at, idempotency_key, \
    redeliveries, last_error, errors";

/// A queue in a SQL table. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SqlStore {
    db: DatabaseConnection,
    queue: Arc<str>,
    retention: Retention,
    wake: Arc<Notify>,
}

impl SqlStore {
    /// Opens queue `queue` in `db`, whose migrations must have run.
    pub fn new(db: DatabaseConnection, queue: &str, retention: Retention) -> Self {
        Self {
            db,
            queue: queue.into(),
            retention,
            wake: Arc::new(Notify::new()),
        }
    }

    fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    fn stmt(&self, sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(self.backend(), sql, values)
    }

    /// SQL that appends the JSON in parameter `$n` to the `errors` array.
    fn append_error(&self, n: usize) -> String {
        match self.backend() {
            DbBackend::Postgres => {
                format!("(errors::jsonb || jsonb_build_array(${n}::jsonb))::text")
            }
            _ => format!("json_insert(errors, '$[#]', json(${n}))"),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.queue
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        self.db.ping().await?;
        Ok(())
    }

    pub(crate) async fn enqueue_batch(&self, jobs: Vec<NewJob>) -> Result<Vec<EnqueueOutcome>> {
        let now = now_millis();
        let tx = self.db.begin().await?;
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            let run_at = job.run_at.unwrap_or(now);
            let state = if run_at > now {
                JobState::Scheduled
            } else {
                JobState::Ready
            };
            // ON CONFLICT on the (queue, idempotency_key) unique index makes
            // the duplicate check and the insert one atomic statement.
            let inserted = tx
                .execute_raw(Statement::from_sql_and_values(
                    self.backend(),
                    "INSERT INTO queue_jobs (id, queue, kind, payload, state, attempts, max_attempts, \
                     run_at, created_at, updated_at, idempotency_key, redeliveries, errors) \
                     VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $8, $9, 0, '[]') \
                     ON CONFLICT DO NOTHING",
                    [
                        job.id.as_str().into(),
                        self.queue.to_string().into(),
                        job.kind.into(),
                        job.payload.into(),
                        state.as_str().into(),
                        (job.max_attempts as i32).into(),
                        run_at.into(),
                        now.into(),
                        job.idempotency_key.clone().into(),
                    ],
                ))
                .await?
                .rows_affected();
            if inserted == 1 {
                out.push(EnqueueOutcome {
                    id: job.id,
                    duplicate: false,
                });
                continue;
            }
            // The conflict was the idempotency key or a re-sent id (a client
            // retrying after a timeout): either way the job already exists.
            let existing = tx
                .query_one_raw(Statement::from_sql_and_values(
                    self.backend(),
                    "SELECT id FROM queue_jobs WHERE id = $1 OR (queue = $2 AND idempotency_key = $3)",
                    [
                        job.id.as_str().into(),
                        self.queue.to_string().into(),
                        job.idempotency_key.into(),
                    ],
                ))
                .await?
                .ok_or_else(|| Error::Corrupt("insert ignored without a conflicting job".into()))?;
            out.push(EnqueueOutcome {
                id: JobId::from_stored(existing.try_get("", "id")?),
                duplicate: true,
            });
        }
        tx.commit().await?;
        self.wake.notify_waiters();
        Ok(out)
    }

    pub(crate) async fn fetch(&self, worker: &str, max: usize, lease: Duration) -> Result<Fetched> {
        let now = now_millis();
        self.redeliver_expired(now).await?;

        let lock = match self.backend() {
            DbBackend::Postgres => "FOR UPDATE SKIP LOCKED",
            _ => "",
        };
        // Promote due timers so that listings and counts show them as ready.
        self.db
            .execute_raw(self.stmt(
                &format!(
                    // The outer guard matters on PostgreSQL: a row that was
                    // cancelled while this statement waited for its lock is
                    // re-checked against it and left alone.
                    "UPDATE queue_jobs SET state = 'ready', updated_at = $1 WHERE id IN \
                     (SELECT id FROM queue_jobs WHERE queue = $2 AND state IN ('scheduled', 'retrying') \
                      AND run_at <= $1 ORDER BY run_at LIMIT $3 {lock}) \
                     AND state IN ('scheduled', 'retrying') AND run_at <= $1"
                ),
                vec![now.into(), self.queue.to_string().into(), CHUNK.into()],
            ))
            .await?;

        let rows = self
            .db
            .query_all_raw(self.stmt(
                &format!(
                    // A materialized CTE picks the rows once: PostgreSQL may
                    // re-run a plain `IN (SELECT … LIMIT n)` subquery per row
                    // and lease more than `n` jobs.
                    "WITH picked AS MATERIALIZED (SELECT id FROM queue_jobs WHERE queue = $4 \
                     AND state = 'ready' ORDER BY run_at, id LIMIT $5 {lock}) \
                     UPDATE queue_jobs SET state = 'running', attempts = attempts + 1, \
                     lease_seq = lease_seq + 1, lease_owner = $1, lease_expires_at = $2, updated_at = $3 \
                     WHERE state = 'ready' AND id IN (SELECT id FROM picked) \
                     RETURNING id, kind, payload, attempts, max_attempts, run_at, lease_seq"
                ),
                vec![
                    worker.into(),
                    (now + lease.as_millis() as i64).into(),
                    now.into(),
                    self.queue.to_string().into(),
                    (max.max(1) as i64).into(),
                ],
            ))
            .await?;
        let mut jobs = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64>("", "run_at")?,
                    LeasedJob {
                        id: JobId::from_stored(r.try_get("", "id")?),
                        kind: r.try_get("", "kind")?,
                        payload: r.try_get("", "payload")?,
                        attempt: r.try_get::<i32>("", "attempts")? as u32,
                        max_attempts: r.try_get::<i32>("", "max_attempts")? as u32,
                        lease: r.try_get::<i64>("", "lease_seq")? as u64,
                    },
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        // RETURNING does not promise the subquery's order.
        jobs.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));

        let next_due_at = self
            .db
            .query_one_raw(self.stmt(
                "SELECT MIN(run_at) AS next FROM queue_jobs WHERE queue = $1 \
                 AND state IN ('scheduled', 'retrying')",
                vec![self.queue.to_string().into()],
            ))
            .await?
            .and_then(|r| r.try_get::<Option<i64>>("", "next").ok().flatten());
        Ok(Fetched {
            jobs: jobs.into_iter().map(|(_, j)| j).collect(),
            next_due_at,
        })
    }

    /// Puts jobs whose worker stopped renewing their lease back to `ready`
    /// (or `dead` when that was their last attempt), recording why.
    async fn redeliver_expired(&self, now: i64) -> Result<()> {
        let expired = self
            .db
            .query_all_raw(self.stmt(
                "SELECT id, attempts, max_attempts, lease_owner FROM queue_jobs \
                 WHERE queue = $1 AND state = 'running' AND lease_expires_at <= $2 \
                 ORDER BY lease_expires_at LIMIT $3",
                vec![self.queue.to_string().into(), now.into(), CHUNK.into()],
            ))
            .await?;
        for row in expired {
            let id: String = row.try_get("", "id")?;
            let attempts: i32 = row.try_get("", "attempts")?;
            let max: i32 = row.try_get("", "max_attempts")?;
            let owner: Option<String> = row.try_get("", "lease_owner")?;
            let owner = owner.unwrap_or_default();
            let last = attempts >= max;
            let error = if last {
                format!("lease expired on the last attempt: worker {owner} stopped renewing it")
            } else {
                format!(
                    "lease expired: worker {owner} stopped renewing it (killed or stalled); re-delivered"
                )
            };
            let record = serde_json::to_string(&AttemptError {
                attempt: attempts as u32,
                at: now,
                worker: owner.clone(),
                error: error.clone(),
            })?;
            let (state, finished, redelivered) = if last {
                ("dead", Some(now), 0)
            } else {
                ("ready", None, 1i32)
            };
            self.db
                .execute_raw(self.stmt(
                    &format!(
                        "UPDATE queue_jobs SET state = $1, updated_at = $2, run_at = $2, finished_at = $3, \
                         lease_owner = NULL, lease_expires_at = NULL, last_error = $4, \
                         redeliveries = redeliveries + $5, errors = {} \
                         WHERE id = $7 AND state = 'running' AND attempts = $8 AND lease_expires_at <= $2",
                        self.append_error(6)
                    ),
                    vec![
                        state.into(),
                        now.into(),
                        finished.into(),
                        error.into(),
                        redelivered.into(),
                        record.into(),
                        id.into(),
                        attempts.into(),
                    ],
                ))
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn renew(
        &self,
        worker: &str,
        jobs: &[(JobId, u64)],
        lease: Duration,
    ) -> Result<Vec<JobId>> {
        let expires = now_millis() + lease.as_millis() as i64;
        let mut lost = Vec::new();
        for (id, seq) in jobs {
            let n = self
                .db
                .execute_raw(self.stmt(
                    "UPDATE queue_jobs SET lease_expires_at = $1 WHERE id = $2 \
                     AND state = 'running' AND lease_seq = $3 AND lease_owner = $4",
                    vec![
                        expires.into(),
                        id.as_str().into(),
                        (*seq as i64).into(),
                        worker.into(),
                    ],
                ))
                .await?
                .rows_affected();
            if n == 0 {
                lost.push(id.clone());
            }
        }
        Ok(lost)
    }

    pub(crate) async fn complete(&self, worker: &str, done: Vec<Completion>) -> Result<usize> {
        let now = now_millis();
        // One transaction for the batch: one fsync instead of one per job.
        // Every statement in it writes, so SQLite takes the write lock on the
        // first one and never has to upgrade.
        let tx = self.db.begin().await?;
        let guard = "WHERE id = $1 AND state = 'running' AND lease_seq = $2 AND lease_owner = $3";
        let mut applied = 0;
        for c in done {
            let mut values: Vec<Value> = vec![
                c.id.as_str().into(),
                (c.lease as i64).into(),
                worker.into(),
                now.into(),
            ];
            let sql = match &c.outcome {
                Outcome::Succeeded if self.retention.succeeded.is_zero() => {
                    format!("DELETE FROM queue_jobs {guard}")
                }
                Outcome::Succeeded => format!(
                    "UPDATE queue_jobs SET state = 'succeeded', updated_at = $4, finished_at = $4, \
                     lease_owner = NULL, lease_expires_at = NULL {guard}"
                ),
                Outcome::Retry { error, .. } | Outcome::Dead { error } => {
                    let record = serde_json::to_string(&AttemptError {
                        attempt: c.attempt,
                        at: now,
                        worker: worker.to_string(),
                        error: error.clone(),
                    })?;
                    let (state, run_at, finished) = match &c.outcome {
                        Outcome::Retry { at, .. } => ("retrying", Some(*at), None),
                        _ => ("dead", None, Some(now)),
                    };
                    values.extend([
                        state.into(),
                        run_at.into(),
                        finished.into(),
                        error.clone().into(),
                        record.into(),
                    ]);
                    format!(
                        "UPDATE queue_jobs SET state = $5, run_at = COALESCE($6, run_at), finished_at = $7, \
                         last_error = $8, errors = {}, updated_at = $4, lease_owner = NULL, \
                         lease_expires_at = NULL {guard}",
                        self.append_error(9)
                    )
                }
                Outcome::Released => format!(
                    "UPDATE queue_jobs SET state = 'ready', attempts = attempts - 1, updated_at = $4, \
                     lease_owner = NULL, lease_expires_at = NULL {guard}"
                ),
            };
            applied += tx
                .execute_raw(Statement::from_sql_and_values(self.backend(), sql, values))
                .await?
                .rows_affected() as usize;
        }
        tx.commit().await?;
        self.wake.notify_waiters();
        Ok(applied)
    }

    pub(crate) async fn counts(&self) -> Result<QueueCounts> {
        let rows = self
            .db
            .query_all_raw(self.stmt(
                "SELECT state, COUNT(*) AS n FROM queue_jobs WHERE queue = $1 GROUP BY state",
                vec![self.queue.to_string().into()],
            ))
            .await?;
        let mut counts: Vec<(JobState, u64)> = JobState::ALL.iter().map(|s| (*s, 0)).collect();
        for row in rows {
            let state: String = row.try_get("", "state")?;
            let n: i64 = row.try_get("", "n")?;
            let state = JobState::parse(&state)
                .ok_or_else(|| Error::Corrupt(format!("queue_jobs has state {state:?}")))?;
            if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == state) {
                slot.1 = n as u64;
            }
        }
        let oldest = self
            .db
            .query_one_raw(self.stmt(
                "SELECT MIN(run_at) AS oldest FROM queue_jobs WHERE queue = $1 AND state = 'ready'",
                vec![self.queue.to_string().into()],
            ))
            .await?
            .and_then(|r| r.try_get::<Option<i64>>("", "oldest").ok().flatten());
        Ok(QueueCounts {
            queue: self.queue.to_string(),
            counts,
            oldest_ready_age_ms: oldest.map(|t| (now_millis() - t).max(0)),
        })
    }

    pub(crate) async fn list(&self, filter: &JobFilter) -> Result<JobPage> {
        let limit = filter.limit.clamp(1, 500) as i64;
        let order = match filter.state {
            JobState::Succeeded | JobState::Dead | JobState::Cancelled => {
                "finished_at DESC, id DESC"
            }
            JobState::Running => "lease_expires_at, id",
            _ => "run_at, id",
        };
        let mut values: Vec<Value> = vec![
            self.queue.to_string().into(),
            filter.state.as_str().into(),
            (limit + 1).into(),
            (filter.cursor as i64).into(),
        ];
        let kind = match &filter.kind {
            Some(k) => {
                values.push(k.clone().into());
                "AND kind = $5"
            }
            None => "",
        };
        let rows = self
            .db
            .query_all_raw(self.stmt(
                &format!(
                    "SELECT {COLUMNS} FROM queue_jobs WHERE queue = $1 AND state = $2 {kind} \
                     ORDER BY {order} LIMIT $3 OFFSET $4"
                ),
                values,
            ))
            .await?;
        let more = rows.len() as i64 > limit;
        let jobs = rows
            .iter()
            .take(limit as usize)
            .map(decode_job)
            .collect::<Result<Vec<_>>>()?;
        Ok(JobPage {
            jobs,
            next: more.then_some(filter.cursor + limit as u64),
        })
    }

    pub(crate) async fn get(&self, id: &JobId) -> Result<Option<JobInfo>> {
        let row = self
            .db
            .query_one_raw(self.stmt(
                &format!("SELECT {COLUMNS} FROM queue_jobs WHERE id = $1 AND queue = $2"),
                vec![id.as_str().into(), self.queue.to_string().into()],
            ))
            .await?;
        row.as_ref().map(decode_job).transpose()
    }

    pub(crate) async fn get_many_by_id(&self, ids: &[JobId]) -> Result<Vec<Option<JobInfo>>> {
        let mut found = std::collections::HashMap::with_capacity(ids.len());
        // Bounded statements: SQLite allows 32,766 parameters, keep far below.
        for chunk in ids.chunks(500) {
            let marks = (0..chunk.len())
                .map(|i| format!("${}", i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let mut values: Vec<sea_orm::Value> = vec![self.queue.to_string().into()];
            values.extend(chunk.iter().map(|id| id.as_str().into()));
            let rows = self
                .db
                .query_all_raw(self.stmt(
                    &format!(
                        "SELECT {COLUMNS} FROM queue_jobs WHERE queue = $1 AND id IN ({marks})"
                    ),
                    values,
                ))
                .await?;
            for row in &rows {
                let job = decode_job(row)?;
                found.insert(job.id.clone(), job);
            }
        }
        Ok(ids.iter().map(|id| found.remove(id)).collect())
    }

    pub(crate) async fn retry(&self, id: &JobId) -> Result<JobState> {
        // Read the state, then update only if it is still that state: the
        // caller learns what the job left, and a concurrent change makes the
        // update a no-op that is reported as a refusal.
        let Some(before) = self.get(id).await? else {
            return Err(Error::NotFound(id.to_string()));
        };
        let now = now_millis();
        let n = self
            .db
            .execute_raw(self.stmt(
                "UPDATE queue_jobs SET state = 'ready', attempts = 0, run_at = $1, updated_at = $1, \
                 finished_at = NULL WHERE id = $2 AND queue = $3 AND state = $4 \
                 AND state IN ('dead', 'retrying', 'cancelled')",
                vec![
                    now.into(),
                    id.as_str().into(),
                    self.queue.to_string().into(),
                    before.state.as_str().into(),
                ],
            ))
            .await?
            .rows_affected();
        if n == 1 {
            self.wake.notify_waiters();
            return Ok(before.state);
        }
        Err(self
            .refusal(id, "only dead, retrying or cancelled jobs can be retried")
            .await)
    }

    pub(crate) async fn cancel(&self, id: &JobId) -> Result<JobState> {
        let before = self.get(id).await?;
        let Some(before) = before else {
            return Err(Error::NotFound(id.to_string()));
        };
        let now = now_millis();
        let n = self
            .db
            .execute_raw(self.stmt(
                "UPDATE queue_jobs SET state = 'cancelled', updated_at = $1, finished_at = $1, \
                 last_error = 'cancelled by ops' WHERE id = $2 AND queue = $3 AND state = $4 \
                 AND state IN ('scheduled', 'ready', 'retrying')",
                vec![
                    now.into(),
                    id.as_str().into(),
                    self.queue.to_string().into(),
                    before.state.as_str().into(),
                ],
            ))
            .await?
            .rows_affected();
        if n == 1 {
            Ok(before.state)
        } else {
            Err(self
                .refusal(
                    id,
                    "only scheduled, ready or retrying jobs can be cancelled",
                )
                .await)
        }
    }

    async fn refusal(&self, id: &JobId, rule: &'static str) -> Error {
        match self.get(id).await {
            Ok(Some(job)) => Error::InvalidState {
                id: id.to_string(),
                state: job.state.to_string(),
                reason: rule,
            },
            Ok(None) => Error::NotFound(id.to_string()),
            Err(e) => e,
        }
    }

    pub(crate) async fn requeue_dead(&self, kind: &str) -> Result<u64> {
        let now = now_millis();
        let n = self
            .db
            .execute_raw(self.stmt(
                "UPDATE queue_jobs SET state = 'ready', attempts = 0, run_at = $1, updated_at = $1, \
                 finished_at = NULL WHERE queue = $2 AND kind = $3 AND state = 'dead'",
                vec![now.into(), self.queue.to_string().into(), kind.into()],
            ))
            .await?
            .rows_affected();
        if n > 0 {
            self.wake.notify_waiters();
        }
        Ok(n)
    }

    pub(crate) async fn purge_expired(&self) -> Result<u64> {
        let now = now_millis();
        let ok_cutoff = now - self.retention.succeeded.as_millis() as i64;
        let dead_cutoff = now - self.retention.dead.as_millis() as i64;
        let n = self
            .db
            .execute_raw(self.stmt(
                "DELETE FROM queue_jobs WHERE queue = $1 AND ( \
                 (state = 'succeeded' AND finished_at < $2) OR \
                 (state IN ('dead', 'cancelled') AND finished_at < $3))",
                vec![
                    self.queue.to_string().into(),
                    ok_cutoff.into(),
                    dead_cutoff.into(),
                ],
            ))
            .await?
            .rows_affected();
        Ok(n)
    }

    pub(crate) fn wakeup(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

fn decode_job(r: &QueryResult) -> Result<JobInfo> {
    let state: String = r.try_get("", "state")?;
    let errors: String = r.try_get("", "errors")?;
    Ok(JobInfo {
        id: JobId::from_stored(r.try_get("", "id")?),
        queue: r.try_get("", "queue")?,
        kind: r.try_get("", "kind")?,
        state: JobState::parse(&state)
            .ok_or_else(|| Error::Corrupt(format!("queue_jobs has state {state:?}")))?,
        payload: r.try_get("", "payload")?,
        attempts: r.try_get::<i32>("", "attempts")? as u32,
        max_attempts: r.try_get::<i32>("", "max_attempts")? as u32,
        created_at: r.try_get("", "created_at")?,
        run_at: r.try_get("", "run_at")?,
        updated_at: r.try_get("", "updated_at")?,
        finished_at: r.try_get("", "finished_at")?,
        lease_owner: r.try_get("", "lease_owner")?,
        lease_expires_at: r.try_get("", "lease_expires_at")?,
        idempotency_key: r.try_get("", "idempotency_key")?,
        redeliveries: r.try_get::<i32>("", "redeliveries")? as u32,
        last_error: r.try_get("", "last_error")?,
        errors: serde_json::from_str(&errors)?,
    })
}

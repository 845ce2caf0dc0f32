//! The Redis job store: production queue for many worker processes.
//!
//! # Layout
//!
//! Every key of a queue shares the prefix `{prefix}:{<queue>}`; the braces
//! are a Redis Cluster hash tag, so a queue's keys sit in one slot and its Lua
//! scripts stay single-slot.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `…:job:<id>` | hash | the job: `s` state, `q` lease sequence, `o` lease owner (meaningful while running), `a` attempts, `f` finished, `m` max attempts, `k` kind, `c` created, `r` run at, `u` updated, `i` idempotency key, `d` re-deliveries, `p` payload, `l` last error; in that order, hot fields first (see *Cost*) |
//! | `…:errors:<id>` | list | one JSON [`AttemptError`] per failed attempt |
//! | `…:ready` | list | due job ids, FIFO |
//! | `…:scheduled` / `…:retry` | zset | ids by `run_at`; `…:scheduled` also holds compact timers (below) |
//! | `…:leases` | zset | running ids by lease expiry, and one sentinel member (below) |
//! | `…:done` / `…:dead` / `…:cancelled` | zset | finished ids by finish time (for listing and retention) |
//! | `…:idem:<key>` | string | the id owning an idempotency key |
//! | `…:wake` | pub/sub channel | "work may be available" |
//!
//! # Compact timers
//!
//! A job enqueued with [`NewJob::timer`] (a probation timer, months ahead,
//! a million of them at once) is not a hash, an index entry and a key but a
//! single member of `…:scheduled`: `R kind \x1f max \x1f key \x1f payload`,
//! where `R` is 16 base-32 digits of SHA-1 of its idempotency key. Its id is
//! the ULID made of its due time and `R`, so it is derived, never stored,
//! and a repeated enqueue finds the timer by its member. When it comes due,
//! `fetch.lua` turns it into an ordinary job hash on its way to `ready`;
//! cancelling it does the same, straight to `cancelled`. Looking one up by
//! id is a binary search among the members of its due time (`find_timer` in
//! `lua/timer.lua`). This is what keeps a million pending timers within
//! 300 MB: about 257 bytes each instead of 1,381 for a full job (728 with
//! `hash-max-listpack-value 128`).
//!
//! # Cost
//!
//! Fetch, ack and renew are each one Lua script per *batch*: a worker pays
//! one round trip per up to `fetch_batch` jobs, and every step inside the
//! scripts is O(batch) or O(log n), never O(backlog). Promotion of due timers
//! and re-delivery of expired leases happen in bounded chunks on every fetch,
//! so a million timers coming due at once drain steadily instead of wedging
//! the queue (apalis-redis 1.0.0 unpacks every due id into one Lua call and
//! dies at ~8,000).
//!
//! Per job, Redis's CPU goes mostly to hash fields and index members, so the
//! hot path touches as few as it can (docs/PERFORMANCE.md has the counts):
//!
//! * a job's hash is written with the fields a fetch and an ack touch first
//!   and the payload last: a small hash is a listpack, searched in order;
//! * a lease's expiry is kept once, as its score in `…:leases`, not also in
//!   the hash, so a renewal writes no hash;
//! * `…:leases` always holds [`LEASE_SENTINEL`], a member longer than 64
//!   bytes with score +inf, which keeps it a skiplist: a zset of up to 128
//!   short members (one worker at the default concurrency of 64) would be a
//!   listpack, scanned and moved in memory on every lease and every ack.
//!   Readers count and list leases below +inf, so it never shows;
//! * a success writes `s` and `f` and sets no TTL: succeeded jobs are
//!   retired by `purge.lua`, a chunk per call, from the `…:done` index that
//!   records their finish times (dead and cancelled jobs, rare, keep TTLs).

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use redis::{AsyncCommands, Script, Value, aio::ConnectionManager};
use tokio::sync::{Notify, OnceCell};

use crate::error::{Error, Result};
use crate::{
    AttemptError, Completion, EnqueueOutcome, Fetched, JobFilter, JobId, JobInfo, JobPage,
    JobState, LeasedJob, Millis, NewJob, Outcome, QueueCounts, Retention, now_millis,
};

/// How many expired leases and due timers one fetch moves at most. Keeps
/// each script short (Redis is single-threaded) and well under Lua's unpack
/// limit.
const PROMOTE_CHUNK: usize = 1000;

/// The largest batch a fetch may ask for (the same unpack limit).
const MAX_FETCH: usize = 1000;

/// The member that keeps `…:leases` a skiplist (see *Cost* above): longer
/// than Redis's 64-byte listpack limit, and no job id looks like it.
const LEASE_SENTINEL: &str =
    "~lease-index-sentinel~keeps-this-zset-a-skiplist~never-a-job~0123456789";

struct Scripts {
    enqueue: Script,
    fetch: Script,
    complete: Script,
    renew: Script,
    retry: Script,
    cancel: Script,
    find: Script,
    purge: Script,
}

impl Scripts {
    fn load() -> Self {
        // The scripts that meet compact timers share their helpers by
        // prefix: Redis scripts cannot import one another.
        let with_timers =
            |script: &str| Script::new(&format!("{}{script}", include_str!("lua/timer.lua")));
        Self {
            enqueue: with_timers(include_str!("lua/enqueue.lua")),
            fetch: with_timers(include_str!("lua/fetch.lua")),
            complete: Script::new(include_str!("lua/complete.lua")),
            renew: Script::new(include_str!("lua/renew.lua")),
            retry: Script::new(include_str!("lua/retry.lua")),
            cancel: with_timers(include_str!("lua/cancel.lua")),
            find: with_timers(include_str!("lua/find.lua")),
            purge: Script::new(include_str!("lua/purge.lua")),
        }
    }
}

/// The separator inside a compact timer member; ids never hold it.
const TIMER_SEP: char = '\x1f';

/// Whether `job` is kept as a compact timer. Decided by the job alone,
/// never by the clock, so the same timer armed twice takes the same layout
/// and is found as a duplicate.
fn is_compact_timer(job: &NewJob, now: Millis) -> bool {
    let run_at = job.run_at.unwrap_or(now);
    job.timer
        && job
            .idempotency_key
            .as_deref()
            .is_some_and(|k| !k.is_empty() && !k.contains(TIMER_SEP))
        && !job.kind.contains(TIMER_SEP)
        && (0..1i64 << 48).contains(&run_at)
}

/// A compact timer member's fields: `R`, kind, max attempts, key, payload.
fn split_timer(member: &str) -> Option<(&str, &str, &str, &str, &str)> {
    let (r, rest) = member.split_at_checked(16)?;
    let mut fields = rest.splitn(4, TIMER_SEP);
    Some((
        r,
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    ))
}

/// A compact timer member read back as a job (see the module docs).
fn decode_timer(member: &str, score: Millis, queue: &str) -> Result<JobInfo> {
    let corrupt = || Error::Corrupt(format!("unreadable timer {member:?}"));
    let (r, kind, max, key, payload) = split_timer(member).ok_or_else(corrupt)?;
    let time = ulid::Ulid::from_parts(score as u64, 0).to_string();
    Ok(JobInfo {
        id: JobId::from_stored(format!("{}{r}", &time[..10])),
        queue: queue.to_string(),
        kind: kind.to_string(),
        state: JobState::Scheduled,
        payload: payload.to_string(),
        attempts: 0,
        max_attempts: max.parse().map_err(|_| corrupt())?,
        // A compact timer keeps no enqueue or update time.
        created_at: 0,
        run_at: score,
        updated_at: 0,
        finished_at: None,
        lease_owner: None,
        lease_expires_at: None,
        idempotency_key: Some(key.to_string()),
        redeliveries: 0,
        last_error: None,
        errors: Vec::new(),
    })
}

fn is_timer_member(entry: &str) -> bool {
    entry.contains(TIMER_SEP)
}

struct Inner {
    client: redis::Client,
    conn: ConnectionManager,
    queue: String,
    base: String,
    retention: Retention,
    scripts: Scripts,
    wake: Arc<Notify>,
    listener: OnceCell<()>,
}

/// A queue in Redis. Cheap to clone: clones share one multiplexed connection.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client holds the URL, which may carry a password: never print it.
        f.debug_struct("RedisStore")
            .field("base", &self.inner.base)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` and opens queue `queue` under key prefix `prefix`.
    ///
    /// The connection reconnects by itself after Redis restarts, and its
    /// response timeout is 10 s rather than redis-rs's 500 ms default: a
    /// large ops listing must not look like a dead server.
    ///
    /// # Errors
    /// An invalid URL or an unreachable server.
    pub async fn connect(
        url: &str,
        prefix: &str,
        queue: &str,
        retention: Retention,
    ) -> Result<Self> {
        Self::connect_client(redis::Client::open(url)?, prefix, queue, retention).await
    }

    /// [`RedisStore::connect`] through a client built by the caller: one
    /// for `rediss://` that trusts a private CA
    /// (`redis::Client::build_with_tls`).
    ///
    /// # Errors
    /// An unreachable server or a failed TLS handshake.
    pub async fn connect_client(
        client: redis::Client,
        prefix: &str,
        queue: &str,
        retention: Retention,
    ) -> Result<Self> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_max_delay(Duration::from_secs(2));
        let conn = client.get_connection_manager_with_config(config).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                conn,
                queue: queue.to_string(),
                base: format!("{prefix}:{{{queue}}}"),
                retention,
                scripts: Scripts::load(),
                wake: Arc::new(Notify::new()),
                listener: OnceCell::new(),
            }),
        })
    }

    /// Deletes every key under `prefix` on the Redis at `url` (`SCAN` +
    /// `UNLINK`, 10,000 keys a round), whatever wrote them; returns how many.
    /// For runs that create a throw-away prefix and must leave Redis as they
    /// found it: the benchmarks. Never point it at a production prefix.
    ///
    /// # Errors
    /// An invalid URL or a Redis error.
    pub async fn delete_prefix(url: &str, prefix: &str) -> Result<u64> {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let pattern = format!("{prefix}:*");
        let (mut cursor, mut deleted) = (0u64, 0u64);
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(10_000)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                deleted += redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async::<u64>(&mut conn)
                    .await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.inner.base)
    }

    fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    pub(crate) fn name(&self) -> &str {
        &self.inner.queue
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        let _: String = redis::cmd("PING").query_async(&mut self.conn()).await?;
        Ok(())
    }

    pub(crate) async fn enqueue_batch(&self, jobs: Vec<NewJob>) -> Result<Vec<EnqueueOutcome>> {
        let now = now_millis();
        let mut inv = self.inner.scripts.enqueue.prepare_invoke();
        inv.key(self.key("ready")).key(self.key("scheduled"));
        inv.arg(&self.inner.base).arg(now);
        for job in &jobs {
            inv.arg(job.id.as_str())
                .arg(&job.kind)
                .arg(&job.payload)
                .arg(job.run_at.unwrap_or(now))
                .arg(job.max_attempts)
                .arg(job.idempotency_key.as_deref().unwrap_or(""))
                .arg(if is_compact_timer(job, now) { "1" } else { "0" });
        }
        let flat: Vec<Value> = inv.invoke_async(&mut self.conn()).await?;
        self.inner.wake.notify_waiters();
        flat.chunks_exact(2)
            .map(|pair| {
                Ok(EnqueueOutcome {
                    id: JobId::from_stored(as_string(&pair[0])?),
                    duplicate: as_i64(&pair[1])? == 1,
                })
            })
            .collect()
    }

    pub(crate) async fn fetch(&self, worker: &str, max: usize, lease: Duration) -> Result<Fetched> {
        let now = now_millis();
        let (jobs, next_due): (Vec<Value>, Value) = self
            .inner
            .scripts
            .fetch
            .key(self.key("ready"))
            .key(self.key("scheduled"))
            .key(self.key("retry"))
            .key(self.key("leases"))
            .key(self.key("dead"))
            .arg(&self.inner.base)
            .arg(now)
            .arg(max.clamp(1, MAX_FETCH))
            .arg(lease.as_millis() as i64)
            .arg(worker)
            .arg(PROMOTE_CHUNK)
            .arg(self.inner.retention.dead.as_millis() as i64)
            .arg(LEASE_SENTINEL)
            .invoke_async(&mut self.conn())
            .await?;
        let jobs = jobs
            .chunks_exact(6)
            .map(|f| {
                Ok(LeasedJob {
                    id: JobId::from_stored(as_string(&f[0])?),
                    kind: as_string(&f[1])?,
                    payload: as_string(&f[2])?,
                    attempt: as_i64(&f[3])? as u32,
                    max_attempts: as_i64(&f[4])? as u32,
                    lease: as_i64(&f[5])? as u64,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next_due_at = match next_due {
            Value::Nil => None,
            v => as_string(&v)?.parse::<f64>().ok().map(|f| f as i64),
        };
        Ok(Fetched { jobs, next_due_at })
    }

    pub(crate) async fn renew(
        &self,
        worker: &str,
        jobs: &[(JobId, u64)],
        lease: Duration,
    ) -> Result<Vec<JobId>> {
        let mut lost_all = Vec::new();
        // Bounded scripts: at most MAX_FETCH leases per call.
        for chunk in jobs.chunks(MAX_FETCH) {
            let mut inv = self.inner.scripts.renew.prepare_invoke();
            inv.key(self.key("leases"))
                .arg(&self.inner.base)
                .arg(lease.as_millis() as i64)
                .arg(worker);
            for (id, seq) in chunk {
                inv.arg(id.as_str()).arg(*seq);
            }
            let lost: Vec<String> = inv.invoke_async(&mut self.conn()).await?;
            lost_all.extend(lost.into_iter().map(JobId::from_stored));
        }
        Ok(lost_all)
    }

    pub(crate) async fn complete(&self, worker: &str, done: Vec<Completion>) -> Result<usize> {
        let mut applied = 0;
        for chunk in done.chunks(MAX_FETCH) {
            applied += self.complete_chunk(worker, chunk).await?;
        }
        Ok(applied)
    }

    async fn complete_chunk(&self, worker: &str, done: &[Completion]) -> Result<usize> {
        let mut inv = self.inner.scripts.complete.prepare_invoke();
        inv.key(self.key("ready"))
            .key(self.key("retry"))
            .key(self.key("leases"))
            .key(self.key("done"))
            .key(self.key("dead"))
            .arg(&self.inner.base)
            .arg(now_millis())
            .arg(worker)
            .arg(self.inner.retention.succeeded.as_millis() as i64)
            .arg(self.inner.retention.dead.as_millis() as i64);
        for c in done {
            let (code, at, error) = match &c.outcome {
                Outcome::Succeeded => ("s", 0, ""),
                Outcome::Retry { at, error } => ("r", *at, error.as_str()),
                Outcome::Dead { error } => ("d", 0, error.as_str()),
                Outcome::Released => ("x", 0, ""),
            };
            inv.arg(c.id.as_str())
                .arg(c.attempt)
                .arg(c.lease)
                .arg(code)
                .arg(at)
                .arg(error);
        }
        let applied: usize = inv.invoke_async(&mut self.conn()).await?;
        Ok(applied)
    }

    fn state_index(&self, state: JobState) -> String {
        self.key(match state {
            JobState::Scheduled => "scheduled",
            JobState::Ready => "ready",
            JobState::Running => "leases",
            JobState::Retrying => "retry",
            JobState::Succeeded => "done",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        })
    }

    pub(crate) async fn counts(&self) -> Result<QueueCounts> {
        let mut pipe = redis::pipe();
        for state in JobState::ALL {
            match state {
                JobState::Ready => pipe.llen(self.state_index(state)),
                // Below +inf: not the sentinel.
                JobState::Running => pipe.zcount(self.state_index(state), "-inf", "(+inf"),
                _ => pipe.zcard(self.state_index(state)),
            };
        }
        pipe.lindex(self.key("ready"), 0);
        let mut conn = self.conn();
        let mut values: Vec<Value> = pipe.query_async(&mut conn).await?;
        let oldest = values.pop().unwrap_or(Value::Nil);
        let counts = JobState::ALL
            .into_iter()
            .zip(values.iter())
            .map(|(s, v)| Ok((s, as_i64(v)? as u64)))
            .collect::<Result<Vec<_>>>()?;
        let oldest_ready_age_ms = match oldest {
            Value::Nil => None,
            v => {
                let id = as_string(&v)?;
                let run_at: Option<i64> = conn.hget(self.key(&format!("job:{id}")), "r").await?;
                run_at.map(|r| (now_millis() - r).max(0))
            }
        };
        Ok(QueueCounts {
            queue: self.inner.queue.clone(),
            counts,
            oldest_ready_age_ms,
        })
    }

    /// Ids from a state index, `start..=stop` in listing order (newest first
    /// for finished states, due order otherwise).
    async fn index_range(&self, state: JobState, start: u64, stop: u64) -> Result<Vec<String>> {
        let key = self.state_index(state);
        let mut conn = self.conn();
        let (start, stop) = (start as isize, stop as isize);
        Ok(match state {
            JobState::Ready => conn.lrange(key, start, stop).await?,
            JobState::Succeeded | JobState::Dead | JobState::Cancelled => {
                conn.zrevrange(key, start, stop).await?
            }
            JobState::Running => {
                // By score below +inf, so the sentinel is never listed.
                redis::cmd("ZRANGEBYSCORE")
                    .arg(key)
                    .arg("-inf")
                    .arg("(+inf")
                    .arg("LIMIT")
                    .arg(start)
                    .arg(stop - start + 1)
                    .query_async(&mut conn)
                    .await?
            }
            _ => conn.zrange(key, start, stop).await?,
        })
    }

    pub(crate) async fn list(&self, filter: &JobFilter) -> Result<JobPage> {
        let limit = filter.limit.clamp(1, 500) as usize;
        // Without a kind filter a page is one index range. With one, walk the
        // index in chunks and keep matching jobs, scanning a bounded number
        // of ids per call; the cursor says where the next call resumes.
        const SCAN_CHUNK: u64 = 200;
        const SCAN_BUDGET: u64 = 10_000;
        let mut cursor = filter.cursor;
        let mut ids = Vec::new();
        let mut exhausted = false;
        match &filter.kind {
            None => {
                ids = self
                    .index_range(filter.state, cursor, cursor + limit as u64)
                    .await?;
                if ids.len() > limit {
                    ids.truncate(limit);
                    cursor += limit as u64;
                } else {
                    exhausted = true;
                }
            }
            Some(kind) => {
                let mut scanned = 0;
                'scan: while ids.len() < limit && scanned < SCAN_BUDGET {
                    let chunk = self
                        .index_range(filter.state, cursor, cursor + SCAN_CHUNK - 1)
                        .await?;
                    if chunk.is_empty() {
                        exhausted = true;
                        break;
                    }
                    let kinds = self.kinds_of(&chunk).await?;
                    for (id, k) in chunk.iter().zip(kinds) {
                        cursor += 1;
                        scanned += 1;
                        if k.as_deref() == Some(kind.as_str()) {
                            ids.push(id.clone());
                            if ids.len() == limit {
                                break 'scan;
                            }
                        }
                    }
                    if (chunk.len() as u64) < SCAN_CHUNK {
                        exhausted = true;
                        break;
                    }
                }
            }
        }
        let jobs = self.get_many(&ids).await?;
        Ok(JobPage {
            jobs,
            next: (!exhausted).then_some(cursor),
        })
    }

    /// The kind of each index entry (`None` for a job gone meanwhile): a
    /// compact timer names its kind itself, a job id costs an `HGET`.
    async fn kinds_of(&self, entries: &[String]) -> Result<Vec<Option<String>>> {
        let mut pipe = redis::pipe();
        let mut any = false;
        for id in entries.iter().filter(|e| !is_timer_member(e)) {
            pipe.hget(self.key(&format!("job:{id}")), "k");
            any = true;
        }
        // Redis refuses an empty pipeline.
        let hashed: Vec<Option<String>> = if any {
            pipe.query_async(&mut self.conn()).await?
        } else {
            Vec::new()
        };
        let mut hashed = hashed.into_iter();
        Ok(entries
            .iter()
            .map(|e| {
                if is_timer_member(e) {
                    split_timer(e).map(|(_, kind, ..)| kind.to_string())
                } else {
                    hashed.next().flatten()
                }
            })
            .collect())
    }

    /// The jobs behind index entries, in their order: job ids and, from
    /// `…:scheduled`, compact timer members.
    async fn get_many(&self, entries: &[String]) -> Result<Vec<JobInfo>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for entry in entries {
            if is_timer_member(entry) {
                pipe.zscore(self.key("scheduled"), entry);
            } else {
                pipe.hgetall(self.key(&format!("job:{entry}")));
                pipe.lrange(self.key(&format!("errors:{entry}")), 0, -1);
                pipe.zscore(self.key("leases"), entry);
            }
        }
        let mut replies = pipe
            .query_async::<Vec<Value>>(&mut self.conn())
            .await?
            .into_iter();
        let mut jobs = Vec::with_capacity(entries.len());
        for entry in entries {
            if is_timer_member(entry) {
                // Nil when it came due (or was cancelled) meanwhile.
                match replies.next() {
                    Some(Value::Nil) | None => {}
                    Some(score) => {
                        jobs.push(decode_timer(entry, as_score(&score)?, &self.inner.queue)?)
                    }
                }
            } else {
                let unreadable =
                    |e: redis::ParsingError| Error::Corrupt(format!("unreadable job {entry}: {e}"));
                let fields: std::collections::HashMap<String, String> =
                    redis::from_redis_value(replies.next().unwrap_or(Value::Nil))
                        .map_err(unreadable)?;
                let errors: Vec<String> =
                    redis::from_redis_value(replies.next().unwrap_or(Value::Nil))
                        .map_err(unreadable)?;
                let lease_expiry: Option<f64> =
                    redis::from_redis_value(replies.next().unwrap_or(Value::Nil))
                        .map_err(unreadable)?;
                // A job can expire between the index read and this read.
                if fields.is_empty() {
                    continue;
                }
                jobs.push(self.decode_job(
                    entry,
                    fields,
                    errors,
                    lease_expiry.map(|s| s as Millis),
                )?);
            }
        }
        Ok(jobs)
    }

    /// Timers still waiting compactly, found by their ids (`None` where
    /// none waits), in the order asked; one script per 1,000 ids.
    async fn find_timers(&self, ids: &[&JobId]) -> Result<Vec<Option<JobInfo>>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MAX_FETCH) {
            let mut inv = self.inner.scripts.find.prepare_invoke();
            inv.key(self.key("scheduled"));
            for id in chunk {
                inv.arg(id.as_str());
            }
            let flat: Vec<String> = inv.invoke_async(&mut self.conn()).await?;
            for pair in flat.chunks_exact(2) {
                found.push(match (pair[0].as_str(), pair[1].as_str()) {
                    ("", _) => None,
                    (member, score) => {
                        let score = score
                            .parse()
                            .map_err(|_| Error::Corrupt(format!("timer score {score:?}")))?;
                        Some(decode_timer(member, score, &self.inner.queue)?)
                    }
                });
            }
        }
        Ok(found)
    }

    async fn find_timer(&self, id: &JobId) -> Result<Option<JobInfo>> {
        Ok(self.find_timers(&[id]).await?.pop().flatten())
    }

    /// Jobs by id, `None` where there is none, in the order asked: one
    /// pipeline for the job hashes, one script for the rest (compact timers).
    pub(crate) async fn get_many_by_id(&self, ids: &[JobId]) -> Result<Vec<Option<JobInfo>>> {
        let entries: Vec<String> = ids.iter().map(|id| id.as_str().to_string()).collect();
        let mut hashed: std::collections::HashMap<JobId, JobInfo> = self
            .get_many(&entries)
            .await?
            .into_iter()
            .map(|job| (job.id.clone(), job))
            .collect();
        let missing: Vec<&JobId> = ids.iter().filter(|id| !hashed.contains_key(id)).collect();
        let mut timers = self.find_timers(&missing).await?.into_iter();
        Ok(ids
            .iter()
            .map(|id| match hashed.remove(id) {
                Some(job) => Some(job),
                None => timers.next().flatten(),
            })
            .collect())
    }

    fn decode_job(
        &self,
        id: &str,
        mut f: std::collections::HashMap<String, String>,
        errors: Vec<String>,
        lease_expiry: Option<Millis>,
    ) -> Result<JobInfo> {
        let mut take = |k: &str| f.remove(k).filter(|v| !v.is_empty());
        let num = |v: Option<String>| v.and_then(|s| s.parse::<i64>().ok());
        let state_text = take("s").unwrap_or_default();
        let state = JobState::parse(&state_text)
            .ok_or_else(|| Error::Corrupt(format!("job {id} has state {state_text:?}")))?;
        let errors = errors
            .iter()
            .map(|e| serde_json::from_str::<AttemptError>(e))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        // The owner and the expiry describe a lease: a finished job keeps
        // its last owner in the hash (a success writes no more than it must)
        // but shows none. A success writes `f`, not `u`.
        let running = state == JobState::Running;
        let finished_at = num(take("f"));
        let updated_at = num(take("u")).unwrap_or(0).max(finished_at.unwrap_or(0));
        let lease_owner = take("o").filter(|_| running);
        Ok(JobInfo {
            id: JobId::from_stored(id.to_string()),
            queue: self.inner.queue.clone(),
            kind: take("k").unwrap_or_default(),
            state,
            payload: take("p").unwrap_or_default(),
            attempts: num(take("a")).unwrap_or(0) as u32,
            max_attempts: num(take("m")).unwrap_or(0) as u32,
            created_at: num(take("c")).unwrap_or(0),
            run_at: num(take("r")).unwrap_or(0),
            updated_at,
            finished_at,
            lease_owner,
            lease_expires_at: lease_expiry.filter(|_| running),
            idempotency_key: take("i"),
            redeliveries: num(take("d")).unwrap_or(0) as u32,
            last_error: take("l"),
            errors,
        })
    }

    pub(crate) async fn get(&self, id: &JobId) -> Result<Option<JobInfo>> {
        Ok(self
            .get_many_by_id(std::slice::from_ref(id))
            .await?
            .pop()
            .flatten())
    }

    pub(crate) async fn retry(&self, id: &JobId) -> Result<JobState> {
        let reply: (String, String) = self
            .inner
            .scripts
            .retry
            .key(self.key("ready"))
            .key(self.key("retry"))
            .key(self.key("dead"))
            .key(self.key("cancelled"))
            .arg(&self.inner.base)
            .arg(id.as_str())
            .arg(now_millis())
            .invoke_async(&mut self.conn())
            .await?;
        self.inner.wake.notify_waiters();
        let rule = "only dead, retrying or cancelled jobs can be retried";
        if reply.0 == "missing" && self.find_timer(id).await?.is_some() {
            return ops_reply(id, ("refused".into(), "scheduled".into()), rule);
        }
        ops_reply(id, reply, rule)
    }

    pub(crate) async fn cancel(&self, id: &JobId) -> Result<JobState> {
        let reply: (String, String) = self
            .inner
            .scripts
            .cancel
            .key(self.key("ready"))
            .key(self.key("scheduled"))
            .key(self.key("retry"))
            .key(self.key("cancelled"))
            .arg(&self.inner.base)
            .arg(id.as_str())
            .arg(now_millis())
            .arg(self.inner.retention.dead.as_millis() as i64)
            .invoke_async(&mut self.conn())
            .await?;
        ops_reply(
            id,
            reply,
            "only scheduled, ready or retrying jobs can be cancelled",
        )
    }

    pub(crate) async fn requeue_dead(&self, kind: &str) -> Result<u64> {
        // Walk the dead index from the oldest end in chunks; retried jobs
        // leave the index, so the walk position only advances past the
        // jobs of other kinds.
        let key = self.key("dead");
        let mut skipped = 0isize;
        let mut requeued = 0;
        loop {
            let chunk: Vec<String> = self.conn().zrange(&key, skipped, skipped + 199).await?;
            if chunk.is_empty() {
                break;
            }
            let mut pipe = redis::pipe();
            for id in &chunk {
                pipe.hget(self.key(&format!("job:{id}")), "k");
            }
            let kinds: Vec<Option<String>> = pipe.query_async(&mut self.conn()).await?;
            for (id, k) in chunk.iter().zip(kinds) {
                if k.as_deref() == Some(kind) {
                    match self.retry(&JobId::from_stored(id.clone())).await {
                        Ok(_) => requeued += 1,
                        Err(Error::InvalidState { .. } | Error::NotFound(_)) => skipped += 1,
                        Err(e) => return Err(e),
                    }
                } else {
                    skipped += 1;
                }
            }
        }
        Ok(requeued)
    }

    pub(crate) async fn purge_expired(&self) -> Result<u64> {
        let now = now_millis();
        let ok_cutoff = now - self.inner.retention.succeeded.as_millis() as i64;
        let dead_cutoff = now - self.inner.retention.dead.as_millis() as i64;
        // Succeeded jobs carry no TTL (see *Cost*): `purge.lua` deletes them
        // with their index entries, a bounded chunk per call so Redis never
        // stalls on a million of them.
        let mut purged = 0u64;
        loop {
            let n: u64 = self
                .inner
                .scripts
                .purge
                .key(self.key("done"))
                .arg(&self.inner.base)
                .arg(ok_cutoff)
                .arg(PROMOTE_CHUNK)
                .invoke_async(&mut self.conn())
                .await?;
            purged += n;
            if n < PROMOTE_CHUNK as u64 {
                break;
            }
        }
        // Dead and cancelled job hashes carry their own TTLs; only their
        // indexes need trimming.
        for (index, cutoff) in [("dead", dead_cutoff), ("cancelled", dead_cutoff)] {
            let key = self.key(index);
            loop {
                let ids: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                    .arg(&key)
                    .arg("-inf")
                    .arg(cutoff)
                    .arg("LIMIT")
                    .arg(0)
                    .arg(PROMOTE_CHUNK)
                    .query_async(&mut self.conn())
                    .await?;
                if ids.is_empty() {
                    break;
                }
                let n: u64 = self.conn().zrem(&key, &ids).await?;
                purged += n;
                if ids.len() < PROMOTE_CHUNK {
                    break;
                }
            }
        }
        Ok(purged)
    }

    pub(crate) fn wakeup(&self) -> Arc<Notify> {
        // Subscribe once per store (per process), lazily, so constructing a
        // store for a CLI command opens no pub/sub connection.
        if self.inner.listener.initialized() {
            return self.inner.wake.clone();
        }
        if self.inner.listener.set(()).is_ok() {
            let client = self.inner.client.clone();
            let channel = self.key("wake");
            let wake = Arc::downgrade(&self.inner.wake);
            tokio::spawn(listen_for_wakeups(client, channel, wake));
        }
        self.inner.wake.clone()
    }
}

/// Forwards `…:wake` messages to the local [`Notify`] until the store is gone.
/// Reconnects after errors: a missed message only costs a poll interval.
async fn listen_for_wakeups(client: redis::Client, channel: String, wake: Weak<Notify>) {
    use futures::StreamExt;
    loop {
        let Some(notify) = wake.upgrade() else { return };
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(e) = pubsub.subscribe(&channel).await {
                    tracing::warn!(error = %e, "queue wake-up subscription failed");
                } else {
                    // After (re)subscribing, wake everyone once: anything
                    // published while we were away is picked up now.
                    notify.notify_waiters();
                    drop(notify);
                    let mut messages = pubsub.on_message();
                    while messages.next().await.is_some() {
                        match wake.upgrade() {
                            Some(n) => n.notify_waiters(),
                            None => return,
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "queue wake-up connection failed"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn ops_reply(
    id: &JobId,
    (verdict, state): (String, String),
    rule: &'static str,
) -> Result<JobState> {
    let parsed = || {
        JobState::parse(&state)
            .ok_or_else(|| Error::Corrupt(format!("job {id} has state {state:?}")))
    };
    match verdict.as_str() {
        "ok" => parsed(),
        "refused" => Err(Error::InvalidState {
            id: id.to_string(),
            state,
            reason: rule,
        }),
        _ => Err(Error::NotFound(id.to_string())),
    }
}

fn as_string(v: &Value) -> Result<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone())
            .map_err(|_| Error::Corrupt("non-UTF-8 value in queue".into())),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        other => Err(Error::Corrupt(format!("unexpected reply {other:?}"))),
    }
}

/// A sorted-set score that holds a time in milliseconds.
fn as_score(v: &Value) -> Result<Millis> {
    match v {
        Value::Double(d) => Ok(*d as Millis),
        other => as_string(other)?
            .parse::<f64>()
            .map(|f| f as Millis)
            .map_err(|_| Error::Corrupt(format!("expected a score, got {other:?}"))),
    }
}

fn as_i64(v: &Value) -> Result<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        other => as_string(other)?
            .parse()
            .map_err(|_| Error::Corrupt(format!("expected a number, got {other:?}"))),
    }
}

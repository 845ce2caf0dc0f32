//! The durable job queue: what a job is, the states it moves through, the
//! two stores that keep it, and the apalis 1.0 backend that runs workers
//! over them.
//!
//! # Who calls it
//!
//! * `jobs` enqueues through [`QueueStore`] (webhook intake, follow-up jobs,
//!   timers, the sweeper), reads it for ops (listings, a job's record,
//!   retry, cancel), and gives its handlers' errors a [`Verdict`]
//!   (`jobs::Error` implements [`Failure`]).
//! * `worker` opens the store from the `[queue]` settings and runs apalis
//!   workers over [`QueueBackend`]; its `bench` and `bench_e2e` binaries
//!   measure it.
//! * `tests` runs the conformance suite against every store.
//!
//! It depends on neither `jobs` nor `worker`; only on `entities` for the
//! `queue_jobs` table's state enum.
//!
//! # Modules
//!
//! * this file: jobs, states, leases, outcomes, listings, and
//!   [`QueueStore`], the one type callers hold (Redis or SQL).
//! * `redis_store`: [`RedisStore`], the key layout and the Lua scripts in
//!   `src/lua/` (one per batch operation).
//! * `sql_store`: [`SqlStore`], the `queue_jobs` table on SQLite or
//!   PostgreSQL.
//! * [`backend`]: [`QueueBackend`], apalis's `Backend` (fetcher, acker,
//!   heartbeat) and the ack layer that records each attempt's outcome.
//! * [`verdict`]: what a failed attempt means ([`Verdict`], [`Failure`],
//!   [`Handled`]) and how it becomes the job's next state.
//! * `lease`: [`backend::Lease`], the lease a task runs under (read by the
//!   ack layer and by the verdict).
//! * [`retry`]: attempts and backoff per job kind.
//! * `error`: [`Error`], what the stores and backend return.
//!
//! # Why the project owns its queue
//!
//! apalis 1.0 is the worker runtime (workers, tower layers, `Monitor`,
//! graceful shutdown), but apalis-redis 1.0.0 was measured to wedge on about
//! 8,000 due jobs, drain ~880 jobs/s at a 50k backlog, ignore `max_attempts`
//! and offer no retry or cancel API (`docs/QUEUE.md` has the list). So the
//! queue lives here, behind the apalis `Backend` trait ([`backend`]):
//!
//! * [`RedisStore`]: production. One Lua script per *batch* (fetch, ack,
//!   renew), so the number of Redis round trips does not grow with the number
//!   of jobs and nothing is O(backlog).
//! * [`SqlStore`]: the embedded default. A table in the project's own
//!   database (SQLite on a bare machine), same semantics.
//!
//! Both are wrapped by [`QueueStore`], which the rest of the code uses, and
//! both pass the same conformance suite (`tests/tests/api/queue_conformance.rs`).
//!
//! # A job's life
//!
//! ```text
//!  enqueue ──► scheduled ──(run_at reached)──► ready ──fetch──► running ──ok──► succeeded
//!                 ▲                              ▲                 │
//!                 │                              │  lease expired  ├─ error, attempts left ─► retrying ─(due)─► ready
//!                 │                              └─────────────────┤
//!              cancel ◄── scheduled/ready/retrying                 └─ permanent / exhausted ─► dead ──ops retry──► ready
//! ```
//!
//! Fetching *leases* a job to a worker until a deadline; the worker renews
//! the lease while the job runs. A worker that dies (SIGKILL, OOM, power)
//! stops renewing, the lease expires, and the next fetch by any worker puts
//! the job back to `ready`, recording the re-delivery in its error history.
//! An expired lease counts as an attempt, so a job that kills its worker every
//! time ends up dead instead of looping forever.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
mod error;
mod lease;
mod redis_store;
pub mod retry;
mod sql_store;
pub mod verdict;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use backend::{BackendSettings, QueueBackend};
pub use error::{Error, Result};
pub use redis_store::RedisStore;
pub use retry::{RetryPolicies, RetryPolicy};
pub use sql_store::SqlStore;
pub use verdict::{Failure, Handled, Verdict};

/// Milliseconds since the Unix epoch: the queue's only notion of time, so that
/// Redis scores, SQL columns and Rust agree without time-zone conversions.
pub type Millis = i64;

/// The current time in [`Millis`].
pub fn now_millis() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// The longest error message kept per attempt, in characters.
pub const MAX_ERROR_CHARS: usize = 2000;

/// An error message fit for storage: NUL characters (which PostgreSQL
/// refuses in text and JSON, so one would fail every ack in a batch) become
/// U+FFFD, and the text is cut to [`MAX_ERROR_CHARS`] so a job's error
/// history stays bounded whatever a receiver answers.
pub fn clean_error(message: &str) -> String {
    let mut out: String = message
        .chars()
        .take(MAX_ERROR_CHARS)
        .map(|c| if c == '\0' { '\u{fffd}' } else { c })
        .collect();
    if message.chars().nth(MAX_ERROR_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// A job's identifier: a ULID, so ids sort by creation time (a timer's,
/// derived from its due time and key, by due time; see [`NewJob::timer`]).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// A fresh, unique id.
    pub fn generate() -> Self {
        Self(ulid::Ulid::generate().to_string())
    }

    /// Parses an id given by a user (ops API, CLI).
    ///
    /// # Errors
    /// [`Error::NotFound`] when the text is not a ULID: such a job cannot exist.
    pub fn parse(text: &str) -> Result<Self> {
        ulid::Ulid::from_string(text)
            .map(|u| Self(u.to_string()))
            .map_err(|_| Error::NotFound(text.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps text that came from the queue's own storage.
    pub(crate) fn from_stored(text: String) -> Self {
        Self(text)
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a job is in its life; see the module docs for the transitions.
/// Defined with the `queue_jobs` entity so the SQL column and the Rust type
/// cannot drift apart.
pub use entities::queue_job::QueueJobState as JobState;

/// A job to enqueue. Built with [`NewJob::new`] and the chained setters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Its id; generated unless a caller needs to know it in advance.
    pub id: JobId,
    /// The job kind (`"capture_application"`, `"noop"`, ...): picks the
    /// handler, the retry policy and the ops filters.
    pub kind: String,
    /// The job's arguments as JSON text.
    pub payload: String,
    /// When the job may first run; `None` means now.
    pub run_at: Option<Millis>,
    /// Deduplication key: enqueueing a second job with the same key returns
    /// the first job (while it is retained) instead of adding another.
    pub idempotency_key: Option<String>,
    /// Attempts before the job is dead.
    pub max_attempts: u32,
    /// A timer: a job armed far ahead whose idempotency key names it and its
    /// due time. A store may keep such a job compactly until it comes due
    /// (Redis keeps one sorted-set member instead of a hash, an index entry
    /// and a key; see [`NewJob::timer`]).
    pub timer: bool,
}

impl NewJob {
    /// A job of `kind` with a JSON `payload`, due now, 25 attempts.
    pub fn new(kind: impl Into<String>, payload: impl Into<String>) -> Self {
        Self {
            id: JobId::generate(),
            kind: kind.into(),
            payload: payload.into(),
            run_at: None,
            idempotency_key: None,
            max_attempts: RetryPolicy::default().max_attempts,
            timer: false,
        }
    }

    /// Runs no sooner than `at`.
    pub fn run_at(mut self, at: Millis) -> Self {
        self.run_at = Some(at);
        self
    }

    /// Runs no sooner than `delay` from now.
    pub fn run_after(self, delay: Duration) -> Self {
        let at = now_millis().saturating_add(delay.as_millis() as i64);
        self.run_at(at)
    }

    /// Deduplicates on `key`.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Gives up after `n` attempts (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Marks the job as a timer, to be kept compactly until it comes due.
    ///
    /// Months-long timers are the one kind of job a queue holds by the
    /// million, so the Redis store keeps each as a single sorted-set member
    /// (about a fifth of a full job's memory at Redis's default settings)
    /// and makes it a full job only when a fetch promotes it. Its id is then
    /// derived from its due time and idempotency key, not taken from
    /// [`NewJob::id`], which is what lets a repeated enqueue find it without
    /// a key index.
    ///
    /// The contract: a timer carries an idempotency key, and the key names
    /// the due time (`probation:<milestone>:<due_ms>:…`), so the same key is
    /// never armed for two different times. Without a key, or where a store
    /// has no compact form (SQL), a timer is an ordinary scheduled job.
    pub fn timer(mut self) -> Self {
        self.timer = true;
        self
    }
}

/// What [`QueueStore::enqueue`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnqueueOutcome {
    /// The job that now stands for the request: the new one, or the existing
    /// one when the idempotency key was already taken.
    pub id: JobId,
    /// True when nothing was added because the key was already taken.
    pub duplicate: bool,
}

/// A job leased to a worker by a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedJob {
    /// The job.
    pub id: JobId,
    /// Its kind.
    pub kind: String,
    /// Its JSON arguments.
    pub payload: String,
    /// This attempt's number, starting at 1.
    pub attempt: u32,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// The lease's sequence number: grows with every lease the job is ever
    /// granted, so it names this lease even across ops retries (which reset
    /// the attempt count).
    pub lease: u64,
}

/// How an attempt ended, as reported by the worker that ran it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The job is done.
    Succeeded,
    /// The attempt failed; run again at `at`.
    Retry {
        /// When the next attempt may start.
        at: Millis,
        /// What went wrong.
        error: String,
    },
    /// The attempt failed and the job must not run again.
    Dead {
        /// What went wrong.
        error: String,
    },
    /// The job was fetched but never started (shutdown): give it back without
    /// counting an attempt.
    Released,
}

/// One attempt's outcome, addressed to the lease it ran under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The job.
    pub id: JobId,
    /// The attempt number it ran as (for the error history).
    pub attempt: u32,
    /// The lease it ran under; a completion for a lease that has since
    /// expired and been handed on is ignored.
    pub lease: u64,
    /// How it ended.
    pub outcome: Outcome,
}

/// A failed attempt, kept with the job for ops and finance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptError {
    /// The attempt number.
    pub attempt: u32,
    /// When it failed.
    pub at: Millis,
    /// The worker that ran it.
    pub worker: String,
    /// What went wrong. `lease expired ...` marks a re-delivery after a worker
    /// stopped heartbeating.
    pub error: String,
}

/// Everything the queue knows about one job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobInfo {
    /// The job.
    pub id: JobId,
    /// The queue it is in.
    pub queue: String,
    /// Its kind.
    pub kind: String,
    /// Its state.
    pub state: JobState,
    /// Its JSON arguments.
    pub payload: String,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// When it was enqueued; 0 for a timer Redis still keeps compactly
    /// (see [`NewJob::timer`]), which records no enqueue time.
    pub created_at: Millis,
    /// When it is (or was) due.
    pub run_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
    /// When it reached a final state.
    pub finished_at: Option<Millis>,
    /// The worker holding its lease, while running.
    pub lease_owner: Option<String>,
    /// When that lease runs out.
    pub lease_expires_at: Option<Millis>,
    /// Its idempotency key.
    pub idempotency_key: Option<String>,
    /// How many times it was handed to another worker after a lease expired.
    pub redeliveries: u32,
    /// The latest error.
    pub last_error: Option<String>,
    /// Every failed attempt, oldest first.
    pub errors: Vec<AttemptError>,
}

impl JobInfo {
    /// Whether the job may still run: scheduled, ready, running or
    /// retrying, not finished.
    pub fn is_live(&self) -> bool {
        matches!(
            self.state,
            JobState::Scheduled | JobState::Ready | JobState::Running | JobState::Retrying
        )
    }
}

/// Job counts per state for one queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    /// The queue.
    pub queue: String,
    /// Count per state, in [`JobState::ALL`] order; succeeded, dead and
    /// cancelled count what is still retained.
    pub counts: Vec<(JobState, u64)>,
    /// Age in milliseconds of the job that has been ready the longest.
    pub oldest_ready_age_ms: Option<i64>,
}

impl QueueCounts {
    /// The count for one state.
    pub fn get(&self, state: JobState) -> u64 {
        self.counts
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n)
    }
}

/// Which jobs to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs in this state (listing walks that state's index).
    pub state: JobState,
    /// Only jobs of this kind.
    pub kind: Option<String>,
    /// Where to continue from: the `next` of the previous page.
    pub cursor: u64,
    /// At most this many jobs (capped at 500).
    pub limit: u32,
}

impl JobFilter {
    /// The first page of jobs in `state`.
    pub fn state(state: JobState) -> Self {
        Self {
            state,
            kind: None,
            cursor: 0,
            limit: 50,
        }
    }

    /// Restricts the listing to `kind`.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobPage {
    /// The jobs on this page.
    pub jobs: Vec<JobInfo>,
    /// The cursor of the next page, `None` on the last one.
    pub next: Option<u64>,
}

/// What a fetch brought back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// The jobs now leased to the caller.
    pub jobs: Vec<LeasedJob>,
    /// When the earliest scheduled or retrying job comes due, so an idle
    /// worker knows how long it may sleep.
    pub next_due_at: Option<Millis>,
}

/// How long succeeded and dead (or cancelled) jobs stay inspectable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// For succeeded jobs.
    pub succeeded: Duration,
    /// For dead and cancelled jobs.
    pub dead: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            succeeded: Duration::from_secs(24 * 3600),
            dead: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// The queue as the rest of the service sees it: one of the two stores.
///
/// An enum rather than a trait object because the operations are `async` and
/// there are exactly two implementations; matching keeps every call static
/// and lets the compiler check that both stores offer every operation.
#[derive(Clone, Debug)]
pub enum QueueStore {
    /// Redis (production, many processes).
    Redis(RedisStore),
    /// A table in the project's SQL database (embedded default).
    Sql(SqlStore),
}

/// Runs of consecutive jobs of one kind, `(kind, length)`: a batch is
/// usually one kind, so metrics cost one label per batch, not per job.
fn kind_runs(jobs: &[NewJob]) -> Vec<(String, usize)> {
    let mut runs: Vec<(String, usize)> = Vec::new();
    for job in jobs {
        match runs.last_mut() {
            Some((kind, n)) if *kind == job.kind => *n += 1,
            _ => runs.push((job.kind.clone(), 1)),
        }
    }
    runs
}

/// Counts added jobs and idempotency duplicates per kind.
fn count_enqueued(runs: &[(String, usize)], outcomes: &[EnqueueOutcome]) {
    let mut rest = outcomes;
    for (kind, n) in runs {
        let (run, tail) = rest.split_at((*n).min(rest.len()));
        rest = tail;
        let duplicates = run.iter().filter(|o| o.duplicate).count() as u64;
        let added = run.len() as u64 - duplicates;
        if added > 0 {
            metrics::counter!("referral_worker_jobs_enqueued_total", "kind" => kind.clone())
                .increment(added);
        }
        if duplicates > 0 {
            metrics::counter!("referral_worker_jobs_enqueue_duplicates_total", "kind" => kind.clone())
                .increment(duplicates);
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            QueueStore::Redis($s) => $e,
            QueueStore::Sql($s) => $e,
        }
    };
}

impl QueueStore {
    /// The queue's name.
    pub fn name(&self) -> &str {
        dispatch!(self, s => s.name())
    }

    /// `"redis"` or `"sql"`, for logs and health checks.
    pub fn backend_name(&self) -> &'static str {
        match self {
            QueueStore::Redis(_) => "redis",
            QueueStore::Sql(_) => "sql",
        }
    }

    /// Checks that the store answers.
    pub async fn ping(&self) -> Result<()> {
        dispatch!(self, s => s.ping().await)
    }

    /// Adds one job (or finds its duplicate).
    pub async fn enqueue(&self, job: NewJob) -> Result<EnqueueOutcome> {
        let mut out = self.enqueue_batch(vec![job]).await?;
        out.pop()
            .ok_or_else(|| Error::Corrupt("enqueue returned nothing".into()))
    }

    /// Adds many jobs in one round trip; outcomes come back in input order.
    pub async fn enqueue_batch(&self, jobs: Vec<NewJob>) -> Result<Vec<EnqueueOutcome>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let runs = kind_runs(&jobs);
        let out = dispatch!(self, s => s.enqueue_batch(jobs).await)?;
        count_enqueued(&runs, &out);
        Ok(out)
    }

    /// Leases up to `max` due jobs to `worker` for `lease`. On the way it
    /// re-delivers jobs whose leases expired and promotes due scheduled and
    /// retrying jobs, each in bounded chunks so no call is O(backlog).
    pub async fn fetch(&self, worker: &str, max: usize, lease: Duration) -> Result<Fetched> {
        dispatch!(self, s => s.fetch(worker, max, lease).await)
    }

    /// Extends the leases `worker` holds on `jobs` (id and lease); returns
    /// the ids whose lease was lost (expired and handed on, or cancelled).
    pub async fn renew(
        &self,
        worker: &str,
        jobs: &[(JobId, u64)],
        lease: Duration,
    ) -> Result<Vec<JobId>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        dispatch!(self, s => s.renew(worker, jobs, lease).await)
    }

    /// Records how attempts ended. Completions for leases `worker` no longer
    /// holds are ignored (the job was re-delivered); returns how many applied.
    pub async fn complete(&self, worker: &str, mut done: Vec<Completion>) -> Result<usize> {
        if done.is_empty() {
            return Ok(0);
        }
        for c in &mut done {
            if let Outcome::Retry { error, .. } | Outcome::Dead { error } = &mut c.outcome {
                *error = clean_error(error);
            }
        }
        dispatch!(self, s => s.complete(worker, done).await)
    }

    /// Counts per state.
    pub async fn counts(&self) -> Result<QueueCounts> {
        dispatch!(self, s => s.counts().await)
    }

    /// Lists jobs, one page at a time.
    pub async fn list(&self, filter: &JobFilter) -> Result<JobPage> {
        dispatch!(self, s => s.list(filter).await)
    }

    /// One job with its attempts and errors.
    pub async fn get(&self, id: &JobId) -> Result<Option<JobInfo>> {
        dispatch!(self, s => s.get(id).await)
    }

    /// Many jobs by id in a few round trips, `None` where there is none, in
    /// the order asked. For sweeps that check thousands of jobs at a time.
    pub async fn get_many(&self, ids: &[JobId]) -> Result<Vec<Option<JobInfo>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        dispatch!(self, s => s.get_many_by_id(ids).await)
    }

    /// The jobs behind ids as rows store them (`None` for a row without
    /// one), in their order, `None` where there is no such job: one
    /// [`QueueStore::get_many`] for a whole batch of rows.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn get_stored<'a>(
        &self,
        stored: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Result<Vec<Option<JobInfo>>> {
        let ids: Vec<Option<JobId>> = stored
            .into_iter()
            .map(|id| id.and_then(|id| JobId::parse(id).ok()))
            .collect();
        let asked: Vec<JobId> = ids.iter().flatten().cloned().collect();
        let mut found = self.get_many(&asked).await?.into_iter();
        Ok(ids
            .iter()
            .map(|id| id.as_ref().and_then(|_| found.next().flatten()))
            .collect())
    }

    /// Whether each job, named as rows store it, still exists and has not
    /// finished (see [`JobInfo::is_live`]), in their order. A row that
    /// points at its job asks this before enqueueing another, so a wiped
    /// queue or a finished job never leaves the row without one, and a live
    /// job is never doubled.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn live_stored<'a>(
        &self,
        stored: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Result<Vec<bool>> {
        Ok(self
            .get_stored(stored)
            .await?
            .iter()
            .map(|job| job.as_ref().is_some_and(JobInfo::is_live))
            .collect())
    }

    /// [`QueueStore::live_stored`] for one row.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn is_live(&self, id: Option<&str>) -> Result<bool> {
        Ok(self.live_stored([id]).await?.pop().unwrap_or(false))
    }

    /// Makes a dead, retrying or cancelled job ready now, with its attempts
    /// reset (its error history is kept). Returns the state it left.
    ///
    /// # Errors
    /// [`Error::InvalidState`] for running, ready, scheduled or succeeded
    /// jobs: re-running a succeeded job could pay a bonus twice.
    pub async fn retry(&self, id: &JobId) -> Result<JobState> {
        dispatch!(self, s => s.retry(id).await)
    }

    /// Cancels a scheduled, ready or retrying job. Returns the state it left.
    ///
    /// # Errors
    /// [`Error::InvalidState`] for a running job (it may already have had its
    /// effect) or a finished one.
    pub async fn cancel(&self, id: &JobId) -> Result<JobState> {
        dispatch!(self, s => s.cancel(id).await)
    }

    /// Retries every dead job of `kind`; returns how many.
    pub async fn requeue_dead(&self, kind: &str) -> Result<u64> {
        dispatch!(self, s => s.requeue_dead(kind).await)
    }

    /// Deletes finished jobs older than their retention; returns how many.
    pub async fn purge_expired(&self) -> Result<u64> {
        dispatch!(self, s => s.purge_expired().await)
    }

    /// A handle woken whenever a job may have become available (a local or,
    /// for Redis, a remote enqueue), so idle workers pick work up promptly
    /// without polling.
    pub fn wakeup(&self) -> std::sync::Arc<tokio::sync::Notify> {
        dispatch!(self, s => s.wakeup())
    }
}

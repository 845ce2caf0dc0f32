//! The bridge between the queue stores and the apalis 1.0 worker runtime.
//!
//! [`QueueBackend`] implements apalis's `Backend`, so a worker is built the
//! usual way (`WorkerBuilder::new(name).backend(b).layer(..).build(handler)`)
//! and runs under a `Monitor` with graceful shutdown. Behind that trait it
//! runs three small tasks per worker:
//!
//! * the **fetcher** leases jobs in batches of up to `fetch_batch`, decodes
//!   them and hands them to the worker over a bounded channel. A semaphore of
//!   `concurrency` permits bounds how many unfinished jobs the worker holds
//!   (buffered or running), so prefetching never leases more than it can
//!   work on. A finished job gives its permit back as soon as the acker takes
//!   its outcome, not when the outcome is written: the next batch is leased
//!   while the last one's acks are in flight, so a round trip to the store is
//!   not part of every job's cycle. Leases held at once stay under twice
//!   `concurrency` (one batch being acked, the rest unfinished). When the
//!   queue is empty it sleeps until the store's wake-up fires (an enqueue
//!   anywhere), the next timer comes due, or `poll_interval` passes;
//! * the **acker** collects attempt outcomes from [`AckLayer`] and writes them
//!   in batches, so a busy worker pays one round trip per batch of acks;
//! * the **heartbeat** renews the leases of held jobs every `heartbeat`,
//!   which is what lets another worker take over quickly when this process
//!   dies: its leases simply stop being renewed.
//!
//! None of them ever ends the worker on a storage error: they log, back off
//! and try again, so a Redis restart or a slow reply pauses work instead of
//! killing workers for good (apalis-redis 1.0.0's failure mode).
//!
//! Retries are never slept in-process: a failed attempt is written back as a
//! `retrying` job with a `run_at`, freeing the worker slot at once.

use std::{
    collections::HashMap,
    marker::PhantomData,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use apalis_core::{
    backend::{Backend, BackendConfig},
    error::BoxDynError,
    task::{Task, builder::TaskBuilder, task_id::TaskId},
    worker::context::WorkerContext,
};
use futures::{FutureExt, future::BoxFuture};
use serde::de::DeserializeOwned;
use tokio::{
    sync::{Semaphore, mpsc},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;
use tower::{Layer, Service};

use crate::error::{Error, Result};
pub use crate::lease::Lease;
use crate::{
    Completion, JobId, LeasedJob, Outcome, QueueStore, now_millis,
    retry::RetryPolicies,
    verdict::{Failure, Handled, Verdict, outcome_of_failure},
};

/// How a worker talks to its queue. Built from the `[queue]` settings.
#[derive(Debug, Clone)]
pub struct BackendSettings {
    /// Jobs a worker holds at most (buffered plus running).
    pub concurrency: usize,
    /// Jobs leased per fetch round trip.
    pub fetch_batch: usize,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
    /// How often held leases are renewed.
    pub heartbeat: Duration,
    /// The longest an idle worker sleeps without a wake-up.
    pub poll_interval: Duration,
    /// Attempts and backoff per job kind.
    pub retry: RetryPolicies,
}

impl Default for BackendSettings {
    fn default() -> Self {
        Self {
            concurrency: 64,
            fetch_batch: 256,
            lease: Duration::from_secs(20),
            heartbeat: Duration::from_secs(5),
            poll_interval: Duration::from_secs(1),
            retry: RetryPolicies::default(),
        }
    }
}

/// A lease this worker holds and has not yet acknowledged.
#[derive(Debug, Clone, Copy)]
struct Held {
    attempt: u32,
    /// Handed to the apalis worker (started, or about to be). Leases not yet
    /// handed over are given back at once when shutdown begins.
    yielded: bool,
}

/// State shared by the backend's tasks and its ack layer.
struct Shared {
    store: QueueStore,
    settings: BackendSettings,
    worker: String,
    context: WorkerContext,
    /// Leases held and not yet acknowledged, keyed by job and lease sequence
    /// (the same job can come back to this worker under a new lease after
    /// an expiry; each lease is tracked and released on its own). The
    /// heartbeat renews exactly these.
    held: Mutex<HashMap<(JobId, u64), Held>>,
    /// One permit per unfinished job the worker may still take on.
    capacity: Semaphore,
    stop: CancellationToken,
}

impl Shared {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<(JobId, u64), Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops leases no longer held; returns how many it dropped.
    fn forget(&self, leases: impl IntoIterator<Item = (JobId, u64)>) -> usize {
        let mut held = self.held();
        leases
            .into_iter()
            .filter(|key| held.remove(key).is_some())
            .count()
    }

    /// Gives back leases never handed to the worker (`only_unyielded`) or
    /// all remaining ones, without spending an attempt. Retries a few times:
    /// whatever is not released comes back anyway when its lease expires.
    async fn release(&self, only_unyielded: bool) {
        let leases: Vec<Completion> = self
            .held()
            .iter()
            .filter(|(_, h)| !only_unyielded || !h.yielded)
            .map(|((id, lease), h)| Completion {
                id: id.clone(),
                attempt: h.attempt,
                lease: *lease,
                outcome: Outcome::Released,
            })
            .collect();
        if leases.is_empty() {
            return;
        }
        let n = leases.len();
        let keys: Vec<(JobId, u64)> = leases.iter().map(|c| (c.id.clone(), c.lease)).collect();
        for attempt in 1..=5u32 {
            match self.store.complete(&self.worker, leases.clone()).await {
                Ok(_) => {
                    // Never finished, so never handed to the acker: their
                    // permits come back here.
                    let n = self.forget(keys);
                    self.capacity.add_permits(n);
                    tracing::info!(worker = %self.worker, released = n, "returned unstarted jobs to the queue");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "releasing unstarted jobs failed");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
            }
        }
        tracing::error!(worker = %self.worker, unreleased = n, "unstarted jobs not released; they return when their leases expire");
    }
}

struct Running<Args> {
    shared: Arc<Shared>,
    /// Cancels the background tasks if the backend is dropped without a
    /// clean close, so no heartbeat keeps renewing leases of a dead worker.
    _stop_on_drop: tokio_util::sync::DropGuard,
    tasks: mpsc::Receiver<Task<Args>>,
    acks: mpsc::UnboundedSender<Completion>,
    fetcher: JoinHandle<()>,
    heartbeat: JoinHandle<()>,
    acker: JoinHandle<()>,
}

/// An apalis backend over a [`QueueStore`], yielding tasks of type `Args`
/// decoded from the job payloads.
///
/// Build one per worker (it is `Clone`; a clone starts unstarted). A payload
/// that does not decode as `Args` (for `Args` an enum tagged by kind: an
/// unknown kind) goes to the dead set with the decoder's message and never
/// reaches the worker.
pub struct QueueBackend<Args> {
    store: QueueStore,
    settings: BackendSettings,
    ack_tx: mpsc::UnboundedSender<Completion>,
    ack_rx: Option<mpsc::UnboundedReceiver<Completion>>,
    running: Option<Running<Args>>,
    closing: Option<BoxFuture<'static, Result<()>>>,
    _args: PhantomData<fn() -> Args>,
}

impl<Args> std::fmt::Debug for QueueBackend<Args> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueBackend")
            .field("store", &self.store)
            .field("started", &self.running.is_some())
            .finish_non_exhaustive()
    }
}

impl<Args> Clone for QueueBackend<Args> {
    fn clone(&self) -> Self {
        Self::new(self.store.clone(), self.settings.clone())
    }
}

impl<Args> QueueBackend<Args> {
    /// A backend for `store`, not started until a worker polls it.
    pub fn new(store: QueueStore, settings: BackendSettings) -> Self {
        let (ack_tx, ack_rx) = mpsc::unbounded_channel();
        Self {
            store,
            settings,
            ack_tx,
            ack_rx: Some(ack_rx),
            running: None,
            closing: None,
            _args: PhantomData,
        }
    }
}

impl<Args> QueueBackend<Args>
where
    Args: DeserializeOwned + Send + 'static,
{
    fn start(&mut self, worker: &WorkerContext) {
        if self.running.is_some() {
            return;
        }
        let Some(ack_rx) = self.ack_rx.take() else {
            return;
        };
        let concurrency = self.settings.concurrency.max(1);
        let shared = Arc::new(Shared {
            store: self.store.clone(),
            settings: self.settings.clone(),
            worker: worker.name().to_string(),
            context: worker.clone(),
            held: Mutex::new(HashMap::new()),
            capacity: Semaphore::new(concurrency),
            stop: CancellationToken::new(),
        });
        let (task_tx, task_rx) = mpsc::channel(concurrency);
        let fetcher = tokio::spawn(fetch_loop(shared.clone(), task_tx, self.ack_tx.clone()));
        let heartbeat = tokio::spawn(heartbeat_loop(shared.clone()));
        let acker = tokio::spawn(ack_loop(shared.clone(), ack_rx));
        tracing::debug!(worker = %shared.worker, queue = shared.store.name(), "queue backend started");
        self.running = Some(Running {
            _stop_on_drop: shared.stop.clone().drop_guard(),
            shared,
            tasks: task_rx,
            acks: self.ack_tx.clone(),
            fetcher,
            heartbeat,
            acker,
        });
    }
}

impl<Args> Backend for QueueBackend<Args>
where
    Args: DeserializeOwned + Send + 'static,
{
    type Task = Task<Args>;
    type Error = Error;

    fn poll_ready(&mut self, _cx: &mut Context<'_>, worker: &WorkerContext) -> Poll<Result<()>> {
        self.start(worker);
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<Task<Args>>>> {
        self.start(worker);
        match self.running.as_mut() {
            Some(r) => r.tasks.poll_recv(cx).map(|t| {
                t.map(|task| {
                    if let Some(lease) = task.ctx().data().get::<Lease>()
                        && let Some(h) = r.shared.held().get_mut(&(lease.id.clone(), lease.lease))
                    {
                        h.yielded = true;
                    }
                    Ok(task)
                })
            }),
            None => Poll::Ready(None),
        }
    }

    fn poll_close(&mut self, cx: &mut Context<'_>, _worker: &WorkerContext) -> Poll<Result<()>> {
        if self.closing.is_none() {
            let Some(running) = self.running.take() else {
                return Poll::Ready(Ok(()));
            };
            self.closing = Some(close(running).boxed());
        }
        let done = match self.closing.as_mut() {
            Some(fut) => fut.poll_unpin(cx),
            None => Poll::Ready(Ok(())),
        };
        if done.is_ready() {
            self.closing = None;
        }
        done
    }
}

/// Shutdown, called by apalis once no task is running any more: stop
/// fetching, write every pending ack, then give back every job still held
/// (buffered, never started) without counting an attempt.
async fn close<Args>(running: Running<Args>) -> Result<()> {
    let Running {
        shared,
        _stop_on_drop,
        mut tasks,
        acks,
        fetcher,
        heartbeat,
        acker,
    } = running;
    shared.stop.cancel();
    drop(acks);
    let _ = fetcher.await;
    // Whatever is still buffered was never started; it is in `held` and is
    // released below with the rest.
    tasks.close();
    while tasks.try_recv().is_ok() {}
    let _ = acker.await;
    heartbeat.abort();
    // Every running job has finished and been acked, so what is still held
    // was never started (e.g. a task apalis pulled but dropped at shutdown).
    shared.release(false).await;
    Ok(())
}

/// Leases jobs while there is capacity and hands them to the worker.
async fn fetch_loop<Args>(
    shared: Arc<Shared>,
    tasks: mpsc::Sender<Task<Args>>,
    acks: mpsc::UnboundedSender<Completion>,
) where
    Args: DeserializeOwned + Send + 'static,
{
    let wake = shared.store.wakeup();
    let mut failures = 0u32;
    loop {
        if shared.context.is_shutting_down() {
            // Stop leasing at once, and give back what the worker will never
            // start (it pulls no more tasks while it drains), so a drain that
            // outlasts the shutdown timeout does not strand them until their
            // leases expire, each costing an attempt. The short pause lets a
            // task pulled just before the flag flipped be marked as handed over.
            tokio::time::sleep(Duration::from_millis(50)).await;
            shared.release(true).await;
            return;
        }
        // Wait for room for at least one job, then take as much as is free.
        let first = tokio::select! {
            _ = shared.stop.cancelled() => return,
            _ = tokio::time::sleep(SHUTDOWN_CHECK) => continue,
            p = shared.capacity.acquire() => p,
        };
        let Ok(first) = first else { return };
        first.forget();
        let mut want = 1;
        while want < shared.settings.fetch_batch.max(1) {
            match shared.capacity.try_acquire() {
                Ok(p) => {
                    p.forget();
                    want += 1;
                }
                Err(_) => break,
            }
        }

        // Register for wake-ups before asking, so an enqueue that lands
        // between an empty fetch and the sleep below is not missed.
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();

        let fetched = match shared
            .store
            .fetch(&shared.worker, want, shared.settings.lease)
            .await
        {
            Ok(f) => {
                failures = 0;
                f
            }
            Err(e) => {
                shared.capacity.add_permits(want);
                failures += 1;
                let pause = Duration::from_millis(100 * 2u64.pow(failures.min(6)));
                tracing::warn!(error = %e, retry_in = ?pause, "fetching jobs failed");
                tokio::select! {
                    _ = shared.stop.cancelled() => return,
                    _ = tokio::time::sleep(pause) => continue,
                }
            }
        };
        let got = fetched.jobs.len();
        if got > want {
            // A store must never lease more than asked; if one does, the
            // surplus still runs (it is leased to us) but is logged.
            tracing::error!(want, got, "store leased more jobs than asked for");
        }
        shared.capacity.add_permits(want.saturating_sub(got));
        {
            let mut held = shared.held();
            for job in &fetched.jobs {
                held.insert(
                    (job.id.clone(), job.lease),
                    Held {
                        attempt: job.attempt,
                        yielded: false,
                    },
                );
            }
        }
        for job in fetched.jobs {
            match decode::<Args>(&job) {
                Ok(task) => {
                    if tasks.send(task).await.is_err() {
                        // The worker is gone; `close` releases held jobs.
                        return;
                    }
                }
                Err(error) => {
                    tracing::error!(job_id = %job.id, kind = %job.kind, %error, "undecodable job sent to the dead set");
                    metrics::counter!("referral_worker_jobs_dead_total", "kind" => job.kind.clone())
                        .increment(1);
                    let _ = acks.send(Completion {
                        id: job.id,
                        attempt: job.attempt,
                        lease: job.lease,
                        outcome: Outcome::Dead { error },
                    });
                }
            }
        }
        if got > 0 {
            continue;
        }
        let mut sleep = shared.settings.poll_interval;
        if let Some(due) = fetched.next_due_at {
            let until = Duration::from_millis((due - now_millis()).max(0) as u64);
            sleep = sleep.min(until);
        }
        tokio::select! {
            _ = shared.stop.cancelled() => return,
            _ = &mut notified => {}
            _ = tokio::time::sleep(sleep.min(SHUTDOWN_CHECK)) => {}
        }
    }
}

/// How often an idle or full fetcher looks whether the worker is shutting down.
const SHUTDOWN_CHECK: Duration = Duration::from_millis(100);

fn decode<Args: DeserializeOwned>(job: &LeasedJob) -> std::result::Result<Task<Args>, String> {
    let args: Args = serde_json::from_str(&job.payload).map_err(|e| {
        format!(
            "undecodable payload for job kind {:?} (unknown kind or wrong shape): {e}",
            job.kind
        )
    })?;
    let lease = Lease {
        id: job.id.clone(),
        kind: job.kind.clone(),
        attempt: job.attempt,
        max_attempts: job.max_attempts,
        lease: job.lease,
    };
    // apalis counts the attempt up when the task starts, so hand it the
    // number of attempts made before this one.
    Ok(TaskBuilder::new(args)
        .task_id(TaskId::from_string(job.id.as_str()))
        .attempt(job.attempt.saturating_sub(1) as usize)
        .max_attempts(job.max_attempts as usize)
        .data(lease)
        .build())
}

/// Writes attempt outcomes in batches.
async fn ack_loop(shared: Arc<Shared>, mut acks: mpsc::UnboundedReceiver<Completion>) {
    const BATCH: usize = 1024;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let n = tokio::select! {
            n = acks.recv_many(&mut batch, BATCH) => n,
            _ = shared.stop.cancelled() => {
                // Shutdown: every running task has finished, so whatever is
                // queued now is the last of it.
                while let Ok(c) = acks.try_recv() {
                    batch.push(c);
                }
                if !batch.is_empty() {
                    write_acks(&shared, std::mem::take(&mut batch)).await;
                }
                return;
            }
        };
        if n == 0 {
            return;
        }
        // These jobs are finished: their slots are free while their
        // outcomes are written (each outcome here took one permit when
        // its job was leased).
        shared.capacity.add_permits(batch.len());
        write_acks(&shared, std::mem::take(&mut batch)).await;
    }
}

/// Writes one batch, retrying until it lands: an ack must not be dropped
/// while the process lives, or a finished job would run again.
async fn write_acks(shared: &Shared, batch: Vec<Completion>) {
    const SPLIT_AFTER: u32 = 8;
    let keys: Vec<(JobId, u64)> = batch.iter().map(|c| (c.id.clone(), c.lease)).collect();
    let mut failures = 0u32;
    loop {
        match shared.store.complete(&shared.worker, batch.clone()).await {
            Ok(applied) => {
                if applied < batch.len() {
                    tracing::warn!(
                        stale = batch.len() - applied,
                        "some acks arrived after their lease had passed to another worker; ignored"
                    );
                }
                break;
            }
            Err(e) if failures >= SPLIT_AFTER && batch.len() > 1 => {
                // One poisoned ack must not hold back the rest: write them
                // one by one, so only the bad one keeps failing.
                tracing::warn!(error = %e, "a batch of acks keeps failing; writing them one by one");
                for c in batch {
                    Box::pin(write_acks(shared, vec![c])).await;
                }
                return;
            }
            Err(e) if failures >= 2 * SPLIT_AFTER => {
                // The store refuses this one ack for good. Stop holding (and
                // renewing) its lease: it expires and the job is re-delivered.
                tracing::error!(error = %e, job_id = %keys[0].0, "an ack keeps failing; leaving the job to lease expiry");
                break;
            }
            Err(e) => {
                failures += 1;
                let pause = Duration::from_millis(100 * 2u64.pow(failures.min(6)));
                tracing::warn!(error = %e, retry_in = ?pause, "writing acks failed");
                tokio::time::sleep(pause).await;
            }
        }
    }
    shared.forget(keys);
}

/// Renews held leases; also purges finished jobs past their retention now
/// and then, so Redis memory and the queue table stay bounded.
async fn heartbeat_loop(shared: Arc<Shared>) {
    const PURGE_EVERY: u32 = 60;
    let mut ticks = 0u32;
    loop {
        tokio::select! {
            _ = shared.stop.cancelled() => return,
            _ = tokio::time::sleep(shared.settings.heartbeat) => {}
        }
        let held: Vec<(JobId, u64)> = shared.held().keys().cloned().collect();
        match shared
            .store
            .renew(&shared.worker, &held, shared.settings.lease)
            .await
        {
            Ok(lost) if !lost.is_empty() => {
                tracing::warn!(worker = %shared.worker, lost = lost.len(), "leases lost (expired or cancelled); those jobs may run elsewhere");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "renewing leases failed"),
        }
        ticks += 1;
        if ticks.is_multiple_of(PURGE_EVERY) {
            match shared.store.purge_expired().await {
                Ok(n) if n > 0 => {
                    tracing::debug!(purged = n, "purged finished jobs past retention")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging finished jobs failed"),
            }
        }
    }
}

impl<Args> BackendConfig for QueueBackend<Args>
where
    Args: DeserializeOwned + Send + 'static,
{
    type Args = Args;
    type Id = String;
    // `Durable` would make apalis decode payloads itself and end the worker
    // on a decoding error; this backend decodes and dead-letters bad payloads
    // on its own, so it takes the pass-through kind.
    type Kind = apalis_core::backend::finalize::Ephemeral;
    type Config = BackendSettings;
    type Layer = AckLayer;

    fn config(&self) -> &BackendSettings {
        &self.settings
    }

    fn middleware(&mut self, _worker: &mut WorkerContext) -> AckLayer {
        AckLayer {
            acks: self.ack_tx.clone(),
            retry: Arc::new(self.settings.retry.clone()),
            metrics: Arc::default(),
        }
    }
}

/// The tower layer apalis puts around every task of a [`QueueBackend`]
/// worker: it turns the task's result into a queue [`Outcome`].
///
/// The handler must return [`Handled`] with an error type that implements
/// [`Failure`]: its [`crate::verdict::Verdict`] decides retry or dead letter
/// (see [`crate::verdict`] for why the response carries it).
#[derive(Clone, Debug)]
pub struct AckLayer {
    acks: mpsc::UnboundedSender<Completion>,
    retry: Arc<RetryPolicies>,
    metrics: Arc<KindMetrics>,
}

/// This worker's metric handles per job kind, registered on a kind's first
/// job: a job then costs a map lookup and a few atomic adds, no allocation.
/// Per worker, not global, so a recorder installed before the worker is
/// built is the one used.
#[derive(Default)]
struct KindMetrics(std::sync::RwLock<HashMap<String, Arc<KindHandles>>>);

struct KindHandles {
    started: metrics::Counter,
    succeeded: metrics::Counter,
    failed: metrics::Counter,
    dead: metrics::Counter,
    duration: metrics::Histogram,
}

impl KindMetrics {
    fn of(&self, kind: &str) -> Arc<KindHandles> {
        if let Some(h) = self.0.read().unwrap_or_else(|p| p.into_inner()).get(kind) {
            return h.clone();
        }
        let handles = Arc::new(KindHandles {
            started: metrics::counter!("referral_worker_jobs_started_total", "kind" => kind.to_string()),
            succeeded: metrics::counter!("referral_worker_jobs_succeeded_total", "kind" => kind.to_string()),
            failed: metrics::counter!("referral_worker_jobs_failed_total", "kind" => kind.to_string()),
            dead: metrics::counter!("referral_worker_jobs_dead_total", "kind" => kind.to_string()),
            duration: metrics::histogram!("referral_worker_job_duration_seconds", "kind" => kind.to_string()),
        });
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        map.entry(kind.to_string()).or_insert(handles).clone()
    }
}

impl std::fmt::Debug for KindMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KindMetrics").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for AckLayer {
    type Service = AckService<S>;

    fn layer(&self, inner: S) -> AckService<S> {
        AckService {
            inner,
            acks: self.acks.clone(),
            retry: self.retry.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

/// See [`AckLayer`].
#[derive(Clone, Debug)]
pub struct AckService<S> {
    inner: S,
    acks: mpsc::UnboundedSender<Completion>,
    retry: Arc<RetryPolicies>,
    metrics: Arc<KindMetrics>,
}

impl<S, Args, E> Service<Task<Args>> for AckService<S>
where
    S: Service<Task<Args>, Response = Handled<E>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxDynError>,
    E: Failure,
{
    type Response = ();
    type Error = BoxDynError;
    type Future = BoxFuture<'static, std::result::Result<(), BoxDynError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), BoxDynError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, task: Task<Args>) -> Self::Future {
        let lease = task.ctx().data().get::<Lease>().cloned();
        let handles = lease.as_ref().map(|l| self.metrics.of(&l.kind));
        let fut = self.inner.call(task);
        let acks = self.acks.clone();
        let retry = self.retry.clone();
        async move {
            let started = std::time::Instant::now();
            if let Some(h) = &handles {
                h.started.increment(1);
            }
            let result = match fut.await {
                Ok(Handled(Ok(()))) => Ok(()),
                Ok(Handled(Err(e))) => Err((e.verdict(), BoxDynError::from(e))),
                // Not the handler's own failure (a timeout, a caught panic, an
                // extractor that failed): no verdict, so retried on schedule.
                Err(e) => Err((Verdict::Schedule, e.into())),
            };
            if let Some(lease) = lease {
                let outcome = match &result {
                    Ok(()) => Outcome::Succeeded,
                    Err((verdict, e)) => outcome_of_failure(*verdict, e.to_string(), &lease, &retry),
                };
                if let Some(h) = &handles {
                    h.duration.record(started.elapsed().as_secs_f64());
                    match &outcome {
                        Outcome::Succeeded => h.succeeded.increment(1),
                        Outcome::Retry { .. } => h.failed.increment(1),
                        Outcome::Dead { .. } => h.dead.increment(1),
                        Outcome::Released => {}
                    }
                }
                if let Outcome::Dead { error } = &outcome {
                    tracing::error!(job_id = %lease.id, kind = %lease.kind, attempt = lease.attempt, %error, "job is dead");
                } else if let Outcome::Retry { error, at } = &outcome {
                    tracing::warn!(job_id = %lease.id, kind = %lease.kind, attempt = lease.attempt, retry_at = at, %error, "job attempt failed; retry scheduled");
                }
                // A send fails only when the worker is shutting down hard;
                // the lease then expires and the job is re-delivered.
                let _ = acks.send(Completion {
                    id: lease.id,
                    attempt: lease.attempt,
                    lease: lease.lease,
                    outcome,
                });
            }
            // apalis and the layers outside see a failure as an error, as
            // they would from any handler.
            result.map_err(|(_, e)| e)
        }
        .boxed()
    }
}

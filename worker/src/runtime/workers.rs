//! The workers: the apalis monitor over our queue backend, the handler that
//! runs one job attempt (rate limited, in a span carrying the job's ids),
//! and the name each worker registers under. Started by `wiring` for the
//! roles that run workers; the sweeper and schedules beside them are in
//! `schedules`.

use std::{num::NonZeroU32, sync::Arc};

use anyhow::Context as _;
use apalis::prelude::*;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use jobs::{context::JobContext, job::Job};
use queue::{BackendSettings, Handled, QueueBackend};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::schedules;
use crate::{config::Settings, state::AppState};

/// What every job attempt can reach.
struct JobRuntime {
    limiter: Option<DefaultDirectRateLimiter>,
    ctx: JobContext,
}

/// The apalis handler: waits for the process-wide start rate, then runs the job.
///
/// Every line logged while the job runs carries the job's id, kind and the
/// id of what it is about (inbox delivery, referral, milestone, payout,
/// message) through a span: ids, never personal data.
async fn handle_job(
    job: Job,
    attempt: Attempt,
    task_id: TaskId,
    rt: Data<Arc<JobRuntime>>,
) -> Handled<jobs::Error> {
    if let Some(limiter) = &rt.limiter {
        limiter.until_ready().await;
    }
    let span = tracing::info_span!(
        "job",
        job_id = %task_id,
        kind = job.kind(),
        attempt = attempt.current(),
        inbox_id = tracing::field::Empty,
        referral_id = tracing::field::Empty,
        milestone_id = tracing::field::Empty,
        payout_id = tracing::field::Empty,
        message_id = tracing::field::Empty,
    );
    if let Some((field, id)) = job.subject() {
        span.record(field, id);
    }
    job.run(&rt.ctx, attempt.current() as u32)
        .instrument(span)
        .await
        .into()
}

/// A worker name unique per process start. apalis-redis refuses to re-register
/// a name for a while after a crash; our leases are per name too, so a
/// restarted process must never reuse its predecessor's name.
fn worker_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_string());
    let tag = ulid::Ulid::generate().to_string();
    format!("{host}-{}-{}", std::process::id(), &tag[tag.len() - 6..])
}

/// Runs the workers of this process until `shutdown`, with the timer
/// sweeper and the cron schedules beside them; returns once running jobs
/// have finished (or `queue.shutdown_timeout` has passed).
///
/// # Errors
/// A schedule that cannot be read; the worker monitor failing.
pub(super) async fn run_workers(
    settings: Settings,
    state: AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let q = &settings.queue;
    let backend_settings = BackendSettings {
        concurrency: q.concurrency,
        fetch_batch: q.fetch_batch,
        lease: q.lease,
        heartbeat: q.heartbeat,
        poll_interval: q.poll_interval,
        retry: state.retry.clone(),
    };
    let runtime = Arc::new(JobRuntime {
        ctx: (*state.jobs).clone(),
        limiter: q
            .rate_limit_per_second()
            .map(|n: NonZeroU32| RateLimiter::direct(Quota::per_second(n))),
    });
    // The probation timers' safety net: re-arm any whose job is missing
    // (every worker process runs it; re-arming is idempotent).
    let sweeper = schedules::spawn_sweeper(
        runtime.ctx.clone(),
        settings.payouts.timer_sweep,
        shutdown.clone(),
    );
    let schedules = schedules::spawn_schedules(&settings, &runtime.ctx, &shutdown)?;
    let name = worker_name();
    tracing::info!(worker = %name, concurrency = q.concurrency, "worker starting");
    let store = state.queue.clone();
    let timeout = q.job_timeout;
    Monitor::new()
        .register(move |run| {
            let backend: QueueBackend<Job> =
                QueueBackend::new(store.clone(), backend_settings.clone());
            WorkerBuilder::new(format!("{name}-{run}"))
                .backend(backend)
                .timeout(timeout)
                .catch_panic()
                .data(runtime.clone())
                .build(handle_job)
        })
        .shutdown_timeout(q.shutdown_timeout)
        .run_with_signal(async move {
            shutdown.cancelled().await;
            Ok(())
        })
        .await
        .context("worker monitor")?;
    sweeper.abort();
    for s in schedules {
        s.abort();
    }
    Ok(())
}

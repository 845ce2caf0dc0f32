//! What runs beside the workers on a timer: the sweeper (the safety net that
//! gives every row waiting for work a job again, see `jobs::maintenance::sweeper::sweep`)
//! and the cron schedules of `[reconciliation]` (nightly and three-way),
//! `[retention]` and `[reports]`, each
//! enqueueing one job per tick across all processes, and the one-off day-7
//! audit after `reconciliation.go_live`. Started by
//! `workers::run_workers`, stopped by its shutdown token.

use std::time::Duration;

use jobs::{context::JobContext, job::Job, maintenance::schedule::CronSchedule};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;

/// Runs the sweeper every `every` until `stop`.
pub(super) fn spawn_sweeper(
    ctx: JobContext,
    every: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(e) = jobs::maintenance::sweeper::sweep(&ctx).await {
                tracing::warn!(error = %e, "sweeping timers, payouts and notifications failed");
            }
        }
    })
}

/// Arms the schedules that are not turned off (an empty `schedule`).
///
/// # Errors
/// A schedule or time zone that cannot be read, named by its key.
pub(super) fn spawn_schedules(
    settings: &Settings,
    ctx: &JobContext,
    stop: &CancellationToken,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut schedules = Vec::new();
    if !settings.reconciliation.schedule.trim().is_empty() {
        let schedule = CronSchedule::new(
            "reconciliation",
            &settings.reconciliation.schedule,
            &settings.reconciliation.time_zone,
        )
        .map_err(|e| anyhow::anyhow!("reconciliation.{e}"))?;
        schedules.push(tokio::spawn(run_schedule(
            schedule,
            ctx.clone(),
            stop.clone(),
            |trigger| Job::Reconcile {
                trigger,
                dry_run: false,
            },
        )));
    }
    if !settings.reconciliation.three_way_schedule.trim().is_empty() {
        let schedule = CronSchedule::new(
            "three_way",
            &settings.reconciliation.three_way_schedule,
            &settings.reconciliation.time_zone,
        )
        .map_err(|e| anyhow::anyhow!("reconciliation.three_way_{e}"))?;
        schedules.push(tokio::spawn(run_schedule(
            schedule,
            ctx.clone(),
            stop.clone(),
            |trigger| Job::ThreeWayReconcile { trigger },
        )));
    }
    if let Some(go_live) = settings
        .reconciliation
        .go_live_date()
        .map_err(|e| anyhow::anyhow!("reconciliation.go_live: {e}"))?
    {
        schedules.push(tokio::spawn(run_day7(go_live, ctx.clone(), stop.clone())));
    }
    if !settings.retention.schedule.trim().is_empty() {
        let schedule = CronSchedule::new(
            "retention",
            &settings.retention.schedule,
            &settings.retention.time_zone,
        )
        .map_err(|e| anyhow::anyhow!("retention.{e}"))?;
        let after_secs = settings.retention.purge_after.as_secs();
        let referrer_after_secs = Some(settings.retention.referrer_after.as_secs());
        let rejected_after_secs = settings.retention.rejected_after.as_secs();
        schedules.push(tokio::spawn(run_schedule(
            schedule,
            ctx.clone(),
            stop.clone(),
            move |trigger| Job::PurgePersonalData {
                trigger,
                after_secs,
                referrer_after_secs,
                rejected_after_secs,
            },
        )));
    }
    if !settings.reports.schedule.trim().is_empty() {
        let schedule = CronSchedule::new(
            "reports",
            &settings.reports.schedule,
            &settings.reports.time_zone,
        )
        .map_err(|e| anyhow::anyhow!("reports.{e}"))?;
        let period = settings.reports.period;
        let time_zone = settings.reports.time_zone.clone();
        schedules.push(tokio::spawn(run_schedule(
            schedule,
            ctx.clone(),
            stop.clone(),
            move |trigger| Job::KpiReport {
                trigger,
                period,
                time_zone: time_zone.clone(),
            },
        )));
    }
    Ok(schedules)
}

/// The day-7 audit of go-live on `go_live`: once its seven days are over,
/// enqueues it unless its run row exists, under a key naming the go-live
/// date (one job however many processes), checking again every hour until
/// the row is there. A process started late (or after a Redis wipe) makes
/// it up; one started after it ran does nothing: the row decides.
async fn run_day7(go_live: chrono::NaiveDate, ctx: JobContext, stop: CancellationToken) {
    let day7 = jobs::maintenance::three_way::Day7 { go_live };
    let due = match day7.period() {
        Ok(p) => p.until,
        Err(e) => {
            tracing::warn!(error = %e, "day-7 audit not armed");
            return;
        }
    };
    tracing::info!(%go_live, %due, "day-7 audit armed");
    loop {
        let wait = (due - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        match day7.done(&ctx.db).await {
            Ok(true) => return,
            Ok(false) => {
                let key = day7.trigger();
                let enqueued = Job::Day7Audit { go_live }
                    .to_new_job(&ctx.retry)
                    .map(|j| j.idempotency_key(key.clone()));
                match enqueued {
                    Ok(job) => match ctx.queue.enqueue(job).await {
                        Ok(outcome) => tracing::info!(%key, job_id = %outcome.id.as_str(),
                            duplicate = outcome.duplicate, "day-7 audit enqueued"),
                        Err(e) => {
                            tracing::warn!(%key, error = %e, "could not enqueue the day-7 audit")
                        }
                    },
                    Err(e) => tracing::warn!(error = %e, "day-7 audit job"),
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not tell whether the day-7 audit ran"),
        }
        // Look again later: the job may still be queued, or have failed
        // before its row existed.
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(DAY7_RECHECK) => {}
        }
    }
}

/// How often a process looks whether the day-7 audit has its run row yet.
const DAY7_RECHECK: Duration = Duration::from_secs(3600);

/// Enqueues `job(tick key)` at every tick of `schedule` until shutdown.
///
/// Every worker process runs this loop for every schedule; the tick's key
/// is the job's idempotency key, so the queue keeps one job per tick
/// whichever process enqueues first (see `jobs::maintenance::schedule`). A tick missed
/// while no process was up is not made up: the next one runs.
async fn run_schedule(
    schedule: CronSchedule,
    ctx: JobContext,
    stop: CancellationToken,
    job: impl Fn(String) -> Job + Send + 'static,
) {
    tracing::info!(schedule = %schedule, "schedule armed");
    loop {
        let Some(tick) = schedule.next_after(chrono::Utc::now()) else {
            tracing::warn!(schedule = %schedule, "schedule has no further tick");
            return;
        };
        let wait = (tick - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let key = schedule.tick_key(tick);
        let enqueued = job(key.clone())
            .to_new_job(&ctx.retry)
            .map(|j| j.idempotency_key(key.clone()));
        match enqueued {
            Ok(new_job) => match ctx.queue.enqueue(new_job).await {
                Ok(outcome) => tracing::info!(
                    schedule = schedule.name(),
                    tick = %key,
                    job_id = %outcome.id.as_str(),
                    duplicate = outcome.duplicate,
                    "schedule tick"
                ),
                Err(e) => tracing::warn!(schedule = schedule.name(), tick = %key, error = %e,
                    "could not enqueue the tick's job; the next tick runs"),
            },
            Err(e) => tracing::warn!(schedule = schedule.name(), error = %e, "tick job"),
        }
        // Never fire the same tick twice in one process, even if the clock
        // reads the tick again after the sleep.
        let past = tick + chrono::Duration::milliseconds(1);
        let now = chrono::Utc::now();
        if now < past {
            tokio::time::sleep((past - now).to_std().unwrap_or_default()).await;
        }
    }
}

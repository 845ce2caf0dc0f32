//! What a job does: [`Job::run`], the one place that maps each kind to its
//! handler. It sits on top of every workflow module and nothing in the
//! crate imports it; the worker's job service (`worker/src/runtime/workers.rs`)
//! calls it for every attempt. Handlers enqueue follow-up jobs as
//! [`Job`] values ([`crate::job`]), which needs no handler.

use std::time::Duration;

use crate::{context::JobContext, error::Result, job::Job};

impl Job {
    /// Runs one attempt. `attempt` is 1-based.
    ///
    /// # Errors
    /// The job's verdict: [`Error::Permanent`](crate::Error::Permanent) dead-letters, anything else
    /// retries on the kind's schedule.
    pub async fn run(self, ctx: &JobContext, attempt: u32) -> Result<()> {
        match self {
            Job::ProcessDelivery { inbox_id } => {
                crate::capture::process_delivery(ctx, inbox_id, attempt)
                    .await
                    .map(|_| ())
            }
            Job::WriteBackReferral { referral_id } => {
                crate::capture::write_back::write_back(ctx, referral_id).await
            }
            Job::ProbationDue {
                milestone_id,
                due_at_ms,
            } => crate::milestones::probation_due(ctx, milestone_id, due_at_ms).await,
            Job::TwinWaitDue { wait_id, due_at_ms } => {
                crate::capture::twin_fallback::due(ctx, wait_id, due_at_ms).await
            }
            Job::SendPayout { payout_id } => {
                crate::payout::send::send(ctx, payout_id, attempt).await
            }
            Job::DeliverMessage { message_id } => {
                crate::outbox::deliver(ctx, message_id, attempt).await
            }
            Job::PurgePersonalData {
                trigger,
                after_secs,
                referrer_after_secs,
                rejected_after_secs,
            } => {
                let report = crate::maintenance::retention::purge(
                    ctx,
                    Duration::from_secs(after_secs),
                    false,
                    "system:retention",
                )
                .await?;
                let rejected = crate::maintenance::retention::purge_rejected(
                    &ctx.db,
                    Duration::from_secs(rejected_after_secs),
                    false,
                )
                .await?;
                tracing::info!(
                    %trigger,
                    candidates = report.candidates.len(),
                    inbox_bodies = report.inbox_bodies,
                    rejected_deliveries = rejected,
                    "retention purge done"
                );
                if let Some(secs) = referrer_after_secs {
                    crate::maintenance::retention::purge_referrers(
                        ctx,
                        Duration::from_secs(secs),
                        false,
                        "system:retention",
                    )
                    .await?;
                }
                Ok(())
            }
            Job::KpiReport {
                trigger,
                period,
                time_zone,
            } => crate::finance::report::run_tick(ctx, &trigger, period, &time_zone)
                .await
                .map(|_| ()),
            Job::ThreeWayReconcile { trigger } => {
                crate::maintenance::three_way::run_tick(ctx, &trigger)
                    .await
                    .map(|_| ())
            }
            Job::Day7Audit { go_live } => crate::maintenance::three_way::day7_audit(ctx, go_live)
                .await
                .map(|_| ()),
            Job::Reconcile { trigger, dry_run } => {
                crate::maintenance::reconcile::run(ctx, &trigger, dry_run, "system:reconciliation")
                    .await
                    .map(|_| ())
            }
            diagnostic => diagnostic.run_diagnostic(attempt).await,
        }
    }
}

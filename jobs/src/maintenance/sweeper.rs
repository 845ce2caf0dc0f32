//! The safety net between the database and the queue. The database is the
//! source of truth and the queue carries the work; a wiped Redis, or a
//! process killed between a commit and its enqueue, can leave a row waiting
//! for a job that no longer exists. [`sweep`] gives every such row its job
//! again. Each job's idempotency key makes that a no-op while the job still
//! exists.
//!
//! Run by every worker process every `payouts.timer_sweep`
//! (`worker/src/runtime/schedules.rs`).

use crate::{
    capture::twin_fallback, context::JobContext, error::Result, intake::inbox, milestones, outbox,
    payout::ledger,
};

/// Re-enqueues the job of every armed probation timer, waiting fallback
/// write-back ([`twin_fallback`]), stored delivery, sendable payout and
/// pending notification; returns how many timers were missing from the
/// queue (re-armed).
///
/// # Errors
/// Database and queue errors.
pub async fn sweep(ctx: &JobContext) -> Result<u64> {
    let rearmed = milestones::rearm_missing_timers(ctx, 1000).await?
        + twin_fallback::rearm_missing(ctx, 1000).await?;
    inbox::sweep(ctx).await?;
    ledger::sweep(ctx).await?;
    outbox::kick(ctx).await?;
    Ok(rearmed)
}

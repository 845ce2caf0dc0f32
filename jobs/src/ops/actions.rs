//! What ops do to jobs: retry, cancel, requeue the dead, each with a dry
//! run and audited with the actor and the reason.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::request::{MAX_LIMIT, at, clean_reason, record};
use crate::{
    context::JobContext,
    error::{Error, Result},
};
use queue::{JobFilter, JobId, JobInfo, JobState};

/// What a retry or cancel did (or, on a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct JobActionOutcome {
    /// `retry` or `cancel`.
    pub action: &'static str,
    /// The job.
    pub job_id: String,
    /// Its kind.
    pub kind: String,
    /// Nothing was changed.
    pub dry_run: bool,
    /// The state it was (is) in.
    pub from: JobState,
    /// The state it is (would be) in.
    pub to: JobState,
    /// The audit event written (not on a dry run).
    pub audit_event_id: Option<i64>,
}

async fn current(ctx: &JobContext, id: &JobId) -> Result<JobInfo> {
    ctx.queue
        .get(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("job {id}")))
}

/// Retries a dead, retrying or cancelled job now, attempts reset (its
/// error history is kept). With `dry_run`, says so without doing it.
/// Audited as `job.retried`.
///
/// # Errors
/// [`Error::NotFound`]; [`Error::InvalidState`] for scheduled, ready,
/// running or succeeded jobs (re-running a succeeded payout job could pay
/// twice), on a dry run too; [`Error::Invalid`] for an empty reason.
pub async fn retry_job(
    ctx: &JobContext,
    id: &JobId,
    actor: &str,
    reason: &str,
    dry_run: bool,
) -> Result<JobActionOutcome> {
    let reason = clean_reason(reason)?;
    let info = current(ctx, id).await?;
    if !matches!(
        info.state,
        JobState::Dead | JobState::Retrying | JobState::Cancelled
    ) {
        return Err(Error::InvalidState {
            id: id.to_string(),
            state: info.state.to_string(),
            reason: "only a dead, retrying or cancelled job can be retried",
        });
    }
    let mut out = JobActionOutcome {
        action: "retry",
        job_id: id.to_string(),
        kind: info.kind.clone(),
        dry_run,
        from: info.state,
        to: JobState::Ready,
        audit_event_id: None,
    };
    if dry_run {
        return Ok(out);
    }
    out.from = ctx.queue.retry(id).await?;
    out.audit_event_id = Some(
        record(
            ctx,
            actor,
            "job.retried",
            "job",
            id.to_string(),
            json!({ "kind": info.kind, "from": out.from, "attempts": info.attempts, "reason": reason }),
        )
        .await?,
    );
    Ok(out)
}

/// Cancels a scheduled, ready or retrying job. With `dry_run`, says so
/// without doing it. Audited as `job.cancelled`.
///
/// # Errors
/// [`Error::NotFound`]; [`Error::InvalidState`] for a running job (it may
/// already have had its effect) or a finished one; [`Error::Invalid`] for
/// an empty reason.
pub async fn cancel_job(
    ctx: &JobContext,
    id: &JobId,
    actor: &str,
    reason: &str,
    dry_run: bool,
) -> Result<JobActionOutcome> {
    let reason = clean_reason(reason)?;
    let info = current(ctx, id).await?;
    if !matches!(
        info.state,
        JobState::Scheduled | JobState::Ready | JobState::Retrying
    ) {
        return Err(Error::InvalidState {
            id: id.to_string(),
            state: info.state.to_string(),
            reason: "only a scheduled, ready or retrying job can be cancelled",
        });
    }
    let mut out = JobActionOutcome {
        action: "cancel",
        job_id: id.to_string(),
        kind: info.kind.clone(),
        dry_run,
        from: info.state,
        to: JobState::Cancelled,
        audit_event_id: None,
    };
    if dry_run {
        return Ok(out);
    }
    out.from = ctx.queue.cancel(id).await?;
    out.audit_event_id = Some(
        record(
            ctx,
            actor,
            "job.cancelled",
            "job",
            id.to_string(),
            json!({ "kind": info.kind, "from": out.from, "reason": reason }),
        )
        .await?,
    );
    Ok(out)
}

/// A job in a short listing (requeue-dead's dry run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct JobBrief {
    /// The job.
    pub id: String,
    /// Attempts made.
    pub attempts: u32,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its last error.
    pub last_error: Option<String>,
}

/// What requeue-dead did (or would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RequeueOutcome {
    /// The kind.
    pub kind: String,
    /// Nothing was changed.
    pub dry_run: bool,
    /// Dead jobs of that kind (dry run), or how many were requeued.
    pub count: u64,
    /// On a dry run, the dead jobs (newest first, at most 500).
    pub jobs: Vec<JobBrief>,
    /// The audit event written (not on a dry run).
    pub audit_event_id: Option<i64>,
}

/// Retries every dead job of `kind`. With `dry_run`, lists and counts them
/// instead. Audited as `jobs.requeued_dead`.
///
/// # Errors
/// [`Error::Invalid`] for an empty kind or reason; queue errors.
pub async fn requeue_dead(
    ctx: &JobContext,
    kind: &str,
    actor: &str,
    reason: &str,
    dry_run: bool,
) -> Result<RequeueOutcome> {
    let kind = kind.trim();
    if kind.is_empty() || kind.len() > 100 {
        return Err(Error::invalid(
            "kind",
            "must name a job kind, e.g. send_payout",
        ));
    }
    let reason = clean_reason(reason)?;
    if dry_run {
        let mut jobs = Vec::new();
        let mut count = 0u64;
        let mut filter = JobFilter::state(JobState::Dead).kind(kind);
        filter.limit = MAX_LIMIT;
        loop {
            let page = ctx.queue.list(&filter).await?;
            count += page.jobs.len() as u64;
            for j in page.jobs {
                if jobs.len() < MAX_LIMIT as usize {
                    jobs.push(JobBrief {
                        id: j.id.to_string(),
                        attempts: j.attempts,
                        finished_at: j.finished_at.map(at),
                        last_error: j.last_error,
                    });
                }
            }
            match page.next {
                Some(n) => filter.cursor = n,
                None => break,
            }
        }
        return Ok(RequeueOutcome {
            kind: kind.to_string(),
            dry_run,
            count,
            jobs,
            audit_event_id: None,
        });
    }
    let count = ctx.queue.requeue_dead(kind).await?;
    let audit_event_id = record(
        ctx,
        actor,
        "jobs.requeued_dead",
        "job_kind",
        kind.to_string(),
        json!({ "kind": kind, "count": count, "reason": reason }),
    )
    .await?;
    Ok(RequeueOutcome {
        kind: kind.to_string(),
        dry_run,
        count,
        jobs: Vec::new(),
        audit_event_id: Some(audit_event_id),
    })
}

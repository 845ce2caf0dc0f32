//! A SmartRecruiters delivery: its body carries ids only, so the
//! candidate's assignment to the job is re-read through the connector
//! ([`super::refetch`]) and captured as the Customer API states it: the
//! status (`HIRED`/`HIRE` is the only hire), `startsOn` as the start date
//! that starts the probation timer, the token carried in a tag. Nothing
//! the delivery says decides anything, money included.
//!
//! A candidate event (`candidate.created`, `candidate.updated`) names no
//! job: the candidate's primary assignment is read, and a candidate that
//! holds no job yet (a talent-pool entry) is ignored; its
//! `application.created` comes when it applies.
//!
//! Called by the `process_delivery` job ([`super::process_delivery`]).

use chrono::Utc;
use entities::states::Ats;

use super::{Processed, capture_application, refetch};
use crate::{
    connectors::smartrecruiters::{api::NO_ASSIGNMENT, application_id},
    context::JobContext,
    error::{Error, Result},
};

/// Captures SmartRecruiters candidate `candidate_id`'s assignment to
/// `job_id` (its primary one when `None`) after an `event` about it.
///
/// # Errors
/// The re-read's (permanent without a SmartRecruiters client, or when the
/// candidate does not hold the job); database and queue errors
/// (retryable).
pub(super) async fn capture_assignment(
    ctx: &JobContext,
    event: &str,
    candidate_id: &str,
    job_id: Option<&str>,
) -> Result<Processed> {
    let wanted = match job_id {
        Some(job) => application_id(candidate_id, job),
        None => candidate_id.to_owned(),
    };
    // The assignment as the API states it now is at least as new as the
    // read's start: that time orders it against other events.
    let read_at = Utc::now();
    let state = match refetch::refetch_state(&ctx.connectors, Ats::SmartRecruiters, &wanted).await {
        Ok(state) => state,
        Err(Error::Permanent(m)) if job_id.is_none() && m.contains(NO_ASSIGNMENT) => {
            tracing::info!(
                candidate = candidate_id,
                event,
                "smartrecruiters candidate holds no job yet; nothing to capture"
            );
            return Ok(Processed::Ignored);
        }
        Err(e) => return Err(e),
    };
    let ev = refetch::state_as_event(Ats::SmartRecruiters, event, state, read_at);
    capture_application(ctx, &ev).await?;
    Ok(Processed::Applied)
}

//! A Workable delivery: the candidate re-read through its connector
//! ([`super::refetch`]) and captured as the API states it.
//!
//! Workable signs the whole body, but the body is the candidate *as it was
//! when Workable sent it*, not as it was when the event happened (two quick
//! moves can both arrive showing the last stage), and a retried delivery
//! can be hours old. So the body only says which candidate to read; what
//! the Workable API states now decides, money included:
//!
//! * a `candidate_moved` whose body claims a hire (`stage_kind: hired`,
//!   `hired_at`) while the API does not show one is recorded in the audit
//!   log (`workable.hire_unconfirmed`) and changes nothing: no milestone,
//!   no payout;
//! * a hire the API states is captured whatever the body said (a later
//!   move may have been sent first).
//!
//! Called by the `process_delivery` job ([`super::process_delivery`]).

use chrono::Utc;
use entities::states::Ats;
use serde_json::json;

use super::{Processed, capture_application, refetch};
use crate::{
    connectors::AtsStatus,
    context::JobContext,
    db::{audit::AuditEntry, begin_locked},
    error::Result,
};

/// Captures Workable candidate `candidate_id` after an `event` about it;
/// `claims_hired` is what the delivery's body said.
///
/// # Errors
/// The re-read's (permanent without a Workable client); database and queue
/// errors (retryable).
pub(super) async fn capture_candidate(
    ctx: &JobContext,
    event: &str,
    candidate_id: &str,
    claims_hired: bool,
) -> Result<Processed> {
    // The candidate as the API states it now is at least as new as the
    // read's start: that time orders it against other events.
    let read_at = Utc::now();
    let state = refetch::refetch_state(&ctx.connectors, Ats::Workable, candidate_id).await?;
    if claims_hired && state.status != AtsStatus::Hired {
        tracing::warn!(
            candidate = candidate_id,
            status = ?state.status,
            "workable delivery claims a hire the API does not show"
        );
        let tx = begin_locked(&ctx.db, &[format!("app:Workable:{candidate_id}")]).await?;
        tx.audit(AuditEntry::system(
            "workable.hire_unconfirmed",
            "ats_application",
            candidate_id,
            json!({
                "ats": "workable", "event": event, "ats_application_id": candidate_id,
                "status": state.status, "stage": state.stage,
            }),
        ));
        tx.commit().await?;
        return Ok(Processed::Ignored);
    }
    let ev = refetch::state_as_event(Ats::Workable, event, state, read_at);
    capture_application(ctx, &ev).await?;
    Ok(Processed::Applied)
}

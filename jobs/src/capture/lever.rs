//! A Lever delivery: the opportunity re-fetched through its connector
//! ([`super::refetch`]) and captured as the API states it, never as the
//! unsigned body claims.
//!
//! * A `candidateHired` whose opportunity the API does not show as hired
//!   (archived for a reason of type `hired`) is recorded in the audit log
//!   (`lever.hire_unconfirmed`) and changes nothing: no application, no
//!   milestone, no payout.
//! * Lever's own referral (its referral form, or a referral application)
//!   names a Lever *user*; the employee credited is the one whose email is
//!   that user's. A referrer no employee matches is recorded
//!   (`attribution.lever_referrer_unmatched`) and credits nobody.
//!
//! Called by the `process_delivery` job ([`super::process_delivery`]).

use chrono::Utc;
use entities::{employee, states::Ats};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::{Processed, capture_application, refetch};
use crate::{
    connectors::{AtsReferrer, AtsStatus, lever::HIRED_EVENT},
    context::JobContext,
    db::{audit::AuditEntry, begin_locked},
    error::Result,
    identity::email::CanonicalEmail,
};

/// Captures Lever opportunity `opportunity_id` after an `event` about it.
///
/// # Errors
/// The re-fetch's (permanent without a Lever client); database and queue
/// errors (retryable).
pub(super) async fn capture_opportunity(
    ctx: &JobContext,
    event: &str,
    opportunity_id: &str,
) -> Result<Processed> {
    // The opportunity as the API states it now is at least as new as the
    // read's start: that time orders it against other events.
    let read_at = Utc::now();
    let mut state = refetch::refetch_state(&ctx.connectors, Ats::Lever, opportunity_id).await?;
    if event == HIRED_EVENT && state.status != AtsStatus::Hired {
        tracing::warn!(
            opportunity = opportunity_id,
            status = ?state.status,
            "lever candidateHired for an opportunity the API does not show as hired"
        );
        let tx = begin_locked(&ctx.db, &[format!("app:Lever:{opportunity_id}")]).await?;
        tx.audit(AuditEntry::system(
            "lever.hire_unconfirmed",
            "ats_application",
            opportunity_id,
            json!({
                "ats": "lever", "event": event, "ats_application_id": opportunity_id,
                "status": state.status,
            }),
        ));
        tx.commit().await?;
        return Ok(Processed::Ignored);
    }
    let referrers = std::mem::take(&mut state.referrers);
    let mut ev = refetch::state_as_event(Ats::Lever, event, state, read_at);
    if !referrers.is_empty() {
        ev.credited_employee_id = referring_employee(ctx, opportunity_id, &referrers).await?;
    }
    capture_application(ctx, &ev).await?;
    Ok(Processed::Applied)
}

/// The employee behind the first of `referrers` whose email is an
/// employee's; every referrer before it that matched nobody is recorded.
async fn referring_employee(
    ctx: &JobContext,
    opportunity_id: &str,
    referrers: &[AtsReferrer],
) -> Result<Option<String>> {
    let mut unmatched = Vec::new();
    let mut found = None;
    for r in referrers {
        let canonical = r.email.as_deref().and_then(CanonicalEmail::parse);
        let employee = match &canonical {
            Some(email) => {
                employee::Entity::find()
                    .filter(employee::Column::EmailCanonical.eq(email.as_str()))
                    .one(&ctx.db)
                    .await?
            }
            None => None,
        };
        match employee {
            Some(e) => {
                found = Some(e.employee_id);
                break;
            }
            None => unmatched.push(&r.user_id),
        }
    }
    if !unmatched.is_empty() {
        let tx = begin_locked(&ctx.db, &[format!("app:Lever:{opportunity_id}")]).await?;
        for user in unmatched {
            tx.audit(AuditEntry::system(
                "attribution.lever_referrer_unmatched",
                "ats_application",
                opportunity_id,
                json!({
                    "ats": "lever", "ats_application_id": opportunity_id,
                    "lever_user_id": user, "credited": found,
                }),
            ));
        }
        tx.commit().await?;
    }
    Ok(found)
}

//! A Lever delivery: the opportunity re-fetched from the API
//! ([`crate::connectors::lever::refetch`]) and captured as the API states
//! it, never as the unsigned body claims.
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

use entities::employee;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::{Processed, capture_application};
use crate::{
    connectors::lever::{self, HIRED_EVENT, LeverStatus, Referrer},
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
    let state = lever::refetch(ctx.lever.as_deref(), event, opportunity_id).await?;
    if event == HIRED_EVENT && state.status != LeverStatus::Hired {
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
                "status": state.status, "archive_reason": state.archive_reason,
            }),
        ));
        tx.commit().await?;
        return Ok(Processed::Ignored);
    }
    let mut ev = state.application;
    if !state.referrers.is_empty() {
        ev.credited_employee_id = referring_employee(ctx, opportunity_id, &state.referrers).await?;
    }
    capture_application(ctx, &ev).await?;
    Ok(Processed::Applied)
}

/// The employee behind the first of `referrers` whose email is an
/// employee's; every referrer before it that matched nobody is recorded.
async fn referring_employee(
    ctx: &JobContext,
    opportunity_id: &str,
    referrers: &[Referrer],
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

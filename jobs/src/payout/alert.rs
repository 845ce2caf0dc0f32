//! Alerts about one payout that name what finance and ops search by: the
//! payout and its state, the referral, the referrer's employee id, the
//! application and candidate in their ATS, the job, the idempotency key the
//! bonus system files it under, and (from [`crate::outbox::alert`]) the
//! send job with its ops link. A payout's row number alone answers none
//! of their questions.
//!
//! Called by the send job ([`super::send`]) when a payout fails, dies or
//! ends with an unknown outcome.

use entities::{application, candidate_ats_id, payout, referral};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use super::ledger::state_name;
use crate::{
    context::JobContext,
    error::Result,
    outbox::{self, Subject},
};

/// Stages an alert `payout … is {what}` about `p` with its identifiers in
/// the text and, field by field, in the message's `context`.
///
/// # Errors
/// Database errors.
pub async fn payout_alert(
    ctx: &JobContext,
    conn: &impl ConnectionTrait,
    p: &payout::Model,
    what: &str,
) -> Result<()> {
    let context = payout_context(conn, p).await?;
    let field = |name: &str| context[name].as_str().unwrap_or("-").to_string();
    let text = format!(
        "payout {} ({} {} minor units, tranche {}) is {what}\n\
         referral {} by employee {}; {} application {} (candidate {}), job {}; \
         idempotency key {}",
        p.public_id,
        p.currency,
        p.amount_minor,
        p.tranche,
        field("referral_id"),
        field("referring_employee_id"),
        field("ats"),
        field("ats_application_id"),
        field("ats_candidate_id"),
        field("ats_job_id"),
        p.idempotency_key,
    );
    outbox::alert_with_context(
        ctx,
        conn,
        &text,
        p.send_job_id.as_deref(),
        Subject {
            kind: "payout",
            id: Some(p.id),
        },
        Some(context),
    )
    .await
}

/// The identifiers of `p` that people search by (the `context` of
/// `docs/schemas/ops.alert.json`).
async fn payout_context(conn: &impl ConnectionTrait, p: &payout::Model) -> Result<Value> {
    let r = referral::Entity::find_by_id(p.referral_id)
        .one(conn)
        .await?;
    let app = match r.as_ref().and_then(|r| r.application_id) {
        Some(id) => application::Entity::find_by_id(id).one(conn).await?,
        None => None,
    };
    let ats_candidate_id = match &app {
        Some(a) => candidate_ats_id::Entity::find()
            .filter(candidate_ats_id::Column::CandidateId.eq(a.candidate_id))
            .filter(candidate_ats_id::Column::Ats.eq(a.ats))
            .one(conn)
            .await?
            .map(|c| c.ats_candidate_id),
        None => None,
    };
    Ok(json!({
        "payout_id": p.public_id,
        "payout_state": state_name(p.state),
        "referral_id": r.as_ref().map(|r| r.public_id.clone()).unwrap_or_default(),
        "referring_employee_id": r.as_ref().map(|r| r.employee_id.clone()).unwrap_or_default(),
        "idempotency_key": p.idempotency_key,
        "ats": app.as_ref().map(|a| a.ats),
        "ats_application_id": app.as_ref().map(|a| a.ats_application_id.clone()),
        "ats_candidate_id": ats_candidate_id,
        "ats_job_id": app.as_ref().map(|a| a.job_id.clone()),
        "amount_minor": p.amount_minor,
        "currency": p.currency,
        "tranche_name": p.tranche,
    }))
}

//! The `write_back_referral` job: tells the application's ATS that a
//! credited referral brought it (a tag, the referrer, our token), through
//! the ATS's client ([`crate::connectors`]). Enqueued by capture when it
//! credits a referral, and again when a careers-site referral moves to its
//! ATS application; run by [`crate::dispatch`].
//!
//! A write-back that cannot or need not happen (the referral is no longer
//! credited, the ATS has no API configured, sandbox mode records it
//! instead) is skipped and audited as `attribution.write_back_skipped`;
//! one that happened is audited as `attribution.written_back`.

use entities::{
    application, candidate_ats_id, employee, referral, referral::ReferralState, states::Ats,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::{
    connectors::{AtsClient, WriteBack},
    context::JobContext,
    db::{audit::AuditEntry, begin_locked},
    error::{Error, Result},
};

/// Writes a credited referral back to its ATS.
///
/// # Errors
/// The ATS client's verdict (retry, retry-after, permanent).
pub async fn write_back(ctx: &JobContext, referral_id: i64) -> Result<()> {
    let Some(r) = referral::Entity::find_by_id(referral_id)
        .one(&ctx.db)
        .await?
    else {
        return Err(Error::permanent(format!(
            "referral {referral_id} does not exist"
        )));
    };
    if r.state != ReferralState::Credited {
        return note_skip(ctx, referral_id, "referral is no longer credited").await;
    }
    let Some(app_id) = r.application_id else {
        return note_skip(ctx, referral_id, "referral has no application").await;
    };
    let Some(app) = application::Entity::find_by_id(app_id).one(&ctx.db).await? else {
        return Err(Error::permanent(format!(
            "application {app_id} does not exist"
        )));
    };
    let ats_candidate_id = candidate_ats_id::Entity::find()
        .filter(candidate_ats_id::Column::CandidateId.eq(r.candidate_id))
        .filter(candidate_ats_id::Column::Ats.eq(app.ats))
        .one(&ctx.db)
        .await?
        .map(|m| m.ats_candidate_id);
    let wb = WriteBack {
        ats_candidate_id: ats_candidate_id.unwrap_or_default(),
        ats_application_id: app.ats_application_id.clone(),
        referrer_employee_id: r.employee_id.clone(),
        referrer_ats_user_id: None,
        referral_token: r.link_token.clone(),
        tag: ctx.capture.ats_tag.clone(),
    };
    let configured = match app.ats {
        Ats::Greenhouse => ctx.greenhouse.is_some(),
        Ats::Lever => ctx.lever.is_some(),
        Ats::Ashby => ctx.ashby.is_some(),
        Ats::CareersSite | Ats::Generic => false,
    };
    if configured
        && ctx
            .sandbox
            .record_write_back(app.ats, referral_id, &app.ats_application_id)
            .await?
    {
        return note_skip(ctx, referral_id, "sandbox: write-back recorded, not sent").await;
    }
    match app.ats {
        Ats::Greenhouse => match &ctx.greenhouse {
            Some(c) => c.write_referral(&wb).await?,
            None => {
                return note_skip(ctx, referral_id, "Greenhouse API not configured").await;
            }
        },
        Ats::Lever => match &ctx.lever {
            Some(c) => c.write_referral(&wb).await?,
            None => {
                return note_skip(ctx, referral_id, "Lever API not configured").await;
            }
        },
        Ats::Ashby => match &ctx.ashby {
            // Ashby credits its own users: the referrer's work email
            // finds theirs.
            Some(c) => {
                let email = employee::Entity::find()
                    .filter(employee::Column::EmployeeId.eq(&r.employee_id))
                    .one(&ctx.db)
                    .await?
                    .map(|e| e.email);
                c.write_referral_crediting(&wb, email.as_deref()).await?;
            }
            None => {
                return note_skip(ctx, referral_id, "Ashby API not configured").await;
            }
        },
        Ats::CareersSite | Ats::Generic => {
            // Moved to the ATS application when that arrives (capture
            // re-points the referral and enqueues write-back again).
            return note_skip(
                ctx,
                referral_id,
                "no ATS application yet; written back when it arrives",
            )
            .await;
        }
    }
    let tx = begin_locked(&ctx.db, &[]).await?;
    tx.audit(AuditEntry::system(
        "attribution.written_back",
        "referral",
        referral_id,
        json!({ "application_id": app.id, "ats": app.ats }),
    ));
    tx.commit().await?;
    Ok(())
}

async fn note_skip(ctx: &JobContext, referral_id: i64, reason: &str) -> Result<()> {
    tracing::info!(referral_id, reason, "write-back skipped");
    let tx = begin_locked(&ctx.db, &[]).await?;
    tx.audit(AuditEntry::system(
        "attribution.write_back_skipped",
        "referral",
        referral_id,
        json!({ "reason": reason }),
    ));
    tx.commit().await?;
    Ok(())
}

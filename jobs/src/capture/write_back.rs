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
    connectors::WriteBack,
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
    let referrer_email = employee::Entity::find()
        .filter(employee::Column::EmployeeId.eq(&r.employee_id))
        .one(&ctx.db)
        .await?
        .map(|e| e.email);
    let wb = WriteBack {
        ats_candidate_id: ats_candidate_id.unwrap_or_default(),
        ats_application_id: app.ats_application_id.clone(),
        referrer_employee_id: r.employee_id.clone(),
        referrer_email,
        referrer_ats_user_id: None,
        referral_token: r.link_token.clone(),
        tag: ctx.capture.ats_tag.clone(),
    };
    if matches!(app.ats, Ats::CareersSite | Ats::Generic) {
        // Moved to the ATS application when that arrives (capture
        // re-points the referral and enqueues write-back again).
        return note_skip(
            ctx,
            referral_id,
            "no ATS application yet; written back when it arrives",
        )
        .await;
    }
    let Some(connector) = ctx.connectors.get(app.ats) else {
        let reason = format!("{} API not configured", vendor_name(app.ats));
        return note_skip(ctx, referral_id, &reason).await;
    };
    if ctx
        .sandbox
        .record_write_back(app.ats, referral_id, &app.ats_application_id)
        .await?
    {
        return note_skip(ctx, referral_id, "sandbox: write-back recorded, not sent").await;
    }
    let report = connector.write_attribution(&wb).await?;
    let tx = begin_locked(&ctx.db, &[]).await?;
    tx.audit(AuditEntry::system(
        "attribution.written_back",
        "referral",
        referral_id,
        json!({ "application_id": app.id, "ats": app.ats,
                "written": report.written, "skipped": report.skipped }),
    ));
    tx.commit().await?;
    Ok(())
}

/// How the skip reason names the vendor (`Greenhouse API not configured`).
fn vendor_name(ats: Ats) -> &'static str {
    match ats {
        Ats::Greenhouse => "Greenhouse",
        Ats::Lever => "Lever",
        Ats::Ashby => "Ashby",
        Ats::Workable => "Workable",
        Ats::CareersSite => "careers site",
        Ats::Generic => "generic ATS",
    }
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

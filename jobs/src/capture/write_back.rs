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
//!
//! What a write-back carries ([`attribution_for`]) and how it reaches the
//! ATS or the sandbox recorder ([`send`]) are shared with the fallback
//! write-back ([`super::twin_fallback`]), which finds the ATS application
//! by email when a careers-site referral's twin never arrives.

use entities::{
    application, candidate_ats_id, employee, referral, referral::ReferralState, states::Ats,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::{
    connectors::{WriteBack, WriteReport},
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
    if matches!(app.ats, Ats::CareersSite | Ats::Generic) {
        // Moved to the ATS application when that arrives (capture
        // re-points the referral and enqueues write-back again); if it
        // never does, the fallback looks it up ([`super::twin_fallback`]).
        return note_skip(
            ctx,
            referral_id,
            "no ATS application yet; written back when it arrives",
        )
        .await;
    }
    let ats_candidate_id = candidate_ats_id::Entity::find()
        .filter(candidate_ats_id::Column::CandidateId.eq(r.candidate_id))
        .filter(candidate_ats_id::Column::Ats.eq(app.ats))
        .one(&ctx.db)
        .await?
        .map(|m| m.ats_candidate_id);
    let wb = attribution_for(
        ctx,
        &r,
        ats_candidate_id.unwrap_or_default(),
        app.ats_application_id.clone(),
    )
    .await?;
    let report = match send(ctx, referral_id, app.ats, &wb).await? {
        Sent::Written(report) => report,
        Sent::NotConfigured(reason) => return note_skip(ctx, referral_id, &reason).await,
        Sent::Recorded => {
            return note_skip(ctx, referral_id, "sandbox: write-back recorded, not sent").await;
        }
    };
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

/// What referral `r` writes back to the ATS application
/// `ats_application_id` of candidate `ats_candidate_id`: the referrer
/// (our employee id and work email), our token and the tag. The one
/// definition of a write-back, for the normal path and the fallback
/// ([`super::twin_fallback`]).
///
/// # Errors
/// Database errors.
pub(crate) async fn attribution_for(
    ctx: &JobContext,
    r: &referral::Model,
    ats_candidate_id: String,
    ats_application_id: String,
) -> Result<WriteBack> {
    let referrer_email = employee::Entity::find()
        .filter(employee::Column::EmployeeId.eq(&r.employee_id))
        .one(&ctx.db)
        .await?
        .map(|e| e.email);
    Ok(WriteBack {
        ats_candidate_id,
        ats_application_id,
        referrer_employee_id: r.employee_id.clone(),
        referrer_email,
        referrer_ats_user_id: None,
        referral_token: r.link_token.clone(),
        tag: ctx.capture.ats_tag.clone(),
    })
}

/// What [`send`] did.
#[derive(Debug)]
pub(crate) enum Sent {
    /// The ATS has no API configured (the reason names it).
    NotConfigured(String),
    /// Sandbox mode recorded the write instead of making it.
    Recorded,
    /// Written, with what the connector wrote and skipped.
    Written(WriteReport),
}

/// Writes `wb` to `ats` through its connector, or records it in sandbox
/// mode: the part of a write-back after the target is known, shared by the
/// normal path and the fallback.
///
/// # Errors
/// The connector's verdict (retry, retry-after, permanent); database
/// errors of the sandbox recorder.
pub(crate) async fn send(
    ctx: &JobContext,
    referral_id: i64,
    ats: Ats,
    wb: &WriteBack,
) -> Result<Sent> {
    let Some(connector) = ctx.connectors.get(ats) else {
        return Ok(Sent::NotConfigured(format!(
            "{} API not configured",
            vendor_name(ats)
        )));
    };
    if ctx
        .sandbox
        .record_write_back(ats, referral_id, &wb.ats_application_id)
        .await?
    {
        return Ok(Sent::Recorded);
    }
    Ok(Sent::Written(connector.write_attribution(wb).await?))
}

/// How the skip reason names the vendor (`Greenhouse API not configured`).
pub(crate) fn vendor_name(ats: Ats) -> &'static str {
    match ats {
        Ats::Greenhouse => "Greenhouse",
        Ats::Lever => "Lever",
        Ats::Ashby => "Ashby",
        Ats::Workable => "Workable",
        Ats::SmartRecruiters => "SmartRecruiters",
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

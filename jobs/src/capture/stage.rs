//! A stage or status change on an application we know: the application's
//! status follows the vendor's (or a configured hire stage) when the change
//! is newer than the one on record ([`super::facts`]), and milestones
//! catch up ([`crate::milestones::sync_application`]); credited referrers
//! hear of the move ([`crate::referral::engagement`]). Called by the
//! `process_delivery` job ([`super::process_delivery`]) for every
//! [`StageChange`].

use chrono::Utc;
use entities::application::{self, ApplicationStatus};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::{
    application::{is_hire_stage, status_of},
    facts::{self, ApplicationFact, EventTime},
};
use crate::{
    context::JobContext,
    db::{audit::AuditEntry, begin_locked},
    error::{Error, Result},
    intake::event::StageChange,
    referral::engagement::{self, StageOf},
};

/// Records a stage or status change on a known application, each fact it
/// names only if the change is newer than the one on record
/// ([`super::facts`]). Returns whether it changed anything (`false`: every
/// fact it names was stale).
///
/// # Errors
/// Retryable while the application is unknown (it may arrive later).
pub async fn apply_stage_change(ctx: &JobContext, sc: &StageChange) -> Result<bool> {
    let ats = sc.ats;
    let tx = begin_locked(&ctx.db, &[format!("app:{ats:?}:{}", sc.ats_application_id)]).await?;
    let Some(app) = application::Entity::find()
        .filter(application::Column::Ats.eq(ats))
        .filter(application::Column::AtsApplicationId.eq(&sc.ats_application_id))
        .one(&tx)
        .await?
    else {
        return Err(Error::retryable(format!(
            "application {} is not known yet; the change waits for it",
            sc.ats_application_id
        )));
    };
    let at = sc.changed_at.unwrap_or_else(Utc::now);
    // Greenhouse sends the offer's start date as a plain date; the
    // probation clock starts at its beginning, in UTC.
    let start = sc
        .starts_at
        .as_deref()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc());
    // A configured hire stage hires as the vendor's own hired status does.
    let hire_stage = is_hire_stage(&ctx.capture, sc.ats, sc.stage.as_deref());
    let status_text = match sc.status.as_deref() {
        // A deleted offer undoes a hire that rested on it; before a hire
        // it changes nothing.
        Some("offer_deleted") if app.status == ApplicationStatus::Hired => Some("active"),
        Some("offer_deleted") => None,
        Some("hired") | Some("rejected") | Some("withdrawn") | Some("archived") => {
            sc.status.as_deref()
        }
        _ if hire_stage => Some("hired"),
        other => other,
    };
    let named = [
        (sc.stage.is_some(), ApplicationFact::Stage),
        (start.is_some(), ApplicationFact::StartDate),
        (status_text.is_some(), ApplicationFact::Status),
    ];
    let facts: Vec<ApplicationFact> = named.iter().filter(|(n, _)| *n).map(|(_, f)| *f).collect();
    let time = EventTime::new(sc.changed_at, sc.version);
    let admitted = facts::admit(&tx, app.id, &sc.event, time, &facts).await?;
    if admitted.all_stale() {
        tx.commit().await?;
        // A retry of this very change is stale too when the change
        // committed but the process died before the milestone sync below:
        // the milestones must still catch up, or the hire is never paid.
        // The sync reads the application as it is, so it is idempotent.
        crate::milestones::sync_application(ctx, app.id).await?;
        return Ok(false);
    }
    let before = StageOf::from(&app);
    let mut a: application::ActiveModel = app.clone().into();
    if admitted.allows(ApplicationFact::Stage) {
        a.stage = Set(sc.stage.clone());
    }
    if admitted.allows(ApplicationFact::StartDate) {
        a.start_date = Set(start);
    }
    if let Some(status) = status_text.filter(|_| admitted.allows(ApplicationFact::Status)) {
        let status = status_of(Some(status));
        a.status = Set(status);
        match status {
            ApplicationStatus::Hired if app.hired_at.is_none() => a.hired_at = Set(Some(at)),
            ApplicationStatus::Rejected => a.rejected_at = Set(Some(at)),
            _ => {}
        }
    }
    a.updated_at = Set(Utc::now());
    let updated = a.update(&tx).await?;
    let told = engagement::stage_changed(ctx, &tx, &before, &updated).await?;
    tx.audit(AuditEntry::system(
        "application.stage_changed",
        "application",
        app.id,
        json!({ "event": sc.event, "stage": sc.stage, "status": sc.status }),
    ));
    tx.commit().await?;
    if told {
        crate::outbox::kick(ctx).await?;
    }
    crate::milestones::sync_application(ctx, app.id).await?;
    Ok(true)
}

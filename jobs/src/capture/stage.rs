//! A stage or status change on an application we know: the application's
//! status follows the vendor's (or a configured hire stage), and milestones
//! catch up ([`crate::milestones::sync_application`]). Called by the
//! `process_delivery` job ([`super::process_delivery`]) for every
//! [`StageChange`].

use chrono::Utc;
use entities::application::{self, ApplicationStatus};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::application::{is_hire_stage, status_of};
use crate::{
    context::JobContext,
    db::{audit::AuditEntry, begin_locked},
    error::{Error, Result},
    intake::event::StageChange,
};

/// Records a stage or status change on a known application.
///
/// # Errors
/// Retryable while the application is unknown (it may arrive later).
pub async fn apply_stage_change(ctx: &JobContext, sc: &StageChange) -> Result<()> {
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
    let mut a: application::ActiveModel = app.clone().into();
    if sc.stage.is_some() {
        a.stage = Set(sc.stage.clone());
    }
    // Greenhouse sends the offer's start date as a plain date; the
    // probation clock starts at its beginning, in UTC.
    if let Some(start) = sc
        .starts_at
        .as_deref()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        a.start_date = Set(Some(start.and_utc()));
    }
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
    if let Some(status) = status_text {
        let status = status_of(Some(status));
        a.status = Set(status);
        match status {
            ApplicationStatus::Hired if app.hired_at.is_none() => a.hired_at = Set(Some(at)),
            ApplicationStatus::Rejected => a.rejected_at = Set(Some(at)),
            _ => {}
        }
    }
    a.updated_at = Set(Utc::now());
    a.update(&tx).await?;
    tx.audit(AuditEntry::system(
        "application.stage_changed",
        "application",
        app.id,
        json!({ "event": sc.event, "stage": sc.stage, "status": sc.status }),
    ));
    tx.commit().await?;
    crate::milestones::sync_application(ctx, app.id).await?;
    Ok(())
}

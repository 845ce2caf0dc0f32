//! New hires as the HRIS knows them (issue 23.5): which employee a hire
//! became, and terminations matched to hires by identity rather than by
//! guessing from an email.
//!
//! A termination (an HRIS record with `active: false`) ends the pending
//! probation of the hires it names. It finds them, first match wins:
//!
//! 1. `employee_id`: hires already linked to that employee
//!    (`applications.hire_employee_id`);
//! 2. `ats_application_id`: the application the HRIS record names;
//! 3. `ats_candidate_id`: the hired applications of the candidate it names;
//! 4. work email: hired applications of a candidate whose email is the
//!    employee's (the candidate's email is usually personal, so this
//!    rarely matches; it is the last resort).
//!
//! A hire linked to another employee is never taken by paths 2 to 4. Any
//! record carrying ATS ids (active or not) links the hires they name to
//! its employee, so a later termination by employee id alone finds them.
//!
//! A termination that matches no hire while some hire with no linked
//! employee is in probation may be that hire's: it is recorded in
//! `unmatched_terminations` and `ops stuck` lists it
//! (`termination_unmatched`) until a later report matches it or ops ends
//! the hire (`POST /api/hires/{application}/terminated` with the
//! `employee_id`). With no such hire there is nothing it could end.
//!
//! Called by `POST /api/employees` and `employees import` (the worker
//! crate), after [`super::employees::upsert`], and by the hire-terminated
//! endpoint.

use chrono::Utc;
use entities::{
    application::{self, ApplicationStatus},
    candidate, candidate_ats_id,
    milestone::{self, MilestoneKind, MilestoneState},
    unmatched_termination,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::Serialize;
use serde_json::json;

use super::employees::EmployeeRecord;
use crate::{
    context::JobContext,
    db::{audit::AuditEntry, begin_locked},
    error::Result,
};

/// How a termination found its hires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// Hires already linked to the employee id.
    EmployeeId,
    /// The ATS application id the record carried.
    AtsApplicationId,
    /// The ATS candidate id the record carried.
    AtsCandidateId,
    /// The candidate's email is the employee's work email.
    WorkEmail,
}

impl MatchedBy {
    fn as_str(self) -> &'static str {
        match self {
            MatchedBy::EmployeeId => "employee id",
            MatchedBy::AtsApplicationId => "ATS application id",
            MatchedBy::AtsCandidateId => "ATS candidate id",
            MatchedBy::WorkEmail => "work email",
        }
    }
}

/// What a reported termination did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TerminationOutcome {
    /// How its hires were found; `None`: no hire matched.
    pub matched_by: Option<MatchedBy>,
    /// The hired applications it matched (ours, by id).
    pub hires: Vec<i64>,
    /// Those whose pending probation it ended.
    pub terminated: Vec<i64>,
    /// The `unmatched_terminations` row listed for ops, when it matched
    /// nothing while an unlinked hire was in probation.
    pub unmatched_id: Option<i64>,
}

/// Links the hired applications that `rec`'s ATS ids name to its employee
/// (never one already linked to another employee). Returns them.
///
/// # Errors
/// Database errors.
pub async fn link(ctx: &JobContext, actor: &str, rec: &EmployeeRecord) -> Result<Vec<i64>> {
    let employee_id = rec.employee_id.trim();
    let mut named = by_ats_application(ctx, rec).await?;
    named.extend(by_ats_candidate(ctx, rec).await?);
    named.retain(|a| a.status == ApplicationStatus::Hired);
    link_all(
        ctx,
        actor,
        employee_id,
        &named,
        "named by the HRIS record's ATS ids",
    )
    .await?;
    Ok(named.into_iter().map(|a| a.id).collect())
}

/// The HRIS reports `rec`'s employee inactive: their hires are found by
/// identity (see the module docs) and their pending probations ended with
/// `reason`; an unmatched termination is listed for ops when it could be
/// an unlinked hire's.
///
/// # Errors
/// Database and queue errors.
pub async fn terminated(
    ctx: &JobContext,
    actor: &str,
    rec: &EmployeeRecord,
    reason: &str,
) -> Result<TerminationOutcome> {
    let employee_id = rec.employee_id.trim();
    let (matched_by, hires) = find_hires(ctx, rec).await?;
    let Some(matched_by) = matched_by else {
        let unmatched_id = record_unmatched(ctx, actor, rec).await?;
        return Ok(TerminationOutcome {
            matched_by: None,
            hires: Vec::new(),
            terminated: Vec::new(),
            unmatched_id,
        });
    };
    link_all(ctx, actor, employee_id, &hires, matched_by.as_str()).await?;
    let mut terminated = Vec::new();
    for app in &hires {
        if probation_pending(&ctx.db, app.id).await? {
            let why = format!("{reason}; matched by {}", matched_by.as_str());
            crate::milestones::terminate(ctx, app.id, &why).await?;
            terminated.push(app.id);
        }
    }
    resolve(
        ctx,
        employee_id,
        &format!("a later report matched by {}", matched_by.as_str()),
    )
    .await?;
    Ok(TerminationOutcome {
        matched_by: Some(matched_by),
        hires: hires.iter().map(|a| a.id).collect(),
        terminated,
        unmatched_id: None,
    })
}

/// Ops ended hire `application_id` by hand for employee `employee_id`:
/// the hire is linked to them and their unmatched terminations resolved.
///
/// # Errors
/// Database errors.
pub async fn resolved_by_ops(
    ctx: &JobContext,
    actor: &str,
    employee_id: &str,
    application_id: i64,
) -> Result<()> {
    if let Some(app) = application::Entity::find_by_id(application_id)
        .one(&ctx.db)
        .await?
    {
        link_all(ctx, actor, employee_id, &[app], "ended by ops").await?;
    }
    resolve(
        ctx,
        employee_id,
        &format!("ops ended hire {application_id} ({actor})"),
    )
    .await
}

/// The hires `rec` names, by the first path that finds any.
async fn find_hires(
    ctx: &JobContext,
    rec: &EmployeeRecord,
) -> Result<(Option<MatchedBy>, Vec<application::Model>)> {
    let employee_id = rec.employee_id.trim();
    let linked = application::Entity::find()
        .filter(application::Column::HireEmployeeId.eq(employee_id))
        .filter(application::Column::Status.eq(ApplicationStatus::Hired))
        .all(&ctx.db)
        .await?;
    if !linked.is_empty() {
        return Ok((Some(MatchedBy::EmployeeId), linked));
    }
    let free = |apps: Vec<application::Model>| -> Vec<application::Model> {
        apps.into_iter()
            .filter(|a| a.status == ApplicationStatus::Hired)
            .filter(|a| {
                a.hire_employee_id
                    .as_deref()
                    .is_none_or(|e| e == employee_id)
            })
            .collect()
    };
    let by_app = free(by_ats_application(ctx, rec).await?);
    if !by_app.is_empty() {
        return Ok((Some(MatchedBy::AtsApplicationId), by_app));
    }
    let by_candidate = free(by_ats_candidate(ctx, rec).await?);
    if !by_candidate.is_empty() {
        return Ok((Some(MatchedBy::AtsCandidateId), by_candidate));
    }
    let by_email = free(by_work_email(ctx, rec).await?);
    if !by_email.is_empty() {
        return Ok((Some(MatchedBy::WorkEmail), by_email));
    }
    Ok((None, Vec::new()))
}

/// The application with `rec.ats_application_id`, in whichever ATS has
/// it; none when two ATSs use the same id (it would be a guess).
async fn by_ats_application(
    ctx: &JobContext,
    rec: &EmployeeRecord,
) -> Result<Vec<application::Model>> {
    let Some(id) = non_blank(rec.ats_application_id.as_deref()) else {
        return Ok(Vec::new());
    };
    let found = application::Entity::find()
        .filter(application::Column::AtsApplicationId.eq(id))
        .filter(application::Column::Ats.ne(entities::states::Ats::CareersSite))
        .all(&ctx.db)
        .await?;
    Ok(if found.len() == 1 { found } else { Vec::new() })
}

/// The applications of the candidate with `rec.ats_candidate_id`; none
/// when two ATSs use the same id.
async fn by_ats_candidate(
    ctx: &JobContext,
    rec: &EmployeeRecord,
) -> Result<Vec<application::Model>> {
    let Some(id) = non_blank(rec.ats_candidate_id.as_deref()) else {
        return Ok(Vec::new());
    };
    let maps = candidate_ats_id::Entity::find()
        .filter(candidate_ats_id::Column::AtsCandidateId.eq(id))
        .all(&ctx.db)
        .await?;
    let [map] = maps.as_slice() else {
        return Ok(Vec::new());
    };
    Ok(application::Entity::find()
        .filter(application::Column::CandidateId.eq(map.candidate_id))
        .all(&ctx.db)
        .await?)
}

/// The applications of candidates whose email is `rec`'s work email.
async fn by_work_email(ctx: &JobContext, rec: &EmployeeRecord) -> Result<Vec<application::Model>> {
    let Ok(email) = rec.validate() else {
        return Ok(Vec::new());
    };
    let candidates: Vec<i64> = candidate::Entity::find()
        .filter(candidate::Column::EmailCanonical.eq(email.as_str()))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    Ok(application::Entity::find()
        .filter(application::Column::CandidateId.is_in(candidates))
        .all(&ctx.db)
        .await?)
}

/// Sets `hire_employee_id` on those of `apps` not linked yet, audited.
async fn link_all(
    ctx: &JobContext,
    actor: &str,
    employee_id: &str,
    apps: &[application::Model],
    how: &str,
) -> Result<()> {
    for app in apps.iter().filter(|a| a.hire_employee_id.is_none()) {
        let tx = begin_locked(&ctx.db, &[format!("milestones:{}", app.id)]).await?;
        let updated = application::Entity::update_many()
            .col_expr(
                application::Column::HireEmployeeId,
                sea_orm::sea_query::Expr::value(employee_id),
            )
            .filter(application::Column::Id.eq(app.id))
            .filter(application::Column::HireEmployeeId.is_null())
            .exec(&tx)
            .await?;
        if updated.rows_affected == 1 {
            tx.audit(AuditEntry {
                actor: actor.to_owned(),
                action: "hire.employee_linked".into(),
                subject_type: "application".into(),
                subject_id: app.id.to_string(),
                data: json!({ "employee_id": employee_id, "how": how }),
            });
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Whether application `id`'s probation milestone still waits.
async fn probation_pending(conn: &impl ConnectionTrait, id: i64) -> Result<bool> {
    Ok(milestone::Entity::find()
        .filter(milestone::Column::ApplicationId.eq(id))
        .filter(milestone::Column::Kind.eq(MilestoneKind::ProbationComplete))
        .filter(milestone::Column::State.is_in([MilestoneState::Armed, MilestoneState::Waiting]))
        .one(conn)
        .await?
        .is_some())
}

/// Records `rec`'s termination as unmatched, when some hire with no
/// linked employee is in probation (it may be theirs) and the employee has
/// no unresolved one already. Returns the row listed for ops.
async fn record_unmatched(
    ctx: &JobContext,
    actor: &str,
    rec: &EmployeeRecord,
) -> Result<Option<i64>> {
    let employee_id = rec.employee_id.trim();
    let unlinked_in_probation = milestone::Entity::find()
        .inner_join(application::Entity)
        .filter(milestone::Column::Kind.eq(MilestoneKind::ProbationComplete))
        .filter(milestone::Column::State.is_in([MilestoneState::Armed, MilestoneState::Waiting]))
        .filter(application::Column::HireEmployeeId.is_null())
        .limit(1)
        .one(&ctx.db)
        .await?;
    if unlinked_in_probation.is_none() {
        return Ok(None);
    }
    let tx = begin_locked(&ctx.db, &[format!("termination:{employee_id}")]).await?;
    if let Some(open) = unmatched_termination::Entity::find()
        .filter(unmatched_termination::Column::EmployeeId.eq(employee_id))
        .filter(unmatched_termination::Column::ResolvedAt.is_null())
        .order_by_asc(unmatched_termination::Column::Id)
        .one(&tx)
        .await?
    {
        return Ok(Some(open.id));
    }
    let row = unmatched_termination::ActiveModel {
        employee_id: Set(employee_id.to_owned()),
        ats_candidate_id: Set(non_blank(rec.ats_candidate_id.as_deref()).map(str::to_owned)),
        ats_application_id: Set(non_blank(rec.ats_application_id.as_deref()).map(str::to_owned)),
        reported_by: Set(actor.to_owned()),
        reported_at: Set(Utc::now()),
        resolved_at: Set(None),
        resolution: Set(None),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    tx.audit(AuditEntry {
        actor: actor.to_owned(),
        action: "termination.unmatched".into(),
        subject_type: "employee".into(),
        subject_id: employee_id.to_owned(),
        data: json!({
            "unmatched_termination_id": row.id,
            "ats_candidate_id": row.ats_candidate_id,
            "ats_application_id": row.ats_application_id,
        }),
    });
    tx.commit().await?;
    tracing::warn!(
        employee_id,
        "an HRIS termination matched no hire while an unlinked hire is in probation"
    );
    Ok(Some(row.id))
}

/// Resolves `employee_id`'s open unmatched terminations with `resolution`.
async fn resolve(ctx: &JobContext, employee_id: &str, resolution: &str) -> Result<()> {
    unmatched_termination::Entity::update_many()
        .set(unmatched_termination::ActiveModel {
            resolved_at: Set(Some(Utc::now())),
            resolution: Set(Some(resolution.to_owned())),
            ..Default::default()
        })
        .filter(unmatched_termination::Column::EmployeeId.eq(employee_id))
        .filter(unmatched_termination::Column::ResolvedAt.is_null())
        .exec(&ctx.db)
        .await?;
    Ok(())
}

fn non_blank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

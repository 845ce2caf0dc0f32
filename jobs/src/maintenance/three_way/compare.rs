//! The three-way comparison over one period: the referral platform's
//! referrals and the CRM's hires (as imported, [`super::imports`]) against
//! our attributions, and our credited referrals against the ATS (through
//! its connector, one application at a time).
//!
//! Each difference is a [`Variance`] with a suggested fix; nothing is
//! changed here: every one needs a person to decide which side is right.
//! A month of the period without an import from a source is itself a
//! variance (`import_missing`), and that source is not compared.

use std::collections::{HashMap, HashSet};

use entities::{
    application::{self, ApplicationStatus},
    employee,
    reconciliation_import::{self, ImportSource},
    reconciliation_import_row,
    reconciliation_item::VarianceKind,
    referral::{self, ReferralState},
    states::Ats,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::imports::Month;
use crate::{
    context::JobContext,
    error::{Error, Result},
    finance::Period,
    maintenance::runs::{Variance, variance},
};

fn with_fix(mut v: Variance, fix: String) -> Variance {
    v.suggested_fix = Some(fix);
    v
}

fn ats_name(ats: Ats) -> String {
    serde_json::to_value(ats)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What we hold for the period: referrals (not test, not void) referred in
/// it, and the applications they are on.
struct Ours {
    referrals: Vec<referral::Model>,
    applications: HashMap<i64, application::Model>,
}

impl Ours {
    fn application_of(&self, r: &referral::Model) -> Option<&application::Model> {
        r.application_id.and_then(|id| self.applications.get(&id))
    }
}

/// Every variance of `period`.
///
/// # Errors
/// Database errors; an ATS that cannot be read for a reason that may pass
/// (the run fails and the next one tries again).
pub(super) async fn compare(ctx: &JobContext, period: Period) -> Result<Vec<Variance>> {
    let mut out = Vec::new();
    let ours = ours(ctx, period).await?;
    if let Some(rows) = imported(ctx, ImportSource::Platform, period, &mut out).await? {
        platform(ctx, &ours, &rows, &mut out).await?;
    }
    if let Some(rows) = imported(ctx, ImportSource::Crm, period, &mut out).await? {
        crm(ctx, period, &rows, &mut out).await?;
    }
    ats(ctx, period, &ours, &mut out).await?;
    Ok(out)
}

async fn ours(ctx: &JobContext, period: Period) -> Result<Ours> {
    let referrals = referral::Entity::find()
        .filter(referral::Column::ReferredAt.gte(period.from))
        .filter(referral::Column::ReferredAt.lt(period.until))
        .filter(referral::Column::IsTest.eq(false))
        .filter(referral::Column::State.ne(ReferralState::Void))
        .all(&ctx.db)
        .await?;
    let ids: Vec<i64> = referrals.iter().filter_map(|r| r.application_id).collect();
    let applications = application::Entity::find()
        .filter(application::Column::Id.is_in(ids))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    Ok(Ours {
        referrals,
        applications,
    })
}

/// The rows `source` imported for the period's months, those dated in the
/// period; `None` (and an `import_missing` per month) when a month has no
/// import.
async fn imported(
    ctx: &JobContext,
    source: ImportSource,
    period: Period,
    out: &mut Vec<Variance>,
) -> Result<Option<Vec<reconciliation_import_row::Model>>> {
    let name = match source {
        ImportSource::Platform => "platform",
        ImportSource::Crm => "crm",
    };
    let mut import_ids = Vec::new();
    let mut missing = false;
    for month in Month::covering(period) {
        let found = reconciliation_import::Entity::find()
            .filter(reconciliation_import::Column::Source.eq(source))
            .filter(reconciliation_import::Column::Period.eq(month.to_string()))
            .one(&ctx.db)
            .await?;
        match found {
            Some(i) => import_ids.push(i.id),
            None => {
                missing = true;
                let whose = match source {
                    ImportSource::Platform => "the referral platform's list of referrals",
                    ImportSource::Crm => "the CRM's list of hires",
                };
                out.push(with_fix(
                    variance(
                        VarianceKind::ImportMissing,
                        "import",
                        format!("{name}:{month}"),
                        json!({ "source": source, "period": month.to_string() }),
                    ),
                    format!(
                        "import {whose} for {month} (`referral-worker reconcile import-{name} FILE \
                         --period {month}` or POST /api/reconciliation/imports/{name}), then run \
                         the three-way reconciliation again"
                    ),
                ));
            }
        }
    }
    if missing {
        return Ok(None);
    }
    Ok(Some(
        reconciliation_import_row::Entity::find()
            .filter(reconciliation_import_row::Column::ImportId.is_in(import_ids))
            .filter(reconciliation_import_row::Column::OccurredOn.gte(period.from))
            .filter(reconciliation_import_row::Column::OccurredOn.lt(period.until))
            .all(&ctx.db)
            .await?,
    ))
}

/// The platform's referrals against ours: each row matched by our
/// `ref_…` id or by its application and referrer.
async fn platform(
    ctx: &JobContext,
    ours: &Ours,
    rows: &[reconciliation_import_row::Model],
    out: &mut Vec<Variance>,
) -> Result<()> {
    let mut listed: HashSet<i64> = HashSet::new();
    for row in rows {
        let detail = json!({ "platform_referral_id": row.external_id, "referral_id": row.referral_id,
            "platform_employee_id": row.employee_id, "ats": row.ats,
            "ats_application_id": row.ats_application_id,
            "referred_on": row.occurred_on.date_naive() });
        let (matched, credited_other) = match (&row.referral_id, row.ats, &row.ats_application_id) {
            (Some(public_id), _, _) => {
                let found = referral::Entity::find()
                    .filter(referral::Column::PublicId.eq(public_id))
                    .one(&ctx.db)
                    .await?;
                match found {
                    Some(r) if Some(&r.employee_id) == row.employee_id.as_ref() => (Some(r), None),
                    Some(r) => (None, Some(r)),
                    None => (None, None),
                }
            }
            (None, Some(ats), Some(app_id)) => {
                let on_app = referrals_on(ctx, ats, app_id).await?;
                let mine = on_app
                    .iter()
                    .find(|r| Some(&r.employee_id) == row.employee_id.as_ref())
                    .cloned();
                let other = on_app
                    .into_iter()
                    .find(|r| r.state == ReferralState::Credited);
                match mine {
                    Some(r) => (Some(r), None),
                    None => (None, other),
                }
            }
            _ => (None, None),
        };
        match (matched, credited_other) {
            (Some(r), _) => {
                listed.insert(r.id);
            }
            (None, Some(r)) => {
                listed.insert(r.id);
                let mut d = detail.clone();
                d["source"] = json!("platform");
                d["our_referral_id"] = json!(r.public_id);
                d["our_employee_id"] = json!(r.employee_id);
                out.push(with_fix(
                    variance(VarianceKind::ReferrerMismatch, "referral", &r.public_id, d),
                    format!(
                        "the platform credits {} for its referral {} but we credit {} ({}): \
                         decide who referred first, then correct the platform or override our \
                         attribution (`referral-worker ops workflow`)",
                        row.employee_id.as_deref().unwrap_or("nobody"),
                        row.external_id,
                        r.employee_id,
                        r.public_id
                    ),
                ));
            }
            (None, None) => out.push(with_fix(
                variance(
                    VarianceKind::PlatformReferralUnknown,
                    "platform_referral",
                    &row.external_id,
                    detail,
                ),
                format!(
                    "we have no record of the platform's referral {} by {}: check that the \
                     candidate applied through the referral link or that the ATS credits the \
                     referrer; if so, record the referral in the ATS (an ATS credit reaches us); \
                     otherwise remove it from the platform",
                    row.external_id,
                    row.employee_id.as_deref().unwrap_or("an unnamed referrer")
                ),
            )),
        }
    }
    for r in &ours.referrals {
        if listed.contains(&r.id) {
            continue;
        }
        let app = ours.application_of(r);
        out.push(with_fix(
            variance(
                VarianceKind::ReferralMissingOnPlatform,
                "referral",
                &r.public_id,
                json!({ "referral_id": r.public_id, "employee_id": r.employee_id,
                        "state": r.state, "referred_at": r.referred_at,
                        "ats": app.map(|a| a.ats),
                        "ats_application_id": app.map(|a| a.ats_application_id.clone()) }),
            ),
            format!(
                "the platform does not list our referral {} by {}: check that status syncs \
                 reach the platform (`referral-worker ops` outbox), or add the referral there",
                r.public_id, r.employee_id
            ),
        ));
    }
    Ok(())
}

async fn referrals_on(ctx: &JobContext, ats: Ats, app_id: &str) -> Result<Vec<referral::Model>> {
    let Some(app) = application::Entity::find()
        .filter(application::Column::Ats.eq(ats))
        .filter(application::Column::AtsApplicationId.eq(app_id))
        .one(&ctx.db)
        .await?
    else {
        return Ok(Vec::new());
    };
    Ok(referral::Entity::find()
        .filter(referral::Column::ApplicationId.eq(app.id))
        .filter(referral::Column::IsTest.eq(false))
        .filter(referral::Column::State.ne(ReferralState::Void))
        .all(&ctx.db)
        .await?)
}

/// The CRM's hires against our referred hires of the period.
async fn crm(
    ctx: &JobContext,
    period: Period,
    rows: &[reconciliation_import_row::Model],
    out: &mut Vec<Variance>,
) -> Result<()> {
    let hired = application::Entity::find()
        .filter(application::Column::Status.eq(ApplicationStatus::Hired))
        .filter(application::Column::HiredAt.gte(period.from))
        .filter(application::Column::HiredAt.lt(period.until))
        .all(&ctx.db)
        .await?;
    let by_app: HashMap<(Ats, &str), &reconciliation_import_row::Model> = rows
        .iter()
        .filter_map(|r| Some(((r.ats?, r.ats_application_id.as_deref()?), r)))
        .collect();
    let mut seen: HashSet<i64> = HashSet::new();
    for app in &hired {
        let Some(r) = credited_on(ctx, app.id).await? else {
            continue;
        };
        let key = (app.ats, app.ats_application_id.as_str());
        let detail = json!({ "ats": app.ats, "ats_application_id": app.ats_application_id,
            "application_id": app.id, "referral_id": r.public_id, "employee_id": r.employee_id,
            "hired_at": app.hired_at });
        match by_app.get(&key) {
            None => out.push(with_fix(
                variance(VarianceKind::HireNotInCrm, "application", app.id, detail),
                format!(
                    "add the hire of {} application {} (hired {}, referred by {}, {}) to the \
                     CRM, then import the CRM's hires again",
                    ats_name(app.ats),
                    app.ats_application_id,
                    app.hired_at
                        .map(|t| t.date_naive().to_string())
                        .unwrap_or_default(),
                    r.employee_id,
                    r.public_id
                ),
            )),
            Some(row) => {
                seen.insert(row.id);
                if let Some(theirs) = row.employee_id.as_ref().filter(|e| **e != r.employee_id) {
                    let mut d = detail.clone();
                    d["source"] = json!("crm");
                    d["crm_hire_id"] = json!(row.external_id);
                    d["crm_employee_id"] = json!(theirs);
                    out.push(with_fix(
                        variance(VarianceKind::ReferrerMismatch, "referral", &r.public_id, d),
                        format!(
                            "the CRM's hire {} names {theirs} as the referrer, we credit {} ({}): \
                             correct the CRM's record, or override our attribution if the CRM \
                             is right (`referral-worker ops workflow`)",
                            row.external_id, r.employee_id, r.public_id
                        ),
                    ));
                }
            }
        }
    }
    for row in rows.iter().filter(|r| !seen.contains(&r.id)) {
        let ours = match (row.ats, row.ats_application_id.as_deref()) {
            (Some(ats), Some(id)) => {
                let app = application::Entity::find()
                    .filter(application::Column::Ats.eq(ats))
                    .filter(application::Column::AtsApplicationId.eq(id))
                    .one(&ctx.db)
                    .await?;
                match app {
                    Some(a) => credited_on(ctx, a.id).await?.map(|r| (a, r)),
                    None => None,
                }
            }
            _ => None,
        };
        if ours.is_some() {
            // A hire we have under another date (hired again, or the CRM's
            // day differs): it is in the CRM, which is what this checks.
            continue;
        }
        out.push(with_fix(
            variance(
                VarianceKind::CrmHireWithoutReferral,
                "crm_hire",
                &row.external_id,
                json!({ "crm_hire_id": row.external_id, "ats": row.ats,
                        "ats_application_id": row.ats_application_id,
                        "crm_employee_id": row.employee_id,
                        "hired_on": row.occurred_on.date_naive() }),
            ),
            format!(
                "the CRM counts hire {} ({} application {}) as a referral hire, but we credit \
                 no referral for it: check the platform and the ATS for its referrer and record \
                 the referral in the ATS, or correct the hire's source in the CRM",
                row.external_id,
                row.ats.map(ats_name).unwrap_or_default(),
                row.ats_application_id.as_deref().unwrap_or("?")
            ),
        ));
    }
    Ok(())
}

async fn credited_on(ctx: &JobContext, application_id: i64) -> Result<Option<referral::Model>> {
    Ok(referral::Entity::find()
        .filter(referral::Column::ApplicationId.eq(application_id))
        .filter(referral::Column::State.eq(ReferralState::Credited))
        .filter(referral::Column::IsTest.eq(false))
        .one(&ctx.db)
        .await?)
}

/// Our credited referrals of the period (referred or hired in it) against
/// the referrer their ATS application names.
async fn ats(ctx: &JobContext, period: Period, ours: &Ours, out: &mut Vec<Variance>) -> Result<()> {
    let mut credited: Vec<(referral::Model, application::Model)> = ours
        .referrals
        .iter()
        .filter(|r| r.state == ReferralState::Credited)
        .filter_map(|r| Some((r.clone(), ours.application_of(r)?.clone())))
        .collect();
    let hired = application::Entity::find()
        .filter(application::Column::HiredAt.gte(period.from))
        .filter(application::Column::HiredAt.lt(period.until))
        .all(&ctx.db)
        .await?;
    for app in hired {
        if credited.iter().any(|(_, a)| a.id == app.id) {
            continue;
        }
        if let Some(r) = credited_on(ctx, app.id).await? {
            credited.push((r, app));
        }
    }
    for (r, app) in credited {
        let Some(connector) = ctx.connectors.get(app.ats) else {
            continue;
        };
        let detail = json!({ "referral_id": r.public_id, "employee_id": r.employee_id,
            "ats": app.ats, "ats_application_id": app.ats_application_id });
        let fix_missing = format!(
            "{} application {} names no referrer: write the attribution back (re-run the \
             write-back of {} with `referral-worker ops workflow`), or set {} as the referrer in \
             the ATS",
            ats_name(app.ats),
            app.ats_application_id,
            r.public_id,
            r.employee_id
        );
        let state = match super::super::reconcile::patiently(|| {
            connector.application_state(&app.ats_application_id)
        })
        .await
        {
            Ok(state) => state,
            Err(Error::Permanent(why) | Error::NotFound(why)) => {
                let mut d = detail.clone();
                d["ats_error"] = json!(why);
                out.push(with_fix(
                    variance(
                        VarianceKind::ReferralMissingInAts,
                        "referral",
                        &r.public_id,
                        d,
                    ),
                    format!(
                        "the ATS would not show {} application {} ({why}): check it exists and \
                         that the API key may read it",
                        ats_name(app.ats),
                        app.ats_application_id
                    ),
                ));
                continue;
            }
            Err(e) => return Err(e),
        };
        if state.referrer_user_id.is_none() && state.referrers.is_empty() {
            out.push(with_fix(
                variance(
                    VarianceKind::ReferralMissingInAts,
                    "referral",
                    &r.public_id,
                    detail,
                ),
                fix_missing,
            ));
            continue;
        }
        let emails: Vec<&str> = state
            .referrers
            .iter()
            .filter_map(|x| x.email.as_deref())
            .collect();
        if emails.is_empty() {
            // The ATS names a user only (Greenhouse): credited, and the
            // user's identity is the write-back's business.
            continue;
        }
        if !names_employee(ctx, &r.employee_id, &emails).await? {
            let mut d = detail.clone();
            d["source"] = json!("ats");
            d["ats_referrer_user_ids"] = json!(
                state
                    .referrers
                    .iter()
                    .map(|x| x.user_id.clone())
                    .collect::<Vec<_>>()
            );
            out.push(with_fix(
                variance(VarianceKind::ReferrerMismatch, "referral", &r.public_id, d),
                format!(
                    "{} application {} credits another referrer than {} ({}): correct the \
                     referrer in the ATS, or override our attribution if the ATS is right",
                    ats_name(app.ats),
                    app.ats_application_id,
                    r.employee_id,
                    r.public_id
                ),
            ));
        }
    }
    Ok(())
}

/// Whether one of `emails` is the employee's.
async fn names_employee(ctx: &JobContext, employee_id: &str, emails: &[&str]) -> Result<bool> {
    let Some(e) = employee::Entity::find()
        .filter(employee::Column::EmployeeId.eq(employee_id))
        .one(&ctx.db)
        .await?
    else {
        return Ok(false);
    };
    Ok(emails.iter().any(|m| {
        crate::identity::email::CanonicalEmail::parse(m)
            .is_some_and(|c| c.as_str() == e.email_canonical)
    }))
}

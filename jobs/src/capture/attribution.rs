//! Attribution as capture applies it: the referral claims an application
//! carries (a referral link's token, an ATS-credited employee), decided by
//! the rules in [`crate::referral::attribution`] against what is on record
//! and stored with their audit events; careers-site referrals moved to the
//! ATS application they became; write-back enqueued for what is credited;
//! each decision told to the referrer ([`crate::referral::engagement`]).
//!
//! Called by [`super::application::capture_application`], inside its
//! transaction (except `enqueue_write_back`, after the commit).

use chrono::{DateTime, Utc};
use entities::{
    application, candidate, employee,
    referral::{self, ReferralSource, ReferralState},
    states::Ats,
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::{
    context::JobContext,
    db::{LockedTx, audit::AuditEntry},
    error::Result,
    intake::event::ApplicationEvent,
    job::Job,
    referral::{
        attribution::{self, CandidateFacts, ExistingCredit, Referrer, Verdict},
        engagement,
        links::{self, LinkCheck},
    },
};

/// A referral an application claims: the employee, how the claim was
/// made, and the referral link's token when it came through one.
pub(super) type Claim = (String, ReferralSource, Option<String>);

/// The referral claims `ev` carries: a valid referral link's token (an
/// invalid one is audited as `attribution.token_rejected` and claims
/// nothing) and an ATS-credited employee.
pub(super) async fn referral_claims(
    tx: &LockedTx,
    ev: &ApplicationEvent,
    cand: &candidate::Model,
    app: &application::Model,
) -> Result<Vec<Claim>> {
    let mut claims = Vec::new();
    if let Some(token) = ev
        .referral_token
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        match links::check(tx, token.trim(), ev.applied_at).await? {
            LinkCheck::Valid(link) => claims.push((
                link.employee_id.clone(),
                ReferralSource::ReferralLink,
                Some(link.token.clone()),
            )),
            other => {
                let reason = other.rejection().unwrap_or("rejected");
                tx.audit(AuditEntry::system(
                    "attribution.token_rejected",
                    "application",
                    app.id,
                    json!({ "application_id": app.id, "candidate_id": cand.id, "reason": reason }),
                ));
            }
        }
    }
    if let Some(emp) = ev
        .credited_employee_id
        .as_deref()
        .filter(|e| !e.trim().is_empty())
    {
        claims.push((emp.trim().to_string(), ReferralSource::AtsCredited, None));
    }
    Ok(claims)
}

/// A careers-site submission and the ATS application it becomes are one
/// candidacy: referrals recorded against the submission move to the ATS
/// application (same candidate, same job), where write-back can reach them.
/// Returns the credited ones, which now need writing back.
pub(super) async fn adopt_careers_site_referrals(
    tx: &LockedTx,
    candidate_id: i64,
    app: &application::Model,
) -> Result<Vec<i64>> {
    let mut credited = Vec::new();
    let submissions = application::Entity::find()
        .filter(application::Column::CandidateId.eq(candidate_id))
        .filter(application::Column::Ats.eq(Ats::CareersSite))
        .filter(application::Column::JobId.eq(&app.job_id))
        .all(tx)
        .await?;
    for sub in submissions {
        let moved = referral::Entity::find()
            .filter(referral::Column::ApplicationId.eq(sub.id))
            .all(tx)
            .await?;
        for r in moved {
            let rid = r.id;
            if already_on(tx, &r, app.id).await? {
                continue;
            }
            if r.state == ReferralState::Credited {
                credited.push(rid);
            }
            let mut a: referral::ActiveModel = r.into();
            a.application_id = Set(Some(app.id));
            a.updated_at = Set(Utc::now());
            a.update(tx).await?;
            tx.audit(AuditEntry::system(
                "attribution.moved_to_ats_application",
                "referral",
                rid,
                json!({ "from_application_id": sub.id, "to_application_id": app.id }),
            ));
        }
    }
    Ok(credited)
}

/// What is on record about the candidate, for a claim on `app`: its
/// unreferred applications (to any job) and the credited referrals for
/// `app`'s job. Referrals are per application: a credit for another job
/// neither blocks this one (first referral wins per candidate *and* job)
/// nor makes it a duplicate.
/// Whether `app_id` already has a referral by `r`'s referrer for `r`'s
/// candidate (one referral per referrer, candidate and application):
/// then `r` stays where it is, and the audit says why it did not move.
pub(super) async fn already_on(tx: &LockedTx, r: &referral::Model, app_id: i64) -> Result<bool> {
    let Some(there) = referral::Entity::find()
        .filter(referral::Column::CandidateId.eq(r.candidate_id))
        .filter(referral::Column::EmployeeId.eq(&r.employee_id))
        .filter(referral::Column::ApplicationId.eq(app_id))
        .one(tx)
        .await?
    else {
        return Ok(false);
    };
    tx.audit(AuditEntry::system(
        "attribution.not_moved",
        "referral",
        r.id,
        json!({ "application_id": app_id, "existing_referral_id": there.id,
                "reason": "the referrer already has a referral on that application" }),
    ));
    Ok(true)
}

pub(super) async fn candidate_facts(
    tx: &LockedTx,
    cand: &candidate::Model,
    app: &application::Model,
) -> Result<CandidateFacts> {
    let apps = application::Entity::find()
        .filter(application::Column::CandidateId.eq(cand.id))
        .all(tx)
        .await?;
    let refs = referral::Entity::find()
        .filter(referral::Column::CandidateId.eq(cand.id))
        .all(tx)
        .await?;
    let job_of = |application_id: Option<i64>| {
        application_id.and_then(|id| apps.iter().find(|a| a.id == id).map(|a| &a.job_id))
    };
    // A careers-site submission and its ATS twin are one candidacy: same
    // job, applied within a day of each other.
    let twins = |a: &application::Model, b: &application::Model| {
        a.job_id == b.job_id && (a.applied_at - b.applied_at).abs() <= chrono::Duration::days(1)
    };
    let referred = |a: &application::Model| {
        refs.iter().any(|r| {
            r.application_id == Some(a.id)
                || r.application_id
                    .and_then(|id| apps.iter().find(|b| b.id == id))
                    .is_some_and(|b| twins(a, b))
        })
    };
    let unreferred_applications = apps
        .iter()
        // This candidacy's own twin is not a prior application. An
        // unreferred application to the same job long before still counts;
        // so does one to another job, unless it (or its twin, whose
        // referral moved to the ATS application) was referred.
        .filter(|a| a.id != app.id && !twins(a, app))
        .filter(|a| !referred(a))
        .map(|a| a.applied_at)
        .collect();
    let credits = refs
        .iter()
        .filter(|r| r.state == ReferralState::Credited)
        // A referral not yet on an application is not known to be for
        // another job: it still counts.
        .filter(|r| job_of(r.application_id).is_none_or(|job| *job == app.job_id))
        .map(|r| ExistingCredit {
            referral_id: r.id,
            employee_id: r.employee_id.clone(),
            referred_at: r.referred_at,
        })
        .collect();
    Ok(CandidateFacts {
        email_canonical: cand.email_canonical.clone(),
        unreferred_applications,
        credits,
    })
}

/// What [`decide_and_store`] may assume about the candidate's earlier
/// applications and referrals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnRecord {
    /// Read them.
    Read,
    /// There are none: the candidate was created by this transaction and
    /// no referral has been written for it yet.
    Nothing,
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn decide_and_store(
    ctx: &JobContext,
    tx: &LockedTx,
    cand: &candidate::Model,
    app: &application::Model,
    employee_id: &str,
    source: ReferralSource,
    token: Option<String>,
    referred_at: DateTime<Utc>,
    is_test: bool,
    on_record: OnRecord,
) -> Result<Option<(i64, ReferralState)>> {
    // A re-delivery of the same facts: nothing new.
    if on_record == OnRecord::Read
        && referral::Entity::find()
            .filter(referral::Column::CandidateId.eq(cand.id))
            .filter(referral::Column::EmployeeId.eq(employee_id))
            .filter(referral::Column::ApplicationId.eq(app.id))
            .one(tx)
            .await?
            .is_some()
    {
        return Ok(None);
    }
    let referrer = employee::Entity::find()
        .filter(employee::Column::EmployeeId.eq(employee_id))
        .one(tx)
        .await?
        .map(|e| Referrer {
            employee_id: e.employee_id,
            email_canonical: e.email_canonical,
            active: e.active,
        });
    let facts = match on_record {
        OnRecord::Read => candidate_facts(tx, cand, app).await?,
        OnRecord::Nothing => CandidateFacts {
            email_canonical: cand.email_canonical.clone(),
            unreferred_applications: Vec::new(),
            credits: Vec::new(),
        },
    };
    let verdict = attribution::decide(
        employee_id,
        referrer.as_ref(),
        referred_at,
        &facts,
        &ctx.capture.rules,
    );
    let (state, reason, demote) = match &verdict {
        Verdict::Duplicate => {
            tx.audit(AuditEntry::system(
                "attribution.duplicate",
                "application",
                app.id,
                json!({ "employee_id": employee_id, "candidate_id": cand.id, "source": source }),
            ));
            return Ok(None);
        }
        Verdict::Credited { demote } => (ReferralState::Credited, None, demote.clone()),
        Verdict::Lost(r) => (ReferralState::Lost, Some(r.clone()), Vec::new()),
        Verdict::Ineligible(r) => (ReferralState::Ineligible, Some(r.clone()), Vec::new()),
    };
    let now = Utc::now();
    let row = referral::ActiveModel {
        candidate_id: Set(cand.id),
        application_id: Set(Some(app.id)),
        employee_id: Set(employee_id.to_string()),
        source: Set(source),
        link_token: Set(token),
        state: Set(state),
        reason: Set(reason.clone()),
        referred_at: Set(referred_at),
        decided_at: Set(Some(now)),
        is_test: Set(is_test || cand.is_test),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    engagement::decided(ctx, tx, &row, app, None).await?;
    let action = match state {
        ReferralState::Credited => "attribution.credited",
        ReferralState::Lost => "attribution.lost",
        _ => "attribution.ineligible",
    };
    tx.audit(AuditEntry::system(
        action,
        "referral",
        row.id,
        json!({
            "referral_id": row.id, "candidate_id": cand.id, "application_id": app.id,
            "employee_id": employee_id, "source": source, "reason": reason,
        }),
    ));
    for loser in demote {
        if let Some(r) = referral::Entity::find_by_id(loser).one(tx).await? {
            let mut a: referral::ActiveModel = r.into();
            let why = format!(
                "first referral wins: superseded by earlier referral {}",
                row.id
            );
            a.state = Set(ReferralState::Lost);
            a.reason = Set(Some(why.clone()));
            a.decided_at = Set(Some(now));
            a.updated_at = Set(now);
            let lost = a.update(tx).await?;
            let on = match lost.application_id {
                Some(id) if id != app.id => application::Entity::find_by_id(id).one(tx).await?,
                _ => Some(app.clone()),
            };
            if let Some(on) = on {
                engagement::decided(ctx, tx, &lost, &on, Some(&row)).await?;
            }
            tx.audit(AuditEntry::system(
                "attribution.superseded",
                "referral",
                loser,
                json!({ "by_referral_id": row.id, "reason": why }),
            ));
        }
    }
    Ok(Some((row.id, state)))
}

/// One write-back per referral *and application*: a referral first recorded
/// on a careers-site submission is written back again once it moves to the
/// ATS application.
pub(super) async fn enqueue_write_back(
    ctx: &JobContext,
    referral_id: i64,
    application_id: i64,
) -> Result<()> {
    let job = Job::WriteBackReferral { referral_id }
        .to_new_job(&ctx.retry)?
        .idempotency_key(format!("writeback:{referral_id}:{application_id}"));
    ctx.queue.enqueue(job).await?;
    Ok(())
}

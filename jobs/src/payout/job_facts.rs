//! The job facts a hire is priced on: level, department and office /
//! location as the ATS states them, read through its connector
//! ([`Connector::job_facts`](crate::connectors::Connector::job_facts)) and
//! cached per `(ats, job)` in `ats_jobs` for `payouts.job_facts_ttl`.
//!
//! Read only when a bonus rule depends on one of them
//! ([`BonusRules::facts`](super::rules::BonusRules::facts)): a catch-all
//! schedule never calls the ATS. What the ATS says wins over what the
//! application's webhook carried (Greenhouse sends departments and offices
//! with it); a fact neither gives stays `None`, and a rule that depends on
//! it leaves the tier undecided (see [`super::ledger::on_hire`]).
//!
//! A job read that fails for good (the job is gone, the vendor has no such
//! read, no connector for that ATS) is cached too, with the reason, which
//! the undecided payouts show to ops. A transient failure (a 5xx, a 429,
//! no connection) is returned: the job that priced the hire is retried
//! on its own schedule.
//!
//! Called by [`crate::milestones::sync_application`] before its
//! transaction (an HTTP round trip must not hold the application's lock).

use chrono::{TimeDelta, Utc};
use entities::{application, ats_job, states::Ats};
use sea_orm::{
    ActiveEnum, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::OnConflict,
};

use super::rules::JobFacts;
use crate::{
    context::JobContext,
    error::{Error, Result},
};

/// A job's facts, and why the ATS said nothing when it did not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownJob {
    /// What is known.
    pub facts: JobFacts,
    /// Why the ATS gave nothing (no connector, the read failed for good);
    /// `None` when it answered, even if it left a fact empty.
    pub unknown_reason: Option<String>,
}

/// The facts `app`'s job is priced on: the cached ATS answer while fresh,
/// else the ATS asked again; the application's own facts when no rule
/// needs any.
///
/// # Errors
/// Database errors, and the connector's transient errors (the caller's
/// job retries).
pub async fn for_application(ctx: &JobContext, app: &application::Model) -> Result<KnownJob> {
    let on_record = JobFacts::from(app);
    if ctx.payouts.rules.facts().is_empty() {
        return Ok(KnownJob {
            facts: on_record,
            unknown_reason: None,
        });
    }
    let job = cached_or_read(ctx, app.ats, &app.job_id).await?;
    let facts = JobFacts {
        job_id: app.job_id.clone(),
        job_level: job.level.clone().or(on_record.job_level),
        department: job.department.clone().or(on_record.department),
        location: job.location.clone().or(on_record.location),
    };
    remember_on_application(ctx, app, &facts).await?;
    Ok(KnownJob {
        facts,
        unknown_reason: job.unknown_reason,
    })
}

/// The `ats_jobs` row of the job: the cached one while younger than the
/// TTL, else a fresh read stored over it.
async fn cached_or_read(ctx: &JobContext, ats: Ats, job_id: &str) -> Result<ats_job::Model> {
    let cached = ats_job::Entity::find()
        .filter(ats_job::Column::Ats.eq(ats))
        .filter(ats_job::Column::JobId.eq(job_id))
        .one(&ctx.db)
        .await?;
    let ttl = TimeDelta::from_std(ctx.payouts.job_facts_ttl).unwrap_or(TimeDelta::days(36_500));
    if let Some(row) = cached
        && Utc::now() - row.fetched_at < ttl
    {
        return Ok(row);
    }
    let read = match ctx.connectors.get(ats) {
        None => Err(format!(
            "no {} API connector is configured to read job {job_id}",
            ats.to_value()
        )),
        Some(connector) => match connector.job_facts(job_id).await {
            Ok(job) => Ok(job),
            Err(e @ (Error::Permanent(_) | Error::NotFound(_) | Error::Invalid { .. })) => Err(
                format!("the {} job read of {job_id} failed: {e}", ats.to_value()),
            ),
            Err(e) => return Err(e),
        },
    };
    let (level, department, location, unknown_reason) = match read {
        Ok(job) => (job.level, job.department, job.location, None),
        Err(why) => (None, None, None, Some(why)),
    };
    if let Some(why) = &unknown_reason {
        tracing::warn!(ats = %ats.to_value(), job_id, reason = %why, "job facts unknown");
    }
    let row = ats_job::ActiveModel {
        ats: Set(ats),
        job_id: Set(job_id.to_owned()),
        level: Set(level),
        department: Set(department),
        location: Set(location),
        unknown_reason: Set(unknown_reason),
        fetched_at: Set(Utc::now()),
        ..Default::default()
    };
    ats_job::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([ats_job::Column::Ats, ats_job::Column::JobId])
                .update_columns([
                    ats_job::Column::Level,
                    ats_job::Column::Department,
                    ats_job::Column::Location,
                    ats_job::Column::UnknownReason,
                    ats_job::Column::FetchedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&ctx.db)
        .await?;
    ats_job::Entity::find()
        .filter(ats_job::Column::Ats.eq(ats))
        .filter(ats_job::Column::JobId.eq(job_id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::retryable(format!("ats_jobs row of job {job_id} vanished")))
}

/// Writes the facts onto the application (exports, the data-subject
/// export and ops read them there) when they differ from what it holds.
async fn remember_on_application(
    ctx: &JobContext,
    app: &application::Model,
    facts: &JobFacts,
) -> Result<()> {
    if (&app.job_level, &app.department, &app.location)
        == (&facts.job_level, &facts.department, &facts.location)
    {
        return Ok(());
    }
    application::Entity::update_many()
        .set(application::ActiveModel {
            job_level: Set(facts.job_level.clone()),
            department: Set(facts.department.clone()),
            location: Set(facts.location.clone()),
            ..Default::default()
        })
        .filter(application::Column::Id.eq(app.id))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

//! Bonus tiers that see the job, and one referral per application
//! (issues 17.5 and 23.2).
//!
//! * `ats_jobs`: what an ATS says about a job (level, department, office or
//!   location), read through its connector when a bonus rule depends on
//!   one of them, cached per `(ats, job_id)` with `fetched_at` and re-read
//!   after `payouts.job_facts_ttl`. `unknown_reason` says why the ATS gave
//!   nothing (no connector, the job read failed for good), so the payout it
//!   leaves undecided can say so to ops.
//! * `uq_referrals_employee_candidate_application`: one referral per
//!   (referrer, candidate, application). A re-referral of the same
//!   candidate for another job is its own referral on its own
//!   application; the same claim again on the same application is a
//!   re-delivery. Rows that would break it (possible only when a referral
//!   moved onto an application that already had one of the same referrer)
//!   are kept, detached from the application (`application_id` NULL, which
//!   the index leaves alone on both backends), with the reason saying so.

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, Statement},
};

use crate::support::create_index;

/// Creates `ats_jobs` and the referral uniqueness.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AtsJobs::Table)
                    .col(big_integer(AtsJobs::Id).auto_increment().primary_key())
                    .col(string_len(AtsJobs::Ats, 32))
                    .col(string(AtsJobs::JobId))
                    .col(string_null(AtsJobs::Level))
                    .col(string_null(AtsJobs::Department))
                    .col(string_null(AtsJobs::Location))
                    .col(text_null(AtsJobs::UnknownReason))
                    .col(timestamp_with_time_zone(AtsJobs::FetchedAt))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "uq_ats_jobs_ats_job_id",
            AtsJobs::Table,
            &[AtsJobs::Ats, AtsJobs::JobId],
            true,
        )
        .await?;
        detach_duplicate_referrals(manager).await?;
        create_index(
            manager,
            "uq_referrals_employee_candidate_application",
            Referrals::Table,
            &[
                Referrals::EmployeeId,
                Referrals::CandidateId,
                Referrals::ApplicationId,
            ],
            true,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("uq_referrals_employee_candidate_application")
                    .table(Referrals::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AtsJobs::Table).to_owned())
            .await
    }
}

/// Keeps one referral per (employee, candidate, application), the credited
/// one first, else the oldest; detaches the others from the application
/// with the reason. Nothing is deleted: every claim stays on record.
async fn detach_duplicate_referrals(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id, employee_id, candidate_id, application_id, state FROM referrals \
             WHERE application_id IS NOT NULL \
             ORDER BY employee_id, candidate_id, application_id, \
             CASE WHEN state = 'credited' THEN 0 ELSE 1 END, id",
        ))
        .await?;
    let mut kept: Option<(String, i64, i64, i64)> = None;
    for row in rows {
        let id: i64 = row.try_get("", "id")?;
        let employee: String = row.try_get("", "employee_id")?;
        let candidate: i64 = row.try_get("", "candidate_id")?;
        let application: i64 = row.try_get("", "application_id")?;
        match &kept {
            Some((e, c, a, keeper)) if *e == employee && *c == candidate && *a == application => {
                let why = format!(
                    "duplicate of referral {keeper} on application {application}: \
                     detached when referrals became one per application"
                );
                db.execute(
                    &Query::update()
                        .table(Referrals::Table)
                        .value(Referrals::ApplicationId, Option::<i64>::None)
                        .value(Referrals::Reason, why)
                        .and_where(Expr::col(Referrals::Id).eq(id))
                        .to_owned(),
                )
                .await?;
            }
            _ => kept = Some((employee, candidate, application, id)),
        }
    }
    Ok(())
}

#[derive(DeriveIden, Clone, Copy)]
enum AtsJobs {
    Table,
    Id,
    Ats,
    JobId,
    Level,
    Department,
    Location,
    UnknownReason,
    FetchedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Referrals {
    Table,
    Id,
    EmployeeId,
    CandidateId,
    ApplicationId,
    Reason,
}

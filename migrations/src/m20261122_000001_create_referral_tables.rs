//! Referral domain tables: `employees`, `referral_links`, `candidates`,
//! `candidate_ats_ids`, `applications`, `referrals` and `milestones`.
//!
//! State columns are plain `varchar(32)` rather than database enums: the same
//! migration must run on SQLite, and adding a state later is then a code change
//! instead of an `ALTER TYPE` that cannot run inside a PostgreSQL transaction.
//!
//! Foreign keys use the default `NO ACTION` on delete, i.e. deleting a row that
//! is still referenced fails. That is deliberate: candidates are anonymised,
//! never deleted, because payouts must stay traceable to an application.
//! References by HRIS employee id (`employee_id` strings) are *not* foreign
//! keys: the ATS can credit an employee before the HRIS sync has delivered them.

use sea_orm_migration::{prelude::*, schema::*};

use crate::support::create_index;

/// Creates the referral domain tables.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Employees::Table)
                    .col(big_integer(Employees::Id).auto_increment().primary_key())
                    .col(string(Employees::EmployeeId))
                    .col(string(Employees::Email))
                    .col(string(Employees::EmailCanonical))
                    .col(string(Employees::Name))
                    .col(boolean(Employees::Active))
                    .col(timestamp_with_time_zone(Employees::CreatedAt))
                    .col(timestamp_with_time_zone(Employees::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "uq_employees_employee_id",
            Employees::Table,
            &[Employees::EmployeeId],
            true,
        )
        .await?;
        create_index(
            manager,
            "idx_employees_email_canonical",
            Employees::Table,
            &[Employees::EmailCanonical],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ReferralLinks::Table)
                    .col(
                        big_integer(ReferralLinks::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(string(ReferralLinks::Token))
                    .col(string(ReferralLinks::EmployeeId))
                    .col(string(ReferralLinks::JobId))
                    .col(timestamp_with_time_zone(ReferralLinks::CreatedAt))
                    .col(timestamp_with_time_zone(ReferralLinks::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ReferralLinks::RevokedAt))
                    .col(timestamp_with_time_zone_null(ReferralLinks::FirstClickedAt))
                    .col(integer(ReferralLinks::ClickCount).default(0))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "uq_referral_links_token",
            ReferralLinks::Table,
            &[ReferralLinks::Token],
            true,
        )
        .await?;
        // "Which links does this employee have?" is the employee-facing listing.
        create_index(
            manager,
            "idx_referral_links_employee_id",
            ReferralLinks::Table,
            &[ReferralLinks::EmployeeId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Candidates::Table)
                    .col(big_integer(Candidates::Id).auto_increment().primary_key())
                    .col(string_null(Candidates::EmailRaw))
                    .col(string_null(Candidates::EmailCanonical))
                    .col(string_null(Candidates::PhoneRaw))
                    .col(string_null(Candidates::PhoneE164))
                    .col(string(Candidates::FirstName))
                    .col(string_null(Candidates::LastName))
                    .col(big_integer_null(Candidates::MergedIntoId))
                    .col(timestamp_with_time_zone_null(Candidates::AnonymizedAt))
                    .col(boolean(Candidates::IsTest).default(false))
                    .col(timestamp_with_time_zone(Candidates::CreatedAt))
                    .col(timestamp_with_time_zone(Candidates::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_candidates_merged_into_id")
                            .from(Candidates::Table, Candidates::MergedIntoId)
                            .to(Candidates::Table, Candidates::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // Deduplication looks candidates up by canonical email and by phone.
        create_index(
            manager,
            "idx_candidates_email_canonical",
            Candidates::Table,
            &[Candidates::EmailCanonical],
            false,
        )
        .await?;
        create_index(
            manager,
            "idx_candidates_phone_e164",
            Candidates::Table,
            &[Candidates::PhoneE164],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(CandidateAtsIds::Table)
                    .col(
                        big_integer(CandidateAtsIds::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(big_integer(CandidateAtsIds::CandidateId))
                    .col(string_len(CandidateAtsIds::Ats, 32))
                    .col(string(CandidateAtsIds::AtsCandidateId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_candidate_ats_ids_candidate_id")
                            .from(CandidateAtsIds::Table, CandidateAtsIds::CandidateId)
                            .to(Candidates::Table, Candidates::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // A person may exist in several ATS, but one ATS id names one person.
        create_index(
            manager,
            "uq_candidate_ats_ids_ats_ats_candidate_id",
            CandidateAtsIds::Table,
            &[CandidateAtsIds::Ats, CandidateAtsIds::AtsCandidateId],
            true,
        )
        .await?;
        create_index(
            manager,
            "idx_candidate_ats_ids_candidate_id",
            CandidateAtsIds::Table,
            &[CandidateAtsIds::CandidateId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Applications::Table)
                    .col(big_integer(Applications::Id).auto_increment().primary_key())
                    .col(big_integer(Applications::CandidateId))
                    .col(string_len(Applications::Ats, 32))
                    .col(string(Applications::AtsApplicationId))
                    .col(string(Applications::JobId))
                    .col(string_null(Applications::RequisitionId))
                    .col(string_len(Applications::Status, 32))
                    .col(string_null(Applications::Stage))
                    .col(timestamp_with_time_zone(Applications::AppliedAt))
                    .col(timestamp_with_time_zone_null(Applications::HiredAt))
                    .col(timestamp_with_time_zone_null(Applications::StartDate))
                    .col(timestamp_with_time_zone_null(Applications::RejectedAt))
                    .col(string_null(Applications::JobLevel))
                    .col(string_null(Applications::Department))
                    .col(string_null(Applications::Location))
                    .col(timestamp_with_time_zone(Applications::CreatedAt))
                    .col(timestamp_with_time_zone(Applications::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_applications_candidate_id")
                            .from(Applications::Table, Applications::CandidateId)
                            .to(Candidates::Table, Candidates::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // Webhooks identify applications by (ATS, ATS id); upserts key on this.
        create_index(
            manager,
            "uq_applications_ats_ats_application_id",
            Applications::Table,
            &[Applications::Ats, Applications::AtsApplicationId],
            true,
        )
        .await?;
        create_index(
            manager,
            "idx_applications_candidate_id",
            Applications::Table,
            &[Applications::CandidateId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Referrals::Table)
                    .col(big_integer(Referrals::Id).auto_increment().primary_key())
                    .col(big_integer(Referrals::CandidateId))
                    .col(big_integer_null(Referrals::ApplicationId))
                    .col(string(Referrals::EmployeeId))
                    .col(string_len(Referrals::Source, 32))
                    .col(string_null(Referrals::LinkToken))
                    .col(string_len(Referrals::State, 32))
                    .col(text_null(Referrals::Reason))
                    .col(timestamp_with_time_zone(Referrals::ReferredAt))
                    .col(timestamp_with_time_zone_null(Referrals::DecidedAt))
                    .col(boolean(Referrals::IsTest).default(false))
                    .col(timestamp_with_time_zone(Referrals::CreatedAt))
                    .col(timestamp_with_time_zone(Referrals::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_referrals_candidate_id")
                            .from(Referrals::Table, Referrals::CandidateId)
                            .to(Candidates::Table, Candidates::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_referrals_application_id")
                            .from(Referrals::Table, Referrals::ApplicationId)
                            .to(Applications::Table, Applications::Id),
                    )
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "idx_referrals_candidate_id",
            Referrals::Table,
            &[Referrals::CandidateId],
            false,
        )
        .await?;
        create_index(
            manager,
            "idx_referrals_application_id",
            Referrals::Table,
            &[Referrals::ApplicationId],
            false,
        )
        .await?;
        create_index(
            manager,
            "idx_referrals_employee_id",
            Referrals::Table,
            &[Referrals::EmployeeId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Milestones::Table)
                    .col(big_integer(Milestones::Id).auto_increment().primary_key())
                    .col(big_integer_null(Milestones::ReferralId))
                    .col(big_integer(Milestones::ApplicationId))
                    .col(string_len(Milestones::Kind, 32))
                    .col(string_len(Milestones::State, 32))
                    .col(timestamp_with_time_zone_null(Milestones::OccurredAt))
                    .col(timestamp_with_time_zone_null(Milestones::DueAt))
                    .col(string_null(Milestones::CancelReason))
                    .col(string_null(Milestones::TimerJobId))
                    .col(timestamp_with_time_zone(Milestones::CreatedAt))
                    .col(timestamp_with_time_zone(Milestones::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_milestones_referral_id")
                            .from(Milestones::Table, Milestones::ReferralId)
                            .to(Referrals::Table, Referrals::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_milestones_application_id")
                            .from(Milestones::Table, Milestones::ApplicationId)
                            .to(Applications::Table, Applications::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // Vendors send the same hire several times (stage change + hire event);
        // this constraint makes milestone detection idempotent.
        create_index(
            manager,
            "uq_milestones_application_id_kind",
            Milestones::Table,
            &[Milestones::ApplicationId, Milestones::Kind],
            true,
        )
        .await?;
        create_index(
            manager,
            "idx_milestones_referral_id",
            Milestones::Table,
            &[Milestones::ReferralId],
            false,
        )
        .await?;
        // The timer sweep looks for armed milestones that are due.
        create_index(
            manager,
            "idx_milestones_state_due_at",
            Milestones::Table,
            &[Milestones::State, Milestones::DueAt],
            false,
        )
        .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents, so no foreign key is ever left dangling.
        for table in [
            Milestones::Table.into_iden(),
            Referrals::Table.into_iden(),
            Applications::Table.into_iden(),
            CandidateAtsIds::Table.into_iden(),
            Candidates::Table.into_iden(),
            ReferralLinks::Table.into_iden(),
            Employees::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Employees {
    Table,
    Id,
    EmployeeId,
    Email,
    EmailCanonical,
    Name,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ReferralLinks {
    Table,
    Id,
    Token,
    EmployeeId,
    JobId,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    FirstClickedAt,
    ClickCount,
}

#[derive(DeriveIden, Clone, Copy)]
enum Candidates {
    Table,
    Id,
    EmailRaw,
    EmailCanonical,
    PhoneRaw,
    #[sea_orm(iden = "phone_e164")]
    PhoneE164,
    FirstName,
    LastName,
    MergedIntoId,
    AnonymizedAt,
    IsTest,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum CandidateAtsIds {
    Table,
    Id,
    CandidateId,
    Ats,
    AtsCandidateId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Applications {
    Table,
    Id,
    CandidateId,
    Ats,
    AtsApplicationId,
    JobId,
    RequisitionId,
    Status,
    Stage,
    AppliedAt,
    HiredAt,
    StartDate,
    RejectedAt,
    JobLevel,
    Department,
    Location,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Referrals {
    Table,
    Id,
    CandidateId,
    ApplicationId,
    EmployeeId,
    Source,
    LinkToken,
    State,
    Reason,
    ReferredAt,
    DecidedAt,
    IsTest,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Milestones {
    Table,
    Id,
    ReferralId,
    ApplicationId,
    Kind,
    State,
    OccurredAt,
    DueAt,
    CancelReason,
    TimerJobId,
    CreatedAt,
    UpdatedAt,
}

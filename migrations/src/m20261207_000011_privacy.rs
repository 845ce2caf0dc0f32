//! Data-subject requests (issue 21): `consents`, the erasure tombstones of
//! candidates and employees, and when an employee left.
//!
//! * `consents`: the consent flags the careers site sends with an
//!   application, with when they were given and by which source. Ids and
//!   flags only; the request's IP and user agent are not kept.
//! * `candidates.erasure_tombstone`, `employees.erasure_tombstone`: the
//!   JSON that replaced a person's erased fields; the audit event of the
//!   erasure records its SHA-256, so the erasure itself stays provable.
//! * `employees.deactivated_at`: since when an employee is inactive, which
//!   `retention.referrer_after` counts from; backfilled from `updated_at`
//!   for employees already inactive (the last change an inactive row saw).
//! * `employees.erased_at`: when a referrer's personal data was erased.

use sea_orm_migration::{prelude::*, schema::*};

use crate::support::create_index;

/// Creates `consents` and adds the erasure columns.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Consents::Table)
                    .col(big_integer(Consents::Id).auto_increment().primary_key())
                    .col(big_integer(Consents::CandidateId))
                    .col(big_integer(Consents::ApplicationId))
                    .col(string_len(Consents::Source, 32))
                    .col(timestamp_with_time_zone(Consents::GivenAt))
                    .col(text(Consents::Flags))
                    .col(timestamp_with_time_zone(Consents::RecordedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_consents_candidate")
                            .from(Consents::Table, Consents::CandidateId)
                            .to(Candidates::Table, Candidates::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // One consent per application and source: a redelivered
        // submission records nothing new.
        create_index(
            manager,
            "uq_consents_application_source",
            Consents::Table,
            &[Consents::ApplicationId, Consents::Source],
            true,
        )
        .await?;
        create_index(
            manager,
            "idx_consents_candidate_id",
            Consents::Table,
            &[Consents::CandidateId],
            false,
        )
        .await?;
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Candidates::Table)
                    .add_column(text_null(Candidates::ErasureTombstone))
                    .to_owned(),
            )
            .await?;
        for column in [
            text_null(Employees::ErasureTombstone),
            timestamp_with_time_zone_null(Employees::DeactivatedAt),
            timestamp_with_time_zone_null(Employees::ErasedAt),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Employees::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .exec_stmt(
                Query::update()
                    .table(Employees::Table)
                    .value(Employees::DeactivatedAt, Expr::col(Employees::UpdatedAt))
                    .and_where(Expr::col(Employees::Active).eq(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Employees::ErasedAt,
            Employees::DeactivatedAt,
            Employees::ErasureTombstone,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Employees::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Candidates::Table)
                    .drop_column(Candidates::ErasureTombstone)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Consents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Consents {
    Table,
    Id,
    CandidateId,
    ApplicationId,
    Source,
    GivenAt,
    Flags,
    RecordedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Candidates {
    Table,
    Id,
    ErasureTombstone,
}

#[derive(DeriveIden, Clone, Copy)]
enum Employees {
    Table,
    Active,
    UpdatedAt,
    ErasureTombstone,
    DeactivatedAt,
    ErasedAt,
}

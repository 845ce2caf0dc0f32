//! Three-way reconciliation (issue 21): the referral platform's list of
//! referrals and the CRM's hires, imported per month, and which comparison
//! a reconciliation run is.
//!
//! * `reconciliation_imports`: one import per (source, period), unique, so
//!   importing a month again replaces its rows instead of adding to them;
//! * `reconciliation_import_rows`: the imported rows, ids and dates only;
//! * `reconciliation_runs.scope` (`ledger`, the nightly run, for every
//!   existing row; `three_way`) and the period a three-way run compared.

use sea_orm_migration::{prelude::*, schema::*};

use crate::support::create_index;

/// Creates the import tables and adds the run's scope and period.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReconciliationImports::Table)
                    .col(
                        big_integer(ReconciliationImports::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(string_len(ReconciliationImports::Source, 16))
                    .col(string_len(ReconciliationImports::Period, 7))
                    .col(integer(ReconciliationImports::RowCount))
                    .col(string_len(ReconciliationImports::Sha256, 64))
                    .col(string(ReconciliationImports::Actor))
                    .col(timestamp_with_time_zone(ReconciliationImports::ImportedAt))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "uq_reconciliation_imports_source_period",
            ReconciliationImports::Table,
            &[ReconciliationImports::Source, ReconciliationImports::Period],
            true,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReconciliationImportRows::Table)
                    .col(
                        big_integer(ReconciliationImportRows::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(big_integer(ReconciliationImportRows::ImportId))
                    .col(integer(ReconciliationImportRows::Line))
                    .col(string(ReconciliationImportRows::ExternalId))
                    .col(string_null(ReconciliationImportRows::ReferralId))
                    .col(string_len_null(ReconciliationImportRows::EmployeeId, 64))
                    .col(string_len_null(ReconciliationImportRows::Ats, 32))
                    .col(string_null(ReconciliationImportRows::AtsApplicationId))
                    .col(timestamp_with_time_zone(
                        ReconciliationImportRows::OccurredOn,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_reconciliation_import_rows_import_id")
                            .from(
                                ReconciliationImportRows::Table,
                                ReconciliationImportRows::ImportId,
                            )
                            .to(ReconciliationImports::Table, ReconciliationImports::Id),
                    )
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "idx_reconciliation_import_rows_import_id",
            ReconciliationImportRows::Table,
            &[ReconciliationImportRows::ImportId],
            false,
        )
        .await?;
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(ReconciliationRuns::Table)
                    .add_column(string_len(ReconciliationRuns::Scope, 16).default("ledger"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ReconciliationRuns::Table)
                    .add_column(timestamp_with_time_zone_null(
                        ReconciliationRuns::PeriodFrom,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ReconciliationRuns::Table)
                    .add_column(timestamp_with_time_zone_null(
                        ReconciliationRuns::PeriodUntil,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            ReconciliationRuns::PeriodUntil,
            ReconciliationRuns::PeriodFrom,
            ReconciliationRuns::Scope,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ReconciliationRuns::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(
                Table::drop()
                    .table(ReconciliationImportRows::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ReconciliationImports::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ReconciliationImports {
    Table,
    Id,
    Source,
    Period,
    RowCount,
    Sha256,
    Actor,
    ImportedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ReconciliationImportRows {
    Table,
    Id,
    ImportId,
    Line,
    ExternalId,
    ReferralId,
    EmployeeId,
    Ats,
    AtsApplicationId,
    OccurredOn,
}

#[derive(DeriveIden, Clone, Copy)]
enum ReconciliationRuns {
    Table,
    Scope,
    PeriodFrom,
    PeriodUntil,
}

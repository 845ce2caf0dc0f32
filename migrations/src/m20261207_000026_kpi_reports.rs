//! The scheduled KPI report (issue 21): one row per schedule tick, kept so
//! finance can export what leadership was sent.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `kpi_reports`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KpiReports::Table)
                    .col(big_integer(KpiReports::Id).auto_increment().primary_key())
                    .col(string_len_uniq(KpiReports::Trigger, 128))
                    .col(timestamp_with_time_zone(KpiReports::PeriodFrom))
                    .col(timestamp_with_time_zone(KpiReports::PeriodUntil))
                    .col(text(KpiReports::Kpis))
                    .col(big_integer_null(KpiReports::MessageId))
                    .col(timestamp_with_time_zone(KpiReports::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(KpiReports::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum KpiReports {
    Table,
    Id,
    Trigger,
    PeriodFrom,
    PeriodUntil,
    Kpis,
    MessageId,
    CreatedAt,
}

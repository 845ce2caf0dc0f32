//! Terminations by identity (issue 23.5): which employee a hire became,
//! and the terminations no hire matched.
//!
//! * `applications.hire_employee_id`: the HRIS id of the employee a hired
//!   application became, once the HRIS names it (its record carries the
//!   ATS candidate or application id). A termination of that employee
//!   ends that hire's probation.
//! * `unmatched_terminations`: an HRIS termination that matched no hire by
//!   employee id, ATS ids or work email while a hire without an employee
//!   was in probation, listed for ops until resolved.

use sea_orm_migration::{prelude::*, schema::*};

use crate::support::create_index;

/// Adds `applications.hire_employee_id` and `unmatched_terminations`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .add_column(string_len_null(Applications::HireEmployeeId, 64))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "idx_applications_hire_employee_id",
            Applications::Table,
            &[Applications::HireEmployeeId],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(UnmatchedTerminations::Table)
                    .col(
                        big_integer(UnmatchedTerminations::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(string_len(UnmatchedTerminations::EmployeeId, 64))
                    .col(string_null(UnmatchedTerminations::AtsCandidateId))
                    .col(string_null(UnmatchedTerminations::AtsApplicationId))
                    .col(string(UnmatchedTerminations::ReportedBy))
                    .col(timestamp_with_time_zone(UnmatchedTerminations::ReportedAt))
                    .col(timestamp_with_time_zone_null(
                        UnmatchedTerminations::ResolvedAt,
                    ))
                    .col(text_null(UnmatchedTerminations::Resolution))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "idx_unmatched_terminations_employee_id",
            UnmatchedTerminations::Table,
            &[UnmatchedTerminations::EmployeeId],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UnmatchedTerminations::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_applications_hire_employee_id")
                    .table(Applications::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .drop_column(Applications::HireEmployeeId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Applications {
    Table,
    HireEmployeeId,
}

#[derive(DeriveIden, Clone, Copy)]
enum UnmatchedTerminations {
    Table,
    Id,
    EmployeeId,
    AtsCandidateId,
    AtsApplicationId,
    ReportedBy,
    ReportedAt,
    ResolvedAt,
    Resolution,
}

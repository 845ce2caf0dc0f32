//! The fallback write-back's durable timer (issue 17.4): `twin_waits`, one
//! row per credited careers-site referral whose ATS application (its
//! "twin") has not arrived yet. Written in the capture transaction that
//! credits the referral; when `due_at` passes, the `twin_wait_due` job
//! looks the candidate up in the ATS by email and writes the referral
//! back there. The row, not the queue, is the truth: the sweeper re-arms
//! a waiting row whose job the queue lost.

use sea_orm_migration::{prelude::*, schema::*};

use crate::support::create_index;

/// Creates `twin_waits`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TwinWaits::Table)
                    .col(big_integer(TwinWaits::Id).auto_increment().primary_key())
                    .col(big_integer(TwinWaits::ReferralId))
                    .col(big_integer(TwinWaits::ApplicationId))
                    .col(string_len(TwinWaits::Ats, 32))
                    .col(string_len(TwinWaits::State, 32))
                    .col(timestamp_with_time_zone(TwinWaits::DueAt))
                    .col(integer(TwinWaits::Lookups).default(0))
                    .col(string_null(TwinWaits::JobId))
                    .col(string_len_null(TwinWaits::FoundAts, 32))
                    .col(string_null(TwinWaits::FoundApplicationId))
                    .col(text_null(TwinWaits::Reason))
                    .col(timestamp_with_time_zone(TwinWaits::CreatedAt))
                    .col(timestamp_with_time_zone(TwinWaits::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_twin_waits_referral")
                            .from(TwinWaits::Table, TwinWaits::ReferralId)
                            .to(Referrals::Table, Referrals::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_twin_waits_application")
                            .from(TwinWaits::Table, TwinWaits::ApplicationId)
                            .to(Applications::Table, Applications::Id),
                    )
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "idx_twin_waits_referral_id",
            TwinWaits::Table,
            &[TwinWaits::ReferralId],
            true,
        )
        .await?;
        create_index(
            manager,
            "idx_twin_waits_state_due_at",
            TwinWaits::Table,
            &[TwinWaits::State, TwinWaits::DueAt],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TwinWaits::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum TwinWaits {
    Table,
    Id,
    ReferralId,
    ApplicationId,
    Ats,
    State,
    DueAt,
    Lookups,
    JobId,
    FoundAts,
    FoundApplicationId,
    Reason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Referrals {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Applications {
    Table,
    Id,
}

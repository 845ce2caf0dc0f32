//! `inbox`: every webhook delivery received.
//!
//! The unique `(source, delivery_id)` index is the deduplication mechanism for
//! redelivered webhooks: the HTTP layer inserts first and treats a conflict as
//! "already have it", so the check and the write are one atomic statement.

use sea_orm_migration::{prelude::*, schema::*};

use crate::support::create_index;

/// Creates the webhook inbox.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Inbox::Table)
                    .col(big_integer(Inbox::Id).auto_increment().primary_key())
                    .col(string_len(Inbox::Source, 32))
                    .col(string(Inbox::DeliveryId))
                    .col(string_null(Inbox::Event))
                    .col(timestamp_with_time_zone(Inbox::ReceivedAt))
                    // `blob` is `bytea` on PostgreSQL and `blob` on SQLite.
                    .col(blob_null(Inbox::RawBody))
                    .col(string_len(Inbox::Verification, 32))
                    .col(string_len(Inbox::Status, 32))
                    .col(string_null(Inbox::JobId))
                    .col(text_null(Inbox::Error))
                    .col(integer(Inbox::HttpStatus))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "uq_inbox_source_delivery_id",
            Inbox::Table,
            &[Inbox::Source, Inbox::DeliveryId],
            true,
        )
        .await?;
        // Reconciliation looks for deliveries stuck in `received`; ops list by recency.
        create_index(
            manager,
            "idx_inbox_status_received_at",
            Inbox::Table,
            &[Inbox::Status, Inbox::ReceivedAt],
            false,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Inbox::Table).if_exists().to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Inbox {
    Table,
    Id,
    Source,
    DeliveryId,
    Event,
    ReceivedAt,
    RawBody,
    Verification,
    Status,
    JobId,
    Error,
    HttpStatus,
}

//! Outbound messages and destinations, and payout approval.
//!
//! - `outbound_messages`: the outbox of signed notifications other than the
//!   bonus POST itself (status sync to the referral platform, hire hand-offs
//!   to the CRM, alerts to a Slack-compatible webhook). A row is written in
//!   the same transaction as the state change it reports, so a notification
//!   can be late but never lost; a job delivers it.
//! - `outbound_destinations`: one row per destination that has been disabled
//!   (a `410 Gone`), so every worker process stops sending to it until ops
//!   re-enable it.
//! - `payouts.needs_approval`: the bonus rule asked for a human approval
//!   before the payout is sent; fixed when the row is made, so a later rule
//!   change does not release or block payouts already in the ledger.
//! - `payouts.send_job_id` and `outbound_messages.job_id`: the queue job
//!   currently responsible for sending the row. A job's idempotency key is
//!   held as long as the job is retained, so "is a send already on its
//!   way?" is answered by asking the queue about this job, and a row that
//!   becomes sendable again (approved after a hold, a destination
//!   re-enabled, Redis wiped) gets a fresh job.

use sea_orm_migration::{prelude::*, schema::*};

use crate::support::create_index;

/// Creates the outbox and destination tables; adds `payouts.needs_approval`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OutboundMessages::Table)
                    .col(
                        big_integer(OutboundMessages::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(string_len(OutboundMessages::Channel, 32))
                    .col(string_len(OutboundMessages::WebhookId, 64))
                    .col(string_len(OutboundMessages::EventType, 64))
                    .col(text(OutboundMessages::Data))
                    .col(string_len_null(OutboundMessages::SubjectType, 32))
                    .col(big_integer_null(OutboundMessages::SubjectId))
                    .col(string_len(OutboundMessages::State, 32))
                    .col(integer(OutboundMessages::Attempts))
                    .col(string_len_null(OutboundMessages::JobId, 64))
                    .col(integer_null(OutboundMessages::LastStatusCode))
                    .col(text_null(OutboundMessages::LastError))
                    .col(timestamp_with_time_zone(OutboundMessages::CreatedAt))
                    .col(timestamp_with_time_zone_null(OutboundMessages::DeliveredAt))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "uq_outbound_messages_webhook_id",
            OutboundMessages::Table,
            &[OutboundMessages::WebhookId],
            true,
        )
        .await?;
        // The sweeper looks for pending messages of each channel.
        create_index(
            manager,
            "idx_outbound_messages_state_channel",
            OutboundMessages::Table,
            &[OutboundMessages::State, OutboundMessages::Channel],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(OutboundDestinations::Table)
                    .col(string_len(OutboundDestinations::Name, 64).primary_key())
                    .col(boolean(OutboundDestinations::Disabled))
                    .col(text_null(OutboundDestinations::Reason))
                    .col(timestamp_with_time_zone(OutboundDestinations::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Payouts::Table)
                    .add_column(boolean(Payouts::NeedsApproval).default(false))
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Payouts::Table)
                    .add_column(string_len_null(Payouts::SendJobId, 64))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Payouts::Table)
                    .drop_column(Payouts::SendJobId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Payouts::Table)
                    .drop_column(Payouts::NeedsApproval)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(OutboundDestinations::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(OutboundMessages::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum OutboundMessages {
    Table,
    Id,
    Channel,
    WebhookId,
    EventType,
    Data,
    SubjectType,
    SubjectId,
    State,
    Attempts,
    JobId,
    LastStatusCode,
    LastError,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum OutboundDestinations {
    Table,
    Name,
    Disabled,
    Reason,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Payouts {
    Table,
    NeedsApproval,
    SendJobId,
}

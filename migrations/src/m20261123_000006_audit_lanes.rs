//! Audit lanes: `audit_events.lane`.
//!
//! The audit log was one hash chain, so every audited transaction in the
//! system held the chain's lock through its commit and they committed one
//! after another, each waiting for its own disk flush. The log is now several
//! chains ("lanes") side by side: a transaction appends to whichever lane is
//! free, and transactions on different lanes commit together. Each lane is
//! linked and verified on its own; rows written before this migration form
//! lane 0, whose chain is unchanged.
//!
//! Old and new processes must not write at once across this migration: an old
//! one chains after the newest row of any lane.

use sea_orm_migration::{prelude::*, schema::*};

use crate::support::create_index;

/// Adds `audit_events.lane` and the index that finds a lane's newest row.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(small_integer(AuditEvents::Lane).default(0))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "idx_audit_events_lane_id",
            AuditEvents::Table,
            &[AuditEvents::Lane, AuditEvents::Id],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_audit_events_lane_id")
                    .table(AuditEvents::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .drop_column(AuditEvents::Lane)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditEvents {
    Table,
    Id,
    Lane,
}

//! Ledger and accountability tables: `payouts`, `audit_events`,
//! `reconciliation_runs` and `reconciliation_items`.
//!
//! On PostgreSQL this migration also makes `audit_events` append-only with a
//! trigger that refuses UPDATE, DELETE and TRUNCATE. The hash chain makes
//! tampering *detectable*; the trigger makes the easy mistakes (an ad-hoc
//! `UPDATE` in a console, a buggy cleanup job) *impossible* for every role that
//! does not own the table. SQLite gets no trigger: it is the single-node
//! development and test backend, and the chain still detects edits there.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

use crate::support::create_index;

/// Creates the ledger tables (and, on PostgreSQL, the audit append-only trigger).
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Raises on any row change. `TG_OP` names the refused operation so the error
/// says what was attempted.
const CREATE_APPEND_ONLY_FUNCTION: &str = r#"
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'raise_exception';
END;
$$
"#;

/// Row-level trigger for UPDATE and DELETE.
const CREATE_ROW_TRIGGER: &str = r#"
CREATE TRIGGER audit_events_append_only
BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
"#;

/// TRUNCATE does not fire row triggers, so it needs its own statement-level one.
const CREATE_TRUNCATE_TRIGGER: &str = r#"
CREATE TRIGGER audit_events_no_truncate
BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Payouts::Table)
                    .col(big_integer(Payouts::Id).auto_increment().primary_key())
                    .col(big_integer(Payouts::ReferralId))
                    .col(big_integer_null(Payouts::MilestoneId))
                    .col(string(Payouts::Tranche))
                    .col(big_integer(Payouts::AmountMinor))
                    .col(string_len(Payouts::Currency, 3))
                    .col(string_len(Payouts::State, 32))
                    .col(text_null(Payouts::Reason))
                    .col(string(Payouts::IdempotencyKey))
                    .col(string(Payouts::WebhookId))
                    .col(integer(Payouts::Attempts).default(0))
                    .col(integer_null(Payouts::LastStatusCode))
                    .col(timestamp_with_time_zone_null(Payouts::EligibleAt))
                    .col(timestamp_with_time_zone_null(Payouts::SentAt))
                    .col(timestamp_with_time_zone_null(Payouts::DeliveredAt))
                    .col(boolean(Payouts::IsTest).default(false))
                    .col(timestamp_with_time_zone(Payouts::CreatedAt))
                    .col(timestamp_with_time_zone(Payouts::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_payouts_referral_id")
                            .from(Payouts::Table, Payouts::ReferralId)
                            .to(Referrals::Table, Referrals::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_payouts_milestone_id")
                            .from(Payouts::Table, Payouts::MilestoneId)
                            .to(Milestones::Table, Milestones::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // The last line of defence against paying one tranche twice.
        create_index(
            manager,
            "uq_payouts_referral_id_tranche",
            Payouts::Table,
            &[Payouts::ReferralId, Payouts::Tranche],
            true,
        )
        .await?;
        // Both keys travel to the bonus system, which deduplicates on them;
        // two payouts sharing one would make the receiver drop a real bonus.
        create_index(
            manager,
            "uq_payouts_idempotency_key",
            Payouts::Table,
            &[Payouts::IdempotencyKey],
            true,
        )
        .await?;
        create_index(
            manager,
            "uq_payouts_webhook_id",
            Payouts::Table,
            &[Payouts::WebhookId],
            true,
        )
        .await?;
        create_index(
            manager,
            "idx_payouts_milestone_id",
            Payouts::Table,
            &[Payouts::MilestoneId],
            false,
        )
        .await?;
        // Eligibility and ops listings scan by state.
        create_index(
            manager,
            "idx_payouts_state",
            Payouts::Table,
            &[Payouts::State],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(big_integer(AuditEvents::Id).auto_increment().primary_key())
                    .col(timestamp_with_time_zone(AuditEvents::OccurredAt))
                    .col(string(AuditEvents::Actor))
                    .col(string(AuditEvents::Action))
                    .col(string(AuditEvents::SubjectType))
                    .col(string(AuditEvents::SubjectId))
                    .col(text(AuditEvents::Data))
                    .col(string_len(AuditEvents::PrevHash, 64))
                    .col(string_len(AuditEvents::Hash, 64))
                    .to_owned(),
            )
            .await?;
        // "Show me the history of payout 42" is the main read.
        create_index(
            manager,
            "idx_audit_events_subject_type_subject_id",
            AuditEvents::Table,
            &[AuditEvents::SubjectType, AuditEvents::SubjectId],
            false,
        )
        .await?;

        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared(CREATE_APPEND_ONLY_FUNCTION).await?;
            db.execute_unprepared(CREATE_ROW_TRIGGER).await?;
            db.execute_unprepared(CREATE_TRUNCATE_TRIGGER).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ReconciliationRuns::Table)
                    .col(
                        big_integer(ReconciliationRuns::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(timestamp_with_time_zone(ReconciliationRuns::StartedAt))
                    .col(timestamp_with_time_zone_null(
                        ReconciliationRuns::FinishedAt,
                    ))
                    .col(string(ReconciliationRuns::Trigger))
                    .col(boolean(ReconciliationRuns::DryRun))
                    .col(integer(ReconciliationRuns::VarianceCount).default(0))
                    .col(text(ReconciliationRuns::Summary))
                    .to_owned(),
            )
            .await?;
        // One run per cron tick, however many replicas fire it.
        create_index(
            manager,
            "uq_reconciliation_runs_trigger",
            ReconciliationRuns::Table,
            &[ReconciliationRuns::Trigger],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ReconciliationItems::Table)
                    .col(
                        big_integer(ReconciliationItems::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(big_integer(ReconciliationItems::RunId))
                    .col(string(ReconciliationItems::Kind))
                    .col(string(ReconciliationItems::SubjectType))
                    .col(string(ReconciliationItems::SubjectId))
                    .col(text(ReconciliationItems::Detail))
                    .col(boolean(ReconciliationItems::Resolved).default(false))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_reconciliation_items_run_id")
                            .from(ReconciliationItems::Table, ReconciliationItems::RunId)
                            .to(ReconciliationRuns::Table, ReconciliationRuns::Id),
                    )
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "idx_reconciliation_items_run_id",
            ReconciliationItems::Table,
            &[ReconciliationItems::RunId],
            false,
        )
        .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(ReconciliationItems::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(ReconciliationRuns::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;

        // Dropping the table drops its triggers, but the function outlives it;
        // drop both explicitly so `down` leaves nothing behind.
        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared(
                "DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events",
            )
            .await?;
            db.execute_unprepared(
                "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
            )
            .await?;
            db.execute_unprepared("DROP FUNCTION IF EXISTS audit_events_append_only()")
                .await?;
        }
        manager
            .drop_table(
                Table::drop()
                    .table(AuditEvents::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;

        manager
            .drop_table(Table::drop().table(Payouts::Table).if_exists().to_owned())
            .await?;
        Ok(())
    }
}

/// Created by `m20261122_000001`; only the columns referenced here.
#[derive(DeriveIden, Clone, Copy)]
enum Referrals {
    Table,
    Id,
}

/// Created by `m20261122_000001`; only the columns referenced here.
#[derive(DeriveIden, Clone, Copy)]
enum Milestones {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Payouts {
    Table,
    Id,
    ReferralId,
    MilestoneId,
    Tranche,
    AmountMinor,
    Currency,
    State,
    Reason,
    IdempotencyKey,
    WebhookId,
    Attempts,
    LastStatusCode,
    EligibleAt,
    SentAt,
    DeliveredAt,
    IsTest,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditEvents {
    Table,
    Id,
    OccurredAt,
    Actor,
    Action,
    SubjectType,
    SubjectId,
    Data,
    PrevHash,
    Hash,
}

#[derive(DeriveIden, Clone, Copy)]
enum ReconciliationRuns {
    Table,
    Id,
    StartedAt,
    FinishedAt,
    Trigger,
    DryRun,
    VarianceCount,
    Summary,
}

#[derive(DeriveIden, Clone, Copy)]
enum ReconciliationItems {
    Table,
    Id,
    RunId,
    Kind,
    SubjectType,
    SubjectId,
    Detail,
    Resolved,
}

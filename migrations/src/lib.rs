//! Schema migrations for referral-worker: the *history* of the schema.
//!
//! # Layout
//!
//! - [`Migrator`] lists every migration in order. The `worker` binary runs it
//!   (its `migrate` command, and at start-up when configured); the `tests`
//!   crate runs it against fresh SQLite and PostgreSQL databases.
//! - `m20261122_000001_create_referral_tables`: employees, referral links,
//!   candidates and their ATS ids, applications, referrals, milestones.
//! - `m20261122_000002_create_ledger_tables`: payouts, audit events (plus the
//!   PostgreSQL append-only trigger), reconciliation runs and items.
//! - `m20261122_000003_create_inbox_table`: received webhook deliveries.
//! - `m20261122_000004_create_queue_table`: the embedded job queue.
//! - `m20261123_000005_create_outbound_tables`: the outbox of signed
//!   notifications, disabled destinations, and payout approval.
//! - `m20261123_000006_audit_lanes`: the audit log's lanes.
//! - `m20261207_000010_public_ids`: `ref_…`/`pay_…` public ids (filled for
//!   existing rows) and `payouts.rule_id`.
//! - `m20261207_000011_privacy`: consents, erasure tombstones, when an
//!   employee left.
//! - `m20261207_000020_job_facts_and_referral_per_application`: the ATS's
//!   job facts cached for bonus rules (`ats_jobs`), and one referral per
//!   (referrer, candidate, application).
//! - `m20261207_000021_event_order`: per application and fact, the vendor's
//!   time of the event that last changed it; processed bodies' SHA-256.
//! - `m20261207_000022_hire_identity`: the employee a hire became, and the
//!   terminations no hire matched.
//! - `m20261207_000023_twin_waits`: the fallback write-back's durable timer,
//!   one row per careers-site referral waiting for its ATS application.
//! - `m20261207_000026_kpi_reports`: the scheduled KPI reports sent to the
//!   CRM, one per tick, for finance's export.
//! - `m20261208_000028_three_way_reconciliation`: the referral platform's
//!   and the CRM's imports per month, and each reconciliation run's scope
//!   (`ledger` or `three_way`) and period.
//!
//! # Rules
//!
//! - This crate must not depend on `entities`. Entities describe the present;
//!   a migration that used them would silently change meaning when an entity
//!   changes. Each migration declares the identifiers it needs itself.
//! - A shipped migration is never edited; changes go in a new migration.
//! - Every migration runs on SQLite and PostgreSQL, both `up` and `down`, so
//!   only portable column types are used (states are `varchar`, JSON is `text`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Applied or pending, as `Migrator::get_migration_with_status` reports it
/// (`referral-worker migrate status` prints it).
pub use sea_orm_migration::MigrationStatus;
pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_referral_tables;
mod m20261122_000002_create_ledger_tables;
mod m20261122_000003_create_inbox_table;
mod m20261122_000004_create_queue_table;
mod m20261123_000005_create_outbound_tables;
mod m20261123_000006_audit_lanes;
mod m20261207_000010_public_ids;
mod m20261207_000011_privacy;
mod m20261207_000020_job_facts_and_referral_per_application;
mod m20261207_000021_event_order;
mod m20261207_000022_hire_identity;
mod m20261207_000023_twin_waits;
mod m20261207_000026_kpi_reports;
mod m20261208_000028_three_way_reconciliation;
mod support;

/// Every migration, in the order they are applied.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_referral_tables::Migration),
            Box::new(m20261122_000002_create_ledger_tables::Migration),
            Box::new(m20261122_000003_create_inbox_table::Migration),
            Box::new(m20261122_000004_create_queue_table::Migration),
            Box::new(m20261123_000005_create_outbound_tables::Migration),
            Box::new(m20261123_000006_audit_lanes::Migration),
            Box::new(m20261207_000010_public_ids::Migration),
            Box::new(m20261207_000011_privacy::Migration),
            Box::new(m20261207_000020_job_facts_and_referral_per_application::Migration),
            Box::new(m20261207_000021_event_order::Migration),
            Box::new(m20261207_000022_hire_identity::Migration),
            Box::new(m20261207_000023_twin_waits::Migration),
            Box::new(m20261207_000026_kpi_reports::Migration),
            Box::new(m20261208_000028_three_way_reconciliation::Migration),
        ]
    }
}
